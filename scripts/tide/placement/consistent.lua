-- tide.placement.consistent_hash: a ring of hashed virtual nodes (Karger et al., STOC'97), with
-- bounded loads (Mirrokni, Thorup, Zadimoghaddam, SODA'18) as an option.
local tide = require "tide"
local args = require "tide.args"
local U = require "tide.placement.util"

local M = {}

local Consistent = U.class("consistent_hash", {})
Consistent.state_fields = { vnodes = "integer", weights = "numbers?", bounded_load = "number?",
  seed = "integer" }

-- the rings are a cache of what the fields make
function Consistent:after_load() self.rings = {} end

local RING_SALT = 0x5bd1e995

-- The ring of P ranks: sorted point hashes (i64) and the owner of each point, the owner of
-- point 1 repeated at the end (a key past the last point wraps to the first). Rank r has
-- round(vnodes * weight) points whatever P is, so growing the world only adds points.
function Consistent:ring(P)
  local ring = self.rings[P]
  if ring then
    return ring
  end
  local ids, owner = {}, {}
  for r = 0, P - 1 do
    local w = self.weights and self.weights[r + 1] or 1
    for j = 0, math.tointeger(math.floor(self.vnodes * w + 0.5)) - 1 do
      ids[#ids + 1] = (r << 32) | j
      owner[#owner + 1] = r
    end
  end
  if #ids == 0 then
    error("placement.consistent_hash: no rank has a virtual node (all weights are 0)", 3)
  end
  local points, perm = tide.hash64(tide.tensor(ids, "i64"), self.seed ~ RING_SALT):sort()
  local owners = tide.tensor(owner, "i32"):index_select(1, perm)
  local wrapped = owners:totable()
  wrapped[#wrapped + 1] = wrapped[1]
  ring = { points = points, owners = owners, wrapped = tide.tensor(wrapped, "i32") }
  self.rings[P] = ring
  return ring
end

-- Quotas of this rank's keys at every rank so that no rank receives more than cap[d] in all:
-- proportional shares rounded down, the shortfall of each source then filled in rank order
-- from what the destinations have left. Every rank computes the same table.
local function bounded_quotas(cap, counts, me)
  local T = 0
  for _, n in ipairs(counts) do
    T = T + n
  end
  local P, S = #cap, #counts
  local q, left = {}, {}
  for d = 1, P do
    left[d] = cap[d]
  end
  for s = 1, S do
    q[s] = {}
    for d = 1, P do
      q[s][d] = T > 0 and cap[d] * counts[s] // T or 0
      left[d] = left[d] - q[s][d]
    end
  end
  local d = 1
  for s = 1, S do
    local have = 0
    for k = 1, P do
      have = have + q[s][k]
    end
    local short = counts[s] - have
    while short > 0 and d <= P do
      local take = math.min(short, left[d])
      q[s][d], left[d], short = q[s][d] + take, left[d] - take, short - take
      if left[d] == 0 then
        d = d + 1
      end
    end
  end
  return q[me + 1]
end

function Consistent:assign(keys, comm)
  local op = "placement.consistent_hash"
  U.check_keys(keys, op)
  local P, c = U.world(comm, op)
  if self.weights then
    U.weights_for(self.weights, P, op)
  end
  local ring = self:ring(P)
  local h = tide.hash64(keys, self.seed)
  local pos = tide.searchsorted(ring.points, h)   -- first point >= h, 1..V+1
  if not self.bounded_load then
    return ring.wrapped:index_select(1, pos)
  end
  -- bounded loads: rank d takes at most ceil(c * T * w_d / W) keys (W: all weights)
  local counts = U.counts(#keys, c)
  local T, W = 0, 0
  for _, n in ipairs(counts) do
    T = T + n
  end
  for r = 1, P do
    W = W + (self.weights and self.weights[r] or 1)
  end
  local cap = {}
  for r = 1, P do
    local w = self.weights and self.weights[r] or 1
    cap[r] = math.ceil(self.bounded_load * T * w / W - 1e-9)
  end
  local quota = bounded_quotas(cap, counts, c and c.rank or 0)
  return tide.ring_bounded(pos, ring.owners, tide.tensor(quota, "i64"))
end

function M.consistent_hash(opts, ...)
  args.at_most("placement.consistent_hash", 1, ...)
  local op = "placement.consistent_hash"
  opts = U.check_opts(opts, U.set("vnodes", "weights", "bounded_load", "seed"), op)
  local self = {
    vnodes = args.integer(opts.vnodes, "vnodes", op, 1, 100),
    weights = opts.weights and U.check_weights(opts.weights, op),
    bounded_load = opts.bounded_load and args.number(opts.bounded_load, "bounded_load", op, nil,
      ">= 1"),
    seed = args.seed(opts.seed, op),
    rings = {},
  }
  return setmetatable(self, Consistent)
end

return M
