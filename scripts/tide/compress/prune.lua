-- tide.compress.prune: magnitude pruning of a model's Linear and Conv2d weights, as
-- torch.nn.utils.prune's l1_unstructured / ln_structured / global_unstructured.
--
-- Unstructured pruning zeroes the weights of smallest magnitude: `amount` of each layer's
-- (global = false), or of all the layers' together against one threshold (global = true).
-- Structured pruning zeroes whole output channels (rows of a Linear's weight, filters of a
-- Conv2d) of smallest L2 norm, `amount` of each layer's, with their biases.
--
-- The mask stays with the layer (m.prune_mask, 1 kept / 0 pruned) and is applied to the weight
-- gradient before the layer reports it ready, so the pruned weights get a zero gradient at
-- every step: an optimizer whose update of a zero weight with a zero gradient and zero state is
-- zero (SGD with momentum, dampening, weight decay or Nesterov; Adam) leaves them at exactly
-- zero through fine-tuning, also under tide.ddp, whose reduction starts after the mask.
-- compress.apply_masks_(model) zeroes them again after anything else that wrote the weights.
local tide = require "tide"
local args = require "tide.args"

local M = {}

local function prunable(model)
  local nn = require "tide.nn"
  local out = {}
  if type(model) ~= "table" or type(model._leaves) ~= "function" then return out end
  for _, m in ipairs(model:_leaves()) do
    local mt = getmetatable(m)
    if mt == nn.Linear_class or mt == nn.Conv2d_class then out[#out + 1] = m end
  end
  return out
end
M.prunable = prunable

-- Multiplies the weight gradient by the mask before the layer says its gradients are ready.
local function keep_masked(m)
  if rawget(m, "_grads_ready") then return end
  local class_ready = getmetatable(m)._grads_ready
  m._grads_ready = function(self)
    self.grad_weight:mul_(self.prune_mask)
    if self.bias and self.prune_bias_mask then self.grad_bias:mul_(self.prune_bias_mask) end
    return class_ready(self)
  end
end

function M.apply_masks_(model)
  for _, m in ipairs(prunable(model)) do
    if m.prune_mask then
      m.weight:mul_(m.prune_mask)
      if m.bias and m.prune_bias_mask then m.bias:mul_(m.prune_bias_mask) end
    end
  end
  return model
end

-- The k-th smallest value of a 1-D tensor (k >= 1).
local function kth_smallest(v, k)
  return v:sort():get(k)
end

-- Zeroes the entries of the 1-D tensor mask (ones) at the first `drop` positions of order.
local function zero_at_(mask, order, drop)
  if drop > 0 then
    mask:scatter_add_(1, order:narrow(1, 1, drop), tide.full({ drop }, -1, mask:dtype()))
  end
  return mask
end

-- A mask (the weight's shape and dtype) keeping the entries whose magnitude exceeds the
-- threshold, then exactly `drop` entries pruned: ties at the threshold are broken by position.
local function mask_below(w, drop)
  local flat = w:abs():reshape({ -1 })
  local n = flat:size(1)
  local _, order = flat:sort()
  return zero_at_(tide.ones({ n }, w:dtype()), order, drop):view(w:shape())
end

local function set_mask(m, mask, bias_mask)
  local old = m.prune_mask
  m.prune_mask = old and old:mul(mask) or mask      -- pruning twice keeps both prunings
  if bias_mask then
    m.prune_bias_mask = m.prune_bias_mask and m.prune_bias_mask:mul(bias_mask) or bias_mask
  end
  keep_masked(m)
end

local function unstructured(layers, amount, global)
  if not global then
    for _, m in ipairs(layers) do
      set_mask(m, mask_below(m.weight, math.floor(amount * m.weight:numel() + 0.5)))
    end
    return
  end
  local mags, total = {}, 0
  for i, m in ipairs(layers) do
    mags[i] = m.weight:abs():reshape({ -1 }):to("f64")
    total = total + mags[i]:size(1)
  end
  local drop = math.floor(amount * total + 0.5)
  if drop == 0 then
    for _, m in ipairs(layers) do set_mask(m, tide.ones(m.weight:shape(), m.weight:dtype())) end
    return
  end
  -- one threshold for all; entries equal to it are pruned in layer order until drop is met
  local all = tide.cat(mags)
  local t = kth_smallest(all, drop)
  local below = all:lt(t):sum()
  local ties_left = drop - below
  for i, m in ipairs(layers) do
    local lt = mags[i]:lt(t)
    local eq = mags[i]:eq(t)
    local k = math.min(ties_left, eq:sum())
    ties_left = ties_left - k
    local n_drop = lt:sum() + k
    set_mask(m, mask_below(m.weight, math.tointeger(n_drop)))
  end
end

local function structured(layers, amount)
  for _, m in ipairs(layers) do
    local rows = m.weight:size(1)
    local norms = m.weight:reshape({ rows, -1 }):norm(2, 2)
    local drop = math.floor(amount * rows + 0.5)
    local _, order = norms:sort()
    local keep = zero_at_(tide.ones({ rows }, m.weight:dtype()), order, drop)
    local shape = { rows }
    for _ = 2, m.weight:dim() do shape[#shape + 1] = 1 end
    set_mask(m, keep:view(shape):expand(m.weight:shape()):contiguous(),
      m.bias and keep:clone() or nil)
  end
end

-- prune(model, {amount = 0.5, structured = false, global = false}) -> model (pruned in place).
function M.prune(model, opts)
  local where = "compress.prune"
  opts = args.check_opts(opts, { amount = true, structured = true, global = true }, where)
  local amount = args.number(opts.amount, "amount", where, 0.5, "in [0, 1]")
  local struct = args.boolean(opts.structured, "structured", where, false)
  local global = args.boolean(opts.global, "global", where, false)
  if struct and global then
    error(where .. ": structured pruning is per layer; give structured or global, not both", 2)
  end
  local layers = prunable(model)
  if #layers == 0 then
    error(where .. ": expected a model with nn.Linear or nn.Conv2d layers, got " ..
      (type(model) == "table" and tostring(getmetatable(model) and getmetatable(model).__name)
      or type(model)), 2)
  end
  if struct then structured(layers, amount) else unstructured(layers, amount, global) end
  return M.apply_masks_(model)
end

-- sparsity(model) -> the fraction of prunable weights that are zero.
function M.sparsity(model)
  local zeros, total = 0, 0
  for _, m in ipairs(prunable(model)) do
    zeros = zeros + m.weight:eq(0):sum()
    total = total + m.weight:numel()
  end
  return total > 0 and zeros / total or 0
end

return M
