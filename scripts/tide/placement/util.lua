-- tide.placement.util: what policies are built from (tide.placement re-exports the public
-- ones): the world a policy runs for, global positions of keys, cutting values or positions
-- into ranks, apportioning, counting, and the option checks every policy constructor uses.
-- Ranks are 0-based; lists indexed by rank hold rank r at index r + 1.
local tide = require "tide"
local args = require "tide.args"

local M = {}

-- ---------------------------------------------------------------- helpers for policies

function M.describe(t)
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
    error(op .. ": expected a communicator or a rank count, got " .. M.describe(comm), 3)
  end
  return size, comm
end

--- Raises unless keys is a 1-D integer tensor.
function M.check_keys(keys, op)
  if not tide.is_tensor(keys) or keys:dim() ~= 1 or keys:dtype() == "f32"
      or keys:dtype() == "f64" then
    error(op .. ": expected keys as a 1-D integer tensor (i64, i32 or u8), got "
      .. M.describe(keys), 3)
  end
end

-- allgather of one integer per rank -> Lua list (rank r at index r + 1)
local function allgather_ints(comm, value)
  return comm:allgather(tide.tensor({ value }, "i64")):totable()
end

--- Every rank's key count (a list, rank r at index r + 1) for n local keys; with a plain
--- count P there is one "rank" holding all the keys.
function M.counts(n, comm)
  if comm == nil then
    return { n }
  end
  return allgather_ints(comm, n)
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
function M.rank_table(P)
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
  return M.rank_table(bounds:numel() + 1):index_select(1, pos)
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

M.check_opts = args.check_opts

function M.set(...)
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
  methods.state = methods.state or M.policy_state
  methods.load_state = methods.load_state or M.policy_load_state
  return methods
end

-- ---------------------------------------------------------------- state
--
-- A policy's state is {policy = name, <field> = value, ...} for the fields its class lists in
-- state_fields (field -> kind), what it was made with and what it has learned (adaptive's
-- measurements, range.sampled's splitters); caches are left out and rebuilt. Kinds:
-- "integer", "number", "integers" and "numbers" (lists), "pairs" (a list of {number,
-- number}); a trailing "?" lets the field be absent. policy:load_state(s) checks every field,
-- takes them all, and returns the policy; a class's after_load(self) then drops its caches.

local copy = args.copy_value

local function is_list_of(v, ok)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  for i = 1, n do
    if not ok(v[i]) then return false end
  end
  return true
end

local function is_num(x) return type(x) == "number" end
local function is_int(x) return math.type(x) == "integer" end

local KINDS = {
  integer = { is_int, "an integer" },
  number = { is_num, "a number" },
  integers = { function(v) return is_list_of(v, is_int) end, "a list of integers" },
  numbers = { function(v) return is_list_of(v, is_num) end, "a list of numbers" },
  pairs = { function(v)
    return is_list_of(v, function(p) return is_list_of(p, is_num) and #p == 2 end)
  end, "a list of {number, number} pairs" },
}

function M.policy_state(self)
  local s = { policy = self.name }
  for field in pairs(self.state_fields or {}) do s[field] = copy(self[field]) end
  return s
end

function M.policy_load_state(self, s)
  local where = "placement." .. self.name .. ".load_state"
  local fields = self.state_fields or {}
  local known = { policy = true }
  for f in pairs(fields) do known[f] = true end
  args.state_keys(s, known, where)
  if s.policy ~= self.name then
    error(("%s: policy expected \"%s\", got %s"):format(where, self.name, tostring(s.policy)), 2)
  end
  local names = {}
  for f in pairs(fields) do names[#names + 1] = f end
  table.sort(names)
  for _, f in ipairs(names) do
    local kind = fields[f]
    local optional = kind:sub(-1) == "?"
    local check = KINDS[optional and kind:sub(1, -2) or kind]
    local v = s[f]
    if not (v == nil and optional) and not check[1](v) then
      local got = math.type(v) == "float" and "the float " .. tostring(v) or type(v)
      error(("%s: %s expected %s, got %s"):format(where, f, check[2], got), 2)
    end
  end
  for _, f in ipairs(names) do self[f] = copy(s[f]) end
  if self.after_load then self:after_load() end
  return self
end

-- list of positive numbers
function M.check_weights(w, op)
  if type(w) ~= "table" or #w == 0 then
    error(op .. ": option 'weights' must be a list of numbers, got " .. type(w), 3)
  end
  for r, v in ipairs(w) do
    args.number(v, "weight " .. r, op, nil, ">= 0", 4)
  end
  return w
end

function M.weights_for(w, P, op)
  if #w ~= P then
    error(string.format("%s: %d weights given for %d ranks", op, #w, P), 3)
  end
  return w
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
      if not d then
        error("placement.moves: the targets hold fewer rows than the counts", 2)
      end
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

return M
