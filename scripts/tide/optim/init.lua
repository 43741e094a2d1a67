-- tide.optim: optimizers that update parameters in place with one C kernel per tensor,
-- gradient clipping, and learning-rate schedules.
--
--   local opt = optim.SGD(model, {lr = 0.1, momentum = 0.9})
--   ... model:zero_grad(); forward; backward ...
--   optim.clip_grad_norm(model, 1.0)                -- optional
--   opt:step()
--   local sched = optim.StepLR(opt, {step_size = 5, gamma = 0.1}); sched:step() -- per epoch
--
-- The first argument is anything with a :parameters() method returning (params, grads), read
-- again at every step (so an optimizer made before tide.ddp.wrap still sees the gradient
-- buckets), or a table {params, grads} of two lists. The update rules are torch.optim's.
--
-- This file holds SGD and Adam; RMSprop and Adagrad are in optim/adaptive.lua, clipping in
-- optim/clip.lua, the schedules in optim/schedule.lua and optim/plateau.lua.
local tide = require "tide"
local base = require "tide.optim.base"

local K = tide._internal.kernels
local optim = base.optim

local args = require "tide.args"
local check_opts, number = args.check_opts, args.number
local param_source, class, copy_list, check_list, check_common = base.param_source, base.class,
  base.copy_list, base.check_list, base.check_common

-- ------------------------------------------------------------------ SGD

local SGD = class("optim.SGD")

-- SGD(model, {lr, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false})
function optim.SGD(model, opts, ...)
  args.at_most("optim.SGD", 2, ...)
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
  local bufs = self.buffers
  for i = 1, #ps do
    local p = ps[i]
    -- a new buffer starts as the gradient, as torch's (also when a schedule such as
    -- OneCycleLR turns the momentum on after the first step)
    local buf, fresh = nil, false
    if self.momentum ~= 0 then
      buf = bufs[i]
      if buf == nil then
        buf, fresh = tide.zeros(p:shape(), p:dtype()), true
        bufs[i] = buf
      end
    end
    K.sgd_step(p, gs[i], buf, self, fresh)
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
function optim.Adam(model, opts, ...)
  args.at_most("optim.Adam", 2, ...)
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
  base.check_paired(s, where, "m", "v")
  base.check_paired(s, where, "v", "m")
  self.step_count, self.lr, self.m, self.v = s.step_count, s.lr, copy_list(s.m), copy_list(s.v)
  return self
end

function Adam:__tostring()
  return ("optim.Adam(lr=%g, betas={%g, %g}, eps=%g, weight_decay=%g%s)"):format(self.lr,
    self.beta1, self.beta2, self.eps, self.weight_decay, self.decoupled and ", decoupled" or "")
end

require "tide.optim.adaptive"
require "tide.optim.clip"
require "tide.optim.schedule"
require "tide.optim.plateau"

return optim
