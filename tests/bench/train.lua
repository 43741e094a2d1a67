-- Benchmark of issue 7: examples/train_mnist.lua (784-256-128-10 MLP on Fashion-MNIST, SGD
-- lr 0.1 momentum 0.9, global batch 128) in three configurations:
--   1 rank with 2 BLAS threads, 1 rank with 1 thread, 2 ranks with 1 thread each (64 per rank).
-- Prints seconds per epoch (median), samples/s, every epoch's time (they should stay flat),
-- the final test accuracy, the scaling efficiency of 2 ranks against 1 rank with 1 thread,
-- the fraction of the 2-rank epoch spent waiting for the gradient allreduce, and the ratios to
-- PyTorch on the same recipe from the peers' results.jsonl when it is found.
--
--   scripts/bench.sh train                     (TIDE_BENCH_EPOCHS=15 by default)
-- Times are never asserted. Run it on a quiet machine: the 2-core box is shared.
local cjson = require "cjson"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local exe = build .. "/tide"
local script = root .. "/examples/train_mnist.lua"
local epochs = math.tointeger(tonumber(os.getenv("TIDE_BENCH_EPOCHS") or "15")) or 15
local N_TRAIN = 60000

-- A process that loaded tide without mpirun is an MPI singleton, and its OMPI_/PMIX_ variables
-- would make a child mpirun join it instead of starting a job: run children without them.
local SCRUB = require("support.proc").clean_env

local median = require("support.bench").median

local read_jsonl = require("support.bench").read_jsonl

local function run(label, ranks, threads)
  local log = os.tmpname()
  local launch = ranks == 1 and ("%q %q"):format(exe, script)
      or ("%q run -n %d %q"):format(exe, ranks, script)
  local cmd = SCRUB .. ("OPENBLAS_NUM_THREADS=%d TIDE_PROGRESS=off %s --epochs %d --quiet --metrics %q 2>&1")
      :format(threads, launch, epochs, log)
  local p = io.popen(cmd)
  local output = p:read("a")
  local ok = p:close()
  local recs = read_jsonl(log)
  os.remove(log)
  if not ok or #recs == 0 then
    io.stderr:write(("train bench: %s failed:\n%s\n"):format(label, output))
    return nil
  end
  local secs, waits = {}, {}
  for i, r in ipairs(recs) do
    secs[i] = r.seconds
    waits[i] = r.comm_wait_s or 0
  end
  local med = median(secs)
  local best = math.huge
  for _, v in ipairs(secs) do best = math.min(best, v) end
  return { label = label, ranks = ranks, threads = threads, seconds = secs, median = med, best = best,
    samples_per_s = N_TRAIN / med, accuracy = recs[#recs].accuracy,
    wait_fraction = median(waits) / med }
end

-- PyTorch's figures on this recipe, from the peers' results.jsonl (the median over its runs).
local function torch_numbers()
  local candidates = { root .. "/../shared/peers/results.jsonl", "/work/shared/peers/results.jsonl" }
  if os.getenv("TIDE_PEERS") then table.insert(candidates, 1, os.getenv("TIDE_PEERS")) end
  for _, path in ipairs(candidates) do
    do
      local recs = read_jsonl(path)
      if #recs > 0 then
        local by = {}
        for _, r in ipairs(recs) do
          if r.label and r.epoch_s_median then
            by[r.label] = by[r.label] or {}
            table.insert(by[r.label], r)
          end
        end
        local function med_of(label)
          local xs = {}
          for _, r in ipairs(by[label] or {}) do xs[#xs + 1] = r.epoch_s_median end
          return #xs > 0 and median(xs) or nil
        end
        local function first_epoch(label)
          local xs = {}
          for _, r in ipairs(by[label] or {}) do xs[#xs + 1] = r.epoch_s[1] end
          return #xs > 0 and median(xs) or nil
        end
        return { path = path, ddp = med_of("mlp_ddp_np2"), single_t1 = med_of("mlp_single_t1"),
          single_t2 = med_of("mlp_single_t2_passive"), single_t2_first = first_epoch("mlp_single_t2_passive") }
      end
    end
  end
  return nil
end

-- The C twin (tests/bench/train.c): the same training by hand against OpenBLAS and MPI, on
-- the same data written out as .npy.
local function run_twin(ranks, data_files)
  local twin = build .. "/bench/train"
  local f = io.open(twin, "rb")
  if not f then return nil end
  f:close()
  local mpirun = os.getenv("MPIRUN") or "mpirun"
  local launch = ranks == 1 and ("%q"):format(twin)
      or ("%q --oversubscribe -np %d %q"):format(mpirun, ranks, twin)
  local p = io.popen(SCRUB .. ("OPENBLAS_NUM_THREADS=1 %s %s %d 2>&1"):format(launch,
    table.concat(data_files, " "), epochs))
  local output = p:read("a")
  p:close()
  local line = output:match("(%b{})")
  local ok, rec = pcall(cjson.decode, line or "")
  if not ok or type(rec) ~= "table" then
    io.stderr:write("train bench: the C twin failed:\n" .. output .. "\n")
    return nil
  end
  local med = median(rec.epoch_s)
  return { median = med, samples_per_s = N_TRAIN / med, seconds = rec.epoch_s,
    accuracy = rec.accuracy }
end

local function twin_data()
  local ok, tide = pcall(require, "tide")
  if not ok then return nil end
  local data = tide.data
  local ok2, train = pcall(data.fashion_mnist, { split = "train" })
  if not ok2 then return nil end
  local test = data.fashion_mnist { split = "test" }
  local dir = os.tmpname()
  os.remove(dir)
  os.execute(("mkdir -p %q"):format(dir))
  local files = { dir .. "/train_x.npy", dir .. "/train_y.npy", dir .. "/test_x.npy",
    dir .. "/test_y.npy" }
  tide.save(files[1], train.x)
  tide.save(files[2], train.y)
  tide.save(files[3], test.x)
  tide.save(files[4], test.y)
  return files, dir
end

local f = io.open(exe, "rb")
if not f then
  print("train bench: no tide executable at " .. exe .. " (build first)")
  return
end
f:close()

print(("train_mnist, %d epochs per configuration"):format(epochs))
local results = {
  run("tide 1 rank, 2 BLAS threads", 1, 2),
  run("tide 1 rank, 1 BLAS thread", 1, 1),
  run("tide 2 ranks, 1 BLAS thread each", 2, 1),
}
print(("%-34s %10s %11s %9s  %s"):format("configuration", "s/epoch", "samples/s", "test acc",
  "every epoch (s)"))
for i = 1, 3 do
  local r = results[i]
  if r then
    local each = {}
    for k, s in ipairs(r.seconds) do each[k] = ("%.2f"):format(s) end
    print(("%-34s %10.3f %11.0f %8.2f%%  %s"):format(r.label, r.median, r.samples_per_s,
      100 * r.accuracy, table.concat(each, " ")))
  end
end

local files, dir = twin_data()
local twin1 = files and run_twin(1, files)
local twin2 = files and run_twin(2, files)
if dir then os.execute(("rm -rf %q"):format(dir)) end
for _, t in ipairs { { "C twin 1 rank, 1 BLAS thread", twin1 }, { "C twin 2 ranks, 1 thread each", twin2 } } do
  local r = t[2]
  if r then
    local each = {}
    for k, s in ipairs(r.seconds) do each[k] = ("%.2f"):format(s) end
    print(("%-34s %10.3f %11.0f %8.2f%%  %s"):format(t[1], r.median, r.samples_per_s,
      100 * r.accuracy, table.concat(each, " ")))
  end
end

local one, two, t2 = results[2], results[3], results[1]
if one and twin1 then
  print(("tide / C, 1 rank 1 thread: %.2f (seconds per epoch, tide over C)"):format(one.median / twin1.median))
end
if two and twin2 then
  print(("tide / C, 2 ranks: %.2f"):format(two.median / twin2.median))
end
if twin1 and twin2 then
  print(("C twin scaling efficiency, 2 ranks vs 1 rank: %.2f"):format(
    twin2.samples_per_s / (2 * twin1.samples_per_s)))
end
if one and two then
  print(("scaling efficiency, 2 ranks vs 1 rank with 1 thread: %.2f on median epochs, %.2f on " ..
    "the fastest epochs (target >= 0.85)"):format(two.samples_per_s / (2 * one.samples_per_s),
    one.best / (2 * two.best)))
  print(("fraction of the 2-rank epoch spent waiting in the allreduce: %.2f"):format(two.wait_fraction))
end
for _, r in ipairs(results) do
  local lo, hi = math.huge, 0
  for k = 2, #r.seconds do lo, hi = math.min(lo, r.seconds[k]), math.max(hi, r.seconds[k]) end
  if #r.seconds > 2 then
    print(("flatness, %s: slowest / fastest epoch after the first = %.2f"):format(r.label, hi / lo))
  end
end

local torch = torch_numbers()
if torch then
  print("PyTorch 1.13 on the same recipe (peers' results.jsonl; measured on their machine): " .. torch.path)
  if torch.ddp and two then
    print(("  DDP gloo 2 ranks: %.3f s/epoch; tide 2 ranks is %.2fx faster (target >= 2)"):format(
      torch.ddp, torch.ddp / two.median))
  end
  if torch.single_t2 and two then
    print(("  one process, 2 threads: %.3f s/epoch (first epoch %.3f); tide 2 ranks is %.2fx faster, " ..
      "tide 1 rank 2 threads %.2fx"):format(torch.single_t2, torch.single_t2_first or 0 / 0,
      torch.single_t2 / two.median, t2 and torch.single_t2 / t2.median or 0 / 0))
  end
  if torch.single_t1 and one then
    print(("  one process, 1 thread: %.3f s/epoch; tide 1 rank 1 thread is %.2fx faster"):format(
      torch.single_t1, torch.single_t1 / one.median))
  end
else
  print("PyTorch reference (issue 7): DDP gloo 1.75 s/epoch; one process 2 threads 0.6-0.97 s/epoch")
end
