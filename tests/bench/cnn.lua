-- Benchmark of issue 17: `examples/train_mnist.lua --model cnn` (conv 1->32 3x3, ReLU, maxpool 2,
-- conv 32->64 3x3, ReLU, maxpool 2, Linear 1600->128, ReLU, Linear 128->10; SGD lr 0.05 momentum
-- 0.9, global batch 128) on Fashion-MNIST at 2 ranks with 1 BLAS thread each, against its PyTorch
-- twin (tests/bench/cnn_torch.py) in the same run: 1 process with 2 threads, and DDP over gloo
-- at 2 ranks. Prints the median seconds per epoch of each, tide's speed-up over PyTorch's faster
-- setup (goal >= 1.5), and every run's test accuracy after its last epoch, all at seed 1.
--
--   scripts/bench.sh cnn          (TIDE_BENCH_EPOCHS=5 by default; 1 for a quick look)
-- PyTorch is optional: without /usr/bin/python3's torch the bench says so and runs tide alone.
-- Times are never asserted; on a shared machine they move with the load.
local cjson = require "cjson"
local proc = require "support.proc"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local exe = build .. "/tide"
local epochs = math.tointeger(tonumber(os.getenv("TIDE_BENCH_EPOCHS") or "5")) or 5
local PY = "/usr/bin/python3"
local twin = root .. "/tests/bench/cnn_torch.py"

local function median(xs)
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- The last JSON object line of a command's output, or nil and the output.
local function run_json(cmd)
  local out, code = proc.run(cmd)
  for line in out:gmatch("[^\n]+") do
    local ok, rec = pcall(cjson.decode, line)
    if ok and type(rec) == "table" and code == 0 then return rec end
  end
  return nil, out
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

print(("CPU: %s; %d epoch(s) of 60000 samples per configuration, seed 1"):format(
  proc.cpu_name(), epochs))
print(("%-36s %9s %9s   %s"):format("configuration", "s/epoch", "test acc", "every epoch (s)"))
local t = tide_run()
show("tide 2 ranks, 1 BLAS thread each", t)
local _, has_torch = proc.run(PY .. " -c 'import torch'")
if has_torch ~= 0 then
  print("PyTorch: not found (" .. PY .. " cannot import torch); install python3-torch to compare")
  return
end
local single, ddp = torch_run("single"), torch_run("ddp")
show("PyTorch 1 process, 2 threads", single)
show("PyTorch DDP gloo, 2 ranks, 1 thread", ddp)
local best = single and ddp and math.min(single.median, ddp.median)
  or (single or ddp or {}).median
if t and best then
  print(("tide speed-up over PyTorch's faster setup: %.2fx (goal >= 1.5x)"):format(best / t.median))
end
