-- tide.autograd.module{forward = fn, params = {...}}: an nn module whose backward is the
-- tape's. fn(p, x, ...) computes the output from the parameters p (a tensor or a nested
-- table, as given) and the input x with ordinary tensor code.
--
--   local lin = tide.autograd.module{
--     params = { W = tide.randn({ 10, 784 }) * 0.01, b = tide.zeros({ 10 }) },
--     forward = function(p, x) return tide.autograd.addmm(p.b, x, p.W:t()) end,
--   }
--   local y = lin:forward(x); lin:zero_grad(); local gx = lin:backward(x, gy)
--
-- It is an nn.Module: parameters(), zero_grad(), state()/load_state(), to_(), train() and
-- evaluate() behave as nn's, and it can sit in an nn.Sequential or under tide.ddp. Parameter
-- names are the dotted paths in params ("layers.1.W"). In training mode forward records the
-- tape that backward walks (backward must get the input forward saw); in evaluation mode
-- forward records nothing.
local tide = require "tide"
local nn = require "tide.nn"
local args = require "tide.args"
local tape = require "tide.autograd.tape"

local M = {}

local FnModule = nn.class("tide.autograd.module")

local function flatten(p, path, names, paths, where)
  if tide.is_tensor(p) then
    if p:dtype() ~= "f32" and p:dtype() ~= "f64" then
      error(("%s: parameter %s must be an f32 or f64 tensor, got %s"):format(where,
        path == "" and "params" or path, p:dtype()), 4)
    end
    names[#names + 1] = path == "" and "params" or path
    return
  end
  if type(p) ~= "table" then
    error(("%s: params must be a tensor or a table of tensors, got %s at %s"):format(where,
      type(p), path == "" and "params" or path), 4)
  end
  local keys = {}
  for k in pairs(p) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  for _, k in ipairs(keys) do
    local sub = path == "" and tostring(k) or path .. "." .. tostring(k)
    local before = #names
    flatten(p[k], sub, names, paths, where)
    for i = before + 1, #names do
      paths[names[i]] = paths[names[i]] or {}
      table.insert(paths[names[i]], 1, k)
    end
  end
end

function M.new(spec, ag)
  local where = "tide.autograd.module"
  if type(spec) ~= "table" then
    error(("%s: expected a table {forward = fn, params = ...}, got %s"):format(where,
      type(spec)), 3)
  end
  args.check_opts(spec, { forward = true, params = true, name = true }, where, 3)
  if type(spec.forward) ~= "function" then
    error(("%s: forward must be a function, got %s"):format(where, type(spec.forward)), 3)
  end
  local names, paths = {}, {}
  flatten(spec.params or {}, "", names, paths, where)
  local self = setmetatable({ training = true, _fn = spec.forward, _params = names,
    _paths = paths, _single = tide.is_tensor(spec.params), _label = spec.name, _ag = ag },
    FnModule)
  for _, name in ipairs(names) do
    if FnModule[name] ~= nil or name:sub(1, 5) == "grad_" or name:sub(1, 1) == "_" then
      error(("%s: parameter name '%s' clashes with the module's own fields"):format(where,
        name), 3)
    end
    local p = spec.params
    for _, k in ipairs(paths[name] or {}) do p = p[k] end
    self[name] = p
    self["grad_" .. name] = tide.zeros(p:shape(), p:dtype())
  end
  return self
end

function FnModule:describe()
  return ("tide.autograd.module(%s)"):format(self._label or table.concat(self._params, ", "))
end

-- The parameters in the shape fn takes, built from the fields (to_ and load_state change them).
function FnModule:_tree()
  if self._single then return self[self._params[1]] end
  local root = {}
  for _, name in ipairs(self._params) do
    local path, node = self._paths[name], root
    for i = 1, #path - 1 do
      node[path[i]] = node[path[i]] or {}
      node = node[path[i]]
    end
    node[path[#path]] = self[name]
  end
  return root
end

function FnModule:forward(x, ...)
  local p = self:_tree()
  if not self.training then
    self._tape, self._x = nil, nil
    self.output = self._fn(p, x, ...)
    return self.output
  end
  local leaves = {}
  for _, name in ipairs(self._params) do leaves[#leaves + 1] = self[name] end
  if tide.is_tensor(x) and (x:dtype() == "f32" or x:dtype() == "f64") then
    leaves[#leaves + 1] = x
  end
  local t, res = tape.run(leaves, self._fn, p, x, ...)
  self._tape, self._x, self.output = t, x, res[1]
  return res[1]
end

-- Accumulates the parameters' gradients and returns the input's ({input_grad = false}: nil).
function FnModule:backward(x, grad_out, opts)
  local name = self.__name .. ".backward"
  opts = args.check_opts(opts, { input_grad = true }, name, 3)
  if self._tape == nil or self._x ~= x then
    error(name .. ": call forward (in training mode) with this input first", 2)
  end
  local out = self.output
  if tide.is_tensor(grad_out) ~= tide.is_tensor(out) or (tide.is_tensor(out)
      and args.shape_str(grad_out) ~= args.shape_str(out)) then
    error(("%s: expected grad_out shaped like the output (%s), got %s"):format(name,
      tide.is_tensor(out) and args.shape_str(out) or type(out),
      tide.is_tensor(grad_out) and args.shape_str(grad_out) or type(grad_out)), 2)
  end
  local grads = {}
  if tape.is_tracked_in(self._tape, out) then grads = tape.backward(self._tape, out, grad_out) end
  for _, pname in ipairs(self._params) do
    local g = grads[self[pname]]
    if g ~= nil then self["grad_" .. pname]:add_(g) end
  end
  self:_grads_ready()
  if opts.input_grad == false or not tide.is_tensor(x) then return nil end
  local gx = grads[x]
  if gx == nil then
    gx = tide.zeros(x:shape(), x:dtype())
  elseif gx == grad_out or gx:is_view() or not gx:is_contiguous() then
    gx = gx:contiguous()
    if gx == grad_out then gx = gx:clone() end
  end
  self.grad_input = gx
  return gx
end

function FnModule:_reset_buffers()
  self.output, self.grad_input, self._tape, self._x = nil, nil, nil, nil
end

return M
