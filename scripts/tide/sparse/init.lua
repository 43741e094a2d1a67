-- tide.sparse: sparse matrices in compressed sparse row (CSR) form, built from triplets (COO).
--
--   local S = tide.sparse.coo(rows, cols, values, {n, m})
--
-- rows and cols are 1-based i32/i64 tensors (or Lua lists), values an f32/f64 tensor (or a
-- list, made f64); the triplets may come in any order, and duplicates are summed. {n, m} is
-- the size (default: the largest row and column index). S is immutable; every method returns
-- a new matrix or tensor:
--
--   S:matmul(X)     S @ X for a dense X (m x k, or a 1-D m-vector: then S:spmv(X))
--   S:spmv(x)       S @ x for a 1-D x
--   S:t()           the transpose (CSR again)
--   S:to_dense()    the n x m tensor
--   S:rows(a, b)    rows a..b (1-based, inclusive) as an (b - a + 1) x m matrix
--   S:degree()      each row's sum of values (1-D, n)
--   S:normalize_gcn()   D^-1/2 (A + I) D^-1/2, D the row sums of A + I (Kipf and Welling)
--   S:triplets()    rows, cols (1-based i64) and values, sorted by row then column
--   S:to(dtype)     the same matrix with f32 or f64 values
--   S:state()       a plain table tide.save can write; tide.sparse.from_state reads it back
--   S:size(), S:shape(), S:nnz(), S:dtype()
--
-- Products run in C (core/linalg/sparse.c); inside tide.autograd, S:matmul(X) passes its
-- gradient to X as S^T @ g (the matrix itself is data, not a parameter).
local tide = require "tide"
local args = require "tide.args"

local K = tide._internal.kernels
local M = {}

local CSR = {}
CSR.__index = CSR
CSR.__name = "tide.sparse"

local function wrap(s) return setmetatable(s, CSR) end

-- A message without the position Lua put in front of it (this file's, not the user's).
local function bare(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end

-- Calls the C kernel K[name] (looked up now: tide.autograd may have wrapped it); its error is
-- raised again at the caller of the function calling this one, as tensor methods' errors are.
local function kernel(name, ...)
  local ok, r = pcall(K[name], ...)
  if not ok then error(bare(r), 3) end
  return r
end

function M.is_sparse(v) return getmetatable(v) == CSR end

local function as_tensor(v, dtype, what, where)
  if tide.is_tensor(v) then return v end
  if type(v) == "table" then return tide.tensor(v, dtype) end
  error(("%s: %s must be a tensor or a list, got %s"):format(where, what, type(v)), 3)
end

-- The largest entry of an index tensor (0 when empty).
local function max_index(t)
  return t:numel() > 0 and math.tointeger(t:max()) or 0
end

--- The n x m matrix with values[e] at (rows[e], cols[e]), duplicates summed.
function M.coo(rows, cols, values, size)
  local where = "sparse.coo"
  rows = as_tensor(rows, "i64", "rows", where)
  cols = as_tensor(cols, "i64", "cols", where)
  values = as_tensor(values, "f64", "values", where)
  if size ~= nil and type(size) ~= "table" then
    error(("%s: expected a size {n, m}, got %s"):format(where, type(size)), 2)
  end
  size = size or {}
  for k in pairs(size) do
    if k ~= 1 and k ~= 2 then
      error(("%s: the size is {n, m}, got a key '%s'"):format(where, tostring(k)), 2)
    end
  end
  local integer = rows:dtype() ~= "f32" and rows:dtype() ~= "f64"
  local n = size[1] or (integer and max_index(rows) or 0)
  local m = size[2] or (cols:dtype() ~= "f32" and cols:dtype() ~= "f64" and max_index(cols) or 0)
  args.integer(n, "n (the row count)", where, 0)
  args.integer(m, "m (the column count)", where, 0)
  return wrap(kernel("csr_from_coo", rows, cols, values, n, m))
end

--- A matrix from S:state() (or what tide.load gives back for it); every entry is checked.
function M.from_state(s)
  local where = "sparse.from_state"
  if type(s) ~= "table" or s.format ~= "csr" then
    error(where .. ": expected the table S:state() makes (format = \"csr\"), got "
      .. (type(s) == "table" and ("format = " .. tostring(s.format)) or type(s)), 2)
  end
  args.state_keys(s, { format = true, size = true, rows = true, cols = true, values = true },
    where)
  if type(s.size) ~= "table" then
    error(where .. ": size must be {n, m}, got " .. type(s.size), 2)
  end
  local ok, S = pcall(M.coo, s.rows, s.cols, s.values, { s.size[1], s.size[2] })
  if not ok then error(bare(S), 2) end
  return S
end

function CSR:size(dim)
  if dim == nil then return { self.n, self.m } end
  return ({ self.n, self.m })[dim]
end

CSR.shape = CSR.size
function CSR:nnz() return self.col:numel() end
function CSR:dtype() return self.val:dtype() end

function CSR:__tostring()
  return ("tide.sparse %dx%d, %d stored (%s)"):format(self.n, self.m, self:nnz(), self:dtype())
end

function CSR:matmul(x)
  local y   -- (not a tail call: kernel's error names this method's caller)
  if tide.is_tensor(x) and x:dim() == 1 then
    y = kernel("csr_spmv", self, x)
    return y
  end
  if not tide.is_tensor(x) then
    error("sparse.matmul: expected a dense tensor, got " .. type(x), 2)
  end
  y = kernel("csr_spmm", self, x)
  return y
end

function CSR:spmv(x)
  if not tide.is_tensor(x) then
    error("sparse.spmv: expected a 1-D tensor, got " .. type(x), 2)
  end
  local y = kernel("csr_spmv", self, x)
  return y
end

function CSR:t() return wrap(kernel("csr_t", self)) end
function CSR:to_dense()
  local d = kernel("csr_to_dense", self)
  return d
end

function CSR:degree()
  local d = kernel("csr_degree", self)
  return d
end
function CSR:normalize_gcn() return wrap(kernel("csr_normalize_gcn", self)) end

function CSR:rows(a, b)
  args.integer(a, "the first row", "sparse.rows")
  args.integer(b, "the last row", "sparse.rows")
  return wrap(kernel("csr_rows", self, a, b))
end

function CSR:triplets()
  return kernel("csr_row_indices", self), self.col + 1, self.val
end

function CSR:to(dtype)
  if dtype ~= "f32" and dtype ~= "f64" then
    error("sparse.to: expected \"f32\" or \"f64\", got " .. tostring(dtype), 2)
  end
  return wrap { rowptr = self.rowptr, col = self.col, val = self.val:to(dtype), n = self.n,
    m = self.m }
end

function CSR:state()
  local r, c, v = self:triplets()
  return { format = "csr", size = { self.n, self.m }, rows = r, cols = c, values = v }
end

return M
