-- tide.autograd: every recorded op's gradient against central finite differences (f64,
-- relative 1e-6), broadcasting, views, reused values, nested tables of parameters, an MLP
-- trained with autograd against nn's hand-written backward, the module made from a forward
-- function against nn.Linear, every nn module applied twice in one graph, and every error
-- path.
local tide = require "tide"
local nn = require "tide.nn"
local ag = require "tide.autograd"

local H, TOL = 1e-6, 1e-6

local function num(v)
  if type(v) == "number" then return v end
  return v:item()
end

local function rand(shape, lo, hi)
  return tide.empty(shape, "f64"):uniform_(lo or -1, hi or 1)
end

-- Checks grads (as df returned them) against central differences of f, leaf by leaf.
local function check_leaf(f, p, g, args, argnum, path)
  assert(tide.is_tensor(g), path .. ": no gradient")
  assert.are.same(p:shape(), g:shape())
  local flat, gflat = p:view({ p:numel() }), g:contiguous():view({ g:numel() })
  local worst, scale = 0, 1
  for i = 1, p:numel() do
    local x0 = flat:get(i)
    flat:set_(i, x0 + H)
    local fp = num(f(table.unpack(args, 1, args.n)))
    flat:set_(i, x0 - H)
    local fm = num(f(table.unpack(args, 1, args.n)))
    flat:set_(i, x0)
    local fd = (fp - fm) / (2 * H)
    worst = math.max(worst, math.abs(fd - gflat:get(i)))
    scale = math.max(scale, math.abs(fd))
  end
  assert(worst <= TOL * scale, ("%s: autograd and finite differences differ by %g (scale %g)")
    :format(path, worst, scale))
end

local function check_tree(f, p, g, args, argnum, path)
  if tide.is_tensor(p) then return check_leaf(f, p, g, args, argnum, path) end
  for k, v in pairs(p) do check_tree(f, v, g[k], args, argnum, path .. "." .. tostring(k)) end
end

-- grad(f) at (...) against finite differences; returns the gradients and the value.
local function gradcheck(f, ...)
  local args = table.pack(...)
  local grads, value = ag.grad(f)(...)
  assert(math.abs(value - num(f(...))) <= 1e-12 * math.max(1, math.abs(value)))
  check_tree(f, args[1], grads, args, 1, "p")
  return grads, value
end

describe("tide.autograd gradients against finite differences", function()
  before_each(function() tide.manual_seed(7) end)

  it("arithmetic with broadcasting, scalars and operators", function()
    gradcheck(function(p)
      local a, b, c = p.a, p.b, p.c
      return ((a + b) * c - a / (c * c + 1) + 2 * a - b / 3 - 1 / (a * a + 2)):sum()
    end, { a = rand({ 3, 4 }), b = rand({ 4 }), c = rand({ 3, 1 }) })
    gradcheck(function(p)
      return p.a:add(p.b):mul(p.c):sub(p.a):div(p.c:abs() + 1):sum() + (-p.a):neg():sum()
    end, { a = rand({ 2, 3 }), b = rand({ 1, 3 }), c = rand({ 2, 1 }) })
  end)

  it("pow with number and tensor exponents, maximum and minimum", function()
    gradcheck(function(p)
      return (p.a:pow(3) + p.a ^ 2 + 2 ^ p.a + p.x:pow(p.e)):sum()
    end, { a = rand({ 5 }), x = rand({ 5 }, 0.5, 2), e = rand({ 5 }) })
    gradcheck(function(p)
      return (p.a:maximum(p.b) * 2 + p.a:minimum(p.b) + p.a:max(p.c)):sum()
    end, { a = rand({ 3, 4 }), b = rand({ 3, 4 }), c = rand({ 4 }) })
  end)

  it("exp, log, sqrt, abs, tanh, sigmoid, relu, clamp", function()
    gradcheck(function(p)
      local x, y = p.x, p.y
      return (x:exp() + y:log() + y:sqrt() + x:abs() + x:tanh() + x:sigmoid() + x:relu()
        + x:clamp(-0.5, 0.5) + x:clamp(nil, 0.2) + x:clamp(-0.3)):sum()
    end, { x = rand({ 4, 5 }), y = rand({ 4, 5 }, 0.5, 2) })
  end)

  it("reductions over everything and over one dim", function()
    local x = rand({ 3, 4 })
    local reds = {
      function(t) return t:sum() end,
      function(t) return t:sum(2):exp():sum() end,
      function(t) return (t:sum(1, { keepdim = true }) * t):sum() end,
      function(t) return t:mean() end,
      function(t) return t:mean(1):pow(2):sum() end,
      function(t) return t:max() + t:min() end,
      function(t) return (t:max(2) * 3):sum() + t:min(1, { keepdim = true }):sum() end,
      function(t) return t:norm() + t:norm(1) + t:norm(3) + t:norm(math.huge) end,
      function(t) return t:norm(2, 2):sum() + t:norm(1, 1, { keepdim = true }):sum() end,
      function(t) return t:var() + t:var({ unbiased = false }) + t:std() end,
      function(t) return t:var(2):sum() + t:std(1, { unbiased = false }):sum() end,
    }
    for _, r in ipairs(reds) do gradcheck(r, x) end
  end)

  it("matmul (1-D, 2-D, batched), mv, dot and addmm", function()
    gradcheck(function(p)
      return (p.a:matmul(p.b):tanh()):sum() + tide.matmul(p.v, p.b):sum()
        + tide.matmul(p.a, p.w):sum() + tide.matmul(p.v, p.u)
    end, { a = rand({ 2, 3 }), b = rand({ 3, 4 }), v = rand({ 3 }), w = rand({ 3 }),
      u = rand({ 3 }) })
    gradcheck(function(p)
      return tide.matmul(p.x, p.y):pow(2):sum()
    end, { x = rand({ 2, 3, 4 }), y = rand({ 2, 4, 2 }) })
    gradcheck(function(p)
      return p.m:mv(p.v):exp():sum() + p.v:dot(p.u) * 2
    end, { m = rand({ 4, 3 }), v = rand({ 3 }), u = rand({ 3 }) })
    gradcheck(function(p)
      return ag.addmm(p.c, p.a, p.b):sigmoid():sum()
        + ag.addmm(p.d, p.a, p.b, { beta = 0.5, alpha = -2 }):pow(2):sum()
    end, { c = rand({ 4 }), d = rand({ 2, 4 }), a = rand({ 2, 3 }), b = rand({ 3, 4 }) })
  end)

  it("softmax, log_softmax and cross-entropy", function()
    local y = tide.tensor({ 2, 1, 3 }, "i64")
    gradcheck(function(p)
      return (p.x:softmax() * p.w):sum() + (p.x:log_softmax() * p.w):sum()
    end, { x = rand({ 3, 4 }), w = rand({ 3, 4 }) })
    local w3, out = rand({ 3, 4 }), tide.empty({ 3, 4 }, "f64")
    gradcheck(function(x)                       -- 1-D, and the out argument the C method takes
      return (x:select(1, 2):log_softmax() * w3[1]):sum() + (x:softmax(out) * w3):sum()
    end, rand({ 3, 4 }))
    gradcheck(function(x) return ag.cross_entropy(x, y) end, rand({ 3, 4 }))
    gradcheck(function(x) return ag.cross_entropy(x * 2, y, { reduction = "sum" }) end,
      rand({ 3, 4 }))
    local crit = nn.CrossEntropyLoss()
    gradcheck(function(x) return crit:forward(x:tanh(), y) end, rand({ 3, 4 }))
  end)

  it("views and shapes", function()
    local idx = tide.tensor({ 3, 1, 3 }, "i64")
    local gidx = tide.tensor({ { 1, 2 }, { 3, 3 } }, "i64")
    gradcheck(function(x)
      local s = x:reshape({ 4, 3 }):t():sum(1):pow(2):sum()
      s = s + x:view({ 12 }):narrow(1, 3, 5):exp():sum()
      s = s + x:transpose(1, 2):select(1, 2):pow(2):sum()
      s = s + (x:permute({ 2, 1 }):contiguous():narrow(2, 2, 2) ^ 3):sum()
      s = s + (x:unsqueeze(1):expand({ 2, 3, 4 }) * x:sum(2, { keepdim = true })):sum()
      s = s + x:narrow(1, 1, 1):squeeze(1):clone():tanh():sum() + x:to("f64"):mean()
      s = s + x:index_select(1, idx):pow(2):sum() + x:index_select(2, idx):exp():sum()
      s = s + x:gather(2, gidx:narrow(1, 1, 2):contiguous()):pow(3):sum()
      s = s + (x[2] * x[-1]):sum()
      -- dims and sizes as separate arguments, as torch takes them
      s = s + (x:permute(2, 1):contiguous():narrow(1, 1, 2) ^ 2):sum()
      s = s + (x:unsqueeze(1):expand(2, 3, 4) ^ 3):sum()
      return s
    end, rand({ 3, 4 }))
  end)

  it("where and masked_fill", function()
    local x0 = rand({ 3, 4 })
    local mask = x0:gt(0)
    gradcheck(function(p)
      return (tide.where(mask, p.a, p.b) ^ 2):sum() + tide.where(mask, p.a, 0.5):exp():sum()
        + tide.where(mask, 2, p.c):sum() + p.a:masked_fill(mask, 3):pow(2):sum()
    end, { a = rand({ 3, 4 }), b = rand({ 4 }), c = rand({ 3, 1 }) })
  end)

  it("cat and stack, once the core has them", function()
    if not (tide.cat and tide.stack) then return end   -- tide.cat/stack land in another branch
    gradcheck(function(p)
      return (tide.cat({ p.a, p.b }, 1) ^ 2):sum() + (tide.stack({ p.a, p.a * 2 }, 2):exp()):sum()
    end, { a = rand({ 2, 3 }), b = rand({ 1, 3 }) })
  end)

  it("accumulates through reused values and overlapping views", function()
    local grads = gradcheck(function(x)
      local y = x * x
      local v1, v2 = x:narrow(1, 1, 3), x:narrow(1, 2, 3)    -- they share x[2], x[3]
      return (y + y * x):sum() + (v1 * v2):sum() + v1:sum() * 2
    end, rand({ 4 }))
    assert.are.same({ 4 }, grads:shape())
  end)

  it("takes 0-d parameters and reuses a full reduction's 0-d value (closed form)", function()
    -- f = s L^2 + s L with L = sum(x) = 10: df/ds = L^2 + L, df/dx = 2 s L + s
    local x = tide.tensor({ { 1, 2 }, { 3, 4 } }, "f64")
    local g, v = ag.grad(function(p)
      local l = p.x:sum()
      return (p.s * p.x * l):sum() + l * p.s
    end)({ s = tide.full({}, 1.5, "f64"), x = x })
    assert.are.equal(165, v)
    assert.are.equal(0, g.s:dim())
    assert.are.equal(110, g.s:item())
    assert.are.same({ { 31.5, 31.5 }, { 31.5, 31.5 } }, g.x:totable())
  end)

  it("differentiates f32 parameters as f64 does, to f32 precision", function()
    local x64, w64 = rand({ 4, 3 }), rand({ 3, 2 })
    local f = function(p) return (tide.matmul(p.x, p.w):tanh():exp()):mean() end
    local g64 = ag.grad(f)({ x = x64, w = w64 })
    local g32 = ag.grad(f)({ x = x64:to("f32"), w = w64:to("f32") })
    assert.are.equal("f32", g32.w:dtype())
    assert((g32.w:to("f64") - g64.w):abs():max() < 1e-5)
    assert((g32.x:to("f64") - g64.x):abs():max() < 1e-5)
  end)

  it("handles nested tables of parameters and keeps their shape", function()
    local params = { layers = { { W = rand({ 3, 2 }), b = rand({ 2 }) }, { W = rand({ 2, 1 }) } },
      scale = rand({ 1 }), name = "not a tensor", unused = rand({ 2 }) }
    local x = rand({ 4, 3 })
    local f = function(p)
      local h = (x:matmul(p.layers[1].W) + p.layers[1].b):tanh()
      return (h:matmul(p.layers[2].W) * p.scale):pow(2):mean()
    end
    local grads = ag.grad(f)(params)
    assert.is_nil(grads.name)
    assert.are.same({ 0, 0 }, grads.unused:totable())
    params.unused, params.name = nil, nil
    grads.unused = nil
    check_tree(f, params, grads, table.pack(params), 1, "p")
  end)

  it("differentiates the argument argnum names, and returns f's extra results", function()
    local x, w = rand({ 3 }), rand({ 3 })
    local f = function(a, b) return (a * b):sum(), "extra", 42 end
    local g, v, e1, e2 = ag.grad(f, { argnum = 2 })(x, w)
    assert.are.same(x:totable(), g:totable())
    assert.are.equal(x:dot(w), v)
    assert.are.equal("extra", e1)
    assert.are.equal(42, e2)
    local v2, g2 = ag.value_and_grad(f)(x, w)
    assert.are.equal(v, v2)
    assert.are.same(w:totable(), g2:totable())
  end)

  it("gives zeros when f does not depend on the parameters", function()
    local g, v = ag.grad(function(p) return 3.5 end)(rand({ 2 }))
    assert.are.equal(3.5, v)
    assert.are.same({ 0, 0 }, g:totable())
    local g2 = ag.grad(function(p, y) return y:sum() end)(rand({ 2 }), rand({ 3 }))
    assert.are.same({ 0, 0 }, g2:totable())
  end)

  it("returns gradients the caller owns", function()
    local a = rand({ 3 })
    local seed_like = rand({ 3 })
    local g = ag.grad(function(p) return (p.a + p.b):sum() end)({ a = a, b = seed_like })
    assert.are_not.equal(g.a, g.b)
    g.a:add_(1)
    assert.are.same({ 1, 1, 1 }, g.b:totable())
  end)

  it("no_grad leaves what it computes off the tape", function()
    local x = rand({ 3 })
    local g = ag.grad(function(p)
      local c = ag.no_grad(function() return p * 2 end)
      return (p * c):sum()
    end)(x)
    local want = (x * 2):totable()                          -- d/dp (p * const) = const = 2x
    for i = 1, 3 do assert.is_true(math.abs(want[i] - g:get(i)) < 1e-15) end
    assert.are.equal(5, ag.no_grad(function(a, b) return a + b end, 2, 3))
  end)

  it("leaves no hook installed outside a df call, even when f fails", function()
    local t = tide.zeros({ 1 })
    local mt, methods = getmetatable(t), tide._internal.methods
    local before = { mt.__add, mt.__mul, methods.sum, methods.exp, methods.add_, tide.matmul,
      tide.where, tide._internal.kernels.cross_entropy, mt.__index, mt.__newindex, methods.set }
    ag.grad(function(p) return (p * p):sum() end)(rand({ 2 }))
    pcall(ag.grad(function(p) error("boom") end), rand({ 2 }))
    local after = { mt.__add, mt.__mul, methods.sum, methods.exp, methods.add_, tide.matmul,
      tide.where, tide._internal.kernels.cross_entropy, mt.__index, mt.__newindex, methods.set }
    for i = 1, #before do assert.are.equal(before[i], after[i]) end
    assert.are.equal("number", type(rand({ 2 }):sum()))
  end)
end)

-- The MLP of nn (Linear, ReLU, Linear, CrossEntropyLoss) and the same function for autograd.
local function mlp_pair(dtype)
  tide.manual_seed(3)
  local model = nn.Sequential(nn.Linear(8, 16, { dtype = dtype }), nn.ReLU(),
    nn.Linear(16, 4, { dtype = dtype }))
  local l1, l2 = model.modules[1], model.modules[3]
  local params = { W1 = l1.weight:clone(), b1 = l1.bias:clone(), W2 = l2.weight:clone(),
    b2 = l2.bias:clone() }
  local function loss(p, x, y)
    local h = ag.addmm(p.b1, x, p.W1:t()):relu()
    return ag.cross_entropy(ag.addmm(p.b2, h, p.W2:t()), y)
  end
  return model, params, loss
end

describe("tide.autograd against nn", function()
  it("trains an MLP to the same parameters as nn's hand-written backward (20 steps)", function()
    local model, params, loss = mlp_pair("f64")
    local crit, df, lr = nn.CrossEntropyLoss(), ag.grad(loss), 0.1
    for step = 1, 20 do
      local x = tide.empty({ 32, 8 }, "f64"):uniform_(-2, 2)
      local y = tide.randint(1, 5, { 32 })
      local l_nn = crit:forward(model:forward(x), y)
      model:zero_grad()
      model:backward(x, crit:backward(model.output, y))
      local ps, gs = model:parameters()
      for i = 1, #ps do ps[i]:add_(gs[i] * -lr) end
      local grads, l_ag = df(params, x, y)
      for _, k in ipairs({ "W1", "b1", "W2", "b2" }) do params[k]:add_(grads[k] * -lr) end
      assert(math.abs(l_nn - l_ag) < 1e-9, ("step %d: loss %g vs %g"):format(step, l_nn, l_ag))
    end
    local ps = model:parameters()
    for i, k in ipairs({ "W1", "b1", "W2", "b2" }) do
      local diff = (ps[i] - params[k]):abs():max()
      assert(diff <= 1e-6, ("%s differs by %g after 20 steps"):format(k, diff))
    end
  end)

  it("makes an nn module from a forward function alone", function()
    tide.manual_seed(5)
    local lin = nn.Linear(5, 3, { dtype = "f64" })
    local m = ag.module{
      params = { W = lin.weight:clone(), b = lin.bias:clone() },
      forward = function(p, x) return ag.addmm(p.b, x, p.W:t()) end,
    }
    local x, go = rand({ 4, 5 }), rand({ 4, 3 })
    assert.are.same(lin:forward(x):totable(), m:forward(x):totable())
    lin:zero_grad()
    m:zero_grad()
    local gi_nn, gi_ag = lin:backward(x, go), m:backward(x, go)
    local function close(a, b) assert((a - b):abs():max() < 1e-12) end
    close(gi_nn, gi_ag)
    m:forward(x)
    m:backward(x, go)                                    -- gradients accumulate, as nn's do
    local ps, gs = m:parameters()
    assert.are.equal(2, #ps)
    close(lin.grad_weight * 2, gs[1])                    -- sorted names: W, then b
    close(lin.grad_bias * 2, gs[2])
    m:zero_grad()
    assert.are.equal(0, gs[1]:abs():max())
    assert.are.same({ "W", "b" }, (function()
      local s, names = m:state(), {}
      for k in pairs(s) do names[#names + 1] = k end
      table.sort(names)
      return names
    end)())
    -- inside a Sequential, beside a module with a hand-written backward
    local seq = nn.Sequential(m, nn.Tanh())
    seq:zero_grad()
    local y = seq:forward(x)
    local gx = seq:backward(x, go)
    local gy = go * (1 - y * y)
    close(gx, gy:matmul(m.W))
    m:evaluate()
    assert.are.same(lin:forward(x):totable(), m:forward(x):totable())
  end)
end)

-- nn's modules reuse their output buffers between calls; inside grad they must not, or a
-- module applied twice in one graph overwrites the value its first call left on the tape.
describe("tide.autograd through nn modules applied twice in one graph", function()
  -- f(p) = sum(m(x) * w) + sum(m(0.5 m(x) + 0.1)^2), x = p.x, m's parameters in p too; the
  -- first term is read before the second call, so f means the same outside grad.
  local function twice(m, x, extra)
    local p = extra or {}
    p.x = x
    local w = rand(m:forward(x):shape())
    return gradcheck(function(q)
      local y = m:forward(q.x)
      local first = (y * w):sum()
      local z = m:forward(y * 0.5 + 0.1)
      return first + (z * z):sum()
    end, p)
  end

  it("Linear, the activations, LogSoftMax, SoftMax, LayerNorm, Identity, Flatten, Sequential", function()
    tide.manual_seed(7)
    local lin = nn.Linear(4, 4, { dtype = "f64" })
    twice(lin, rand({ 3, 4 }), { w = lin.weight, b = lin.bias })
    twice(lin, rand({ 2, 3, 4 }), { w = lin.weight })            -- N-D input
    local nobias = nn.Linear(4, 4, { bias = false, dtype = "f64" })
    twice(nobias, rand({ 3, 4 }), { w = nobias.weight })
    for _, m in ipairs { nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.LogSoftMax(), nn.SoftMax(2),
      nn.GELU(), nn.LeakyReLU(0.1), nn.Identity(), nn.Flatten() } do
      twice(m, rand({ 3, 4 }))
    end
    local ln = nn.LayerNorm(4, { dtype = "f64" })
    twice(ln, rand({ 3, 4 }), { w = ln.weight, b = ln.bias })
    local seq = nn.Sequential(nn.Linear(4, 4, { dtype = "f64" }), nn.Tanh())
    twice(seq, rand({ 3, 4 }), { w = seq.modules[1].weight })
  end)

  it("BatchNorm (training), Conv2d and the pools", function()
    tide.manual_seed(8)
    local bn1 = nn.BatchNorm1d(4, { dtype = "f64" })
    twice(bn1, rand({ 5, 4 }), { w = bn1.weight, b = bn1.bias })
    local bn2 = nn.BatchNorm2d(2, { dtype = "f64" })
    twice(bn2, rand({ 2, 2, 3, 3 }), { w = bn2.weight })
    local conv = nn.Conv2d(2, 2, 3, { padding = 1, dtype = "f64" })
    twice(conv, rand({ 1, 2, 4, 4 }), { w = conv.weight, b = conv.bias })
    for _, m in ipairs { nn.MaxPool2d(1), nn.AvgPool2d(1), nn.AdaptiveAvgPool2d({ 3, 3 }) } do
      twice(m, rand({ 1, 2, 3, 3 }))
    end
  end)

  it("BatchNorm with sync says it cannot be differentiated", function()
    local bn = nn.BatchNorm1d(2, { dtype = "f64", sync = tide.world })
    local ok, err = pcall(ag.grad(function(p) return bn:forward(p):sum() end), rand({ 3, 2 }))
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("nn.BatchNorm1d: {sync = comm} is not differentiable by "
      .. "tide.autograd: use the module's own backward (or no sync)", 1, true), tostring(err))
  end)

  it("BatchNorm's running statistics still follow each call", function()
    local bn = nn.BatchNorm1d(2, { dtype = "f64", momentum = 0.5 })
    local x = tide.tensor({ { 1, 2 }, { 3, 6 } }, "f64")
    ag.grad(function(p) return bn:forward(bn:forward(p)):sum() end)(x)
    -- the first call's batch mean is {2, 4}, the second's 0: 0.5 * (0.5 * {2, 4}) + 0.5 * 0
    assert((bn.running_mean - tide.tensor({ 0.5, 1 }, "f64")):abs():max() < 1e-15)
  end)

  it("Dropout: each call's own mask", function()
    local d = nn.Dropout(0.5, { seed = 3 })
    local x, w1, w2 = rand({ 4, 6 }), rand({ 4, 6 }), rand({ 4, 6 })
    local m1, m2
    local g = ag.grad(function(p)
      local a = (d:forward(p) * w1):sum()
      m1 = d.mask
      local b = (d:forward(p) * w2):sum()
      m2 = d.mask
      return a + b
    end)(x)
    assert.are_not.same(m1:totable(), m2:totable())
    assert((g - (m1 * w1 + m2 * w2)):abs():max() < 1e-15)
  end)

  it("the criteria, and Embedding", function()
    local y = tide.tensor({ 2, 1, 3 }, "i64")
    local ce, mse, nll = nn.CrossEntropyLoss(), nn.MSELoss(), nn.NLLLoss()
    local t = rand({ 3, 4 })
    gradcheck(function(x) return ce:forward(x, y) + ce:forward(x * x, y) * 2 end, rand({ 3, 4 }))
    gradcheck(function(x) return mse:forward(x, t) + mse:forward(x * x, t) * 2 end, rand({ 3, 4 }))
    gradcheck(function(x)
      return nll:forward(x:log_softmax(2), y) + nll:forward(x, y) * 2
    end, rand({ 3, 4 }))
    local emb = nn.Embedding(5, 3, { dtype = "f64" })
    local i1, i2 = tide.tensor({ 1, 4, 4 }, "i64"), tide.tensor({ { 2, 4 } }, "i64")
    gradcheck(function(w)
      local a = (emb:forward(i1) * 1.5):sum()
      return a + (emb:forward(i2) ^ 2):sum()
    end, emb.weight)
  end)
end)

describe("tide.autograd errors", function()
  local function fails(pattern, fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok)
    assert(tostring(err):find(pattern, 1, true), "unexpected message: " .. tostring(err))
    return err
  end

  it("names what was expected and what came", function()
    fails("tide.autograd.grad: expected a function, got number", ag.grad, 3)
    fails("tide.autograd.grad: unknown option 'argnm' (expected one of: argnum)", ag.grad,
      print, { argnm = 2 })
    fails("tide.autograd.value_and_grad: argnum must be an integer of at least 1, got 0",
      ag.value_and_grad, print, { argnum = 0 })
    local df = ag.grad(function(p) return p:sum() end)
    fails("tide.autograd.grad: argnum is 1 but df got 0 arguments", df)
    fails("tide.autograd.grad: argument 1 (the parameters) must be a tensor or a table of "
      .. "tensors, got string", df, "x")
    fails("tide.autograd.grad: parameter p.k must be an f32 or f64 tensor, got i64", df,
      { k = tide.zeros({ 2 }, "i64") })
    fails("tide.autograd.grad: f must return a scalar (a 0-d or 1-element tensor), got a 2x3 "
      .. "tensor", ag.grad(function(p) return p * 2 end), rand({ 2, 3 }))
    fails("tide.autograd.grad: f must return a scalar tensor or a number, got string",
      ag.grad(function(p) return "loss" end), rand({ 2 }))
    fails("would change a tensor that grad is differentiating, or take one (in-place methods "
      .. "are not recorded), use t:add(), which returns a new tensor",
      ag.grad(function(p) return p:add_(1):sum() end), rand({ 2 }))
    local err = fails("tide.autograd: t:copy_() would change a tensor that grad is "
      .. "differentiating, or take one (in-place methods are not recorded)", ag.grad(function(p)
      return tide.zeros({ 2 }, "f64"):copy_(p):sum()
    end), rand({ 2 }))
    assert.is_nil(err:find("use t:copy()", 1, true))          -- there is no t:copy()
    fails("tide.autograd: t:__newindex (t[i] = v)() would change", ag.grad(function(p)
      p[1] = 3
      return p:sum()
    end), rand({ 2 }))
    fails("tide.autograd: grad called inside a differentiated function", ag.grad(function(p)
      return ag.grad(function(q) return q:sum() end)(p)
    end), rand({ 2 }))
    fails("tide.autograd.no_grad: expected a function, got nil", ag.no_grad)
    fails("tide.autograd.addmm: expected 2-D a and b, got 3 and 3x2", ag.addmm,
      rand({ 2 }), rand({ 3 }), rand({ 3, 2 }))
    fails("tide.autograd.addmm: expected three tensors, got number, userdata, userdata", ag.addmm,
      1, rand({ 2, 2 }), rand({ 2, 2 }))
  end)

  it("checks the module's specification and its backward's arguments", function()
    fails("tide.autograd.module: expected a table {forward = fn, params = ...}, got nil",
      ag.module)
    fails("tide.autograd.module: forward must be a function, got nil", ag.module,
      { params = {} })
    fails("tide.autograd.module: unknown option 'fwd'", ag.module, { fwd = print })
    fails("tide.autograd.module: parameter w must be an f32 or f64 tensor, got i32", ag.module,
      { forward = print, params = { w = tide.zeros({ 1 }, "i32") } })
    fails("tide.autograd.module: params must be a tensor or a table of tensors, got string at w",
      ag.module, { forward = print, params = { w = "x" } })
    fails("tide.autograd.module: parameter name 'forward' clashes", ag.module,
      { forward = print, params = { forward = rand({ 1 }) } })
    local m = ag.module{ params = { w = rand({ 3 }) }, forward = function(p, x) return p.w * x end }
    local x = rand({ 3 })
    fails("tide.autograd.module.backward: call forward (in training mode) with this input first",
      m.backward, m, x, rand({ 3 }))
    m:forward(x)
    fails("tide.autograd.module.backward: expected grad_out shaped like the output (3), got 2",
      m.backward, m, x, rand({ 2 }))
  end)
end)
