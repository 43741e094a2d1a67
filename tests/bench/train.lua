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

local function median(xs)
  local s = {}
  for i, v in ipairs(xs) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return 0 / 0 end
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function read_jsonl(path)
  local out = {}
  local fh = io.open(path, "r")
  if not fh then return out end
  for line in fh:lines() do
    if line:match("%S") then
      local ok, rec = pcall(cjson.decode, line)
      if ok then out[#out + 1] = rec end
    end
  end
  fh:close()
  return out
end

local function run(label, ranks, threads)
  local log = os.tmpname()
  local launch = ranks == 1 and ("%q %q"):format(exe, script)
      or ("%q run -n %d %q"):format(exe, ranks, script)
  local cmd = ("OPENBLAS_NUM_THREADS=%d TIDE_PROGRESS=off %s --epochs %d --quiet --metrics %q 2>&1")
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
  return { label = label, ranks = ranks, threads = threads, seconds = secs, median = med,
    samples_per_s = N_TRAIN / med, accuracy = recs[#recs].accuracy,
    wait_fraction = median(waits) / med }
end

-- PyTorch's figures on this recipe, from the peers' results.jsonl (the median over its runs).
local function torch_numbers()
  local candidates = { os.getenv("TIDE_PEERS"), root .. "/../shared/peers/results.jsonl",
    "/work/shared/peers/results.jsonl" }
  for _, path in ipairs(candidates) do
    if path then
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

local one, two, t2 = results[2], results[3], results[1]
if one and two then
  print(("scaling efficiency, 2 ranks vs 1 rank with 1 thread: %.2f (target >= 0.85)"):format(
    two.samples_per_s / (2 * one.samples_per_s)))
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
