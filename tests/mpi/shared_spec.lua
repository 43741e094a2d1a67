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

  it("takes the ordinary path for views, integers and other ops", function()
    local t = world:shared_zeros(10, "f32")
    t:fill_(me + 1)
    world:allreduce(t:narrow(1, 1, 5), "sum")
    assert.are.equal(P * (P + 1) / 2, t[1])
    assert.are.equal(me + 1, t[10])
    t:fill_(me + 1)
    world:allreduce(t, "max")
    assert.are.equal(P, t[3])
    local i = world:shared_zeros(4, "i32")
    i:fill_(me)
    world:allreduce(i, "sum")
    assert.are.equal(P * (P - 1) // 2, i[1])
  end)

  it("refuses a negative size", function()
    assert.has_error(function() world:shared_zeros(-1) end, "shared_zeros: negative size -1")
  end)
end)
