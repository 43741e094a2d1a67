-- tide.optim: SGD and Adam against the update rules written out in plain Lua (torch.optim's
-- definitions), learning-rate schedules against their formulas, and the errors.
local tide = require "tide"
local nn = require "tide.nn"
local optim = require "tide.optim"

local function close_list(want, got, tol)
  assert.are.equal(#want, #got)
  for i = 1, #want do
    assert(math.abs(want[i] - got[i]) <= tol * math.max(1, math.abs(want[i])),
      ("entry %d: want %.17g, got %.17g"):format(i, want[i], got[i]))
  end
end

-- A parameter/gradient pair in f64 from Lua lists, wrapped as an optimizer's {params, grads}.
local function problem(p, g)
  local pt, gt = tide.tensor(p, "f64"), tide.tensor(g, "f64")
  return pt, gt, { { pt }, { gt } }
end

local P0 = { 1.0, -2.0, 0.5, 3.0 }
local GRADS = { { 0.1, -0.2, 0.3, 0 }, { -0.4, 0.1, 0.2, 1e-3 }, { 0.5, 0.5, -0.5, -0.25 } }

-- torch.optim.SGD, one parameter vector, as plain Lua.
local function sgd_reference(cfg)
  local p, buf = { table.unpack(P0) }, nil
  for _, g in ipairs(GRADS) do
    local d = {}
    for i = 1, #p do d[i] = g[i] + (cfg.weight_decay or 0) * p[i] end
    if (cfg.momentum or 0) ~= 0 then
      if buf == nil then
        buf = { table.unpack(d) }
      else
        for i = 1, #p do buf[i] = cfg.momentum * buf[i] + (1 - (cfg.dampening or 0)) * d[i] end
      end
      for i = 1, #p do
        d[i] = cfg.nesterov and d[i] + cfg.momentum * buf[i] or buf[i]
      end
    end
    for i = 1, #p do p[i] = p[i] - cfg.lr * d[i] end
  end
  return p
end

local function adam_reference(cfg)
  local p, m, v = { table.unpack(P0) }, { 0, 0, 0, 0 }, { 0, 0, 0, 0 }
  local b1, b2 = cfg.betas and cfg.betas[1] or 0.9, cfg.betas and cfg.betas[2] or 0.999
  local eps, wd, lr = cfg.eps or 1e-8, cfg.weight_decay or 0, cfg.lr or 1e-3
  for t, g0 in ipairs(GRADS) do
    for i = 1, #p do
      local g = g0[i]
      if cfg.decoupled then p[i] = p[i] * (1 - lr * wd) else g = g + wd * p[i] end
      m[i] = b1 * m[i] + (1 - b1) * g
      v[i] = b2 * v[i] + (1 - b2) * g * g
      local mhat, vhat = m[i] / (1 - b1 ^ t), v[i] / (1 - b2 ^ t)
      p[i] = p[i] - lr * mhat / (math.sqrt(vhat) + eps)
    end
  end
  return p
end

local function run(make, cfg)
  local p, g, pair = problem(P0, GRADS[1])
  local opt = make(pair, cfg)
  for _, grad in ipairs(GRADS) do
    g:copy_(tide.tensor(grad, "f64"))
    opt:step()
  end
  return p:totable(), opt
end

describe("SGD", function()
  it("follows torch.optim.SGD's rule", function()
    for _, cfg in ipairs {
      { lr = 0.1 },
      { lr = 0.1, momentum = 0.9 },
      { lr = 0.05, momentum = 0.9, weight_decay = 0.01 },
      { lr = 0.05, momentum = 0.8, dampening = 0.3 },
      { lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 1e-3 },
    } do
      close_list(sgd_reference(cfg), (run(optim.SGD, cfg)), 1e-12)
    end
  end)

  it("takes a new lr at the next step", function()
    local p, g, pair = problem({ 1 }, { 1 })
    local opt = optim.SGD(pair, { lr = 0.5 })
    opt:step()
    opt.lr = 0.25
    opt:step()
    close_list({ 1 - 0.5 - 0.25 }, p:totable(), 1e-15)
  end)

  it("saves and restores its momentum", function()
    local p, g, pair = problem(P0, GRADS[1])
    local opt = optim.SGD(pair, { lr = 0.1, momentum = 0.9 })
    opt:step()
    local s = opt:state()
    local saved_p = p:clone()
    opt:step()
    local after = p:totable()
    p:copy_(saved_p)
    local opt2 = optim.SGD(pair, { lr = 0.1, momentum = 0.9 }):load_state(s)
    opt2:step()
    close_list(after, p:totable(), 0)
  end)

  it("trains a model: the loss on a separable set falls", function()
    tide.manual_seed(1)
    local data = tide.data.synthetic_classification { n = 256, d = 8, classes = 3, seed = 4 }
    local model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    local crit = nn.CrossEntropyLoss()
    local opt = optim.SGD(model, { lr = 0.1, momentum = 0.9 })
    local first, last
    for step = 1, 30 do
      model:zero_grad()
      local out = model:forward(data.x)
      local loss = crit:forward(out, data.y)
      model:backward(data.x, crit:backward(out, data.y))
      opt:step()
      first = first or loss
      last = loss
    end
    assert.is_true(last < 0.3 * first, ("loss went from %g to %g"):format(first, last))
  end)

  it("refuses a bad learning rate and bad options", function()
    local _, _, pair = problem({ 1 }, { 1 })
    assert.has_error(function() optim.SGD(pair, { lr = "fast" }) end,
      "optim.SGD: lr must be a number >= 0, got string")
    assert.has_error(function() optim.SGD(pair, { lr = -1 }) end,
      "optim.SGD: lr must be a number >= 0, got -1")
    -- NaN passed every comparison-based check and turned every parameter into NaN
    assert.has_error(function() optim.SGD(pair, { lr = 0 / 0 }) end,
      "optim.SGD: lr must be a number >= 0, got NaN")
    assert.has_error(function() optim.SGD(pair, { lr = math.huge }) end,
      "optim.SGD: lr must be a number >= 0, got inf")
    assert.has_error(function() optim.SGD(pair, { lr = 0.1, momentum = 0 / 0 }) end,
      "optim.SGD: momentum must be a number >= 0, got NaN")
    assert.has_error(function() optim.SGD(pair, { lr = 0.1, weight_decay = -0.5 }) end,
      "optim.SGD: weight_decay must be a number >= 0, got -0.5")
    assert.has_error(function() optim.SGD(pair, { lr = 0.1, nesterov = 1 }) end,
      "optim.SGD: nesterov must be a boolean, got number")
    assert.has_error(function() optim.SGD(pair, {}) end, "optim.SGD: lr is required")
    assert.has_error(function() optim.SGD(pair, { lr = 0.1, momentun = 0.9 }) end,
      "optim.SGD: unknown option 'momentun' (expected one of: dampening, lr, momentum, nesterov, weight_decay)")
    assert.has_error(function() optim.SGD(pair, { lr = 0.1, nesterov = true }) end,
      "optim.SGD: nesterov needs momentum > 0 and dampening 0")
    assert.has_error(function() optim.SGD(42, { lr = 0.1 }) end,
      "optim.SGD: expected a module (with :parameters()) or {params, grads}, got number")
    local opt = optim.SGD(pair, { lr = 0.1 })
    opt.lr = "slow"
    assert.has_error(function() opt:step() end, "optim.SGD: lr must be a number >= 0, got string")
    opt.lr = -0.1
    assert.has_error(function() opt:step() end, "optim.SGD: lr must be a number >= 0, got -0.1")
  end)
end)

describe("Adam", function()
  it("follows torch.optim.Adam's rule, and AdamW's with decoupled weight decay", function()
    for _, cfg in ipairs {
      { lr = 0.01 },
      { lr = 0.02, betas = { 0.8, 0.99 }, eps = 1e-6, weight_decay = 0.1 },
      { lr = 0.01, weight_decay = 0.05, decoupled = true },
    } do
      close_list(adam_reference(cfg), (run(optim.Adam, cfg)), 1e-12)
    end
  end)

  it("refuses bad options", function()
    local _, _, pair = problem({ 1 }, { 1 })
    assert.has_error(function() optim.Adam(pair, { lr = {} }) end,
      "optim.Adam: lr must be a number >= 0, got table")
    assert.has_error(function() optim.Adam(pair, { lr = -1e-3 }) end,
      "optim.Adam: lr must be a number >= 0, got -0.001")
    assert.has_error(function() optim.Adam(pair, { eps = 0 / 0 }) end,
      "optim.Adam: eps must be a number >= 0, got NaN")
    assert.has_error(function() optim.Adam(pair, { betas = { 0.9 } }) end,
      "optim.Adam: betas must be two numbers in [0, 1), as {0.9, 0.999}")
    assert.has_error(function() optim.Adam(pair, { betas = { 0 / 0, 0.999 } }) end,
      "optim.Adam: betas must be two numbers in [0, 1), as {0.9, 0.999}")
    assert.has_error(function() optim.Adam(pair, { decoupled = "yes" }) end,
      "optim.Adam: decoupled must be a boolean, got string")
    local opt = optim.Adam(pair, {})
    opt.lr = 0 / 0
    assert.has_error(function() opt:step() end, "optim.Adam: lr must be a number >= 0, got NaN")
  end)
end)

describe("schedules", function()
  it("StepLR multiplies by gamma every step_size epochs", function()
    local _, _, pair = problem({ 1 }, { 1 })
    local opt = optim.SGD(pair, { lr = 1 })
    local s = optim.StepLR(opt, { step_size = 2, gamma = 0.5 })
    local seen = {}
    for e = 1, 5 do seen[e] = s:step() end
    assert.are.same({ 1, 0.5, 0.5, 0.25, 0.25 }, seen)
    assert.are.equal(0.25, opt.lr)
  end)

  it("CosineAnnealingLR follows half a cosine to eta_min", function()
    local _, _, pair = problem({ 1 }, { 1 })
    local opt = optim.SGD(pair, { lr = 1 })
    local s = optim.CosineAnnealingLR(opt, { t_max = 4, eta_min = 0.1 })
    for e = 1, 6 do
      local want = 0.1 + 0.9 * (1 + math.cos(math.pi * math.min(e, 4) / 4)) / 2
      assert.is_true(math.abs(s:step() - want) < 1e-15)
    end
    assert.is_true(math.abs(opt.lr - 0.1) < 1e-15)
    assert.has_error(function() optim.CosineAnnealingLR(opt, { t_max = 0 }) end,
      "optim.CosineAnnealingLR: t_max must be an integer of at least 1, got 0")
    assert.has_error(function() optim.CosineAnnealingLR(opt, { t_max = 2, eta_min = -1 }) end,
      "optim.CosineAnnealingLR: eta_min must be a number >= 0, got -1")
    assert.has_error(function() optim.StepLR(opt, { step_size = 2, gamma = 0 / 0 }) end,
      "optim.StepLR: gamma must be a number >= 0, got NaN")
    assert.has_error(function() optim.StepLR(opt, { gamma = 0.5 }) end,
      "optim.StepLR: step_size is required")
    assert.has_error(function() optim.StepLR(opt, { step_size = 2, gama = 0.5 }) end,
      "optim.StepLR: unknown option 'gama' (expected one of: gamma, step_size)")
    assert.has_error(function() optim.StepLR({}, { step_size = 1 }) end,
      "optim.StepLR: expected an optimizer (optim.SGD or optim.Adam)")
  end)
end)
