-- tide.nn.conv: layers over images (batch x channels x height x width), on core/nn's C
-- kernels. Conv2d, with PyTorch's names and argument order:
--
--   nn.Conv2d(in, out, kernel, {stride = 1, padding = 0, dilation = 1, groups = 1,
--             bias = true, dtype = "f32"})
--
-- kernel, stride, padding and dilation are an integer or a pair {height, width}. The weight is
-- out x in/groups x kh x kw, drawn like torch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
local tide = require "tide"
local base = require "tide.nn.base"
local args = require "tide.args"

local K = tide._internal.kernels
local nn = base.nn
local shape_str, check_opts = args.shape_str, args.check_opts
local M = {}

-- {h, w} from an integer or a pair of integers, each >= lo.
local function pair(v, name, where, lo)
  local p = type(v) == "table" and { v[1], v[2] } or { v, v }
  for i = 1, 2 do
    if math.type(p[i]) ~= "integer" or p[i] < lo or (type(v) == "table" and #v ~= 2) then
      error(("%s: %s must be an integer >= %d or a pair of them, got %s"):format(where, name, lo,
        type(v) == "table" and "a table of " .. #v or tostring(v)), 4)
    end
  end
  return p
end
M.pair = pair

local function positive(v, name, where)
  if math.type(v) ~= "integer" or v < 1 then
    error(("%s: %s must be a positive integer, got %s"):format(where, name, tostring(v)), 3)
  end
  return v
end

-- Checks x is a 4-D tensor of the layer's dtype with the channels it expects; the message
-- names the layer and both shapes.
local function check_image(x, where, channels, dtype)
  base.check_tensor(x, where)
  if x:dim() ~= 4 then
    error(("%s: expected a 4-D input (batch x channels x height x width), got %s"):format(where,
      shape_str(x)), 3)
  end
  if channels and x:size(2) ~= channels then
    error(("%s: expected %d input channels, got %s"):format(where, channels, shape_str(x)), 3)
  end
  if dtype and x:dtype() ~= dtype then
    error(("%s: expected %s input (the module's dtype), got %s"):format(where, dtype,
      x:dtype()), 3)
  end
end
M.check_image = check_image

-- A kernel's message without its position and kernel name, for the layer to name itself.
local function strip(err)
  return (tostring(err):gsub("^.-:%d+: ", ""):gsub("^[%w_]+: ", ""))
end

local function contiguous(x)
  return x:is_contiguous() and x or x:contiguous()
end
M.contiguous = contiguous

-- ------------------------------------------------------------------ Conv2d

local Conv2d = nn.class("nn.Conv2d")
nn.Conv2d_class = Conv2d

function nn.Conv2d(n_in, n_out, kernel, opts, ...)
  args.at_most("nn.Conv2d", 4, ...)
  local where = "nn.Conv2d"
  opts = check_opts(opts, { stride = true, padding = true, dilation = true, groups = true,
    bias = true, dtype = true }, where)
  positive(n_in, "in_channels", where)
  positive(n_out, "out_channels", where)
  local k = pair(kernel, "kernel_size", where, 1)
  local groups = positive(opts.groups or 1, "groups", where)
  if n_in % groups ~= 0 or n_out % groups ~= 0 then
    error(("%s: in_channels %d and out_channels %d must be divisible by groups %d"):format(where,
      n_in, n_out, groups), 2)
  end
  local dtype = opts.dtype or "f32"
  if dtype ~= "f32" and dtype ~= "f64" then
    error(where .. ": dtype must be \"f32\" or \"f64\", got " .. tostring(dtype), 2)
  end
  local self = setmetatable({ n_in = n_in, n_out = n_out, kernel = k, dtype = dtype,
    training = true, p = { stride = pair(opts.stride or 1, "stride", where, 1),
      padding = pair(opts.padding or 0, "padding", where, 0),
      dilation = pair(opts.dilation or 1, "dilation", where, 1), groups = groups } }, Conv2d)
  local bound = 1 / math.sqrt(n_in // groups * k[1] * k[2])
  local wshape = { n_out, n_in // groups, k[1], k[2] }
  self.weight = tide.empty(wshape, dtype):uniform_(-bound, bound)
  self.grad_weight = tide.zeros(wshape, dtype)
  self._params = { "weight" }
  if opts.bias ~= false then
    self.bias = tide.empty({ n_out }, dtype):uniform_(-bound, bound)
    self.grad_bias = tide.zeros({ n_out }, dtype)
    self._params[2] = "bias"
  end
  return self
end

function Conv2d:describe()
  local p = self.p
  return ("nn.Conv2d(%d -> %d, %dx%d, stride %dx%d, padding %dx%d, dilation %dx%d, groups %d%s)")
    :format(self.n_in, self.n_out, self.kernel[1], self.kernel[2], p.stride[1], p.stride[2],
      p.padding[1], p.padding[2], p.dilation[1], p.dilation[2], p.groups,
      self.bias and "" or ", without bias")
end

-- The buffer self[key] when it has this shape (4 sizes) and dtype (the module's by default),
-- else nil (the kernel allocates): reusing outputs and grad_input saves the page faults of
-- fresh memory, which cost as much as a pooling layer's arithmetic.
local function reuse(self, key, n, c, h, w, dtype)
  local b = self[key]
  if b and b:size(1) == n and b:size(2) == c and b:size(3) == h and b:size(4) == w
      and b:dtype() == (dtype or self.dtype) then
    return b
  end
  return nil
end

function Conv2d:_out_hw(x)
  local p, hw = self.p, {}
  for d = 1, 2 do
    hw[d] = (x:size(2 + d) + 2 * p.padding[d] - p.dilation[d] * (self.kernel[d] - 1) - 1)
      // p.stride[d] + 1
  end
  return hw
end

function Conv2d:forward(x)
  check_image(x, "nn.Conv2d", self.n_in, self.dtype)
  local hw = self:_out_hw(x)
  local buf = hw[1] >= 1 and hw[2] >= 1
    and reuse(self, "output", x:size(1), self.n_out, hw[1], hw[2])
  local ok, out = pcall(K.conv2d, contiguous(x), self.weight, self.bias, self.p, buf or nil)
  if not ok then error("nn.Conv2d: " .. strip(out), 2) end
  self.output = out
  return out
end

function Conv2d:backward(x, grad_out, opts)
  local need = base.want_input_grad(opts, "nn.Conv2d.backward")
  check_image(x, "nn.Conv2d.backward", self.n_in, self.dtype)
  base.check_tensor(grad_out, "nn.Conv2d.backward", "grad_out")
  local ok, gi = pcall(K.conv2d_backward, contiguous(grad_out), contiguous(x), self.weight,
    self.p, { grad_input = need and (reuse(self, "grad_input", x:size(1), x:size(2), x:size(3),
      x:size(4)) or true), grad_weight = self.grad_weight, grad_bias = self.grad_bias })
  if not ok then error("nn.Conv2d.backward: " .. strip(gi), 2) end
  self:_grads_ready()
  self.grad_input = gi
  return gi
end

-- ------------------------------------------------------------------ pools
--
--   nn.MaxPool2d(kernel, {stride = kernel, padding = 0})
--   nn.AvgPool2d(kernel, {stride = kernel, padding = 0})   -- padding counts as zeros
--   nn.AdaptiveAvgPool2d(size)                             -- an integer or {h, w}

local function pool_class(name, fwd, bwd)
  local cls = nn.class("nn." .. name)
  nn[name .. "_class"] = cls
  local where = "nn." .. name
  nn[name] = function(kernel, opts, ...)
    args.at_most(where, 2, ...)
    opts = check_opts(opts, { stride = true, padding = true }, where)
    local k = pair(kernel, "kernel_size", where, 1)
    local p = { kernel = k, stride = pair(opts.stride or kernel, "stride", where, 1),
      padding = pair(opts.padding or 0, "padding", where, 0) }
    for d = 1, 2 do
      if 2 * p.padding[d] > k[d] then
        error(("%s: padding %d must be at most half the kernel size %d"):format(where,
          p.padding[d], k[d]), 2)
      end
    end
    return setmetatable({ p = p, training = true }, cls)
  end
  function cls:describe()
    local p = self.p
    return ("%s(%dx%d, stride %dx%d, padding %dx%d)"):format(where, p.kernel[1], p.kernel[2],
      p.stride[1], p.stride[2], p.padding[1], p.padding[2])
  end
  function cls:forward(x)
    check_image(x, where)
    local ok, out = pcall(fwd, self, contiguous(x))
    if not ok then error(where .. ": " .. strip(out), 2) end
    self.output = out
    return out
  end
  function cls:backward(x, grad_out, opts)
    if not base.want_input_grad(opts, where .. ".backward") then return nil end
    check_image(x, where .. ".backward")
    base.check_tensor(grad_out, where .. ".backward", "grad_out")
    local ok, gi = pcall(bwd, self, contiguous(grad_out), contiguous(x))
    if not ok then error(where .. ".backward: " .. strip(gi), 2) end
    self.grad_input = gi
    return gi
  end
  return cls
end

-- The pool's output and argmax buffers from the last call when x's shape gives theirs again.
local function pool_out(self, x, key, dtype)
  local p, hw = self.p, {}
  for d = 1, 2 do
    hw[d] = (x:size(2 + d) + 2 * p.padding[d] - p.kernel[d]) // p.stride[d] + 1
  end
  return reuse(self, key, x:size(1), x:size(2), hw[1], hw[2], dtype or x:dtype())
end

local function grad_in(self, x)
  return reuse(self, "grad_input", x:size(1), x:size(2), x:size(3), x:size(4), x:dtype())
end

pool_class("MaxPool2d", function(self, x)
  local out, am = K.max_pool2d(x, self.p, pool_out(self, x, "output"),
    pool_out(self, x, "_argmax", "i64"))
  self._argmax = am
  return out
end, function(self, g, x) return K.max_pool2d_backward(g, self._argmax, x, grad_in(self, x)) end)

pool_class("AvgPool2d", function(self, x)
  return K.avg_pool2d(x, self.p, pool_out(self, x, "output"))
end, function(self, g, x) return K.avg_pool2d_backward(g, x, self.p, grad_in(self, x)) end)

local Adaptive = nn.class("nn.AdaptiveAvgPool2d")
nn.AdaptiveAvgPool2d_class = Adaptive

function nn.AdaptiveAvgPool2d(size, opts, ...)
  args.at_most("nn.AdaptiveAvgPool2d", 2, ...)
  check_opts(opts, {}, "nn.AdaptiveAvgPool2d")
  return setmetatable({ size = pair(size, "output_size", "nn.AdaptiveAvgPool2d", 1),
    training = true }, Adaptive)
end

function Adaptive:describe()
  return ("nn.AdaptiveAvgPool2d(%dx%d)"):format(self.size[1], self.size[2])
end

function Adaptive:forward(x)
  check_image(x, "nn.AdaptiveAvgPool2d")
  self.output = K.adaptive_avg_pool2d(contiguous(x), self.size[1], self.size[2])
  return self.output
end

function Adaptive:backward(x, grad_out, opts)
  if not base.want_input_grad(opts, "nn.AdaptiveAvgPool2d.backward") then return nil end
  check_image(x, "nn.AdaptiveAvgPool2d.backward")
  base.check_tensor(grad_out, "nn.AdaptiveAvgPool2d.backward", "grad_out")
  local ok, gi = pcall(K.adaptive_avg_pool2d_backward, contiguous(grad_out), contiguous(x))
  if not ok then
    error("nn.AdaptiveAvgPool2d.backward: " .. strip(gi), 2)
  end
  self.grad_input = gi
  return gi
end

return M
