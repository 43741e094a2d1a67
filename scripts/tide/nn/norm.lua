-- tide.nn.norm: normalisation layers with PyTorch's names, arguments and running statistics:
--
--   nn.BatchNorm1d(C, {eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true,
--                      sync = comm, dtype = "f32"})     -- input N x C or N x C x L
--   nn.BatchNorm2d(C, {...})                            -- input N x C x H x W
--   nn.LayerNorm(shape, {eps = 1e-5, elementwise_affine = true, dtype = "f32"})
--
-- BatchNorm normalises each channel by the batch's mean and biased variance in training and
-- moves running_mean/running_var towards them (running_var takes the unbiased variance, as
-- torch); in evaluation it uses the running statistics. With sync = a tide.comm, the batch
-- statistics (and the sums backward needs) are all-reduced over the ranks, as SyncBatchNorm:
-- every rank normalises by the statistics of the global batch. The running statistics are
-- part of module:state(). Every step is a whole-tensor op; nothing loops over samples.
local tide = require "tide"
local base = require "tide.nn.base"
local args = require "tide.args"

local nn = base.nn
local shape_str, check_opts = args.shape_str, args.check_opts
local M = {}

local function float_dtype(dtype, where)
  dtype = dtype or "f32"
  if dtype ~= "f32" and dtype ~= "f64" then
    error(where .. ": dtype must be \"f32\" or \"f64\", got " .. tostring(dtype), 3)
  end
  return dtype
end

-- ------------------------------------------------------------------ BatchNorm

local BatchNorm = nn.class("nn.BatchNorm")

local function batchnorm(name, ranks)
  local cls = nn.class("nn." .. name, BatchNorm)
  nn[name .. "_class"] = cls
  local where = "nn." .. name
  nn[name] = function(C, opts, ...)
    args.at_most(where, 2, ...)
    opts = check_opts(opts, { eps = true, momentum = true, affine = true,
      track_running_stats = true, sync = true, dtype = true }, where)
    args.integer(C, "num_features", where, 1)
    local dtype = float_dtype(opts.dtype, where)
    local self = setmetatable({ C = C, dtype = dtype, training = true, ranks = ranks,
      eps = args.number(opts.eps, "eps", where, 1e-5),
      momentum = args.number(opts.momentum, "momentum", where, 0.1, "in [0, 1]"),
      sync = opts.sync, _params = {}, _buffers = {} }, cls)
    if opts.affine ~= false then
      self.weight, self.bias = tide.ones({ C }, dtype), tide.zeros({ C }, dtype)
      self.grad_weight, self.grad_bias = tide.zeros({ C }, dtype), tide.zeros({ C }, dtype)
      self._params = { "weight", "bias" }
    end
    if opts.track_running_stats ~= false then
      self.running_mean, self.running_var = tide.zeros({ C }, dtype), tide.ones({ C }, dtype)
      self._buffers = { "running_mean", "running_var" }
    end
    return self
  end
  return cls
end
batchnorm("BatchNorm1d", { [2] = true, [3] = true })
batchnorm("BatchNorm2d", { [4] = true })

function BatchNorm:describe()
  return ("%s(%d%s)"):format(self.__name, self.C, self.sync and ", synchronized" or "")
end

function BatchNorm:_check(x, where)
  base.check_tensor(x, where)
  if not self.ranks[x:dim()] then
    error(("%s: expected a %s input, got %s"):format(where, self.ranks[4]
      and "4-D (batch x channels x height x width)" or "2-D or 3-D (batch x channels[ x length])",
      shape_str(x)), 3)
  end
  if x:size(2) ~= self.C then
    error(("%s: expected %d channels, got %s"):format(where, self.C, shape_str(x)), 3)
  end
  if x:dtype() ~= self.dtype then
    error(("%s: expected %s input (the module's dtype), got %s"):format(where, self.dtype,
      x:dtype()), 3)
  end
end

-- The per-channel shape that broadcasts against x: 1 x C x 1 ...
local function chan_shape(x)
  local s = { 1, x:size(2) }
  for d = 3, x:dim() do s[d] = 1 end
  return s
end

-- Sums of t over every dim but the channel one: a tensor of C.
local function chan_sum(t)
  local C = t:size(2)
  return t:transpose(1, 2):contiguous():view({ C, t:numel() // C }):sum(2)
end

-- Sums of several per-channel tensors (and the count) over the ranks, in one all-reduce.
local function reduce(self, parts, count)
  if not self.sync then return parts, count end
  if base.tracing() then    -- the all-reduce has no rule on the tape
    error(("%s: {sync = comm} is not differentiable by tide.autograd: use the module's own "
      .. "backward (or no sync)"):format(self.__name), 4)
  end
  local C, buf = self.C, tide.empty({ #parts * self.C + 1 }, "f64")
  for i, p in ipairs(parts) do buf:narrow(1, (i - 1) * C + 1, C):copy_(p) end
  buf:set_(#parts * C + 1, count)
  self.sync:allreduce(buf, "sum")
  for i = 1, #parts do parts[i] = buf:narrow(1, (i - 1) * C + 1, C):to(self.dtype) end
  return parts, math.floor(buf:get(#parts * C + 1) + 0.5)
end

function BatchNorm:forward(x)
  self:_check(x, self.__name)
  local cs = chan_shape(x)
  local mean, var
  if self.training or not self.running_mean then
    local n = x:numel() // self.C
    local parts, count = reduce(self, { chan_sum(x), chan_sum(x * x) }, n)
    if count < 2 and self.training then
      error(("%s: expected more than 1 value per channel when training, got input %s")
        :format(self.__name, shape_str(x)), 2)
    end
    mean = parts[1] / count
    var = (parts[2] / count - mean * mean):clamp(0, math.huge)
    self._count = count
    if self.training and self.running_mean then
      -- statistics, not part of the function: off the tape inside tide.autograd.grad
      base.no_grad(function()
        local m = self.momentum
        self.running_mean:mul_(1 - m):add_(mean * m)
        self.running_var:mul_(1 - m):add_(var * (m * count / (count - 1)))
      end)
    end
  else
    mean, var = self.running_mean, self.running_var
  end
  local invstd = (var + self.eps):sqrt():pow(-1)
  self._invstd, self._mean = invstd, mean
  local xhat = (x - mean:view(cs)) * invstd:view(cs)
  self._xhat = xhat
  self.output = self.weight and xhat * self.weight:view(cs) + self.bias:view(cs) or xhat
  return self.output
end

function BatchNorm:backward(x, grad_out, opts)
  local need = base.want_input_grad(opts, self.__name .. ".backward")
  self:_check(x, self.__name .. ".backward")
  base.check_tensor(grad_out, self.__name .. ".backward", "grad_out")
  if shape_str(grad_out) ~= shape_str(x) then
    error(("%s.backward: expected grad_out of shape %s, got %s"):format(self.__name,
      shape_str(x), shape_str(grad_out)), 2)
  end
  local cs, xhat = chan_shape(x), self._xhat
  local dbeta, dgamma = chan_sum(grad_out), chan_sum(grad_out * xhat)
  if self.weight then
    self.grad_weight:add_(dgamma)
    self.grad_bias:add_(dbeta)
    self:_grads_ready()
  end
  if not need then return nil end
  local scale = self._invstd
  if self.weight then scale = scale * self.weight end
  if self.training or not self.running_mean then
    local parts, count = reduce(self, { dbeta, dgamma }, 0)
    count = self._count
    self.grad_input = (grad_out - (parts[1] / count):view(cs) - xhat * (parts[2] / count):view(cs))
      * scale:view(cs)
  else
    self.grad_input = grad_out * scale:view(cs)
  end
  return self.grad_input
end

-- ------------------------------------------------------------------ LayerNorm

local LayerNorm = nn.class("nn.LayerNorm")
nn.LayerNorm_class = LayerNorm

function nn.LayerNorm(shape, opts, ...)
  args.at_most("nn.LayerNorm", 2, ...)
  local where = "nn.LayerNorm"
  opts = check_opts(opts, { eps = true, elementwise_affine = true, dtype = true }, where)
  if math.type(shape) == "integer" then shape = { shape } end
  if type(shape) ~= "table" or #shape == 0 then
    error(where .. ": normalized_shape must be an integer or a table of them, got "
      .. tostring(shape), 2)
  end
  local D = 1
  for i, s in ipairs(shape) do
    args.integer(s, "normalized_shape[" .. i .. "]", where, 1)
    D = D * s
  end
  local dtype = float_dtype(opts.dtype, where)
  local self = setmetatable({ shape = { table.unpack(shape) }, D = D, dtype = dtype,
    eps = args.number(opts.eps, "eps", where, 1e-5), training = true, _params = {} }, LayerNorm)
  if opts.elementwise_affine ~= false then
    self.weight, self.bias = tide.ones(shape, dtype), tide.zeros(shape, dtype)
    self.grad_weight, self.grad_bias = tide.zeros(shape, dtype), tide.zeros(shape, dtype)
    self._params = { "weight", "bias" }
  end
  return self
end

function LayerNorm:describe()
  return ("nn.LayerNorm(%s)"):format(table.concat(self.shape, "x"))
end

-- x as rows x D, after checking its trailing dims are the normalised shape.
function LayerNorm:_rows(x, where)
  base.check_tensor(x, where)
  local n, k = x:dim(), #self.shape
  local ok = n >= k and x:dtype() == self.dtype
  for i = 1, k do ok = ok and x:size(n - k + i) == self.shape[i] end
  if not ok then
    error(("%s: expected %s input ending in %s, got %s %s"):format(where, self.dtype,
      table.concat(self.shape, "x"), x:dtype(), shape_str(x)), 3)
  end
  return x:contiguous():view({ x:numel() // self.D, self.D })
end

function LayerNorm:forward(x)
  local x2 = self:_rows(x, "nn.LayerNorm")
  local mean = x2:mean(2, { keepdim = true })
  local xc = x2 - mean
  local invstd = ((xc * xc):mean(2, { keepdim = true }) + self.eps):sqrt():pow(-1)
  local xhat = xc * invstd
  self._xhat, self._invstd = xhat, invstd
  local y = xhat
  if self.weight then y = xhat * self.weight:view({ 1, self.D }) + self.bias:view({ 1, self.D }) end
  self.output = y:view(x:shape())
  return self.output
end

function LayerNorm:backward(x, grad_out, opts)
  local need = base.want_input_grad(opts, "nn.LayerNorm.backward")
  self:_rows(x, "nn.LayerNorm.backward")
  base.check_tensor(grad_out, "nn.LayerNorm.backward", "grad_out")
  if shape_str(grad_out) ~= shape_str(x) then
    error(("nn.LayerNorm.backward: expected grad_out of shape %s, got %s"):format(shape_str(x),
      shape_str(grad_out)), 2)
  end
  local g2, xhat = grad_out:contiguous():view({ x:numel() // self.D, self.D }), self._xhat
  local gx = g2
  if self.weight then
    self.grad_weight:add_((g2 * xhat):sum(1):view(self.shape))
    self.grad_bias:add_(g2:sum(1):view(self.shape))
    self:_grads_ready()
    gx = g2 * self.weight:view({ 1, self.D })
  end
  if not need then return nil end
  local gi = (gx - gx:mean(2, { keepdim = true })
    - xhat * (gx * xhat):mean(2, { keepdim = true })) * self._invstd
  self.grad_input = gi:view(x:shape())
  return self.grad_input
end

return M
