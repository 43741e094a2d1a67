-- Benchmark of issue 18: samples per second of likelihood weighting (tide.bayes, drawing many
-- samples per tensor op) at 1 and 2 ranks, against its C twin (tests/bench/bayes.c: one sample at
-- a time in plain C, the same query) run in the same job, and Gibbs sweeps on the generated
-- 30-variable network. Query: P(lung = yes | xray = yes, smoke = yes) on Asia. Medians of
-- TIDE_BENCH_ROUNDS rounds (default 5); times are never asserted.
--
--   scripts/bench.sh bayes
-- Run as a plain script it launches itself under mpirun with --worker.
local rounds = math.tointeger(tonumber(os.getenv("TIDE_BENCH_ROUNDS") or "5"))
local samples = 2000000
local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local mpirun = os.getenv("MPIRUN") or "mpirun"
local launch = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " .. mpirun ..
  " --oversubscribe -np %d "

local bench = require "support.bench"   -- tests/support/bench.lua
local median = bench.median

local function worker()
  local tide = require "tide"
  local bayes = require "tide.bayes"
  local net = bayes.network(root .. "/examples/asia.json")
  local ev = { xray = "yes", smoke = "yes" }
  net:sample("lung", ev, { samples = 100000 })   -- warm up
  local lw, p = {}, nil
  for r = 1, rounds do
    tide.world:barrier()
    local t0 = tide.now()
    p = net:sample("lung", ev, { samples = samples, seed = r })
    lw[r] = tide.world:allreduce(tide.now() - t0, "max")
  end
  local big = bayes.network(bayes.random_spec(30, { seed = 7 }))
  local gibbs = {}
  for r = 1, rounds do
    tide.world:barrier()
    local t0 = tide.now()
    big:sample("v12", { v5 = "s1", v17 = "s2" }, { method = "gibbs", samples = 200000,
      seed = r, burn_in = 20 })
    gibbs[r] = tide.world:allreduce(tide.now() - t0, "max")
  end
  if tide.world.rank == 0 then
    print(("%d %.6f %.6f %.6f"):format(tide.world.size, median(lw), p.yes, median(gibbs)))
  end
end

if arg and arg[1] == "--worker" then return worker() end

print(("likelihood weighting on Asia, %d samples per run, median of %d rounds, on %s"):format(
  samples, rounds, bench.cpu()))
print(("%5s %14s %14s %8s %12s %18s"):format("ranks", "tide samples/s", "C samples/s",
  "tide/C", "P(lung|ev)", "gibbs 30-var s"))
for _, np in ipairs { 1, 2 } do
  local cmd = (launch .. "env TIDE_BENCH_ROUNDS=%d TIDE_SOURCE_DIR=%q lua5.4 %q --worker")
    :format(np, rounds, root, root .. "/tests/bench/bayes.lua")
  local out = io.popen(cmd):read("a")
  local ranks, secs, p, gibbs = out:match("(%d+) ([%d.]+) ([%d.]+) ([%d.]+)")
  local twin = {}
  for r = 1, rounds do
    local line = io.popen((launch .. "%q %d"):format(np, build .. "/bench/bayes", samples))
      :read("a")
    twin[r] = tonumber(line:match("\"seconds\": ([%d.]+)"))
  end
  local tide_rate, c_rate = samples / tonumber(secs), samples / median(twin)
  print(("%5s %14.0f %14.0f %8.3f %12.5f %18.3f"):format(ranks, tide_rate, c_rate,
    tide_rate / c_rate, tonumber(p), tonumber(gibbs)))
end
