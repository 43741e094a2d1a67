-- Shared tensors (comm:shared_zeros): memory every rank of the node can read, and the
-- allreduce over it that moves no message (core/comm/shared.h), against closed forms.
local tide = require "tide"

local world = tide.world
local me, P = world.rank, world.size

describe("comm:shared_zeros", function()
  it("starts at zero and is this rank's own tensor", function()
    local t = world:shared_zeros(100, "f64")
    assert.are.same({ 100 }, t:shape())
    assert.are.equal("f64", t:dtype())
    assert.are.equal(0, t:sum())
    t:fill_(me)
    assert.are.equal(100 * me, t:sum())   -- writing it changes no other rank's
    world:barrier()
  end)

  it("allreduces sum and avg in place, for f32 and f64, at any size", function()
    for _, dt in ipairs { "f32", "f64" } do
      for _, n in ipairs { 1, 15, 16, 1000, 100003 } do
        local t = world:shared_zeros(n, dt)
        -- element i of rank r holds r + i (exact in f32 for these sizes)
        t:copy_(tide.arange(0, n, dt) + me)
        world:allreduce(t, "sum")
        local want_first, want_last = P * (P - 1) / 2, P * (P - 1) / 2 + P * (n - 1)
        assert.are.equal(want_first, t[1])
        assert.are.equal(want_last, t[n])
        t:copy_(tide.arange(0, n, dt) + me)
        world:allreduce(t, "avg")
        assert.are.equal((P - 1) / 2, t[1])
        assert.are.equal((P - 1) / 2 + (n - 1), t[n])
      end
    end
  end)

  it("gives every rank the same bits, equal to an ordinary allreduce", function()
    local n = 5000
    local values = tide.randn({ n }, { seed = 11, dtype = "f32" })   -- differs per rank
    local s = world:shared_zeros(n, "f32")
    s:copy_(values)
    local plain = values:clone()
    world:allreduce(s, "sum")
    world:allreduce(plain, "sum")
    assert.is_true((s - plain):abs():max() <= 1e-5)
    local all = world:allgather(s:view(1, n))
    for r = 2, P do
      assert.are.equal(0, (all[r] - all[1]):abs():max())
    end
  end)

  -- Which path ran shows in the result. The copy-free path adds the ranks' values in rank
  -- order, ((x0 + x1) + x2) + x3, in the tensor's precision; Open MPI's allreduce of a short
  -- f32 tensor at 4 ranks adds pairs, (x0 + x1) + (x2 + x3). With x = 2^24, 1, 1, -2^24 the
  -- first gives 0 and the second 1 in f32 (2^24 + 1 rounds to 2^24). At 1 and 2 ranks the two
  -- orders agree; there the copy-free kernel still gives itself away on the tests below: it
  -- always sums (whatever the op), always sums the whole segment (whatever the view), and
  -- reads floats (whatever the dtype).
  local ORDER = { 2 ^ 24, 1, 1, -2 ^ 24 }
  local mine = ORDER[me % 4 + 1]
  local function rank_order_sum()
    local s = tide.tensor({ ORDER[1] }, "f32")
    for r = 1, P - 1 do s:add_(tide.tensor({ ORDER[r % 4 + 1] }, "f32")) end
    return s[1]
  end
  local function mpi_sum(n)   -- the ordinary path, on a tensor in ordinary memory
    return world:allreduce(tide.full({ n }, mine, "f32"), "sum")[1]
  end

  it("adds in rank order on the copy-free path (whole float tensors, sum and avg)", function()
    local ordered, plain = rank_order_sum(), mpi_sum(16)
    if P == 4 then
      -- the premise: at 4 ranks the two paths' sums differ, so the check below proves the path
      assert(plain ~= ordered, ("MPI's sum %g equals the rank-order sum: the check cannot tell "
        .. "the paths apart with these values"):format(plain))
    end
    local t = world:shared_zeros(16, "f32")
    t:fill_(mine)
    world:allreduce(t, "sum")
    assert.are.equal(ordered, t[1])
    assert.are.equal(ordered, t[16])
    t:fill_(mine)
    world:allreduce(t, "avg")
    assert.are.equal(ordered / P, t[7])
  end)

  it("takes the ordinary path for views, integers and other ops", function()
    local plain = mpi_sum(5)
    -- a view of part of the segment: MPI's sum on the view, and the rest untouched (the
    -- copy-free kernel would sum the whole segment)
    local t = world:shared_zeros(10, "f32")
    t:fill_(100 + me)
    t:narrow(1, 1, 5):fill_(mine)
    world:allreduce(t:narrow(1, 1, 5), "sum")
    assert.are.equal(plain, t[1])
    assert.are.equal(plain, t[5])
    assert.are.equal(100 + me, t[6])
    assert.are.equal(100 + me, t[10])
    -- other ops: the copy-free kernel only sums (P(P+1)/2 where max gives P, min 1)
    t:fill_(me + 1)
    world:allreduce(t, "max")
    assert.are.equal(P, t[3])
    t:fill_(me + 1)
    world:allreduce(t, "min")
    assert.are.equal(1, t[10])
    -- integers: the kernel reads floats; i32 2^24 + 1 is exact where f32 is not
    local i = world:shared_zeros(4, "i32")
    i:fill_(me == 0 and 2 ^ 24 or 1)
    world:allreduce(i, "sum")
    assert.are.equal(2 ^ 24 + P - 1, i[1])
    assert.are.equal("i32", i:dtype())
  end)

  it("refuses a negative size", function()
    assert.has_error(function() world:shared_zeros(-1) end, "shared_zeros: negative size -1")
  end)
end)
