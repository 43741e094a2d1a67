-- Benchmark of issue 5: f32 allreduce (sum, in place) through tide.world against raw
-- MPI_Allreduce (tests/bench/allreduce.c) in the same mpirun job at np = 2, for 4 B, 1 KiB,
-- 64 KiB, 1 MiB, 16 MiB and 64 MiB. Tide and raw rounds alternate in the same processes, so both
-- see the same (shared) machine. Prints, per size, the median microseconds per call of tide (as
-- a job runs by default: with the light mismatch check), of raw MPI and of tide with
-- TIDE_DEBUG's fingerprint check, the microseconds tide adds, and the bandwidth ratio raw / tide.
-- Targets: <= 1 us added below 1 KiB, ratio >= 0.95 from 1 MiB.
-- Issue 12: the light check's cost. Every round also times 10 pairs of short runs (a tenth of
-- the iterations each) with the check on and off (tide.set_check(false), as TIDE_CHECK=0), in
-- alternating order, so that a rank descheduled by the shared machine spoils a few short runs
-- of both kinds rather than one long one; "check off" is the median of the off runs and
-- "check" the median of the on runs minus it: the amortised cost per call (the loop repeats
-- one call, so after its first 3 calls one in 128 is checked). Goal: <= +0.05 us at 4 B.
-- The watchdog's cost. By default a collective is MPI's blocking call watched by a
-- sentinel thread; "polled" times the same loop under an explicit timeout (TIDE_TIMEOUT's path:
-- MPI's non-blocking call, polled) and "wd off" with the watchdog off (TIDE_TIMEOUT=0).
-- Times are never asserted.
--
--   scripts/bench.sh allreduce          (TIDE_BENCH_ROUNDS: rounds per size, default 9)
-- Run as a plain script it launches itself under mpirun with --worker. The raw side is the
-- allreduce_twin module (allreduce.c built with -DTWIN_MODULE into <build>/bench/ by the
-- build; TIDE_BUILD_DIR, default ./build).
local bench = require "support.bench"
local median = bench.median
local rounds = math.tointeger(tonumber(os.getenv("TIDE_BENCH_ROUNDS") or "9"))
local np = 2
local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")

local sizes = {
  { 4, "4 B", 2000 }, { 1024, "1 KiB", 2000 }, { 64 << 10, "64 KiB", 300 },
  { 1 << 20, "1 MiB", 40 }, { 16 << 20, "16 MiB", 4 }, { 64 << 20, "64 MiB", 2 },
}

-- The twin module, built by tests/tests.cmake into <build>/bench/allreduce_twin.so.
local function load_twin()
  package.cpath = build .. "/bench/?.so;" .. package.cpath
  return require "allreduce_twin"
end

local function worker()
  local tide = require "tide"
  local world = tide.world
  local twin = load_twin()
  local now = twin.wtime

  local function time_tide(t, iters)
    world:barrier()
    local t0 = now()
    for _ = 1, iters do
      world:allreduce(t)
    end
    return world:allreduce((now() - t0) / iters, "max")
  end

  local timeout_polled = 600
  local rows = {}
  for _, s in ipairs(sizes) do
    local bytes, label, iters = s[1], s[2], s[3]
    local t = tide.ones(bytes // 4)
    time_tide(t, iters // 10 + 1)   -- warm up both sides
    twin.run(bytes, iters // 10 + 1)
    local tt, rt, dt, on, off, nowd, polled = {}, {}, {}, {}, {}, {}, {}
    local short = math.max(1, iters // 10)
    for r = 1, rounds do
      tt[r] = time_tide(t, iters)
      for k = 1, 10 do
        local first_off = (r + k) % 2 == 0
        if first_off then tide.set_check(false) end
        local a = time_tide(t, short)
        tide.set_check(first_off)
        local b = time_tide(t, short)
        tide.set_check(true)
        on[#on + 1], off[#off + 1] = first_off and b or a, first_off and a or b
      end
      rt[r] = twin.run(bytes, iters)
      -- the default watchdog (600 s) against the polled one and none
      local timeout = tide.set_timeout(timeout_polled)
      polled[r] = time_tide(t, iters)
      tide.set_timeout(0)
      nowd[r] = time_tide(t, iters)
      tide._internal.set_watchdog(timeout)
      if r <= (bytes >= (1 << 20) and 3 or rounds) then
        tide.set_debug(true)
        dt[#dt + 1] = time_tide(t, iters)
        tide.set_debug(false)
      end
    end
    t:close()
    collectgarbage()
    rows[#rows + 1] = { label, median(tt) * 1e6, median(rt) * 1e6, median(dt) * 1e6,
                        median(off) * 1e6, (median(on) - median(off)) * 1e6, median(nowd) * 1e6,
                        median(polled) * 1e6 }
  end
  if world.rank == 0 then
    print(string.format("f32 allreduce (sum, in place), np = %d, median of %d rounds, us per call,"
      .. " on %s", world.size, rounds, bench.cpu()))
    print(string.format("%-8s %12s %12s %10s %12s %14s %12s %10s %12s %12s", "size", "tide",
      "raw MPI", "added", "raw/tide", "tide+debug", "check off", "check", "polled", "wd off"))
    for _, r in ipairs(rows) do
      print(string.format("%-8s %12.2f %12.2f %+10.2f %12.3f %14.2f %12.2f %+10.3f %12.2f %12.2f",
        r[1], r[2], r[3], r[2] - r[3], r[3] / r[2], r[4], r[5], r[6], r[8], r[7]))
    end
  end
end

if arg and arg[1] == "--worker" then
  return worker()
end

bench.launch("allreduce", np, { TIDE_BENCH_ROUNDS = rounds })
