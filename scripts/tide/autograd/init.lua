-- tide.autograd: functional reverse-mode differentiation of plain Lua code over tensors, in
-- the manner of torch-autograd.
--
--   local ag = tide.autograd
--   local df = ag.grad(function(p, x, y)
--     local h = (x:matmul(p.W1) + p.b1):relu()
--     return ag.cross_entropy(h:matmul(p.W2) + p.b2, y)
--   end)
--   local grads, loss = df(params, x, y)     -- grads has the shape of params; loss a number
--
-- * df(...) runs f(...) once, recording on a tape the operations on the parameters (argument
--   argnum of f: a tensor or a nested table of f32/f64 tensors) and on everything computed
--   from them, then walks the tape backward. f is ordinary code: methods, operators
--   (a + b, a * 2, -a, a ^ 2), tide.matmul/tide.where, and nn modules built from them.
-- * f returns a scalar: a 0-d or 1-element tensor (or a number, when it does not depend on
--   the parameters: the gradients are then zeros). Full reductions of a tracked tensor
--   (t:sum(), t:mean(), t:max(), t:min(), t:norm(), t:var(), t:std(), u:dot(v)) return a
--   0-d tensor inside df, and a Lua number everywhere else; use :item() for the number.
-- * Anything else f returns comes back after the value: grads, value, extra... = df(...).
-- * In-place methods (add_, copy_, ...) on a tracked tensor are refused with an error, and
--   :item() / :get() read a number whose gradient is not followed.
-- * The hooks exist only while df runs; code outside costs what it costs without autograd.
-- * Gradients are new tensors the caller owns (never a view of an input or of each other).
local tide = require "tide"
local args = require "tide.args"
local tape = require "tide.autograd.tape"
local rules = require "tide.autograd.rules"

local M = {}

-- ------------------------------------------------------------------ parameters

local FLOAT = { f32 = true, f64 = true }

-- The tensors of params (a tensor or a nested table), depth first in sorted-key order.
local function collect(params, path, out, where)
  if tide.is_tensor(params) then
    if not FLOAT[params:dtype()] then
      error(("%s: parameter %s must be an f32 or f64 tensor, got %s"):format(where, path,
        params:dtype()), 4)
    end
    out[#out + 1] = params
  elseif type(params) == "table" then
    local keys = {}
    for k in pairs(params) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    for _, k in ipairs(keys) do
      local v = params[k]
      if tide.is_tensor(v) or type(v) == "table" then collect(v, path .. "." .. k, out, where) end
    end
  end
  return out
end

-- A gradient the caller may keep and change: a contiguous tensor of p's dtype that no other
-- gradient shares. Rules compute new tensors and never give two inputs one gradient (add
-- clones), so the only sharing left is one tensor reaching two leaves, or a view of it.
local function own(g, p, handed)
  if g == nil then return tide.zeros(p:shape(), p:dtype()) end
  if handed[g] or not g:is_contiguous() or g:dtype() ~= p:dtype() then
    g = g:to(p:dtype()):contiguous()
    if handed[g] then g = g:clone() end
  end
  handed[g] = true
  return g
end

-- The gradients in the shape of params.
local function mirror(params, grads, handed)
  if tide.is_tensor(params) then return own(grads[params], params, handed) end
  local out = {}
  for k, v in pairs(params) do
    if tide.is_tensor(v) or type(v) == "table" then out[k] = mirror(v, grads, handed) end
  end
  return out
end

-- ------------------------------------------------------------------ running f

local function scalar_seed(out, where)
  if type(out) == "number" then return nil end
  if not tide.is_tensor(out) then
    error(("%s: f must return a scalar tensor or a number, got %s"):format(where, type(out)), 3)
  end
  if out:numel() ~= 1 then
    error(("%s: f must return a scalar (a 0-d or 1-element tensor), got a %s tensor")
      :format(where, args.shape_str(out)), 3)
  end
  return tide.ones(out:shape(), out:dtype())
end

-- Runs f on (...) with argument argnum tracked; returns grads, value and f's extra results.
local function differentiate(f, argnum, where, ...)
  local n = select("#", ...)
  if argnum > n then
    error(("%s: argnum is %d but df got %d argument%s"):format(where, argnum, n,
      n == 1 and "" or "s"), 3)
  end
  local params = select(argnum, ...)
  if not tide.is_tensor(params) and type(params) ~= "table" then
    error(("%s: argument %d (the parameters) must be a tensor or a table of tensors, got %s")
      :format(where, argnum, type(params)), 3)
  end
  local leaves = collect(params, "p", {}, where)
  local t, res = tape.run(leaves, f, ...)
  local out = res[1]
  local seed = scalar_seed(out, where)
  local grads = {}
  if seed and tape.is_tracked_in(t, out) then grads = tape.backward(t, out, seed) end
  local value = type(out) == "number" and out or out:item()
  return mirror(params, grads, {}), value, table.unpack(res, 2, res.n)
end

local function check_grad_args(f, opts, where)
  if type(f) ~= "function" then
    error(("%s: expected a function, got %s"):format(where, type(f)), 3)
  end
  opts = args.check_opts(opts, { argnum = true }, where, 3)
  return args.integer(opts.argnum, "argnum", where, 1, 1, 3)
end

-- grad(f [, {argnum = 1}]) -> df with grads, value, extra... = df(...).
function M.grad(f, opts)
  local argnum = check_grad_args(f, opts, "tide.autograd.grad")
  return function(...) return differentiate(f, argnum, "tide.autograd.grad", ...) end
end

-- value_and_grad(f [, {argnum = 1}]) -> df with value, grads, extra... = df(...).
function M.value_and_grad(f, opts)
  local argnum = check_grad_args(f, opts, "tide.autograd.value_and_grad")
  return function(...)
    local res = table.pack(differentiate(f, argnum, "tide.autograd.value_and_grad", ...))
    return res[2], res[1], table.unpack(res, 3, res.n)
  end
end

-- no_grad(fn, ...) -> fn(...), with nothing inside recorded (outside df, just fn(...)).
M.no_grad = tape.no_grad

-- cross_entropy(logits, labels [, {reduction = "mean" | "sum"}]): the fused log-softmax and
-- negative log-likelihood of nn.CrossEntropyLoss (labels 1-based); a number outside df, a
-- 0-d tensor on the tape inside.
M.cross_entropy = rules.cross_entropy

-- addmm(c, a, b [, {beta = 1, alpha = 1}]): a new tensor beta * c + alpha * (a @ b), c
-- broadcast to the product's shape (a bias row), by one gemm.
M.addmm = rules.addmm

-- module{forward = fn, params = {...}}: an nn module from a forward function (autograd/module.lua).
function M.module(spec)
  local m = require("tide.autograd.module").new(spec, M)
  return m
end

return M
