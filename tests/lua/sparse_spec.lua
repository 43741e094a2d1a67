-- tide.sparse against dense twins: random triplets (unsorted, with duplicates, and rows and
-- columns left empty) summed into a plain Lua table by hand, then every operation compared
-- with the dense tensor operation on that table, at f32 and f64; and every error.
local tide = require "tide"

math.randomseed(20261204)

-- Random triplets of an n x m matrix whose rows in `skip` stay empty, with every fourth
-- entry repeating an earlier position; and the dense Lua table they sum to.
local function random_triplets(n, m, count, skip)
  local rows, cols, vals, dense = {}, {}, {}, {}
  for i = 1, n do
    dense[i] = {}
    for j = 1, m do dense[i][j] = 0 end
  end
  for e = 1, count do
    local i, j
    if e % 4 == 0 then
      i, j = rows[e - 2], cols[e - 2]
    else
      repeat i = math.random(n) until not skip[i]
      j = math.random(m)
    end
    local v = math.random(-8, 8) / 4
    rows[e], cols[e], vals[e] = i, j, v
    dense[i][j] = dense[i][j] + v
  end
  return rows, cols, vals, dense
end

local function max_diff(a, b)
  assert.are.same(a:shape(), b:shape())
  if a:numel() == 0 then return 0 end
  return (a:to("f64") - b:to("f64")):abs():max()
end

for _, dtype in ipairs { "f32", "f64" } do
  local tol = dtype == "f32" and 1e-5 or 1e-12

  describe("tide.sparse at " .. dtype, function()
    local n, m = 13, 9
    local rows, cols, vals, table_dense = random_triplets(n, m, 40, { [2] = true, [7] = true })
    local S = tide.sparse.coo(tide.tensor(rows, "i32"), tide.tensor(cols, "i64"),
      tide.tensor(vals, dtype), { n, m })
    local D = tide.tensor(table_dense, dtype)

    it("sums duplicates into the dense matrix the triplets make", function()
      assert.are.equal(0, max_diff(S:to_dense(), D))
      assert.are.same({ n, m }, S:size())
      assert.are.equal(dtype, S:dtype())
      local stored = 0
      for i = 1, n do
        for j = 1, m do
          -- a position is stored once, even when its duplicates cancel out
          local touched = false
          for e = 1, #rows do touched = touched or (rows[e] == i and cols[e] == j) end
          if touched then stored = stored + 1 end
        end
      end
      assert.are.equal(stored, S:nnz())
    end)

    it("multiplies a dense matrix and a vector as the dense matrix does", function()
      local X = tide.randn({ m, 5 }, { dtype = dtype, seed = 3 })
      assert.is_true(max_diff(S:matmul(X), D:matmul(X)) < tol)
      local x = tide.randn({ m }, { dtype = dtype, seed = 4 })
      assert.is_true(max_diff(S:spmv(x), D:mv(x)) < tol)
      assert.is_true(max_diff(S:matmul(x), D:mv(x)) < tol)
      -- a transposed (strided) dense operand is copied, not misread
      local Xt = tide.randn({ 5, m }, { dtype = dtype, seed = 5 }):t()
      assert.is_true(max_diff(S:matmul(Xt), D:matmul(Xt)) < tol)
    end)

    it("transposes, slices rows and sums degrees", function()
      assert.are.equal(0, max_diff(S:t():to_dense(), D:t():contiguous()))
      assert.are.equal(0, max_diff(S:t():t():to_dense(), D))
      assert.are.equal(0, max_diff(S:rows(2, 8):to_dense(), D:narrow(1, 2, 7)))
      assert.are.equal(0, max_diff(S:rows(5, 4):to_dense(), D:narrow(1, 5, 0)))
      assert.is_true(max_diff(S:degree(), D:sum(2)) < tol)
    end)

    it("normalises as D^-1/2 (A + I) D^-1/2 computed by hand", function()
      local k = 11
      local r2, c2, v2, a = random_triplets(k, k, 30, { [3] = true })
      for e = 1, #v2 do v2[e] = math.abs(v2[e]) end
      for i = 1, k do
        for j = 1, k do a[i][j] = 0 end
      end
      for e = 1, #r2 do a[r2[e]][c2[e]] = a[r2[e]][c2[e]] + v2[e] end
      local d = {}
      for i = 1, k do
        a[i][i] = a[i][i] + 1
        local s = 0
        for j = 1, k do s = s + a[i][j] end
        d[i] = 1 / math.sqrt(s)
      end
      for i = 1, k do
        for j = 1, k do a[i][j] = d[i] * a[i][j] * d[j] end
      end
      local A = tide.sparse.coo(r2, c2, tide.tensor(v2, dtype), { k, k })
      assert.is_true(max_diff(A:normalize_gcn():to_dense(), tide.tensor(a, dtype)) < tol)
    end)

    it("gives back its triplets, and survives tide.save and tide.load", function()
      local r, c, v = S:triplets()
      assert.are.equal(0, max_diff(tide.sparse.coo(r, c, v, { n, m }):to_dense(), D))
      local path = os.tmpname()
      tide.save(path, { adjacency = S:state() })
      local back = tide.sparse.from_state(tide.load(path).adjacency)
      os.remove(path)
      assert.are.equal(0, max_diff(back:to_dense(), D))
      assert.are.equal(dtype, back:dtype())
    end)

    it("passes S^T g to the dense operand inside tide.autograd", function()
      local X = tide.randn({ m, 3 }, { dtype = dtype, seed = 6 })
      local f = function(A) return function(p) return (A:matmul(p.X):tanh() ^ 2):sum() end end
      local g_sparse = tide.autograd.grad(f(S))({ X = X })
      local g_dense = tide.autograd.grad(f(D))({ X = X })
      assert.is_true(max_diff(g_sparse.X, g_dense.X) < tol * 10)
      local gv = tide.autograd.grad(function(p) return S:spmv(p.x):sum() end)(
        { x = tide.randn({ m }, { dtype = dtype, seed = 7 }) })
      assert.is_true(max_diff(gv.x, D:sum(1)) < tol)
    end)
  end)
end

describe("tide.sparse edge cases", function()
  it("holds empty matrices and infers the size from the triplets", function()
    local E = tide.sparse.coo(tide.empty({ 0 }, "i64"), tide.empty({ 0 }, "i64"),
      tide.empty({ 0 }, "f64"), { 3, 2 })
    assert.are.equal(0, E:nnz())
    assert.are.equal(0, E:to_dense():abs():sum())
    assert.are.same({ 3, 4 }, E:matmul(tide.ones({ 2, 4 }, "f64")):shape())
    assert.are.same({ 4, 6 }, tide.sparse.coo({ 4, 1 }, { 2, 6 }, { 1, 1 }):size())
  end)
end)

describe("tide.sparse errors", function()
  local function err(fn)
    local ok, e = pcall(fn)
    assert.is_false(ok)
    return tostring(e)
  end

  it("names the entry outside the matrix", function()
    assert.matches("entry 2 is %(3, 1%), outside the 2x2 matrix",
      err(function() tide.sparse.coo({ 1, 3 }, { 1, 1 }, { 1, 1 }, { 2, 2 }) end))
    assert.matches("entry 1 is %(1, 0%)",
      err(function() tide.sparse.coo({ 1 }, { 0 }, { 1 }, { 2, 2 }) end))
  end)

  it("refuses mismatched lengths and wrong dtypes", function()
    assert.matches("one length, got 2, 1 and 2",
      err(function() tide.sparse.coo({ 1, 2 }, { 1 }, { 1, 1 }, { 2, 2 }) end))
    assert.matches("rows and cols must be i32 or i64 tensors, got f32",
      err(function()
        tide.sparse.coo(tide.tensor({ 1 }, "f32"), tide.tensor({ 1 }, "i64"), { 1 }, { 2, 2 })
      end))
    assert.matches("values must be an f32 or f64 tensor, got i64",
      err(function() tide.sparse.coo({ 1 }, { 1 }, tide.tensor({ 1 }, "i64"), { 2, 2 }) end))
    assert.matches("n %(the row count%) must be an integer of at least 0, got %-1",
      err(function() tide.sparse.coo({ 1 }, { 1 }, { 1 }, { -1, 2 }) end))
    assert.matches("the size is {n, m}, got a key 'rows'",
      err(function() tide.sparse.coo({ 1 }, { 1 }, { 1 }, { rows = 2 }) end))
  end)

  it("refuses products of the wrong size or dtype, and bad row ranges", function()
    local S = tide.sparse.coo({ 1, 2 }, { 1, 3 }, { 1, 1 }, { 2, 3 })
    assert.matches("size mismatch, 2x3 sparse @ 4x2 dense %(expected 3 rows%)",
      err(function() S:matmul(tide.ones({ 4, 2 }, "f64")) end))
    assert.matches("dtype mismatch, f64 sparse @ f32 dense",
      err(function() S:matmul(tide.ones({ 3, 2 }, "f32")) end))
    assert.matches("rows 2..3 outside 1..2", err(function() S:rows(2, 3) end))
    assert.matches("expected a square matrix, got 2x3", err(function() S:normalize_gcn() end))
  end)

  it("checks a state before trusting it", function()
    assert.matches("expected the table S:state%(%) makes",
      err(function() tide.sparse.from_state({ format = "coo" }) end))
    local s = tide.sparse.coo({ 1 }, { 1 }, { 1 }, { 1, 1 }):state()
    s.size = { 1, 1 }
    s.rows = tide.tensor({ 2 }, "i64")
    assert.matches("entry 1 is %(2, 1%), outside the 1x1 matrix",
      err(function() tide.sparse.from_state(s) end))
    -- a matrix whose fields a script changed is checked again before any product reads it
    local S = tide.sparse.coo({ 1, 2 }, { 1, 3 }, { 1, 1 }, { 2, 3 })
    S.col = tide.tensor({ 0, 99 }, "i64")
    assert.matches("sparse: row 2 has column 100, out of range 1..3",
      err(function() S:matmul(tide.ones({ 3, 1 }, "f64")) end))
    S.col = tide.tensor({ 2, 0 }, "i64")
    S.rowptr = tide.tensor({ 0, 2, 2 }, "i64")
    assert.matches("row 1's columns are not sorted and unique", err(function() S:t() end))
  end)
end)
