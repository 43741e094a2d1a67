-- train_mnist.lua — an MLP on Fashion-MNIST, data-parallel over every rank.
--
--   tide run -n 2 examples/train_mnist.lua                 # 2 ranks, 5 epochs
--   tide examples/train_mnist.lua --ranks 2 --epochs 15    # the same, launched for you
--   tide examples/train_mnist.lua --trace timeline.json    # Perfetto timeline of the run
--
-- The recipe (PyTorch's reference numbers use the same): 784-256-128-10 with ReLU, cross-entropy,
-- SGD lr 0.1 momentum 0.9, a global batch of 128 split evenly across the ranks (64 each on 2),
-- a new shuffle every epoch, the test accuracy printed after every epoch. Rank 0 writes one
-- JSON line per epoch to metrics.jsonl. Labels are 1..10 (tide counts classes from 1).
--
-- Without a schedule the recipe's test accuracy moves by about a point from one epoch to the
-- next, and with the seed: at 2 ranks, seeds 0-9 gave 84.3-86.9% after 5 epochs (mean 86.0)
-- and seeds 0, 1, 4, 5, 8, 9 gave 86.8-88.6% after 15 (mean 88.0). The default seed 1 gives
-- 86.5% and 88.3%; PyTorch's reference runs of this recipe gave 86.3-86.7% and 88.2%.
local tide = require "tide"
local nn, optim, data, ddp = tide.nn, tide.optim, tide.data, tide.ddp
local progress, metrics = tide.progress, tide.metrics

local usage = [[
usage: tide train_mnist.lua [options]
  --epochs N       training epochs (5)
  --batch N        global batch size, split across the ranks (128)
  --lr X           learning rate (0.1)
  --momentum X     SGD momentum (0.9)
  --hidden A,B     hidden layer widths (256,128)
  --seed N         seed of the initial weights and of the shuffles (1)
  --bucket-mb X    gradient bucket size in MB for the allreduce (1)
  --ranks N        launch N ranks with `tide run` when started alone (1)
  --metrics PATH   JSON-lines log written by rank 0 (metrics.jsonl; "" for none)
  --trace PATH     write a Chrome/Perfetto timeline of the run to PATH
  --data DIR       the Fashion-MNIST folder (/usr/share/datasets/fashion-mnist)
  --quiet          no progress bar]]

-- ---------------------------------------------------------------- flags
local opts = { epochs = 5, batch = 128, lr = 0.1, momentum = 0.9, hidden = "256,128", seed = 1,
  ["bucket-mb"] = 1, ranks = 1, metrics = "metrics.jsonl" }
local numeric = { epochs = "integer", batch = "integer", lr = "number", momentum = "number",
  seed = "integer", ["bucket-mb"] = "number", ranks = "integer" }
local flags_seen = {}
do
  local i = 1
  while arg and i <= #arg do
    local name = arg[i]:match("^%-%-(.+)$")
    if not name then error("train_mnist: unexpected argument '" .. arg[i] .. "'\n" .. usage, 0) end
    if name == "help" then print(usage) os.exit(0) end
    if name == "quiet" then
      opts.quiet = true
      i = i + 1
    else
      local v = arg[i + 1]
      if v == nil then error("train_mnist: --" .. name .. " needs a value\n" .. usage, 0) end
      if opts[name] == nil and name ~= "trace" and name ~= "data" then
        error("train_mnist: unknown flag --" .. name .. "\n" .. usage, 0)
      end
      if numeric[name] then
        local n = tonumber(v)
        if n == nil or (numeric[name] == "integer" and math.type(n) ~= "integer") then
          error(("train_mnist: --%s expects %s %s, got '%s'"):format(name,
            numeric[name] == "integer" and "an" or "a", numeric[name], v), 0)
        end
        v = n
      end
      opts[name] = v
      flags_seen[#flags_seen + 1] = { name, arg[i + 1] }
      i = i + 2
    end
  end
end

local world = tide.world

-- `--ranks N` started alone: run this same script under `tide run -n N` and exit with it.
if opts.ranks > 1 and world.size == 1 then
  local exe = arg[-1] or "tide"
  local cmd = { exe, "run", "-n", tostring(opts.ranks), arg[0] }
  for _, f in ipairs(flags_seen) do
    if f[1] ~= "ranks" then cmd[#cmd + 1] = "--" .. f[1]; cmd[#cmd + 1] = f[2] end
  end
  if opts.quiet then cmd[#cmd + 1] = "--quiet" end
  for k, v in ipairs(cmd) do cmd[k] = "'" .. v:gsub("'", "'\\''") .. "'" end
  -- (tide run clears the MPI variables this process, a singleton, would pass on to mpirun)
  local ok, _, code = os.execute(table.concat(cmd, " "))
  os.exit(ok and 0 or code or 1)
end

local rank, size = world.rank, world.size
if opts.ranks > 1 and opts.ranks ~= size then
  error(("train_mnist: --ranks %d, but this job runs on %d ranks"):format(opts.ranks, size), 0)
end
if opts.batch % size ~= 0 then
  error(("train_mnist: --batch %d does not split evenly over %d ranks"):format(opts.batch, size), 0)
end
local widths = {}
for w in opts.hidden:gmatch("[^,]+") do
  local n = math.tointeger(tonumber(w))
  if not n or n < 1 then error("train_mnist: --hidden expects widths like 256,128, got " .. opts.hidden, 0) end
  widths[#widths + 1] = n
end

local function say(...)
  if rank == 0 then print(...) io.stdout:flush() end
end

if opts.trace then tide.trace.start(opts.trace) end

-- ---------------------------------------------------------------- data
local train = data.fashion_mnist { split = "train", path = opts.data }
local test = data.fashion_mnist { split = "test", path = opts.data }
local per_rank = opts.batch // size
local sampler = data.DistributedSampler { n = train.n, comm = world, seed = opts.seed }
local loader = data.DataLoader(train, { batch_size = per_rank, sampler = sampler })

-- ---------------------------------------------------------------- model
tide.manual_seed(opts.seed, { same_on_all_ranks = true })
local layers, width = {}, 784
for _, w in ipairs(widths) do
  layers[#layers + 1] = nn.Linear(width, w)
  layers[#layers + 1] = nn.ReLU()
  width = w
end
layers[#layers + 1] = nn.Linear(width, 10)
local model = ddp.wrap(nn.Sequential(layers), world, { bucket_mb = opts["bucket-mb"] })
local crit = nn.CrossEntropyLoss()
local opt = optim.SGD(model, { lr = opts.lr, momentum = opts.momentum })

say(("train_mnist: %d rank%s, batch %d (%d per rank), lr %g, momentum %g, %d epochs, " ..
  "%d parameters"):format(size, size > 1 and "s" or "", opts.batch, per_rank, opts.lr,
  opts.momentum, opts.epochs, model:num_parameters()))
say(tostring(model.module))

local log = opts.metrics ~= "" and metrics.open(opts.metrics, { comm = world }) or nil
local no_input_grad = { input_grad = false }
local steps_per_epoch = loader:num_batches()
local now = tide.now            -- wall-clock seconds
-- With --trace, forward, backward and the optimizer step show as spans on the timeline.
local span = opts.trace and tide.trace.span or function(_, fn, ...) return fn(...) end

-- ---------------------------------------------------------------- training
local final_acc
for epoch = 1, opts.epochs do
  sampler:set_epoch(epoch - 1)
  local bar = progress.bar { total = steps_per_epoch * opts.batch, comm = world,
    label = ("epoch %d/%d"):format(epoch, opts.epochs), mode = opts.quiet and "off" or nil }
  local trace0, wait0 = metrics.trace_seconds(), model.comm_wait_s
  world:barrier()
  local t0 = now()
  local loss_sum, steps = 0, 0
  for x, y in loader:batches() do
    model:zero_grad()
    local out = span("forward", model.forward, model, x)
    local loss = crit:forward(out, y)
    span("backward", model.backward, model, x, crit:backward(out, y), no_input_grad)
    span("sgd step", opt.step, opt)
    loss_sum, steps = loss_sum + loss, steps + 1
    bar:update(opts.batch, { loss = loss })
  end
  world:barrier()
  local seconds = now() - t0
  bar:close()
  local trace1 = metrics.trace_seconds()
  local train_loss = world:allreduce(loss_sum / steps, "sum") / size
  local acc = metrics.accuracy(model, test, { comm = world })
  final_acc = acc
  say(("epoch %d/%d  train loss %.4f  test accuracy %.2f%%  %.2f s  %.0f samples/s"):format(
    epoch, opts.epochs, train_loss, 100 * acc, seconds, train.n / seconds))
  if log then
    log:write { epoch = epoch, loss = train_loss, accuracy = acc, seconds = seconds,
      samples_per_s = train.n / seconds, ranks = size, batch = opts.batch, lr = opts.lr,
      comm_wait_s = model.comm_wait_s - wait0, blas_threads = tide.blas_threads and tide.blas_threads(),
      compute_s = trace1.compute_s - trace0.compute_s, comm_s = trace1.comm_s - trace0.comm_s }
  end
end
if log then log:close() end
say(("final test accuracy %.2f%% after %d epochs"):format(100 * final_acc, opts.epochs))

if opts.trace then
  local file = tide.trace.stop()
  say("timeline written to " .. file .. " (open it in https://ui.perfetto.dev)")
end
