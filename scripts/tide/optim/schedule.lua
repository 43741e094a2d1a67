-- tide.optim.schedule: learning-rate schedules that are a function of the epoch (or step)
-- count: StepLR, CosineAnnealingLR, LinearLR (warm-up), OneCycleLR, and SequentialLR, which
-- runs several one after the other. ReduceLROnPlateau, which follows a metric instead, is in
-- optim/plateau.lua.
local base = require "tide.optim.base"
local args = require "tide.args"

local optim = base.optim
local check_opts, number = args.check_opts, args.number

-- A schedule owns opt.lr: sched:step() advances one epoch (or whatever unit you call it at)
-- and sets opt.lr; sched:get_lr() is the current value. Made, it sets opt.lr to its value at
-- epoch 0 (LinearLR starts below the optimizer's lr, as torch's does).

local Schedule = {}
Schedule.__index = Schedule

-- sched:step() advances one epoch and sets opt.lr to the schedule's value for it.
function Schedule:step()
  self.epoch = self.epoch + 1
  self:_apply()
  return self.opt.lr
end

-- Sets what the schedule owns in the optimizer for the current epoch.
function Schedule:_apply()
  self.opt.lr = self:get_lr()
end

-- sched:state() is {epoch = n, base_lr = x}; load_state sets the optimizer's lr (and what else
-- the schedule owns, as OneCycleLR's momentum) back to their values at that epoch.
function Schedule:state()
  return { epoch = self.epoch, base_lr = self.base_lr }
end

function Schedule:load_state(s)
  local where = self.__name .. ".load_state"
  args.state_keys(s, { epoch = true, base_lr = true }, where)
  args.state_integer(s.epoch, where, "epoch", 0)
  number(s.base_lr, "base_lr", where)
  self.epoch, self.base_lr = s.epoch, s.base_lr
  self:_apply()
  return self
end

-- Defines optim[name](opt, opts), a schedule whose options are checked by checks[key](value,
-- where) (in key order; errors name the constructor's caller) and whose lr is get_lr(self).
-- init(self, where), when given, checks the options together and prepares the schedule.
local function define(name, checks, get_lr, init)
  local where, known, keys = "optim." .. name, {}, {}
  local class = setmetatable({ get_lr = get_lr, __name = where }, Schedule)
  class.__index = class
  for k in pairs(checks) do known[k], keys[#keys + 1] = true, k end
  table.sort(keys)
  optim[name] = function(opt, opts, ...)
    args.at_most(where, 2, ...)
    if type(opt) ~= "table" or type(opt.lr) ~= "number" or type(opt.step) ~= "function" then
      error(where .. ": expected an optimizer (optim.SGD, Adam, RMSprop or Adagrad)", 2)
    end
    opts = check_opts(opts, known, where)
    -- the lr the optimizer had before any schedule changed it, as torch's initial_lr: a second
    -- schedule on one optimizer (see SequentialLR) starts from it too
    opt.initial_lr = opt.initial_lr or opt.lr
    local self = setmetatable({ opt = opt, base_lr = opt.initial_lr, epoch = 0 }, class)
    for _, k in ipairs(keys) do self[k] = checks[k](opts[k], where) end
    if init then init(self, where) end
    self:_apply()
    return self
  end
  return class
end

-- The check of one option of define: check(v, key, where, ...) (an args check), raising at
-- the level of the constructor's caller.
local function option(check, key, ...)
  local extra = table.pack(...)
  extra[extra.n + 1] = 4                    -- the level, after the check's own arguments
  return function(v, where)
    local x = check(v, key, where, table.unpack(extra, 1, extra.n + 1))
    return x
  end
end

local function count(key, default) return option(args.integer, key, 1, default) end
local function rate(key, default, range)
  return option(args.number, key, default, range or ">= 0")
end

-- StepLR(opt, {step_size, gamma = 0.1}): lr = base_lr * gamma^floor(epoch / step_size).
define("StepLR", { step_size = count("step_size"), gamma = rate("gamma", 0.1) }, function(self)
  return self.base_lr * self.gamma ^ (self.epoch // self.step_size)
end)

-- CosineAnnealingLR(opt, {t_max, eta_min = 0}):
-- lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2 at every epoch: down
-- to eta_min at t_max, back up to base_lr at 2 t_max, and so on, as torch's schedule goes on
-- past t_max (its recursive form's values, to rounding; SGDR's restarts are not this).
define("CosineAnnealingLR", { t_max = count("t_max"), eta_min = rate("eta_min", 0) },
  function(self)
    return self.eta_min + (self.base_lr - self.eta_min)
      * (1 + math.cos(math.pi * self.epoch / self.t_max)) / 2
  end)

-- LinearLR(opt, {start_factor = 1/3, end_factor = 1, total_iters = 5}): the factor of base_lr
-- goes linearly from start_factor to end_factor over total_iters epochs (or steps), then stays:
-- lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters). With
-- end_factor 1 it is a linear warm-up.
define("LinearLR", { start_factor = rate("start_factor", 1 / 3, "in [0, 1]"),
  end_factor = rate("end_factor", 1, "in [0, 1]"), total_iters = count("total_iters", 5) },
  function(self)
    local e = math.min(self.epoch, self.total_iters)
    return self.base_lr * (self.start_factor
      + (self.end_factor - self.start_factor) * e / self.total_iters)
  end,
  function(self, where)
    if self.start_factor == 0 then   -- torch refuses it too: the warm-up would start at 0
      error(where .. ": start_factor must be in (0, 1], got 0", 3)
    end
  end)

-- ------------------------------------------------------------------ OneCycleLR

-- An integer of at least 1, or nil.
local function optional_count(key)
  local check = count(key)
  return function(v, where)
    if v == nil then return nil end
    return check(v, where)
  end
end

local function choice(key, choices, default) return option(args.one_of, key, choices, default) end
local function flag(key, default) return option(args.boolean, key, default) end

-- From start to stop as pct goes from 0 to 1: half a cosine, or a line.
local ANNEAL = {
  cos = function(start, stop, pct) return stop + (start - stop) / 2 * (math.cos(math.pi * pct) + 1) end,
  linear = function(start, stop, pct) return (stop - start) * pct + start end,
}

-- OneCycleLR(opt, {max_lr, total_steps | epochs and steps_per_epoch, pct_start = 0.3,
--   anneal_strategy = "cos" | "linear", div_factor = 25, final_div_factor = 1e4,
--   three_phase = false, cycle_momentum = true, base_momentum = 0.85, max_momentum = 0.95}):
-- torch's one-cycle policy, stepped once per batch. The lr rises from max_lr / div_factor to
-- max_lr over the first pct_start of the steps, then falls to max_lr / div_factor /
-- final_div_factor (three_phase: falls back to the start over as many steps, then to that
-- minimum). The momentum (SGD's or RMSprop's momentum, Adam's beta1) moves the other way,
-- between max_momentum and base_momentum. Made, it sets the optimizer's lr to the start value
-- (the optimizer's own lr is not used). Stepping past total_steps is an error.
local OneCycleLR = define("OneCycleLR", {
  max_lr = rate("max_lr"), total_steps = optional_count("total_steps"),
  epochs = optional_count("epochs"), steps_per_epoch = optional_count("steps_per_epoch"),
  pct_start = rate("pct_start", 0.3, "in [0, 1]"),
  anneal_strategy = choice("anneal_strategy", { "cos", "linear" }, "cos"),
  div_factor = rate("div_factor", 25, "> 0"),
  final_div_factor = rate("final_div_factor", 1e4, "> 0"),
  three_phase = flag("three_phase", false), cycle_momentum = flag("cycle_momentum", true),
  base_momentum = rate("base_momentum", 0.85, "in [0, 1)"),
  max_momentum = rate("max_momentum", 0.95, "in [0, 1)"),
}, function(self)
  local step = self.epoch
  if step > self.total_steps then
    error(("optim.OneCycleLR: stepped %d times, past total_steps %d"):format(step,
      self.total_steps), 4)
  end
  local anneal, start = ANNEAL[self.anneal_strategy], 0
  for i, phase in ipairs(self.phases) do
    if step <= phase.stop or i == #self.phases then
      local pct = (step - start) / (phase.stop - start)
      self.momentum = anneal(phase.m0, phase.m1, pct)
      return anneal(phase.lr0, phase.lr1, pct)
    end
    start = phase.stop
  end
end, function(self, where)
  if self.total_steps == nil then
    if self.epochs == nil or self.steps_per_epoch == nil then
      error(where .. ": give total_steps, or epochs and steps_per_epoch", 3)
    end
    self.total_steps = self.epochs * self.steps_per_epoch
  elseif self.epochs ~= nil or self.steps_per_epoch ~= nil then
    error(where .. ": give total_steps, or epochs and steps_per_epoch, not both", 3)
  end
  local opt = self.opt
  if self.cycle_momentum then
    self.momentum_key = opt.beta1 ~= nil and "beta1" or opt.momentum ~= nil and "momentum"
    if not self.momentum_key then
      error(("%s: cycle_momentum needs an optimizer with a momentum (SGD, RMSprop) or beta1 "
        .. "(Adam), got %s; pass cycle_momentum = false"):format(where,
        tostring(getmetatable(opt) and getmetatable(opt).__name or type(opt))), 3)
    end
  end
  local lr0 = self.max_lr / self.div_factor
  local min_lr = lr0 / self.final_div_factor
  local n, pct = self.total_steps, self.pct_start
  local lo, hi = self.base_momentum, self.max_momentum
  -- phase i runs from the previous phase's stop (0 for the first) to its own, in steps
  if self.three_phase then
    self.phases = {
      { stop = pct * n - 1, lr0 = lr0, lr1 = self.max_lr, m0 = hi, m1 = lo },
      { stop = 2 * pct * n - 2, lr0 = self.max_lr, lr1 = lr0, m0 = lo, m1 = hi },
      { stop = n - 1, lr0 = lr0, lr1 = min_lr, m0 = hi, m1 = hi },
    }
  else
    self.phases = {
      { stop = pct * n - 1, lr0 = lr0, lr1 = self.max_lr, m0 = hi, m1 = lo },
      { stop = n - 1, lr0 = self.max_lr, lr1 = min_lr, m0 = lo, m1 = hi },
    }
  end
end)

function OneCycleLR:_apply()
  self.opt.lr = self:get_lr()
  if self.cycle_momentum then self.opt[self.momentum_key] = self.momentum end
end

-- ------------------------------------------------------------------ SequentialLR

local Sequential = base.class("optim.SequentialLR")

local function is_schedule(s)
  return type(s) == "table" and type(s._apply) == "function" and type(s.get_lr) == "function"
end

-- SequentialLR(opt, {schedules = {s1, s2, ...}, milestones = {m1, ...}}): s1 until epoch m1,
-- then s2 from its own epoch 0 until m2, and so on, as torch's; the usual warm-up is
-- SequentialLR(opt, {schedules = {LinearLR(opt, ...), CosineAnnealingLR(opt, ...)},
-- milestones = {warmup_epochs}}). The schedules are made on opt beforehand (each starts from
-- the optimizer's lr before any schedule); made, it sets opt.lr to s1's value at epoch 0.
function optim.SequentialLR(opt, opts, ...)
  args.at_most("optim.SequentialLR", 2, ...)
  local where = "optim.SequentialLR"
  if type(opt) ~= "table" or type(opt.lr) ~= "number" or type(opt.step) ~= "function" then
    error(where .. ": expected an optimizer (optim.SGD, Adam, RMSprop or Adagrad)", 2)
  end
  opts = check_opts(opts, { schedules = true, milestones = true }, where)
  local list, milestones = opts.schedules, opts.milestones
  if type(list) ~= "table" or #list == 0 then
    error(where .. ": schedules must be a list of schedules, got " .. type(list), 2)
  end
  for i, sched in ipairs(list) do
    if not is_schedule(sched) then
      error(("%s: schedules[%d] is not a schedule of epochs (ReduceLROnPlateau cannot be "
        .. "one)"):format(where, i), 2)
    end
    if sched.opt ~= opt then
      error(("%s: schedules[%d] was made on another optimizer"):format(where, i), 2)
    end
  end
  if type(milestones) ~= "table" or #milestones ~= #list - 1 then
    error(("%s: milestones must be a list of %d epochs (one fewer than the schedules), got %s")
      :format(where, #list - 1, type(milestones) == "table" and #milestones .. " entries"
      or type(milestones)), 2)
  end
  for i, m in ipairs(milestones) do
    args.integer(m, ("milestones[%d]"):format(i), where, i == 1 and 1 or milestones[i - 1] + 1)
  end
  local self = setmetatable({ opt = opt, schedules = list, milestones = milestones, epoch = 0 },
    Sequential)
  for _, sched in ipairs(list) do sched.epoch = 0 end
  list[1]:_apply()
  return self
end

-- The schedule in charge at epoch e, and whether e is the milestone that starts it.
function Sequential:_current(e)
  local k = 0
  for i, m in ipairs(self.milestones) do
    if m <= e then k = i end
  end
  return self.schedules[k + 1], k > 0 and self.milestones[k] == e
end

function Sequential:step()
  self.epoch = self.epoch + 1
  local sched, starts = self:_current(self.epoch)
  if starts then
    sched.epoch = 0
    sched:_apply()
  else
    sched:step()
  end
  return self.opt.lr
end

function Sequential:get_lr() return self.opt.lr end

-- {epoch = n, schedules = {each one's state}}.
function Sequential:state()
  local s = {}
  for i, sched in ipairs(self.schedules) do s[i] = sched:state() end
  return { epoch = self.epoch, schedules = s }
end

function Sequential:load_state(s)
  local where = "optim.SequentialLR.load_state"
  args.state_keys(s, { epoch = true, schedules = true }, where)
  args.state_integer(s.epoch, where, "epoch", 0)
  if type(s.schedules) ~= "table" or #s.schedules ~= #self.schedules then
    error(("%s: schedules expected %d states, got %s"):format(where, #self.schedules,
      type(s.schedules) == "table" and #s.schedules or type(s.schedules)), 2)
  end
  for i, sched in ipairs(self.schedules) do sched:load_state(s.schedules[i]) end
  self.epoch = s.epoch
  self:_current(self.epoch):_apply()     -- the lr (and momentum) of the one in charge
  return self
end

return optim
