-- Issue 17, acceptance 3: the CNN of examples/train_mnist.lua --model cnn (conv, ReLU, max
-- pooling, conv, ReLU, max pooling, Linear, ReLU, Linear), trained data-parallel with the same
-- global batch at 1, 2 and 4 ranks, ends with the parameters of one process training on the
-- whole batch (1e-5 after 20 steps of SGD with momentum). Every rank computes that reference
-- itself, with no communication. The images are small random ones so the spec stays fast.
local tide = require "tide"
local nn, optim, ddp = tide.nn, tide.optim, tide.ddp

local world = tide.world
local N, rank = world.size, world.rank
local B, STEPS, SIDE = 16, 20, 14

-- The example's layer sequence at a smaller width: 14x14 -> 12 -> 6 -> 4 -> 2, 8 channels.
local function build()
  return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3),
    nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10))
end

-- The data, the same on every rank: uniform images, labels 1..10.
tide.manual_seed(5, { same_on_all_ranks = true })
local X = tide.empty({ B * STEPS, 1, SIDE, SIDE }):uniform_(0, 1)
local Y = tide.randint(1, 11, { B * STEPS }, { dtype = "i64" })

local function train(model, lo, n)
  local crit, opt = nn.CrossEntropyLoss(), optim.SGD(model, { lr = 0.05, momentum = 0.9 })
  for k = 1, STEPS do
    local x, y = X:narrow(1, (k - 1) * B + lo, n), Y:narrow(1, (k - 1) * B + lo, n)
    model:zero_grad()
    local out = model:forward(x)
    crit:forward(out, y)
    model:backward(x, crit:backward(out, y), { input_grad = false })
    opt:step()
  end
  return model:parameters()
end

describe("the CNN under ddp at " .. N .. " rank(s)", function()
  it("ends with one process's parameters on the whole batch (1e-5 after 20 steps)", function()
    tide.manual_seed(1, { same_on_all_ranks = true })
    local want = train(build(), 1, B)
    -- each rank draws its own initial weights; ddp.wrap broadcasts rank 0's (the reference's)
    tide.manual_seed(1)
    local got = train(ddp.wrap(build(), world), rank * (B // N) + 1, B // N)
    assert.are.equal(#want, #got)
    local worst = 0
    for i = 1, #want do
      assert.are.same(want[i]:shape(), got[i]:shape())
      worst = math.max(worst, (want[i] - got[i]):abs():max())
    end
    assert.is_true(worst < 1e-5, ("largest parameter difference %g"):format(worst))
    -- and the run did move them: the check is not between two untouched initialisations
    tide.manual_seed(1, { same_on_all_ranks = true })
    local init = build():parameters()
    assert.is_true((init[1] - want[1]):abs():max() > 1e-3)
  end)
end)
