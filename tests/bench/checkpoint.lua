-- Benchmark of issue 13: tide.checkpoint against what the machine gives.
--
-- 1. Save and load of a 1 GiB f32 dtensor (262144 x 1024) at 2 ranks, against its C twin
--    tests/bench/checkpoint.c writing the same bytes with write() + fsync (as dd conv=fsync)
--    and reading them back; the two alternate round by round so both see the same machine.
--    The load follows the save, as the twin's read follows its write: both read through a warm
--    page cache (a cold read would measure the disk; dropping caches is not ours to do). The
--    load's one pass over the data is the crc32 check of every file (zlib's); the rows are then
--    views of the file's mapped pages, not copies. So from a warm cache the load is bound by
--    the crc32's speed where the twin's read is bound by a memory copy's.
-- 2. The step time of a data-parallel MLP (784-256-128-10, train_mnist's, SGD with momentum,
--    64 samples per rank) at 2 ranks with an asynchronous checkpoint every 100 steps against
--    none, in phases of 100 steps alternating in one job (many short phases: the machine's
--    load drifts less within a pair); the mean counts the saves' own cost (copy, start,
--    the wait for the previous one), the median shows the ordinary step; the wait for the
--    phase's last save, after its last step, is shown apart.
-- 3. Restart to first step: a rank killed (TIDE_FAULT) under `tide run -n 2 --restarts 1`;
--    the time from the kill to the relaunched job's first finished step (relaunch, MPI start,
--    checkpoint load included).
-- Prints medians of several rounds, the CPU and the ratios; never asserts a time.
--
--   scripts/bench.sh checkpoint  (TIDE_BENCH_ROUNDS=3, TIDE_BENCH_GIB=1,
--                                 TIDE_BENCH_TRAIN_ROUNDS=10, TIDE_BENCH_DIR: where the files
--                                 go, default a directory under the build tree, removed at
--                                 the end)
local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local exe = build .. "/tide"
local script = root .. "/tests/bench/checkpoint.lua"
local rounds = math.tointeger(tonumber(os.getenv("TIDE_BENCH_ROUNDS") or "3"))
local gib = tonumber(os.getenv("TIDE_BENCH_GIB") or "1")
local train_rounds = math.tointeger(tonumber(os.getenv("TIDE_BENCH_TRAIN_ROUNDS") or "10"))
local COLS = 1024
local ROWS = math.tointeger(math.floor(gib * 2 ^ 30 / 4 / COLS))
local EVERY = 100

-- ---------------------------------------------------------------- the jobs (under tide run)

-- save then load of the dtensor, reps times; rank 0 prints "save s" and "load s"
local function io_job(dir, reps)
  local tide = require "tide"
  local ck, world = tide.checkpoint, tide.world
  local x = tide.dtensor.rand({ ROWS, COLS }, { seed = 1 })
  for _ = 1, reps do
    world:barrier()
    local t0 = tide.now()
    ck.save(dir, { x = x }, { step = 1 })
    world:barrier()
    local t1 = tide.now()
    local st = ck.load(dir)
    world:barrier()
    local t2 = tide.now()
    assert(st.x:global_shape()[1] == ROWS)
    st = nil
    collectgarbage()
    if world.rank == 0 then
      tide.io.remove_tree(dir)
      print(("save %.6f\nload %.6f"):format(t1 - t0, t2 - t1))
    end
    world:barrier()
  end
end

-- the MLP, its optimizer and synthetic batches (the same on every rank count: seeded)
local function mlp()
  local tide = require "tide"
  local nn, optim, ddp = tide.nn, tide.optim, tide.ddp
  local world = tide.world
  tide.manual_seed(1, { same_on_all_ranks = true })
  local model = ddp.wrap(nn.Sequential { nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
    nn.ReLU(), nn.Linear(128, 10) }, world)
  local set = tide.data.synthetic_classification { n = 64 * 8, d = 784, classes = 10,
    seed = 2 + world.rank }
  local function batch(k)
    local first = (k - 1) % 8 * 64 + 1
    return set.x:narrow(1, first, 64), set.y:narrow(1, first, 64)
  end
  return model, nn.CrossEntropyLoss(), optim.SGD(model, { lr = 0.05, momentum = 0.9 }), batch
end

local function step(model, crit, opt, x, y)
  model:zero_grad()
  local out = model:forward(x)
  local loss = crit:forward(out, y)
  model:backward(x, crit:backward(out, y), { input_grad = false })
  opt:step()
  return loss
end

-- phases of n steps, without and with an asynchronous save every EVERY steps, alternating;
-- rank 0 prints every step's seconds as "none s" or "async s"
local function train_job(dir, n, reps)
  local tide = require "tide"
  local ck, world = tide.checkpoint, tide.world
  local model, crit, opt, batch = mlp()
  for k = 1, 20 do step(model, crit, opt, batch(k)) end   -- warm up
  for _ = 1, reps do
    for _, mode in ipairs { "none", "async" } do
      world:barrier()
      local times = {}
      for k = 1, n do
        local t0 = tide.now()
        step(model, crit, opt, batch(k))
        if mode == "async" and k % EVERY == 0 then
          ck.save(dir, { model = model:state(), opt = opt:state() },
            { async = true, keep = 2, step = k })
        end
        times[k] = tide.now() - t0
      end
      -- the last save ends after the phase's last step: its wait is shown apart (a job pays
      -- it once, at its end), and the next phase starts on a quiet writer
      local t0 = tide.now()
      ck.wait()
      local drain = tide.now() - t0
      if world.rank == 0 then
        local sum = 0
        for _, t in ipairs(times) do
          print(("%s %.6f"):format(mode, t))
          sum = sum + t
        end
        print(("phase_%s %.6f"):format(mode, sum / n))
        if mode == "async" then print(("drain %.6f"):format(drain)) end
      end
    end
    world:barrier()
    if world.rank == 0 then tide.io.remove_tree(dir) end
  end
end

-- trains from dir's checkpoint (or from the start), a save every 5 steps; rank 1 is killed at
-- step 12 by TIDE_FAULT (the first run only); the kill's time goes to dir/killed_at, the
-- relaunched job's first step's to its output as "first_step t"
local function restart_job(dir)
  local tide = require "tide"
  local ck, world = tide.checkpoint, tide.world
  local model, crit, opt, batch = mlp()
  local st = ck.load(dir)
  if st then
    model:load_state(st.model)
    opt:load_state(st.opt)
  end
  local resumed = st ~= nil
  while ck.step() < 20 do
    local k = ck.step() + 1
    if k == 12 and world.rank == 1 and not resumed then
      local f = assert(io.open(dir .. "/killed_at", "w"))
      f:write(("%.6f"):format(tide.now()))
      f:close()
    end
    step(model, crit, opt, batch(k))
    if resumed and world.rank == 0 then
      print(("first_step %.6f"):format(tide.now()))
      resumed = false
    end
    ck.tick()
    if k % 5 == 0 then ck.save(dir, { model = model:state(), opt = opt:state() }, { keep = 2 }) end
  end
end

if arg and arg[1] == "--io" then return io_job(arg[2], tonumber(arg[3])) end
if arg and arg[1] == "--train" then return train_job(arg[2], tonumber(arg[3]), tonumber(arg[4])) end
if arg and arg[1] == "--restart" then return restart_job(arg[2]) end

-- ---------------------------------------------------------------- the launcher

local bench = require "support.bench"
local median = bench.median

-- A process that loaded tide without mpirun is an MPI singleton, and its OMPI_/PMIX_ variables
-- would make a child mpirun join it instead of starting a job: run children without them.
local SCRUB = require("support.proc").clean_env
local ENV = "OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "

local function run(cmd)
  local p = assert(io.popen(SCRUB .. ENV .. cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- the numbers after each tag in out, appended to into[tag]
local function collect(out, into, what)
  local n = 0
  for tag, t in out:gmatch("(%a[%w_]*) (%d+%.%d+)") do
    if into[tag] then
      table.insert(into[tag], tonumber(t))
      n = n + 1
    end
  end
  if n == 0 then
    io.stderr:write(("checkpoint bench: %s failed:\n%s\n"):format(what, out))
    os.exit(1)
  end
end

local base = os.getenv("TIDE_BENCH_DIR") or (build .. "/bench-checkpoint")
assert(os.execute(("rm -rf %q && mkdir -p %q"):format(base, base)))
local df = run(("df -h --output=avail,target %q | tail -1"):format(base))
print(("checkpoint bench: %s; files under %s (available: %s)"):format(bench.cpu(), base,
  df:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")))

-- 1. throughput
local bytes = ROWS * COLS * 4
local t = { save = {}, load = {}, raw_write = {}, raw_read = {} }
for _ = 1, rounds do
  collect(run(("%q --oversubscribe -np 2 %q %q %d 1"):format(os.getenv("MPIRUN") or "mpirun",
    build .. "/bench/checkpoint", base, bytes)), t, "the C twin")
  collect(run(("%q run -n 2 %q --io %q 1"):format(exe, script, base .. "/io")), t, "the save/load job")
end
local function gbs(ts) return bytes / median(ts) / 2 ^ 30 end
print(("1. a %d x %d f32 dtensor (%.2f GiB) at 2 ranks, %d rounds, warm page cache:"):format(ROWS,
  COLS, bytes / 2 ^ 30, rounds))
print(("   save  median %7.3f s %6.2f GiB/s   raw write+fsync %7.3f s %6.2f GiB/s   ratio %.2f (goal >= 0.8)")
  :format(median(t.save), gbs(t.save), median(t.raw_write), gbs(t.raw_write),
    median(t.raw_write) / median(t.save)))
print(("   load  median %7.3f s %6.2f GiB/s   raw read        %7.3f s %6.2f GiB/s   ratio %.2f")
  :format(median(t.load), gbs(t.load), median(t.raw_read), gbs(t.raw_read),
    median(t.raw_read) / median(t.load)))

-- 2. step time
local s = { none = {}, async = {}, drain = {}, phase_none = {}, phase_async = {} }
collect(run(("%q run -n 2 %q --train %q %d %d"):format(exe, script, base .. "/train", EVERY,
  train_rounds)), s, "the training job")
local function mean(xs)
  local sum = 0
  for _, x in ipairs(xs) do sum = sum + x end
  return sum / #xs
end
print(("2. MLP 784-256-128-10 at 2 ranks, 64 samples per rank, %d phases of %d steps each:")
  :format(train_rounds, EVERY))
print(("   no checkpoint             step mean %.3f ms  median %.3f ms"):format(
  mean(s.none) * 1e3, median(s.none) * 1e3))
print(("   async save every %d steps step mean %.3f ms  median %.3f ms   slower by %.1f%% (mean; goal <= 5%%)")
  :format(EVERY, mean(s.async) * 1e3, median(s.async) * 1e3,
    100 * (mean(s.async) / mean(s.none) - 1)))
local pairs_ = {}   -- each round's async phase against the none phase just before it
for i = 1, #s.phase_async do pairs_[i] = s.phase_async[i] / s.phase_none[i] end
print(("   paired by round (median of %d ratios of phase means): slower by %.1f%%"):format(
  #pairs_, 100 * (median(pairs_) - 1)))
print(("   the last save's wait after a phase's last step: median %.1f ms"):format(
  median(s.drain) * 1e3))

-- 3. restart to first step
local r = {}
for i = 1, rounds do
  local dir = ("%s/restart-%d"):format(base, i)
  assert(os.execute(("mkdir -p %q"):format(dir)))
  local out, ok = run(("TIDE_FAULT=rank=1,step=12,kind=kill %q run -n 2 --restarts 1 %q --restart %q")
    :format(exe, script, dir))
  local f = io.open(dir .. "/killed_at")
  local killed = f and tonumber(f:read("a"))
  if f then f:close() end
  local first = tonumber(out:match("first_step (%d+%.%d+)"))
  if not ok or not killed or not first then
    io.stderr:write("checkpoint bench: the restart job failed:\n" .. out .. "\n")
    os.exit(1)
  end
  r[#r + 1] = first - killed
end
print(("3. restart to first step after kill -9 of rank 1 under tide run -n 2 --restarts 1:"
  .. " median %.2f s (of %d: %s)"):format(median(r), #r, table.concat((function()
    local x = {}
    for i, v in ipairs(r) do x[i] = ("%.2f"):format(v) end
    return x
  end)(), " ")))
assert(os.execute(("rm -rf %q"):format(base)))
