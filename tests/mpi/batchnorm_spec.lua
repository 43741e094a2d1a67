-- nn.BatchNorm2d{sync = world} under mpirun (1, 2 and 4 ranks): each rank normalises its slice
-- of a global batch by the global statistics, as torch's SyncBatchNorm. Every rank also runs
-- the unsynchronised layer on the whole batch itself, with no communication, as reference:
-- outputs and input gradients match on the rank's slice, the parameter gradients summed over
-- the ranks match the whole batch's, and so do the running statistics.
local tide = require "tide"
local nn = tide.nn

local world = tide.world
local N, rank = world.size, world.rank
local PER, C = 3, 2

local function close(want, got, tol)
  local a, b = want:contiguous():view({ want:numel() }), got:contiguous():view({ got:numel() })
  assert.are.equal(a:numel(), b:numel())
  for i = 1, a:numel() do
    assert.is_true(math.abs(a:get(i) - b:get(i)) < tol,
      ("element %d: want %.12g, got %.12g"):format(i, a:get(i), b:get(i)))
  end
end

-- A global batch from a fixed formula (tide's generators give each rank its own stream).
local function lcg_batch(seed, scale, shift)
  local v, s = {}, seed
  for i = 1, PER * N * C * 3 * 2 do
    s = (s * 1103515245 + 12345) % 2147483648
    v[i] = s / 2147483648 * scale + shift
  end
  return tide.tensor(v, "f64"):view({ PER * N, C, 3, 2 })
end

describe("synchronized BatchNorm2d", function()
  it("matches the unsynchronised layer on the global batch", function()
    local x, g = lcg_batch(17, 5, -2), lcg_batch(29, 2, -1)   -- the same on every rank
    local ref = nn.BatchNorm2d(C, { dtype = "f64" })
    local bn = nn.BatchNorm2d(C, { dtype = "f64", sync = world })
    for _, m in ipairs({ ref, bn }) do
      m.weight:copy_(tide.tensor({ 1.5, -0.5 }, "f64"))
      m.bias:copy_(tide.tensor({ 0.25, 2 }, "f64"))
    end
    local mine = x:narrow(1, rank * PER + 1, PER):contiguous()
    local gmine = g:narrow(1, rank * PER + 1, PER):contiguous()
    for _ = 1, 2 do
      local y_ref = ref:forward(x):clone()
      local y = bn:forward(mine)
      close(y_ref:narrow(1, rank * PER + 1, PER), y, 1e-12)
      ref:zero_grad(); bn:zero_grad()
      local gi_ref = ref:backward(x, g):clone()
      local gi = bn:backward(mine, gmine)
      close(gi_ref:narrow(1, rank * PER + 1, PER), gi, 1e-12)
      local gw, gb = bn.grad_weight:clone(), bn.grad_bias:clone()
      world:allreduce(gw, "sum"); world:allreduce(gb, "sum")
      close(ref.grad_weight, gw, 1e-12)
      close(ref.grad_bias, gb, 1e-12)
      close(ref.running_mean, bn.running_mean, 1e-12)
      close(ref.running_var, bn.running_var, 1e-12)
    end
  end)
end)
