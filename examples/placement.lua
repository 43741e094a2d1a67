-- placement.lua: skewed keys placed by every policy, then the world grows from 4 to 5 ranks.
--   tide run -n 4 examples/placement.lua            (or: mpirun -np 4 tide examples/placement.lua)
--   flags: --keys 400000 (in all)  --exponent 1.1 (Zipf skew)  --domain 100000 (distinct keys)
--          --cols 16 (f32 payload per row)  --from 4 --to 5 (the growth to evaluate)
--
-- Part 1 moves real rows: every rank starts with its share of Zipf-distributed keys and a
-- payload row per key; each policy assigns the keys (policy:assign(keys, tide.world)) and
-- dtensor.redistribute moves keys and rows together. The table shows the rows each rank ends
-- with (imbalance = max / mean) and what moved. Block and cyclic ignore the keys (perfect
-- balance, but equal keys end up on different ranks); hash and consistent hashing keep equal
-- keys together, so the hottest keys overload a rank unless the load is bounded;
-- range.sampled keeps equal keys together and ranges sorted, and balances by sampling;
-- weighted aims at twice the rows on the last rank, so its max / mean is above 1 by design.
--
-- Part 2 asks what each policy moves when the world grows: policies evaluated for a world
-- size they are not running in (comm given as a rank count), on all the keys.
local tide = require "tide"
local dtensor = require "tide.dtensor"
local placement = require "tide.placement"

local args = { keys = 400000, exponent = 1.1, domain = 100000, cols = 16, from = 4, to = 5 }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = argv[i]:match("^%-%-(.+)$")
  if not key or args[key] == nil or tonumber(argv[i + 1]) == nil then
    error("usage: placement.lua [--keys N] [--exponent S] [--domain K] [--cols D] [--from P] [--to Q]")
  end
  args[key] = math.tointeger(tonumber(argv[i + 1])) or tonumber(argv[i + 1])
end

local world = tide.world
local P, me = world.size, world.rank
local now = tide.now
local function say(fmt, ...)
  if me == 0 then print(string.format(fmt, ...)) end
end

-- The policies to compare, made for a world of `ranks` ranks (weighted needs one weight per
-- rank: the last rank counts double, as a bigger machine would).
local function policies(ranks)
  local w = {}
  for r = 1, ranks do w[r] = r == ranks and 2 or 1 end
  local dir = (os.getenv("TIDE_SOURCE_DIR") or ".") .. "/examples/policies/"
  local list = {
    { "block", placement.block() },
    { "cyclic", placement.cyclic() },
    { "hash", placement.hash() },
    { "range.sampled", placement.range.sampled { samples_per_rank = 256 } },
    { "consistent_hash", placement.consistent_hash { vnodes = 100 } },
    { "consistent_hash c=1.25", placement.consistent_hash { vnodes = 100, bounded_load = 1.25 } },
    { "weighted (last x2)", placement.weighted { weights = w } },
  }
  local ok, loc = pcall(placement.load, dir .. "locality.lua", { slack = 1.1 })
  if ok then list[#list + 1] = { "locality (policy file)", loc } end
  return list
end

-- ---------------------------------------------------------------- part 1: moving rows

-- this rank's keys (a block of the global count) and a payload row per key
local q, rem = args.keys // P, args.keys % P
local n = q + (me < rem and 1 or 0)
local keys = placement.zipf(n, { exponent = args.exponent, domain = args.domain, seed = 1, stream = me })
local x = dtensor.rand({ args.keys, args.cols }, { seed = 2 })

say("%d Zipf(%.2f) keys over %d distinct values (the hottest holds %.1f%%), %d x %d f32 rows, %d rank(s)",
  args.keys, args.exponent, args.domain, 100 * world:allreduce(keys:eq(1):sum(), "sum") / args.keys,
  args.keys, args.cols, P)
say("")
say("%-24s %10s %12s %10s %9s", "policy", "imbalance", "rows moved", "MB moved", "ms")
for _, entry in ipairs(policies(P)) do
  local name, policy = entry[1], entry[2]
  world:barrier()
  local t0 = now()
  local out = dtensor.redistribute({ x = x, key = keys }, policy:assign(keys, world))
  world:barrier()
  local ms = (now() - t0) * 1000
  local st = placement.stats(out.x)
  say("%-24s %10.3f %12d %10.1f %9.1f", name, st.imbalance, st.moved_rows, st.moved_bytes / 2 ^ 20, ms)
end
if P == 1 then
  say("(one rank: nothing moves; run under mpirun -np 4 to see rows travel)")
end

-- ---------------------------------------------------------------- part 2: growing the world

-- all the keys, in one process (every rank draws the same ones; rank 0 prints)
local all = placement.zipf(args.keys, { exponent = args.exponent, domain = args.domain, seed = 3 })
say("")
say("growing from %d to %d ranks: keys that change rank (ideal: 1/%d = %.1f%%)", args.from, args.to,
  args.to, 100 / args.to)
say("%-24s %12s %10s %14s", "policy", "keys moved", "moved %", "imbalance@" .. args.to)
local before, after = policies(args.from), policies(args.to)
for i, entry in ipairs(before) do
  local a = entry[2]:assign(all, args.from)
  local b = after[i][2]:assign(all, args.to)
  local m = placement.moved(a, b)
  local imb = placement.imbalance(placement.rank_counts(b, args.to))
  say("%-24s %12d %9.1f%% %14.3f", entry[1], m, 100 * m / args.keys, imb)
end
