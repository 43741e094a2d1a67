-- Benchmark of issue 15: tide.ps push and pull at 1 server + 3 workers (np = 4) for 1 KiB and
-- 1 MiB f64 values, and tide.farm's cost per empty task, against the raw-MPI twin
-- tests/bench/ps.c (the same protocol in blocking MPI_Send/MPI_Recv; the farm as
-- mpi4py.futures shapes it). Each worker pushes (or pulls) `iters` values to the server, then
-- calls clock(), which the server acknowledges once every worker's pushes are in: the time is
-- the slowest worker's, per operation. 1 KiB pushes go to 64 keys and tide coalesces them (one
-- message per 64 KiB or per clock); the twin sends each alone, as the plain protocol does.
-- Sides alternate, a run at a time, so both see the same (shared) machine. Prints the medians,
-- MB/s per worker and the ratio of throughputs tide / C (goals: >= 0.8 at 1 MiB, >= 0.5 at
-- 1 KiB), and the CPU. Times are never asserted.
--
--   scripts/bench.sh ps         (TIDE_BENCH_ROUNDS: runs per side, default 5)
-- Run as a plain script it launches both sides under mpirun; with --worker it is the tide side.
local rounds = math.tointeger(tonumber(os.getenv("TIDE_BENCH_ROUNDS") or "5"))
local np = 4
local SIZES = { { 1024, "1 KiB", 2000 }, { 1 << 20, "1 MiB", 40 } }
local TASKS = 1000

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function worker(bytes, iters, tasks)
  local tide = require "tide"
  local world = tide.world
  local n = bytes // 8
  local ps = tide.ps.new(world, { servers = 1, consistency = { ssp = 1 << 30 } })
  local nkeys = bytes <= 4096 and 64 or 1
  for k = 1, nkeys do ps:init(k, tide.zeros({ n }, "f64"), { lr = 0.01 }) end
  local g = tide.ones({ n }, "f64")
  local function phase(op, count)
    world:barrier()
    local t0, t = tide.now(), 0
    if ps:is_worker() then
      for i = 1, count do
        local key = (i - 1) % nkeys + 1
        if op == "push" then ps:push(key, g) else ps:pull(key, g) end
      end
    end
    ps:clock()
    if ps:is_worker() then t = (tide.now() - t0) / count end
    return world:allreduce(t, "max")
  end
  phase("push", iters // 10 + 1)
  local push = phase("push", iters)
  local pull = phase("pull", iters)
  ps:close()
  local list = {}
  for i = 1, tasks do list[i] = i end
  world:barrier()
  local t0 = tide.now()
  tide.farm.run(world, list, function() end, { policy = "least_loaded" })
  local per_task = world:allreduce((tide.now() - t0) / tasks, "max")
  if world.rank == 0 then
    print(("tide push %d %.9f\ntide pull %d %.9f\ntide farm %.9f"):format(bytes, push, bytes,
      pull, per_task))
  end
end

if arg and arg[1] == "--worker" then
  return worker(math.tointeger(tonumber(arg[2])), math.tointeger(tonumber(arg[3])),
    math.tointeger(tonumber(arg[4])))
end

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local mpirun = os.getenv("MPIRUN") or "mpirun"
local env = "OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"

local function run(cmd, side, into)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  p:close()
  local found = false
  for what, rest in out:gmatch(side .. " (%a+) ([^\n]+)") do
    local v = tonumber(rest:match("(%S+)$"))
    into[what] = into[what] or {}
    table.insert(into[what], v)
    found = true
  end
  if not found then
    io.stderr:write("ps bench: a run failed:\n", out, "\n")
    os.exit(1)
  end
end

local cpu = require("support.bench").cpu()
print(("tide.ps, 1 server + %d workers (np = %d), f64 values, median of %d runs, on %s"):format(
  np - 1, np, rounds, cpu))
print(("%-12s %14s %14s %12s %12s %10s"):format("op", "tide us/op", "C us/op", "tide MB/s",
  "C MB/s", "tide/C"))
local farm_t, farm_c = {}, {}
for _, s in ipairs(SIZES) do
  local bytes, label, iters = s[1], s[2], s[3]
  local tt, ct = {}, {}
  for _ = 1, rounds do
    run(("%s %s --oversubscribe -np %d %q %d %d %d"):format(env, mpirun, np, build .. "/bench/ps",
      bytes, iters, TASKS), "c", ct)
    run(("%s TIDE_BUILD_DIR=%q TIDE_SOURCE_DIR=%q %s --oversubscribe -np %d lua5.4 %q --worker %d %d %d")
      :format(env, build, root, mpirun, np, root .. "/tests/bench/ps.lua", bytes, iters, TASKS),
      "tide", tt)
  end
  for _, op in ipairs { "push", "pull" } do
    local a, b = median(tt[op]), median(ct[op])
    print(("%-12s %14.2f %14.2f %12.1f %12.1f %10.2f"):format(op .. " " .. label, a * 1e6, b * 1e6,
      bytes / a / 1e6, bytes / b / 1e6, b / a))
  end
  for _, v in ipairs(tt.farm) do farm_t[#farm_t + 1] = v end
  for _, v in ipairs(ct.farm) do farm_c[#farm_c + 1] = v end
end
local a, b = median(farm_t), median(farm_c)
print(("%-12s %14.2f %14.2f %12s %12s %10.2f"):format("farm task", a * 1e6, b * 1e6, "-", "-", b / a))
print("(goals: tide/C >= 0.8 for 1 MiB, >= 0.5 for 1 KiB pushes with coalescing; never asserted)")
