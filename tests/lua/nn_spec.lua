-- tide.nn: every module's backward against central finite differences in f64, the layers'
-- forward against plain matrix arithmetic, state, printing, and the errors a user can hit.
local tide = require "tide"
local nn = require "tide.nn"

-- Flat Lua list of a tensor's values.
local function values(t)
  local flat = {}
  local function walk(v)
    if type(v) == "table" then
      for _, e in ipairs(v) do walk(e) end
    else
      flat[#flat + 1] = v
    end
  end
  walk(t:totable())
  return flat
end

-- ||a - b|| / max(||a||, ||b||): the relative error of two gradients.
local function rel_error(a, b)
  assert.are.equal(#a, #b)
  local d, na, nb = 0, 0, 0
  for i = 1, #a do
    d = d + (a[i] - b[i]) ^ 2
    na, nb = na + a[i] ^ 2, nb + b[i] ^ 2
  end
  local scale = math.max(math.sqrt(na), math.sqrt(nb))
  if scale == 0 then return 0 end
  return math.sqrt(d) / scale
end

-- d loss / d t by central differences, loss() reading t's current values.
local function numeric_grad(loss, t, eps)
  eps = eps or 1e-6
  local flat = t:view({ t:numel() })
  local g = {}
  for i = 1, t:numel() do
    local v = flat[i]
    flat[i] = v + eps
    local lp = loss()
    flat[i] = v - eps
    local lm = loss()
    flat[i] = v
    g[i] = (lp - lm) / (2 * eps)
  end
  return g
end

local function randn(shape, seed)
  return tide.randn(shape, { seed = seed, dtype = "f64" })
end

-- sum(out .* r): a scalar loss whose gradient with respect to out is r.
local function project(out, r)
  return out:reshape({ out:numel() }):dot(r:reshape({ r:numel() }))
end

-- Checks input and parameter gradients of module m on input x.
local function check_module(m, x, opts)
  opts = opts or {}
  local out = m:forward(x)
  local r = randn(out:shape(), 99)
  local function loss()
    if opts.before then opts.before() end
    return project(m:forward(x), r)
  end
  if opts.before then opts.before() end
  m:forward(x)
  m:zero_grad()
  local gi = m:backward(x, r):clone()
  local _, grads = m:parameters()
  local analytic = {}
  for i, g in ipairs(grads) do analytic[i] = values(g) end
  local err = rel_error(values(gi), numeric_grad(loss, x))
  assert(err < 1e-6, ("%s: input gradient relative error %g"):format(tostring(m), err))
  local params = m:parameters()
  for i, p in ipairs(params) do
    local e = rel_error(analytic[i], numeric_grad(loss, p))
    assert(e < 1e-6, ("%s: gradient of parameter %d, relative error %g"):format(tostring(m), i, e))
  end
end

-- x with no entry within margin of zero (so relu's kink is not crossed by the differences).
local function away_from_zero(shape, seed, margin)
  local x = randn(shape, seed)
  local flat = x:view({ x:numel() })
  for i = 1, x:numel() do
    local v = flat[i]
    if math.abs(v) < margin then flat[i] = v < 0 and v - margin or v + margin end
  end
  return x
end

describe("finite differences (f64, relative error < 1e-6)", function()
  it("Linear, with and without bias", function()
    tide.manual_seed(1)
    check_module(nn.Linear(5, 3, { dtype = "f64" }), randn({ 4, 5 }, 2))
    check_module(nn.Linear(5, 3, { dtype = "f64", bias = false }), randn({ 4, 5 }, 3))
  end)

  it("ReLU, Tanh, Sigmoid", function()
    check_module(nn.ReLU(), away_from_zero({ 3, 7 }, 4, 1e-3))
    check_module(nn.Tanh(), randn({ 3, 7 }, 5))
    check_module(nn.Sigmoid(), randn({ 3, 7 }, 6))
  end)

  it("Dropout (the same mask for every evaluation)", function()
    local d = nn.Dropout(0.3)
    local s0 = d:state()    -- its generator's position: every evaluation draws the same mask
    check_module(d, randn({ 6, 5 }, 7), { before = function() d:load_state(s0) end })
    d:evaluate()
    check_module(d, randn({ 6, 5 }, 7))
  end)

  it("LogSoftMax", function()
    check_module(nn.LogSoftMax(), randn({ 4, 6 }, 8))
  end)

  it("Sequential, every parameter", function()
    tide.manual_seed(2)
    local m = nn.Sequential(nn.Linear(6, 5, { dtype = "f64" }), nn.Tanh(),
      nn.Linear(5, 4, { dtype = "f64" }), nn.Sigmoid(), nn.Linear(4, 3, { dtype = "f64" }),
      nn.LogSoftMax())
    check_module(m, randn({ 3, 6 }, 9))
  end)

  it("CrossEntropyLoss, mean and sum", function()
    local x = randn({ 5, 4 }, 10)
    local y = tide.tensor({ 1, 4, 2, 2, 3 }, "i64")
    for _, red in ipairs { "mean", "sum" } do
      local c = nn.CrossEntropyLoss { reduction = red }
      c:forward(x, y)
      local g = values(c:backward(x, y))
      local err = rel_error(g, numeric_grad(function() return c:forward(x, y) end, x))
      assert(err < 1e-6, red .. ": relative error " .. err)
    end
  end)

  it("NLLLoss after LogSoftMax, mean and sum, equals CrossEntropyLoss", function()
    local x = randn({ 5, 4 }, 14)
    local y = tide.tensor({ 2, 4, 1, 1, 3 }, "i32")
    for _, red in ipairs { "mean", "sum" } do
      local lsm, c = nn.LogSoftMax(), nn.NLLLoss { reduction = red }
      local function loss() return c:forward(lsm:forward(x), y) end
      local l = loss()
      assert.is_true(math.abs(l - nn.CrossEntropyLoss { reduction = red }:forward(x, y)) < 1e-12)
      local g = values(lsm:backward(x, c:backward(lsm.output, y)))
      local err = rel_error(g, numeric_grad(loss, x))
      assert(err < 1e-6, red .. ": relative error " .. err)
    end
  end)

  it("MSELoss, mean and sum", function()
    local x, t = randn({ 3, 4 }, 12), randn({ 3, 4 }, 13)
    for _, red in ipairs { "mean", "sum" } do
      local c = nn.MSELoss { reduction = red }
      c:forward(x, t)
      local g = values(c:backward(x, t))
      local err = rel_error(g, numeric_grad(function() return c:forward(x, t) end, x))
      assert(err < 1e-6, red .. ": relative error " .. err)
    end
  end)
end)

describe("forward values", function()
  it("Linear computes x W^T + b", function()
    tide.manual_seed(3)
    local m = nn.Linear(3, 2, { dtype = "f64" })
    local x = tide.tensor({ { 1, 2, 3 }, { -1, 0, 0.5 } }, "f64")
    local w, b = m.weight:totable(), m.bias:totable()
    local out = m:forward(x):totable()
    local xs = x:totable()
    for i = 1, 2 do
      for j = 1, 2 do
        local want = b[j]
        for k = 1, 3 do want = want + xs[i][k] * w[j][k] end
        assert.is_true(math.abs(out[i][j] - want) < 1e-12)
      end
    end
  end)

  it("Linear draws weights and bias from U(-1/sqrt(in), 1/sqrt(in)), reproducibly", function()
    tide.manual_seed(4)
    local a = nn.Linear(400, 50)
    tide.manual_seed(4)
    local b = nn.Linear(400, 50)
    assert.are.same(values(a.weight), values(b.weight))
    local bound = 1 / math.sqrt(400)
    local w = values(a.weight)
    local lo, hi, sum, sq = math.huge, -math.huge, 0, 0
    for _, v in ipairs(w) do
      lo, hi, sum, sq = math.min(lo, v), math.max(hi, v), sum + v, sq + v * v
    end
    assert.is_true(lo >= -bound and hi <= bound)
    assert.is_true(lo < -0.95 * bound and hi > 0.95 * bound)
    -- uniform on [-c, c]: mean 0, variance c^2/3
    assert.is_true(math.abs(sum / #w) < 0.02 * bound)
    assert.is_true(math.abs(sq / #w / (bound * bound / 3) - 1) < 0.05)
    for _, v in ipairs(values(a.bias)) do assert.is_true(math.abs(v) <= bound) end
  end)

  it("activations and log-softmax match their formulas", function()
    local x = tide.tensor({ { -2, -0.5, 0, 0.5, 3 } }, "f64")
    local xs = values(x)
    local r, t, s = values(nn.ReLU():forward(x)), values(nn.Tanh():forward(x)),
        values(nn.Sigmoid():forward(x))
    local lse = 0
    for _, v in ipairs(xs) do lse = lse + math.exp(v) end
    lse = math.log(lse)
    local l = values(nn.LogSoftMax():forward(x))
    for i, v in ipairs(xs) do
      assert.are.equal(math.max(v, 0), r[i])
      assert.is_true(math.abs(t[i] - ((math.exp(2 * v) - 1) / (math.exp(2 * v) + 1))) < 1e-12)
      assert.is_true(math.abs(s[i] - 1 / (1 + math.exp(-v))) < 1e-12)
      assert.is_true(math.abs(l[i] - (v - lse)) < 1e-12)
    end
  end)

  it("Dropout keeps about 1-p of the entries, scaled by 1/(1-p), and is off in evaluation", function()
    tide.manual_seed(5)
    local d = nn.Dropout(0.25)
    local x = tide.ones({ 200, 50 }, "f64")
    local kept, total = 0, 0
    for _, v in ipairs(values(d:forward(x))) do
      total = total + 1
      if v ~= 0 then
        kept = kept + 1
        assert.is_true(math.abs(v - 1 / 0.75) < 1e-12)
      end
    end
    assert.is_true(math.abs(kept / total - 0.75) < 0.02)
    d:evaluate()
    assert.are.same(values(x), values(d:forward(x)))
    assert.are.same(values(nn.Dropout(1):forward(x)), values(tide.zeros({ 200, 50 }, "f64")))
  end)

  it("CrossEntropyLoss is the mean negative log-likelihood of the labels", function()
    local x = tide.tensor({ { 1, 2, 3 }, { 0, 0, 0 } }, "f64")
    local y = tide.tensor({ 3, 1 }, "i64")
    local l1 = 3 - math.log(math.exp(1) + math.exp(2) + math.exp(3))
    local l2 = -math.log(3)
    assert.is_true(math.abs(nn.CrossEntropyLoss():forward(x, y) + (l1 + l2) / 2) < 1e-12)
    assert.is_true(math.abs(nn.CrossEntropyLoss { reduction = "sum" }:forward(x, y) + l1 + l2) < 1e-12)
    local mse = nn.MSELoss():forward(x, tide.zeros({ 2, 3 }, "f64"))
    assert.is_true(math.abs(mse - 14 / 6) < 1e-12)
  end)
end)

describe("modules", function()
  local function mlp()
    tide.manual_seed(6)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.1), nn.Linear(3, 2))
  end

  it("print their layers", function()
    assert.are.equal([[
nn.Sequential {
  (1): nn.Linear(4 -> 3)
  (2): nn.ReLU
  (3): nn.Dropout(0.1)
  (4): nn.Linear(3 -> 2)
}]], tostring(mlp()))
    assert.are.equal("nn.Linear(2 -> 5, without bias)", tostring(nn.Linear(2, 5, { bias = false })))
    assert.are.equal("nn.CrossEntropyLoss(mean)", tostring(nn.CrossEntropyLoss()))
  end)

  it("list parameters with their gradients, in order, and zero the gradients", function()
    local m = mlp()
    local ps, gs = m:parameters()
    assert.are.equal(4, #ps)
    assert.are.same({ 3, 4 }, ps[1]:shape())
    assert.are.same({ 3 }, ps[2]:shape())
    assert.are.same({ 2, 3 }, ps[3]:shape())
    assert.are.same({ 2 }, gs[4]:shape())
    assert.are.equal(3 * 4 + 3 + 2 * 3 + 2, m:num_parameters())
    local x = tide.randn({ 5, 4 }, { seed = 1 })
    m:forward(x)
    m:backward(x, tide.ones({ 5, 2 }))
    assert.are_not.same(values(tide.zeros({ 2 })), values(gs[4]))
    assert.are.same({ 5, 5 }, values(gs[4]))          -- bias gradient: the rows' sum
    m:zero_grad()
    local _, zeroed = m:parameters()
    for _, g in ipairs(zeroed) do
      for _, v in ipairs(values(g)) do assert.are.equal(0, v) end
    end
  end)

  it("start from zero in the backward after zero_grad (Linear overwrites, lazily)", function()
    local m = mlp()
    local x = tide.randn({ 5, 4 }, { seed = 1 })
    local go = tide.randn({ 5, 2 }, { seed = 2 })
    m:forward(x)
    m:backward(x, go)
    local _, gs = m:parameters()
    local once = {}
    for i, g in ipairs(gs) do once[i] = values(g) end
    m:backward(x, go)
    m:zero_grad()
    m:backward(x, go)
    for i, g in ipairs(gs) do assert.are.same(once[i], values(g)) end
  end)

  it("accumulate gradients over backward calls", function()
    local m = nn.Linear(3, 2)
    local x = tide.randn({ 4, 3 }, { seed = 2 })
    local go = tide.randn({ 4, 2 }, { seed = 3 })
    m:forward(x)
    m:backward(x, go)
    local once = values(m.grad_weight)
    m:backward(x, go)
    for i, v in ipairs(values(m.grad_weight)) do
      assert.is_true(math.abs(v - 2 * once[i]) < 1e-5)
    end
  end)

  it("skip the input gradient when asked", function()
    local m = mlp()
    local x = tide.randn({ 2, 4 }, { seed = 4 })
    m:forward(x)
    assert.is_nil(m:backward(x, tide.ones({ 2, 2 }), { input_grad = false }))
    assert.are.same({ 2, 4 }, m:backward(x, tide.ones({ 2, 2 })):shape())
  end)

  it("reuse their output buffers while the batch size stays", function()
    local m = nn.Linear(3, 2)
    local a = m:forward(tide.ones({ 4, 3 }))
    local b = m:forward(tide.zeros({ 4, 3 }))
    assert.are.equal(a, b)
    local c = m:forward(tide.zeros({ 5, 3 }))
    assert.are_not.equal(a, c)
    assert.are.same({ 5, 2 }, c:shape())
  end)

  it("switch Dropout with train() and evaluate()", function()
    local m = mlp()
    assert.is_true(m.modules[3].training)
    m:evaluate()
    assert.is_false(m.modules[3].training)
    m:train()
    assert.is_true(m.modules[3].training)
  end)

  it("save and load their state", function()
    local a, b = mlp(), nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.1), nn.Linear(3, 2))
    local s = a:state()
    assert.are.same({ "1.bias", "1.weight", "3.generator", "4.bias", "4.weight" }, (function()
      local k = {}
      for name in pairs(s) do k[#k + 1] = name end
      table.sort(k)
      return k
    end)())
    b:load_state(s)
    assert.are.same(values(a.modules[4].weight), values(b.modules[4].weight))
    s["1.weight"]:fill_(7)                           -- the state is a copy
    assert.are_not.equal(7, a.modules[1].weight[1][1])
    s["1.weight"] = tide.zeros({ 2, 2 })
    assert.has_error(function() b:load_state(s) end,
      "nn.Sequential.load_state: 1.weight expected f32[3x4], got f32[2x2]")
    s["1.weight"] = tide.zeros({ 3, 4 }, "f64")
    assert.has_error(function() b:load_state(s) end,
      "nn.Sequential.load_state: 1.weight expected f32[3x4], got f64[3x4]")
    s["1.weight"] = nil
    assert.has_error(function() b:load_state(s) end,
      "nn.Sequential.load_state: 1.weight expected f32[3x4], got nil")
    s["1.weight"] = tide.zeros({ 3, 4 })
    s.extra = tide.zeros({ 1 })
    assert.has_error(function() b:load_state(s) end,
      "nn.Sequential.load_state: unexpected entry 'extra'")
  end)

  it("convert to f64 in place with to_ (and with to, its deprecated name)", function()
    local m = mlp()
    local w = m.modules[1].weight:clone()
    assert.are.equal(m, m:to_("f64"))
    assert.are.equal("f64", m.modules[1].weight:dtype())
    assert.are.equal("f64", m:forward(tide.zeros({ 1, 4 }, "f64")):dtype())
    -- the same values, converted: f32 -> f64 is exact
    assert.are.same(w:to("f64"):totable(), m.modules[1].weight:totable())
    local old = mlp()
    assert.are.equal(old, old:to("f64"))
    assert.are.equal("f64", old.modules[4].bias:dtype())
    assert.has_error(function() m:to_("i32") end,
      'nn.Sequential.to_: expected "f32" or "f64", got i32')
  end)
end)

describe("bad input", function()
  it("names a wrong input width, rank or dtype", function()
    local m = nn.Linear(784, 10)
    assert.has_error(function() m:forward(tide.zeros({ 2, 100 })) end,
      "nn.Linear: expected input of width 784, got 100")
    assert.has_error(function() m:forward(tide.zeros({ 784 })) end,
      "nn.Linear: expected a 2-D input (batch x features), got 784")
    assert.has_error(function() m:forward(tide.zeros({ 2, 784 }, "f64")) end,
      "nn.Linear: expected f32 input (the module's dtype), got f64")
    assert.has_error(function() m:forward("x") end, "nn.Linear: expected a tensor as input, got string")
    local seq = nn.Sequential(nn.Linear(784, 10), nn.ReLU())
    assert.has_error(function() seq:forward(tide.zeros({ 2, 100 })) end,
      "nn.Linear: expected input of width 784, got 100")
    assert.has_error(function() m:backward(tide.zeros({ 2, 784 }), tide.zeros({ 2, 3 })) end,
      "nn.Linear.backward: expected grad_out of shape 2x10, got 2x3")
  end)

  it("names a label outside the class range", function()
    local c = nn.CrossEntropyLoss()
    local x = tide.zeros({ 3, 10 })
    assert.has_error(function() c:forward(x, tide.tensor({ 1, 11, 2 }, "i64")) end,
      "nn.CrossEntropyLoss: label 11 of row 2 is outside the class range 1..10")
    assert.has_error(function() c:forward(x, tide.tensor({ 0, 1, 2 }, "i64")) end,
      "nn.CrossEntropyLoss: label 0 of row 1 is outside the class range 1..10")
    assert.has_error(function() c:forward(x, tide.tensor({ 1, 2 }, "i64")) end,
      "nn.CrossEntropyLoss: expected 3 labels (one per row), got a 2 tensor")
    assert.has_error(function() nn.NLLLoss():forward(x, tide.tensor({ 1, 11, 2 }, "i64")) end,
      "nn.NLLLoss: label 11 is outside the class range 1..10")
    assert.has_error(function() nn.ClassNLLCriterion():forward(x, tide.tensor({ 0, 1, 2 }, "i64")) end,
      "nn.NLLLoss: label 0 is outside the class range 1..10")
    assert.has_error(function() nn.NLLLoss():forward(x, tide.tensor({ 1, 2 }, "i64")) end,
      "nn.NLLLoss: expected 3 labels (one per row), got a 2 tensor")
    assert.has_error(function() nn.MSELoss():forward(x, tide.zeros({ 3, 9 })) end,
      "nn.MSELoss: input has shape 3x10 but target has shape 3x9")
  end)

  it("refuses bad options and arguments", function()
    assert.has_error(function() nn.Linear(3, 2, { bais = false }) end,
      "nn.Linear: unknown option 'bais' (expected one of: bias, dtype)")
    assert.has_error(function() nn.Linear(3.5, 2) end, "nn.Linear: in must be a positive integer, got 3.5")
    assert.has_error(function() nn.Linear(3, 0) end, "nn.Linear: out must be a positive integer, got 0")
    assert.has_error(function() nn.Dropout(1.5) end, "nn.Dropout: p must be a number in [0, 1], got 1.5")
    -- NaN passed `p < 0 or p > 1` and made every mask NaN
    assert.has_error(function() nn.Dropout(0 / 0) end, "nn.Dropout: p must be a number in [0, 1], got NaN")
    assert.has_error(function() nn.MSELoss { reduction = "none" } end,
      'nn.MSELoss: reduction must be "mean" or "sum", got none')
    assert.has_error(function() nn.NLLLoss { reductoin = "sum" } end,
      "nn.NLLLoss: unknown option 'reductoin' (expected one of: reduction)")
    assert.are.equal("nn.NLLLoss(sum)", tostring(nn.NLLLoss { reduction = "sum" }))
    assert.has_error(function() nn.CrossEntropyLoss { reduction = "max" } end,
      'nn.CrossEntropyLoss: reduction must be "mean" or "sum", got max')
    assert.has_error(function() nn.Sequential(nn.ReLU(), 5) end,
      "nn.Sequential: module 2 is not a module (got number)")
    local m = nn.Linear(3, 2)
    local x = tide.zeros({ 1, 3 })
    m:forward(x)
    assert.has_error(function() m:backward(x, tide.zeros({ 1, 2 }), { inputgrad = false }) end,
      "nn.Linear.backward: unknown option 'inputgrad' (expected one of: input_grad)")
    local s = nn.Sequential(nn.Linear(3, 2))
    assert.has_error(function() s:backward(x, tide.zeros({ 1, 2 })) end,
      "nn.Sequential.backward: call forward with this input first")
  end)
end)
