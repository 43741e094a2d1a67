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
--
-- placement.load(path [, opts]) runs a policy file; placement.stats(dt) reports rows per rank,
-- imbalance and what the last redistribute moved.
local tide = require "tide"

local M = {}

-- ---------------------------------------------------------------- helpers for policies

local function describe(t)
  if not tide.is_tensor(t) then
    return type(t)
  end
  local shape = t:dim() == 0 and "scalar" or table.concat(t:shape(), "x")
  return shape .. " " .. t:dtype()
end

--- The rank count and the communicator of `comm` (nil when comm is a plain count).
function M.world(comm, op)
  op = op or "placement"
  if comm == nil then
    comm = tide.world
  end
  if math.type(comm) == "integer" then
    if comm < 1 then
      error(op .. ": expected a rank count >= 1, got " .. comm, 3)
    end
    return comm, nil
  end
  local ok, size = pcall(function() return comm.size end)
  if not ok or math.type(size) ~= "integer" then
    error(op .. ": expected a communicator or a rank count, got " .. describe(comm), 3)
  end
  return size, comm
end

--- Raises unless keys is a 1-D integer tensor.
function M.check_keys(keys, op)
  if not tide.is_tensor(keys) or keys:dim() ~= 1 or keys:dtype() == "f32"
      or keys:dtype() == "f64" then
    error(op .. ": expected keys as a 1-D integer tensor (i64, i32 or u8), got "
      .. describe(keys), 3)
  end
end

-- allgather of one integer per rank -> Lua list (rank r at index r + 1)
local function allgather_ints(comm, values)
  local t = comm:allgather(tide.tensor({ values }, "i64"))
  local out = {}
  for r, row in ipairs(t:totable()) do
    out[r] = row[1]
  end
  return out
end

--- Every rank's key count (a list, rank r at index r + 1) for n local keys; with a plain
--- count P there is one "rank" holding all the keys.
function M.counts(n, comm)
  if comm == nil then
    return { n }
  end
  local out = {}
  local t = comm:allgather(tide.tensor({ n }, "i64")):totable()
  for r = 1, #t do
    out[r] = t[r][1]
  end
  return out
end

--- The 0-based global positions (i64) of this rank's n keys, and the total key count.
function M.positions(n, comm)
  local counts = M.counts(n, comm)
  local offset, total = 0, 0
  local me = comm and comm.rank or 0
  for r, c in ipairs(counts) do
    if r - 1 < me then
      offset = offset + c
    end
    total = total + c
  end
  return tide.arange(offset, offset + n), total, offset
end

local rank_tables = {}

-- {0, 1, ..., P-1} as i32: index_select with 1-based positions 1..P turns them into ranks
local function rank_table(P)
  local t = rank_tables[P]
  if not t then
    t = tide.arange(0, P, "i32")
    rank_tables[P] = t
  end
  return t
end

--- Ranks for sorted bounds (P-1 of them, the same dtype as values): rank r gets the values v
--- with bounds[r] <= v < bounds[r+1].
function M.cut(values, bounds)
  local pos = tide.searchsorted(bounds, values, { right = true })
  return rank_table(bounds:numel() + 1):index_select(1, pos)
end

--- Ranks for global positions given each rank's quota (a list summing to the total): rank 0
--- takes the first quota[1] positions, rank 1 the next quota[2], ...
function M.split(pos, quota)
  local bounds, at = {}, 0
  for r = 1, #quota - 1 do
    at = at + quota[r]
    bounds[r] = at
  end
  return M.cut(pos, tide.tensor(bounds, "i64"))
end

--- The block layout of total rows over P ranks: floor(total / P) each, one more for the first
--- total mod P ranks (as dtensor.scatter and dtensor.rand lay rows out).
function M.block_counts(total, P)
  local q, rem = total // P, total % P
  local counts = {}
  for r = 1, P do
    counts[r] = q + (r <= rem and 1 or 0)
  end
  return counts
end

--- Quotas in proportion to shares (largest remainders; ties to the lower rank), summing to
--- total exactly.
function M.apportion(total, shares)
  local sum = 0
  for _, s in ipairs(shares) do
    sum = sum + s
  end
  local quota, rest, order = {}, total, {}
  for r, s in ipairs(shares) do
    local exact = sum > 0 and total * s / sum or total / #shares
    quota[r] = math.floor(exact)
    rest = rest - quota[r]
    order[r] = { r = r, frac = exact - quota[r] }
  end
  table.sort(order, function(a, b)
    if a.frac ~= b.frac then
      return a.frac > b.frac
    end
    return a.r < b.r
  end)
  for k = 1, rest do
    local r = order[(k - 1) % #order + 1].r
    quota[r] = quota[r] + 1
  end
  return quota
end

--- Keys per rank of an assignment (a list, rank r at index r + 1), summed over every rank
--- when comm is a communicator.
function M.rank_counts(ranks, comm)
  local P, c = M.world(comm, "placement.rank_counts")
  local counts = tide.bincount(ranks, { minlength = P })
  if c then
    counts = c:allreduce(counts, "sum")
  end
  return counts:totable()
end

--- max / mean of a list of counts (1 when everything is empty).
function M.imbalance(counts)
  local max, total = 0, 0
  for _, c in ipairs(counts) do
    max = math.max(max, c)
    total = total + c
  end
  if total == 0 then
    return 1
  end
  return max / (total / #counts)
end

--- How many keys two assignments of the same keys place differently (summed over ranks when
--- comm is a communicator).
function M.moved(a, b, comm)
  local n = a:ne(b):sum()
  if comm ~= nil and math.type(comm) ~= "integer" then
    n = allgather_ints(comm, n)
    local s = 0
    for _, v in ipairs(n) do
      s = s + v
    end
    n = s
  end
  return n
end

-- ---------------------------------------------------------------- policy objects

local function check_opts(opts, known, op)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    error(op .. ": expected an options table, got " .. type(opts), 3)
  end
  for k in pairs(opts) do
    if not known[k] then
      local names = {}
      for name in pairs(known) do
        names[#names + 1] = name
      end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (expected one of: %s)", op, tostring(k),
        table.concat(names, ", ")), 3)
    end
  end
  return opts
end

local function set(...)
  local s = {}
  for _, k in ipairs { ... } do
    s[k] = true
  end
  return s
end

--- A policy class: methods in `class`, constructed by the returned function from options.
--- Policy files may use it too: `return placement.class("mine", {assign = function ...})`.
function M.class(name, methods)
  methods.name = methods.name or name
  methods.__index = methods
  methods.__tostring = function(self)
    return "tide.placement." .. self.name
  end
  return methods
end

local function seed_of(opts, op)
  local seed = opts.seed or 0
  if math.type(seed) ~= "integer" then
    error(op .. ": option 'seed' must be an integer, got " .. tostring(seed), 3)
  end
  return seed
end

-- list of positive numbers
local function check_weights(w, op)
  if type(w) ~= "table" or #w == 0 then
    error(op .. ": option 'weights' must be a list of numbers, got " .. type(w), 3)
  end
  for r, v in ipairs(w) do
    if type(v) ~= "number" or v < 0 or v ~= v then
      error(string.format("%s: weight %d must be a number >= 0, got %s", op, r, tostring(v)), 3)
    end
  end
  return w
end

local function weights_for(w, P, op)
  if #w ~= P then
    error(string.format("%s: %d weights given for %d ranks", op, #w, P), 3)
  end
  return w
end

-- block ------------------------------------------------------------------------

local Block = M.class("block", {})

function Block:assign(keys, comm)
  M.check_keys(keys, "placement.block")
  local P, c = M.world(comm, "placement.block")
  local pos, total = M.positions(#keys, c)
  return M.split(pos, M.block_counts(total, P))
end

function M.block(opts)
  check_opts(opts, {}, "placement.block")
  return setmetatable({}, Block)
end

-- cyclic -----------------------------------------------------------------------

local Cyclic = M.class("cyclic", {})

function Cyclic:assign(keys, comm)
  M.check_keys(keys, "placement.cyclic")
  local P, c = M.world(comm, "placement.cyclic")
  local n = #keys
  local _, _, offset = M.positions(n, c)
  if n == 0 then
    return tide.empty({ 0 }, "i32")
  end
  -- 0, 1, ..., P-1 repeated, starting at offset mod P: a broadcast view, then one copy
  local first = offset % P
  local reps = (first + n + P - 1) // P
  local ranks = rank_table(P):view(1, P):expand(reps, P):reshape(reps * P)
  return ranks:narrow(1, first + 1, n):clone()
end

function M.cyclic(opts)
  check_opts(opts, {}, "placement.cyclic")
  return setmetatable({}, Cyclic)
end

-- hash -------------------------------------------------------------------------

local Hash = M.class("hash", {})

function Hash:assign(keys, comm)
  M.check_keys(keys, "placement.hash")
  local P = M.world(comm, "placement.hash")
  return tide.hash_bucket(keys, P, self.seed)
end

function M.hash(opts)
  opts = check_opts(opts, set("seed"), "placement.hash")
  return setmetatable({ seed = seed_of(opts, "placement.hash") }, Hash)
end

-- range ------------------------------------------------------------------------

local Range = M.class("range", {})

local function check_bounds(bounds, op)
  if tide.is_tensor(bounds) then
    bounds = bounds:totable()
  end
  if type(bounds) ~= "table" then
    error(op .. ": option 'bounds' must be a list of integers, got " .. type(bounds), 3)
  end
  for i, b in ipairs(bounds) do
    if math.type(b) ~= "integer" then
      error(string.format("%s: bound %d must be an integer, got %s", op, i, tostring(b)), 3)
    end
    if i > 1 and b < bounds[i - 1] then
      error(string.format("%s: bounds must be ascending, got %d after %d", op, b, bounds[i - 1]), 3)
    end
  end
  return bounds
end

local function range_assign(bounds, keys, P, op)
  if #bounds ~= P - 1 then
    error(string.format("%s: %d bounds split keys over %d ranks, not %d", op, #bounds,
      #bounds + 1, P), 3)
  end
  return M.cut(keys, tide.tensor(bounds, keys:dtype()))
end

function Range:assign(keys, comm)
  M.check_keys(keys, "placement.range")
  local P = M.world(comm, "placement.range")
  return range_assign(self.bounds, keys, P, "placement.range")
end

-- Splitters from weighted samples (values ascending with their weights): bound j is the
-- distinct sample value v whose count of keys below v is closest to j/P of them, so that a
-- heavy key sits wholly on one side of a bound rather than being split.
local function splitters(values, weights, P)
  -- distinct values and the weight strictly below each
  local distinct, below, total = {}, {}, 0
  for i, v in ipairs(values) do
    if v ~= distinct[#distinct] then
      distinct[#distinct + 1] = v
      below[#below + 1] = total
    end
    total = total + weights[i]
  end
  local bounds, k = {}, 1
  for j = 1, P - 1 do
    local target = total * j / P
    -- below[] only grows: walk forward while the next candidate is at least as close
    while k < #distinct and math.abs(below[k + 1] - target) <= math.abs(below[k] - target) do
      k = k + 1
    end
    local v = distinct[k]
    if #distinct > 0 and k == #distinct and math.abs(total - target) < math.abs(below[k] - target) then
      v = v < math.maxinteger and v + 1 or v   -- every sampled key below this bound
    end
    bounds[j] = v or 0
  end
  return bounds
end

local Sampled = M.class("range.sampled", {})

-- A regular sample of m keys out of sorted ones: the middle key of each of m equal slices.
local function regular_sample(keys, m)
  local n = #keys
  if n == 0 or m == 0 then
    return {}
  end
  local sorted = keys:sort()
  local idx = {}
  for j = 0, m - 1 do
    idx[j + 1] = (2 * j + 1) * n // (2 * m) + 1
  end
  return sorted:index_select(1, tide.tensor(idx, "i64")):totable()
end

function Sampled:assign(keys, comm)
  local op = "placement.range.sampled"
  M.check_keys(keys, op)
  local P, c = M.world(comm, op)
  local n = #keys
  local s = self.samples_per_rank
  local m = math.min(n, c and s or s * P)
  local sample = regular_sample(keys, m)
  local values, weights = {}, {}
  if c then
    -- every rank's sample with its weight (keys per sample there)
    local counts = c:allgather(tide.tensor({ { n, m } }, "i64")):totable()
    local all = c:allgather(tide.tensor(#sample > 0 and sample or { 0 }, "i64"):narrow(1, 1, m))
    all = all:totable()
    local at = 0
    for r = 1, #counts do
      local nr, mr = counts[r][1], counts[r][2]
      for i = 1, mr do
        values[at + i] = all[at + i]
        weights[at + i] = nr / mr
      end
      at = at + mr
    end
  else
    for i, v in ipairs(sample) do
      values[i] = v
      weights[i] = n / m
    end
  end
  -- sort the merged samples (a few thousand values: Lua is fine here) with their weights
  local order = {}
  for i = 1, #values do
    order[i] = i
  end
  table.sort(order, function(a, b)
    if values[a] ~= values[b] then
      return values[a] < values[b]
    end
    return a < b
  end)
  local sv, sw = {}, {}
  for i, o in ipairs(order) do
    sv[i], sw[i] = values[o], weights[o]
  end
  self.bounds = splitters(sv, sw, P)
  return range_assign(self.bounds, keys, P, op)
end

M.range = setmetatable({
  sampled = function(opts)
    opts = check_opts(opts, set("samples_per_rank"), "placement.range.sampled")
    local s = opts.samples_per_rank or 256
    if math.type(s) ~= "integer" or s < 1 then
      error("placement.range.sampled: option 'samples_per_rank' must be an integer >= 1, got "
        .. tostring(s), 2)
    end
    return setmetatable({ samples_per_rank = s }, Sampled)
  end,
}, {
  __call = function(_, opts)
    opts = check_opts(opts, set("bounds"), "placement.range")
    if opts.bounds == nil then
      error("placement.range: option 'bounds' is required (P - 1 ascending integers)", 2)
    end
    return setmetatable({ bounds = check_bounds(opts.bounds, "placement.range") }, Range)
  end,
})

-- consistent hashing -------------------------------------------------------------

local Consistent = M.class("consistent_hash", {})

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
  M.check_keys(keys, op)
  local P, c = M.world(comm, op)
  if self.weights then
    weights_for(self.weights, P, op)
  end
  local ring = self:ring(P)
  local h = tide.hash64(keys, self.seed)
  local pos = tide.searchsorted(ring.points, h)   -- first point >= h, 1..V+1
  if not self.bounded_load then
    return ring.wrapped:index_select(1, pos)
  end
  -- bounded loads: rank d takes at most ceil(c * T * w_d / W) keys (W: all weights)
  local counts = M.counts(#keys, c)
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

function M.consistent_hash(opts)
  local op = "placement.consistent_hash"
  opts = check_opts(opts, set("vnodes", "weights", "bounded_load", "seed"), op)
  local vnodes = opts.vnodes or 100
  if math.type(vnodes) ~= "integer" or vnodes < 1 then
    error(op .. ": option 'vnodes' must be an integer >= 1, got " .. tostring(vnodes), 2)
  end
  local c = opts.bounded_load
  if c ~= nil and (type(c) ~= "number" or c < 1) then
    error(op .. ": option 'bounded_load' must be a number >= 1, got " .. tostring(c), 2)
  end
  local self = {
    vnodes = vnodes,
    weights = opts.weights and check_weights(opts.weights, op),
    bounded_load = c,
    seed = seed_of(opts, op),
    rings = {},
  }
  return setmetatable(self, Consistent)
end

-- weighted ---------------------------------------------------------------------

local Weighted = M.class("weighted", {})

function Weighted:assign(keys, comm)
  local op = "placement.weighted"
  M.check_keys(keys, op)
  local P = M.world(comm, op)
  local w = weights_for(self.weights, P, op)
  local W = 0
  for _, v in ipairs(w) do
    W = W + v
  end
  local bounds, at = {}, 0
  for r = 1, P - 1 do
    at = at + w[r]
    bounds[r] = at / W
  end
  return M.cut(tide.hash_unit(keys, self.seed), tide.tensor(bounds, "f64"))
end

function M.weighted(opts)
  local op = "placement.weighted"
  opts = check_opts(opts, set("weights", "seed"), op)
  local w = check_weights(opts.weights, op)
  local W = 0
  for _, v in ipairs(w) do
    W = W + v
  end
  if W <= 0 then
    error(op .. ": the weights sum to 0", 2)
  end
  return setmetatable({ weights = w, seed = seed_of(opts, op) }, Weighted)
end

-- adaptive ---------------------------------------------------------------------

local Adaptive = M.class("adaptive", {})

--- Records one step of this rank: rows processed in seconds.
function Adaptive:observe(rows, seconds)
  if type(rows) ~= "number" or rows < 0 or type(seconds) ~= "number" or seconds < 0 then
    error(string.format("adaptive:observe: expected rows >= 0 and seconds >= 0, got %s, %s",
      tostring(rows), tostring(seconds)), 2)
  end
  local h = self.history
  h[#h + 1] = { rows, seconds }
  if #h > self.window then
    table.remove(h, 1)
  end
end

--- This rank's measured rows per second over the window (nil before any observation).
function Adaptive:throughput()
  local rows, secs = 0, 0
  for _, o in ipairs(self.history) do
    rows, secs = rows + o[1], secs + o[2]
  end
  if secs <= 0 then
    return nil
  end
  return rows / secs
end

--- Every rank's throughput (a list); ranks that measured nothing count as the mean of the
--- others (all equal when nobody measured).
function Adaptive:shares(comm)
  local P, c = M.world(comm, "adaptive:shares")
  local mine = self:throughput() or -1
  local all = {}
  if c then
    for r, row in ipairs(c:allgather(tide.tensor({ mine }, "f64")):totable()) do
      all[r] = row
    end
  else
    for r = 1, P do
      all[r] = mine
    end
  end
  local sum, known = 0, 0
  for _, v in ipairs(all) do
    if v > 0 then
      sum, known = sum + v, known + 1
    end
  end
  for r = 1, P do
    if all[r] <= 0 then
      all[r] = known > 0 and sum / known or 1
    end
  end
  return all
end

function Adaptive:assign(keys, comm)
  M.check_keys(keys, "placement.adaptive")
  local _, c = M.world(comm, "placement.adaptive")
  local pos, total = M.positions(#keys, c)
  return M.split(pos, M.apportion(total, self:shares(comm)))
end

--- The fewest moves from counts to targets: each rank over its target sends its last rows
--- (in rank order) to the ranks under theirs (in rank order). Returns, for rank `me`, a list
--- of {dest, first_row, rows} (rows 1-based).
function M.moves(counts, targets, me)
  local give, take = {}, {}
  for r = 1, #counts do
    if counts[r] > targets[r] then
      give[#give + 1] = { r = r - 1, n = counts[r] - targets[r], at = targets[r] + 1 }
    elseif counts[r] < targets[r] then
      take[#take + 1] = { r = r - 1, n = targets[r] - counts[r] }
    end
  end
  local mine, t = {}, 1
  for _, g in ipairs(give) do
    while g.n > 0 do
      local d = take[t]
      local k = math.min(g.n, d.n)
      if g.r == me then
        mine[#mine + 1] = { d.r, g.at, k }
      end
      g.n, g.at, d.n = g.n - k, g.at + k, d.n - k
      if d.n == 0 then
        t = t + 1
      end
    end
  end
  return mine
end

--- Moves rows of dt (a dtensor, or a table of aligned dtensors and tensors as
--- dtensor.redistribute takes) from slow to fast ranks so that each holds rows in proportion
--- to its throughput, moving only each rank's surplus. Collective. Returns the new dtensor
--- (or table).
function Adaptive:rebalance(dt)
  local dtensor = require "tide.dtensor"
  local first = dt
  if not dtensor.is_dtensor(dt) then
    first = dtensor.first(dt, "adaptive:rebalance")
  end
  local comm = first:comm()
  local counts = first:row_counts()
  local total = 0
  for _, n in ipairs(counts) do
    total = total + n
  end
  local targets = M.apportion(total, self:shares(comm))
  local me = comm.rank
  local dest = tide.full({ counts[me + 1] }, me, "i32")
  for _, m in ipairs(M.moves(counts, targets, me)) do
    dest:narrow(1, m[2], m[3]):fill_(m[1])
  end
  self.targets = targets
  if dtensor.is_dtensor(dt) then
    return dt:redistribute(dest)
  end
  return dtensor.redistribute(dt, dest)
end

function M.adaptive(opts)
  opts = check_opts(opts, set("window"), "placement.adaptive")
  local window = opts.window or 4
  if math.type(window) ~= "integer" or window < 1 then
    error("placement.adaptive: option 'window' must be an integer >= 1, got " .. tostring(window), 2)
  end
  return setmetatable({ window = window, history = {} }, Adaptive)
end

-- ---------------------------------------------------------------- workloads

--- n keys drawn from Zipf(exponent) over 1..domain (P(k) proportional to k^-exponent): the
--- skewed keys real workloads have, to try policies on. opts: exponent (1.1), domain
--- (100000), seed (0), stream (0: pass the rank for different keys on every rank).
function M.zipf(n, opts)
  local op = "placement.zipf"
  opts = check_opts(opts, set("exponent", "domain", "seed", "stream"), op)
  local s, K = opts.exponent or 1.1, opts.domain or 100000
  if type(s) ~= "number" or s <= 0 then
    error(op .. ": option 'exponent' must be a number > 0, got " .. tostring(s), 2)
  end
  if math.type(K) ~= "integer" or K < 1 then
    error(op .. ": option 'domain' must be an integer >= 1, got " .. tostring(K), 2)
  end
  local cdf, acc = {}, 0
  for k = 1, K do
    acc = acc + k ^ -s
    cdf[k] = acc
  end
  for k = 1, K do
    cdf[k] = cdf[k] / acc
  end
  cdf[K] = 1
  local u = tide.rand({ n }, { dtype = "f64", seed = seed_of(opts, op), stream = opts.stream or 0 })
  -- the first k whose cumulative probability reaches u; positions are 1-based, so they are k
  return tide.searchsorted(tide.tensor(cdf, "f64"), u)
end

-- ---------------------------------------------------------------- loading and stats

--- Runs the Lua file at path and returns the policy it makes: the file returns a policy (a
--- table with assign) or a function that makes one from opts.
function M.load(path, opts)
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
function M.stats(dt)
  local dtensor = require "tide.dtensor"
  if not dtensor.is_dtensor(dt) then
    error("placement.stats: expected a dtensor, got " .. describe(dt), 2)
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
    imbalance = M.imbalance(rows),
    moved_rows = moved_rows,
    moved_bytes = moved_bytes,
  }
end

return M
