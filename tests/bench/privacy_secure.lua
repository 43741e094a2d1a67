-- The MPI half of the privacy benchmark: federated.secure_sum of TIDE_BENCH_SECURE_N f32 values
-- over TIDE_BENCH_SECURE_CLIENTS clients spread over the ranks (rank 0 the server), against an
-- allreduce of the clients' plain sum, median of TIDE_BENCH_SECURE_REPEATS (3) rounds. Run by
-- tests/bench/privacy.lua as `tide run -n 2 tests/bench/privacy_secure.lua`; prints on rank 0,
-- never asserts a time.
local tide = require "tide"
local bench = require "support.bench"
local world = tide.world

local N = math.tointeger(tonumber(os.getenv("TIDE_BENCH_SECURE_N") or "1000000")) or 1000000
local CLIENTS = math.tointeger(tonumber(os.getenv("TIDE_BENCH_SECURE_CLIENTS") or "100")) or 100
local REPEATS = math.tointeger(tonumber(os.getenv("TIDE_BENCH_SECURE_REPEATS") or "3")) or 3

local mine = {}
for id = 1, CLIENTS do
  if (id - 1) % world.size == world.rank then
    mine[id] = tide.empty({ N }):uniform_(-1, 1)
  end
end

local function plain()
  local s = tide.zeros({ N }, "f64")
  for _, x in pairs(mine) do s:add_(x) end
  return world:allreduce(s, "sum")
end

local tp, ts, err = {}, {}, 0
for r = 1, REPEATS do
  world:barrier()
  local t0 = tide.now()
  local want = plain()
  tp[r] = tide.now() - t0
  world:barrier()
  t0 = tide.now()
  local got = tide.federated.secure_sum(mine, { clients = CLIENTS })
  ts[r] = tide.now() - t0
  err = math.max(err, (got - want):abs():max())
end
if world.rank == 0 then
  local mp, ms = bench.median(tp), bench.median(ts)
  print(("secure_sum of %d f32 over %d clients on %d ranks, median of %d rounds"):format(N,
    CLIENTS, world.size, REPEATS))
  print(("  plain sum + allreduce       %8.3f s"):format(mp))
  print(("  secure_sum                  %8.3f s   ratio %.0fx, max error %.2g (bound %.2g)")
    :format(ms, ms / mp, err, CLIENTS / 2 ^ 17))
end
