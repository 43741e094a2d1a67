-- tide.infer(model, inputs, {batch_size = 1024, argmax = false}): batch inference sharded
-- over the ranks. inputs is a dtensor (each rank runs the model on its own rows) or a tensor
-- every rank holds (each takes its block of rows); the outputs come back on every rank in the
-- order of the inputs' rows: n x outputs, or with argmax the n predicted classes (i64, 1-based).
-- Collective over the inputs' communicator (tide.world for a tensor).
local tide = require "tide"
local args = require "tide.args"
local dtensor = require "tide.dtensor"

local function run(model, x, bs, argmax)
  local n = x:size(1)
  local parts = {}
  for start = 1, n, bs do
    local out = model:forward(x:narrow(1, start, math.min(bs, n - start + 1)))
    parts[#parts + 1] = argmax and out:argmax(2):view({ -1 }) or out:clone()
  end
  if #parts == 0 then     -- no rows here: an empty block of the right row shape
    local probe = model:forward(x:narrow(1, 1, 0))
    return argmax and tide.empty({ 0 }, "i64") or probe:clone()
  end
  return #parts == 1 and parts[1] or tide.cat(parts)
end

return function(model, inputs, opts)
  local where = "tide.infer"
  opts = args.check_opts(opts, { batch_size = true, argmax = true }, where)
  local bs = args.integer(opts.batch_size, "batch_size", where, 1, 1024)
  local argmax = args.boolean(opts.argmax, "argmax", where, false)
  if type(model) ~= "table" or type(model.forward) ~= "function" then
    error(where .. ": expected a module, got " .. type(model), 2)
  end
  local was_training = model.training
  if model.evaluate then model:evaluate() end
  local dt
  if dtensor.is_dtensor(inputs) then
    dt = inputs
  elseif tide.is_tensor(inputs) then
    local comm, n = tide.world, inputs:size(1)
    local lo = comm.rank * n // comm.size
    local hi = (comm.rank + 1) * n // comm.size
    dt = dtensor.from_local(inputs:narrow(1, lo + 1, hi - lo), comm)
  else
    error(where .. ": expected a dtensor or a tensor of inputs, got " .. type(inputs), 2)
  end
  local out = dt:map(function(x) return run(model, x, bs, argmax) end):full()
  if was_training ~= false and model.train then model:train() end
  return out
end
