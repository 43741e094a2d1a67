-- tide.nn: neural-network modules in the style of Torch7's nn, over tide's C kernels.
--
--   local nn = require "tide.nn"
--   local model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
--   local crit = nn.CrossEntropyLoss()
--   local loss = crit:forward(model:forward(x), y)      -- x: batch x 784, y: i64 labels 1..10
--   model:zero_grad()
--   model:backward(x, crit:backward(model.output, y))   -- accumulates parameter gradients
--
-- Conventions:
-- * Inputs are batch-first 2-D tensors (batch x features); every computation is a whole-tensor
--   C kernel or BLAS call, never a loop over samples.
-- * Class labels are 1-based (1..classes), as Torch7's ClassNLLCriterion, and i32 or i64.
-- * m:forward(x) returns m.output; m:backward(x, grad_out) returns m.grad_input. Both are
--   buffers the module owns and reuses while the batch size stays the same: the next forward
--   (backward) overwrites them, so clone what you keep. Inside tide.autograd.grad forward
--   returns new tensors instead, recorded on the tape, so a module may be applied more than
--   once in one differentiated function.
-- * m:backward accumulates into the parameter gradients (call zero_grad between steps) and
--   returns the gradient with respect to its input. Pass {input_grad = false} when that
--   gradient is not needed (the first layer of a network): the matrix product is skipped.
-- * Options are trailing tables; an unknown key is an error.
--
-- This file holds Linear, the activations, Dropout, Sequential and the criterions; the module
-- base class and helpers are in nn/base.lua, the layers of images and sequences in
-- nn/conv.lua (Conv2d, pools), nn/norm.lua and nn/layers.lua.
local tide = require "tide"
local base = require "tide.nn.base"

local K = tide._internal.kernels
local nn = base.nn
local args = require "tide.args"
local shape_str, check_opts = args.shape_str, args.check_opts
local check_tensor, check_2d, buffer2, buffer_like, want_input_grad = base.check_tensor,
  base.check_2d, base.buffer2, base.buffer_like, base.want_input_grad
local tracing = base.tracing
-- ------------------------------------------------------------------ Linear

local Linear = nn.class("nn.Linear")
local BETA0 = { beta = 0 }
nn.Linear_class = Linear

-- Linear(in, out, {bias = true, dtype = "f32"}): y = x W^T + b with W of out x in.
-- Weights and bias are drawn U(-1/sqrt(in), 1/sqrt(in)) from tide's seeded default generator
-- (torch's default Kaiming-uniform init), so tide.manual_seed(s) fixes them.
function nn.Linear(n_in, n_out, opts, ...)
  args.at_most("nn.Linear", 3, ...)
  opts = check_opts(opts, { bias = true, dtype = true }, "nn.Linear")
  if math.type(n_in) ~= "integer" or n_in < 1 then
    error("nn.Linear: in must be a positive integer, got " .. tostring(n_in), 2)
  end
  if math.type(n_out) ~= "integer" or n_out < 1 then
    error("nn.Linear: out must be a positive integer, got " .. tostring(n_out), 2)
  end
  local dtype = opts.dtype or "f32"
  if dtype ~= "f32" and dtype ~= "f64" then
    error("nn.Linear: dtype must be \"f32\" or \"f64\", got " .. tostring(dtype), 2)
  end
  local self = setmetatable({ n_in = n_in, n_out = n_out, dtype = dtype, training = true,
    _lazy_zero = true }, Linear)
  local bound = 1 / math.sqrt(n_in)
  self.weight = tide.empty({ n_out, n_in }, dtype):uniform_(-bound, bound)
  self.grad_weight = tide.zeros({ n_out, n_in }, dtype)
  if opts.bias == false then
    self._params = { "weight" }
  else
    self.bias = tide.empty({ n_out }, dtype):uniform_(-bound, bound)
    self.grad_bias = tide.zeros({ n_out }, dtype)
    self._params = { "weight", "bias" }
  end
  return self
end

function Linear:describe()
  return ("nn.Linear(%d -> %d%s)"):format(self.n_in, self.n_out,
    self.bias and "" or ", without bias")
end

function Linear:_check_input(x)
  check_2d(x, "nn.Linear")
  if x:size(2) ~= self.n_in then
    error(("nn.Linear: expected input of width %d, got %d"):format(self.n_in, x:size(2)), 3)
  end
  if x:dtype() ~= self.dtype then
    error(("nn.Linear: expected %s input (the module's dtype), got %s"):format(self.dtype,
      x:dtype()), 3)
  end
end

-- N-D input (batch x ... x in), as torch's Linear: the leading dims are flattened into rows
-- and the result is viewed back (batch x ... x out). The 2-D buffers live under _out2d and
-- _gi2d so that output and grad_input can be those views.
local function nd_rows(self, x, where)
  if x:size(x:dim()) ~= self.n_in then
    error(("%s: expected input of width %d, got %s"):format(where, self.n_in, shape_str(x)), 3)
  end
  return x:reshape({ x:numel() // self.n_in, self.n_in })
end

local function nd_shape(x, last)
  local s = x:shape()
  s[#s] = last
  return s
end

function Linear:forward(x)
  if tide.is_tensor(x) and x:dim() > 2 then
    local out = self:forward(nd_rows(self, x, "nn.Linear"))
    self.output = out:view(nd_shape(x, self.n_out))
    return self.output
  end
  self:_check_input(x)
  if tracing() then            -- inside tide.autograd.grad: new tensors, on the tape
    local wt = self.weight:t()
    self.output = self.bias and require("tide.autograd").addmm(self.bias, x, wt) or x:matmul(wt)
    return self.output
  end
  local out = buffer2(self, "_out2d", x:size(1), self.n_out, self.dtype)
  self.output = out
  local wt = self._wt
  if wt == nil then
    wt = self.weight:t()      -- a transposed view: BLAS reads it in place, no copy
    self._wt = wt
  end
  if self.bias then
    out:copy_(self.bias)      -- broadcast over rows, then out += x W^T
    out:addmm_(x, wt)
  else
    out:addmm_(x, wt, BETA0)
  end
  return out
end

function Linear:backward(x, grad_out, opts)
  if tide.is_tensor(x) and x:dim() > 2 then
    check_tensor(grad_out, "nn.Linear.backward", "grad_out")
    if table.concat(grad_out:shape(), "x") ~= table.concat(nd_shape(x, self.n_out), "x") then
      error(("nn.Linear.backward: expected grad_out of shape %s, got %s"):format(
        table.concat(nd_shape(x, self.n_out), "x"), shape_str(grad_out)), 2)
    end
    local gi = self:backward(nd_rows(self, x, "nn.Linear.backward"),
      grad_out:reshape({ grad_out:numel() // self.n_out, self.n_out }), opts)
    self.grad_input = gi and gi:view(x:shape())
    return self.grad_input
  end
  local need = want_input_grad(opts, "nn.Linear.backward")
  self:_check_input(x)
  check_tensor(grad_out, "nn.Linear.backward", "grad_out")
  if grad_out:dim() ~= 2 or grad_out:size(1) ~= x:size(1) or grad_out:size(2) ~= self.n_out then
    error(("nn.Linear.backward: expected grad_out of shape %dx%d, got %s"):format(x:size(1),
      self.n_out, shape_str(grad_out)), 2)
  end
  -- dW += grad_out^T x and db += the sum of grad_out's rows; after zero_grad, = instead of +=
  local fresh = self._grads_stale == true
  self.grad_weight:addmm_(grad_out:t(), x, fresh and BETA0 or nil)
  if self.bias then K.add_colsum_(self.grad_bias, grad_out, fresh) end
  self._grads_stale = false
  self:_grads_ready()
  if not need then return nil end
  local gi = buffer2(self, "_gi2d", x:size(1), self.n_in, self.dtype)
  self.grad_input = gi
  gi:addmm_(grad_out, self.weight, BETA0)            -- dx = grad_out W
  return gi
end

-- ------------------------------------------------------------------ activations

-- An activation module: forward_fn(x, out) fills its output buffer, method (x:relu()) is the
-- same function as a new tensor, for inside tide.autograd.grad.
local function activation(name, forward_fn, method, backward_kernel, from_output)
  local cls = nn.class("nn." .. name)
  nn[name .. "_class"] = cls
  local where = "nn." .. name
  nn[name] = function(opts, ...)
    args.at_most(where, 1, ...)
    check_opts(opts, {}, where)
    return setmetatable({ training = true }, cls)
  end
  function cls:forward(x)
    check_tensor(x, "nn." .. name)
    if tracing() then
      self.output = x[method](x)
      return self.output
    end
    local out = buffer_like(self, "output", x)
    forward_fn(x, out)
    return out
  end
  function cls:backward(x, grad_out, opts)
    if not want_input_grad(opts, "nn." .. name .. ".backward") then return nil end
    check_tensor(grad_out, "nn." .. name .. ".backward", "grad_out")
    local gi = buffer_like(self, "grad_input", grad_out)
    backward_kernel(grad_out, from_output and self.output or x, gi)
    return gi
  end
  return cls
end

activation("ReLU", function(x, out) K.relu(x, out) end, "relu", K.relu_backward, false)
activation("Tanh", function(x, out) K.tanh(x, out) end, "tanh", K.tanh_backward, true)
activation("Sigmoid", function(x, out) K.sigmoid(x, out) end, "sigmoid", K.sigmoid_backward,
  true)

-- ------------------------------------------------------------------ Dropout

local Dropout = nn.class("nn.Dropout")

-- Dropout(p, {seed = s | generator = g}): in training, zeroes each element with probability p
-- and scales the others by 1/(1-p) (inverted dropout); in evaluation it is the identity. The
-- masks come from a generator of the module's own, so its state is part of module:state() and
-- a restored model draws the same masks: tide.rng(s) with {seed = s}, g with {generator = g}
-- (shared, not copied), and otherwise one seeded from a draw of tide's default generator (so
-- tide.manual_seed fixes it, as it fixes Linear's weights).
function nn.Dropout(p, opts, ...)
  args.at_most("nn.Dropout", 2, ...)
  opts = check_opts(opts, { seed = true, generator = true }, "nn.Dropout")
  p = args.number(p, "p", "nn.Dropout", 0.5, "in [0, 1]")
  if opts.seed ~= nil and opts.generator ~= nil then
    error("nn.Dropout: give seed or generator, not both", 2)
  end
  local g = opts.generator
  if g ~= nil and not tostring(g):match("^tide%.rng ") then
    error("nn.Dropout: generator must be a tide.rng, got " .. type(g), 2)
  end
  if g == nil then
    local seed = opts.seed ~= nil and args.seed(opts.seed, "nn.Dropout")
      or tide.randint(0, math.maxinteger, { 1 }):item()
    g = tide.rng(seed)
  end
  return setmetatable({ p = p, training = true, _rng = g, _gen_opts = { generator = g } },
    Dropout)
end

function Dropout:describe() return ("nn.Dropout(%g)"):format(self.p) end

function Dropout:forward(x)
  check_tensor(x, "nn.Dropout")
  if not self.training or self.p == 0 then
    self.output = x
    return x
  end
  -- inside tide.autograd.grad the mask is new: the tape keeps it for the backward of x * mask
  local mask = tracing() and tide.empty(x:shape(), x:dtype()) or buffer_like(self, "mask", x)
  mask:uniform_(0, 1, self._gen_opts)
  K.dropout_mask_(mask, self.p)
  self.mask = mask
  if tracing() then
    self.output = x * mask
    return self.output
  end
  local out = buffer_like(self, "_out", x)
  K.mul(x, mask, out)
  self.output = out
  return out
end

function Dropout:backward(x, grad_out, opts)
  if not want_input_grad(opts, "nn.Dropout.backward") then return nil end
  if not self.training or self.p == 0 then
    self.grad_input = grad_out
    return grad_out
  end
  local gi = buffer_like(self, "grad_input", grad_out)
  K.mul(grad_out, self.mask, gi)
  return gi
end

-- ------------------------------------------------------------------ LogSoftMax

local LogSoftMax = nn.class("nn.LogSoftMax")

function nn.LogSoftMax(opts, ...)
  args.at_most("nn.LogSoftMax", 1, ...)
  check_opts(opts, {}, "nn.LogSoftMax")
  return setmetatable({ training = true }, LogSoftMax)
end

function LogSoftMax:forward(x)
  check_2d(x, "nn.LogSoftMax")
  if tracing() then
    self.output = x:log_softmax(2)
    return self.output
  end
  local out = buffer_like(self, "output", x)
  x:log_softmax(2, { out = out })
  return out
end

function LogSoftMax:backward(x, grad_out, opts)
  if not want_input_grad(opts, "nn.LogSoftMax.backward") then return nil end
  local gi = buffer_like(self, "grad_input", grad_out)
  K.log_softmax_backward(grad_out, self.output, gi)
  return gi
end

-- ------------------------------------------------------------------ Sequential

local Sequential = nn.class("nn.Sequential")

-- Sequential(m1, m2, ...) or Sequential{m1, m2, ...}: each module's output feeds the next.
function nn.Sequential(...)
  local mods = { ... }
  if #mods == 1 and getmetatable(mods[1]) == nil and type(mods[1]) == "table" then
    mods = mods[1]
  end
  local self = setmetatable({ modules = {}, training = true }, Sequential)
  for i, m in ipairs(mods) do
    if type(m) ~= "table" or type(m.forward) ~= "function" then
      error(("nn.Sequential: module %d is not a module (got %s)"):format(i, type(m)), 2)
    end
    self.modules[i] = m
  end
  return self
end

function Sequential:add(m)
  if type(m) ~= "table" or type(m.forward) ~= "function" then
    error("nn.Sequential.add: expected a module, got " .. type(m), 2)
  end
  self.modules[#self.modules + 1] = m
  return self
end

function Sequential:describe(indent)
  indent = indent or ""
  local lines = { "nn.Sequential {" }
  for i, m in ipairs(self.modules) do
    lines[#lines + 1] = ("%s  (%d): %s"):format(indent, i, m:describe(indent .. "  "))
  end
  lines[#lines + 1] = indent .. "}"
  return table.concat(lines, "\n")
end

function Sequential:forward(x)
  local inputs = self._inputs
  if inputs == nil then
    inputs = {}
    self._inputs = inputs
  end
  for i, m in ipairs(self.modules) do
    inputs[i] = x
    x = m:forward(x)
  end
  self.output = x
  return x
end

local NO_INPUT_GRAD = { input_grad = false }

-- Runs the modules' backwards in reverse order, from the inputs the last forward saw.
function Sequential:backward(x, grad_out, opts)
  local need = want_input_grad(opts, "nn.Sequential.backward")
  local mods, inputs = self.modules, self._inputs
  if inputs == nil or inputs[1] ~= x then
    error("nn.Sequential.backward: call forward with this input first", 2)
  end
  local g = grad_out
  for i = #mods, 1, -1 do
    local o = nil
    if i == 1 and not need then o = NO_INPUT_GRAD end
    g = mods[i]:backward(inputs[i], g, o)
  end
  self.grad_input = g
  return g
end

function Sequential:_reset_buffers()
  self.output, self.grad_input, self._inputs = nil, nil, nil
end

-- ------------------------------------------------------------------ losses (criteria)
--
-- crit:forward(input, target) -> loss (a Lua number); crit:backward(input, target) -> the
-- gradient of the loss with respect to input.

-- A criterion of class cls from its options: reduction = "mean" (the default) or "sum".
local function criterion(cls, opts)
  opts = check_opts(opts, { reduction = true }, cls.__name, 4)
  local red = args.one_of(opts.reduction, "reduction", cls.__name, { "mean", "sum" }, "mean", 4)
  return setmetatable({ reduction = red }, cls)
end

local function describe_criterion(self)
  return ("%s(%s)"):format(self.__name, self.reduction)
end

local CrossEntropyLoss = nn.class("nn.CrossEntropyLoss")

-- CrossEntropyLoss{reduction = "mean" | "sum"}: log-softmax and negative log-likelihood fused
-- in one kernel. input: batch x classes logits; target: i32/i64 labels 1..classes.
function nn.CrossEntropyLoss(opts, ...)
  args.at_most("nn.CrossEntropyLoss", 1, ...)
  local self = criterion(CrossEntropyLoss, opts)
  self._opts = { reduction = self.reduction, grad = true }
  return self
end

CrossEntropyLoss.describe = describe_criterion

local function ce(self, input, target)
  check_2d(input, "nn.CrossEntropyLoss")
  check_tensor(target, "nn.CrossEntropyLoss", "target")
  local opts = self._opts
  -- inside tide.autograd.grad the kernel's rule gives the gradient a tensor of its own
  opts.out = not tracing() and buffer_like(self, "grad_input", input) or nil
  local ok, loss, grad = pcall(K.cross_entropy, input, target, opts)
  if not ok then
    error((tostring(loss):gsub("^cross_entropy: ", "nn.CrossEntropyLoss: ")), 3)
  end
  self._input, self._target, self.grad_input = input, target, grad
  self.output = loss
  return loss, grad
end

function CrossEntropyLoss:forward(input, target)
  return (ce(self, input, target))
end

function CrossEntropyLoss:backward(input, target)
  -- forward already computed the gradient of these very tensors
  if self._input ~= input or self._target ~= target then ce(self, input, target) end
  return self.grad_input
end

local NLLLoss = nn.class("nn.NLLLoss")

-- NLLLoss{reduction = "mean" | "sum"} (Torch7's ClassNLLCriterion): the negative of
-- input[i][target[i]], for input log-probabilities (LogSoftMax's output, batch x classes) and
-- i32/i64 targets 1..classes.
function nn.NLLLoss(opts, ...)
  args.at_most("nn.NLLLoss", 1, ...)
  local self = criterion(NLLLoss, opts)   -- not a tail call: errors name this one's caller
  return self
end
nn.ClassNLLCriterion = nn.NLLLoss

NLLLoss.describe = describe_criterion

-- The targets as a batch x 1 index, after checking them against the input's classes.
local function nll_index(input, target)
  check_2d(input, "nn.NLLLoss")
  check_tensor(target, "nn.NLLLoss", "target")
  local rows, classes = input:size(1), input:size(2)
  if target:dim() ~= 1 or target:size(1) ~= rows then
    error(("nn.NLLLoss: expected %d labels (one per row), got a %s tensor"):format(rows,
      shape_str(target)), 3)
  end
  local dt = target:dtype()
  if dt ~= "i32" and dt ~= "i64" then
    error("nn.NLLLoss: expected i32 or i64 labels, got " .. dt, 3)
  end
  local lo, hi = target:min(), target:max()
  if lo < 1 or hi > classes then
    error(("nn.NLLLoss: label %d is outside the class range 1..%d"):format(lo < 1 and lo or hi,
      classes), 3)
  end
  return target:view({ rows, 1 })
end

function NLLLoss:forward(input, target)
  local picked = input:gather(2, nll_index(input, target))
  local loss = -picked:sum()
  if self.reduction == "mean" then loss = loss / input:size(1) end
  self.output = loss
  return loss
end

function NLLLoss:backward(input, target)
  local idx = nll_index(input, target)
  local rows = input:size(1)
  local gi = buffer_like(self, "grad_input", input)
  gi:zero_()
  local v = self.reduction == "mean" and -1 / rows or -1
  gi:scatter_add_(2, idx, tide.full({ rows, 1 }, v, input:dtype()))
  return gi
end

local MSELoss = nn.class("nn.MSELoss")

-- MSELoss{reduction = "mean" | "sum"}: the mean (or sum) of squared differences.
function nn.MSELoss(opts, ...)
  args.at_most("nn.MSELoss", 1, ...)
  local self = criterion(MSELoss, opts)
  return self
end

MSELoss.describe = describe_criterion

local function mse_check(input, target)
  check_tensor(input, "nn.MSELoss")
  check_tensor(target, "nn.MSELoss", "target")
  if shape_str(input) ~= shape_str(target) then
    error(("nn.MSELoss: input has shape %s but target has shape %s"):format(shape_str(input),
      shape_str(target)), 3)
  end
end

function MSELoss:forward(input, target)
  mse_check(input, target)
  if tracing() then            -- the fused kernel is not on the tape
    local d = input - target
    local loss = (d * d):sum()
    if self.reduction == "mean" then loss = loss / input:numel() end
    self.output = loss
    return loss
  end
  local loss = K.sq_dist(input, target)
  if self.reduction == "mean" then loss = loss / input:numel() end
  self.output = loss
  return loss
end

function MSELoss:backward(input, target)
  mse_check(input, target)
  local gi = buffer_like(self, "grad_input", input)
  local scale = self.reduction == "mean" and 2 / input:numel() or 2
  K.scaled_diff(input, target, scale, gi)             -- gi = scale * (input - target)
  return gi
end

-- ------------------------------------------------------------------ binary cross-entropy

-- The options of BCEWithLogitsLoss and its functional form, checked: reduction and pos_weight
-- (nil, a number, or a tensor over the last dim: one weight per class).
local function bce_opts(opts, where, level)
  opts = check_opts(opts, { reduction = true, pos_weight = true }, where, level + 1)
  local red = args.one_of(opts.reduction, "reduction", where, { "mean", "sum" }, "mean",
    level + 1)
  local pw = opts.pos_weight
  if pw ~= nil and type(pw) ~= "number" and not tide.is_tensor(pw) then
    error(("%s: pos_weight must be a number or a tensor, got %s"):format(where, type(pw)),
      level + 1)
  end
  return red, pw
end

-- input and target of one shape; target (0/1 labels or probabilities, any dtype) in input's.
local function bce_target(input, target, where)
  check_tensor(input, where)
  check_tensor(target, where, "target")
  if shape_str(input) ~= shape_str(target) then
    error(("%s: input has shape %s but target has shape %s"):format(where, shape_str(input),
      shape_str(target)), 4)
  end
  local dt = input:dtype()
  if dt ~= "f32" and dt ~= "f64" then
    error(("%s: expected an f32 or f64 input (logits), got %s"):format(where, dt), 4)
  end
  return target:dtype() == dt and target or target:to(dt)
end

-- The weight of each element's log-sigmoid term: 1 + (pos_weight - 1) * target (nil: 1).
local function bce_weight(target, pw)
  if pw == nil then return nil end
  if tide.is_tensor(pw) then pw = pw:to(target:dtype()) end
  return target * (pw - 1) + 1
end

-- The loss per element, (1 - y) x + w softplus(-x), with softplus(-x) written
-- log(1 + exp(-|x|)) + max(-x, 0) so that no exp overflows: PyTorch's stable form. Made of
-- tensor methods only, so tide.autograd differentiates it.
local function bce_elements(x, y, w)
  local softplus = (-x:abs()):exp():add(1):log() + (-x):relu()
  return (1 - y) * x + (w and w * softplus or softplus)
end

-- nn.functional.binary_cross_entropy_with_logits(input, target, {pos_weight =, reduction =
-- "mean" | "sum"}): the loss of BCEWithLogitsLoss as a number (a 0-d tensor on autograd's
-- tape, which differentiates it like any other tensor code).
nn.functional = nn.functional or {}
function nn.functional.binary_cross_entropy_with_logits(input, target, opts, ...)
  args.at_most("nn.functional.binary_cross_entropy_with_logits", 3, ...)
  local where = "nn.functional.binary_cross_entropy_with_logits"
  local red, pw = bce_opts(opts, where, 2)
  local y = bce_target(input, target, where)
  local loss = bce_elements(input, y, bce_weight(y, pw))
  local total = red == "mean" and loss:mean() or loss:sum()
  return total
end

local BCEWithLogitsLoss = nn.class("nn.BCEWithLogitsLoss")

-- BCEWithLogitsLoss{reduction = "mean" | "sum", pos_weight = nil}: binary cross-entropy of
-- sigmoid(input) against target, computed from the logits without forming the sigmoid, so
-- logits of any size give finite losses and gradients. input: logits of any shape; target: the
-- same shape, 0/1 labels or probabilities. pos_weight (a number, or a tensor of one weight per
-- class along the last dim) scales the positive term, as in PyTorch.
function nn.BCEWithLogitsLoss(opts, ...)
  args.at_most("nn.BCEWithLogitsLoss", 1, ...)
  local red, pw = bce_opts(opts, "nn.BCEWithLogitsLoss", 2)
  return setmetatable({ reduction = red, pos_weight = pw }, BCEWithLogitsLoss)
end

BCEWithLogitsLoss.describe = describe_criterion

function BCEWithLogitsLoss:forward(input, target)
  local y = bce_target(input, target, "nn.BCEWithLogitsLoss")
  local loss = bce_elements(input, y, bce_weight(y, self.pos_weight)):sum()
  if self.reduction == "mean" then loss = loss / input:numel() end
  self.output = loss
  return loss
end

-- d/dx [(1 - y) x + w softplus(-x)] = (1 - y) - w (1 - sigmoid(x)): sigmoid(x) - y when w = 1.
function BCEWithLogitsLoss:backward(input, target)
  local y = bce_target(input, target, "nn.BCEWithLogitsLoss")
  local w = bce_weight(y, self.pos_weight)
  local s = input:sigmoid()
  local g = w and (1 - y) - w * (1 - s) or s - y
  if self.reduction == "mean" then g:div_(input:numel()) end
  self.grad_input = g
  return g
end

require "tide.nn.conv"
require "tide.nn.layers"
require "tide.nn.norm"
require "tide.nn.gcn"

return nn
