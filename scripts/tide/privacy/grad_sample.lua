-- tide.privacy.grad_sample: per-sample gradients of a model, and their clipping to a norm.
--
-- Two paths give the same numbers:
-- * "layers", when every module holding parameters is an nn.Linear or an nn.Conv2d (an MLP, a
--   CNN): one forward and backward of the batch, in which each such layer records what its
--   backward saw, its input x and the gradient g of its output.
--   - Linear: sample i's weight gradient is the outer product g_i x_i^T and its bias gradient
--     g_i. Its squared norm is |g_i|^2 (|x_i|^2 + 1) (the bias adds |g_i|^2), so the norms
--     cost two row sums per layer and the clipped sum sum_i c_i g_i x_i^T is one matrix
--     product of the scaled rows, with no per-sample tensor ever made.
--   - Conv2d: sample i's weight gradient is g_i (O x OH OW) times its unfolded input (im2col),
--     one GEMM per sample in C (core/nn/conv_sample.c), its bias gradient g_i summed over the
--     positions; the clipped sum is one product of the clipping factors with those rows.
-- * "loop", for any other module (tide.autograd modules, normalisation layers): one forward
--   and backward per sample, its gradients read, clipped and added up.
-- Both assume that a sample's output depends on that sample alone (no BatchNorm in training).
--
-- grad_out is the gradient of the batch loss with respect to the output. For a loss that is a
-- mean over the batch (the criterions' default), sample i's own gradient is rows * grad_out_i:
-- `scale` carries that factor.
local tide = require "tide"

local M = {}

local K = tide._internal.kernels
local BETA0 = { beta = 0 }

local conv_class       -- nn.Conv2d's metatable, looked up once tide.nn has loaded
local function is_conv(m)
  conv_class = conv_class or require("tide.nn").Conv2d_class
  return getmetatable(m) == conv_class
end

-- "layers" or "loop", and the leaves that hold parameters.
function M.path(model)
  local nn = require "tide.nn"
  if type(model._leaves) ~= "function" then return "loop", {} end
  local leaves = model:_leaves()
  for _, m in ipairs(leaves) do
    local mt = getmetatable(m)
    if mt ~= nn.Linear_class and mt ~= nn.Conv2d_class then return "loop", leaves end
  end
  return "layers", leaves
end

-- A Conv2d leaf's recording backward: its input gradient only, x and grad_out kept.
local function record_conv(m)
  local base, conv = require "tide.nn.base", require "tide.nn.conv"
  m.backward = function(self, x, grad_out, opts)
    self._dp_x, self._dp_g = conv.contiguous(x), conv.contiguous(grad_out)
    if not base.want_input_grad(opts, "nn.Conv2d.backward") then return nil end
    local ok, gi = pcall(K.conv2d_backward, self._dp_g, self._dp_x, self.weight, self.p,
      { grad_input = true })
    if not ok then error("nn.Conv2d.backward: " .. tostring(gi), 2) end
    self.grad_input = gi
    return gi
  end
end

-- A Linear leaf's recording backward: its input gradient only, x and grad_out kept.
local function record_linear(m, base)
  m.backward = function(self, x, grad_out, opts)
    if x:dim() ~= 2 then
      error("privacy: nn.Linear layers take batch x features input under DP-SGD, got " ..
        x:dim() .. "-D input", 2)
    end
    self._dp_x, self._dp_g = x, grad_out
    if not base.want_input_grad(opts, "nn.Linear.backward") then return nil end
    local gi = base.buffer2(self, "_gi2d", x:size(1), self.n_in, self.dtype)
    gi:addmm_(grad_out, self.weight, BETA0)        -- dx = grad_out W
    self.grad_input = gi
    return gi
  end
end

-- Makes each leaf's backward keep the input and output gradient it sees, in m._dp_x and
-- m._dp_g, and compute only the gradient of its input: its parameters' gradients are
-- layers_clip_'s to write (an instance field shadowing the class's backward).
function M.record(leaves)
  local base = require "tide.nn.base"
  for _, m in ipairs(leaves) do
    if is_conv(m) then
      record_conv(m)
    else
      record_linear(m, base)
    end
  end
end

-- Undoes record.
function M.unrecord(leaves)
  for _, m in ipairs(leaves) do
    m.backward, m._dp_x, m._dp_g, m._dp_gw, m._dp_gb = nil, nil, nil, nil, nil
  end
end

-- A recorded Conv2d's per-sample gradients, rows x <weight's shape> and rows x O (or nil).
local function conv_grads(m)
  return K.conv2d_grad_sample(m._dp_g, m._dp_x, m.weight, m.p, m.bias ~= nil)
end

-- Every sample's gradient norm (a 1-D tensor of rows entries), from the recorded layers; a
-- Conv2d's per-sample gradients are kept (m._dp_gw, m._dp_gb) for the clipped sum.
local function layer_norms(leaves, scale)
  local sq
  for _, m in ipairs(leaves) do
    local g, x = m._dp_g, m._dp_x
    local t
    if is_conv(m) then
      local gw, gb = conv_grads(m)
      gw = gw:view({ gw:size(1), m.weight:numel() })      -- (a Poisson batch may be empty)
      m._dp_gw, m._dp_gb = gw, gb
      t = (gw * gw):sum(2)
      if gb then t:add_((gb * gb):sum(2)) end
    else
      t = (g * g):sum(2) * ((x * x):sum(2) + (m.bias and 1 or 0))
    end
    sq = sq and sq:add_(t) or t
  end
  return sq:view({ -1 }):sqrt():mul_(scale)
end

-- The factors min(1, C / norm_i) that clip each sample's gradient to norm C.
local function clip_factors(norms, clip)
  return (clip / (norms + 1e-6)):clamp(nil, 1)
end
M.clip_factors = clip_factors

-- Writes the sum over samples of the clipped per-sample gradients into the layers' gradients
-- (replacing what backward accumulated) and returns the per-sample norms before clipping.
function M.layers_clip_(leaves, clip, scale)
  local norms = layer_norms(leaves, scale)
  local c = clip_factors(norms, clip):mul_(scale)
  local rows = c:size(1)
  local row = c:view({ 1, rows })
  for _, m in ipairs(leaves) do
    if is_conv(m) then      -- sum_i c_i G_i: the factors (1 x rows) times the rows
      m.grad_weight:view({ 1, -1 }):addmm_(row, m._dp_gw, BETA0)
      if m.bias then m.grad_bias:view({ 1, -1 }):addmm_(row, m._dp_gb, BETA0) end
      m._dp_gw, m._dp_gb = nil, nil
    else
      local gs = m._dp_g * c:view({ rows, 1 })
      m.grad_weight:addmm_(gs:t(), m._dp_x, BETA0)
      if m.bias then m.grad_bias:copy_(gs:sum(1)) end
    end
    m._grads_stale = false
  end
  return norms
end

-- Runs fn(i, grads) after a forward and backward of sample i alone, for i = 1..rows; grads
-- are the model's gradient tensors, holding sample i's gradient (times scale) only.
local function each_sample(model, x, grad_out, scale, fn)
  for i = 1, x:size(1) do
    local xi = x:narrow(1, i, 1)
    model:zero_grad()
    model:forward(xi)
    model:backward(xi, grad_out:narrow(1, i, 1) * scale)
    local _, gs = model:parameters()
    fn(i, gs)
  end
end

local function total_norm(gs)
  local s = 0
  for _, g in ipairs(gs) do
    local n = g:norm()
    s = s + n * n
  end
  return math.sqrt(s)
end

-- The loop path of layers_clip_: the clipped sum into the model's gradients, the norms out.
function M.loop_clip_(model, x, grad_out, clip, scale)
  local rows = x:size(1)
  local ps = model:parameters()
  local sums = {}
  for j, p in ipairs(ps) do sums[j] = tide.zeros(p:shape(), p:dtype()) end
  local norms = tide.empty({ rows }, ps[1]:dtype())
  each_sample(model, x, grad_out, scale, function(i, gs)
    local n = total_norm(gs)
    norms[i] = n
    local c = math.min(1, clip / (n + 1e-6))
    for j, g in ipairs(gs) do sums[j]:add_(g * c) end
  end)
  local _, gs = model:parameters()
  for j, g in ipairs(gs) do g:copy_(sums[j]) end
  return norms
end

-- per_sample(model, x, grad_out, scale) -> a list, one per parameter (model:parameters()'s
-- order), of rows x <parameter shape> tensors: sample i's gradient in row i.
function M.per_sample(model, x, grad_out, scale)
  local path, leaves = M.path(model)
  local rows = x:size(1)
  if path == "loop" then
    local ps = model:parameters()
    local out = {}
    for j, p in ipairs(ps) do
      local s = p:shape()
      table.insert(s, 1, rows)
      out[j] = tide.empty(s, p:dtype())
    end
    each_sample(model, x, grad_out, scale, function(i, gs)
      for j, g in ipairs(gs) do out[j][i]:copy_(g) end
    end)
    return out
  end
  M.record(leaves)
  local ok, err = pcall(function()
    model:forward(x)
    model:backward(x, grad_out)
  end)
  local out = {}
  if ok then
    for _, m in ipairs(leaves) do
      if is_conv(m) then
        local gw, gb = conv_grads(m)
        out[#out + 1] = gw:mul_(scale)
        if gb then out[#out + 1] = gb:mul_(scale) end
      else
        local g = m._dp_g * scale
        out[#out + 1] = g:reshape({ rows, m.n_out, 1 }):matmul(m._dp_x:reshape({ rows, 1,
          m.n_in }))
        if m.bias then out[#out + 1] = g end
      end
    end
  end
  M.unrecord(leaves)
  if not ok then error(err, 0) end
  return out
end

return M
