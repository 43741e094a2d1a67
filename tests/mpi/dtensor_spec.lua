-- Distributed tensors under mpirun (any rank count, 1 included): layouts, creation that gives
-- the same global tensor at every rank count, gathering, redistribution that keeps every row
-- exactly once and aligned, reductions and row-wise maps, and their errors on every rank.
local tide = require "tide"
local dtensor = require "tide.dtensor"

local S = require "support.spec"
local world, P, me, err_of = S.world, S.P, S.me, S.err_of

-- every rank's value of x, as a list (rank r at r + 1)
local function everyone(x)
  return world:allgather_obj(x)
end

local function max_abs_diff(a, b)
  return (a:to("f64") - b:to("f64")):abs():max()
end

describe("dtensor layout", function()
  it("from_local knows every rank's rows, the global shape and offsets", function()
    -- rank r holds r + 1 rows of 3 columns: row i of rank r is {10r + i, ., .}
    local rows = {}
    for i = 1, me + 1 do
      rows[i] = { 10 * me + i, 0, -1 }
    end
    local t = tide.tensor(rows)
    local dt = dtensor.from_local(t, world)
    local counts, offset = {}, 0
    for r = 0, P - 1 do
      counts[r + 1] = r + 1
      if r < me then
        offset = offset + r + 1
      end
    end
    assert.are.same(counts, dt:row_counts())
    assert.are.equal(offset, dt:row_offset())
    assert.are.same({ P * (P + 1) // 2, 3 }, dt:global_shape())
    dt.shard:set_(1, 2, 5)   -- the shard shares t's storage
    assert.are.equal(5, t:get(1, 2))
    local full = dt:full()
    local at = 0
    for r = 0, P - 1 do
      for i = 1, r + 1 do
        assert.are.equal(10 * r + i, full:get(at + i, 1))
      end
      at = at + r + 1
    end
    assert.is_false(dt:is_replicated())
    assert.are.equal("f32", dt:dtype())
    assert.is_truthy(tostring(dt):find("tide.dtensor " .. P * (P + 1) // 2 .. "x3 f32 over " .. P
      .. " ranks", 1, true))
  end)

  it("scatter cuts root's tensor in blocks and gather puts it back", function()
    local root = P - 1
    local whole = me == root and tide.arange(0, 22, "f64"):view(11, 2) or nil
    local dt = dtensor.scatter(whole, root, world)
    local q, rem = 11 // P, 11 % P
    assert.are.equal(q + (me < rem and 1 or 0), dt.shard:size(1))
    local g = dt:gather(root)
    if me == root then
      assert.are.same(whole:totable(), g:totable())
    else
      assert.is_nil(g)
    end
    assert.are.same(tide.arange(0, 22, "f64"):view(11, 2):totable(), dt:full():totable())
  end)

  it("load reads each rank's block of rows from a .npy file", function()
    local path = os.getenv("TIDE_BUILD_DIR") .. "/dtensor_load_spec.npy"
    local whole = tide.arange(0, 26, "f32"):view(13, 2)
    if me == 0 then tide.save(path, whole) end
    world:barrier()
    local dt = dtensor.load(path, world)
    local q, rem = 13 // P, 13 % P
    assert.are.equal(q + (me < rem and 1 or 0), dt.shard:size(1))
    assert.are.same({ 13, 2 }, dt:global_shape())
    assert.are.same(whole:totable(), dt:full():totable())
    world:barrier()
    if me == 0 then os.remove(path) end
    assert.has_error(function() dtensor.load(42) end,
      "dtensor.load: expected a path to a .npy file, got number")
  end)

  it("replicated tensors reduce locally", function()
    local dt = dtensor.replicated(tide.tensor { { 1, 2 }, { 3, 4 } }, world)
    assert.is_true(dt:is_replicated())
    assert.are.equal(10, dt:sum())
    assert.are.same({ 4, 6 }, dt:sum(1):totable())
    assert.are.same({ { 1, 2 }, { 3, 4 } }, dt:full():totable())
    local rows = dt:sum(2)
    assert.is_true(rows:is_replicated())
    assert.are.same({ 3, 7 }, rows:full():totable())
    assert.are.same({ { 5 }, { 11 } }, dt:matmul(tide.tensor { { 1 }, { 2 } }).shard:totable())
  end)
end)

describe("dtensor creation", function()
  it("gives the same global tensor at 1, 2 and 4 ranks under one seed", function()
    local want = tide.rand({ 103, 5 }, { seed = 7, same_on_all_ranks = true })
    local wantn = tide.randn({ 103, 5 }, { seed = 7, same_on_all_ranks = true, dtype = "f64" })
    -- the world, and sub-worlds of 1 and 2 ranks (when there are enough ranks)
    local comms = { world, world:split(me) }
    if P >= 4 then
      comms[#comms + 1] = world:split(me // 2)
    end
    for _, c in ipairs(comms) do
      local u = dtensor.rand({ 103, 5 }, { seed = 7, comm = c })
      local n = dtensor.randn({ 103, 5 }, { seed = 7, comm = c, dtype = "f64" })
      assert.are.equal(0, max_abs_diff(want, u:full()))
      assert.are.equal(0, max_abs_diff(wantn, n:full()))
      assert.are.same({ 103, 5 }, u:global_shape())
      assert.are.equal(c.size, #u:row_counts())
    end
    local z = dtensor.zeros({ 9 }, { dtype = "i32" })
    assert.are.same({ 0, 0, 0, 0, 0, 0, 0, 0, 0 }, z:full():totable())
  end)

  it("draws from a generator on every rank and advances it past the tensor", function()
    local g = tide.rng(3, { same_on_all_ranks = true })
    local ref = g:clone()
    local a = dtensor.randn({ 20, 2 }, { generator = g })
    assert.are.equal(40, g:counter())
    assert.are.equal(0, max_abs_diff(tide.randn({ 20, 2 }, { generator = ref }), a:full()))
    local b = dtensor.rand({ 7 })   -- the module's own generator, the same on every rank
    local all = everyone(b:full():totable())
    for r = 2, P do
      assert.are.same(all[1], all[r])
    end
  end)

  it("rejects bad shapes, dtypes and options", function()
    assert.has_error(function() dtensor.rand({ 4 }, { dtype = "i32" }) end,
      "dtensor.rand: expected a float dtype (f32 or f64), got i32")
    assert.has_error(function() dtensor.zeros({ 4, -1 }) end, "dtensor.zeros: negative size -1 in dim 2")
    assert.has_error(function() dtensor.zeros({}) end,
      "dtensor.zeros: expected a global shape of at least 1 dim (rows), got a scalar")
    assert.has_error(function() dtensor.rand({ 4 }, { sed = 1 }) end,
      "dtensor.rand: unknown option 'sed' (expected one of: comm, dtype, generator, seed)")
    assert.has_error(function() dtensor.rand({ 4 }, { seed = 1, generator = tide.rng(1) }) end,
      "dtensor.rand: give seed or generator, not both")
  end)

  it("fails on every rank when one rank's rows do not match", function()
    local t = tide.zeros(2, me == P - 1 and P > 1 and 4 or 3)
    local e = err_of(function() dtensor.from_local(t, world) end)
    if P > 1 then
      assert.are.equal("dtensor.from_local: rank " .. P - 1 .. " holds rows of 4 f32, rank 0 3 f32", e)
    else
      assert.is_nil(e)
    end
    local s = err_of(function() dtensor.from_local(tide.tensor(1), world) end)
    assert.are.equal("dtensor.from_local: expected a tensor of at least 1 dim (rows), got a scalar", s)
    assert.are.equal("dtensor.scatter: expected a tensor of at least 1 dim on the root, got nothing",
      err_of(function() dtensor.scatter(nil, 0, world:split(me)) end))
    assert.has_error(function() dtensor.rand({ 3 }):gather(P) end,
      "gather: root " .. P .. " is not a rank (expected 0.." .. P - 1 .. ")")
  end)
end)

describe("redistribute", function()
  -- n rows on this rank with globally unique keys; payload row = {key, 2 key, 3 key}
  local function make(n, offset)
    local keys = tide.arange(offset, offset + n)
    local x = keys:to("f64"):view(n, 1) * tide.tensor({ { 1, 2, 3 } }, "f64")
    return dtensor.from_local(x, world), keys
  end

  local function my_offset(n)
    local all, off = everyone(n), 0
    for r = 1, me do
      off = off + all[r]
    end
    return off
  end

  it("moves every row exactly once, keeps keys aligned, and records what moved", function()
    local n = 500 + 37 * me
    local x, keys = make(n, my_offset(n))
    local labels = keys:to("i32")
    local dest = tide.hash_bucket(keys, P, 1)
    local moved_here = dest:ne(tide.full({ n }, me, "i32")):sum()
    local out = dtensor.redistribute({ x = x, key = keys, label = labels }, dest)
    assert.is_true(dtensor.is_dtensor(out.x))
    assert.is_true(tide.is_tensor(out.key))
    local k, lx, lab = out.key, out.x.shard, out.label
    -- aligned: every row still carries its own key
    assert.are.equal(0, max_abs_diff(lx, k:to("f64"):view(#k, 1) * tide.tensor({ { 1, 2, 3 } }, "f64")))
    assert.are.equal(0, max_abs_diff(lab, k))
    -- every key here belongs here, in source order (keys grow with rank and within a rank)
    assert.are.equal(#k, tide.hash_bucket(k, P, 1):eq(tide.full({ #k }, me, "i32")):sum())
    local kt = k:totable()
    for i = 2, #kt do
      assert.is_true(kt[i - 1] < kt[i])
    end
    -- exactly once: the gathered keys are 0 .. total-1
    local total = out.x:global_shape()[1]
    local all = world:allgather(k):sort()
    assert.are.equal(0, max_abs_diff(all, tide.arange(total)))
    -- stats: rows moved by all ranks, and their bytes (24 + 8 + 4 per row)
    local st = tide.placement.stats(out.x)
    local sum = 0
    for _, v in ipairs(everyone(moved_here)) do
      sum = sum + v
    end
    assert.are.equal(sum, st.moved_rows)
    assert.are.equal(sum * 36, st.moved_bytes)
    assert.are.same(out.x:row_counts(), st.rows)
  end)

  it("moves one dtensor with dt:redistribute, through empty ranks and back", function()
    local x = make(10, my_offset(10))
    local last = x:redistribute(tide.full({ 10 }, P - 1, "i32"))
    assert.are.equal(me == P - 1 and 10 * P or 0, last.shard:size(1))
    -- rows come back: the last rank deals them round robin, the others send nothing
    local dest = tide.placement.cyclic():assign(tide.arange(last.shard:size(1)), P)
    local back = last:redistribute(dest)
    assert.are.equal(10, back.shard:size(1))
    assert.are.equal(10 * P * (10 * P - 1) // 2 * 6, back:sum())
  end)

  it("fails on every rank when one rank passes a bad destination", function()
    local x, keys = make(4, 4 * me)
    local dest = tide.zeros({ 4 }, "i32")
    if me == P - 1 then
      dest[1] = P
    end
    local e = err_of(function() dtensor.redistribute({ x = x, key = keys }, dest) end)
    if me == P - 1 then
      assert.are.equal("redistribute: dest " .. P .. " of row 1 is not a rank (expected 0.."
        .. P - 1 .. ")", e)
    else
      assert.are.equal("redistribute: rank " .. P - 1 .. " passed bad arguments", e)
    end
    assert.are.equal("redistribute: expected dest as an i32 or i64 vector of 4 ranks (one per local "
      .. "row), got 3 i32", err_of(function() x:redistribute(tide.zeros({ 3 }, "i32")) end))
    assert.are.equal("redistribute: tensor 2 has 3 local rows, tensor 1 has 4",
      err_of(function() dtensor.redistribute({ x, tide.zeros(3) }, dest:zero_()) end))
    assert.has_error(function() dtensor.redistribute({ a = 1 }, dest) end,
      "redistribute: entry 1 is a number, expected a dtensor or a tensor")
    assert.has_error(function() dtensor.redistribute({ keys }, dest) end,
      "redistribute: expected a dtensor among the tensors to move, or a comm")
  end)
end)

describe("dtensor reductions and maps", function()
  local x = dtensor.randn({ 37, 4 }, { seed = 11, dtype = "f64" })
  local full = x:full()

  it("reduces every element and the rows to replicated results", function()
    assert.is_true(math.abs(x:sum() - full:sum()) < 1e-9)
    assert.is_true(math.abs(x:mean() - full:mean()) < 1e-12)
    assert.are.equal(full:max(), x:max())
    assert.are.equal(full:min(), x:min())
    assert.is_true(math.abs(x:norm() - full:norm()) < 1e-9)
    assert.is_true(math.abs(x:norm(1) - full:norm(1)) < 1e-9)
    assert.are.equal(full:norm(math.huge), x:norm(math.huge))
    assert.is_true(max_abs_diff(x:sum(1), full:sum(1)) < 1e-9)
    assert.is_true(max_abs_diff(x:mean(1), full:mean(1)) < 1e-12)
    assert.are.equal(0, max_abs_diff(x:max(1), (full:max(1))))
    assert.are.equal(0, max_abs_diff(x:min(-2), (full:min(1))))
    assert.is_true(max_abs_diff(x:norm(2, 1), full:norm(2, 1)) < 1e-9)
  end)

  it("reduces other dims row by row into dtensors sharded like x", function()
    local s = x:sum(2)
    assert.is_true(dtensor.is_dtensor(s))
    assert.are.same(x:row_counts(), s:row_counts())
    assert.is_true(max_abs_diff(s:full(), full:sum(2)) < 1e-12)
    assert.are.equal(0, max_abs_diff(x:max(2):full(), (full:max(2))))
    assert.is_true(max_abs_diff(x:norm(2, 2):full(), full:norm(2, 2)) < 1e-12)
  end)

  it("multiplies by a replicated matrix and maps local blocks", function()
    local w = tide.randn({ 4, 3 }, { seed = 2, same_on_all_ranks = true, dtype = "f64" })
    local y = x:matmul(w)
    assert.are.same({ 37, 3 }, y:global_shape())
    assert.is_true(max_abs_diff(y:full(), full:matmul(w)) < 1e-12)
    local pos = x:map(function(l) return l:masked_select(l:gt(0)):view(-1, 1) end)
    assert.are.equal(full:gt(0):sum(), pos:global_shape()[1])
    assert.has_error(function() x:map(function() return 1 end) end,
      "map: the function returned number, expected a tensor")
  end)

  it("handles ranks without rows and empty tensors", function()
    local e = dtensor.from_local(me == 0 and tide.tensor { { 5, -1 } } or tide.zeros(0, 2), world)
    assert.are.equal(5, e:max())
    assert.are.equal(-1, e:min())
    assert.are.same({ 5, -1 }, e:max(1):totable())
    assert.are.same({ 5, -1 }, e:sum(1):totable())
    local none = dtensor.zeros({ 0, 2 })
    assert.are.equal(0, none:sum())
    assert.has_error(function() none:max() end, "max: cannot reduce an empty dtensor")
    assert.has_error(function() x:sum(3) end, "sum: dim 3 out of range (expected 1..2 or -2..-1)")
  end)

  it("rejects use after close, or after its communicator was freed", function()
    local d = dtensor.zeros({ 2 })
    d:close()
    assert.has_error(function() d:sum() end, "attempt to use a closed dtensor")
    assert.are.equal("tide.dtensor (closed)", tostring(d))
    local c = world:split(me)
    local e = dtensor.zeros({ 2 }, { comm = c })
    c:free()
    assert.has_error(function() e:full() end,
      "attempt to use a dtensor whose communicator was freed")
  end)

  it("names what was wrong with its arguments", function()
    assert.has_error(function() x.shard = tide.zeros(2) end,
      "dtensor: cannot set field 'shard' (a dtensor's layout is fixed: make a new one with dtensor.from_local)")
    assert.has_error(function() x:matmul(x) end,
      "matmul: expected a replicated right operand, got a sharded dtensor")
    assert.has_error(function() x:norm(-1) end, "norm: expected p >= 0, got -1")
    assert.has_error(function() x:norm(0 / 0) end, "norm: expected p >= 0, got " .. tostring(0 / 0))
    assert.has_error(function() dtensor.rand({ 4 }, { seed = 0.5 }) end,
      "dtensor.rand: seed must be an integer, got 0.5")
    -- dt.local_, the shard's old name, is the same tensor (it warns once on stderr)
    assert.is_true(rawequal(x.shard, x.local_))
    assert.has_error(function() x:map(5) end, "map: expected a function, got number")
    assert.has_error(function() dtensor.zeros(5) end,
      "dtensor.zeros: expected a global shape (a table of sizes), got number")
    assert.has_error(function() dtensor.scatter(nil, P, world) end,
      "dtensor.scatter: root " .. P .. " is not a rank (expected 0.." .. P - 1 .. ")")
    assert.has_error(function() tide._internal.dtensor.like(x, tide.zeros(x.shard:size(1) + 1, 2)) end,
      "dtensor.like: expected " .. x.shard:size(1) .. " local rows, got " .. x.shard:size(1) + 1)
    local dest = tide.zeros({ x.shard:size(1) }, "i32")
    assert.has_error(function() dtensor.redistribute({}, dest) end,
      "redistribute: expected at least one tensor to move")
    assert.has_error(function() dtensor.redistribute({ [2] = x }, dest) end,
      "redistribute: expected a list or a table with string names, got a number key")
    assert.has_error(function() dtensor.redistribute({ x, tide.tensor(1) }, dest) end,
      "redistribute: entry 2 is a scalar, expected rows")
    assert.has_error(function() dtensor.first({ a = tide.zeros(2) }, "rebalance") end,
      "rebalance: expected a dtensor among the tensors")
    local e = err_of(function() dtensor.replicated(tide.zeros(me == P - 1 and P > 1 and 3 or 2), world) end)
    if P > 1 then
      assert.are.equal("dtensor.replicated: rank " .. P - 1 .. " holds 3 f32, rank 0 2 f32", e)
    else
      assert.is_nil(e)
    end
    assert.is_truthy(tostring(dtensor.replicated(tide.zeros(2, 2), world))
      :find("tide.dtensor 2x2 f32, replicated on " .. P .. " ranks", 1, true))
  end)
end)
