-- train_mnist.lua — an MLP (or a CNN) on Fashion-MNIST, data-parallel over every rank.
--
--   tide run -n 2 examples/train_mnist.lua                 # 2 ranks, 5 epochs
--   tide run -n 2 examples/train_mnist.lua --model cnn     # the CNN of issue 17
--   tide examples/train_mnist.lua --ranks 2 --epochs 15    # the same, launched for you
--   tide examples/train_mnist.lua --trace timeline.json    # Perfetto timeline of the run
--   tide run -n 2 --restarts 1 examples/train_mnist.lua --checkpoint ckpt   # resumable
--   tide run -n 2 examples/train_mnist.lua --dp-epsilon 3  # differentially private (DP-SGD)
--   tide run -n 4 examples/train_mnist.lua --compress powersgd --rank 4  # compressed gradients
--
-- The recipe (PyTorch's reference numbers use the same): 784-256-128-10 with ReLU, cross-entropy,
-- SGD lr 0.1 momentum 0.9, a global batch of 128 split evenly across the ranks (64 each on 2),
-- a new shuffle every epoch, the test accuracy printed after every epoch. Rank 0 writes one
-- JSON line per epoch to metrics.jsonl (its wall seconds, and cpu_s: every rank's CPU seconds
-- added up, which other jobs on a shared machine do not inflate). Labels are 1..10 (tide
-- counts classes from 1).
--
-- Without a schedule the recipe's test accuracy moves by about a point from one epoch to the
-- next, and with the seed: at 2 ranks, seeds 0-9 gave 84.3-86.9% after 5 epochs (mean 86.0)
-- and seeds 0, 1, 4, 5, 8, 9 gave 86.8-88.6% after 15 (mean 88.0). The default seed 1 gives
-- 86.5% and 88.3%; PyTorch's reference runs of this recipe gave 86.3-86.7% and 88.2%.
--
-- The CNN (--model cnn: lr 0.05 unless --lr, the rest as above) moves as much. At 2 ranks,
-- seeds 1-7 gave 89.78, 89.26, 89.34, 89.97, 87.89, 89.50 and 89.86% after 5 epochs (mean
-- 89.37, median 89.50): the default seed 1 and three others reach issue 17's 89.5%. (The
-- kernels' rounding has moved since: seed 1 now gives 89.72%, 89.52% after epoch 4.) Its
-- PyTorch twin (tests/bench/cnn_torch.py, 1 process, PyTorch 1.13) gave 90.38% at seed 1
-- and 89.13 and 89.33% at seeds 2 and 3 on this machine. scripts/bench.sh cnn times both.
--
-- With --checkpoint DIR the job saves its whole state (model, optimizer, the loader's epoch and
-- step, the default generator, the running epoch's loss) with tide.checkpoint every --every
-- steps (once an epoch by default) and, when DIR holds a checkpoint, resumes from the newest:
-- the run then ends with the parameters, and prints the accuracy lines, of a run never stopped.
--
-- With --dp-epsilon E the job trains with DP-SGD (tide.privacy): Poisson-sampled batches of
-- --batch on average, every sample's gradient clipped to --clip, Gaussian noise whose
-- multiplier is the smallest that keeps the whole run within (E, --delta)-DP, found by
-- bisection on the accountant for the planned steps; the epsilon spent is printed each epoch.
-- Its recipe differs: lr 2 and batch 1024 unless given, since the noise added to the mean of
-- a batch shrinks as the batch grows. At 2 ranks, 5 epochs and epsilon 3 it reached 81.9%
-- with seed 1 (the non-private recipe: 87.1%). With --checkpoint too, the saved state holds
-- the Poisson loader's epoch, step and generators, and the steps the accountant has counted
-- and the noise stream's position: a resumed run draws the same batches and noise and reports
-- the epsilon of a run never stopped.
local tide = require "tide"
local nn, optim, data, ddp = tide.nn, tide.optim, tide.data, tide.ddp
local progress, metrics = tide.progress, tide.metrics

local usage = [[
usage: tide train_mnist.lua [options]
  --epochs N       training epochs (5)
  --batch N        global batch size, split across the ranks (128)
  --lr X           learning rate (0.1)
  --momentum X     SGD momentum (0.9)
  --hidden A,B     hidden layer widths of the mlp (256,128)
  --model NAME     mlp, or cnn: conv 1->32 3x3, ReLU, maxpool 2, conv 32->64 3x3, ReLU,
                   maxpool 2, Linear 1600->128, ReLU, Linear 128->10, lr 0.05 unless --lr (mlp)
  --seed N         seed of the initial weights and of the shuffles (1)
  --bucket-mb X    gradient bucket size in MB for the allreduce (1)
  --compress NAME  compress the gradients: fp16, bf16, int8, topk or powersgd (tide.comm_hooks)
  --ratio X        fraction of each bucket topk sends (0.01)
  --dgc on|off     topk with Deep Gradient Compression's momentum correction (the hook keeps
                   the momentum, the optimizer runs without) and a warm-up of the ratio from
                   25% over the first epoch (on); off: plain error feedback
  --rank R         rank of powersgd's factors (4)
  --ranks N        launch N ranks with `tide run` when started alone (1)
  --metrics PATH   JSON-lines log written by rank 0 (metrics.jsonl; "" for none)
  --trace PATH     write a Chrome/Perfetto timeline of the run to PATH
  --data DIR       the Fashion-MNIST folder (/usr/share/datasets/fashion-mnist)
  --samples N      train on the first N training images only (all 60000)
  --checkpoint DIR save the state to DIR with tide.checkpoint, and resume from it when it holds one
  --every STEPS    steps between checkpoints (one epoch's)
  --keep K         checkpoints kept in DIR (2)
  --dp-epsilon E   train with DP-SGD to (E, delta)-differential privacy (lr 2, batch 1024)
  --clip C         DP-SGD: clip every sample's gradient to norm C (1)
  --delta D        DP-SGD: the delta of the guarantee (1e-5)
  --quiet          no progress bar]]

-- ---------------------------------------------------------------- flags
local opts = { epochs = 5, batch = 128, lr = 0.1, momentum = 0.9, hidden = "256,128", seed = 1,
  model = "mlp", ["bucket-mb"] = 1, ranks = 1, metrics = "metrics.jsonl" }
local numeric = { epochs = "integer", batch = "integer", lr = "number", momentum = "number",
  seed = "integer", ["bucket-mb"] = "number", ranks = "integer", samples = "integer",
  every = "integer", keep = "integer", ["dp-epsilon"] = "number", clip = "number",
  delta = "number", ratio = "number", rank = "integer" }
local optional = { trace = true, data = true, samples = true, checkpoint = true, every = true,
  keep = true, ["dp-epsilon"] = true, clip = true, delta = true, compress = true, ratio = true,
  rank = true, dgc = true }
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
      if opts[name] == nil and not optional[name] then
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

if opts.model ~= "mlp" and opts.model ~= "cnn" then
  error("train_mnist: --model expects mlp or cnn, got '" .. tostring(opts.model) .. "'", 0)
end
if opts.model == "cnn" then
  local lr_given = false
  for _, f in ipairs(flags_seen) do lr_given = lr_given or f[1] == "lr" end
  if not lr_given then opts.lr = 0.05 end
end
local dp = opts["dp-epsilon"]
if dp then
  local given = {}
  for _, f in ipairs(flags_seen) do given[f[1]] = true end
  if not given.lr then opts.lr = 2 end
  if not given.batch then opts.batch = 1024 end
  if opts.compress then
    -- DP-SGD adds the clipped per-sample gradients in its own reduction, not in ddp's buckets
    error("train_mnist: --dp-epsilon does not go with --compress", 0)
  end
elseif opts.dgc and (opts.compress ~= "topk" or (opts.dgc ~= "on" and opts.dgc ~= "off")) then
  error("train_mnist: --dgc expects on or off, with --compress topk, got '" .. opts.dgc .. "'", 0)
elseif opts.clip or opts.delta then
  error("train_mnist: --clip and --delta go with --dp-epsilon E", 0)
end
if opts.checkpoint and (opts.compress == "topk" or opts.compress == "powersgd") then
  -- their residuals (and PowerSGD's warm start) differ per rank and are not in the checkpoint:
  -- a resumed run would silently start them over
  error(("train_mnist: --checkpoint does not go with --compress %s (its per-rank residuals are"
    .. " not saved); fp16, bf16 and int8 keep no state"):format(opts.compress), 0)
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

for _, name in ipairs { "samples", "every", "keep" } do
  if opts[name] and opts[name] < 1 then
    error(("train_mnist: --%s expects a positive integer, got %d"):format(name, opts[name]), 0)
  end
end
if (opts.every or opts.keep) and not opts.checkpoint then
  error("train_mnist: --every and --keep go with --checkpoint DIR", 0)
end
local checkpoint = opts.checkpoint and tide.checkpoint
if opts.checkpoint and not checkpoint then
  error("train_mnist: --checkpoint needs tide.checkpoint, which this build of tide lacks", 0)
end

local function say(...)
  if rank == 0 then print(...) io.stdout:flush() end
end

if opts.trace then tide.trace.start(opts.trace) end

-- ---------------------------------------------------------------- data
local train = data.fashion_mnist { split = "train", path = opts.data }
if opts.samples and opts.samples < train.n then
  train = { x = train.x:narrow(1, 1, opts.samples), y = train.y:narrow(1, 1, opts.samples),
    n = opts.samples, classes = train.classes }
end
local test = data.fashion_mnist { split = "test", path = opts.data }
local per_rank = opts.batch // size
local sampler = data.DistributedSampler { n = train.n, comm = world, seed = opts.seed }
local loader = data.DataLoader(train, { batch_size = per_rank, sampler = sampler })

-- ---------------------------------------------------------------- model
tide.manual_seed(opts.seed, { same_on_all_ranks = true })
local layers, width = {}, 784
if opts.model == "cnn" then
  layers = { nn.Unflatten(2, { 1, 28, 28 }), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128),
    nn.ReLU(), nn.Linear(128, 10) }
else
  for _, w in ipairs(widths) do
    layers[#layers + 1] = nn.Linear(width, w)
    layers[#layers + 1] = nn.ReLU()
    width = w
  end
  layers[#layers + 1] = nn.Linear(width, 10)
end
local model, opt
if dp then
  -- DP-SGD clips per sample before the ranks add up: the plain model, reduced by the private
  -- optimizer (no ddp.wrap); the loader becomes a Poisson sampler of the same mean batch
  local plain = nn.Sequential(layers)
  model, opt, loader = tide.privacy.make_private(plain,
    optim.SGD(plain, { lr = opts.lr, momentum = opts.momentum }), loader,
    { epsilon = dp, epochs = opts.epochs, clip = opts.clip or 1, delta = opts.delta or 1e-5,
      comm = world, seed = opts.seed })
  sampler = loader
else
  -- top-k's momentum correction: the hook keeps the velocity, the optimizer runs without
  local dgc = opts.compress == "topk" and opts.dgc ~= "off"
  model = ddp.wrap(nn.Sequential(layers), world, { bucket_mb = opts["bucket-mb"],
    compress = opts.compress, ratio = opts.ratio, rank = opts.rank,
    momentum = dgc and opts.momentum or nil, warmup = dgc and loader:num_batches() or nil })
  opt = optim.SGD(model, { lr = opts.lr, momentum = dgc and 0 or opts.momentum })
end
local crit = nn.CrossEntropyLoss()

say(("train_mnist: %d rank%s, batch %d (%d per rank), lr %g, momentum %g, %d epochs, " ..
  "%d parameters"):format(size, size > 1 and "s" or "", opts.batch, per_rank, opts.lr,
  opts.momentum, opts.epochs, model:num_parameters()))
say(tostring(model.module))
if dp then
  say(("train_mnist: DP-SGD to epsilon %g at delta %g: noise %.4f, clip %g, sample rate %.5f"):format(
    dp, opt.delta, opt.noise, opt.clip, opt.sample_rate))
end

local log = opts.metrics ~= "" and metrics.open(opts.metrics, { comm = world }) or nil
local no_input_grad = { input_grad = false }
local steps_per_epoch = dp and #loader or loader:num_batches()
local now = tide.now            -- wall-clock seconds
local cpu = os.clock            -- this process's CPU seconds (all its threads)
-- With --trace, forward, backward and the optimizer step show as spans on the timeline.
local span = opts.trace and tide.trace.span or function(_, fn, ...) return fn(...) end

-- ---------------------------------------------------------------- checkpoints
-- Everything the rest of the run depends on, the same on every rank (a checkpoint's values are
-- replicated). The loader's state holds the epoch (its sampler's) and the batches of it already
-- taken; the default generator is there for modules that draw from it; every rank's running
-- loss sum (gathered) makes the resumed epoch's loss line the same.
local every = opts.every or steps_per_epoch
local first_epoch, loss_sum0, steps0 = 1, 0, 0

local function save(loss_sum, steps)
  local sums = world:allgather(tide.tensor({ loss_sum }, "f64")):totable()
  checkpoint.save(opts.checkpoint, { model = model:state(), opt = opt:state(),
    loader = loader:state(), rng = tide.get_rng_state(), loss_sums = sums, steps = steps },
    { keep = opts.keep or 2 })
end

if checkpoint then
  local s = checkpoint.load(opts.checkpoint)
  if s then
    model:load_state(s.model)
    opt:load_state(s.opt)
    loader:load_state(s.loader)
    tide.set_rng_state(s.rng)
    -- (a mid-epoch resume needs the same rank count, which loader:load_state checks)
    local mid = s.loader.step > 0
    -- (the Poisson loader of --dp-epsilon keeps its epoch itself, a DataLoader its sampler's)
    first_epoch = (dp and s.loader.epoch or s.loader.sampler.epoch) + 1
    loss_sum0, steps0 = mid and s.loss_sums[rank + 1] or 0, mid and s.steps or 0
    say(("train_mnist: resumed from %s at epoch %d, step %d of %d"):format(opts.checkpoint,
      first_epoch, s.loader.step, steps_per_epoch))
  end
end

-- ---------------------------------------------------------------- training
local final_acc
for epoch = first_epoch, opts.epochs do
  sampler:set_epoch(epoch - 1)
  local bar = progress.bar { total = steps_per_epoch * opts.batch, comm = world,
    label = ("epoch %d/%d"):format(epoch, opts.epochs), mode = opts.quiet and "off" or nil }
  local trace0, wait0 = metrics.trace_seconds(), model.comm_wait_s or 0
  world:barrier()
  local t0, c0 = now(), cpu()
  local loss_sum, steps = loss_sum0, steps0
  loss_sum0, steps0 = 0, 0
  for x, y, k in loader:batches() do
    model:zero_grad()
    local out = span("forward", model.forward, model, x)
    local loss = crit:forward(out, y)
    span("backward", model.backward, model, x, crit:backward(out, y), no_input_grad)
    span("sgd step", opt.step, opt)
    loss_sum, steps = loss_sum + loss, steps + 1
    bar:update(opts.batch, { loss = loss })
    if checkpoint then
      if ((epoch - 1) * steps_per_epoch + k) % every == 0 then save(loss_sum, steps) end
      checkpoint.tick()
    end
  end
  world:barrier()
  local seconds = now() - t0
  -- every rank's CPU seconds of the epoch, added up: unlike wall time, the load of other jobs
  -- on a shared machine does not inflate it
  local cpu_s = world:allreduce(cpu() - c0, "sum")
  bar:close()
  local trace1 = metrics.trace_seconds()
  local train_loss = world:allreduce(loss_sum / steps, "sum") / size
  local acc = metrics.accuracy(model, test, { comm = world })
  final_acc = acc
  say(("epoch %d/%d  train loss %.4f  test accuracy %.2f%%  %.2f s  %.0f samples/s%s"):format(
    epoch, opts.epochs, train_loss, 100 * acc, seconds, train.n / seconds,
    dp and ("  epsilon %.3f"):format((opt:epsilon())) or ""))
  if log then
    log:write { epoch = epoch, loss = train_loss, accuracy = acc, seconds = seconds,
      cpu_s = cpu_s, samples_per_s = train.n / seconds, ranks = size, batch = opts.batch, lr = opts.lr,
      comm_wait_s = (model.comm_wait_s or 0) - wait0, epsilon = dp and (opt:epsilon()) or nil,
      compute_s = trace1.compute_s - trace0.compute_s, comm_s = trace1.comm_s - trace0.comm_s,
      compress = opts.compress, compress_stats = model.compress_stats }
  end
end
if log then log:close() end
say(("final test accuracy %.2f%% after %d epochs"):format(100 * final_acc, opts.epochs))
if model.compress_stats then
  local s = model.compress_stats
  say(("compress %s: %.1f%% of the allreduce bytes, %.3f s compute, %.3f s communication"):format(
    model.compress, 100 * s.bytes / s.raw_bytes, s.compute_s, s.comm_s))
end

if opts.trace then
  local file = tide.trace.stop()
  say("timeline written to " .. file .. " (open it in https://ui.perfetto.dev)")
end

-- (for a caller that runs this file with dofile, as tests/lua/state_spec.lua does)
return { model = model, accuracy = final_acc }
