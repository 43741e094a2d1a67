-- tide.optim's LinearLR, OneCycleLR, SequentialLR and ReduceLROnPlateau against plain-Lua
-- copies of torch.optim.lr_scheduler's code (to 1e-12), and every schedule against torch's own
-- numbers (tests/data/optim_torch.json, written by tests/bench/optim_torch.py); their states;
-- their errors.
local tide = require "tide"
local optim = require "tide.optim"

local function close_list(want, got, tol, what)
  assert.are.equal(#want, #got, what)
  for i = 1, #want do
    assert(math.abs(want[i] - got[i]) <= tol * math.max(1, math.abs(want[i])),
      ("%s entry %d: want %.17g, got %.17g"):format(what or "", i, want[i], got[i]))
  end
end

-- An optimizer over one f64 parameter (its gradient kept at zero: only the lr matters).
local function sgd(opts)
  local p, g = tide.ones({ 2 }, "f64"), tide.zeros({ 2 }, "f64")
  return optim.SGD({ { p }, { g } }, opts or { lr = 0.1, momentum = 0.9 })
end

local function adam()
  local p, g = tide.ones({ 2 }, "f64"), tide.zeros({ 2 }, "f64")
  return optim.Adam({ { p }, { g } }, { lr = 0.1 })
end

local function momentum_of(opt) return opt.beta1 or opt.momentum end

-- The lr (and momentum) after construction and after each of `steps` steps; metrics feed a
-- plateau schedule.
local function trace(sched, opt, steps, metrics)
  local lrs, moms = { opt.lr }, { momentum_of(opt) }
  for k = 1, steps do
    opt:step()
    sched:step(metrics and metrics[k])
    lrs[#lrs + 1], moms[#moms + 1] = opt.lr, momentum_of(opt)
  end
  return lrs, moms
end

-- ------------------------------------------------------------------ torch's code, in Lua

-- LinearLR's chainable form: each step multiplies the previous lr.
local function linear_reference(base_lr, o, steps)
  local s, e, n = o.start_factor or 1 / 3, o.end_factor or 1, o.total_iters or 5
  local lr, out = base_lr * s, { base_lr * s }
  for epoch = 1, steps do
    if epoch <= n then lr = lr * (1 + (e - s) / (n * s + (epoch - 1) * (e - s))) end
    out[#out + 1] = lr
  end
  return out
end

-- OneCycleLR: phases with float end steps, annealed from each phase's start.
local function one_cycle_reference(o, steps, start_momentum)
  local total = o.total_steps or o.epochs * o.steps_per_epoch
  local pct = o.pct_start or 0.3
  local initial = o.max_lr / (o.div_factor or 25)
  local min_lr = initial / (o.final_div_factor or 1e4)
  local lo, hi = o.base_momentum or 0.85, o.max_momentum or 0.95
  local cos = (o.anneal_strategy or "cos") == "cos"
  local function anneal(a, b, x)
    if cos then return b + (a - b) / 2.0 * (math.cos(math.pi * x) + 1) end
    return (b - a) * x + a
  end
  local phases
  if o.three_phase then
    phases = { { pct * total - 1, initial, o.max_lr, hi, lo },
      { 2 * pct * total - 2, o.max_lr, initial, lo, hi },
      { total - 1, initial, min_lr, hi, hi } }
  else
    phases = { { pct * total - 1, initial, o.max_lr, hi, lo },
      { total - 1, o.max_lr, min_lr, lo, hi } }
  end
  local lrs, moms = {}, {}
  for step = 0, steps do
    local start = 0
    for i, ph in ipairs(phases) do
      if step <= ph[1] or i == #phases then
        local x = (step - start) / (ph[1] - start)
        lrs[#lrs + 1] = anneal(ph[2], ph[3], x)
        moms[#moms + 1] = o.cycle_momentum == false and start_momentum or anneal(ph[4], ph[5], x)
        break
      end
      start = ph[1]
    end
  end
  return lrs, moms
end

-- ReduceLROnPlateau.
local function plateau_reference(lr, o, metrics)
  local mode, factor, patience = o.mode or "min", o.factor or 0.1, o.patience or 10
  local th, th_mode, cooldown = o.threshold or 1e-4, o.threshold_mode or "rel", o.cooldown or 0
  local min_lr, eps = o.min_lr or 0, o.eps or 1e-8
  local best = mode == "min" and math.huge or -math.huge
  local bad, cool, out = 0, 0, { lr }
  local function better(a)
    if mode == "min" and th_mode == "rel" then return a < best * (1 - th) end
    if mode == "min" then return a < best - th end
    if th_mode == "rel" then return a > best * (th + 1) end
    return a > best + th
  end
  for _, m in ipairs(metrics) do
    if better(m) then best, bad = m, 0 else bad = bad + 1 end
    if cool > 0 then cool, bad = cool - 1, 0 end
    if bad > patience then
      local new = math.max(lr * factor, min_lr)
      if lr - new > eps then lr = new end
      cool, bad = cooldown, 0
    end
    out[#out + 1] = lr
  end
  return out
end

-- ------------------------------------------------------------------ the specs

local TORCH = require "support.optim_torch"

describe("LinearLR", function()
  it("follows torch's chained factors: a warm-up, and a decay", function()
    for _, o in ipairs { { start_factor = 0.25, total_iters = 4 },
      { start_factor = 1, end_factor = 0.1, total_iters = 5 }, {} } do
      local opt = sgd()
      local lrs = trace(optim.LinearLR(opt, o), opt, 8)
      close_list(linear_reference(0.1, o, 8), lrs, 1e-12)
    end
  end)
end)

describe("OneCycleLR", function()
  it("follows torch's phases: cos and linear, three phases, lr and momentum", function()
    for _, o in ipairs {
      { max_lr = 1, total_steps = 20 },
      { max_lr = 0.5, total_steps = 10, anneal_strategy = "linear", pct_start = 0.4,
        div_factor = 10, final_div_factor = 100 },
      { max_lr = 0.5, epochs = 3, steps_per_epoch = 5, three_phase = true },
      { max_lr = 0.5, total_steps = 12, cycle_momentum = false },
    } do
      local opt = sgd()
      local lrs, moms = trace(optim.OneCycleLR(opt, o), opt, 9)
      local want_lr, want_mom = one_cycle_reference(o, 9, 0.9)
      close_list(want_lr, lrs, 1e-12, "lr")
      close_list(want_mom, moms, 1e-12, "momentum")
    end
  end)

  it("cycles Adam's beta1, and refuses a step past total_steps", function()
    local opt = adam()
    local o = { max_lr = 0.5, total_steps = 4, base_momentum = 0.8, max_momentum = 0.9 }
    local sched = optim.OneCycleLR(opt, o)
    local lrs, moms = trace(sched, opt, 4)
    local want_lr, want_mom = one_cycle_reference(o, 4)
    close_list(want_lr, lrs, 1e-12, "lr")
    close_list(want_mom, moms, 1e-12, "beta1")
    assert.has_error(function() sched:step() end,
      "optim.OneCycleLR: stepped 5 times, past total_steps 4")
  end)
end)

describe("SequentialLR", function()
  it("runs a linear warm-up, then a cosine from its own epoch 0; resumes from its state", function()
    local function made()
      local opt = sgd()
      local warm = optim.LinearLR(opt, { start_factor = 0.1, total_iters = 3 })
      local cos = optim.CosineAnnealingLR(opt, { t_max = 4 })
      return opt, optim.SequentialLR(opt, { schedules = { warm, cos }, milestones = { 3 } })
    end
    local opt, sched = made()
    local lrs = trace(sched, opt, 7)
    local want = {}
    for e = 0, 2 do want[#want + 1] = 0.1 * (0.1 + 0.9 * e / 3) end
    for e = 0, 4 do want[#want + 1] = 0.1 * (1 + math.cos(math.pi * e / 4)) / 2 end
    close_list(want, lrs, 1e-15)
    -- from a state saved at epoch 4 (the cosine's epoch 1)
    local opt2, sched2 = made()
    for _ = 1, 4 do sched2:step() end
    local s = sched2:state()
    local opt3, sched3 = made()
    sched3:load_state(s)
    close_list({ want[5] }, { opt3.lr }, 1e-15)
    close_list({ want[6], want[7] }, { sched3:step(), sched3:step() }, 1e-15)
  end)
end)

describe("ReduceLROnPlateau", function()
  it("follows torch's patience, thresholds and cooldown", function()
    local metrics = TORCH.metrics
    for _, o in ipairs { { factor = 0.5, patience = 1 },
      { mode = "max", factor = 0.5, patience = 0, threshold = 0.05, threshold_mode = "abs",
        cooldown = 2, min_lr = 0.02 },
      { mode = "max", patience = 2, threshold = 0.1 }, { patience = 0, threshold_mode = "abs" } } do
      local opt = sgd()
      local lrs = trace(optim.ReduceLROnPlateau(opt, o), opt, #metrics, metrics)
      close_list(plateau_reference(0.1, o, metrics), lrs, 1e-12)
    end
  end)

  it("resumes from its state as if never stopped", function()
    local metrics = TORCH.metrics
    local o = { factor = 0.5, patience = 1, cooldown = 1 }
    local opt = sgd()
    local sched = optim.ReduceLROnPlateau(opt, o)
    for k = 1, 5 do sched:step(metrics[k]) end
    local s, so = sched:state(), opt:state()
    local want = {}
    for k = 6, #metrics do want[#want + 1] = sched:step(metrics[k]) end
    local opt2 = sgd():load_state(so)
    local sched2 = optim.ReduceLROnPlateau(opt2, o):load_state(s)
    local got = {}
    for k = 6, #metrics do got[#got + 1] = sched2:step(metrics[k]) end
    assert.are.same(want, got)
  end)
end)

-- A schedule from the figure file's name and options (torch's T_max is t_max here; a
-- SequentialLR lists {name, options} pairs).
local function make(name, opt, opts)
  local o = {}
  for k, v in pairs(opts) do o[k == "T_max" and "t_max" or k] = math.tointeger(v) or v end
  if o.milestones then
    for i, m in ipairs(o.milestones) do o.milestones[i] = math.tointeger(m) end
  end
  if name == "SequentialLR" then
    local subs = {}
    for i, sub in ipairs(o.schedules) do subs[i] = make(sub[1], opt, sub[2]) end
    o.schedules = subs
  end
  return optim[name](opt, o)
end

describe("against torch.optim.lr_scheduler", function()
  it("every schedule gives torch's lr and momentum", function()
    for _, case in ipairs(TORCH.schedules) do
      local opt = case.optimizer == "Adam" and adam() or sgd()
      local lrs, moms = trace(make(case.name, opt, case.opts), opt, case.steps, TORCH.metrics)
      close_list(case.lr, lrs, 1e-12, case.name .. " lr")
      close_list(case.momentum, moms, 1e-12, case.name .. " momentum")
    end
  end)
end)

describe("schedule errors", function()
  it("name the option and what came", function()
    local opt = sgd()
    for _, c in ipairs {
      { "LinearLR", { start_factor = 0 }, "optim.LinearLR: start_factor must be in (0, 1], got 0" },
      { "LinearLR", { end_factor = 2 }, "optim.LinearLR: end_factor must be a number in [0, 1], got 2" },
      { "LinearLR", { total_iters = 0 }, "optim.LinearLR: total_iters must be an integer of at least 1, got 0" },
      { "OneCycleLR", { total_steps = 10 }, "optim.OneCycleLR: max_lr is required" },
      { "OneCycleLR", { max_lr = -1, total_steps = 10 }, "optim.OneCycleLR: max_lr must be a number >= 0, got -1" },
      { "OneCycleLR", { max_lr = 1 }, "optim.OneCycleLR: give total_steps, or epochs and steps_per_epoch" },
      { "OneCycleLR", { max_lr = 1, total_steps = 4, epochs = 2 },
        "optim.OneCycleLR: give total_steps, or epochs and steps_per_epoch, not both" },
      { "OneCycleLR", { max_lr = 1, total_steps = 4, anneal_strategy = "cosine" },
        'optim.OneCycleLR: anneal_strategy must be "cos" or "linear", got cosine' },
      { "OneCycleLR", { max_lr = 1, total_steps = 4, pct_start = 1.5 },
        "optim.OneCycleLR: pct_start must be a number in [0, 1], got 1.5" },
      { "ReduceLROnPlateau", { mode = "minimum" },
        'optim.ReduceLROnPlateau: mode must be "min" or "max", got minimum' },
      { "ReduceLROnPlateau", { factor = 1 }, "optim.ReduceLROnPlateau: factor must be a number in [0, 1), got 1" },
      { "ReduceLROnPlateau", { threshold_mode = "relative" },
        'optim.ReduceLROnPlateau: threshold_mode must be "rel" or "abs", got relative' },
      { "ReduceLROnPlateau", { patience = -1 },
        "optim.ReduceLROnPlateau: patience must be an integer of at least 0, got -1" },
      { "ReduceLROnPlateau", { min_lr = -1 }, "optim.ReduceLROnPlateau: min_lr must be a number >= 0, got -1" },
      { "ReduceLROnPlateau", { paitence = 2 }, "optim.ReduceLROnPlateau: unknown option 'paitence' " ..
        "(expected one of: cooldown, eps, factor, min_lr, mode, patience, threshold, threshold_mode)" },
    } do
      assert.has_error(function() optim[c[1]](opt, c[2]) end, c[3])
    end
    local warm = optim.LinearLR(opt, {})
    for _, c in ipairs {
      { { schedules = {} }, "optim.SequentialLR: schedules must be a list of schedules, got table" },
      { { schedules = { warm, optim.ReduceLROnPlateau(opt) }, milestones = { 2 } },
        "optim.SequentialLR: schedules[2] is not a schedule of epochs (ReduceLROnPlateau cannot be one)" },
      { { schedules = { warm, optim.StepLR(sgd(), { step_size = 1 }) }, milestones = { 2 } },
        "optim.SequentialLR: schedules[2] was made on another optimizer" },
      { { schedules = { warm, warm } }, "optim.SequentialLR: milestones must be a list of 1 epochs "
        .. "(one fewer than the schedules), got nil" },
      { { schedules = { warm, warm, warm }, milestones = { 3, 3 } },
        "optim.SequentialLR: milestones[2] must be an integer of at least 4, got 3" },
    } do
      assert.has_error(function() optim.SequentialLR(opt, c[1]) end, c[2])
    end
    local ada = optim.Adagrad({ { tide.ones(1) }, { tide.zeros(1) } }, {})
    assert.has_error(function() optim.OneCycleLR(ada, { max_lr = 1, total_steps = 4 }) end,
      "optim.OneCycleLR: cycle_momentum needs an optimizer with a momentum (SGD, RMSprop) or " ..
      "beta1 (Adam), got optim.Adagrad; pass cycle_momentum = false")
    assert.has_error(function() optim.ReduceLROnPlateau({}, {}) end,
      "optim.ReduceLROnPlateau: expected an optimizer (optim.SGD, Adam, RMSprop or Adagrad)")
    local plateau = optim.ReduceLROnPlateau(opt)
    assert.has_error(function() plateau:step() end,
      "optim.ReduceLROnPlateau.step: metric is required")
    assert.has_error(function() plateau:step(0 / 0) end,
      "optim.ReduceLROnPlateau.step: metric must be a number, got NaN")
    assert.has_error(function() plateau:load_state({ epoch = 1, best = "low", num_bad_epochs = 0,
      cooldown_counter = 0 }) end,
      "optim.ReduceLROnPlateau.load_state: best must be a number, got string")
  end)
end)
