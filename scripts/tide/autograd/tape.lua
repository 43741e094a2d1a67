-- tide.autograd.tape: the record of one differentiated call, and the hooks that fill it.
--
-- While a df call runs f, the tensor methods, metamethods and tide functions that have a
-- derivative rule (tide/autograd/rules.lua) are replaced by wrappers; df puts the originals
-- back before it returns or raises, so code outside a df call runs the C functions directly
-- and pays nothing. A wrapper looks its tensor arguments up in the tape's `tracked` set (the
-- parameters, and every result computed from them); when none is tracked it calls the
-- original at once, otherwise the rule runs the original and records a node: the result, the
-- inputs, and a function from the result's gradient to the inputs' gradients.
--
-- Tensors are keys by identity: a view is a new tensor object with its own node, so gradients
-- through views reach their base by the view's rule. In-place methods (ending in _) on a
-- tracked tensor, or taking one, are refused: their old value may be saved by a node.
local tide = require "tide"

local M = {}

local methods = tide._internal.methods
local kernels = tide._internal.kernels
local meta = getmetatable(tide.zeros({ 1 }))

-- The tape of the df call running now (nil outside one), and its tracked set.
local active = nil
local tracked = {}
M.NONE = tracked            -- an empty set: wrappers see nothing tracked outside a df call

-- ------------------------------------------------------------------ recording

-- Records out = op(inputs) with backward(g, need) -> the gradients of the inputs, in order
-- (need[j] says whether input j wants one). Returns out.
function M.record(out, inputs, backward)
  local tape = active
  local need, any = {}, false
  for j = 1, #inputs do
    local t = tracked[inputs[j]] == true
    need[j] = t
    any = any or t
  end
  if any then
    local nodes = tape.nodes
    nodes[#nodes + 1] = { out = out, inputs = inputs, need = need, backward = backward }
    tracked[out] = true
  end
  return out
end

function M.is_tracked(t) return tracked[t] == true end

-- Whether a df call is running (no_grad inside one included): tide.nn's modules then compute
-- with new tensors instead of their reused buffers (see nn/base.lua).
function M.is_active() return active ~= nil end

function M.is_tracked_in(tape, t) return tape.tracked[t] == true end

-- The C methods as they were at load time, for rules that must call one that is wrapped.
M.raw = {}
for name, fn in pairs(methods) do M.raw[name] = fn end

-- ------------------------------------------------------------------ the hooks

-- where -> { name -> original }, and where -> { name -> wrapper }, filled by M.define.
local TARGETS = { method = methods, meta = meta, tide = tide, kernel = kernels }
local originals, wrappers = {}, {}
for where in pairs(TARGETS) do originals[where], wrappers[where] = {}, {} end

-- Defines the rule for TARGETS[where][name]: rule(orig, ...) runs when any of the first five
-- arguments (or a tensor in a list as first argument, for cat/stack) is tracked.
function M.define(where, name, rule, list_arg)
  local orig = TARGETS[where][name]
  if orig == nil then return false end   -- not in this build (tide.cat before it lands)
  originals[where][name] = orig
  local w
  if list_arg then
    w = function(list, ...)
      if type(list) == "table" then
        for _, t in ipairs(list) do
          if tracked[t] then return rule(orig, list, ...) end
        end
      end
      return orig(list, ...)
    end
  else
    w = function(...)
      local a, b, c, d, e = ...
      if tracked[a] or tracked[b] or tracked[c] or tracked[d] or tracked[e] then
        return rule(orig, ...)
      end
      return orig(...)
    end
  end
  wrappers[where][name] = w
  return true
end

-- Every method ending in _ that has no rule: refused when it would touch a tracked tensor.
local function refuse(name)
  local pure = name:sub(-1) == "_" and name:sub(1, -2)
  error(("tide.autograd: t:%s() would change a tensor that grad is differentiating, or take "
    .. "one (in-place methods are not recorded)%s"):format(name, methods[pure]
    and (", use t:%s(), which returns a new tensor"):format(pure) or ""), 3)
end

local function guard_inplace()
  for name, orig in pairs(methods) do
    if (name:sub(-1) == "_" or name == "set") and not wrappers.method[name] then
      originals.method[name] = orig
      wrappers.method[name] = function(self, ...)
        local a, b, c = ...
        if tracked[self] or tracked[a] or tracked[b] or tracked[c] then refuse(name) end
        return orig(self, ...)
      end
    end
  end
  local newindex = meta.__newindex
  originals.meta.__newindex = newindex
  wrappers.meta.__newindex = function(t, k, v)
    if tracked[t] or tracked[v] then refuse("__newindex (t[i] = v)") end
    return newindex(t, k, v)
  end
end

local function set_all(which)
  for where, fns in pairs(which) do
    local target = TARGETS[where]
    for name, fn in pairs(fns) do rawset(target, name, fn) end
  end
end

-- ------------------------------------------------------------------ running a traced call

-- Runs fn(...) with a new tape whose tracked set holds the tensors of `leaves` (a list).
-- Returns the tape and fn's results packed; raises fn's error after removing the hooks.
function M.run(leaves, fn, ...)
  if active then
    error("tide.autograd: grad called inside a differentiated function "
      .. "(higher-order gradients are not supported)", 3)
  end
  if not M._guarded then
    guard_inplace()
    M._guarded = true
  end
  local tape = { nodes = {}, tracked = {} }
  for _, t in ipairs(leaves) do tape.tracked[t] = true end
  active, tracked = tape, tape.tracked
  set_all(wrappers)
  local res = table.pack(pcall(fn, ...))
  set_all(originals)
  active, tracked = nil, M.NONE
  if not res[1] then error(res[2], 0) end
  return tape, table.pack(table.unpack(res, 2, res.n))
end

-- no_grad(fn, ...): fn(...) with nothing recorded (the tracked set is empty while it runs).
function M.no_grad(fn, ...)
  if type(fn) ~= "function" then
    error("tide.autograd.no_grad: expected a function, got " .. type(fn), 2)
  end
  if not active then return fn(...) end
  local saved = tracked
  tracked = M.NONE
  local res = table.pack(pcall(fn, ...))
  tracked = saved
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 1 + 1, res.n)
end

-- ------------------------------------------------------------------ the backward pass

local function accumulate(grads, owned, x, g)
  local acc = grads[x]
  if acc == nil then
    grads[x] = g
  elseif owned[x] then
    acc:add_(g)
  else
    grads[x] = acc + g          -- a new tensor: acc may be a view another node also holds
    owned[x] = true
  end
end

-- Walks the tape backward from out, whose gradient is seed. Returns tensor -> gradient for
-- every tracked tensor that out depends on (leaves included). Runs with the hooks removed.
function M.backward(tape, out, seed)
  local grads, owned = { [out] = seed }, {}
  local nodes = tape.nodes
  for i = #nodes, 1, -1 do
    local n = nodes[i]
    local g = grads[n.out]
    if g ~= nil then
      local gs = table.pack(n.backward(g, n.need))
      local inputs = n.inputs
      for j = 1, #inputs do
        if n.need[j] and gs[j] ~= nil then accumulate(grads, owned, inputs[j], gs[j]) end
      end
      if n.out ~= out then grads[n.out] = nil end   -- no longer needed: free it early
    end
  end
  return grads
end

return M
