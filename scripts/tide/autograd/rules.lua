-- tide.autograd.rules: the derivative of every recorded operation, grouped by kind.
--
-- A rule is rule(orig, args...): it calls orig (the C function) for the result, and records
-- the result with a function from its gradient g to the gradients of its inputs. Backward
-- functions run after the hooks are removed, so they are written with ordinary tensor code;
-- they compute only what need[j] asks for (the data operand of a matmul gets no gradient).
--
-- Full reductions (t:sum(), t:mean(), t:max(), t:norm(), t:var(), u:dot(v), cross_entropy)
-- return Lua numbers outside grad; on a tracked tensor inside a df call they return a 0-d
-- tensor instead, so the value of f stays on the tape (read it with :item()).
local tide = require "tide"
local tape = require "tide.autograd.tape"

local record, define = tape.record, tape.define
local K = tide._internal.kernels

-- ------------------------------------------------------------------ helpers

local function scalar(v, like)
  return tide.full({}, v, like:dtype())
end

-- g summed down to shape (the gradient of a broadcast operand).
local function sum_to(g, shape)
  local gd, n = g:dim(), #shape
  if gd == n then
    local same = true
    for i = 1, n do
      if g:size(i) ~= shape[i] then same = false break end
    end
    if same then return g end
  end
  for _ = 1, gd - n do g = g:sum(1) end
  for i = 1, n do
    if shape[i] == 1 and g:size(i) ~= 1 then g = g:sum(i, { keepdim = true }) end
  end
  if g:dim() == 0 and n == 0 then return g end
  return g:reshape(shape)
end

-- g broadcast back over the dim a reduction removed (dim nil: over everything).
local function unreduce(g, x, dim, keepdim)
  if dim == nil then
    return tide.full(x:shape(), g:item(), x:dtype())
  end
  if not keepdim then g = g:unsqueeze(dim) end
  return g:expand(x:shape())
end

-- (dim, keepdim, unbiased) from a reduction's arguments: ([dim], [options]).
local function reduce_args(a, b)
  local opts = type(a) == "table" and a or b
  local dim = type(a) == "number" and a or nil
  opts = opts or {}
  return dim, opts.keepdim == true, opts.unbiased ~= false
end

local function is_t(x) return tide.is_tensor(x) end

-- ------------------------------------------------------------------ arithmetic

local function add_like(sign)
  return function(orig, a, b)
    local out = orig(a, b)
    return record(out, { a, b }, function(g, need)
      local ga, gb
      if need[1] then ga = sum_to(g, a:shape()) end
      if need[2] then
        gb = sum_to(g, b:shape())
        if sign < 0 then
          gb = -gb
        elseif gb == ga then
          gb = gb:clone()   -- no two inputs share a gradient's storage (the caller owns each)
        end
      end
      return ga, gb
    end)
  end
end

local function mul_rule(orig, a, b)
  local out = orig(a, b)
  return record(out, { a, b }, function(g, need)
    local ga, gb
    if need[1] then ga = sum_to(g * b, a:shape()) end
    if need[2] then gb = sum_to(g * a, b:shape()) end
    return ga, gb
  end)
end

local function div_rule(orig, a, b)
  local out = orig(a, b)
  return record(out, { a, b }, function(g, need)
    local ga, gb
    if need[1] then ga = is_t(a) and sum_to(g / b, a:shape()) or nil end
    if need[2] then gb = sum_to(-(g * out) / b, b:shape()) end
    return ga, gb
  end)
end

local function pow_rule(orig, a, e)
  local out = orig(a, e)
  return record(out, { a, e }, function(g, need)
    local ga, ge
    if need[1] then
      if is_t(e) then
        ga = sum_to(g * e * a:pow(e - 1), a:shape())
      else
        ga = g * a:pow(e - 1) * e
      end
    end
    if need[2] then ge = sum_to(g * out * (is_t(a) and a:log() or math.log(a)), e:shape()) end
    return ga, ge
  end)
end

local function neg_rule(orig, a, ...)
  local out = orig(a, ...)
  return record(out, { a }, function(g) return -g end)
end

for _, w in ipairs({ "method", "meta" }) do
  local pre = w == "meta" and "__" or ""
  define(w, pre .. "add", add_like(1))
  define(w, pre .. "sub", add_like(-1))
  define(w, pre .. "mul", mul_rule)
  define(w, pre .. "div", div_rule)
  define(w, pre .. "pow", pow_rule)
end
define("meta", "__unm", neg_rule)
define("method", "neg", neg_rule)

-- maximum(a, b) / minimum(a, b): the gradient goes to the operand that won (a on ties).
local function extremum(pick)
  return function(orig, a, b)
    local out = orig(a, b)
    return record(out, { a, b }, function(g, need)
      local a_won = pick(a, b)
      local ga, gb
      if need[1] then ga = sum_to(tide.where(a_won, g, 0), a:shape()) end
      if need[2] then gb = sum_to(tide.where(a_won, 0, g), b:shape()) end
      return ga, gb
    end)
  end
end
local maximum = extremum(function(a, b) return a:ge(b) end)
local minimum = extremum(function(a, b) return a:le(b) end)
define("method", "maximum", maximum)
define("method", "minimum", minimum)

-- ------------------------------------------------------------------ unary math

local function unary(name, dx)
  define("method", name, function(orig, x, ...)
    local out = orig(x, ...)
    return record(out, { x }, function(g) return dx(g, x, out) end)
  end)
end

unary("exp", function(g, _, y) return g * y end)
unary("log", function(g, x) return g / x end)
unary("sqrt", function(g, _, y) return g * 0.5 / y end)
unary("abs", function(g, x) return tide.where(x:lt(0), -g, g):masked_fill(x:eq(0), 0) end)
unary("tanh", function(g, _, y) return K.tanh_backward(g:contiguous(), y) end)
unary("sigmoid", function(g, _, y) return K.sigmoid_backward(g:contiguous(), y) end)
unary("relu", function(g, x) return K.relu_backward(g:contiguous(), x:contiguous()) end)

-- clamp(lo, hi): the gradient passes where x lies inside [lo, hi].
define("method", "clamp", function(orig, x, lo, hi)
  local out = orig(x, lo, hi)
  return record(out, { x }, function(g)
    if lo ~= nil then g = g:masked_fill(x:lt(lo), 0) end
    if hi ~= nil then g = g:masked_fill(x:gt(hi), 0) end
    return g
  end)
end)

-- ------------------------------------------------------------------ reductions

define("method", "sum", function(orig, x, a, b)
  local dim, keepdim = reduce_args(a, b)
  local out = orig(x, a, b)
  if dim == nil then out = scalar(out, x) end
  return record(out, { x }, function(g) return unreduce(g, x, dim, keepdim) end)
end)

define("method", "mean", function(orig, x, a, b)
  local dim, keepdim = reduce_args(a, b)
  local out = orig(x, a, b)
  if dim == nil then out = scalar(out, x) end
  local n = dim and x:size(dim) or x:numel()
  return record(out, { x }, function(g) return unreduce(g / n, x, dim, keepdim) end)
end)

-- max/min: the whole gradient goes to the element that was picked (shared among ties for the
-- full reduction); t:max(u) is maximum(t, u).
local function pick_rule(pair)
  return function(orig, x, a, b)
    if is_t(a) then return pair(orig, x, a) end
    local dim, keepdim = reduce_args(a, b)
    if dim == nil then
      local v = orig(x, a, b)
      local out = scalar(v, x)
      return record(out, { x }, function(g)
        local hit = x:eq(v)
        return tide.where(hit, tide.full(x:shape(), g:item() / hit:sum(), x:dtype()), 0)
      end)
    end
    local values, indices = orig(x, a, b)
    record(values, { x }, function(g)
      local idx = keepdim and indices or indices:unsqueeze(dim)
      local gg = keepdim and g or g:unsqueeze(dim)
      return tide.zeros(x:shape(), x:dtype()):scatter_add_(dim, idx, gg:contiguous())
    end)
    return values, indices
  end
end
define("method", "max", pick_rule(maximum))
define("method", "min", pick_rule(minimum))

-- norm(p, [dim], [options]): d|x|_p = sign(x) |x|^(p-1) / |x|_p^(p-1).
define("method", "norm", function(orig, x, p, a, b)
  local dim, keepdim = reduce_args(a, b)
  p = p or 2
  local out = orig(x, p, a, b)
  if dim == nil then out = scalar(out, x) end
  return record(out, { x }, function(g)
    local n = unreduce(out, x, dim, keepdim)
    local gx = unreduce(g, x, dim, keepdim)
    local sign = tide.ones(x:shape(), x:dtype()):masked_fill(x:lt(0), -1):masked_fill(x:eq(0), 0)
    if p == math.huge then return tide.where(x:abs():eq(n), gx, 0) * sign end
    if p == 1 then return gx * sign end
    if p == 2 then return gx * x / n end
    return gx * sign * x:abs():pow(p - 1) / n:pow(p - 1)
  end)
end)

-- var and std: dvar/dx = 2 (x - mean) / (n - unbiased); dstd = dvar / (2 std).
local function spread(is_std)
  return function(orig, x, a, b)
    local dim, keepdim, unbiased = reduce_args(a, b)
    local out = orig(x, a, b)
    if dim == nil then out = scalar(out, x) end
    local n = dim and x:size(dim) or x:numel()
    return record(out, { x }, function(g)
      local mean = dim and x:mean(dim, { keepdim = true }) or x:mean()
      local gx = unreduce(g, x, dim, keepdim) * (x - mean) * (2 / (n - (unbiased and 1 or 0)))
      if is_std then gx = gx / (2 * unreduce(out, x, dim, keepdim)) end
      return gx
    end)
  end
end
define("method", "var", spread(false))
define("method", "std", spread(true))

-- ------------------------------------------------------------------ matrix products

-- matmul of 1-D and 2-D operands (a vector is a row on the left, a column on the right) and
-- of batched operands (the last two dims multiply; broadcast batch dims are summed back).
local function matmul_rule(orig, a, b)
  local out = orig(a, b)
  return record(out, { a, b }, function(g, need)
    local a2 = a:dim() == 1 and a:view({ 1, a:size(1) }) or a
    local b2 = b:dim() == 1 and b:view({ b:size(1), 1 }) or b
    local g2 = g
    if a:dim() == 1 and b:dim() == 1 then
      g2 = g:reshape({ 1, 1 })
    else
      if a:dim() == 1 then g2 = g2:unsqueeze(g2:dim()) end
      if b:dim() == 1 then g2 = g2:unsqueeze(g2:dim() + 1) end
    end
    local function tr(t) return t:transpose(t:dim() - 1, t:dim()) end
    local ga, gb
    if need[1] then ga = sum_to(tide.matmul(g2, tr(b2)), a2:shape()):reshape(a:shape()) end
    if need[2] then
      if b:dim() == 2 and a:dim() == 2 and not b:is_contiguous() then
        gb = tide.matmul(g2:t(), a2):t()   -- b is W:t(): W's gradient comes out contiguous
      else
        gb = sum_to(tide.matmul(tr(a2), g2), b2:shape()):reshape(b:shape())
      end
    end
    return ga, gb
  end)
end
define("method", "matmul", matmul_rule)
define("tide", "matmul", matmul_rule)

define("method", "mv", function(orig, m, v)
  local out = orig(m, v)
  return record(out, { m, v }, function(g, need)
    local gm, gv
    if need[1] then gm = tide.matmul(g:view({ g:size(1), 1 }), v:view({ 1, v:size(1) })) end
    if need[2] then gv = m:t():mv(g) end
    return gm, gv
  end)
end)

define("method", "dot", function(orig, u, v)
  local out = scalar(orig(u, v), u)
  return record(out, { u, v }, function(g, need)
    local s = g:item()
    return need[1] and v * s or nil, need[2] and u * s or nil
  end)
end)

-- ------------------------------------------------------------------ views and shapes

local function reshape_rule(orig, x, ...)
  local out = orig(x, ...)
  return record(out, { x }, function(g) return g:reshape(x:shape()) end)
end
for _, name in ipairs({ "reshape", "view", "unsqueeze", "squeeze", "contiguous", "clone" }) do
  define("method", name, reshape_rule)
end

define("method", "to", function(orig, x, ...)
  local out = orig(x, ...)
  return record(out, { x }, function(g) return g:to(x:dtype()) end)
end)

define("method", "transpose", function(orig, x, d1, d2)
  local out = orig(x, d1, d2)
  return record(out, { x }, function(g) return g:transpose(d1, d2) end)
end)

define("method", "t", function(orig, x)
  local out = orig(x)
  return record(out, { x }, function(g) return g:t() end)
end)

-- permute and expand take their dims or sizes as one table or as separate arguments
define("method", "permute", function(orig, x, ...)
  local out = orig(x, ...)
  local perm = type(...) == "table" and ... or { ... }
  return record(out, { x }, function(g)
    local inv = {}
    for i, p in ipairs(perm) do inv[p] = i end
    return g:permute(inv)
  end)
end)

define("method", "expand", function(orig, x, ...)
  local out = orig(x, ...)
  return record(out, { x }, function(g) return sum_to(g, x:shape()) end)
end)

-- narrow and select: the gradient lands in the slice of a zero tensor shaped like x.
-- (The arguments pass on as they came: select takes one fewer than narrow, and an extra nil
-- would count as an argument.)
local function slice_rule(orig, x, ...)
  local out = orig(x, ...)
  local where = table.pack(...)
  return record(out, { x }, function(g)
    local gx = tide.zeros(x:shape(), x:dtype())
    orig(gx, table.unpack(where, 1, where.n)):copy_(g)
    return gx
  end)
end
define("method", "narrow", slice_rule)
define("method", "select", slice_rule)

-- t[i]: a view like t:select(1, i) (a number for a 1-D t, whose gradient is not followed).
define("meta", "__index", function(orig, x, k)
  local out = orig(x, k)
  if math.type(k) ~= "integer" or not is_t(out) then return out end
  return record(out, { x }, function(g)
    local gx = tide.zeros(x:shape(), x:dtype())
    gx:select(1, k):copy_(g)
    return gx
  end)
end)

define("method", "index_select", function(orig, x, dim, idx)
  local out = orig(x, dim, idx)
  return record(out, { x }, function(g)
    return tide.zeros(x:shape(), x:dtype()):index_add_(dim, idx, g:contiguous())
  end)
end)

define("method", "gather", function(orig, x, dim, idx)
  local out = orig(x, dim, idx)
  return record(out, { x }, function(g)
    return tide.zeros(x:shape(), x:dtype()):scatter_add_(dim, idx, g:contiguous())
  end)
end)

-- cat(list [, dim]) and stack(list [, dim]), once the core has them: each input gets its
-- slice of the gradient.
local function join_rule(stacked)
  return function(orig, list, dim, ...)
    local out = orig(list, dim, ...)
    local d = dim or 1
    return record(out, { table.unpack(list) }, function(g, need)
      local gs, at = {}, 1
      for j, x in ipairs(list) do
        local len = stacked and 1 or x:size(d)
        if need[j] then
          local piece = g:narrow(d, at, len)
          gs[j] = stacked and piece:squeeze(d) or piece
        end
        at = at + len
      end
      return table.unpack(gs, 1, #list)
    end)
  end
end
define("tide", "cat", join_rule(false), true)
define("tide", "stack", join_rule(true), true)

-- ------------------------------------------------------------------ selection

define("tide", "where", function(orig, mask, a, b)
  local out = orig(mask, a, b)
  return record(out, { mask, a, b }, function(g, need)
    local ga, gb
    if need[2] then ga = sum_to(tide.where(mask, g, 0), a:shape()) end
    if need[3] then gb = sum_to(tide.where(mask, 0, g), b:shape()) end
    return nil, ga, gb
  end)
end)

define("method", "masked_fill", function(orig, x, mask, v)
  local out = orig(x, mask, v)
  return record(out, { x }, function(g) return g:masked_fill(mask, 0) end)
end)

-- ------------------------------------------------------------------ nn functions

-- softmax / log_softmax: over the last dim, or the dim given as a number or {dim = d} (the
-- PyTorch signature, when the core takes it); an out tensor as argument is filled, as in C.
local function softmax_dim(y, a)
  local d = type(a) == "number" and a or (type(a) == "table" and a.dim) or y:dim()
  return d < 0 and y:dim() + 1 + d or d
end

define("method", "softmax", function(orig, x, a, ...)
  local y = orig(x, a, ...)
  return record(y, { x }, function(g)
    local d = softmax_dim(y, a)
    return y * (g - (g * y):sum(d, { keepdim = true }))
  end)
end)

define("method", "log_softmax", function(orig, x, a, ...)
  local y = orig(x, a, ...)
  return record(y, { x }, function(g)
    local d = softmax_dim(y, a)
    if d == 2 and y:dim() == 2 and y:is_contiguous() then
      return K.log_softmax_backward(g:contiguous(), y)
    end
    return g - y:exp() * g:sum(d, { keepdim = true })
  end)
end)

-- cross_entropy(logits, labels, opts): the fused kernel computes the gradient with the loss,
-- into a new tensor (not opts.out, which a second call would overwrite before backward).
define("kernel", "cross_entropy", function(orig, logits, labels, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end   -- the kernel checks the keys
  o.grad, o.out = true, nil
  local loss, dx = orig(logits, labels, o)
  local out = scalar(loss, logits)
  record(out, { logits }, function(g) return dx * g:item() end)
  return out, dx
end)

-- The image kernels of tide.nn (core/nn), so functions calling nn.Conv2d, the pools, GELU and
-- LeakyReLU (or the kernels) differentiate: each backward is the layer's own C kernel. Their
-- output buffers (the arguments after these) are dropped: a module applied twice in one graph
-- would overwrite the output an earlier node saved; the kernel allocates a new one instead.
define("kernel", "conv2d", function(orig, x, w, b, p)
  local y = orig(x, w, b, p)
  return record(y, { x, w, b }, function(g, need)
    local gw = need[2] and tide.zeros(w:shape(), w:dtype()) or nil
    local gb = need[3] and tide.zeros(b:shape(), b:dtype()) or nil
    local gx = K.conv2d_backward(g:contiguous(), x, w, p,
      { grad_input = need[1] == true, grad_weight = gw, grad_bias = gb })
    return gx, gw, gb
  end)
end)

define("kernel", "max_pool2d", function(orig, x, p)
  local y, am = orig(x, p)
  record(y, { x }, function(g) return K.max_pool2d_backward(g:contiguous(), am, x) end)
  return y, am
end)

define("kernel", "avg_pool2d", function(orig, x, p)
  local y = orig(x, p)
  return record(y, { x }, function(g) return K.avg_pool2d_backward(g:contiguous(), x, p) end)
end)

define("kernel", "adaptive_avg_pool2d", function(orig, x, oh, ow)
  local y = orig(x, oh, ow)
  return record(y, { x }, function(g) return K.adaptive_avg_pool2d_backward(g:contiguous(), x) end)
end)

define("kernel", "gelu", function(orig, x)
  local y = orig(x)
  return record(y, { x }, function(g) return K.gelu_backward(g:contiguous(), x) end)
end)

define("kernel", "leaky_relu", function(orig, x, slope)
  local y = orig(x, slope)
  return record(y, { x }, function(g) return K.leaky_relu_backward(g:contiguous(), x, slope) end)
end)

-- Sparse products (tide.sparse): the matrix S is data; the dense operand's gradient is
-- S^T g, computed without building the transpose.
define("kernel", "csr_spmm", function(orig, S, x, ...)
  local y = orig(S, x, ...)
  return record(y, { x }, function(g) return K.csr_spmm_t(S, g:contiguous()) end)
end)

define("kernel", "csr_spmv", function(orig, S, x, ...)
  local y = orig(S, x, ...)
  return record(y, { x }, function(g)
    return K.csr_spmm_t(S, g:reshape({ S.n, 1 })):reshape({ S.m })
  end)
end)

-- ------------------------------------------------------------------ functions of tide.autograd

local R = {}

function R.cross_entropy(logits, labels, opts)
  local loss = K.cross_entropy(logits, labels, opts)   -- the wrapper inside df
  return loss
end

-- addmm(c, a, b, {beta, alpha}) as a new tensor (the product of 2-D a and b, plus c).
local raw = tape.raw
function R.addmm(c, a, b, opts)
  if not (tide.is_tensor(c) and tide.is_tensor(a) and tide.is_tensor(b)) then
    error(("tide.autograd.addmm: expected three tensors, got %s, %s, %s"):format(type(c),
      type(a), type(b)), 2)
  end
  if a:dim() ~= 2 or b:dim() ~= 2 then
    error(("tide.autograd.addmm: expected 2-D a and b, got %s and %s"):format(
      table.concat(a:shape(), "x"), table.concat(b:shape(), "x")), 2)
  end
  local out = tide.empty({ a:size(1), b:size(2) }, a:dtype())
  raw.copy_(out, c)
  raw.addmm_(out, a, b, opts)
  if not (tape.is_tracked(c) or tape.is_tracked(a) or tape.is_tracked(b)) then return out end
  local beta, alpha = opts and opts.beta or 1, opts and opts.alpha or 1
  return record(out, { c, a, b }, function(g, need)
    local gc, ga, gb
    if need[1] then gc = sum_to(beta == 1 and g or g * beta, c:shape()) end
    if need[2] then
      ga = tide.matmul(g, b:t())
      if alpha ~= 1 then ga = ga * alpha end
    end
    if need[3] then
      -- b is usually W:t(): then W's gradient g^T a comes out contiguous
      gb = b:is_contiguous() and tide.matmul(a:t(), g) or tide.matmul(g:t(), a):t()
      if alpha ~= 1 then gb = gb * alpha end
    end
    return gc, ga, gb
  end)
end

return R
