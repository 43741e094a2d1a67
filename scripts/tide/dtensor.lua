-- tide.dtensor: tensors sharded by rows across a communicator, or replicated on it.
--
-- Each rank holds a block of whole rows (dt.shard, a tensor); the dtensor knows every rank's
-- row count, so dt:global_shape(), dt:row_counts() and dt:row_offset() need no messages. Ranks
-- are 0-based (MPI's); dims and row indices are 1-based (Lua's). Functions marked collective
-- must be called on every rank of the communicator, in the same order.
--
--   dtensor.from_local(t, comm)      t is this rank's rows (shared, not copied). Collective.
--   dtensor.replicated(t, comm)      every rank holds the same t. Collective.
--   dtensor.scatter(t, root, comm)   root's t cut into blocks (t: nil elsewhere). Collective.
--   dtensor.load(path, comm)         a .npy file, each rank reading only its block of rows
--                                    (the layout of dtensor.rand). Collective.
--   dtensor.zeros/rand/randn(global_shape, {dtype=, seed=, generator=, comm=})
--       each rank makes only its block of rows; the global tensor is the same for any rank
--       count: element k (row-major) draws counter k of {seed = s} (what one process draws
--       with tide.rand(shape, {seed = s, same_on_all_ranks = true})), or the generator's
--       counters from where it stands (it then advances past the whole tensor on every rank).
--   dtensor.redistribute({x = dt, key = keys, ...}, dest)   rows to ranks, one alltoallv.
--
-- Methods: dt:gather(root) (the whole tensor on root, nil elsewhere), dt:full() (on every
-- rank), dt:redistribute(dest), dt:sum/mean/max/min([dim]), dt:norm([p], [dim]),
-- dt:matmul(w), dt:map(fn), dt:comm(), dt:moved(), dt:is_replicated(), dt:dtype(),
-- dt:state(), dt:load_state(s) (see "state" below).
-- Reductions over every element or over dim 1 (the rows) are collective and give every rank
-- the same (replicated) number or tensor; over another dim they give a dtensor sharded like dt.
local tide = require "tide"
local args = require "tide.args"

local core = tide._internal.dtensor
local methods = core.methods
local M = {}

M.is_dtensor = core.is_dtensor

local function comm_or_world(comm)
  return comm or tide.world
end

function M.from_local(t, comm, ...)
  args.at_most("dtensor.from_local", 2, ...)
  return core.from_local(t, comm_or_world(comm))
end

function M.replicated(t, comm, ...)
  args.at_most("dtensor.replicated", 2, ...)
  return core.replicated(t, comm_or_world(comm))
end

function M.scatter(t, root, comm, ...)
  args.at_most("dtensor.scatter", 3, ...)
  return core.scatter(t, root or 0, comm_or_world(comm))
end

function M.load(path, comm, ...)
  args.at_most("dtensor.load", 2, ...)
  comm = comm_or_world(comm)
  if type(path) ~= "string" then
    error("dtensor.load: expected a path to a .npy file, got " .. type(path), 2)
  end
  local shape = tide.io.npy_shape(path)
  if #shape == 0 then
    error(("dtensor.load: '%s' holds a scalar, not rows"):format(path), 2)
  end
  -- the block layout of core/dist/dtensor.c: floor(n / p) rows each, one more for the first n % p
  local n, p, r = shape[1], comm.size, comm.rank
  local q, rem = n // p, n % p
  local first = r * q + math.min(r, rem)
  return M.from_local(tide.load(path, { first = first + 1, count = q + (r < rem and 1 or 0) }),
    comm)
end

-- ---------------------------------------------------------------- creation

local fill_opts = { dtype = true, seed = true, generator = true, comm = true }

-- the generator dtensor fills use when given neither seed nor generator: stream 0, so every
-- rank holds the same one (SPMD: every rank makes the same calls)
local default_generator

local function the_generator()
  default_generator = default_generator or tide.rng(0, { same_on_all_ranks = true })
  return default_generator
end

local function create(kind, op, shape, opts)
  if type(shape) ~= "table" then
    error(op .. ": expected a global shape (a table of sizes), got " .. type(shape), 3)
  end
  opts = args.check_opts(opts, fill_opts, op, 4)
  local comm = comm_or_world(opts.comm)
  if kind == "zeros" then
    return core.fill(comm, shape, opts.dtype, kind)
  end
  if opts.seed ~= nil and opts.generator ~= nil then
    error(op .. ": give seed or generator, not both", 3)
  end
  local key, first
  local gen = opts.generator
  if opts.seed ~= nil then
    args.seed(opts.seed, op, nil, 4)
    key, first = tide.rng(opts.seed, { same_on_all_ranks = true }):key(), 0
  else
    gen = gen or the_generator()
    key, first = gen:key(), gen:counter()
  end
  local a, b = 0, 1
  local dt = core.fill(comm, shape, opts.dtype, kind, key, first, a, b)
  if gen then
    local n = 1
    for _, s in ipairs(shape) do
      n = n * s
    end
    gen:advance(n)
  end
  return dt
end

function M.zeros(shape, opts, ...)
  args.at_most("dtensor.zeros", 2, ...)
  local dt = create("zeros", "dtensor.zeros", shape, opts)   -- no tail call: errors name our caller
  return dt
end

function M.rand(shape, opts, ...)
  args.at_most("dtensor.rand", 2, ...)
  local dt = create("uniform", "dtensor.rand", shape, opts)
  return dt
end

function M.randn(shape, opts, ...)
  args.at_most("dtensor.randn", 2, ...)
  local dt = create("normal", "dtensor.randn", shape, opts)
  return dt
end

-- ---------------------------------------------------------------- moving rows

-- Entries of a redistribute table in a deterministic order: a list as it is, named entries
-- by sorted name (every rank then packs the same tensors in the same order).
local function entries(tbl, op)
  if type(tbl) ~= "table" then
    error(op .. ": expected a table of dtensors and tensors, got " .. type(tbl), 3)
  end
  local names = {}
  if #tbl > 0 then
    for i = 1, #tbl do
      names[i] = i
    end
  else
    for k in pairs(tbl) do
      if type(k) ~= "string" then
        error(op .. ": expected a list or a table with string names, got a " .. type(k) .. " key", 3)
      end
      names[#names + 1] = k
    end
    table.sort(names)
  end
  if #names == 0 then
    error(op .. ": expected at least one tensor to move", 3)
  end
  local list = {}
  for i, k in ipairs(names) do
    list[i] = tbl[k]
  end
  return names, list
end

--- The first dtensor of a redistribute table (in its deterministic order).
function M.first(tbl, op)
  local _, list = entries(tbl, op or "dtensor.first")
  for _, v in ipairs(list) do
    if M.is_dtensor(v) then
      return v
    end
  end
  error((op or "dtensor.first") .. ": expected a dtensor among the tensors", 2)
end

--- Moves local row i of every entry of tbl to rank dest[i] (dest: i32 or i64, 0-based ranks,
--- one per local row) in one alltoallv; entries are dtensors or tensors of this rank's rows
--- (keys, labels, weights aligned with them). Returns a table of the same form: new dtensors
--- for dtensors, this rank's new rows for tensors. Received rows come ordered by source rank,
--- then source order, so aligned entries stay aligned. Collective.
function M.redistribute(tbl, dest, comm, ...)
  args.at_most("dtensor.redistribute", 3, ...)
  local names, list = entries(tbl, "redistribute")
  local moved = core.redistribute(list, dest, comm)
  local out = {}
  for i, k in ipairs(names) do
    out[k] = M.is_dtensor(list[i]) and moved[i] or moved[i].shard
  end
  return out
end

function methods:redistribute(dest)
  return core.redistribute({ self }, dest)[1]
end

-- ---------------------------------------------------------------- reductions

-- 1-based dim (negative from the end) -> 1..ndim, raising the tensor ops' message otherwise
local function norm_dim(dt, dim, op)
  local ndim = #dt.shard:shape()
  if math.type(dim) ~= "integer" then
    error(op .. ": expected an integer dim, got " .. tostring(dim), 3)
  end
  local d = dim < 0 and dim + ndim + 1 or dim
  if d < 1 or d > ndim then
    error(string.format("%s: dim %d out of range (expected 1..%d or -%d..-1)", op, dim, ndim, ndim), 3)
  end
  return d
end

local function row_shape(t)
  local s = t:shape()
  table.remove(s, 1)
  return s
end

local function lowest(dtype, want_max)
  local float = dtype == "f32" or dtype == "f64"
  if want_max then
    return float and -math.huge or (dtype == "u8" and 0 or dtype == "i32" and -2147483648 or math.mininteger)
  end
  return float and math.huge or (dtype == "u8" and 255 or dtype == "i32" and 2147483647 or math.maxinteger)
end

-- a result computed row by row from dt's local rows, laid out like dt
local function row_result(dt, t)
  if dt:is_replicated() then
    return M.replicated(t, dt:comm())
  end
  return core.like(dt, t)
end

local function global_numel(dt)
  local n = 1
  for _, s in ipairs(dt:global_shape()) do
    n = n * s
  end
  return n
end

-- a sum over every element or over the rows (dim 1), as every rank sees it
local function total_sum(dt, dim)
  local l = dt.shard
  if dt:is_replicated() then
    return dim and l:sum(1) or l:sum()
  end
  local comm = dt:comm()
  if dim then
    return comm:allreduce(l:sum(1), "sum")
  end
  return comm:allreduce(l:sum(), "sum")
end

function methods:sum(dim)
  if dim ~= nil and norm_dim(self, dim, "sum") ~= 1 then
    return row_result(self, self.shard:sum(norm_dim(self, dim, "sum")))
  end
  return total_sum(self, dim)
end

function methods:mean(dim)
  if dim ~= nil and norm_dim(self, dim, "mean") ~= 1 then
    return row_result(self, self.shard:mean(norm_dim(self, dim, "mean")))
  end
  if dim then
    local s = total_sum(self, dim)
    return s / self:global_shape()[1]
  end
  return total_sum(self) / global_numel(self)
end

local function extreme(dt, dim, want_max)
  local op = want_max and "max" or "min"
  local name = want_max and "max" or "min"
  local l = dt.shard
  if dim ~= nil and norm_dim(dt, dim, op) ~= 1 then
    local values = l[name](l, norm_dim(dt, dim, op))
    return row_result(dt, values)
  end
  if (dim and dt:global_shape()[1] == 0) or (not dim and global_numel(dt) == 0) then
    error(op .. ": cannot reduce an empty dtensor", 3)
  end
  if dt:is_replicated() then
    return dim and (l[name](l, 1)) or l[name](l)
  end
  local comm = dt:comm()
  local mine
  if dim then
    mine = l:size(1) > 0 and (l[name](l, 1)) or tide.full(row_shape(l), lowest(l:dtype(), want_max), l:dtype())
  else
    mine = l:numel() > 0 and l[name](l) or lowest(l:dtype(), want_max)
  end
  return comm:allreduce(mine, op)
end

--- dt:max() -> the largest element; dt:max(1) -> the largest of each column (values only);
--- dt:max(d > 1) -> a dtensor of each row's largest values.
function methods:max(dim)
  return extreme(self, dim, true)
end

function methods:min(dim)
  return extreme(self, dim, false)
end

--- dt:norm([p = 2], [dim]): the p-norm of every element, or of each column (dim 1), or of
--- each row's entries along dim > 1 (a dtensor). p may be math.huge (the largest |x|).
function methods:norm(p, dim)
  p = p or 2
  if type(p) ~= "number" or not (p >= 0) then   -- not NaN either
    error("norm: expected p >= 0, got " .. tostring(p), 2)
  end
  local l = self.shard
  if dim ~= nil and norm_dim(self, dim, "norm") ~= 1 then
    return row_result(self, l:norm(p, norm_dim(self, dim, "norm")))
  end
  if self:is_replicated() then
    return dim and l:norm(p, 1) or l:norm(p)
  end
  local comm = self:comm()
  local part = dim and l:norm(p, 1) or l:norm(p)
  if p == math.huge then
    return comm:allreduce(part, "max")
  elseif p == 0 then
    return comm:allreduce(part, "sum")
  end
  -- the ranks' norms combine as (sum of norm^p)^(1/p)
  if dim then
    return comm:allreduce(part:pow(p), "sum"):pow(1 / p)
  end
  return comm:allreduce(part ^ p, "sum") ^ (1 / p)
end

-- ---------------------------------------------------------------- row-wise maps

--- dt:matmul(w): this rank's rows times w (a tensor, or a replicated dtensor, the same on
--- every rank): a dtensor sharded like dt. Not collective.
function methods:matmul(w)
  if M.is_dtensor(w) then
    if not w:is_replicated() then
      error("matmul: expected a replicated right operand, got a sharded dtensor", 2)
    end
    w = w.shard
  end
  return row_result(self, self.shard:matmul(w))
end

--- dt:map(fn): fn(local rows) -> a tensor of this rank's new rows (any row count, the same
--- row shape and dtype on every rank): a new dtensor. Collective.
function methods:map(fn)
  if type(fn) ~= "function" then
    error("map: expected a function, got " .. type(fn), 2)
  end
  local r = fn(self.shard)
  if not tide.is_tensor(r) then
    error("map: the function returned " .. type(r) .. ", expected a tensor", 2)
  end
  if self:is_replicated() then
    return M.replicated(r, self:comm())
  end
  return M.from_local(r, self:comm())
end

function methods:numel()
  return global_numel(self)
end

-- ---------------------------------------------------------------- state
-- dt:state() -> {kind = "tide.dtensor", rows = a copy of dt (a dtensor laid out as dt is),
--                generator = the state of the generator dtensor.rand/randn draw from when
--                given neither seed nor generator}. Collective.
-- dt:load_state(s) -> dt: dt's rows become those of s.rows, moved to dt's layout (s.rows may
-- come from tide.checkpoint.load at another rank count, laid out by blocks), and that generator
-- continues from s.generator, so a resumed job draws what it would have drawn. Collective.
-- dtensor.get_rng_state() / dtensor.set_rng_state(s): that generator's state alone.
-- A dtensor's state holds a dtensor: keep it with tide.checkpoint (one file, tide.save, holds
-- no dtensors).

function M.get_rng_state()
  return the_generator():state()
end

function M.set_rng_state(s)
  return the_generator():load_state(s)
end

function methods:state()
  local make = self:is_replicated() and M.replicated or M.from_local
  return { kind = "tide.dtensor", rows = make(self.shard:clone(), self:comm()),
    generator = M.get_rng_state() }
end

local STATE_KEYS = { kind = true, rows = true, generator = true }

local function desc(dt)
  return dt:dtype() .. "[" .. table.concat(dt:global_shape(), "x") .. "]"
end

-- this rank's rows of dt's layout, taken from rows (a dtensor of the same global shape)
local function rows_for(dt, rows)
  if dt:is_replicated() then
    return rows:is_replicated() and rows.shard or rows:full()
  end
  local first, n = dt:row_offset(), dt.shard:shape()[1]
  if rows:is_replicated() then
    return n > 0 and rows.shard:narrow(1, first + 1, n) or dt.shard
  end
  local same = true
  for r, c in ipairs(dt:row_counts()) do
    same = same and rows:row_counts()[r] == c
  end
  if same then return rows.shard end
  local at = rows:row_offset()
  local pos = tide.arange(at, at + rows.shard:shape()[1], "i64")
  return rows:redistribute(require("tide.placement.util").split(pos, dt:row_counts())).shard
end

function methods:load_state(s)
  local where = "dtensor.load_state"
  args.state_keys(s, STATE_KEYS, where, 3)
  if s.kind ~= "tide.dtensor" then
    error(("%s: kind expected 'tide.dtensor', got %s"):format(where, tostring(s.kind)), 2)
  end
  if not M.is_dtensor(s.rows) then
    error(("%s: rows expected a dtensor, got %s"):format(where, args.tensor_desc(s.rows)), 2)
  end
  if desc(s.rows) ~= desc(self) then
    error(("%s: rows expected %s, got %s"):format(where, desc(self), desc(s.rows)), 2)
  end
  if s.rows:comm().size ~= self:comm().size then
    error(("%s: rows live on %d ranks, this dtensor on %d"):format(where, s.rows:comm().size,
      self:comm().size), 2)
  end
  local rows = rows_for(self, s.rows)
  if rows ~= self.shard then self.shard:copy_(rows) end
  if s.generator ~= nil then M.set_rng_state(s.generator) end
  return self
end

return M
