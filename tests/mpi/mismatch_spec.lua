-- Mismatched collectives (issue 12, items 6-8): the light check that is on by default catches
-- a mismatch on its first occurrence (and later ones every 128th collective); a shared-memory
-- allreduce refuses ranks that pass different shared tensors; a freed communicator's shared
-- tensors match no later one. Every rank must raise the same message, and no tensor may change.
local tide = require "tide"

local S = require "support.spec"
local world, me, P, err_of = S.world, S.me, S.P, S.err_of
local EVERY = 128   -- LIGHT_EVERY of core/comm/fingerprint.h
local FIRST = 3     -- LIGHT_FIRST

-- The line this is called from (the call site the messages name).
local function here() return debug.getinfo(2, "l").currentline end

-- rank 1's call, then rank 0's, as the fingerprint message words them.
local function msg(coll, seq, one, zero, line)
  return string.format("%s #%d: rank 1 passed %s at mismatch_spec.lua:%d, rank 0 passed %s at "
    .. "mismatch_spec.lua:%d", coll, seq, one, line, zero, line)
end

-- Every rank got the same message (none computed garbage silently, none was left waiting).
local function same_everywhere(e)
  local all = world:allgather_obj(e or "")
  for r = 1, P do assert.are.equal(all[1], all[r]) end
end

describe("the light mismatch check", function()
  it("is on by default and set_check returns the previous setting", function()
    assert.is_true(tide.set_check(false))
    assert.is_false(tide.set_check(true))
  end)

  if P < 2 then
    it("has nothing to compare on one rank", function()
      local d = world:dup()
      local t = tide.ones(4)
      for _ = 1, EVERY + 1 do d:allreduce(t) end
      assert.are.equal(1, t[1])
      d:free()
    end)
    return
  end

  -- Each case: rank 1 passes `odd`, the others `even`, on a fresh communicator: both calls are
  -- new there, so the first one is checked.
  local cases = {
    { "f32 [4] vs f64 [2]", "allreduce", function(d, odd)
        local t = odd and tide.zeros(2, "f64") or tide.zeros(4)
        return t, function() d:allreduce(t) end, here()
      end, "f64 [2]", "f32 [4]" },
    { "f32 vs i32", "allreduce", function(d, odd)
        local t = odd and tide.zeros(4, "i32") or tide.zeros(4)
        return t, function() d:allreduce(t) end, here()
      end, "i32 [4]", "f32 [4]" },
    { "sum vs max", "allreduce", function(d, odd)
        local t = tide.zeros(4)
        return t, function() d:allreduce(t, odd and "max" or "sum") end, here()
      end, "f32 [4] op max", "f32 [4] op sum" },
    { "broadcast root 0 vs 1", "broadcast", function(d, odd)
        local t = tide.zeros(4)
        return t, function() d:broadcast(t, odd and 1 or 0) end, here()
      end, "f32 [4] root 1", "f32 [4] root 0" },
    { "broadcast of 4 vs 8 elements", "broadcast", function(d, odd)
        local t = tide.zeros(odd and 8 or 4)
        return t, function() d:broadcast(t, 0) end, here()
      end, "f32 [8]", "f32 [4]" },
  }
  for _, case in ipairs(cases) do
    it("raises on every rank, before moving data, for " .. case[1], function()
      local d = world:dup()
      local t, call, line = case[3](d, me == 1)   -- line: where call calls the collective
      t:fill_(me + 1)
      local e = err_of(call)
      assert.are.equal(msg(case[2], 1, case[4], case[5], line), e)
      same_everywhere(e)
      assert.are.equal(t:numel() * (me + 1), t:sum())   -- untouched
      -- and the communicator still works
      local n = d:allreduce(1)
      assert.are.equal(P, n)
      d:free()
    end)
  end

  it("catches a mismatch of calls it has seen at the next 128th collective", function()
    local d = world:dup()
    local t = tide.ones(4)
    for _ = 1, FIRST do d:allreduce(t, "sum"); d:allreduce(t, "max") end   -- both seen
    local seq, e = 2 * FIRST, nil
    local line = here() + 3
    while not e and seq < 3 * EVERY do
      seq = seq + 1
      e = err_of(function() d:allreduce(t, me == 1 and "max" or "sum") end)
    end
    assert.are.equal(EVERY, seq)
    assert.are.equal(msg("allreduce", EVERY, "f32 [4] op max", "f32 [4] op sum", line), e)
    same_everywhere(e)
    d:free()
  end)

  it("is off after set_check(false): the same mismatch passes unseen", function()
    local d = world:dup()
    tide.set_check(false)
    local e = err_of(function() d:allreduce(tide.ones(4), me == 1 and "max" or "sum") end)
    tide.set_check(true)
    assert.is_nil(e)
    d:free()
  end)
end)

describe("a shared-memory allreduce", function()
  if P < 2 then return end

  local function shared_pair(d)
    local a, b = d:shared_zeros(64), d:shared_zeros(64)
    a:fill_(me + 1)
    b:fill_(10 * (me + 1))
    return a, b
  end

  for _, check in ipairs { true, false } do
    it("refuses ranks passing different shared tensors (light check " .. tostring(check)
      .. ")", function()
      local d = world:dup()
      local a, b = shared_pair(d)
      -- the call (allreduce f32 [64] sum) is no longer new and #4 is no 128th: with the light
      -- check on or off, the shared path's own exchange has to see the difference
      for _ = 1, FIRST do d:allreduce(b) end
      a:fill_(me + 1)
      b:fill_(10 * (me + 1))
      local old = tide.set_check(check)
      local line, e = here(), err_of(function() d:allreduce(me == 1 and b or a) end)
      tide.set_check(old)
      local one, zero = e and e:match("rank 1 passed f32 %[64%] %(shared tensor (%d+)%) at "
        .. "mismatch_spec.lua:" .. line .. ", rank 0 passed f32 %[64%] %(shared tensor (%d+)%) "
        .. "at mismatch_spec.lua:" .. line .. "$")
      assert(one, e)
      assert.are_not.equal(one, zero)
      -- (shared_zeros is itself a collective on d, so the number counts those too)
      assert.is_truthy(e:find("^allreduce #%d+: "), e)
      same_everywhere(e)
      assert.are.equal(64 * (me + 1), a:sum())          -- a unchanged, b unchanged
      assert.are.equal(640 * (me + 1), b:sum())
      d:allreduce(a)                                     -- and the right call still works
      assert.are.equal(64 * P * (P + 1) / 2, a:sum())
      d:free()
    end)
  end

  for _, check in ipairs { true, false } do
    it("refuses a rank passing an ordinary tensor where the others pass a shared one (light "
      .. "check " .. tostring(check) .. ")", function()
      local d = world:dup()
      local a = d:shared_zeros(64)
      a:fill_(me + 1)
      local plain = tide.full({ 64 }, me + 1)
      local old = tide.set_check(check)
      local line, e = here(), err_of(function() d:allreduce(me == 1 and plain or a) end)
      tide.set_check(old)
      local id = e and e:match("^allreduce #%d+: rank 1 passed f32 %[64%] %(not shared%) at "
        .. "mismatch_spec.lua:" .. line .. ", rank 0 passed f32 %[64%] %(shared tensor (%d+)%) "
        .. "at mismatch_spec.lua:" .. line .. "$")
      assert(id, e)
      same_everywhere(e)
      assert.are.equal(64 * (me + 1), a:sum())
      assert.are.equal(64 * (me + 1), plain:sum())
      d:allreduce(plain)   -- ordinary tensors on a communicator with shared ones still add up
      assert.are.equal(64 * P * (P + 1) / 2, plain:sum())
      d:free()
    end)
  end

  it("under TIDE_DEBUG names the shared tensors too", function()
    local d = world:dup()
    local a, b = shared_pair(d)
    tide.set_debug(true)
    local line, e = here(), err_of(function() d:allreduce(me == 1 and b or a) end)
    tide.set_debug(false)
    assert.is_truthy(e and e:find("rank 1 passed f32 [64] (shared tensor ", 1, true), e)
    assert.is_truthy(e:find("at mismatch_spec.lua:" .. line, 1, true), e)
    same_everywhere(e)
    assert.are.equal(64 * (me + 1), a:sum())
    d:free()
  end)
end)

describe("a freed communicator's shared tensors", function()
  it("match no later communicator, even one with the same MPI handle", function()
    local d = world:dup()
    local s = d:shared_zeros(64)
    s:fill_(me + 1)
    d:free()
    local alone = world:split(me)   -- one rank each: an allreduce changes nothing
    for _ = 1, 3 do alone:allreduce(s) end
    assert.are.equal(64 * (me + 1), s:sum())
    alone:free()
    local d2 = world:dup()          -- every rank: the ordinary path, the ordinary sum
    d2:allreduce(s)
    assert.are.equal(64 * P * (P + 1) / 2, s:sum())
    d2:free()
  end)
end)
