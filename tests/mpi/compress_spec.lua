-- tide.infer under mpirun: batch inference sharded over the ranks gives, on every rank and in
-- the inputs' order, what one process computes on the whole batch.
local tide = require "tide"
local nn, compress, dtensor = tide.nn, tide.compress, tide.dtensor

local world = tide.world

describe("tide.infer", function()
  tide.manual_seed(3, { same_on_all_ranks = true })
  local model = nn.Sequential { nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4) }
  local x = tide.randn({ 23, 8 }, { seed = 5, same_on_all_ranks = true })
  local want = model:forward(x):clone()

  it("on a tensor every rank holds", function()
    local out = tide.infer(model, x, { batch_size = 4 })
    -- (BLAS may block a product of 4 rows and of 23 differently: f32 rounding apart)
    assert.is_true((out - want):abs():max() < 1e-6)
    local labels = tide.infer(model, x, { argmax = true })
    assert.are.same(want:argmax(2):view({ -1 }):totable(), labels:totable())
  end)

  it("on a dtensor of rows (uneven blocks), with a quantized model", function()
    local q = compress.quantize(model)
    local qwant = q:forward(x):clone()
    -- rank 0 holds rows 1-2, the other ranks split rows 3-23 in blocks
    local lo, hi = 1, 23
    if world.size > 1 then
      local k, r = world.size - 1, world.rank
      lo, hi = 1, 2
      if r > 0 then lo, hi = 3 + (r - 1) * 21 // k, 2 + r * 21 // k end
    end
    local dt = dtensor.from_local(x:narrow(1, lo, hi - lo + 1):clone(), world)
    local out = tide.infer(q, dt)
    assert.are.equal(0, (out - qwant):abs():max())     -- int8 rows: exact for any split
  end)

  it("names bad input", function()
    assert.has_error(function() tide.infer(model, "x") end,
      "tide.infer: expected a dtensor or a tensor of inputs, got string")
    assert.has_error(function() tide.infer(model, x, { batch = 2 }) end,
      "tide.infer: unknown option 'batch' (expected one of: argmax, batch_size)")
  end)
end)
