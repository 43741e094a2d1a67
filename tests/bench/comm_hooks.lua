-- Benchmark of issue 19, acceptance 4: examples/train_mnist.lua (the MLP recipe, 5 epochs) at
-- 4 ranks uncompressed and with each compression hook of tide.comm_hooks (fp16, bf16, int8, topk
-- at 1% with Deep Gradient Compression's momentum correction and warm-up, topk at 1% with plain
-- error feedback for comparison, powersgd rank 4), compared PAIRED BY SEED: for each seed the
-- hook's run and the uncompressed one start from the same weights and see the same batches, so
-- their difference is the hook's doing plus the drift of two chaotic trajectories, not the
-- seed's point or so. Prints, per hook, the mean of the paired differences in points, their
-- standard deviation and range over the seeds, the issue's bar (0.2 points for fp16, bf16 and
-- int8; 0.5 for topk and powersgd), the median epoch seconds and its ratio to uncompressed, the
-- share of the allreduce bytes the hook sent and its compute seconds. Nothing is asserted (a
-- run takes minutes; CI runs tests/mpi/comm_hooks_spec.lua's unit checks).
--
--   scripts/bench.sh comm_hooks
--   acceptance 4 as README reports it: TIDE_BENCH_BED=1 TIDE_BENCH_COMPRESS="5 4 17" (17 pairs;
--   five leave a standard error of about 0.25, wider than the 0.2 bar; ~25 min on 2 cores)
--   TIDE_BENCH_COMPRESS="5 4 3" (epochs, ranks, seeds 1..S)   TIDE_BENCH_HOOKS="fp16 topk"
--   (a subset; uncompressed always runs)   TIDE_BENCH_BED=1: on scripts/hosts.sh's two hosts
--   (root only; TIDE_BENCH_RATE=1gbit shapes the links; TIDE_BED picks the bed), else
--   `tide run -n` on this host.
local bench = require "support.bench"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local epochs, ranks, seeds = bench.sizes("TIDE_BENCH_COMPRESS", "5 4 3")
seeds = seeds or 1
local bed = os.getenv("TIDE_BENCH_BED") == "1"
-- TIDE_BENCH_SEEDS="4 5": these seeds instead of 1..S (to add seeds to an earlier run)
local seed_list = {}
for s in (os.getenv("TIDE_BENCH_SEEDS") or ""):gmatch("%d+") do seed_list[#seed_list + 1] = s end
if #seed_list == 0 then
  for s = 1, seeds do seed_list[s] = tostring(s) end
end
seeds = #seed_list
local SCRUB = require("support.proc").clean_env

local CONFIGS = {
  { "none", {}, nil }, { "fp16", {}, 0.2 }, { "bf16", {}, 0.2 }, { "int8", {}, 0.2 },
  { "topk", { "--ratio", "0.01" }, 0.5 }, { "topk-ef", { "--ratio", "0.01", "--dgc", "off" }, 0.5 },
  { "powersgd", { "--rank", "4" }, 0.5 },
}
local wanted = os.getenv("TIDE_BENCH_HOOKS")
if wanted then
  local keep = { none = true }
  for name in wanted:gmatch("%S+") do keep[name] = true end
  for i = #CONFIGS, 1, -1 do
    if not keep[CONFIGS[i][1]] then table.remove(CONFIGS, i) end
  end
end

-- One run of train_mnist with a hook (its name; topk-ef is topk without --dgc); its metrics
-- records, or nil and the output.
local function run(name, flags, seed)
  local log = os.tmpname()
  local args = { "--epochs", tostring(epochs), "--quiet", "--metrics", log, "--seed", seed }
  if name ~= "none" then args[#args + 1] = "--compress"; args[#args + 1] = name:match("^%a+%d*") end
  for _, f in ipairs(flags) do args[#args + 1] = f end
  local script = root .. "/examples/train_mnist.lua"
  local launch
  if bed then
    local rate = os.getenv("TIDE_BENCH_RATE")
    launch = ("bash %q run -n %d %s %q"):format(root .. "/scripts/hosts.sh", ranks,
      rate and ("--rate " .. rate) or "", script)
  else
    launch = ("%q run -n %d %q"):format(build .. "/tide", ranks, script)
  end
  local ok, out = bench.sh(SCRUB .. "OPENBLAS_NUM_THREADS=1 TIDE_PROGRESS=off " .. launch .. " " ..
    table.concat(args, " "))
  local recs = bench.read_jsonl(log)
  os.remove(log)
  if not ok or #recs < epochs then return nil, out end
  return recs
end

local function mean_sd(xs)
  local m, v = 0, 0
  for _, x in ipairs(xs) do m = m + x / #xs end
  for _, x in ipairs(xs) do v = v + (x - m) ^ 2 end
  return m, #xs > 1 and math.sqrt(v / (#xs - 1)) or 0
end

if bed and io.popen("id -u"):read("l") ~= "0" then
  print("comm_hooks bench: TIDE_BENCH_BED=1 needs root (network namespaces): skipped")
  return
end
print(("train_mnist, %d epochs, %d ranks%s, seeds %s, paired by seed, on %s (a shared " ..
  "machine: times under load)"):format(epochs, ranks, bed and " over 2 hosts of the test bed"
  or " on one host", table.concat(seed_list, ","), bench.cpu()))

-- every hook's runs, seed by seed, so that a partial run still pairs
local results = {}             -- name -> { acc = {seed -> %}, secs = {...}, stats = last }
for _, c in ipairs(CONFIGS) do results[c[1]] = { acc = {}, secs = {} } end
for seed = 1, seeds do
  for _, c in ipairs(CONFIGS) do
    local r = results[c[1]]
    local recs, out = run(c[1], c[2], seed_list[seed])
    if recs then
      for _, rec in ipairs(recs) do r.secs[#r.secs + 1] = rec.seconds end
      r.acc[seed] = 100 * recs[#recs].accuracy
      r.stats = recs[#recs].compress_stats
      -- as it goes, so that a run stopped early still tells its pairs
      print(("  %s, seed %s: %.2f%%"):format(c[1], seed_list[seed], r.acc[seed]))
      io.stdout:flush()
    else
      print(("%s, seed %d, failed:\n%s"):format(c[1], seed, out))
    end
  end
end

print(("%-9s %9s %8s %6s %15s %6s %5s %9s %8s %8s %10s  %s"):format("hook", "accuracy", "paired",
  "sd", "range", "bar", "ok", "epoch s", "vs none", "bytes", "compute s", "per seed"))
local base = results.none
local base_med = #base.secs > 0 and bench.median(base.secs) or 0 / 0
for _, c in ipairs(CONFIGS) do
  local r = results[c[1]]
  local accs, diffs, lo, hi = {}, {}, math.huge, -math.huge
  for seed = 1, seeds do
    if r.acc[seed] then
      accs[#accs + 1] = r.acc[seed]
      if base.acc[seed] then
        local d = r.acc[seed] - base.acc[seed]
        diffs[#diffs + 1] = d
        lo, hi = math.min(lo, d), math.max(hi, d)
      end
    end
  end
  if #accs > 0 then
    local acc = mean_sd(accs)
    local d, sd = mean_sd(diffs)
    local med = bench.median(r.secs)
    local s = r.stats
    local each = {}
    for i, x in ipairs(diffs) do each[i] = ("%+.2f"):format(x) end
    print(("%-9s %8.2f%% %+8.2f %6.2f %15s %6s %5s %9.2f %8.2f %8s %10s  %s"):format(c[1], acc, d, sd,
      ("[%+.2f, %+.2f]"):format(lo, hi), c[3] and ("%.1f"):format(c[3]) or "-",
      c[3] and (math.abs(d) <= c[3] and "yes" or "NO") or "-", med, med / base_med,
      s and ("%.1f%%"):format(100 * s.bytes / s.raw_bytes) or "100%",
      s and ("%.2f"):format(s.compute_s) or "-", table.concat(each, " ")))
  end
end
