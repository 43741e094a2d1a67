-- tide.compress: magnitude pruning against a sort of the weights done here, masks that hold
-- through fine-tuning, acceptance 5 on Fashion-MNIST (CI-sized), and bad input.
local tide = require "tide"
local nn, optim, data, compress = tide.nn, tide.optim, tide.data, tide.compress
local train_step = require("support.train").step

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
      for _ = 1, 20 do train_step(model, crit, opt, x, y) end
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

-- True (after marking the test pending) when Fashion-MNIST or the plain build is missing.
local function without_mnist()
  local f = io.open(data.FASHION_MNIST_PATH .. "/train-images-idx3-ubyte.gz", "rb")
  if f then f:close() end
  if f ~= nil and not os.getenv("TIDE_SANITIZED") then return false end
  pending("needs dataset-fashion-mnist and the plain build")
  return true
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
      for x, y in loader:batches() do train_step(model, crit, opt, x, y) end
    end
  end
  epochs(3)
  trained = { model = model, test = test, fine_tune = epochs }
  return trained
end

describe("compress.quantize", function()
  it("gives the f32 outputs within the int8 rounding bound, alike on every kernel path", function()
    tide.manual_seed(6)
    local model = nn.Sequential { nn.Linear(70, 33), nn.ReLU(), nn.Linear(33, 5) }
    local x = tide.randn({ 19, 70 })
    local ref = model:forward(x):clone()
    local first
    for _, path in ipairs((compress.paths())) do
      local q = compress.quantize(model, { path = path })
      local out = q:forward(x):clone()
      first = first or out
      assert.are.equal(0, (out - first):abs():max())       -- exact int32 sums on every path
    end
    -- layer 1 by hand: |x.w - x'.w'| <= sum_k |x_k| dw + |w'_k| dx, half a step each
    local q = compress.quantize(model)
    local lin, ql = model.modules[1], q.modules[1]
    local h = q.modules[1]:forward(x)
    local want = x:matmul(lin.weight:t()) + lin.bias
    local xstep = x:abs():max(2):view({ 19, 1 }) / 127 / 2
    local wstep = ql.scale:view({ 1, 33 }) / 2
    local bound = x:abs():matmul(tide.ones({ 70, 33 })) * wstep +
      xstep * lin.weight:abs():sum(2):view({ 1, 33 }) + wstep * xstep * 70
    assert.is_true(((h - want):abs() - bound * 1.01):max() <= 1e-5)
    assert.is_true((q:forward(x) - ref):abs():max() < 0.05 * ref:abs():max())
  end)

  it("refuses gradients, and names bad input", function()
    local model = mlp()
    local q = compress.quantize(model)
    local x = tide.randn({ 4, 12 })
    q:forward(x)
    assert.has_error(function() q:backward(x, tide.ones({ 4, 3 })) end,
      "compress.QuantizedLinear: a quantized model is for inference and has no gradients " ..
      "(train the f32 model, then quantize it again)")
    assert.are.equal(0, #q:parameters())
    assert.has_error(function() q:forward(tide.randn({ 4, 12 }, "f64")) end,
      "compress.QuantizedLinear: expected a batch x 12 f32 input, got f64[4x12]")
    assert.has_error(function() compress.quantize(model, { path = "sse" }) end)
    assert.has_error(function() compress.quantize(nn.Sequential { nn.ReLU() }) end,
      "compress.quantize: expected a model with nn.Linear layers, got nn.Sequential")
  end)
end)

describe("acceptance 5 (CI-sized: 20000 training images)", function()
  it("int8 inference stays within 0.5 points of f32", function()
    if without_mnist() then return end
    local t = trained_mlp()
    local f32 = tide.metrics.accuracy(t.model, t.test)
    local int8 = tide.metrics.accuracy(compress.quantize(t.model), t.test)
    print(("\n  f32 %.2f%%, int8 %.2f%%"):format(100 * f32, 100 * int8))
    assert.is_true(math.abs(int8 - f32) <= 0.005, ("%.4f vs %.4f"):format(f32, int8))
  end)

  it("pruning 80% then fine-tuning one epoch keeps the accuracy within 1 point", function()
    if without_mnist() then return end
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
