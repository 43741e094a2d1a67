-- Communicators (split, split_node, dup, free), collectives on Lua values, and the debug-mode
-- fingerprint check, on any number of ranks (TIDE_TEST_RANKS).
local tide = require "tide"

local world = tide.world
local N, me = world.size, world.rank

tide.set_timeout(120)   -- a failed test must not leave the job hanging

-- the current line of the caller, for the call sites the fingerprints report
local function line() return debug.getinfo(2, "l").currentline end

describe("communicators", function()
  it("has 0-based rank and size fields", function()
    assert.is_true(me >= 0 and me < N)
    if os.getenv("TIDE_TEST_RANKS") then
      assert.are.equal(tonumber(os.getenv("TIDE_TEST_RANKS")), N)
    end
    assert.are.equal(string.format("tide.comm (rank %d of %d, world)", me, N), tostring(world))
  end)

  it("splits by color, ordered by key", function()
    local c = world:split(me % 2, -me)   -- reverse order within each color
    local members = (N - me % 2 + 1) // 2
    assert.are.equal(members, c.size)
    assert.are.equal(members - 1 - me // 2, c.rank)
    -- a collective over the split sees only its own color
    local s = c:allreduce(me)
    local want = 0
    for r = me % 2, N - 1, 2 do want = want + r end
    assert.are.equal(want, s)
    c:free()
  end)

  it("leaves out ranks whose color is nil or false", function()
    local c = world:split(me == 0 and 0 or nil)
    if me == 0 then
      assert.are.equal(1, c.size)
      c:free()
    else
      assert.is_nil(c)
    end
    assert.is_nil(world:split(false))
  end)

  it("split_node groups the ranks of this machine", function()
    local c = world:split_node()
    assert.are.equal(N, c.size)   -- the tests run on one node
    assert.are.equal(me, c.rank)
    assert.are.equal(N, c:allreduce(1))
  end)

  it("dup gives an independent communicator; free makes it unusable", function()
    local d = world:dup()
    assert.are.same({ me, N }, { d.rank, d.size })
    assert.are.equal(N, d:allreduce(1))
    d:free()
    d:free()   -- idempotent
    assert.are.equal("tide.comm (freed)", tostring(d))
    assert.has_error(function() d:barrier() end, "attempt to use a freed communicator")
    assert.has_error(function() d:split(0) end, "attempt to use a freed communicator")
    assert.has_error(function() world:free() end, "free: tide.world cannot be freed")
    assert.has_error(function() world:split(-1) end,
      "split: color must be a non-negative integer, or nil to stay out, got -1")
  end)
end)

describe("collectives on Lua values", function()
  local value = {
    int = 7, big = 1 << 60, neg = -(1 << 62), float = 0.1, third = 1 / 3, whole = 2.0,
    huge = math.huge, ninf = -math.huge, s = "with \0 zero", z = "\0tagged",
    yes = true, no = false, list = { 1, "two", { 3 } }, empty = {}, [5] = "five",
  }

  local function check_value(v)
    assert.are.same(value.list, v.list)
    assert.are.same({}, v.empty)
    for _, k in ipairs { "int", "big", "neg", "float", "third", "whole", "huge", "ninf", "s",
      "z", "yes", "no" } do
      assert.are.equal(value[k], v[k], k)
      assert.are.equal(math.type(value[k]), math.type(v[k]), k)
    end
    assert.are.equal("five", v[5])
  end

  it("bcast_obj from every root keeps numbers exact and their subtype", function()
    for root = 0, N - 1 do
      local mine = me == root and value or nil
      check_value(world:bcast_obj(mine, root))
    end
    local nan = world:bcast_obj(0 / 0)
    assert.is_true(nan ~= nan)
    assert.is_nil(world:bcast_obj(nil))
    assert.are.equal("plain", world:bcast_obj("plain"))
  end)

  it("allgather_obj and gather_obj list every rank's value", function()
    local all = world:allgather_obj({ rank = me, name = "r" .. me })
    assert.are.equal(N, #all)
    for r = 0, N - 1 do
      assert.are.same({ rank = r, name = "r" .. r }, all[r + 1])
    end
    for root = 0, N - 1 do
      local g = world:gather_obj(me * 10, root)
      if me == root then
        for r = 0, N - 1 do assert.are.equal(r * 10, g[r + 1]) end
      else
        assert.is_nil(g)
      end
    end
  end)

  it("send_obj and recv_obj, with tide.ANY", function()
    local nxt, prev = (me + 1) % N, (me - 1) % N
    world:send_obj({ from = me, data = { 1.5, 2 } }, nxt, 3)
    local v, src, tag = world:recv_obj(tide.ANY, tide.ANY)
    assert.are.same({ from = prev, data = { 1.5, 2 } }, v)
    assert.are.same({ prev, 3 }, { src, tag })
    world:send(tide.zeros(2), nxt, 4)
    assert.has_error(function() world:recv_obj(prev, 4) end,
      string.format("recv_obj: rank %d (tag 4) sent a tensor (send), expected a Lua value "
        .. "(send_obj)", prev))
    assert.has_error(function() world:send_obj(print, nxt) end,
      "send_obj: cannot serialise a function (values are numbers, strings, booleans and tables)")
  end)

  it("a value one rank cannot serialise fails on every rank", function()
    local bad = me == N - 1 and { f = print } or { 1 }
    assert.has_error(function() world:allgather_obj(bad) end,
      string.format("allgather_obj: rank %d could not serialise its value: cannot serialise a "
        .. "function (values are numbers, strings, booleans and tables)", N - 1))
    assert.has_error(function() world:gather_obj(bad, 0) end,
      string.format("gather_obj: rank %d could not serialise its value: cannot serialise a "
        .. "function (values are numbers, strings, booleans and tables)", N - 1))
    assert.has_error(function() world:bcast_obj(me == 0 and tide.zeros(1) or nil, 0) end,
      "bcast_obj: rank 0 could not serialise its value: cannot serialise a userdata (values "
      .. "are numbers, strings, booleans and tables)")
    world:barrier()
  end)
end)

describe("tide.on", function()
  it("brings one rank's results to rank 0, tensors as tensors", function()
    local last = N - 1
    local t, s, n = tide.on(last, function(k)
      return tide.arange(6, "f64"):reshape({ 3, 2 }):add_(me * k), "r" .. me, nil
    end, 10)
    if me == 0 then
      assert.are.equal("f64", t:dtype())
      assert.are.same({ 3, 2 }, t:shape())
      for i = 1, 3 do
        for j = 1, 2 do   -- arange's element (i, j) plus 10 * the last rank
          assert.are.equal((i - 1) * 2 + (j - 1) + 10 * last, t:get(i, j))
        end
      end
      assert.are.equal("r" .. last, s)
      assert.is_nil(n)
    else
      assert.is_nil(t)
    end
  end)

  it("runs on a range and a list of ranks, each rank's results by rank", function()
    local r = tide.on("0-" .. (N - 1), function() return me * me, tide.full({ 2 }, me, "i64") end)
    local odd = {}
    for k = 1, N - 1, 2 do odd[#odd + 1] = k end
    local o = #odd > 0 and tide.on(odd, function() return me end) or nil
    if me == 0 then
      assert.are.equal(N, #r.ranks)
      for k = 0, N - 1 do
        assert.are.equal(k * k, r[k][1])
        assert.are.equal(2 * k, r[k][2]:sum())
        assert.are.equal(2, r[k].n)
      end
      if o then
        assert.are.same(odd, o.ranks)
        for _, k in ipairs(odd) do assert.are.equal(k, o[k][1]) end
      end
    else
      assert.is_nil(r)
    end
  end)

  it("raises an error on the rank whose fn failed, and nowhere else", function()
    local ok, err = pcall(tide.on, N - 1, function() error("no luck on " .. me, 0) end)
    if me == N - 1 then
      assert.is_false(ok)
      assert.are.equal("no luck on " .. me, err)
    else
      assert.is_true(ok)
    end
    world:barrier()
  end)

  it("refuses collectives inside fn unless fn runs on every rank", function()
    if N > 1 then
      local ok, err = pcall(tide.on, 1, function() return world:allreduce(1) end)
      assert.are.equal(me ~= 1, ok)
      if me == 1 then
        assert.truthy(tostring(err):find("allreduce: a collective inside tide.on, which runs its "
          .. "function on some ranks only", 1, true), err)
      end
    end
    local all = tide.on("0-" .. (N - 1), function() return world:allreduce(1) end)
    if me == 0 then assert.are.equal(N, all[N - 1][1]) end
    -- comm:on over a split: ranks are the split's
    local half = world:split(me % 2)
    local got = half:on(half.size - 1, function() return world.rank end)
    if half.rank == 0 then
      assert.are.equal(me + 2 * (half.size - 1), got)   -- the split's last rank, in world ranks
    end
    half:free()
  end)
end)

describe("debug fingerprints (TIDE_DEBUG)", function()
  local c
  before_each(function()
    c = world:dup()   -- fresh sequence numbers: its first collective is #1
    tide.set_debug(true)
  end)
  after_each(function()
    tide.set_debug(false)
    c:free()
  end)

  local function expect(err, fmt, ...)
    assert.are.equal(string.format(fmt, ...), err)
  end

  it("every rank fails on a shape, dtype, op or root mismatch and the job goes on", function()
    if N == 1 then return end   -- a world of one cannot disagree
    local l = line() + 1
    local ok, err = pcall(c.allreduce, c, tide.zeros(me == 1 and 20 or 10))
    assert.is_false(ok)
    expect(err, "allreduce #1: rank 1 passed f32 [20] at comm_spec.lua:%d, rank 0 passed f32 [10] "
      .. "at comm_spec.lua:%d", l, l)

    l = line() + 1
    ok, err = pcall(c.allreduce, c, tide.zeros({ 2, 5 }, me == 1 and "i32" or "f32"))
    expect(err, "allreduce #2: rank 1 passed i32 [2x5] at comm_spec.lua:%d, rank 0 passed f32 "
      .. "[2x5] at comm_spec.lua:%d", l, l)

    l = line() + 1
    ok, err = pcall(c.allreduce, c, tide.zeros(3), me == 1 and "max" or "sum")
    expect(err, "allreduce #3: rank 1 passed f32 [3] op max at comm_spec.lua:%d, rank 0 passed "
      .. "f32 [3] op sum at comm_spec.lua:%d", l, l)

    l = line() + 1
    ok, err = pcall(c.broadcast, c, tide.zeros(3), me == 1 and 1 or 0)
    expect(err, "broadcast #4: rank 1 passed f32 [3] root 1 at comm_spec.lua:%d, rank 0 passed "
      .. "f32 [3] root 0 at comm_spec.lua:%d", l, l)

    -- nothing was sent: the communicator still works
    assert.are.equal(N, c:allreduce(1))
  end)

  it("catches two ranks calling different collectives", function()
    if N == 1 then return end
    local ok, err
    local l = line() + 1
    if me == 1 then ok, err = pcall(c.barrier, c) else ok, err = pcall(c.allgather, c, tide.zeros(4)) end
    assert.is_false(ok)
    expect(err, "allgather #1: rank 1 called barrier at comm_spec.lua:%d, rank 0 called allgather "
      .. "on f32 [4] at comm_spec.lua:%d", l, l)
    c:barrier()
  end)

  it("names every differing rank, grouping neighbours that agree", function()
    if N < 4 then return end
    local n = me == 0 and 10 or me == 1 and 20 or 30
    local l = line() + 1
    local ok, err = pcall(c.allreduce, c, tide.zeros(n))
    assert.is_false(ok)
    expect(err, "allreduce #1: rank 1 passed f32 [20] at comm_spec.lua:%d, ranks 2-3 passed f32 "
      .. "[30] at comm_spec.lua:%d, rank 0 passed f32 [10] at comm_spec.lua:%d", l, l, l)
  end)

  it("lets v-forms differ in rows, and Lua numbers differ in subtype", function()
    local g = c:allgather(tide.zeros({ me + 1, 2 }))
    assert.are.equal(N * (N + 1) // 2, g:size(1))
    assert.are.equal(1.5 + N - 1, c:allreduce(me == 0 and 1.5 or 1))
    local all = c:allgather_obj(me)
    assert.are.equal(N, #all)
  end)
end)
