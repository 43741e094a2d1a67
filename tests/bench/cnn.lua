-- Benchmark of issue 17: `examples/train_mnist.lua --model cnn` (conv 1->32 3x3, ReLU, maxpool 2,
-- conv 32->64 3x3, ReLU, maxpool 2, Linear 1600->128, ReLU, Linear 128->10; SGD lr 0.05 momentum
-- 0.9, global batch 128) on Fashion-MNIST at 2 ranks with 1 BLAS thread each, against its PyTorch
-- twin (tests/bench/cnn_torch.py) in the same run: 1 process with 2 threads, and DDP over gloo
-- at 2 ranks. Prints the median seconds per epoch of each, tide's speed-up over PyTorch's faster
-- setup (goal >= 1.5), and every run's test accuracy after its last epoch, all at seed 1.
-- Beside each median epoch it prints the epoch's CPU seconds (all threads of all ranks added
-- up), which the load of other jobs does not inflate as it inflates wall time.
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
  local rec, out = bench.json_of(proc.clean_env .. cmd)
  if rec then return rec end
  -- mpirun can forward a rank's last stderr line and its stdout JSON as one line
  local ok, found = pcall(cjson.decode, out:match('({"bench".-})%s*\n') or "")
  if ok then return found end
  return nil, out
end

-- The CNN (without the example's Unflatten), its loss and optimizer, and a rank's share of a
-- batch at 2 ranks: 64 random images and labels.
local function step_setup()
  local tide = require "tide"
  local nn, optim = tide.nn, tide.optim
  tide.manual_seed(1)
  local m = nn.Sequential { nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
    nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10) }
  local x = tide.empty({ 64, 1, 28, 28 }):uniform_(0, 1)
  local y = tide.randint(1, 11, { 64 }, { dtype = "i64" })
  return m, nn.CrossEntropyLoss(), optim.SGD(m, { lr = 0.05, momentum = 0.9 }), x, y
end

-- The median over 5 rounds of 40 steps of one step's CPU milliseconds (os.clock); run as
-- `OPENBLAS_NUM_THREADS=1 lua5.4 cnn.lua step`, so that BLAS has 1 thread.
local function tide_step_ms()
  local m, crit, opt, x, y = step_setup()
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

-- One step's CPU milliseconds by phase, as tide_step_ms's loop spends them: each layer's forward
-- and backward, the loss and the optimizer (medians of 5 rounds of 40 steps, os.clock around
-- each call). Run as `OPENBLAS_NUM_THREADS=1 lua5.4 cnn.lua phases`; it prints one JSON line.
local function tide_phase_ms()
  local m, crit, opt, x, y = step_setup()
  local clock, mods, names = os.clock, m.modules, {}
  for i, mod in ipairs(mods) do names[i] = ("%d %s"):format(i, getmetatable(mod).__name or "?") end
  local rounds = {}
  for r = 1, 5 do
    local t = {}
    local function add(key, t0) t[key] = (t[key] or 0) + (clock() - t0) / 40 * 1e3 end
    for _ = 1, 40 do
      local t0 = clock()
      m:zero_grad()
      add("zero_grad", t0)
      local h, inputs = x, {}
      for i, mod in ipairs(mods) do
        inputs[i], t0 = h, clock()
        h = mod:forward(h)
        add(names[i] .. " forward", t0)
      end
      t0 = clock()
      crit:forward(h, y)
      local g = crit:backward(h, y)
      add("loss", t0)
      for i = #mods, 1, -1 do
        t0 = clock()
        g = mods[i]:backward(inputs[i], g, i == 1 and { input_grad = false } or nil)
        add(names[i] .. " backward", t0)
      end
      t0 = clock()
      opt:step()
      add("sgd step", t0)
    end
    rounds[r] = t
  end
  local out = {}
  for key in pairs(rounds[1]) do
    local xs = {}
    for r = 1, #rounds do xs[r] = rounds[r][key] end
    out[key] = median(xs)
  end
  return out
end

if arg and arg[1] == "step" then
  print(tide_step_ms())
  return
end
if arg and arg[1] == "phases" then
  print(cjson.encode(tide_phase_ms()))
  return
end

local function tide_run()
  local log = os.tmpname()
  local out, code = proc.run(("OPENBLAS_NUM_THREADS=1 TIDE_PROGRESS=off %q run -n 2 %q " ..
    "--model cnn --epochs %d --seed 1 --quiet --metrics %q"):format(exe,
    root .. "/examples/train_mnist.lua", epochs, log))
  local secs, cpu, acc = {}, {}, nil
  for _, rec in ipairs(bench.read_jsonl(log)) do
    secs[#secs + 1], cpu[#cpu + 1], acc = rec.seconds, rec.cpu_s, rec.accuracy
  end
  os.remove(log)
  if code ~= 0 or #secs == 0 then
    io.stderr:write("cnn bench: tide failed:\n" .. out .. "\n")
    return nil
  end
  return { seconds = secs, median = median(secs), cpu = median(cpu), accuracy = acc }
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
  return { seconds = rec.epoch_s, median = rec.epoch_s_median, cpu = rec.cpu_s_median,
    accuracy = rec.final_test_acc }
end

local function show(label, r)
  if not r then
    print(("%-36s %s"):format(label, "(failed: see stderr)"))
    return
  end
  local each = {}
  for k, s in ipairs(r.seconds) do each[k] = ("%.1f"):format(s) end
  print(("%-36s %9.2f %9.2f %8.2f%%   %s"):format(label, r.median, r.cpu, 100 * r.accuracy,
    table.concat(each, " ")))
end

local has_torch = bench.has_python("torch")
print(("CPU: %s; %d epoch(s) of 60000 samples per configuration, seed 1"):format(
  bench.cpu_name(), epochs))
if not has_torch then
  print("PyTorch: not found (" .. PY .. " cannot import torch); install python3-torch to compare")
end
if epochs >= 1 then
  print(("%-36s %9s %9s %9s   %s"):format("configuration", "s/epoch", "CPU s", "test acc",
    "every epoch (s)"))
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
  local least = single and ddp and math.min(single.cpu, ddp.cpu) or (single or ddp or {}).cpu
  if t and best then
    print(("tide speed-up over PyTorch's faster setup: %.2fx in wall time (goal >= 1.5x), " ..
      "%.2fx in CPU time"):format(best / t.median, least / t.cpu))
  end
end

local mine = tonumber((proc.run(("OPENBLAS_NUM_THREADS=1 lua5.4 %q step"):format(
  root .. "/tests/bench/cnn.lua"))))
local theirs = has_torch and run_json(("OMP_WAIT_POLICY=PASSIVE %s %q step"):format(PY, twin))
print(("one step on 64 images, 1 thread, CPU ms: tide %s, PyTorch %s%s"):format(
  mine and ("%.2f"):format(mine) or "(failed)",
  theirs and ("%.2f"):format(theirs.cpu_ms_per_step) or "-",
  mine and theirs and ("; PyTorch / tide %.2fx"):format(theirs.cpu_ms_per_step / mine) or ""))

-- Where tide's step spends its CPU time, by layer and phase (the same step as above).
local phases = bench.json_of(("OPENBLAS_NUM_THREADS=1 lua5.4 %q phases"):format(
  root .. "/tests/bench/cnn.lua"))
if phases then
  local keys, total = {}, 0
  for k, ms in pairs(phases) do keys[#keys + 1], total = k, total + ms end
  table.sort(keys, function(a, b) return phases[a] > phases[b] end)
  print(("tide's step by phase, CPU ms (sum %.2f):"):format(total))
  for _, k in ipairs(keys) do
    if phases[k] >= 0.05 then print(("  %-28s %6.2f"):format(k, phases[k])) end
  end
end
