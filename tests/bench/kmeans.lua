-- Benchmark of issue 8: seconds per Lloyd iteration of tide.cluster.kmeans on 1,000,000 x 32
-- f32 Gaussian blobs, k = 64, at 1 and 2 ranks (1 OpenBLAS thread per rank), next to its C
-- twin (tests/bench/kmeans.c: the same algorithm written against MPI and OpenBLAS) run in the
-- same session; the share of each iteration spent in GEMM, in the rest of the assignment
-- pass (argmin, sums, counts, inertia), in the allreduce and elsewhere; and how that compares
-- with scikit-learn's Lloyd on 2 threads, run in the same session on data of the same size and
-- distribution (tests/bench/kmeans_sklearn.py with /usr/bin/python3; said plainly when
-- scikit-learn is absent), and with the arithmetic floor (about 0.03 s: 4.1 GFLOP of GEMM at
-- ~300 GFLOP/s for two cores plus one pass over the 128 MB of data).
--
-- The assignment pass has two kernels for the nearest centres of a chunk of rows (issue 16):
-- one GEMM of the chunk against the centres into a 512 KiB block and an argmin over it
-- (core/algo/kmeans.c), or the fused kernel (core/algo/kmeans_fused.c: distances and argmin
-- in registers, no block written). Sums and counts follow while the chunk is in cache. The
-- 2-rank runs are made with each (TIDE_KMEANS_KERNEL=gemm, and the default, which takes the
-- fused kernel on f32 with AVX-512), so the table shows which is faster in the same run.
--
--   scripts/bench.sh kmeans          TIDE_BENCH_KMEANS="N d k iters" to change the sizes
-- It never asserts a time. The 2-core machine is shared: run it when it is quiet.
local cjson = require "cjson"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local mpirun = os.getenv("MPIRUN") or "mpirun"
local PYTHON = "/usr/bin/python3"   -- the system's, where apt installs python3-sklearn

local median = require("support.bench").median   -- tests/support/bench.lua

local sizes = {}
for v in (os.getenv("TIDE_BENCH_KMEANS") or "1000000 32 64 20"):gmatch("%d+") do
  sizes[#sizes + 1] = math.tointeger(tonumber(v))
end
local N, D, NK, ITERS = table.unpack(sizes)

-- ------------------------------------------------------------------ worker (under mpirun)

if arg[1] == "--worker" then
  local tide = require "tide"
  local cluster = require "tide.cluster"
  local world = tide.world
  local x = tide.data.blobs { n = N, d = D, k = NK, std = 1, seed = 0, comm = world }
  local m = cluster.kmeans(x, NK, { comm = world, init = "random", seed = 1, max_iter = ITERS,
    tol = 0 })
  -- per iteration: the slowest rank's time (the allreduce makes every rank wait for it); the
  -- phases as means over iterations and ranks, so that they add up to the mean iteration
  local n = #m.history
  local t = tide.zeros({ 4, n }, "f64")
  for i, r in ipairs(m.history) do
    t[1][i] = r.seconds
    t[2][i] = r.gemm_seconds
    t[3][i] = r.assign_seconds
    t[4][i] = r.allreduce_seconds
  end
  local mx = t:clone()
  world:allreduce(mx, "max")
  world:allreduce(t, "sum")
  if world.rank == 0 then
    local P = world.size
    local function mean(tt, j, div) return tt[j]:sum() / n / div end
    local out = { impl = "tide", np = P, N = N, d = D, k = NK, iters = n,
      per_iter_s = median(mx[1]:totable()), mean_iter_s = mean(mx, 1, 1),
      gemm_s = mean(t, 2, P), assign_s = mean(t, 3, P), allreduce_s = mean(t, 4, P),
      inertia = m.inertia }
    print(cjson.encode(out))
  end
  return
end

-- ------------------------------------------------------------------ driver

local function run(cmd)
  local rec, output = require("support.bench").json_of(cmd)
  if not rec then io.stderr:write(("kmeans bench: %s failed:\n%s\n"):format(cmd, output)) end
  return rec
end

local env = "OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"

-- scikit-learn in the same session, when /usr/bin/python3 has it: run before tide's runs and
-- again right after the 2-rank ones, so that a change in the machine's load during the run
-- weighs on both sides alike (its figures are the means of the two)
local has_sklearn
do
  local p = io.popen(PYTHON .. " -c 'import sklearn, threadpoolctl' 2>&1")
  p:read("a")
  has_sklearn = p:close()
end
local function sklearn_run()
  return has_sklearn and run(("%s %q %d %d %d %d 2 3"):format(PYTHON,
    root .. "/tests/bench/kmeans_sklearn.py", N, D, NK, ITERS))
end
local sklearn_before = sklearn_run()
local results = {}
for _, np in ipairs { 1, 2 } do
  local launch = ("%s %s --oversubscribe -np %d"):format(env, mpirun, np)
  results[np] = {
    c = run(("%s %q %d %d %d %d"):format(launch, build .. "/bench/kmeans", N, D, NK, ITERS)),
    tide = run(("%s lua5.4 %q --worker"):format(launch, root .. "/tests/bench/kmeans.lua")),
  }
end
local sklearn_after = sklearn_before and sklearn_run()
local sklearn = sklearn_after and {
  sklearn = sklearn_before.sklearn,
  per_iter_s = (sklearn_before.per_iter_s + sklearn_after.per_iter_s) / 2,
  per_iter_marginal_s = (sklearn_before.per_iter_marginal_s
    + sklearn_after.per_iter_marginal_s) / 2,
}
-- the GEMM kernel, at 2 ranks, after the default one
local gemm_kernel = {
  c = results[2].c,
  tide = run(("TIDE_KMEANS_KERNEL=gemm %s %s --oversubscribe -np 2 lua5.4 %q --worker"):format(
    env, mpirun, root .. "/tests/bench/kmeans.lua")),
}

-- OpenBLAS 0.3.21 does not know every CPU it runs on: on an AVX-512 machine it may fall back
-- to its AVX2 (Haswell) kernels. Then the same 2-rank runs again with its SkylakeX kernels
-- forced, to show what the GEMM part costs with them.
local function has_avx512()
  local f = io.open("/proc/cpuinfo", "r")
  if not f then return false end
  local info = f:read("a")
  f:close()
  return info:find("avx512f", 1, true) ~= nil
end
local forced
if results[1].c and results[1].c.blas_core == "Haswell" and has_avx512() then
  local launch = ("OPENBLAS_CORETYPE=SkylakeX %s %s --oversubscribe -np 2"):format(env, mpirun)
  forced = {
    c = run(("%s %q %d %d %d %d"):format(launch, build .. "/bench/kmeans", N, D, NK, ITERS)),
    tide = run(("%s lua5.4 %q --worker"):format(launch, root .. "/tests/bench/kmeans.lua")),
  }
end

print(("k-means (Lloyd), %d x %d f32 blobs, k = %d, %d iterations from random rows; "
  .. "1 OpenBLAS thread per rank"):format(N, D, NK, ITERS))
local core = results[1].c and results[1].c.blas_core or "?"
print(("OpenBLAS kernels: %s"):format(core))
print()
print("ranks   tide s/iter   C twin s/iter   tide/C    dist.  assign  allreduce  other   "
  .. "dist. GFLOP/s per rank")
local gemm_flop = 2.0 * N * D * NK
local rows = { { "1", results[1] }, { "2", results[2] }, { "2 (gemm)", gemm_kernel } }
if forced then rows[#rows + 1] = { "2 (*)", forced } end
for _, row in ipairs(rows) do
  local label, t, c = row[1], row[2].tide, row[2].c
  local np = label == "1" and 1 or 2
  if t then
    local other = math.max(t.mean_iter_s - t.gemm_s - t.assign_s - t.allreduce_s, 0)
    local function pct(v) return ("%5.1f%%"):format(100 * v / t.mean_iter_s) end
    print(("%5s   %11.4f   %13s   %6s   %s   %s   %s  %s   %6.1f"):format(label, t.per_iter_s,
      c and ("%.4f"):format(c.per_iter_s) or "-", c and ("%.2f"):format(t.per_iter_s / c.per_iter_s) or "-",
      pct(t.gemm_s), pct(t.assign_s), pct(t.allreduce_s), pct(other),
      gemm_flop / np / t.gemm_s / 1e9))
  end
end
print("dist.: the nearest centres (the default kernel, fused on f32 with AVX-512; (gemm): "
  .. "TIDE_KMEANS_KERNEL=gemm, a GEMM per chunk, its argmin counted in assign)")
if forced then
  print(("(*) OPENBLAS_CORETYPE=SkylakeX: OpenBLAS's AVX-512 kernels, which it does not pick by "
    .. "itself on this CPU"))
end
print()
local t2 = results[2].tide
if t2 then
  local s = t2.per_iter_s
  if sklearn then
    local sk = sklearn.per_iter_s
    print(("at 2 ranks: %.4f s per iteration; scikit-learn %s (2 threads, same run) %.4f s per "
      .. "iteration (%.4f s marginal): tide / scikit-learn %.2fx (goal <= 0.4): %s"):format(s,
      sklearn.sklearn, sk, sklearn.per_iter_marginal_s, s / sk,
      s / sk <= 0.4 and "met" or "NOT met"))
    print(("  (scikit-learn: the mean of its runs before and after tide's: %.4f and %.4f s per "
      .. "iteration)"):format(sklearn_before.per_iter_s, sklearn_after.per_iter_s))
  else
    print(("at 2 ranks: %.4f s per iteration; scikit-learn %s for %s, so no ratio to it"):format(
      s, has_sklearn and "failed" or "is not installed (apt: python3-sklearn)", PYTHON))
  end
  -- the floor: the GEMM at ~150 GFLOP/s per core, plus the rows read once at ~10 GB/s
  local gemm_floor = gemm_flop / 300e9
  local pass_floor = N * D * 4 / 10e9
  print(("arithmetic floor ~%.3f s (GEMM %.4f s at 300 GFLOP/s for 2 cores + one pass over "
    .. "%d MB %.4f s): tide takes %.2fx the floor. Per rank and iteration:"):format(
    gemm_floor + pass_floor, gemm_floor, N * D * 4 // 1000000, pass_floor,
    s / (gemm_floor + pass_floor)))
  local gemm_rate = gemm_flop / 2 / t2.gemm_s / 1e9
  print(("  distances %.4f s: %.0f GFLOP/s per core (the default kernel; K = %d is a thin inner "
    .. "dimension for a GEMM) against the ~150 the floor assumes%s"):format(t2.gemm_s, gemm_rate,
    D, forced and forced.tide and (", %.0f with OpenBLAS's AVX-512 kernels forced"):format(
      gemm_flop / 2 / forced.tide.gemm_s / 1e9) or ""))
  print(("  assignment %.4f s: the distance to the winner, sums and counts (and the argmin "
    .. "for the GEMM kernel); the rows come from cache here"):format(t2.assign_s))
  local g = gemm_kernel.tide
  if g then
    print(("  the GEMM kernel (OpenBLAS's %s sgemm per chunk + argmin), same run: %.4f s per "
      .. "iteration, %.4f s of GEMM + %.4f s of the rest; default / GEMM kernel %.2fx"):format(
      core, g.per_iter_s, g.gemm_s, g.assign_s, s / g.per_iter_s))
  end
  print(("  allreduce %.4f s: one of %d doubles per iteration, most of it waiting for the "
    .. "slower rank"):format(t2.allreduce_s, NK * D + NK + 2))
end
if results[1].tide and results[2].tide then
  print(("scaling 1 -> 2 ranks: %.2fx"):format(results[1].tide.per_iter_s / results[2].tide.per_iter_s))
end
