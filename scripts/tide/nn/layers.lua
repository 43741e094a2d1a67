-- tide.nn.layers: shape and activation layers with PyTorch's names and arguments:
--
--   nn.Identity(), nn.Flatten({start_dim = 2, end_dim = -1}), nn.LeakyReLU(negative_slope),
--   nn.GELU(), nn.SoftMax(dim), nn.Embedding(num, dim, {sparse = false, dtype = "f32"})
--
-- Dims count from 1 as everywhere in tide (Flatten's start_dim 2 is torch's 1: the batch dim
-- stays). Embedding indices are 1-based, i32 or i64, of any shape.
local tide = require "tide"
local args = require "tide.args"
local base = require "tide.nn.base"

local nn, K = base.nn, tide._internal.kernels
local check_tensor, want_input_grad = base.check_tensor, base.want_input_grad
local shape_str, check_opts = args.shape_str, args.check_opts
local M = {}

-- ------------------------------------------------------------------ Identity

local Identity = nn.class("nn.Identity")
nn.Identity_class = Identity

function nn.Identity(opts, ...)
  args.at_most("nn.Identity", 1, ...)
  check_opts(opts, {}, "nn.Identity")
  return setmetatable({ training = true }, Identity)
end

function Identity:forward(x)
  self.output = x
  return x
end

function Identity:backward(x, grad_out, opts)
  if not want_input_grad(opts, "nn.Identity.backward") then return nil end
  self.grad_input = grad_out
  return grad_out
end

-- ------------------------------------------------------------------ Flatten

local Flatten = nn.class("nn.Flatten")
nn.Flatten_class = Flatten

function nn.Flatten(opts, ...)
  args.at_most("nn.Flatten", 1, ...)
  opts = check_opts(opts, { start_dim = true, end_dim = true }, "nn.Flatten")
  local s, e = opts.start_dim or 2, opts.end_dim or -1
  if math.type(s) ~= "integer" or math.type(e) ~= "integer" then
    error("nn.Flatten: start_dim and end_dim must be integers", 2)
  end
  return setmetatable({ start_dim = s, end_dim = e, training = true }, Flatten)
end

function Flatten:describe()
  return ("nn.Flatten(%d, %d)"):format(self.start_dim, self.end_dim)
end

function Flatten:forward(x)
  check_tensor(x, "nn.Flatten")
  local n = x:dim()
  local s = self.start_dim < 0 and n + 1 + self.start_dim or self.start_dim
  local e = self.end_dim < 0 and n + 1 + self.end_dim or self.end_dim
  if s < 1 or e > n or s > e then
    error(("nn.Flatten: dims %d..%d do not fit a %d-D input %s"):format(self.start_dim,
      self.end_dim, n, shape_str(x)), 2)
  end
  local shape, merged = {}, 1
  for d = 1, n do
    if d < s or d > e then
      shape[#shape + 1] = x:size(d)
    else
      merged = merged * x:size(d)
      if d == e then shape[#shape + 1] = merged end
    end
  end
  self.output = x:reshape(shape)
  return self.output
end

function Flatten:backward(x, grad_out, opts)
  if not want_input_grad(opts, "nn.Flatten.backward") then return nil end
  self.grad_input = grad_out:reshape(x:shape())
  return self.grad_input
end

-- ------------------------------------------------------------------ LeakyReLU and GELU

local function contiguous(x) return x:is_contiguous() and x or x:contiguous() end

local LeakyReLU = nn.class("nn.LeakyReLU")
nn.LeakyReLU_class = LeakyReLU

function nn.LeakyReLU(slope, opts, ...)
  args.at_most("nn.LeakyReLU", 2, ...)
  check_opts(opts, {}, "nn.LeakyReLU")
  slope = args.number(slope, "negative_slope", "nn.LeakyReLU", 0.01)
  return setmetatable({ slope = slope, training = true }, LeakyReLU)
end

function LeakyReLU:describe() return ("nn.LeakyReLU(%g)"):format(self.slope) end

function LeakyReLU:forward(x)
  check_tensor(x, "nn.LeakyReLU")
  self.output = K.leaky_relu(contiguous(x), self.slope)
  return self.output
end

function LeakyReLU:backward(x, grad_out, opts)
  if not want_input_grad(opts, "nn.LeakyReLU.backward") then return nil end
  check_tensor(grad_out, "nn.LeakyReLU.backward", "grad_out")
  self.grad_input = K.leaky_relu_backward(contiguous(grad_out), contiguous(x), self.slope)
  return self.grad_input
end

local GELU = nn.class("nn.GELU")
nn.GELU_class = GELU

function nn.GELU(opts, ...)
  args.at_most("nn.GELU", 1, ...)
  check_opts(opts, {}, "nn.GELU")
  return setmetatable({ training = true }, GELU)
end

function GELU:forward(x)
  check_tensor(x, "nn.GELU")
  self.output = K.gelu(contiguous(x))
  return self.output
end

function GELU:backward(x, grad_out, opts)
  if not want_input_grad(opts, "nn.GELU.backward") then return nil end
  check_tensor(grad_out, "nn.GELU.backward", "grad_out")
  self.grad_input = K.gelu_backward(contiguous(grad_out), contiguous(x))
  return self.grad_input
end

-- ------------------------------------------------------------------ SoftMax

local SoftMax = nn.class("nn.SoftMax")
nn.SoftMax_class = SoftMax

-- SoftMax(dim): torch's nn.Softmax(dim); dim defaults to the last (a warning case in torch).
function nn.SoftMax(dim, opts, ...)
  args.at_most("nn.SoftMax", 2, ...)
  check_opts(opts, {}, "nn.SoftMax")
  if dim ~= nil and math.type(dim) ~= "integer" then
    error("nn.SoftMax: dim must be an integer, got " .. tostring(dim), 2)
  end
  return setmetatable({ dim = dim, training = true }, SoftMax)
end
nn.Softmax = nn.SoftMax

function SoftMax:describe() return ("nn.SoftMax(%s)"):format(self.dim or "last") end

function SoftMax:forward(x)
  check_tensor(x, "nn.SoftMax")
  local ok, y = pcall(x.softmax, x, self.dim or x:dim())
  if not ok then error("nn.SoftMax: " .. tostring(y):gsub("^softmax: ", ""), 2) end
  self.output = y
  return y
end

function SoftMax:backward(x, grad_out, opts)
  if not want_input_grad(opts, "nn.SoftMax.backward") then return nil end
  local y, d = self.output, self.dim or x:dim()
  if d < 0 then d = x:dim() + 1 + d end
  self.grad_input = y * (grad_out - (grad_out * y):sum(d, { keepdim = true }))
  return self.grad_input
end

-- ------------------------------------------------------------------ Embedding

local Embedding = nn.class("nn.Embedding")
nn.Embedding_class = Embedding

-- Embedding(num, dim, {sparse = false, dtype = "f32"}): row i of weight (num x dim, drawn
-- N(0, 1) as torch) for index i. With sparse = true, backward leaves grad_weight alone and
-- appends the rows it touched to the list self.sparse_grad, one {indices = i64 (k), values =
-- k x dim} per backward (repeated indices repeat): what a parameter server applies with
-- index_add_(1, indices, values); zero_grad empties it.
function nn.Embedding(num, dim, opts, ...)
  args.at_most("nn.Embedding", 3, ...)
  opts = check_opts(opts, { sparse = true, dtype = true }, "nn.Embedding")
  args.integer(num, "num_embeddings", "nn.Embedding", 1)
  args.integer(dim, "embedding_dim", "nn.Embedding", 1)
  local dtype = opts.dtype or "f32"
  if dtype ~= "f32" and dtype ~= "f64" then
    error("nn.Embedding: dtype must be \"f32\" or \"f64\", got " .. tostring(dtype), 2)
  end
  local self = setmetatable({ num = num, edim = dim, dtype = dtype, sparse = opts.sparse == true,
    training = true, _params = { "weight" } }, Embedding)
  self.weight = tide.randn({ num, dim }, dtype)
  self.grad_weight = tide.zeros({ num, dim }, dtype)
  return self
end

function Embedding:describe()
  return ("nn.Embedding(%d, %d%s)"):format(self.num, self.edim, self.sparse and ", sparse" or "")
end

function Embedding:_indices(idx, where)
  check_tensor(idx, where, "indices")
  if idx:dtype() ~= "i32" and idx:dtype() ~= "i64" then
    error(("%s: expected i32 or i64 indices, got %s"):format(where, args.tensor_desc(idx)), 3)
  end
  local flat = idx:reshape({ idx:numel() })
  if idx:numel() > 0 then
    local lo, hi = flat:min(), flat:max()
    if lo < 1 or hi > self.num then
      error(("%s: index %d out of range 1..%d (weight %s, indices %s)"):format(where,
        lo < 1 and lo or hi, self.num, shape_str(self.weight), shape_str(idx)), 3)
    end
  end
  return flat
end

function Embedding:forward(idx)
  local flat = self:_indices(idx, "nn.Embedding")
  local shape = idx:shape()
  shape[#shape + 1] = self.edim
  self.output = self.weight:index_select(1, flat):reshape(shape)
  return self.output
end

function Embedding:backward(idx, grad_out, opts)
  check_opts(opts, { input_grad = true }, "nn.Embedding.backward")
  local flat = self:_indices(idx, "nn.Embedding.backward")
  check_tensor(grad_out, "nn.Embedding.backward", "grad_out")
  if grad_out:numel() ~= flat:numel() * self.edim then
    error(("nn.Embedding.backward: expected grad_out of %d x %d elements for indices %s, got %s")
      :format(flat:numel(), self.edim, shape_str(idx), shape_str(grad_out)), 2)
  end
  local rows = grad_out:reshape({ flat:numel(), self.edim })
  if self.sparse then
    local sg = self.sparse_grad or {}
    sg[#sg + 1] = { indices = flat:to("i64"), values = rows:clone() }
    self.sparse_grad = sg
  else
    self.grad_weight:index_add_(1, flat, rows)
  end
  self:_grads_ready()
  return nil     -- indices have no gradient
end

function Embedding:_zero_own_grads()
  self.grad_weight:zero_()
  self.sparse_grad = nil
  self._grads_stale = false
end

-- ------------------------------------------------------------------ Unflatten

local Unflatten = nn.class("nn.Unflatten")
nn.Unflatten_class = Unflatten

-- Unflatten(dim, sizes): torch's nn.Unflatten, dim 1-based; Unflatten(2, {1, 28, 28}) makes
-- batch x 784 images batch x 1 x 28 x 28.
function nn.Unflatten(dim, sizes, opts, ...)
  args.at_most("nn.Unflatten", 3, ...)
  check_opts(opts, {}, "nn.Unflatten")
  args.integer(dim, "dim", "nn.Unflatten", 1)
  if type(sizes) ~= "table" or #sizes == 0 then
    error("nn.Unflatten: sizes must be a table of integers, got " .. type(sizes), 2)
  end
  local n = 1
  for i, v in ipairs(sizes) do
    args.integer(v, "sizes[" .. i .. "]", "nn.Unflatten", 1)
    n = n * v
  end
  return setmetatable({ dim = dim, sizes = { table.unpack(sizes) }, n = n, training = true },
    Unflatten)
end

function Unflatten:describe()
  return ("nn.Unflatten(%d, %s)"):format(self.dim, table.concat(self.sizes, "x"))
end

function Unflatten:forward(x)
  check_tensor(x, "nn.Unflatten")
  if x:dim() < self.dim or x:size(self.dim) ~= self.n then
    error(("nn.Unflatten: expected dim %d of size %d, got %s"):format(self.dim, self.n,
      shape_str(x)), 2)
  end
  local shape = {}
  for d = 1, x:dim() do
    if d == self.dim then
      for _, v in ipairs(self.sizes) do shape[#shape + 1] = v end
    else
      shape[#shape + 1] = x:size(d)
    end
  end
  self.output = x:reshape(shape)
  return self.output
end

function Unflatten:backward(x, grad_out, opts)
  if not want_input_grad(opts, "nn.Unflatten.backward") then return nil end
  self.grad_input = grad_out:reshape(x:shape())
  return self.grad_input
end

return M
