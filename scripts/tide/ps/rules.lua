-- tide.ps.rules: the update rules a parameter server applies to a key as gradients arrive.
--
-- A rule is rule(value, grad, state, hp): it changes value (and its own state, a table the
-- server keeps per key) in place, over C kernels. hp holds the key's hyper-parameters (lr,
-- momentum, eps). Servers apply a dense rule to the rows a sparse push names by selecting
-- those rows (of value and of every tensor in state), applying the rule to them and writing
-- them back; sgd has its own row form (one index_add_), the common case for embeddings.
--
-- Each rule is written so that a data-parallel loop that applies it to the summed gradient gives
-- the same bits as a server in BSP mode (tide.ps): sgd is value + (-lr * grad), elementwise.
local tide = require "tide"

local M = {}

-- A scratch tensor of t's shape and dtype, kept per t: a new 1 MiB temporary per push costs
-- more (fresh pages) than the update itself.
local scratch = setmetatable({}, { __mode = "k" })
local function scratch_like(t)
  local s = scratch[t]
  if not s then
    s = t:clone()
    scratch[t] = s
  end
  return s
end

--- value += -lr * grad
function M.sgd(value, grad, _, hp)
  value:add_(scratch_like(value):copy_(grad):mul_(-hp.lr))
end

--- v = momentum * v + grad; value += -lr * v (PyTorch's SGD with momentum, no dampening)
function M.momentum(value, grad, state, hp)
  if not state.v then
    state.v = grad:clone()
  else
    state.v:mul_(hp.momentum):add_(grad)
  end
  value:add_(scratch_like(value):copy_(state.v):mul_(-hp.lr))
end

--- h += grad^2; value += -lr * grad / (sqrt(h) + eps)
function M.adagrad(value, grad, state, hp)
  if not state.h then
    state.h = grad:mul(0)
  end
  state.h:add_(grad:mul(grad))
  value:add_(grad:div(state.h:sqrt():add(hp.eps)):mul(-hp.lr))
end

-- Copies rows (a tensor of #idx rows) into t's rows idx (1-based, no repeats).
local function put_rows(t, idx, rows)
  local list = idx:totable()
  for j, r in ipairs(list) do
    t:select(1, r):copy_(rows:select(1, j))
  end
end

--- Applies rule to value's rows idx (a 1-D i64 tensor of 1-based rows, no repeats) with grad
--- (#idx rows). sgd adds in place; other rules run on copies of those rows, written back.
function M.apply_rows(rule, value, idx, grad, state, hp)
  if rule == M.sgd then
    value:index_add_(1, idx, grad:mul(-hp.lr))
    return
  end
  -- state holds full-size tensors (as the dense form makes them): rows of each go to the rule
  local rows, sub = value:index_select(1, idx), {}
  for name, full in pairs(state) do
    if tide.is_tensor(full) then sub[name] = full:index_select(1, idx) end
  end
  rule(rows, grad, sub, hp)
  put_rows(value, idx, rows)
  for name, t in pairs(sub) do
    if tide.is_tensor(t) then
      if not state[name] then   -- state the rule made now: full-size, zero in the other rows
        local shape = t:shape()
        shape[1] = value:shape()[1]
        state[name] = tide.zeros(shape, t:dtype())
      end
      put_rows(state[name], idx, t)
    end
  end
end

--- Sums the gradients of repeated rows: unique rows (sorted) and a gradient per unique row,
--- each the sum of its rows' gradients in the order they came (index_add_ adds in order).
function M.coalesce_rows(idx, grad)
  local uniq, inverse = idx:unique { inverse = true }
  local shape = grad:shape()
  shape[1] = uniq:numel()
  local sum = tide.zeros(shape, grad:dtype())
  sum:index_add_(1, inverse, grad)
  return uniq, sum
end

return M
