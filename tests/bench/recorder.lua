-- Benchmark of issue 14: the flight recorder's cost on the 4 B f32 allreduce through
-- tide.world at np = 2, recorder on (256 entries, the default) against off
-- (tide.set_recorder(0), as TIDE_RECORDER=0), in the same processes, in alternating order
-- round by round; "added" is the median over rounds of (on - off). Raw MPI_Allreduce
-- (tests/bench/allreduce.c's twin) is timed in each round too, as the reference. Goal: added
-- <= +0.05 us. Times are never asserted.
--
--   scripts/bench.sh recorder          (TIDE_BENCH_ROUNDS: rounds, default 21)
-- Run as a plain script it launches itself under mpirun with --worker.
local bench = require "support.bench"
local median = bench.median
local rounds = math.tointeger(tonumber(os.getenv("TIDE_BENCH_ROUNDS") or "21"))
local np = 2
local iters = 20000
local build = os.getenv("TIDE_BUILD_DIR") or ((os.getenv("TIDE_SOURCE_DIR") or ".") .. "/build")

local function worker()
  local tide = require "tide"
  local world = tide.world
  package.cpath = build .. "/bench/?.so;" .. package.cpath
  local twin = require "allreduce_twin"
  local now = twin.wtime
  local t = tide.ones(1)

  local function time_tide(n)
    world:barrier()
    local t0 = now()
    for _ = 1, n do
      world:allreduce(t)
    end
    return world:allreduce((now() - t0) / n, "max")
  end
  local function with_recorder(slots)
    tide.set_recorder(slots)
    local s = time_tide(iters)
    tide.set_recorder(256)
    return s
  end

  time_tide(iters // 10)   -- warm up
  twin.run(4, iters // 10)
  local on, off, added, raw = {}, {}, {}, {}
  for r = 1, rounds do
    if r % 2 == 1 then
      on[r] = with_recorder(256)
      off[r] = with_recorder(0)
    else
      off[r] = with_recorder(0)
      on[r] = with_recorder(256)
    end
    added[r] = on[r] - off[r]
    raw[r] = twin.run(4, iters)
  end
  if world.rank == 0 then
    print(string.format("4 B f32 allreduce, np = %d, %d calls per round, median of %d rounds,"
      .. " us per call, on %s", world.size, iters, rounds, bench.cpu()))
    print(string.format("%12s %12s %10s %12s %12s", "recorder on", "off", "added", "raw MPI",
      "raw/on"))
    print(string.format("%12.3f %12.3f %+10.3f %12.3f %12.3f", median(on) * 1e6,
      median(off) * 1e6, median(added) * 1e6, median(raw) * 1e6, median(raw) / median(on)))
  end
end

if arg and arg[1] == "--worker" then
  return worker()
end

bench.launch("recorder", np, { TIDE_BENCH_ROUNDS = rounds })
