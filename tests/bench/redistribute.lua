-- Benchmark of issue 6: dt:redistribute moving 1,000,000 x 32 f32 rows (128 MB) to the ranks a
-- random permutation sends them to, at np = 2, against its C twin tests/bench/redistribute.c
-- (a counting-sort pack and one raw MPI_Alltoallv). The two alternate, a few repetitions at a
-- time, so that both see the same machine (the 2-core box is shared); the script prints the
-- median and best seconds and GB/s of each (GB/s counting the whole matrix per redistribute)
-- and the ratio tide / C of the medians (target >= 0.8).
--
--   scripts/bench.sh redistribute   (TIDE_BENCH_ROWS, TIDE_BENCH_REPS, TIDE_BENCH_ROUNDS)
-- Run as a plain script it launches both under mpirun; under mpirun with --worker it is the
-- tide side. Times are never asserted.
local rows = math.tointeger(tonumber(os.getenv("TIDE_BENCH_ROWS") or "1000000"))
local cols = 32
local reps = math.tointeger(tonumber(os.getenv("TIDE_BENCH_REPS") or "3"))
local rounds = math.tointeger(tonumber(os.getenv("TIDE_BENCH_ROUNDS") or "5"))
local np = 2

local median = require("support.bench").median

local function worker()
  local tide = require "tide"
  local dtensor = require "tide.dtensor"
  local placement = require "tide.placement"
  local world = tide.world
  local now = tide.now
  local x = dtensor.rand({ rows, cols }, { seed = 1 })
  -- row i moves to the rank whose block holds its position in a random permutation
  local perm = tide.randperm(rows, { seed = 2, same_on_all_ranks = true })
  local mine = perm:narrow(1, x:row_offset() + 1, x.shard:size(1)) - 1
  local dest = placement.split(mine, placement.block_counts(rows, world.size))
  perm = nil
  for r = 1, reps do
    world:barrier()
    local t0 = now()
    local y = x:redistribute(dest)
    world:barrier()
    local t = now() - t0
    -- every rank holds its block's count of rows
    assert(y.shard:size(1) == placement.block_counts(rows, world.size)[world.rank + 1])
    y:close()
    y = nil
    collectgarbage()
    if world.rank == 0 then
      print(string.format("tide %.6f", t))
    end
  end
end

if arg and arg[1] == "--worker" then
  return worker()
end

-- the launcher: both sides under their own mpirun, alternating
local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local mpirun = os.getenv("MPIRUN") or "mpirun"
local env = "OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
local function run(cmd, tag, into)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  p:close()
  local n = 0
  for t in out:gmatch(tag .. " (%S+)") do
    into[#into + 1] = tonumber(t)
    n = n + 1
  end
  if n == 0 then
    io.stderr:write("redistribute bench: a run failed:\n", out, "\n")
    os.exit(1)
  end
end
local tide_cmd = string.format("%s TIDE_BENCH_ROWS=%d TIDE_BENCH_REPS=%d %s --oversubscribe -np %d lua5.4 %q --worker",
  env, rows, reps, mpirun, np, root .. "/tests/bench/redistribute.lua")
local c_cmd = string.format("%s %s --oversubscribe -np %d %q %d %d %d", env, mpirun, np,
  build .. "/bench/redistribute", rows, cols, reps)
local tt, ct = {}, {}
for _ = 1, rounds do
  run(c_cmd, "c", ct)
  run(tide_cmd, "tide", tt)
end
local bytes = rows * cols * 4
local function line(name, ts)
  local m, best = median(ts), math.min(table.unpack(ts))
  print(string.format("  %-5s median %7.4f s %6.2f GB/s   best %7.4f s %6.2f GB/s", name, m,
    bytes / m / 1e9, best, bytes / best / 1e9))
  return m, best
end
print(string.format("redistribute %d x %d f32, random permutation, np=%d, %d runs each", rows, cols,
  np, #tt))
local tm, tb = line("tide", tt)
local cm, cb = line("C", ct)
print(string.format("  ratio tide / C (throughput): %.2f of medians, %.2f of bests (target >= 0.8)",
  cm / tm, cb / tb))
