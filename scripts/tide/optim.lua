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

local check_opts = require("tide.args").check_opts

local function number_opt(opts, key, default, where, min)
  local v = opts[key]
  if v == nil then v = default end
  if type(v) ~= "number" then
    error(("%s: %s must be a number, got %s"):format(where, key, type(v)), 3)
  end
  if v ~= v or (min and v < min) then
    error(("%s: %s must be at least %g, got %g"):format(where, key, min or 0, v), 3)
  end
  return v
end

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

-- ------------------------------------------------------------------ SGD

local SGD = {}
SGD.__index = SGD
SGD.__name = "optim.SGD"

-- SGD(model, {lr, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false})
function optim.SGD(model, opts)
  local where = "optim.SGD"
  opts = check_opts(opts, { lr = true, momentum = true, dampening = true, weight_decay = true,
    nesterov = true }, where)
  if opts.lr == nil then error("optim.SGD: lr is required", 2) end
  local self = setmetatable({
    lr = number_opt(opts, "lr", nil, where, 0),
    momentum = number_opt(opts, "momentum", 0, where, 0),
    dampening = number_opt(opts, "dampening", 0, where, 0),
    weight_decay = number_opt(opts, "weight_decay", 0, where, 0),
    nesterov = opts.nesterov == true,
    buffers = {},
    step_count = 0,
    _params = param_source(model, where),
  }, SGD)
  if opts.nesterov ~= nil and type(opts.nesterov) ~= "boolean" then
    error("optim.SGD: nesterov must be a boolean, got " .. type(opts.nesterov), 2)
  end
  if self.nesterov and (self.momentum <= 0 or self.dampening ~= 0) then
    error("optim.SGD: nesterov needs momentum > 0 and dampening 0", 2)
  end
  return self
end

-- One update of every parameter from its gradient. The optimizer itself is the kernel's
-- configuration table (lr, momentum, dampening, weight_decay, nesterov), so a schedule that
-- changes opt.lr takes effect at the next step.
function SGD:step()
  local lr = self.lr
  if type(lr) ~= "number" then
    error("optim.SGD: lr must be a number, got " .. type(lr), 2)
  end
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
  local s = { step_count = self.step_count, lr = self.lr, buffers = {} }
  for i, b in pairs(self.buffers) do s.buffers[i] = b:clone() end
  return s
end

function SGD:load_state(s)
  if type(s) ~= "table" or math.type(s.step_count) ~= "integer" then
    error("optim.SGD.load_state: expected a table from opt:state()", 2)
  end
  self.step_count, self.lr = s.step_count, s.lr or self.lr
  self.buffers = {}
  for i, b in pairs(s.buffers or {}) do self.buffers[i] = b:clone() end
  return self
end

function SGD:__tostring()
  return ("optim.SGD(lr=%g, momentum=%g, dampening=%g, weight_decay=%g, nesterov=%s)"):format(
    self.lr, self.momentum, self.dampening, self.weight_decay, tostring(self.nesterov))
end

-- ------------------------------------------------------------------ Adam

local Adam = {}
Adam.__index = Adam
Adam.__name = "optim.Adam"

-- Adam(model, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0,
--              decoupled = false})  -- decoupled = true is AdamW
function optim.Adam(model, opts)
  local where = "optim.Adam"
  opts = check_opts(opts, { lr = true, betas = true, eps = true, weight_decay = true,
    decoupled = true }, where)
  local betas = opts.betas or { 0.9, 0.999 }
  if type(betas) ~= "table" or type(betas[1]) ~= "number" or type(betas[2]) ~= "number"
      or betas[1] < 0 or betas[1] >= 1 or betas[2] < 0 or betas[2] >= 1 then
    error("optim.Adam: betas must be two numbers in [0, 1), as {0.9, 0.999}", 2)
  end
  return setmetatable({
    lr = number_opt(opts, "lr", 1e-3, where, 0),
    beta1 = betas[1],
    beta2 = betas[2],
    eps = number_opt(opts, "eps", 1e-8, where, 0),
    weight_decay = number_opt(opts, "weight_decay", 0, where, 0),
    decoupled = opts.decoupled == true,
    m = {}, v = {},
    step_count = 0,
    _params = param_source(model, where),
  }, Adam)
end

function Adam:step()
  if type(self.lr) ~= "number" then
    error("optim.Adam: lr must be a number, got " .. type(self.lr), 2)
  end
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
  local s = { step_count = self.step_count, lr = self.lr, m = {}, v = {} }
  for i, b in pairs(self.m) do s.m[i], s.v[i] = b:clone(), self.v[i]:clone() end
  return s
end

function Adam:load_state(s)
  if type(s) ~= "table" or math.type(s.step_count) ~= "integer" then
    error("optim.Adam.load_state: expected a table from opt:state()", 2)
  end
  self.step_count, self.lr = s.step_count, s.lr or self.lr
  self.m, self.v = {}, {}
  for i, b in pairs(s.m or {}) do self.m[i], self.v[i] = b:clone(), s.v[i]:clone() end
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

local function check_optimizer(opt, where)
  if type(opt) ~= "table" or type(opt.lr) ~= "number" or type(opt.step) ~= "function" then
    error(where .. ": expected an optimizer (optim.SGD or optim.Adam)", 3)
  end
end

local StepLR = {}
StepLR.__index = StepLR

-- StepLR(opt, {step_size, gamma = 0.1}): lr = base_lr * gamma^floor(epoch / step_size).
function optim.StepLR(opt, opts)
  local where = "optim.StepLR"
  check_optimizer(opt, where)
  opts = check_opts(opts, { step_size = true, gamma = true }, where)
  local step_size = opts.step_size
  if math.type(step_size) ~= "integer" or step_size < 1 then
    error("optim.StepLR: step_size must be a positive integer, got " .. tostring(step_size), 2)
  end
  return setmetatable({ opt = opt, base_lr = opt.lr, epoch = 0, step_size = step_size,
    gamma = number_opt(opts, "gamma", 0.1, where, 0) }, StepLR)
end

function StepLR:get_lr()
  return self.base_lr * self.gamma ^ (self.epoch // self.step_size)
end

function StepLR:step()
  self.epoch = self.epoch + 1
  self.opt.lr = self:get_lr()
  return self.opt.lr
end

local Cosine = {}
Cosine.__index = Cosine

-- CosineAnnealingLR(opt, {t_max, eta_min = 0}):
-- lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2, held at eta_min after
-- t_max.
function optim.CosineAnnealingLR(opt, opts)
  local where = "optim.CosineAnnealingLR"
  check_optimizer(opt, where)
  opts = check_opts(opts, { t_max = true, eta_min = true }, where)
  local t_max = opts.t_max
  if math.type(t_max) ~= "integer" or t_max < 1 then
    error("optim.CosineAnnealingLR: t_max must be a positive integer, got " .. tostring(t_max), 2)
  end
  return setmetatable({ opt = opt, base_lr = opt.lr, epoch = 0, t_max = t_max,
    eta_min = number_opt(opts, "eta_min", 0, where, 0) }, Cosine)
end

function Cosine:get_lr()
  local e = math.min(self.epoch, self.t_max)
  return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * e / self.t_max)) / 2
end

Cosine.step = StepLR.step

return optim
