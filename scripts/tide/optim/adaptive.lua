-- tide.optim.adaptive: RMSprop and Adagrad, the optimizers that scale each coordinate's step by
-- its own history of squared gradients (torch.optim's update rules, one C kernel per tensor).
local tide = require "tide"
local base = require "tide.optim.base"
local args = require "tide.args"

local K = tide._internal.kernels
local optim = base.optim
local check_opts, number = args.check_opts, args.number
local copy_list, check_list = base.copy_list, base.check_list

-- The state tensors of parameter i: list[i], made by make(p) on the first step.
local function buffer(list, i, p, make)
  local b = list[i]
  if b == nil then
    b = make(p)
    list[i] = b
  end
  return b
end

local function zeros_like(p) return tide.zeros(p:shape(), p:dtype()) end

-- ------------------------------------------------------------------ RMSprop

local RMSprop = base.class("optim.RMSprop")

-- RMSprop(model, {lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0,
--                 centered = false}): divides the gradient by the root of a running mean of
-- its square (alpha is that mean's decay); centered subtracts the square of the gradient's
-- running mean first (its variance); momentum > 0 keeps a buffer of the scaled steps.
function optim.RMSprop(model, opts, ...)
  args.at_most("optim.RMSprop", 2, ...)
  local where = "optim.RMSprop"
  opts = check_opts(opts, { lr = true, alpha = true, eps = true, weight_decay = true,
    momentum = true, centered = true }, where)
  return setmetatable({
    lr = number(opts.lr, "lr", where, 1e-2),
    alpha = number(opts.alpha, "alpha", where, 0.99, "in [0, 1]"),
    eps = number(opts.eps, "eps", where, 1e-8),
    weight_decay = number(opts.weight_decay, "weight_decay", where, 0),
    momentum = number(opts.momentum, "momentum", where, 0),
    centered = args.boolean(opts.centered, "centered", where, false),
    square_avg = {}, grad_avg = {}, buffers = {},
    step_count = 0,
    _params = base.param_source(model, where),
  }, RMSprop)
end

function RMSprop:step()
  number(self.lr, "lr", "optim.RMSprop")   -- a schedule or the caller may have set it
  number(self.momentum, "momentum", "optim.RMSprop")   -- OneCycleLR may cycle it
  local ps, gs = self._params()
  for i = 1, #ps do
    local p = ps[i]
    local sq = buffer(self.square_avg, i, p, zeros_like)
    local ga = self.centered and buffer(self.grad_avg, i, p, zeros_like) or nil
    local buf = self.momentum > 0 and buffer(self.buffers, i, p, zeros_like) or nil
    K.rmsprop_step(p, gs[i], sq, ga, buf, self)
  end
  self.step_count = self.step_count + 1
end

function RMSprop:state()
  return { step_count = self.step_count, lr = self.lr, square_avg = copy_list(self.square_avg),
    grad_avg = copy_list(self.grad_avg), buffers = copy_list(self.buffers) }
end

local RMSPROP_STATE = { step_count = true, lr = true, square_avg = true, grad_avg = true,
  buffers = true }

function RMSprop:load_state(s)
  local where = "optim.RMSprop.load_state"
  local ps = base.check_common(self, s, RMSPROP_STATE, where)
  for _, field in ipairs { "square_avg", "grad_avg", "buffers" } do
    check_list(s[field], ps, where, field)
  end
  -- a running mean of the gradient is only ever made beside one of its square
  base.check_paired(s, where, "grad_avg", "square_avg")
  self.step_count, self.lr = s.step_count, s.lr
  self.square_avg, self.grad_avg = copy_list(s.square_avg), copy_list(s.grad_avg)
  self.buffers = copy_list(s.buffers)
  return self
end

function RMSprop:__tostring()
  return ("optim.RMSprop(lr=%g, alpha=%g, eps=%g, weight_decay=%g, momentum=%g%s)"):format(
    self.lr, self.alpha, self.eps, self.weight_decay, self.momentum,
    self.centered and ", centered" or "")
end

-- ------------------------------------------------------------------ Adagrad

local Adagrad = base.class("optim.Adagrad")

-- Adagrad(model, {lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0,
--                 eps = 1e-10}): divides the gradient by the root of the sum of its squares
-- (which starts at initial_accumulator_value); the rate at step t is
-- lr / (1 + (t - 1) * lr_decay).
function optim.Adagrad(model, opts, ...)
  args.at_most("optim.Adagrad", 2, ...)
  local where = "optim.Adagrad"
  opts = check_opts(opts, { lr = true, lr_decay = true, weight_decay = true,
    initial_accumulator_value = true, eps = true }, where)
  return setmetatable({
    lr = number(opts.lr, "lr", where, 1e-2),
    lr_decay = number(opts.lr_decay, "lr_decay", where, 0),
    weight_decay = number(opts.weight_decay, "weight_decay", where, 0),
    initial_accumulator_value = number(opts.initial_accumulator_value,
      "initial_accumulator_value", where, 0),
    eps = number(opts.eps, "eps", where, 1e-10),
    sums = {},
    step_count = 0,
    _params = base.param_source(model, where),
  }, Adagrad)
end

function Adagrad:step()
  number(self.lr, "lr", "optim.Adagrad")
  local ps, gs = self._params()
  local t = self.step_count + 1
  local init = self.initial_accumulator_value
  for i = 1, #ps do
    local sum = buffer(self.sums, i, ps[i], function(p) return tide.full(p:shape(), init,
      p:dtype()) end)
    K.adagrad_step(ps[i], gs[i], sum, self, t)
  end
  self.step_count = t
end

function Adagrad:state()
  return { step_count = self.step_count, lr = self.lr, sums = copy_list(self.sums) }
end

local ADAGRAD_STATE = { step_count = true, lr = true, sums = true }

function Adagrad:load_state(s)
  local where = "optim.Adagrad.load_state"
  local ps = base.check_common(self, s, ADAGRAD_STATE, where)
  check_list(s.sums, ps, where, "sums")
  self.step_count, self.lr, self.sums = s.step_count, s.lr, copy_list(s.sums)
  return self
end

function Adagrad:__tostring()
  return ("optim.Adagrad(lr=%g, lr_decay=%g, weight_decay=%g, initial_accumulator_value=%g, "
    .. "eps=%g)"):format(self.lr, self.lr_decay, self.weight_decay,
    self.initial_accumulator_value, self.eps)
end

return optim
