-- Benchmark of issue 17: `examples/train_mnist.lua --model cnn` (conv 1->32 3x3, ReLU, maxpool 2,
-- conv 32->64 3x3, ReLU, maxpool 2, Linear 1600->128, ReLU, Linear 128->10; SGD lr 0.05 momentum
-- 0.9, global batch 128) on Fashion-MNIST at 2 ranks with 1 BLAS thread each, against its PyTorch
-- twin (tests/bench/cnn_torch.py) in the same run: 1 process with 2 threads, and DDP over gloo
-- at 2 ranks. Prints the median seconds per epoch of each, tide's speed-up over PyTorch's faster
-- setup (goal >= 1.5), and every run's test accuracy after its last epoch, all at seed 1.
-- Then one training step's CPU time on 64 random images (a rank's share at 2 ranks), 1 thread,
-- tide against PyTorch: on a machine shared with other jobs the epochs' wall times move with
-- the load (and MPI's ranks spin while they wait, where gloo's sleep), while CPU time does not.
--
--   scripts/bench.sh cnn          (TIDE_BENCH_EPOCHS=5 by default; 1 for a quick look, 0 for
--                                  the step times alone)
-- PyTorch is optional: without /usr/bin/python3's torch the bench says so and runs tide alone.
-- Times are never asserted; on a shared machine they move with the load.
local cjson = require "cjson"
local proc = require "support.proc"
local bench = require "support.bench"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local exe = build .. "/tide"
local epochs = math.tointeger(tonumber(os.getenv("TIDE_BENCH_EPOCHS") or "5")) or 5
local PY = "/usr/bin/python3"
local twin = root .. "/tests/bench/cnn_torch.py"

local median = bench.median

-- The JSON line a command prints, or nil and its output (run without the MPI variables a
-- process that loaded tide would pass on).
local function run_json(cmd)
  return bench.json_of(proc.clean_env .. cmd)
end

-- The median over 5 rounds of 40 steps of one step's CPU milliseconds (os.clock); run as
-- `OPENBLAS_NUM_THREADS=1 lua5.4 cnn.lua step`, so that BLAS has 1 thread.
local function tide_step_ms()
  local tide = require "tide"
  local nn, optim = tide.nn, tide.optim
  tide.manual_seed(1)
  local m = nn.Sequential { nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
    nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10) }
  local crit, opt = nn.CrossEntropyLoss(), optim.SGD(m, { lr = 0.05, momentum = 0.9 })
  local x = tide.empty({ 64, 1, 28, 28 }):uniform_(0, 1)
  local y = tide.randint(1, 11, { 64 }, { dtype = "i64" })
  local rounds = {}
  for r = 1, 5 do
    local t0 = os.clock()
    for _ = 1, 40 do
      m:zero_grad()
      local out = m:forward(x)
      crit:forward(out, y)
      m:backward(x, crit:backward(out, y), { input_grad = false })
      opt:step()
    end
    rounds[r] = (os.clock() - t0) / 40 * 1e3
  end
  return median(rounds)
end

if arg and arg[1] == "step" then
  print(tide_step_ms())
  return
end

local function tide_run()
  local log = os.tmpname()
  local out, code = proc.run(("OPENBLAS_NUM_THREADS=1 TIDE_PROGRESS=off %q run -n 2 %q " ..
    "--model cnn --epochs %d --seed 1 --quiet --metrics %q"):format(exe,
    root .. "/examples/train_mnist.lua", epochs, log))
  local secs, acc = {}, nil
  local f = io.open(log, "r")
  for line in f and f:lines() or function() end do
    local rec = cjson.decode(line)
    secs[#secs + 1], acc = rec.seconds, rec.accuracy
  end
  if f then f:close() end
  os.remove(log)
  if code ~= 0 or #secs == 0 then
    io.stderr:write("cnn bench: tide failed:\n" .. out .. "\n")
    return nil
  end
  return { seconds = secs, median = median(secs), accuracy = acc }
end

local function torch_run(mode)
  local cmd = mode == "single"
    and ("OMP_WAIT_POLICY=PASSIVE %s %q single 2 --epochs %d --seed 1"):format(PY, twin, epochs)
    or ("mpirun --oversubscribe -np 2 -x OMP_WAIT_POLICY=PASSIVE %s %q ddp --epochs %d --seed 1")
      :format(PY, twin, epochs)
  local rec, out = run_json(cmd)
  if not rec then
    io.stderr:write(("cnn bench: PyTorch %s failed:\n%s\n"):format(mode, out))
    return nil
  end
  return { seconds = rec.epoch_s, median = rec.epoch_s_median, accuracy = rec.final_test_acc }
end

local function show(label, r)
  if not r then
    print(("%-36s %s"):format(label, "(failed: see stderr)"))
    return
  end
  local each = {}
  for k, s in ipairs(r.seconds) do each[k] = ("%.1f"):format(s) end
  print(("%-36s %9.2f %8.2f%%   %s"):format(label, r.median, 100 * r.accuracy,
    table.concat(each, " ")))
end

local has_torch = bench.has_python("torch")
print(("CPU: %s; %d epoch(s) of 60000 samples per configuration, seed 1"):format(
  bench.cpu_name(), epochs))
if not has_torch then
  print("PyTorch: not found (" .. PY .. " cannot import torch); install python3-torch to compare")
end
if epochs >= 1 then
  print(("%-36s %9s %9s   %s"):format("configuration", "s/epoch", "test acc", "every epoch (s)"))
  local t = tide_run()
  show("tide 2 ranks, 1 BLAS thread each", t)
  local single = has_torch and torch_run("single") or nil
  local ddp = has_torch and torch_run("ddp") or nil
  if has_torch then
    show("PyTorch 1 process, 2 threads", single)
    show("PyTorch DDP gloo, 2 ranks, 1 thread", ddp)
  end
  local best = single and ddp and math.min(single.median, ddp.median)
    or (single or ddp or {}).median
  if t and best then
    print(("tide speed-up over PyTorch's faster setup: %.2fx (goal >= 1.5x)"):format(
      best / t.median))
  end
end

local mine = tonumber((proc.run(("OPENBLAS_NUM_THREADS=1 lua5.4 %q step"):format(
  root .. "/tests/bench/cnn.lua"))))
local theirs = has_torch and run_json(("OMP_WAIT_POLICY=PASSIVE %s %q step"):format(PY, twin))
print(("one step on 64 images, 1 thread, CPU ms: tide %s, PyTorch %s%s"):format(
  mine and ("%.2f"):format(mine) or "(failed)",
  theirs and ("%.2f"):format(theirs.cpu_ms_per_step) or "-",
  mine and theirs and ("; PyTorch / tide %.2fx"):format(theirs.cpu_ms_per_step / mine) or ""))
