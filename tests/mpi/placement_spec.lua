-- Placement policies across ranks (any rank count, 1 included): each rank passes its own keys
-- and the assignment equals what the policy gives all keys in one process; policies drive
-- redistribute; the adaptive policy moves rows from a slow rank; a policy file written at run
-- time is loaded and used.
local tide = require "tide"
local dtensor = require "tide.dtensor"
local placement = require "tide.placement"

local world = tide.world
local P, me = world.size, world.rank

local function sum_all(x)
  return world:allreduce(x, "sum")
end

-- this rank's keys: an uneven share (rank r holds 3000 + 500 r) of a global key sequence
local function local_keys(all)
  local n, off = 0, 0
  for r = 0, P - 1 do
    local c = 3000 + 500 * r
    if r < me then
      off = off + c
    elseif r == me then
      n = c
    end
  end
  return all:narrow(1, off + 1, n), off
end

local total = 0
for r = 0, P - 1 do
  total = total + 3000 + 500 * r
end
local all_keys = tide.arange(1, total + 1) * 104729   -- the same on every rank
local mine = local_keys(all_keys)

describe("policies across ranks", function()
  it("assign this rank's keys as the policy assigns all keys in one process", function()
    local policies = {
      placement.block(), placement.cyclic(), placement.hash { seed = 4 },
      placement.range { bounds = (function()
        local b = {}
        for r = 1, P - 1 do
          b[r] = 104729 * total * r // P
        end
        return b
      end)() },
      placement.consistent_hash { vnodes = 50 }, placement.adaptive(),
    }
    local w = {}
    for r = 1, P do
      w[r] = r
    end
    policies[#policies + 1] = placement.weighted { weights = w }
    for _, p in ipairs(policies) do
      local here = p:assign(mine, world)
      local whole = p:assign(all_keys, P)
      local want = local_keys(whole)
      assert.are.equal(0, here:ne(want):sum(), tostring(p))
      assert.are.same(placement.rank_counts(whole, P), placement.rank_counts(here, world))
    end
  end)

  it("range.sampled balances Zipf(1.1) keys spread over the ranks within 1.10", function()
    local keys = placement.zipf(40000, { exponent = 1.1, seed = 3, stream = me })
    local p = placement.range.sampled { samples_per_rank = 256 }
    local counts = placement.rank_counts(p:assign(keys, world), world)
    assert.is_true(placement.imbalance(counts) <= 1.10, table.concat(counts, " "))
    -- every rank found the same splitters
    local bounds = world:allgather_obj(p.bounds)
    for r = 2, P do
      assert.are.same(bounds[1], bounds[r])
    end
  end)

  it("bounded loads hold across ranks: no rank gets more than ceil(1.25 * mean)", function()
    local keys = placement.zipf(30000, { seed = 9, stream = me })
    local p = placement.consistent_hash { bounded_load = 1.25 }
    local counts = placement.rank_counts(p:assign(keys, world), world)
    local cap = math.ceil(1.25 * 30000 * P / P)
    for _, c in ipairs(counts) do
      assert.is_true(c <= cap, table.concat(counts, " "))
    end
  end)

  it("drive redistribute: every row lands where the policy says", function()
    local x = dtensor.from_local(mine:to("f64"):view(-1, 1), world)
    local p = placement.hash { seed = 2 }
    local out = dtensor.redistribute({ x = x, key = mine }, p:assign(mine, world))
    assert.are.equal(#out.key, p:assign(out.key, P):eq(tide.full({ #out.key }, me, "i32")):sum())
    assert.are.equal(0, (out.x.shard:view(-1) - out.key:to("f64")):abs():sum())
    assert.are.equal(total, sum_all(#out.key))
    local st = placement.stats(out.x)
    assert.are.equal(total, st.total)
    assert.is_true(st.imbalance >= 1 and st.imbalance < 1.2)
  end)

  it("the example policies place keys across ranks", function()
    local dir = (os.getenv("TIDE_SOURCE_DIR") or "..") .. "/examples/policies/"
    -- rank r holds 3000 + 500 r keys: locality keeps them unless a rank holds more than 1.1x
    -- the mean, and moves only that surplus
    local loc = placement.load(dir .. "locality.lua", { slack = 1.1 })
    local r = loc:assign(mine, world)
    local counts = placement.rank_counts(r, world)
    local cap = math.ceil(1.1 * total / P)
    local stay = r:eq(tide.full({ #mine }, me, "i32")):sum()
    assert.are.equal(math.min(#mine, cap), stay)
    for _, c in ipairs(counts) do
      assert.is_true(c <= cap)
    end
    local ll = placement.load(dir .. "least_loaded.lua", {})
    ll.loads = counts
    local after = placement.rank_counts(ll:assign(mine, world), world)
    for i = 1, P do
      after[i] = after[i] + counts[i]
    end
    assert.is_true(placement.imbalance(after) < 1.01, table.concat(after, " "))
  end)
end)

describe("adaptive placement", function()
  -- one step of work: cost per row in CPU seconds (os.clock), 2x on the slow rank; a busy
  -- wait measures CPU time, so oversubscribed ranks still see their own cost
  local function step(rows, slow)
    local t0 = os.clock()
    local want = rows * 10e-6 * (slow and 2 or 1)
    while os.clock() - t0 < want do
    end
    return os.clock() - t0
  end

  local function slowest(rows, slow)
    return world:allreduce(step(rows, slow), "max")
  end

  it("moves rows from a slow rank to fast ones, cutting the slowest step by >= 30%", function()
    if P < 2 then
      return   -- needs a slow and a fast rank
    end
    local slow = me == P - 1
    local x = dtensor.rand({ 2000 * P, 4 }, { seed = 5 })   -- static block placement
    local policy = placement.adaptive { window = 3 }
    local before = 0
    for _ = 1, 3 do
      local rows = x.shard:size(1)
      local secs = step(rows, slow)
      policy:observe(rows, secs)
      before = before + world:allreduce(secs, "max")
    end
    local y = policy:rebalance(x)
    local after = 0
    for _ = 1, 3 do
      after = after + slowest(y.shard:size(1), slow)
    end
    assert.is_true(after <= 0.7 * before, string.format("%.4f -> %.4f", before, after))
    -- shares approach 2:1 (fast:slow); only the surplus moved
    local counts = y:row_counts()
    local ratio = counts[1] / counts[P]
    assert.is_true(ratio > 1.8 and ratio < 2.2, table.concat(counts, " "))
    local need = 0
    for r = 1, P do
      need = need + math.max(0, x:row_counts()[r] - counts[r])
    end
    assert.are.equal(need, placement.stats(y).moved_rows)
    -- a second rebalance with the same measurements moves nothing
    assert.are.equal(0, placement.stats(policy:rebalance(y)).moved_rows)
    -- and the aligned form moves keys with the rows
    local keys = tide.arange(x.shard:size(1)) + x:row_offset()
    local moved = policy:rebalance { x = x, key = keys }
    assert.are.equal(moved.x.shard:size(1), #moved.key)
  end)
end)

describe("policy files", function()
  it("loads a policy written at run time and places rows with it, without rebuilding", function()
    -- rank 0 writes the file; every rank loads it once it is there
    local path = world:bcast_obj(me == 0 and os.tmpname() or nil, 0)
    if me == 0 then
      local f = assert(io.open(path, "w"))
      f:write([[
        -- every key to the rank after the one that holds it (a rotation)
        local tide = require "tide"
        local placement = require "tide.placement"
        return placement.class("rotate", {
          assign = function(self, keys, comm)
            local P, c = placement.world(comm)
            return tide.full({ #keys }, ((c and c.rank or 0) + 1) % P, "i32")
          end,
        })
      ]])
      f:close()
    end
    world:barrier()
    local policy = placement.load(path)
    assert.are.equal("rotate", policy.name)
    local x = dtensor.from_local(tide.full({ 5 + me, 2 }, me), world)
    local y = x:redistribute(policy:assign(tide.arange(5 + me), world))
    local from = (me - 1) % P
    assert.are.same({ 5 + from, 2 }, y.shard:shape())
    assert.are.equal(from, y.shard:max())
    world:barrier()
    if me == 0 then
      os.remove(path)
    end
  end)
end)
