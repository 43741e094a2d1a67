-- tide.optim.plateau: ReduceLROnPlateau, the schedule that follows a metric: it divides the
-- learning rate when the metric (a validation loss, an accuracy) has stopped improving.
--
--   local sched = optim.ReduceLROnPlateau(opt, {mode = "min", factor = 0.5, patience = 2})
--   for epoch = 1, 20 do train(); sched:step(validation_loss()) end
local base = require "tide.optim.base"
local args = require "tide.args"

local optim = base.optim
local number = args.number

local Plateau = base.class("optim.ReduceLROnPlateau")

-- ReduceLROnPlateau(opt, {mode = "min", factor = 0.1, patience = 10, threshold = 1e-4,
--   threshold_mode = "rel", cooldown = 0, min_lr = 0, eps = 1e-8}), as torch's: a metric
-- improves on the best so far when it is below best * (1 - threshold) ("rel") or best -
-- threshold ("abs") in mode "min" (above best * (1 + threshold) or best + threshold in "max").
-- After more than patience epochs without improvement the lr becomes max(lr * factor, min_lr)
-- (unless that changes it by eps or less), and the count pauses for cooldown epochs.
function optim.ReduceLROnPlateau(opt, opts, ...)
  args.at_most("optim.ReduceLROnPlateau", 2, ...)
  local where = "optim.ReduceLROnPlateau"
  if type(opt) ~= "table" or type(opt.lr) ~= "number" or type(opt.step) ~= "function" then
    error(where .. ": expected an optimizer (optim.SGD, Adam, RMSprop or Adagrad)", 2)
  end
  opts = args.check_opts(opts, { mode = true, factor = true, patience = true, threshold = true,
    threshold_mode = true, cooldown = true, min_lr = true, eps = true }, where)
  local self = setmetatable({
    opt = opt,
    mode = args.one_of(opts.mode, "mode", where, { "min", "max" }, "min"),
    factor = number(opts.factor, "factor", where, 0.1, "in [0, 1)"),
    patience = args.integer(opts.patience, "patience", where, 0, 10),
    threshold = number(opts.threshold, "threshold", where, 1e-4),
    threshold_mode = args.one_of(opts.threshold_mode, "threshold_mode", where, { "rel", "abs" },
      "rel"),
    cooldown = args.integer(opts.cooldown, "cooldown", where, 0, 0),
    min_lr = number(opts.min_lr, "min_lr", where, 0),
    eps = number(opts.eps, "eps", where, 1e-8),
  }, Plateau)
  self:_reset()
  return self
end

function Plateau:_reset()
  self.best = self.mode == "min" and math.huge or -math.huge
  self.num_bad_epochs, self.cooldown_counter, self.epoch = 0, 0, 0
end

function Plateau:_is_better(x)
  local best, th = self.best, self.threshold
  if self.mode == "min" then
    return x < (self.threshold_mode == "rel" and best * (1 - th) or best - th)
  end
  return x > (self.threshold_mode == "rel" and best * (1 + th) or best + th)
end

-- sched:step(metric) counts one epoch with that value of the metric and returns the lr.
function Plateau:step(metric)
  number(metric, "metric", "optim.ReduceLROnPlateau.step", nil, "any")
  self.epoch = self.epoch + 1
  if self:_is_better(metric) then
    self.best, self.num_bad_epochs = metric, 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0   -- epochs in cooldown do not count against the patience
  end
  if self.num_bad_epochs > self.patience then
    local old = self.opt.lr
    local new = math.max(old * self.factor, self.min_lr)
    if old - new > self.eps then self.opt.lr = new end
    self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
  end
  return self.opt.lr
end

function Plateau:get_lr() return self.opt.lr end

-- sched:state() is {epoch, best, num_bad_epochs, cooldown_counter}; the optimizer's state
-- holds the lr. best is +-math.huge before the first step (tide.save keeps infinities).
function Plateau:state()
  return { epoch = self.epoch, best = self.best, num_bad_epochs = self.num_bad_epochs,
    cooldown_counter = self.cooldown_counter }
end

local PLATEAU_STATE = { epoch = true, best = true, num_bad_epochs = true,
  cooldown_counter = true }

function Plateau:load_state(s)
  local where = "optim.ReduceLROnPlateau.load_state"
  args.state_keys(s, PLATEAU_STATE, where)
  for _, field in ipairs { "epoch", "num_bad_epochs", "cooldown_counter" } do
    args.state_integer(s[field], where, field, 0)
  end
  number(s.best, "best", where, nil, "any")
  self.epoch, self.best = s.epoch, s.best
  self.num_bad_epochs, self.cooldown_counter = s.num_bad_epochs, s.cooldown_counter
  return self
end

function Plateau:__tostring()
  return ("optim.ReduceLROnPlateau(mode=%s, factor=%g, patience=%d, threshold=%g %s, "
    .. "cooldown=%d, min_lr=%g)"):format(self.mode, self.factor, self.patience, self.threshold,
    self.threshold_mode, self.cooldown, self.min_lr)
end

return optim
