-- Matrix products and tide.linalg from Lua: hand-checked cases, identities on random data
-- ((A·B)ᵀ = Bᵀ·Aᵀ, views equal copies, solve(A, A@x) = x, L·Lᵀ = A) and every error.
local tide = require "tide"

math.randomseed(20240601)

local function rand_table(r, c)
  local t = {}
  for i = 1, r do
    t[i] = {}
    for j = 1, c do
      t[i][j] = math.random() - 0.5
    end
  end
  return t
end

local function rand_matrix(r, c, dtype)
  return tide.tensor(rand_table(r, c), dtype or "f64")
end

-- The naive product of two nested tables.
local function naive(a, b)
  local out = {}
  for i = 1, #a do
    out[i] = {}
    for j = 1, #b[1] do
      local s = 0
      for k = 1, #b do
        s = s + a[i][k] * b[k][j]
      end
      out[i][j] = s
    end
  end
  return out
end

local function transpose(a)
  local out = {}
  for j = 1, #a[1] do
    out[j] = {}
    for i = 1, #a do
      out[j][i] = a[i][j]
    end
  end
  return out
end

-- Asserts two nested tables of numbers agree within tol.
local function assert_close(want, got, tol, path)
  tol = tol or 1e-10
  path = path or ""
  if type(want) == "table" then
    assert.are.equal(#want, #got, "length at " .. path)
    for i = 1, #want do
      assert_close(want[i], got[i], tol, path .. "[" .. i .. "]")
    end
  else
    assert(math.abs(want - got) <= tol, ("at %s: expected %.17g, got %.17g"):format(path, want, got))
  end
end

describe("matmul", function()
  it("multiplies small matrices by hand", function()
    local a = tide.tensor { { 1, 2 }, { 3, 4 } }
    local b = tide.tensor { { 5, 6 }, { 7, 8 } }
    assert.are.same({ { 19, 22 }, { 43, 50 } }, a:matmul(b):totable())
    assert.are.same({ { 19, 22 }, { 43, 50 } }, tide.matmul(a, b):totable())
    assert.are.equal("f32", a:matmul(b):dtype())
    local d = tide.tensor({ { 1, 2, 3 } }, "f64")
    assert.are.same({ { 14 } }, d:matmul(d:t()):totable())
    assert.are.same({ { 1, 2, 3 }, { 2, 4, 6 }, { 3, 6, 9 } }, d:t():matmul(d):totable())
    assert.are.equal("f64", d:matmul(d:t()):dtype())
  end)

  it("follows torch for 1-D operands: gemv either side, a 0-dim tensor for two vectors", function()
    local m = tide.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    local v3 = tide.tensor { 1, 0, -1 }
    local v2 = tide.tensor { 2, 1 }
    assert.are.same({ -2, -2 }, m:matmul(v3):totable())
    assert.are.same({ -2, -2 }, m:mv(v3):totable())
    assert.are.same({ 6, 9, 12 }, v2:matmul(m):totable())
    local d = v3:matmul(tide.tensor { 4, 5, 6 })
    assert.are.equal(0, d:dim())
    assert.are.equal(-2, d:item())
    -- dot is a full reduction and gives a number
    assert.are.equal(-2, v3:dot(tide.tensor { 4, 5, 6 }))
    assert.are.equal("number", type(v3:dot(v3)))
  end)

  it("satisfies (A·B)ᵀ = Bᵀ·Aᵀ on random data", function()
    for _, dt in ipairs { "f32", "f64" } do
      local a, b = rand_matrix(7, 5, dt), rand_matrix(5, 9, dt)
      local left = a:matmul(b):t():totable()
      local right = b:t():matmul(a:t()):totable()
      assert_close(left, right, dt == "f32" and 1e-5 or 1e-12)
      assert_close(naive(a:totable(), b:totable()), a:matmul(b):totable(), dt == "f32" and 1e-5 or 1e-12)
    end
  end)

  it("gives the same on transposed and narrowed views as on contiguous copies", function()
    local at = rand_matrix(6, 4)        -- at:t() is a 4x6 column-major view
    local bt = rand_matrix(3, 6)        -- bt:t() is 6x3
    local wide = rand_matrix(4, 10)
    local an = wide:narrow(2, 3, 6)     -- 4x6 row-major with a leading dim of 10
    assert.is_false(at:t():is_contiguous())
    assert.is_false(an:is_contiguous())
    for _, a in ipairs { at:t(), an, an:t():t() } do
      for _, b in ipairs { bt:t(), bt:t():contiguous() } do
        local want = a:contiguous():matmul(b:contiguous()):totable()
        assert_close(want, a:matmul(b):totable(), 1e-12)
        assert_close(naive(a:totable(), b:totable()), a:matmul(b):totable(), 1e-12)
      end
    end
    -- a view BLAS cannot take as it is (every second column) is copied first, still right
    local cube = tide.tensor({ { { 1, 2 }, { 3, 4 } }, { { 5, 6 }, { 7, 8 } } }, "f64")
    local odd = cube:select(3, 1)       -- {{1, 3}, {5, 7}} with strides 4, 2
    assert.are.same({ { 16, 24 }, { 40, 64 } }, odd:matmul(odd):totable())
  end)

  it("multiplies batches, broadcasting a 2-D operand over them", function()
    local a = tide.tensor({ rand_table(3, 4), rand_table(3, 4) }, "f64")       -- 2x3x4
    local b = tide.tensor({ rand_table(4, 5), rand_table(4, 5) }, "f64")       -- 2x4x5
    local m = rand_matrix(4, 5)
    local l = rand_matrix(3, 4)
    local ab, am, lb = a:matmul(b), a:matmul(m), l:matmul(b)
    assert.are.same({ 2, 3, 5 }, ab:shape())
    assert.are.same({ 2, 3, 5 }, am:shape())
    assert.are.same({ 2, 3, 5 }, lb:shape())
    for i = 1, 2 do
      assert_close(a[i]:matmul(b[i]):totable(), ab[i]:totable(), 1e-12)
      assert_close(a[i]:matmul(m):totable(), am[i]:totable(), 1e-12)
      assert_close(l:matmul(b[i]):totable(), lb[i]:totable(), 1e-12)
    end
    -- batches of transposed matrices: a view, no copy needed, same answer
    local bt = b:transpose(2, 3)                                                -- 2x5x4
    assert_close(bt:contiguous():matmul(a:transpose(2, 3)):totable(),
      bt:matmul(a:transpose(2, 3)):totable(), 1e-12)
    -- a batch of one broadcasts, and a 1-D right operand is a column
    local one = tide.tensor({ rand_table(4, 5) }, "f64")                        -- 1x4x5
    assert_close(a[2]:matmul(one[1]):totable(), a:matmul(one)[2]:totable(), 1e-12)
    local v = tide.tensor({ 1, 2, 3, 4 }, "f64")
    assert.are.same({ 2, 3 }, a:matmul(v):shape())
    assert_close(a[1]:mv(v):totable(), a:matmul(v)[1]:totable(), 1e-12)
  end)

  it("gives zeros for an empty inner dim", function()
    local z = tide.zeros({ 2, 0 }, "f64"):matmul(tide.zeros({ 0, 3 }, "f64"))
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, z:totable())
  end)

  it("raises clear errors", function()
    local a, b = tide.zeros { 3, 4 }, tide.zeros { 5, 6 }
    assert.has_error(function() a:matmul(b) end, "matmul: size mismatch, 3x4 @ 5x6")
    assert.has_error(function() tide.matmul(a, tide.zeros({ 4, 2 }, "f64")) end,
      "matmul: dtype mismatch, f32 @ f64")
    assert.has_error(function() tide.zeros({ 2, 2 }, "i32"):matmul(tide.zeros({ 2, 2 }, "i32")) end,
      "matmul: expected f32 or f64 tensors, got i32")
    assert.has_error(function() tide.tensor(2):matmul(a) end,
      "matmul: expected tensors of at least 1 dim, got scalar @ 3x4")
    assert.has_error(function() tide.zeros { 2, 3, 4 }:matmul(tide.zeros { 5, 4, 2 }) end,
      "matmul: batch dims of 2x3x4 and 5x4x2 cannot be broadcast")
    assert.has_error(function() tide.zeros { 3 }:matmul(tide.zeros { 4 }) end,
      "matmul: size mismatch, 3 @ 4")
    assert.has_error(function() tide.zeros { 2, 3, 4 }:mv(tide.zeros { 4 }) end,
      "mv: expected a 2-D matrix and a 1-D vector, got 2x3x4 and 4")
    assert.has_error(function() a:mv(tide.zeros { 5 }) end, "mv: size mismatch, 3x4 @ 5")
    assert.has_error(function() tide.zeros { 3 }:dot(tide.zeros { 4 }) end,
      "dot: expected two 1-D tensors of the same size, got 3 and 4")
    assert.has_error(function() tide.zeros { 3 }:dot(tide.zeros({ 3 }, "f64")) end,
      "dot: dtype mismatch, f32 @ f64")
    assert.has_error(function() a:matmul(nil) end)
  end)
end)

describe("addmm_ and addmv_", function()
  it("writes beta*C + alpha*A@B into C and returns C", function()
    local a, b = rand_matrix(4, 3), rand_matrix(3, 5)
    local c0 = rand_table(4, 5)
    local c = tide.tensor(c0, "f64")
    local r = c:addmm_(a, b, { beta = 0.5, alpha = -2 })
    assert.are.equal(c, r)
    local p = naive(a:totable(), b:totable())
    local want = {}
    for i = 1, 4 do
      want[i] = {}
      for j = 1, 5 do
        want[i][j] = 0.5 * c0[i][j] - 2 * p[i][j]
      end
    end
    assert_close(want, c:totable(), 1e-12)
    -- defaults beta = alpha = 1, on transposed operands
    local c2 = tide.zeros({ 5, 4 }, "f64")
    c2:addmm_(b:t(), a:t())
    assert_close(transpose(p), c2:totable(), 1e-12)
    c2:addmm_(b:t(), a:t(), { beta = 0 })
    assert_close(transpose(p), c2:totable(), 1e-12)
  end)

  it("writes into the transpose of a contiguous C, and refuses any other layout", function()
    local a, b = rand_matrix(3, 2), rand_matrix(2, 4)
    local store = tide.zeros({ 4, 3 }, "f64")
    store:t():addmm_(a, b)
    assert_close(transpose(naive(a:totable(), b:totable())), store:totable(), 1e-12)
    local cube = tide.zeros({ 3, 4, 2 }, "f64")
    assert.has_error(function() cube:select(3, 1):addmm_(a, b) end,
      "addmm_: the output must be contiguous (or the transpose of a contiguous matrix), got a 3x4 view with strides 8x2")
  end)

  it("scales C by beta alone when the inner dim is empty", function()
    local c = tide.tensor({ { 1, 2 }, { 3, 4 } }, "f64")
    c:addmm_(tide.zeros({ 2, 0 }, "f64"), tide.zeros({ 0, 2 }, "f64"), { beta = 3 })
    assert.are.same({ { 3, 6 }, { 9, 12 } }, c:totable())
    c:addmm_(tide.zeros({ 2, 0 }, "f64"), tide.zeros({ 0, 2 }, "f64"), { beta = 0 })
    assert.are.same({ { 0, 0 }, { 0, 0 } }, c:totable())
    local y = tide.tensor({ 1, 2 })
    y:addmv_(tide.zeros { 2, 0 }, tide.zeros { 0 }, { beta = -1 })
    assert.are.same({ -1, -2 }, y:totable())
  end)

  it("does y = beta*y + alpha*A@x with addmv_", function()
    local a = tide.tensor({ { 1, 2 }, { 3, 4 } }, "f64")
    local y = tide.tensor({ 1, 1 }, "f64")
    assert.are.equal(y, y:addmv_(a, tide.tensor({ 1, 1 }, "f64"), { beta = 2, alpha = 10 }))
    assert.are.same({ 32, 72 }, y:totable())
  end)

  it("raises clear errors", function()
    local a, b = tide.zeros { 3, 4 }, tide.zeros { 4, 2 }
    assert.has_error(function() tide.zeros { 3, 3 }:addmm_(a, b) end,
      "addmm_: output is 3x3, expected 3x2 for 3x4 @ 4x2")
    assert.has_error(function() tide.zeros { 3, 2 }:addmm_(a, tide.zeros { 5, 2 }) end,
      "addmm_: size mismatch, 3x4 @ 5x2")
    assert.has_error(function() tide.zeros({ 3, 2 }, "f64"):addmm_(a, b) end,
      "addmm_: dtype mismatch, output f64, inputs f32")
    assert.has_error(function() tide.zeros { 3, 2 }:addmm_(a, tide.zeros({ 4, 2 }, "f64")) end,
      "addmm_: dtype mismatch, f32 @ f64")
    assert.has_error(function() tide.zeros { 3, 2 }:addmm_(a, tide.zeros { 4 }) end,
      "addmm_: expected 2-D matrices, got 3x2 = 3x4 @ 4")
    assert.has_error(function() tide.zeros { 3, 2 }:addmm_(a, b, { gamma = 1 }) end,
      "addmm_: unknown option 'gamma' (expected one of: beta, alpha)")
    assert.has_error(function() tide.zeros { 3, 2 }:addmm_(a, b, { beta = "x" }) end,
      "addmm_: option 'beta' must be a number, got string")
    local m = tide.zeros { 4, 4 }
    assert.has_error(function() m:narrow(2, 1, 2):addmm_(m:narrow(2, 3, 2), tide.zeros { 2, 2 }) end,
      "addmm_: the output overlaps an input")
    assert.has_error(function() tide.zeros { 3 }:addmv_(a, tide.zeros { 4, 1 }) end,
      "addmv_: expected a 1-D output, a 2-D matrix and a 1-D vector, got 3 = 3x4 @ 4x1")
    assert.has_error(function() tide.zeros { 2 }:addmv_(a, tide.zeros { 4 }) end,
      "addmv_: output is 2, expected 3 for 3x4 @ 4")
  end)
end)

describe("tide.linalg", function()
  -- A random well-conditioned n x n matrix (diagonally dominant).
  local function rand_system(n)
    local t = rand_table(n, n)
    for i = 1, n do
      t[i][i] = t[i][i] + n
    end
    return tide.tensor(t, "f64")
  end

  it("is a table of functions", function()
    assert.are.equal("table", type(tide.linalg))
    for _, name in ipairs { "solve", "cholesky", "lstsq", "inv" } do
      assert.are.equal("function", type(tide.linalg[name]))
    end
  end)

  it("solves small systems by hand", function()
    local a = tide.tensor({ { 2, 1 }, { 1, 3 } }, "f64")
    assert_close({ 1, 2 }, tide.linalg.solve(a, tide.tensor({ 4, 7 }, "f64")):totable())
    assert_close({ { 1, 0 }, { 2, 1 } },
      tide.linalg.solve(a, tide.tensor({ { 4, 1 }, { 7, 3 } }, "f64")):totable())
    local x = tide.linalg.solve(tide.tensor { { 4, 0 }, { 0, 2 } }, tide.tensor { 2, 2 })
    assert.are.equal("f32", x:dtype())
    assert.are.same({ 0.5, 1 }, x:totable())
  end)

  it("recovers x from solve(A, A@x) on random data, leaving A and B alone", function()
    for _, n in ipairs { 1, 5, 40 } do
      local a = rand_system(n)
      local x = rand_matrix(n, 3)
      local b = a:matmul(x)
      local a_before, b_before = a:totable(), b:totable()
      assert_close(x:totable(), tide.linalg.solve(a, b):totable(), 1e-10)
      assert_close(x:t()[2]:totable(), tide.linalg.solve(a, a:mv(x:t()[2])):totable(), 1e-10)
      assert.are.same(a_before, a:totable())
      assert.are.same(b_before, b:totable())
      -- a transposed view solves the transposed system
      local xt = tide.linalg.solve(a:t(), a:t():matmul(x))
      assert_close(x:totable(), xt:totable(), 1e-10)
    end
  end)

  it("factors A = L·Lᵀ with cholesky", function()
    local l = tide.linalg.cholesky(tide.tensor({ { 4, 2 }, { 2, 3 } }, "f64"))
    assert_close({ { 2, 0 }, { 1, math.sqrt(2) } }, l:totable(), 1e-15)
    local m = rand_matrix(6, 6)
    local spd = m:matmul(m:t())
    for i = 1, 6 do
      spd:set_(i, i, spd:get(i, i) + 1)
    end
    local L = tide.linalg.cholesky(spd)
    assert_close(spd:totable(), L:matmul(L:t()):totable(), 1e-12)
    for i = 1, 6 do
      for j = i + 1, 6 do
        assert.are.equal(0, L:get(i, j))
      end
    end
    local l32 = tide.linalg.cholesky(spd:to("f32"))
    assert.are.equal("f32", l32:dtype())
    assert_close(L:totable(), l32:totable(), 1e-4)
  end)

  it("fits least squares with lstsq", function()
    -- a consistent overdetermined system is solved exactly
    local a = tide.tensor({ { 1, 0 }, { 0, 1 }, { 1, 1 } }, "f64")
    assert_close({ 2, 3 }, tide.linalg.lstsq(a, tide.tensor({ 2, 3, 5 }, "f64")):totable())
    -- on noisy data the answer satisfies the normal equations AᵀA x = Aᵀb
    local A, B = rand_matrix(30, 4), rand_matrix(30, 2)
    local x = tide.linalg.lstsq(A, B)
    assert.are.same({ 4, 2 }, x:shape())
    local normal = tide.linalg.solve(A:t():matmul(A), A:t():matmul(B))
    assert_close(normal:totable(), x:totable(), 1e-10)
    -- an underdetermined system gets the minimum-norm solution
    local under = tide.linalg.lstsq(tide.tensor({ { 1, 1 } }, "f64"), tide.tensor({ 2 }, "f64"))
    assert_close({ 1, 1 }, under:totable(), 1e-12)
  end)

  it("inverts with inv", function()
    local a = rand_system(5)
    local id = a:matmul(tide.linalg.inv(a)):totable()
    for i = 1, 5 do
      for j = 1, 5 do
        assert(math.abs(id[i][j] - (i == j and 1 or 0)) < 1e-12)
      end
    end
    assert_close({ { 0.5, 0 }, { 0, 0.25 } },
      tide.linalg.inv(tide.tensor({ { 2, 0 }, { 0, 4 } }, "f64")):totable())
  end)

  it("raises clear errors", function()
    local sing = tide.tensor({ { 1, 2 }, { 2, 4 } }, "f64")
    assert.has_error(function() tide.linalg.solve(sing, tide.tensor({ 1, 2 }, "f64")) end,
      "solve: matrix is singular (pivot 2 is zero)")
    assert.has_error(function() tide.linalg.inv(sing) end, "inv: matrix is singular (pivot 2 is zero)")
    assert.has_error(function() tide.linalg.cholesky(tide.tensor({ { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, -1 } }, "f64")) end,
      "cholesky: matrix is not positive definite (leading minor 3)")
    assert.has_error(function() tide.linalg.solve(tide.zeros { 3, 4 }, tide.zeros { 3 }) end,
      "solve: expected a square matrix, got 3x4")
    assert.has_error(function() tide.linalg.cholesky(tide.zeros { 3 }) end,
      "cholesky: expected a square matrix, got 3")
    assert.has_error(function() tide.linalg.inv(tide.zeros { 2, 3 }) end,
      "inv: expected a square matrix, got 2x3")
    assert.has_error(function() tide.linalg.solve(tide.zeros { 3, 3 }, tide.zeros { 4, 2 }) end,
      "solve: size mismatch, A is 3x3, B is 4x2 (expected 3 rows)")
    assert.has_error(function() tide.linalg.solve(tide.zeros { 2, 2 }, tide.zeros({ 2 }, "f64")) end,
      "solve: dtype mismatch, A is f32, B is f64")
    assert.has_error(function() tide.linalg.solve(tide.zeros({ 2, 2 }, "i64"), tide.zeros({ 2 }, "i64")) end,
      "solve: expected f32 or f64 tensors, got i64")
    assert.has_error(function() tide.linalg.lstsq(tide.zeros { 3 }, tide.zeros { 3 }) end,
      "lstsq: expected a 2-D matrix A, got 3")
    assert.has_error(function() tide.linalg.lstsq(tide.zeros { 3, 2 }, tide.zeros { 2 }) end,
      "lstsq: size mismatch, A is 3x2, B is 2 (expected 3 rows)")
    assert.has_error(function()
      tide.linalg.lstsq(tide.tensor({ { 1, 0 }, { 2, 0 }, { 3, 0 } }, "f64"), tide.tensor({ 1, 2, 3 }, "f64"))
    end, "lstsq: matrix does not have full rank (diagonal element 2 of its triangular factor is zero)")
    assert.has_error(function() tide.linalg.solve(tide.tensor({ { 0 / 0, 0 }, { 0, 1 } }, "f64"), tide.tensor({ 1, 1 }, "f64")) end,
      "solve: LAPACK dgesv rejected argument 4 (does the input hold NaN?)")
    assert.has_error(function() tide.linalg.solve(nil, tide.zeros { 2 }) end)
  end)
end)
