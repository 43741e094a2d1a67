-- tide.placement's static policies: block, cyclic, hash, range, range.sampled, weighted (see
-- tide.placement for what each does).
local tide = require "tide"
local args = require "tide.args"
local U = require "tide.placement.util"

local M = {}

-- block ------------------------------------------------------------------------

local Block = U.class("block", {})

function Block:assign(keys, comm)
  U.check_keys(keys, "placement.block")
  local P, c = U.world(comm, "placement.block")
  local pos, total = U.positions(#keys, c)
  return U.split(pos, U.block_counts(total, P))
end

function M.block(opts, ...)
  args.at_most("placement.block", 1, ...)
  U.check_opts(opts, {}, "placement.block")
  return setmetatable({}, Block)
end

-- cyclic -----------------------------------------------------------------------

local Cyclic = U.class("cyclic", {})

function Cyclic:assign(keys, comm)
  U.check_keys(keys, "placement.cyclic")
  local P, c = U.world(comm, "placement.cyclic")
  local n = #keys
  local _, _, offset = U.positions(n, c)
  if n == 0 then
    return tide.empty({ 0 }, "i32")
  end
  -- 0, 1, ..., P-1 repeated, starting at offset mod P: a broadcast view, then one copy
  local first = offset % P
  local reps = (first + n + P - 1) // P
  local ranks = U.rank_table(P):view(1, P):expand(reps, P):reshape(reps * P)
  return ranks:narrow(1, first + 1, n):clone()
end

function M.cyclic(opts, ...)
  args.at_most("placement.cyclic", 1, ...)
  U.check_opts(opts, {}, "placement.cyclic")
  return setmetatable({}, Cyclic)
end

-- hash -------------------------------------------------------------------------

local Hash = U.class("hash", {})
Hash.state_fields = { seed = "integer" }

function Hash:assign(keys, comm)
  U.check_keys(keys, "placement.hash")
  local P = U.world(comm, "placement.hash")
  return tide.hash_bucket(keys, P, self.seed)
end

function M.hash(opts, ...)
  args.at_most("placement.hash", 1, ...)
  opts = U.check_opts(opts, U.set("seed"), "placement.hash")
  return setmetatable({ seed = args.seed(opts.seed, "placement.hash") }, Hash)
end

-- range ------------------------------------------------------------------------

local Range = U.class("range", {})
Range.state_fields = { bounds = "integers" }

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
  -- compared as i64, so that bounds beyond a narrower key dtype's range do not wrap
  if keys:dtype() ~= "i64" then
    keys = keys:to("i64")
  end
  return U.cut(keys, tide.tensor(bounds, "i64"))
end

function Range:assign(keys, comm)
  U.check_keys(keys, "placement.range")
  local P = U.world(comm, "placement.range")
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

local Sampled = U.class("range.sampled", {})
Sampled.state_fields = { samples_per_rank = "integer", bounds = "integers?" }

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
  U.check_keys(keys, op)
  local P, c = U.world(comm, op)
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
    opts = U.check_opts(opts, U.set("samples_per_rank"), "placement.range.sampled")
    local s = args.integer(opts.samples_per_rank, "samples_per_rank", "placement.range.sampled",
      1, 256)
    return setmetatable({ samples_per_rank = s }, Sampled)
  end,
}, {
  __call = function(_, opts)
    opts = U.check_opts(opts, U.set("bounds"), "placement.range")
    if opts.bounds == nil then
      error("placement.range: option 'bounds' is required (P - 1 ascending integers)", 2)
    end
    return setmetatable({ bounds = check_bounds(opts.bounds, "placement.range") }, Range)
  end,
})

-- weighted ---------------------------------------------------------------------

local Weighted = U.class("weighted", {})
Weighted.state_fields = { weights = "numbers", seed = "integer" }

function Weighted:assign(keys, comm)
  local op = "placement.weighted"
  U.check_keys(keys, op)
  local P = U.world(comm, op)
  local w = U.weights_for(self.weights, P, op)
  local W = 0
  for _, v in ipairs(w) do
    W = W + v
  end
  local bounds, at = {}, 0
  for r = 1, P - 1 do
    at = at + w[r]
    bounds[r] = at / W
  end
  return U.cut(tide.hash_unit(keys, self.seed), tide.tensor(bounds, "f64"))
end

function M.weighted(opts, ...)
  args.at_most("placement.weighted", 1, ...)
  local op = "placement.weighted"
  opts = U.check_opts(opts, U.set("weights", "seed"), op)
  local w = U.check_weights(opts.weights, op)
  local W = 0
  for _, v in ipairs(w) do
    W = W + v
  end
  if W <= 0 then
    error(op .. ": the weights sum to 0", 2)
  end
  return setmetatable({ weights = w, seed = args.seed(opts.seed, op) }, Weighted)
end

return M
