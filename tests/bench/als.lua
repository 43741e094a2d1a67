-- Benchmark of issue 16: tide.recommend.als at 2 ranks against its numpy twin
-- (tests/bench/als_numpy.py, the same algorithm on the same ratings, drawn by the same LCG)
-- in the same run: median seconds per iteration (explicit ALS-WR), the ratio numpy / tide
-- (goal >= 3x), each side's training RMSE as a check that both did the same work, and the
-- CPU. Tide runs OPENBLAS_NUM_THREADS=1 per rank; numpy gets 2 threads (the same 2 cores).
-- Never asserts a time.
--
--   scripts/bench.sh als   (TIDE_BENCH_USERS=20000, TIDE_BENCH_ITEMS=5000,
--                           TIDE_BENCH_DENSITY=0.01, TIDE_BENCH_RANK=10, TIDE_BENCH_ITERS=6)
-- The twin needs numpy under /usr/bin/python3; without it tide runs alone and says so.
local function env_num(name, default)
  return tonumber(os.getenv(name) or "") or default
end
local cfg = {
  users = math.tointeger(env_num("TIDE_BENCH_USERS", 20000)),
  items = math.tointeger(env_num("TIDE_BENCH_ITEMS", 5000)),
  density = env_num("TIDE_BENCH_DENSITY", 0.01),
  rank = math.tointeger(env_num("TIDE_BENCH_RANK", 10)),
  iters = math.tointeger(env_num("TIDE_BENCH_ITERS", 6)),
  reg = 0.05,
}
local np = 2

local function worker()
  local tide = require "tide"
  local recommend = require "tide.recommend"
  local world = tide.world
  local me = world.rank
  local train = recommend.synthetic { n_users = cfg.users, n_items = cfg.items, rank = cfg.rank,
    density = cfg.density, test_fraction = 0, seed = 1, comm = world }
  local n = world:allreduce(train.users:numel(), "sum")
  local times, last = {}, nil
  world:barrier()
  last = tide.now()
  local m = recommend.als { rank = cfg.rank, reg = cfg.reg, iters = cfg.iters, seed = 1,
    n_users = cfg.users, n_items = cfg.items, callback = function()
      local now = tide.now()
      times[#times + 1] = now - last
      last = now
    end }
  m:fit(train.users, train.items, train.ratings)
  if me == 0 then
    table.remove(times, 1)   -- the first iteration also pays for placing the ratings
    print(("tide ratings=%d rmse=%.6f times=%s"):format(n, m.history[#m.history],
      table.concat(times, " ")))
  end
end

if arg and arg[1] == "--worker" then
  return worker()
end

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local mpirun = os.getenv("MPIRUN") or "mpirun"
local env = "OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"

local bench = require "support.bench"
local sh, cpu, median = bench.sh, bench.cpu, bench.median

print(("als explicit, %d users x %d items, density %g, rank %d, %d iterations (the first "
  .. "not timed), np=%d"):format(cfg.users, cfg.items, cfg.density, cfg.rank, cfg.iters, np))
print("  CPU: " .. cpu())
local vars = ("TIDE_BENCH_USERS=%d TIDE_BENCH_ITEMS=%d TIDE_BENCH_DENSITY=%s TIDE_BENCH_RANK=%d "
  .. "TIDE_BENCH_ITERS=%d"):format(cfg.users, cfg.items, cfg.density, cfg.rank, cfg.iters)
local ok, out = sh(("%s %s %s --oversubscribe -np %d lua5.4 %q --worker"):format(env, vars,
  mpirun, np, root .. "/tests/bench/als.lua"))
local ratings, rmse, times = out:match("tide ratings=(%d+) rmse=(%S+) times=([^\n]*)")
if not ok or not times then
  io.stderr:write("als bench: the tide run failed:\n", out, "\n")
  os.exit(1)
end
local ts = {}
for t in times:gmatch("%S+") do ts[#ts + 1] = tonumber(t) end
local tide_s = median(ts)
print(("  %d ratings; tide median %.4f s per iteration (training RMSE %.6f)"):format(
  tonumber(ratings), tide_s, tonumber(rmse)))

local py = "/usr/bin/python3"
if not sh(py .. " -c 'import numpy'") then
  print("  numpy twin unavailable: numpy is not installed for " .. py .. " (tide ran alone)")
  return
end
local pok, pout = sh(("OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 %s %q --time %d %d %d %s %d %s")
  :format(py, root .. "/tests/bench/als_numpy.py", cfg.users, cfg.items, cfg.rank, cfg.density,
    cfg.iters, cfg.reg))
local secs, trmse = pout:match('"seconds_per_iter": ([%d.e-]+), "train_rmse": ([%d.e-]+)')
if not pok or not secs then
  print("  numpy twin failed: " .. pout)
  return
end
print(("  numpy twin median %.4f s per iteration (training RMSE %.6f)"):format(tonumber(secs),
  tonumber(trmse)))
print(("  numpy / tide %.2fx (goal >= 3x)"):format(tonumber(secs) / tide_s))
