-- tide.optim: SGD, Adam, RMSprop and Adagrad against the update rules written out in plain Lua
-- (torch.optim's definitions) and against torch.optim's own numbers (tests/data/
-- optim_torch.json, written by tests/bench/optim_torch.py); gradient clipping against the
-- norms computed entry by entry; StepLR and CosineAnnealingLR against their formulas (the other
-- schedules are in schedule_spec.lua); and the errors.
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

-- torch.optim.RMSprop, as plain Lua.
local function rmsprop_reference(cfg)
  local p, sq, ga, buf = { table.unpack(P0) }, { 0, 0, 0, 0 }, { 0, 0, 0, 0 }, { 0, 0, 0, 0 }
  local alpha, eps, lr = cfg.alpha or 0.99, cfg.eps or 1e-8, cfg.lr or 1e-2
  local wd, mom = cfg.weight_decay or 0, cfg.momentum or 0
  for _, g0 in ipairs(GRADS) do
    for i = 1, #p do
      local g = g0[i] + wd * p[i]
      sq[i] = alpha * sq[i] + (1 - alpha) * g * g
      local avg
      if cfg.centered then
        ga[i] = alpha * ga[i] + (1 - alpha) * g
        avg = math.sqrt(sq[i] - ga[i] * ga[i]) + eps
      else
        avg = math.sqrt(sq[i]) + eps
      end
      if mom > 0 then
        buf[i] = mom * buf[i] + g / avg
        p[i] = p[i] - lr * buf[i]
      else
        p[i] = p[i] - lr * g / avg
      end
    end
  end
  return p
end

-- torch.optim.Adagrad, as plain Lua.
local function adagrad_reference(cfg)
  local init = cfg.initial_accumulator_value or 0
  local p, sum = { table.unpack(P0) }, { init, init, init, init }
  local lr, decay, eps, wd = cfg.lr or 1e-2, cfg.lr_decay or 0, cfg.eps or 1e-10,
    cfg.weight_decay or 0
  for t, g0 in ipairs(GRADS) do
    local clr = lr / (1 + (t - 1) * decay)
    for i = 1, #p do
      local g = g0[i] + wd * p[i]
      sum[i] = sum[i] + g * g
      p[i] = p[i] - clr * g / (math.sqrt(sum[i]) + eps)
    end
  end
  return p
end

-- A step from opt:state() taken by a fresh optimizer moves p as the original's next step did.
local function check_resume(make, cfg)
  local p, _, pair = problem(P0, GRADS[1])
  local opt = make(pair, cfg)
  opt:step()
  local s, saved_p = opt:state(), p:clone()
  opt:step()
  local after = p:totable()
  p:copy_(saved_p)
  make(pair, cfg):load_state(s):step()
  close_list(after, p:totable(), 0)
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

  it("starts a momentum turned on after the first step from the gradient, as torch", function()
    local p, g, pair = problem({ 1 }, { 1 })
    local opt = optim.SGD(pair, { lr = 0.1, dampening = 0.5 })
    opt:step()                      -- no momentum: p = 1 - 0.1
    opt.momentum = 0.9
    opt:step()                      -- buffer = g (no dampening on its first use): p -= 0.1
    opt:step()                      -- buffer = 0.9 * 1 + 0.5 * 1
    close_list({ 1 - 0.1 - 0.1 - 0.1 * 1.4 }, p:totable(), 1e-15)
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
    check_resume(optim.SGD, { lr = 0.1, momentum = 0.9 })
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

  it("CosineAnnealingLR goes down to eta_min and, past t_max, back up as torch's does", function()
    local _, _, pair = problem({ 1 }, { 1 })
    local opt = optim.SGD(pair, { lr = 1 })
    local s = optim.CosineAnnealingLR(opt, { t_max = 4, eta_min = 0.1 })
    -- torch 1.13's CosineAnnealingLR(SGD(lr = 1), T_max = 4, eta_min = 0.1), epochs 0 to 12
    -- (/usr/bin/python3, the scheduler stepped after each optimizer step)
    local torch = { 1.0, 0.8681980515339464, 0.55, 0.23180194846605368, 0.1, 0.2318019484660536,
      0.55, 0.8681980515339467, 1.0000000000000004, 0.8681980515339468, 0.5500000000000004,
      0.2318019484660541, 0.1 }
    assert.is_true(math.abs(s:get_lr() - torch[1]) < 1e-12)
    for e = 1, 12 do
      assert.is_true(math.abs(s:step() - torch[e + 1]) < 1e-12, "epoch " .. e)
    end
    assert.is_true(math.abs(opt.lr - 0.1) < 1e-12)
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
      "optim.StepLR: expected an optimizer (optim.SGD, Adam, RMSprop or Adagrad)")
  end)
end)

describe("RMSprop", function()
  it("follows torch.optim.RMSprop's rule: plain, centered, with momentum and weight decay", function()
    for _, cfg in ipairs {
      { lr = 0.01 },
      { lr = 0.01, alpha = 0.9, eps = 1e-6, weight_decay = 0.1 },
      { lr = 0.005, momentum = 0.8 },
      { lr = 0.005, centered = true },
      { lr = 0.005, centered = true, momentum = 0.5, weight_decay = 0.01 },
    } do
      close_list(rmsprop_reference(cfg), (run(optim.RMSprop, cfg)), 1e-12)
    end
  end)

  it("saves and restores its averages and momentum", function()
    check_resume(optim.RMSprop, { lr = 0.01, centered = true, momentum = 0.9 })
  end)

  it("refuses bad options and states", function()
    local _, _, pair = problem({ 1 }, { 1 })
    assert.has_error(function() optim.RMSprop(pair, { lr = -0.01 }) end,
      "optim.RMSprop: lr must be a number >= 0, got -0.01")
    assert.has_error(function() optim.RMSprop(pair, { alpha = 1.5 }) end,
      "optim.RMSprop: alpha must be a number in [0, 1], got 1.5")
    assert.has_error(function() optim.RMSprop(pair, { momentum = -0.9 }) end,
      "optim.RMSprop: momentum must be a number >= 0, got -0.9")
    assert.has_error(function() optim.RMSprop(pair, { centred = true }) end,
      "optim.RMSprop: unknown option 'centred' (expected one of: alpha, centered, eps, lr, "
      .. "momentum, weight_decay)")
    local opt = optim.RMSprop(pair, { centered = true })
    opt:step()
    local s = opt:state()
    s.square_avg = {}
    assert.has_error(function() opt:load_state(s) end,
      "optim.RMSprop.load_state: grad_avg[1] has no square_avg[1] beside it")
  end)
end)

describe("Adagrad", function()
  it("follows torch.optim.Adagrad's rule", function()
    for _, cfg in ipairs {
      { lr = 0.1 },
      { lr = 0.1, lr_decay = 0.05, weight_decay = 0.1, initial_accumulator_value = 0.5,
        eps = 1e-6 },
    } do
      close_list(adagrad_reference(cfg), (run(optim.Adagrad, cfg)), 1e-12)
    end
  end)

  it("saves and restores its sums and step count (the rate decays with it)", function()
    check_resume(optim.Adagrad, { lr = 0.1, lr_decay = 0.5 })
  end)

  it("refuses bad options", function()
    local _, _, pair = problem({ 1 }, { 1 })
    assert.has_error(function() optim.Adagrad(pair, { lr = -1 }) end,
      "optim.Adagrad: lr must be a number >= 0, got -1")
    assert.has_error(function() optim.Adagrad(pair, { lr_decay = 0 / 0 }) end,
      "optim.Adagrad: lr_decay must be a number >= 0, got NaN")
    assert.has_error(function() optim.Adagrad(pair, { initial_accumulator_value = -1 }) end,
      "optim.Adagrad: initial_accumulator_value must be a number >= 0, got -1")
    assert.has_error(function() optim.Adagrad(pair, { momentum = 0.9 }) end,
      "optim.Adagrad: unknown option 'momentum' (expected one of: eps, initial_accumulator_value, "
      .. "lr, lr_decay, weight_decay)")
  end)
end)

-- torch.optim's own numbers: tests/bench/optim_torch.py ran each optimizer for a few steps on
-- a problem whose gradient depends on the parameters, and wrote the paths.
local TORCH = require "support.optim_torch"

describe("against torch.optim", function()
  it("every optimizer follows torch's path to 1e-12", function()
    for _, case in ipairs(TORCH.optimizers) do
      local p = tide.tensor(TORCH.P0, "f64")
      local g = tide.zeros({ #TORCH.P0 }, "f64")
      local opt = optim[case.name]({ { p }, { g } }, case.opts)
      for step = 1, TORCH.steps do
        local pv, gv = p:totable(), {}
        for i = 1, #pv do
          gv[i] = TORCH.A[i] * pv[i] + TORCH.B[i] + TORCH.C[i] * math.sin(pv[i])
        end
        g:copy_(tide.tensor(gv, "f64"))
        opt:step()
        close_list(case.path[step], p:totable(), 1e-12)
      end
    end
  end)
end)

describe("gradient clipping", function()
  local function grads()
    return { tide.tensor({ { 3, -4 }, { 1, 2 } }, "f64"), tide.tensor({ -2, 0.5, 6 }, "f64") }
  end
  local ENTRIES = { 3, -4, 1, 2, -2, 0.5, 6 }
  local function entries(gs)
    local out = {}
    for _, g in ipairs(gs) do
      for _, x in ipairs(g:reshape({ g:numel() }):totable()) do out[#out + 1] = x end
    end
    return out
  end

  it("clip_grad_norm returns the norm of all the gradients and scales them to max_norm", function()
    for _, p in ipairs { 2, 1, 3, math.huge } do
      local want = 0
      for _, x in ipairs(ENTRIES) do
        want = p == math.huge and math.max(want, math.abs(x)) or want + math.abs(x) ^ p
      end
      if p ~= math.huge then want = want ^ (1 / p) end
      local gs = grads()
      local norm = optim.clip_grad_norm(gs, 2.5, { norm_type = p })
      close_list({ want }, { norm }, 1e-14)
      local scaled = {}
      for i, x in ipairs(ENTRIES) do scaled[i] = x * 2.5 / (want + 1e-6) end
      close_list(scaled, entries(gs), 1e-14)
    end
  end)

  it("clip_grad_norm leaves gradients below max_norm alone; takes modules and pairs", function()
    local gs = grads()
    close_list({ math.sqrt(70.25) }, { optim.clip_grad_norm(gs, 100) }, 1e-14)
    close_list(ENTRIES, entries(gs), 0)
    local m = nn.Linear(3, 2, { dtype = "f64" })
    local _, mg = m:parameters()
    mg[1]:fill_(1)
    mg[2]:fill_(2)
    close_list({ math.sqrt(6 + 8) }, { optim.clip_grad_norm(m, 1) }, 1e-14)
    close_list({ 1 / (math.sqrt(14) + 1e-6) }, { mg[1][1][1] }, 1e-14)
    local p, g = tide.ones({ 2 }, "f64"), tide.tensor({ 3, 4 }, "f64")
    close_list({ 5 }, { optim.clip_grad_norm({ { p }, { g } }, 1) }, 1e-14)
    close_list({ 5 }, { optim.clip_grad_norm(tide.tensor({ 3, 4 }), 10) }, 1e-6)
  end)

  it("clip_grad_value clamps every entry", function()
    local gs = grads()
    optim.clip_grad_value(gs, 2)
    local want = {}
    for i, x in ipairs(ENTRIES) do want[i] = math.max(-2, math.min(2, x)) end
    close_list(want, entries(gs), 0)
  end)

  it("refuses bad arguments", function()
    assert.has_error(function() optim.clip_grad_norm(grads(), -1) end,
      "optim.clip_grad_norm: max_norm must be a number >= 0, got -1")
    assert.has_error(function() optim.clip_grad_norm(grads(), 1, { norm_type = 0 }) end,
      "optim.clip_grad_norm: norm_type must be a number > 0 (math.huge for the max norm), got 0")
    assert.has_error(function() optim.clip_grad_norm(grads(), 1, { norm = 2 }) end,
      "optim.clip_grad_norm: unknown option 'norm' (expected one of: comm, norm_type)")
    assert.has_error(function() optim.clip_grad_norm(grads(), 1, { comm = 3 }) end,
      "optim.clip_grad_norm: comm must be a communicator, got number")
    assert.has_error(function() optim.clip_grad_norm("w", 1) end,
      "optim.clip_grad_norm: expected a module (with :parameters()), {params, grads}, a list of "
      .. "gradient tensors or a tensor, got string")
    assert.has_error(function() optim.clip_grad_value({ tide.ones(2), 5 }, 1) end,
      "optim.clip_grad_value: gradient 2 is a number, not a tensor")
    assert.has_error(function() optim.clip_grad_value(grads(), 0 / 0) end,
      "optim.clip_grad_value: clip_value must be a number >= 0, got NaN")
  end)
end)
