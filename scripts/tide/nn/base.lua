-- tide.nn.base: the Module base class and the helpers every file of tide.nn shares.
local tide = require "tide"

local K = tide._internal.kernels
local nn = {}

-- ------------------------------------------------------------------ helpers

local args = require "tide.args"
local shape_str, check_opts = args.shape_str, args.check_opts

local function check_tensor(x, where, what)
  if not tide.is_tensor(x) then
    error(("%s: expected a tensor as %s, got %s"):format(where, what or "input", type(x)), 3)
  end
end

local function check_2d(x, where)
  check_tensor(x, where)
  if x:dim() ~= 2 then
    error(("%s: expected a 2-D input (batch x features), got %s"):format(where, shape_str(x)), 3)
  end
end

-- A 2-D buffer of rows x cols held in self[key], reallocated only when the shape or dtype
-- changes.
local function buffer2(self, key, rows, cols, dtype)
  local b = self[key]
  if b == nil or self[key .. "_rows"] ~= rows or self[key .. "_cols"] ~= cols
      or b:dtype() ~= dtype then
    b = tide.empty({ rows, cols }, dtype)
    self[key], self[key .. "_rows"], self[key .. "_cols"] = b, rows, cols
  end
  return b
end

-- A buffer shaped like x (any number of dims).
local function buffer_like(self, key, x)
  local b = self[key]
  if b == nil or b:dtype() ~= x:dtype() or shape_str(b) ~= shape_str(x) then
    b = tide.empty(x:shape(), x:dtype())
    self[key] = b
  end
  return b
end

-- Whether a tide.autograd.grad call is running. Modules then compute with the differentiable
-- tensor ops, into new tensors: their reused buffers would let a module applied twice in one
-- graph overwrite a value the tape saved from the first call, and their in-place kernels are
-- not on the tape at all. (The tape needs only tide, so requiring it here is no cycle.)
local autograd_tape = require "tide.autograd.tape"
local tracing = autograd_tape.is_active

local function want_input_grad(opts, where)
  return check_opts(opts, { input_grad = true }, where, 4).input_grad ~= false
end

-- ------------------------------------------------------------------ Module: the base class
--
-- A module with parameters lists their field names in self._params; the gradient of
-- self[name] is self["grad_" .. name]. Containers list children in self.modules.

local Module = {}
Module.__index = Module
nn.Module = Module

-- A new class inheriting from parent (Module by default), named for error messages.
function nn.class(name, parent)
  local cls = setmetatable({}, { __index = parent or Module })
  cls.__index = cls
  cls.__tostring = function(self) return self:describe("") end
  cls.__name = name
  return cls
end

function Module:describe() return self.__name end

function Module:forward(x) error(self.__name .. ": forward is not implemented", 2) end

function Module:backward(x, grad_out) error(self.__name .. ": backward is not implemented", 2) end

-- Every parameter, in a fixed order (children in order, then each module's _params in order),
-- and the gradient that goes with each: two lists of the same length.
function Module:parameters()
  local ps, gs = {}, {}
  self:_collect(ps, gs)
  return ps, gs
end

function Module:_collect(ps, gs)
  if self.modules then
    for _, m in ipairs(self.modules) do m:_collect(ps, gs) end
  end
  if self._grads_stale then self:_zero_own_grads() end
  for _, name in ipairs(self._params or {}) do
    ps[#ps + 1] = self[name]
    gs[#gs + 1] = self["grad_" .. name]
  end
end

-- Leaf modules that hold parameters, in forward order, for tide.ddp.
function Module:_leaves(out)
  out = out or {}
  if self.modules then
    for _, m in ipairs(self.modules) do m:_leaves(out) end
  end
  if self._params and #self._params > 0 then out[#out + 1] = self end
  return out
end

-- Called by a module with parameters once its backward has accumulated their gradients, so
-- tide.ddp can start reducing them while the backward pass goes on.
function Module:_grads_ready()
  local hook = self._grad_hook
  if hook then hook(self) end
end

-- Zeroes every gradient. Modules that can overwrite their gradients in the next backward
-- (Linear) only mark them, which saves a pass over memory per step; parameters() and
-- the next backward see zeros all the same, but a gradient tensor read directly between
-- zero_grad and backward still shows its old values.
function Module:zero_grad()
  for _, m in ipairs(self:_leaves()) do
    if m._lazy_zero then
      m._grads_stale = true
    else
      m:_zero_own_grads()
    end
  end
  return self
end

function Module:_zero_own_grads()
  for _, name in ipairs(self._params) do self["grad_" .. name]:zero_() end
  self._grads_stale = false
end

function Module:train()
  self.training = true
  for _, m in ipairs(self.modules or {}) do m:train() end
  return self
end

function Module:evaluate()
  self.training = false
  for _, m in ipairs(self.modules or {}) do m:evaluate() end
  return self
end

-- The number of parameter elements.
function Module:num_parameters()
  local n = 0
  local ps = self:parameters()
  for _, p in ipairs(ps) do n = n + p:numel() end
  return n
end

-- The state: name -> a copy of each parameter, and of each module's generator (Dropout's) as
-- g:state() gives it; names are dotted paths ("1.weight" is the weight of the first module of
-- a Sequential, "3.generator" the generator of its third). A fresh value: nothing in it
-- aliases the module. The training flag is not state (as in torch): call train/evaluate.
function Module:state()
  local entries, s = {}, {}
  self:_entries(entries, "")
  for k, e in pairs(entries) do s[k] = e.tensor and e.tensor:clone() or e.rng:state() end
  return s
end

function Module:_entries(out, prefix)
  for i, m in ipairs(self.modules or {}) do m:_entries(out, prefix .. i .. ".") end
  for _, name in ipairs(self._params or {}) do out[prefix .. name] = { tensor = self[name] } end
  for _, name in ipairs(self._buffers or {}) do out[prefix .. name] = { tensor = self[name] } end
  if self._rng then out[prefix .. "generator"] = { rng = self._rng } end
end

-- Loads a state (as m:state() returns) and returns the module. Every entry must be present
-- with its dtype and shape ("nn.Linear.load_state: weight expected f32[10x5], got
-- f64[5x10]"); an extra entry is an error. Everything is checked before anything changes.
function Module:load_state(s)
  local where = self.__name .. ".load_state"
  if type(s) ~= "table" then
    error(("%s: expected a table from module:state(), got %s"):format(where, type(s)), 2)
  end
  local mine, names = {}, {}
  self:_entries(mine, "")
  for k in pairs(s) do names[#names + 1] = tostring(k) end
  table.sort(names)
  for _, k in ipairs(names) do
    if not mine[k] then error(("%s: unexpected entry '%s'"):format(where, k), 2) end
  end
  local want = {}
  for k in pairs(mine) do want[#want + 1] = k end
  table.sort(want)
  for _, k in ipairs(want) do
    local e = mine[k]
    if e.tensor then
      args.state_tensor(s[k], e.tensor, where, k)
    else
      local probe = e.rng:clone()
      local ok, err = pcall(probe.load_state, probe, s[k])
      if not ok then
        error(("%s: %s: %s"):format(where, k, (tostring(err):gsub("^tide%.rng%.load_state: ", ""))),
          2)
      end
    end
  end
  for _, k in ipairs(want) do
    local e = mine[k]
    if e.tensor then e.tensor:copy_(s[k]) else e.rng:load_state(s[k]) end
  end
  return self
end

-- Converts the module's parameters (and drops its buffers) to dtype "f32" or "f64" in place,
-- and returns it; gradients are zeroed.
function Module:to_(dtype)
  if dtype ~= "f32" and dtype ~= "f64" then
    error(("%s.to_: expected \"f32\" or \"f64\", got %s"):format(self.__name, tostring(dtype)), 2)
  end
  for _, m in ipairs(self.modules or {}) do m:to_(dtype) end
  for _, name in ipairs(self._params or {}) do
    self[name] = self[name]:to(dtype)
    self["grad_" .. name] = tide.zeros(self[name]:shape(), dtype)
  end
  for _, name in ipairs(self._buffers or {}) do self[name] = self[name]:to(dtype) end
  self.dtype = dtype
  self:_reset_buffers()
  return self
end

-- module:to, the name before the mutation rule (it changes the module, so it ends in _).
function Module:to(dtype)
  args.deprecated("module:to", "module:to_")
  return self:to_(dtype)
end

function Module:_reset_buffers()
  self.output, self.grad_input, self._wt, self._out2d, self._gi2d = nil, nil, nil, nil, nil
end


-- model:eval(), PyTorch's name for evaluate().
function Module:eval() return self:evaluate() end

return { nn = nn, Module = Module, check_tensor = check_tensor, check_2d = check_2d,
  buffer2 = buffer2, buffer_like = buffer_like, want_input_grad = want_input_grad,
  tracing = tracing, no_grad = autograd_tape.no_grad }
