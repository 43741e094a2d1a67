-- tide.compress: magnitude pruning against a sort of the weights done here, masks that hold
-- through fine-tuning, acceptance 5 on Fashion-MNIST (CI-sized), and bad input.
local tide = require "tide"
local nn, optim, data, compress = tide.nn, tide.optim, tide.data, tide.compress

local function mlp(seed)
  tide.manual_seed(seed or 1)
  return nn.Sequential { nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 6), nn.ReLU(),
    nn.Linear(6, 3) }
end

local function linears(model)
  return { model.modules[1], model.modules[3], model.modules[5] }
end

-- Magnitudes of the entries of w where mask is v (0 or 1), as a Lua list.
local function magnitudes(w, mask, v)
  local out, wf, mf = {}, w:reshape({ -1 }), mask:reshape({ -1 })
  for i = 1, wf:size(1) do
    if mf:get(i) == v then out[#out + 1] = math.abs(wf:get(i)) end
  end
  return out
end

local function max_of(xs) local m = -math.huge for _, x in ipairs(xs) do m = math.max(m, x) end return m end
local function min_of(xs) local m = math.huge for _, x in ipairs(xs) do m = math.min(m, x) end return m end

describe("compress.prune", function()
  it("per layer, zeroes the amount of each layer's smallest weights", function()
    local model = mlp()
    local before = {}
    for i, m in ipairs(linears(model)) do before[i] = m.weight:clone() end
    compress.prune(model, { amount = 0.7 })
    for i, m in ipairs(linears(model)) do
      local n = m.weight:numel()
      assert.are.equal(math.floor(0.7 * n + 0.5), m.prune_mask:eq(0):sum())
      assert.is_true(max_of(magnitudes(before[i], m.prune_mask, 0)) <=
        min_of(magnitudes(before[i], m.prune_mask, 1)))
      assert.are.same((before[i] * m.prune_mask):totable(), m.weight:totable())
    end
  end)

  it("globally, zeroes the smallest weights of all layers against one threshold", function()
    local model = mlp(2)
    local before, total = {}, 0
    for i, m in ipairs(linears(model)) do
      before[i] = m.weight:clone()
      total = total + m.weight:numel()
    end
    compress.prune(model, { amount = 0.8, global = true })
    local dropped, kept, zeros = {}, {}, 0
    for i, m in ipairs(linears(model)) do
      for _, v in ipairs(magnitudes(before[i], m.prune_mask, 0)) do dropped[#dropped + 1] = v end
      for _, v in ipairs(magnitudes(before[i], m.prune_mask, 1)) do kept[#kept + 1] = v end
      zeros = zeros + m.prune_mask:eq(0):sum()
    end
    assert.are.equal(math.floor(0.8 * total + 0.5), zeros)
    assert.is_true(max_of(dropped) <= min_of(kept))
    assert.is_true(math.abs(compress.sparsity(model) - zeros / total) < 1e-12)
  end)

  it("structured, zeroes the output rows of smallest L2 norm with their biases", function()
    local model = mlp(3)
    local w = model.modules[1].weight:clone()
    compress.prune(model, { amount = 0.4, structured = true })
    local m = model.modules[1]
    local norms, zero_rows = {}, {}
    for r = 1, 10 do
      norms[r] = w[r]:norm()
      if m.weight[r]:abs():sum() == 0 then zero_rows[#zero_rows + 1] = r end
    end
    assert.are.equal(4, #zero_rows)
    local sorted = { table.unpack(norms) }
    table.sort(sorted)
    for _, r in ipairs(zero_rows) do
      assert.is_true(norms[r] <= sorted[4])
      assert.are.equal(0, m.bias:get(r))
    end
  end)

  it("keeps pruned weights at zero through fine-tuning (SGD, momentum, weight decay; Adam)", function()
    for _, make in ipairs { function(m) return optim.SGD(m, { lr = 0.1, momentum = 0.9,
      weight_decay = 1e-3 }) end, function(m) return optim.Adam(m, { lr = 0.01 }) end } do
      local model = mlp(4)
      compress.prune(model, { amount = 0.6, global = true })
      local masks, start = {}, {}
      for i, m in ipairs(linears(model)) do
        masks[i], start[i] = m.prune_mask:clone(), m.weight:clone()
      end
      local opt, crit = make(model), nn.CrossEntropyLoss()
      local x, y = tide.randn({ 32, 12 }), tide.randint(1, 4, { 32 })
      for _ = 1, 20 do
        model:zero_grad()
        local out = model:forward(x)
        crit:forward(out, y)
        model:backward(x, crit:backward(out, y))
        opt:step()
      end
      for i, m in ipairs(linears(model)) do
        assert.are.equal(0, (m.weight * (1 - masks[i])):abs():sum())
        assert.is_true(((m.weight - start[i]) * masks[i]):abs():sum() > 0)  -- the rest learn
      end
    end
  end)

  it("names bad input", function()
    local model = mlp()
    assert.has_error(function() compress.prune(model, { amount = 1.5 }) end,
      "compress.prune: amount must be a number in [0, 1], got 1.5")
    assert.has_error(function() compress.prune(model, { amount = 0.5, structured = true,
      global = true }) end,
      "compress.prune: structured pruning is per layer; give structured or global, not both")
    assert.has_error(function() compress.prune(nn.Sequential { nn.ReLU() }) end,
      "compress.prune: expected a model with nn.Linear or nn.Conv2d layers, got nn.Sequential")
    assert.has_error(function() compress.prune(model, { ratio = 0.5 }) end,
      "compress.prune: unknown option 'ratio' (expected one of: amount, global, structured)")
  end)
end)

local function have_mnist()
  local f = io.open(data.FASHION_MNIST_PATH .. "/train-images-idx3-ubyte.gz", "rb")
  if f then f:close() end
  return f ~= nil and not os.getenv("TIDE_SANITIZED")
end

-- The main job's MLP trained on the first 20000 Fashion-MNIST images for 3 epochs (CI-sized).
local trained
local function trained_mlp()
  if trained then return trained end
  local train = data.fashion_mnist { split = "train" }
  train = { x = train.x:narrow(1, 1, 20000), y = train.y:narrow(1, 1, 20000), n = 20000 }
  local test = data.fashion_mnist { split = "test" }
  tide.manual_seed(1)
  local model = nn.Sequential { nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
    nn.Linear(128, 10) }
  local crit = nn.CrossEntropyLoss()
  local function epochs(n)
    local opt = optim.SGD(model, { lr = 0.1, momentum = 0.9 })
    local loader = data.DataLoader(train, { batch_size = 128, shuffle = true, seed = 1 })
    for e = 1, n do
      loader:set_epoch(e)
      for x, y in loader:batches() do
        model:zero_grad()
        local out = model:forward(x)
        crit:forward(out, y)
        model:backward(x, crit:backward(out, y))
        opt:step()
      end
    end
  end
  epochs(3)
  trained = { model = model, test = test, fine_tune = epochs }
  return trained
end

describe("acceptance 5 (CI-sized: 20000 training images)", function()
  it("pruning 80% then fine-tuning one epoch keeps the accuracy within 1 point", function()
    if not have_mnist() then
      pending("needs dataset-fashion-mnist and the plain build")
      return
    end
    local t = trained_mlp()
    local before = tide.metrics.accuracy(t.model, t.test)
    compress.prune(t.model, { amount = 0.8, global = true })
    local pruned = tide.metrics.accuracy(t.model, t.test)
    t.fine_tune(1)
    local after = tide.metrics.accuracy(t.model, t.test)
    assert.is_true(math.abs(compress.sparsity(t.model) - 0.8) < 1e-4)
    print(("\n  f32 %.2f%%, pruned 80%% %.2f%%, fine-tuned %.2f%%"):format(100 * before,
      100 * pruned, 100 * after))
    assert.is_true(after >= before - 0.01, ("%.4f then %.4f"):format(before, after))
  end)
end)
