-- Benchmark of issue 19, acceptance 4: examples/train_mnist.lua (the MLP recipe, 5 epochs) at
-- 4 ranks uncompressed and with each compression hook of tide.comm_hooks (fp16, bf16, int8, topk
-- at 1%, powersgd rank 4). Prints each run's final test accuracy, its distance in points from
-- the uncompressed run of the same invocation and the issue's bar (0.2 points for fp16, bf16
-- and int8; 0.5 for topk and powersgd), the median epoch seconds and its ratio to
-- uncompressed, the share of the allreduce bytes the hook sent and its compute seconds.
-- Nothing is asserted (a run takes minutes; CI runs tests/mpi/comm_hooks_spec.lua's short one).
--
--   scripts/bench.sh comm_hooks
--   TIDE_BENCH_COMPRESS="5 4 1" (epochs, ranks, seeds: with S seeds each hook runs with seeds
--   1..S and the accuracies are means, since one run of the recipe moves by about a point with
--   the seed)   TIDE_BENCH_BED=1: on scripts/hosts.sh's two hosts (root only;
--   TIDE_BENCH_RATE=1gbit shapes the links), else `tide run -n` on this host.
local bench = require "support.bench"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local epochs, ranks, seeds = bench.sizes("TIDE_BENCH_COMPRESS", "5 4 1")
seeds = seeds or 1
local bed = os.getenv("TIDE_BENCH_BED") == "1"
local SCRUB = require("support.proc").clean_env

local CONFIGS = {
  { "none", {}, nil }, { "fp16", {}, 0.2 }, { "bf16", {}, 0.2 }, { "int8", {}, 0.2 },
  { "topk", { "--ratio", "0.01" }, 0.5 }, { "powersgd", { "--rank", "4" }, 0.5 },
}

-- One run of train_mnist with extra flags; its metrics records, or nil and the output.
local function run(name, flags, seed)
  local log = os.tmpname()
  local args = { "--epochs", tostring(epochs), "--quiet", "--metrics", log, "--seed", seed }
  if name ~= "none" then args[#args + 1] = "--compress"; args[#args + 1] = name end
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

if bed and io.popen("id -u"):read("l") ~= "0" then
  print("compress bench: TIDE_BENCH_BED=1 needs root (network namespaces): skipped")
  return
end
print(("train_mnist, %d epochs, %d ranks%s, %d seed%s, on %s (a shared machine: times under load)")
  :format(epochs, ranks, bed and " over 2 hosts of the test bed" or " on one host", seeds,
    seeds > 1 and "s (mean accuracy)" or "", bench.cpu()))
print(("%-9s %9s %8s %6s %5s %10s %9s %8s %10s"):format("hook", "accuracy", "points", "bar",
  "ok", "epoch s", "vs none", "bytes", "compute s"))
local base
for _, c in ipairs(CONFIGS) do
  local secs, acc_sum, last, out = {}, 0, nil, nil
  for seed = 1, seeds do
    local recs
    recs, out = run(c[1], c[2], tostring(seed))
    if not recs then last = nil break end
    for _, r in ipairs(recs) do secs[#secs + 1] = r.seconds end
    last = recs[#recs]
    acc_sum = acc_sum + 100 * last.accuracy
  end
  if not last then
    print(("%-9s failed:\n%s"):format(c[1], out))
  else
    local acc, med = acc_sum / seeds, bench.median(secs)
    base = base or (c[1] == "none" and { acc = acc, med = med })
    local points = base and acc - base.acc or 0 / 0
    local s = last.compress_stats
    print(("%-9s %8.2f%% %+8.2f %6s %5s %10.2f %9.2f %7s %10s"):format(c[1], acc, points,
      c[3] and ("%.1f"):format(c[3]) or "-", c[3] and (math.abs(points) <= c[3] and "yes" or "NO")
      or "-", med, base and med / base.med or 0 / 0,
      s and ("%.1f%%"):format(100 * s.bytes / s.raw_bytes) or "100%",
      s and ("%.2f"):format(s.compute_s) or "-"))
  end
end
