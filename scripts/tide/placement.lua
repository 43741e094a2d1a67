-- tide.placement: which rank each key (or row) lives on.
--
-- A policy is an object with `policy:assign(keys, comm) -> ranks`: keys is a 1-D integer tensor
-- (i64, i32 or u8), ranks an i32 tensor of 0-BASED ranks (MPI's convention), one per key.
-- comm is a communicator (tide.world by default): each rank then passes ITS keys, and policies
-- that need global facts (a key's global position, the key distribution) ask the other ranks.
-- comm may also be a plain rank count: the keys are then all the keys, in one process, and the
-- policy says where they would go in a world of that size (what moves when 4 ranks become 5?).
--
-- Policies work on whole tensors through C kernels (tide.hash64 and friends, searchsorted,
-- bincount, sort); none loops over keys in Lua. Positions are 0-based global indices of keys in
-- rank order (rank 0's keys first), as the block layout of a dtensor counts them.
--
--   block()                      position p goes to the rank whose block holds p
--   cyclic()                     position p goes to rank p mod P (round robin)
--   hash{seed=0}                 hash64(key, seed) mod P
--   range{bounds={b1..b(P-1)}}   rank r holds b(r) <= key < b(r+1) (b0 = -inf, bP = +inf)
--   range.sampled{samples_per_rank=256}   range with splitters from a regular sample of the
--                                keys on every rank (as sample sort picks them)
--   consistent_hash{vnodes=100, weights=, bounded_load=, seed=0}   a ring of hashed virtual
--                                nodes; with bounded_load = c no rank takes more than
--                                ceil(c * its fair share) keys
--   weighted{weights={...}, seed=0}   keys hashed into [0, 1), cut in proportion to weights
--   adaptive{window=4}           shares in proportion to measured throughput;
--                                policy:observe(rows, seconds), policy:rebalance(dt)
--   edgecut{passes=4, slack=1.05, seed=0}   graph vertices: policy:partition(src, dst, n, P)
--                                keeps neighbours together (restreamed LDG); graph_stats(src,
--                                dst, parts, P) reports any partition's edge cut and balance
--
-- Every policy has state() -> {policy = name, its options and what it learned} and
-- load_state(s) (tide.placement.util: a class lists its fields in state_fields).
--
-- placement.load(path [, opts]) runs a policy file; placement.stats(dt) reports rows per rank,
-- imbalance and what the last redistribute moved.
local tide = require "tide"
local args = require "tide.args"
local U = require "tide.placement.util"

local M = {}

-- the helpers policy files build on
for _, name in ipairs { "world", "check_keys", "counts", "positions", "cut", "split",
  "block_counts", "apportion", "rank_counts", "imbalance", "moved", "moves", "class" } do
  M[name] = U[name]
end

-- the policies
for _, family in ipairs { "static", "consistent", "adaptive", "edgecut" } do
  for name, make in pairs(require("tide.placement." .. family)) do
    M[name] = make
  end
end

-- ---------------------------------------------------------------- workloads

--- n keys drawn from Zipf(exponent) over 1..domain (P(k) proportional to k^-exponent): the
--- skewed keys real workloads have, to try policies on. opts: exponent (1.1), domain
--- (100000), seed (0), stream (0: pass the rank for different keys on every rank).
function M.zipf(n, opts, ...)
  args.at_most("placement.zipf", 2, ...)
  local op = "placement.zipf"
  opts = U.check_opts(opts, U.set("exponent", "domain", "seed", "stream"), op)
  local s = args.number(opts.exponent, "exponent", op, 1.1, "> 0")
  local K = args.integer(opts.domain, "domain", op, 1, 100000)
  local seed, stream = args.seed(opts.seed, op), args.integer(opts.stream, "stream", op, 0, 0)
  local cdf, acc = {}, 0
  for k = 1, K do
    acc = acc + k ^ -s
    cdf[k] = acc
  end
  for k = 1, K do
    cdf[k] = cdf[k] / acc
  end
  cdf[K] = 1
  local u = tide.rand({ n }, { dtype = "f64", seed = seed, stream = stream })
  -- the first k whose cumulative probability reaches u; positions are 1-based, so they are k
  return tide.searchsorted(tide.tensor(cdf, "f64"), u)
end

-- ---------------------------------------------------------------- loading and stats

--- Runs the Lua file at path and returns the policy it makes: the file returns a policy (a
--- table with assign) or a function that makes one from opts.
function M.load(path, opts, ...)
  args.at_most("placement.load", 2, ...)
  if type(path) ~= "string" then
    error("placement.load: expected a file path, got " .. type(path), 2)
  end
  local chunk, err = loadfile(path, "t")
  if not chunk then
    error("placement.load: " .. err, 2)
  end
  local ok, policy = pcall(chunk)
  if not ok then
    error("placement.load: " .. path .. ": " .. tostring(policy), 2)
  end
  if type(policy) == "function" then
    policy = policy(opts or {})
  elseif opts ~= nil then
    error("placement.load: " .. path .. " returned a policy, not a function taking options", 2)
  end
  local assign = type(policy) == "table" and policy.assign
  if type(assign) ~= "function" then
    error("placement.load: " .. path .. " returned " .. type(policy)
      .. ", expected a policy (a table with an assign method) or a function making one", 2)
  end
  return policy
end

--- Rows per rank, imbalance (max / mean) and the rows and bytes the redistribute that made dt
--- moved (0 when it was made otherwise).
function M.stats(dt, ...)
  args.at_most("placement.stats", 1, ...)
  local dtensor = require "tide.dtensor"
  if not dtensor.is_dtensor(dt) then
    error("placement.stats: expected a dtensor, got " .. U.describe(dt), 2)
  end
  local rows = dt:row_counts()
  local moved_rows, moved_bytes = dt:moved()
  local total = 0
  for _, n in ipairs(rows) do
    total = total + n
  end
  return {
    rows = rows,
    total = total,
    imbalance = U.imbalance(rows),
    moved_rows = moved_rows,
    moved_bytes = moved_bytes,
  }
end

return M
