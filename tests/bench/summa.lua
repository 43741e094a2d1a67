-- Benchmark of issue 16: D:matmul by SUMMA, f64 n = 2048 at np = 2 (grid 1 x 2, square blocks
-- nb = 64, 128, 256 and the plain block layout), against ScaLAPACK's pdgemm
-- (/work/shared/peers/pdgemm_c.c: the same grid and blocks) in the same run. Both use
-- OPENBLAS_NUM_THREADS=1 per rank; each times 1 warm-up and TIDE_BENCH_REPS calls between
-- barriers. Prints medians, GFLOP/s, the ratio tide / pdgemm and the CPU; never asserts.
--
--   scripts/bench.sh summa   (TIDE_BENCH_N, TIDE_BENCH_REPS)
-- Preparation: pdgemm_c is compiled into build/bench/ against Debian's
-- libscalapack-openmpi-dev, installed by apt-get here only when missing (a benchmark peer,
-- not a dependency of tide). Without it the tide side runs alone.
local n = math.tointeger(tonumber(os.getenv("TIDE_BENCH_N") or "2048"))
local reps = math.tointeger(tonumber(os.getenv("TIDE_BENCH_REPS") or "5"))
local np = 2
local blocks = { 64, 128, 256, 0 }   -- 0: the block layout, n / 2 columns per rank
local bench = require "support.bench"   -- tests/support/bench.lua
local median, sh, cpu = bench.median, bench.sh, bench.cpu

local function worker()
  local tide = require "tide"
  local dmatrix = require "tide.dmatrix"
  local world = tide.world
  local A = tide.rand({ n, n }, { dtype = "f64", seed = 1, same_on_all_ranks = true })
  local B = tide.rand({ n, n }, { dtype = "f64", seed = 2, same_on_all_ranks = true })
  for _, nb in ipairs(blocks) do
    local opts = { grid = { 1, world.size }, block = nb > 0 and { nb, nb } or nil }
    local D, E = dmatrix.from_global(A, opts), dmatrix.from_global(B, opts)
    local ts = {}
    for r = 0, reps do
      world:barrier()
      local t0 = tide.now()
      local C = D:matmul(E, { algorithm = "summa" })
      world:barrier()
      if r > 0 then ts[#ts + 1] = tide.now() - t0 end
      C.shard:close()
    end
    if world.rank == 0 then
      print(string.format("tide nb=%d %s", nb, table.concat(ts, " ")))
    end
  end
end

if arg and arg[1] == "--worker" then
  return worker()
end

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local mpirun = os.getenv("MPIRUN") or "mpirun"
local env = "OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"

-- the pdgemm peer: compiled once, with the library installed only if missing
local peer = build .. "/bench/pdgemm_c"
local function prepare_peer()
  local have = sh("ldconfig -p | grep -q libscalapack-openmpi")
  if not have then
    print("  (installing libscalapack-openmpi-dev for the pdgemm peer)")
    local ok, out = sh("apt-get install -y -q libscalapack-openmpi-dev")
    if not ok then
      print("  pdgemm peer unavailable: apt-get failed: " .. (out:match("E: [^\n]*") or "?"))
      return false
    end
  end
  local src = "/work/shared/peers/pdgemm_c.c"
  local ok, out = sh(string.format("mkdir -p %q && mpicc -O2 -o %q %q -lscalapack-openmpi -lopenblas -lm",
    build .. "/bench", peer, src))
  if not ok then
    print("  pdgemm peer unavailable: " .. out)
  end
  return ok
end

print(string.format("summa f64 n=%d, np=%d, grid 1x%d, %d timed calls each, OPENBLAS_NUM_THREADS=1",
  n, np, np, reps))
print("  CPU: " .. cpu())
local ok, out = sh(string.format("%s TIDE_BENCH_N=%d TIDE_BENCH_REPS=%d %s --oversubscribe -np %d lua5.4 %q --worker",
  env, n, reps, mpirun, np, root .. "/tests/bench/summa.lua"))
if not ok then
  io.stderr:write("summa bench: the tide run failed:\n", out, "\n")
  os.exit(1)
end
local tide_ms = {}
for nb, times in out:gmatch("tide nb=(%d+) ([^\n]*)") do
  local ts = {}
  for t in times:gmatch("%S+") do ts[#ts + 1] = tonumber(t) end
  tide_ms[tonumber(nb)] = median(ts) * 1e3
end
local peer_ms = {}
if n == 2048 and prepare_peer() then
  local pok, pout = sh(string.format("%s %s --oversubscribe -np %d %q", env, mpirun, np, peer))
  for nb, med in pout:gmatch('"nb":(%d+),"reps":%d+,"best_ms":[%d.]+,"median_ms":([%d.]+)') do
    peer_ms[tonumber(nb)] = tonumber(med)
  end
  if not pok then print("  pdgemm run failed: " .. pout) end
end
local flops = 2.0 * n * n * n
for _, nb in ipairs(blocks) do
  local t = tide_ms[nb]
  local line = string.format("  %-12s tide median %8.1f ms %6.2f GFLOP/s", nb > 0 and ("nb=" .. nb)
    or "block", t, flops / t / 1e6)
  if peer_ms[nb] then
    line = line .. string.format("   pdgemm %8.1f ms %6.2f GFLOP/s   tide / pdgemm %.2fx (goal >= 1.0)",
      peer_ms[nb], flops / peer_ms[nb] / 1e6, peer_ms[nb] / t)
  end
  print(line)
end
