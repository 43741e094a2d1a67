-- tide.optim: optimizers that update parameters in place with one C kernel per tensor, and
-- learning-rate schedules.
--
--   local opt = optim.SGD(model, {lr = 0.1, momentum = 0.9})
--   ... model:zero_grad(); forward; backward ...
--   opt:step()
--   local sched = optim.StepLR(opt, {step_size = 5, gamma = 0.1}); sched:step() -- per epoch
--
-- The first argument is anything with a :parameters() method returning (params, grads), read
-- again at every step (so an optimizer made before tide.ddp.wrap still sees the gradient
-- buckets), or a table {params, grads} of two lists. The update rules are torch.optim's.
local tide = require "tide"

local K = tide._internal.kernels
local optim = {}

local args = require "tide.args"
local check_opts, number = args.check_opts, args.number

local function param_source(model, where)
  if type(model) == "table" and type(model.parameters) == "function" then
    return function() return model:parameters() end
  end
  if type(model) == "table" and type(model[1]) == "table" and type(model[2]) == "table" then
    local ps, gs = model[1], model[2]
    if #ps ~= #gs then
      error(("%s: %d parameters but %d gradients"):format(where, #ps, #gs), 3)
    end
    return function() return ps, gs end
  end
  error(("%s: expected a module (with :parameters()) or {params, grads}, got %s"):format(where,
    type(model)), 3)
end

-- An optimizer class: its methods look themselves up in it; its name is in error messages.
local function class(name)
  local c = { __name = name }
  c.__index = c
  return c
end

-- ------------------------------------------------------------------ state
--
-- opt:state() is {step_count = n, lr = x, <buffers>} with copies of the per-parameter tensors
-- (SGD's momentum buffers; Adam's m and v), listed by parameter position; opt:load_state(s)
-- checks every field against the parameters it updates, then takes them, and returns opt.

local function copy_list(list)
  local out = {}
  for i, b in pairs(list) do out[i] = b:clone() end
  return out
end

-- Checks list (state field `field`) holds, at parameter positions only, tensors shaped as the
-- parameters.
local function check_list(list, ps, where, field)
  if type(list) ~= "table" then
    error(("%s: %s expected a table of tensors, got %s"):format(where, field, type(list)), 3)
  end
  for i, b in pairs(list) do
    if math.type(i) ~= "integer" or ps[i] == nil then
      error(("%s: %s has an entry at %s, but the optimizer has %d parameters"):format(where,
        field, tostring(i), #ps), 3)
    end
    args.state_tensor(b, ps[i], where, ("%s[%d]"):format(field, i), 4)
  end
end

local function check_common(self, s, known, where)
  args.state_keys(s, known, where, 4)
  args.state_integer(s.step_count, where, "step_count", 0, 4)
  number(s.lr, "lr", where, nil, ">= 0", 4)
  return (self._params())
end

-- ------------------------------------------------------------------ SGD

local SGD = class("optim.SGD")

-- SGD(model, {lr, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false})
function optim.SGD(model, opts)
  local where = "optim.SGD"
  opts = check_opts(opts, { lr = true, momentum = true, dampening = true, weight_decay = true,
    nesterov = true }, where)
  local self = setmetatable({
    lr = number(opts.lr, "lr", where),
    momentum = number(opts.momentum, "momentum", where, 0),
    dampening = number(opts.dampening, "dampening", where, 0),
    weight_decay = number(opts.weight_decay, "weight_decay", where, 0),
    nesterov = args.boolean(opts.nesterov, "nesterov", where, false),
    buffers = {},
    step_count = 0,
    _params = param_source(model, where),
  }, SGD)
  if self.nesterov and (self.momentum <= 0 or self.dampening ~= 0) then
    error("optim.SGD: nesterov needs momentum > 0 and dampening 0", 2)
  end
  return self
end

-- One update of every parameter from its gradient. The optimizer itself is the kernel's
-- configuration table (lr, momentum, dampening, weight_decay, nesterov), so a schedule that
-- changes opt.lr takes effect at the next step.
function SGD:step()
  number(self.lr, "lr", "optim.SGD")   -- a schedule or the caller may have set it
  local ps, gs = self._params()
  local bufs, first = self.buffers, self.step_count == 0
  for i = 1, #ps do
    local p = ps[i]
    local buf = nil
    if self.momentum ~= 0 then
      buf = bufs[i]
      if buf == nil then
        buf = tide.zeros(p:shape(), p:dtype())
        bufs[i] = buf
      end
    end
    K.sgd_step(p, gs[i], buf, self, first)
  end
  self.step_count = self.step_count + 1
end

function SGD:state()
  return { step_count = self.step_count, lr = self.lr, buffers = copy_list(self.buffers) }
end

local SGD_STATE = { step_count = true, lr = true, buffers = true }

function SGD:load_state(s)
  local where = "optim.SGD.load_state"
  local ps = check_common(self, s, SGD_STATE, where)
  check_list(s.buffers, ps, where, "buffers")
  self.step_count, self.lr, self.buffers = s.step_count, s.lr, copy_list(s.buffers)
  return self
end

function SGD:__tostring()
  return ("optim.SGD(lr=%g, momentum=%g, dampening=%g, weight_decay=%g, nesterov=%s)"):format(
    self.lr, self.momentum, self.dampening, self.weight_decay, tostring(self.nesterov))
end

-- ------------------------------------------------------------------ Adam

local Adam = class("optim.Adam")

-- Adam(model, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0,
--              decoupled = false})  -- decoupled = true is AdamW
function optim.Adam(model, opts)
  local where = "optim.Adam"
  opts = check_opts(opts, { lr = true, betas = true, eps = true, weight_decay = true,
    decoupled = true }, where)
  local betas = opts.betas or { 0.9, 0.999 }
  local function beta(b) return type(b) == "number" and b >= 0 and b < 1 end   -- not NaN
  if type(betas) ~= "table" or not beta(betas[1]) or not beta(betas[2]) then
    error("optim.Adam: betas must be two numbers in [0, 1), as {0.9, 0.999}", 2)
  end
  return setmetatable({
    lr = number(opts.lr, "lr", where, 1e-3),
    beta1 = betas[1],
    beta2 = betas[2],
    eps = number(opts.eps, "eps", where, 1e-8),
    weight_decay = number(opts.weight_decay, "weight_decay", where, 0),
    decoupled = args.boolean(opts.decoupled, "decoupled", where, false),
    m = {}, v = {},
    step_count = 0,
    _params = param_source(model, where),
  }, Adam)
end

function Adam:step()
  number(self.lr, "lr", "optim.Adam")
  local ps, gs = self._params()
  local t = self.step_count + 1
  for i = 1, #ps do
    local p = ps[i]
    local m, v = self.m[i], self.v[i]
    if m == nil then
      m, v = tide.zeros(p:shape(), p:dtype()), tide.zeros(p:shape(), p:dtype())
      self.m[i], self.v[i] = m, v
    end
    K.adam_step(p, gs[i], m, v, self, t)
  end
  self.step_count = t
end

function Adam:state()
  return { step_count = self.step_count, lr = self.lr, m = copy_list(self.m),
    v = copy_list(self.v) }
end

local ADAM_STATE = { step_count = true, lr = true, m = true, v = true }

function Adam:load_state(s)
  local where = "optim.Adam.load_state"
  local ps = check_common(self, s, ADAM_STATE, where)
  check_list(s.m, ps, where, "m")
  check_list(s.v, ps, where, "v")
  for i in pairs(s.m) do
    if s.v[i] == nil then
      error(("%s: m[%d] has no v[%d] beside it"):format(where, i, i), 2)
    end
  end
  for i in pairs(s.v) do
    if s.m[i] == nil then
      error(("%s: v[%d] has no m[%d] beside it"):format(where, i, i), 2)
    end
  end
  self.step_count, self.lr, self.m, self.v = s.step_count, s.lr, copy_list(s.m), copy_list(s.v)
  return self
end

function Adam:__tostring()
  return ("optim.Adam(lr=%g, betas={%g, %g}, eps=%g, weight_decay=%g%s)"):format(self.lr,
    self.beta1, self.beta2, self.eps, self.weight_decay, self.decoupled and ", decoupled" or "")
end

-- ------------------------------------------------------------------ schedules
--
-- A schedule owns opt.lr: sched:step() advances one epoch (or whatever unit you call it at)
-- and sets opt.lr; sched:get_lr() is the current value.

local Schedule = {}
Schedule.__index = Schedule

-- sched:step() advances one epoch and sets opt.lr to the schedule's value for it.
function Schedule:step()
  self.epoch = self.epoch + 1
  self.opt.lr = self:get_lr()
  return self.opt.lr
end

-- sched:state() is {epoch = n, base_lr = x}; the optimizer's state holds the lr it set.
function Schedule:state()
  return { epoch = self.epoch, base_lr = self.base_lr }
end

function Schedule:load_state(s)
  local where = self.__name .. ".load_state"
  args.state_keys(s, { epoch = true, base_lr = true }, where)
  args.state_integer(s.epoch, where, "epoch", 0)
  number(s.base_lr, "base_lr", where)
  self.epoch, self.base_lr = s.epoch, s.base_lr
  return self
end

-- Defines optim[name](opt, opts), a schedule whose options are checked by checks[key](value,
-- where) (in key order; errors name the constructor's caller) and whose lr is get_lr(self).
local function define(name, checks, get_lr)
  local where, known, keys = "optim." .. name, {}, {}
  local class = setmetatable({ get_lr = get_lr, __name = where }, Schedule)
  class.__index = class
  for k in pairs(checks) do known[k], keys[#keys + 1] = true, k end
  table.sort(keys)
  optim[name] = function(opt, opts)
    if type(opt) ~= "table" or type(opt.lr) ~= "number" or type(opt.step) ~= "function" then
      error(where .. ": expected an optimizer (optim.SGD or optim.Adam)", 2)
    end
    opts = check_opts(opts, known, where)
    local self = setmetatable({ opt = opt, base_lr = opt.lr, epoch = 0 }, class)
    for _, k in ipairs(keys) do self[k] = checks[k](opts[k], where) end
    return self
  end
end

local function count(key)
  return function(v, where)
    local n = args.integer(v, key, where, 1, nil, 4)
    return n
  end
end

local function rate(key, default)
  return function(v, where)
    local x = number(v, key, where, default, ">= 0", 4)
    return x
  end
end

-- StepLR(opt, {step_size, gamma = 0.1}): lr = base_lr * gamma^floor(epoch / step_size).
define("StepLR", { step_size = count("step_size"), gamma = rate("gamma", 0.1) }, function(self)
  return self.base_lr * self.gamma ^ (self.epoch // self.step_size)
end)

-- CosineAnnealingLR(opt, {t_max, eta_min = 0}):
-- lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2, held at eta_min after
-- t_max.
define("CosineAnnealingLR", { t_max = count("t_max"), eta_min = rate("eta_min", 0) },
  function(self)
    local e = math.min(self.epoch, self.t_max)
    return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * e / self.t_max))
      / 2
  end)

return optim
