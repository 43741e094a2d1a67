-- tide.linalg over batches, and its factorisations checked by the identities that define them:
-- Q·R = A with QᵀQ = I and R upper triangular, U·diag(S)·Vh = A with orthonormal U and V,
-- A·V = V·diag(w), L·Lᵀ = A, A·inv(A) = I, A·solve(A, B) = B; singular and indefinite
-- matrices are named by their place in the batch, and extra arguments are refused.
local tide = require "tide"

math.randomseed(20261204)

local function rand_table(r, c)
  local t = {}
  for i = 1, r do
    t[i] = {}
    for j = 1, c do t[i][j] = math.random() - 0.5 end
  end
  return t
end

-- The largest |x - y| over two tensors of one shape (computed in Lua from their tables).
local function maxdiff(x, y)
  local a, b = x:reshape(x:numel()):totable(), y:reshape(y:numel()):totable()
  assert.are.equal(#a, #b)
  local m = 0
  for i = 1, #a do m = math.max(m, math.abs(a[i] - b[i])) end
  return m
end

local function eye(n, dtype)
  local t = {}
  for i = 1, n do
    t[i] = {}
    for j = 1, n do t[i][j] = i == j and 1 or 0 end
  end
  return tide.tensor(t, dtype or "f64")
end

-- A batch of count random m x n matrices (count x m x n), as a tensor and as tables.
local function rand_batch(count, m, n, dtype)
  local t = {}
  for b = 1, count do t[b] = rand_table(m, n) end
  return tide.tensor(t, dtype or "f64"), t
end

-- Symmetric positive definite n x n: M Mᵀ + n I.
local function spd_table(n)
  local m = rand_table(n, n)
  local t = {}
  for i = 1, n do
    t[i] = {}
    for j = 1, n do
      local s = i == j and n or 0
      for k = 1, n do s = s + m[i][k] * m[j][k] end
      t[i][j] = s
    end
  end
  return t
end

describe("batched solve, cholesky and inv", function()
  it("solves each system of a batch: A·X = B, for vectors and matrices", function()
    local n, count = 6, 3
    local a = {}
    for b = 1, count do a[b] = spd_table(n) end
    local A = tide.tensor(a, "f64")
    local B = rand_batch(count, n, 2)
    local X = tide.linalg.solve(A, B)
    assert.are.same({ count, n, 2 }, X:shape())
    assert(maxdiff(A:matmul(X), B) < 1e-12)
    -- each matrix of the batch equals the unbatched solve of its own system
    for b = 1, count do
      assert(maxdiff(X[b], tide.linalg.solve(A[b], B[b])) == 0)
    end
    local v = tide.tensor(rand_table(count, n), "f64")
    local xv = tide.linalg.solve(A, v)
    assert.are.same({ count, n }, xv:shape())
    assert(maxdiff(A:matmul(xv:reshape(count, n, 1)):reshape(count, n), v) < 1e-12)
  end)

  it("factors each matrix: L·Lᵀ = A with L lower triangular", function()
    local a = { spd_table(5), spd_table(5) }
    local A = tide.tensor({ a, a }, "f64")   -- 2x2x5x5: two leading dims
    local L = tide.linalg.cholesky(A)
    assert.are.same({ 2, 2, 5, 5 }, L:shape())
    assert(maxdiff(L:matmul(L:transpose(3, 4)), A) < 1e-12)
    for i = 1, 5 do
      for j = i + 1, 5 do assert.are.equal(0, L:get(2, 1, i, j)) end
    end
  end)

  it("inverts each matrix: A·inv(A) = I, in f64 and f32", function()
    for _, dt in ipairs { "f64", "f32" } do
      local A = tide.tensor({ spd_table(4), spd_table(4), spd_table(4) }, dt)
      local inv = tide.linalg.inv(A)
      local I = eye(4, dt):reshape(1, 4, 4):expand(3, 4, 4)
      assert(maxdiff(A:matmul(inv), I) < (dt == "f64" and 1e-12 or 1e-5))
    end
  end)

  it("names the matrix of the batch that is singular or not positive definite", function()
    local ok = { { 1, 0 }, { 0, 1 } }
    local sing = { { 1, 2 }, { 2, 4 } }
    local A = tide.tensor({ ok, ok, sing }, "f64")
    assert.has_error(function() tide.linalg.solve(A, tide.zeros({ 3, 2 }, "f64")) end,
      "solve: matrix is singular (pivot 2 is zero) (matrix 3 of the batch of 3)")
    assert.has_error(function() tide.linalg.inv(A) end,
      "inv: matrix is singular (pivot 2 is zero) (matrix 3 of the batch of 3)")
    local indef = { { 1, 0 }, { 0, -1 } }
    assert.has_error(function() tide.linalg.cholesky(tide.tensor({ ok, indef }, "f64")) end,
      "cholesky: matrix is not positive definite (leading minor 2) (matrix 2 of the batch of 2)")
    assert.has_error(function() tide.linalg.solve(tide.zeros { 2, 3, 3 }, tide.zeros { 3, 3, 1 }) end,
      "solve: batch mismatch, A is 2x3x3, B is 3x3x1 (B needs A's leading dims)")
    assert.has_error(function() tide.linalg.solve(tide.zeros { 2, 3, 3 }, tide.zeros { 3 }) end,
      "solve: size mismatch, A is 2x3x3, B is 3 (expected B of 2 or 3 dims)")
    assert.has_error(function() tide.linalg.inv(tide.zeros { 2, 3, 4 }) end,
      "inv: expected a square matrix, got 2x3x4")
  end)
end)

describe("qr", function()
  it("gives Q·R = A, QᵀQ = I and an upper-triangular R, reduced and complete", function()
    for _, size in ipairs { { 7, 4 }, { 4, 7 }, { 5, 5 } } do
      local m, n = size[1], size[2]
      local k = math.min(m, n)
      local A = rand_batch(2, m, n)
      local Q, R = tide.linalg.qr(A)
      assert.are.same({ 2, m, k }, Q:shape())
      assert.are.same({ 2, k, n }, R:shape())
      assert(maxdiff(Q:matmul(R), A) < 1e-13)
      assert(maxdiff(Q:transpose(2, 3):matmul(Q), eye(k):reshape(1, k, k):expand(2, k, k)) < 1e-13)
      for i = 1, k do
        for j = 1, math.min(i - 1, n) do assert.are.equal(0, R:get(1, i, j)) end
      end
      local Qc, Rc = tide.linalg.qr(A, { mode = "complete" })
      assert.are.same({ 2, m, m }, Qc:shape())
      assert.are.same({ 2, m, n }, Rc:shape())
      assert(maxdiff(Qc:matmul(Rc), A) < 1e-13)
      assert(maxdiff(Qc:matmul(Qc:transpose(2, 3)), eye(m):reshape(1, m, m):expand(2, m, m)) < 1e-13)
    end
  end)

  it("refuses a vector, an integer tensor, a bad mode and extra arguments", function()
    assert.has_error(function() tide.linalg.qr(tide.zeros { 3 }) end,
      "qr: expected a matrix (or a batch of them), got 3")
    assert.has_error(function() tide.linalg.qr(tide.zeros({ 3, 3 }, "i32")) end,
      "qr: expected f32 or f64 tensors, got i32")
    assert.has_error(function() tide.linalg.qr(tide.zeros { 3, 3 }, { mode = "r" }) end,
      'qr: option \'mode\' must be "reduced" or "complete", got r')
    assert.has_error(function() tide.linalg.qr(tide.zeros { 3, 3 }, { pivot = true }) end,
      "qr: unknown option 'pivot' (expected one of: mode)")
    assert.has_error(function() tide.linalg.qr(tide.zeros { 3, 3 }, nil, 1) end,
      "qr: too many arguments (expected at most 2, got 3)")
  end)
end)

describe("svd", function()
  it("gives U·diag(S)·Vh = A with orthonormal U and V and S descending", function()
    for _, size in ipairs { { 6, 4 }, { 3, 5 } } do
      local m, n = size[1], size[2]
      local k = math.min(m, n)
      local A = rand_batch(3, m, n)
      local U, S, Vh = tide.linalg.svd(A, { full_matrices = false })
      assert.are.same({ 3, m, k }, U:shape())
      assert.are.same({ 3, k }, S:shape())
      assert.are.same({ 3, k, n }, Vh:shape())
      assert(maxdiff((U * S:reshape(3, 1, k)):matmul(Vh), A) < 1e-13)
      assert(maxdiff(Vh:matmul(Vh:transpose(2, 3)), eye(k):reshape(1, k, k):expand(3, k, k)) < 1e-13)
      assert(maxdiff(U:transpose(2, 3):matmul(U), eye(k):reshape(1, k, k):expand(3, k, k)) < 1e-13)
      for b = 1, 3 do
        for i = 2, k do assert(S:get(b, i - 1) >= S:get(b, i)) end
      end
      -- the singular values are the square roots of the eigenvalues of AᵀA (or AAᵀ)
      local small = m < n and A:matmul(A:transpose(2, 3)) or A:transpose(2, 3):matmul(A)
      local w = tide.linalg.eigh(small)
      for b = 1, 3 do
        for i = 1, k do
          assert(math.abs(S:get(b, i) ^ 2 - w:get(b, k + 1 - i)) < 1e-12)
        end
      end
      local Uf, Sf, Vf = tide.linalg.svd(A)
      assert.are.same({ 3, m, m }, Uf:shape())
      assert.are.same({ 3, n, n }, Vf:shape())
      assert(maxdiff(Sf, S) < 1e-13)
      assert(maxdiff(Vf:matmul(Vf:transpose(2, 3)), eye(n):reshape(1, n, n):expand(3, n, n)) < 1e-13)
    end
  end)

  it("refuses a bad option", function()
    assert.has_error(function() tide.linalg.svd(tide.zeros { 2, 2 }, { full_matrices = 1 }) end,
      "svd: option 'full_matrices' must be a boolean, got number")
  end)
end)

describe("eigh", function()
  it("gives A·V = V·diag(w), VᵀV = I and w ascending, from either triangle", function()
    local A = tide.tensor({ spd_table(6), spd_table(6) }, "f64") - 3
    local w, V = tide.linalg.eigh(A)
    assert.are.same({ 2, 6 }, w:shape())
    assert(maxdiff(A:matmul(V), V * w:reshape(2, 1, 6)) < 1e-12)
    assert(maxdiff(V:transpose(2, 3):matmul(V), eye(6):reshape(1, 6, 6):expand(2, 6, 6)) < 1e-13)
    for b = 1, 2 do
      for i = 2, 6 do assert(w:get(b, i - 1) <= w:get(b, i)) end
    end
    -- only one triangle is read: garbage in the other changes nothing
    local lower = A:clone()
    lower[1][1][2] = 1e6
    assert(maxdiff(tide.linalg.eigh(lower), w) < 1e-12)
    local upper = A:clone()
    upper[1][2][1] = 1e6
    assert(maxdiff(tide.linalg.eigh(upper, { UPLO = "U" }), w) < 1e-12)
    -- by hand: [[2, 1], [1, 2]] has eigenvalues 1 and 3
    local w2 = tide.linalg.eigh(tide.tensor({ { 2, 1 }, { 1, 2 } }, "f32"))
    assert.are.equal("f32", w2:dtype())
    assert(maxdiff(w2, tide.tensor({ 1, 3 }, "f32")) < 1e-6)
  end)

  it("refuses a non-square matrix and a bad triangle", function()
    assert.has_error(function() tide.linalg.eigh(tide.zeros { 2, 3 }) end,
      "eigh: expected a square matrix, got 2x3")
    assert.has_error(function() tide.linalg.eigh(tide.zeros { 2, 2 }, { UPLO = "X" }) end,
      "eigh: option 'UPLO' must be \"L\" or \"U\", got X")
  end)
end)
