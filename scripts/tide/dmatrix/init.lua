-- tide.dmatrix: 2-D matrices distributed block-cyclically over a pr x pc grid of ranks, and
-- their product by SUMMA (or by row blocks for tall-skinny shapes).
--
-- The layout is ScaLAPACK's (core/dist/dmatrix.h): the global m x n matrix is cut into mb x nb
-- blocks, block (I, J) (0-based) lives at grid position (I % pr, J % pc), and rank r sits at
-- grid position (r // pc, r % pc). Without `block` the distribution is plain block:
-- mb = ceil(m / pr), nb = ceil(n / pc). Without `grid`, the most square pr x pc = comm.size
-- with pr <= pc. Every function here is collective over the communicator (tide.world unless
-- opts.comm says otherwise).
--
--   dmatrix.from_global(t, {grid = {pr, pc}, block = {mb, nb}, comm =})  every rank passes the
--       same m x n tensor t; each keeps its blocks (a copy)
--   dmatrix.load(path, opts)   the same from a .npy file, each rank reading only its rows
--   D:to_global()              -> the whole tensor on every rank (one allgather)
--   D:redistribute({grid =, block =})  -> the same matrix in another layout (through the
--       global matrix: simple, O(m n) memory per rank)
--   D:matmul(E, {algorithm = "auto" | "summa" | "rows"})  -> D @ E as a dmatrix. "summa"
--       broadcasts panels along grid rows and columns (overlapped with the local GEMM) and
--       returns D's row layout and E's column layout on D's grid; "rows" (tall-skinny: few
--       columns in D and E) gathers E on every rank and multiplies D's row blocks, returning
--       a P x 1 grid. "auto" picks "rows" when m >= 8 k and m >= 8 n.
--   D.shard (this rank's local matrix, a tensor), D:shape(), D:grid(), D:block(),
--   D:position() (0-based grid row and column), D:dtype(), D:comm()
local tide = require "tide"
local args = require "tide.args"
local core = require("tide.core")._dmatrix

local M = {}
local DMatrix = {}
DMatrix.__index = DMatrix
DMatrix.__name = "tide.dmatrix"

-- the row and column communicators of each (comm, pr, pc), made once: splits are collective
-- and not free
local grids = setmetatable({}, { __mode = "k" })

local function grid_comms(comm, pr, pc)
  local per = grids[comm]
  if not per then
    per = {}
    grids[comm] = per
  end
  local key = pr .. "x" .. pc
  if not per[key] then
    local prow, pcol = comm.rank // pc, comm.rank % pc
    per[key] = { row = comm:split(prow, pcol), col = comm:split(pcol, prow) }
  end
  return per[key].row, per[key].col
end

local function square_grid(p)
  local pr = math.floor(math.sqrt(p))
  while p % pr ~= 0 do pr = pr - 1 end
  return pr, p // pr
end

-- how a bad grid or block option looks in a message: {0, 1}, or its type
local function shown(v)
  if type(v) ~= "table" then return type(v) end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = tostring(x) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function pair(v, what, op)
  if type(v) ~= "table" or #v ~= 2 or math.type(v[1]) ~= "integer"
      or math.type(v[2]) ~= "integer" or v[1] < 1 or v[2] < 1 then
    error(("%s: expected %s as a pair of positive integers {a, b}, got %s"):format(op, what,
      shown(v)), 4)
  end
  return v[1], v[2]
end

local layout_opts = { grid = true, block = true, comm = true }

-- the layout table core._dmatrix takes, from a global shape and the options
local function make_layout(m, n, opts, op)
  opts = args.check_opts(opts, layout_opts, op, 4)
  local comm = opts.comm or tide.world
  local pr, pc
  if opts.grid == nil then
    pr, pc = square_grid(comm.size)
  else
    pr, pc = pair(opts.grid, "grid", op)
  end
  if pr * pc ~= comm.size then
    error(("%s: grid %dx%d needs %d ranks, the communicator has %d"):format(op, pr, pc,
      pr * pc, comm.size), 3)
  end
  local mb, nb
  if opts.block == nil then
    mb, nb = math.max(1, (m + pr - 1) // pr), math.max(1, (n + pc - 1) // pc)
  else
    mb, nb = pair(opts.block, "block", op)
  end
  return { m = m, n = n, mb = mb, nb = nb, pr = pr, pc = pc }, comm
end

local function wrap(shard, lay, comm)
  return setmetatable({ shard = shard, layout = lay, _comm = comm }, DMatrix)
end

function M.is_dmatrix(x)
  return getmetatable(x) == DMatrix
end

local function check_matrix(t, op)
  if not tide.is_tensor(t) then
    error(op .. ": expected a 2-D tensor, got " .. type(t), 3)
  end
  if t:dim() ~= 2 then
    error(("%s: expected a 2-D tensor, got %d-D"):format(op, t:dim()), 3)
  end
end

function M.from_global(t, opts)
  local op = "dmatrix.from_global"
  check_matrix(t, op)
  local lay, comm = make_layout(t:size(1), t:size(2), opts, op)
  local pos_r, pos_c = comm.rank // lay.pc, comm.rank % lay.pc
  return wrap(core.pack(t, lay, pos_r, pos_c), lay, comm)
end

function M.load(path, opts)
  local op = "dmatrix.load"
  if type(path) ~= "string" then
    error(op .. ": expected a path to a .npy file, got " .. type(path), 2)
  end
  local shape = tide.io.npy_shape(path)
  if #shape ~= 2 then
    error(("%s: '%s' holds a %d-D array, expected a matrix"):format(op, path, #shape), 2)
  end
  local m, n = shape[1], shape[2]
  local lay, comm = make_layout(m, n, opts, op)
  local prow, pcol = comm.rank // lay.pc, comm.rank % lay.pc
  local lm = core.local_count(m, lay.mb, prow, lay.pr)
  local ln = core.local_count(n, lay.nb, pcol, lay.pc)
  -- each owned block row is read as whole rows, then cut to this rank's columns
  local cols = { m = 0, n = n, mb = 1, nb = lay.nb, pr = 1, pc = lay.pc }
  local shard, at = nil, 0
  for first = prow * lay.mb, m - 1, lay.pr * lay.mb do
    local count = math.min(lay.mb, m - first)
    local rows = tide.load(path, { first = first + 1, count = count })
    cols.m, cols.mb = count, count
    local part = core.pack(rows, cols, 0, pcol)
    shard = shard or tide.zeros({ lm, ln }, rows:dtype())
    shard:narrow(1, at + 1, count):copy_(part)
    at = at + count
  end
  if not shard then   -- no rows here: the dtype still comes from the file
    local dtype = m > 0 and tide.load(path, { first = 1, count = 1 }):dtype() or "f64"
    shard = tide.zeros({ 0, ln }, dtype)
  end
  return wrap(shard, lay, comm)
end

function DMatrix:shape() return { self.layout.m, self.layout.n } end
function DMatrix:grid() return { self.layout.pr, self.layout.pc } end
function DMatrix:block() return { self.layout.mb, self.layout.nb } end
function DMatrix:comm() return self._comm end
function DMatrix:dtype() return self.shard:dtype() end

function DMatrix:position()
  return self._comm.rank // self.layout.pc, self._comm.rank % self.layout.pc
end

function DMatrix:to_global()
  local lay, comm = self.layout, self._comm
  local flat = self.shard:contiguous():reshape({ self.shard:numel() })
  local all = comm:allgather(flat)
  local g = tide.zeros({ lay.m, lay.n }, self.shard:dtype())
  local at = 0
  for r = 0, comm.size - 1 do
    local prow, pcol = r // lay.pc, r % lay.pc
    local lm = core.local_count(lay.m, lay.mb, prow, lay.pr)
    local ln = core.local_count(lay.n, lay.nb, pcol, lay.pc)
    if lm * ln > 0 then
      core.unpack_(g, all:narrow(1, at + 1, lm * ln):reshape({ lm, ln }), lay, prow, pcol)
    end
    at = at + lm * ln
  end
  return g
end

function DMatrix:redistribute(opts)
  opts = args.check_opts(opts, { grid = true, block = true }, "dmatrix.redistribute", 3)
  return M.from_global(self:to_global(), { grid = opts.grid, block = opts.block,
    comm = self._comm })
end

local matmul_opts = { algorithm = true }

local function by_rows(D, E)
  local P = D._comm.size
  if D.layout.pc ~= 1 then
    D = D:redistribute({ grid = { P, 1 } })
  end
  local full = E:to_global()
  local lay = { m = D.layout.m, n = E.layout.n, mb = D.layout.mb,
    nb = math.max(1, E.layout.n), pr = P, pc = 1 }
  return wrap(tide.matmul(D.shard, full), lay, D._comm)
end

local function by_summa(D, E)
  local a, b = D.layout, E.layout
  if b.pr ~= a.pr or b.pc ~= a.pc or b.mb ~= a.nb then
    E = E:redistribute({ grid = { a.pr, a.pc }, block = { a.nb, b.nb } })
    b = E.layout
  end
  local row, col = grid_comms(D._comm, a.pr, a.pc)
  local c = core.summa(D.shard, E.shard, a, b, row, col)
  return wrap(c, { m = a.m, n = b.n, mb = a.mb, nb = b.nb, pr = a.pr, pc = a.pc }, D._comm)
end

function DMatrix:matmul(E, opts)
  local op = "dmatrix.matmul"
  if not M.is_dmatrix(E) then
    error(op .. ": expected a dmatrix, got " .. (tide.is_tensor(E) and "a tensor" or type(E)), 2)
  end
  opts = args.check_opts(opts, matmul_opts, op, 3)
  if E._comm ~= self._comm then
    error(op .. ": expected operands on one communicator", 2)
  end
  local m, k, n = self.layout.m, self.layout.n, E.layout.n
  if E.layout.m ~= k then
    error(("%s: size mismatch, %dx%d @ %dx%d"):format(op, m, k, E.layout.m, n), 2)
  end
  if self.shard:dtype() ~= E.shard:dtype() then
    error(("%s: dtype mismatch, %s @ %s"):format(op, self.shard:dtype(), E.shard:dtype()), 2)
  end
  local algo = opts.algorithm or "auto"
  if algo == "auto" then
    algo = (m >= 8 * k and m >= 8 * n) and "rows" or "summa"
  end
  if algo == "rows" then return by_rows(self, E) end
  if algo == "summa" then return by_summa(self, E) end
  error(op .. ": algorithm must be \"auto\", \"summa\" or \"rows\", got " .. tostring(algo), 2)
end

return M
