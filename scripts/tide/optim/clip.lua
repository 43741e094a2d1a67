-- tide.optim.clip: gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_.
--
--   model:backward(x, g)
--   local norm = optim.clip_grad_norm(model, 1.0)   -- the norm before clipping
--   opt:step()
--
-- The gradients are given as the optimizers take them (a module with :parameters(), or
-- {params, grads}), or as a list of gradient tensors, or one tensor; they are scaled in place.
--
-- What "global" means across ranks. Under tide.ddp every rank holds the whole model and
-- backward returns with the gradients already averaged over the ranks: they are the same
-- tensors on every rank, so the local norm is the global one, every rank computes the same
-- number and clips the same way, and no communication is needed (do not pass comm: the sum
-- of the ranks' squares would count every gradient once per rank). When the ranks hold
-- different gradients (sharded parameters: each rank owns a slice of the model), pass
-- {comm = c}: each rank's sum of |g|^p is added across c (its largest |g| compared, for the
-- max norm) before the root is taken, so every rank gets the norm of all the gradients and
-- scales its own by the same factor.
local tide = require "tide"
local base = require "tide.optim.base"
local args = require "tide.args"

local optim = base.optim

-- The gradient tensors in grads (see the header), checked.
local function gradients(grads, where)
  if tide.is_tensor(grads) then return { grads } end
  if type(grads) == "table" and #grads > 0 and tide.is_tensor(grads[1]) then
    for i, g in ipairs(grads) do
      if not tide.is_tensor(g) then
        error(("%s: gradient %d is a %s, not a tensor"):format(where, i, type(g)), 3)
      end
    end
    return grads
  end
  if type(grads) == "table" and next(grads) == nil then return grads end
  local ok, source = pcall(base.param_source, grads, where)
  if not ok then
    error(("%s: expected a module (with :parameters()), {params, grads}, a list of gradient "
      .. "tensors or a tensor, got %s"):format(where, type(grads)), 3)
  end
  local _, gs = source()
  return gs
end

-- clip_grad_norm(grads, max_norm, {norm_type = 2, comm = nil}) -> the total norm of the
-- gradients (of all of them together, as if concatenated; across comm's ranks when given),
-- taken before clipping. When it exceeds max_norm every gradient is multiplied by
-- max_norm / (norm + 1e-6), as torch does. norm_type is any p > 0, or math.huge for the
-- largest absolute value.
function optim.clip_grad_norm(grads, max_norm, opts, ...)
  args.at_most("optim.clip_grad_norm", 3, ...)
  local where = "optim.clip_grad_norm"
  local gs = gradients(grads, where)
  max_norm = args.number(max_norm, "max_norm", where)
  opts = args.check_opts(opts, { norm_type = true, comm = true }, where)
  local p = args.number(opts.norm_type, "norm_type", where, 2, "any")
  if not (p > 0) then
    error(("%s: norm_type must be a number > 0 (math.huge for the max norm), got %s"):format(
      where, tostring(p)), 2)
  end
  local comm = opts.comm
  if comm ~= nil and (type(comm) ~= "userdata" and type(comm) ~= "table"
      or not pcall(function() return comm.allreduce end)) then
    error(where .. ": comm must be a communicator, got " .. type(comm), 2)
  end
  local total
  if p == math.huge then
    total = 0
    for _, g in ipairs(gs) do total = math.max(total, g:norm(p)) end
    if comm then total = comm:allreduce(total, "max") end
  else
    -- the norm of the tensors' norms, as torch computes it
    local sum = 0
    for _, g in ipairs(gs) do sum = sum + g:norm(p) ^ p end
    if comm then sum = comm:allreduce(sum, "sum") end
    total = sum ^ (1 / p)
  end
  local coef = max_norm / (total + 1e-6)
  if coef < 1 then
    for _, g in ipairs(gs) do g:mul_(coef) end
  end
  return total
end

-- clip_grad_value(grads, clip_value): clamps every gradient entry into [-clip_value,
-- clip_value] in place. No communication: it acts entry by entry.
function optim.clip_grad_value(grads, clip_value, ...)
  args.at_most("optim.clip_grad_value", 2, ...)
  local where = "optim.clip_grad_value"
  local gs = gradients(grads, where)
  clip_value = args.number(clip_value, "clip_value", where)
  for _, g in ipairs(gs) do g:clamp_(-clip_value, clip_value) end
end

return optim
