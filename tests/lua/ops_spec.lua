-- Elementwise ops from Lua: arithmetic and its metamethods, broadcasting, dtype rules, in-place
-- forms, unary math, comparisons, where, masked_fill, and every error they raise.
local tide = require "tide"

local DTYPES = { "f32", "f64", "i32", "i64", "u8" }

local function grid(dt)
  return tide.tensor({ { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { 9, 10, 11, 12 } }, dt)
end

-- deterministic pseudo-random values in [-4, 4) with a quarter step (exact in f32)
local function values(n, seed)
  local out, x = {}, seed or 7
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = (x % 32) / 4 - 4
  end
  return out
end

-- applies f elementwise to nested tables of the same shape
local function map2(f, a, b)
  if type(a) ~= "table" then return f(a, b) end
  local out = {}
  for i = 1, #a do out[i] = map2(f, a[i], type(b) == "table" and b[i] or b) end
  return out
end

local function near(a, b, tol)
  if type(a) == "table" then
    for i = 1, #a do if not near(a[i], b[i], tol) then return false end end
    return #a == #b
  end
  return a == b or math.abs(a - b) <= (tol or 1e-6) * math.max(1, math.abs(b))
end

describe("binary arithmetic", function()
  it("adds, subtracts, multiplies, divides and raises every dtype", function()
    for _, dt in ipairs(DTYPES) do
      local a = grid(dt)
      local b = tide.tensor({ { 2, 1, 2, 1 }, { 1, 2, 1, 2 }, { 2, 2, 1, 1 } }, dt)
      local ta, tb = a:totable(), b:totable()
      assert.are.same(map2(function(x, y) return x + y end, ta, tb), (a + b):totable())
      assert.are.same(map2(function(x, y) return x * y end, ta, tb), (a * b):totable())
      assert.are.same(map2(function(x, y) return math.tointeger(x ^ y) or x ^ y end, ta, tb),
        a:pow(b):totable())
      assert.are.same(map2(math.max, ta, tb), a:maximum(b):totable())
      assert.are.same(map2(math.min, ta, tb), a:minimum(b):totable())
      assert.are.equal(dt, (a + b):dtype())
      if dt ~= "u8" then
        assert.are.same(map2(function(x, y) return x - y end, ta, tb), (a - b):totable())
      end
      -- division is true division; integers give f32
      local q = a / b
      assert.are.equal((dt == "f64") and "f64" or "f32", q:dtype())
      assert.is_true(near(map2(function(x, y) return x / y end, ta, tb), q:totable()))
    end
  end)

  it("wraps integer overflow like two's complement", function()
    assert.are.same({ 252, 253, 254 }, (tide.tensor({ 1, 2, 3 }, "u8") - 5):totable())
    assert.are.same({ 200, 44 }, (tide.tensor({ 100, 200 }, "u8") + 100):totable())
    -- the result wraps; a scalar that has no value in the dtype is refused (as NumPy 2 does)
    assert.has_error(function() return tide.tensor({ 1 }, "u8") + 300 end,
      "add: 300 is out of range for u8")
    local big = tide.tensor({ math.maxinteger }, "i64")
    assert.are.same({ math.mininteger }, (big + 1):totable())
    assert.are.same({ 2 }, (big * 2 + 4):totable()) -- (2^64 - 2 + 4) mod 2^64
  end)

  it("raises integers to integer powers exactly, negative powers as torch does", function()
    local b = tide.tensor({ -2, 3, 1, -1, 0, 5 }, "i64")
    local e = tide.tensor({ 3, -1, -7, -3, 2, 20 }, "i64")
    assert.are.same({ -8, 0, 1, -1, 0, 95367431640625 }, b:pow(e):totable())
    assert.are.equal("i64", (b ^ 2):dtype())
    assert.are.equal("f32", (b ^ 0.5):dtype())
  end)

  it("promotes mixed dtypes to the wider one", function()
    local cases = {
      { "u8", "i32", "i32" }, { "i32", "i64", "i64" }, { "i64", "f32", "f32" },
      { "f32", "f64", "f64" }, { "u8", "f64", "f64" }, { "i32", "f32", "f32" },
    }
    for _, c in ipairs(cases) do
      local a, b = tide.tensor({ 1, 2 }, c[1]), tide.tensor({ 3, 4 }, c[2])
      assert.are.equal(c[3], (a + b):dtype())
      assert.are.equal(c[3], (b * a):dtype())
      assert.are.same({ 4, 6 }, (a + b):totable())
    end
  end)

  it("treats Lua integers and floats as torch treats Python ints and floats", function()
    local i = tide.tensor({ 1, 2, 3 }, "i32")
    assert.are.equal("i32", (i * 2):dtype())
    assert.are.equal("f32", (i * 0.5):dtype())
    assert.are.same({ 0.5, 1, 1.5 }, (i * 0.5):totable())
    assert.are.equal("f32", (i + 1.0):dtype())
    assert.are.equal("f64", (tide.tensor({ 1 }, "f64") * 2):dtype())
    -- an i64 tensor and a large integer stay exact
    local big = tide.tensor({ 1 }, "i64") + (2 ^ 60 // 1)
    assert.are.same({ (2 ^ 60 // 1) + 1 }, big:totable())
  end)

  it("puts a number on either side of + - * / ^", function()
    local a = tide.tensor { 1, 2, 4 }
    assert.are.same({ 11, 12, 14 }, (a + 10):totable())
    assert.are.same({ 11, 12, 14 }, (10 + a):totable())
    assert.are.same({ 9, 8, 6 }, (10 - a):totable())
    assert.are.same({ -9, -8, -6 }, (a - 10):totable())
    assert.are.same({ 3, 6, 12 }, (3 * a):totable())
    assert.are.same({ 4, 2, 1 }, (4 / a):totable())
    assert.are.same({ 0.5, 1, 2 }, (a / 2):totable())
    assert.are.same({ 2, 4, 16 }, (2 ^ a):totable())
    assert.are.same({ 1, 4, 16 }, (a ^ 2):totable())
    assert.are.same({ -1, -2, -4 }, (-a):totable())
    assert.are.same({ 3, 6, 12 }, a:mul(3):totable())
    assert.are.same({ -1, 0, 2 }, a:sub(2):totable())
  end)

  it("broadcasts NumPy-style, as an explicit expand would", function()
    local a = grid()
    local row = tide.tensor { 10, 20, 30, 40 }
    local col = tide.tensor { { 1 }, { 2 }, { 3 } }
    assert.are.same((a + row:expand(3, 4)):totable(), (a + row):totable())
    assert.are.same((a * col:expand(3, 4)):totable(), (a * col):totable())
    assert.are.same({ { 11, 21, 31, 41 }, { 12, 22, 32, 42 }, { 13, 23, 33, 43 } },
      (col + row):totable())
    assert.are.same({ 3, 4 }, (col + row):shape())
    local s = tide.tensor(5)                                      -- a 0-dim tensor
    assert.are.same((a + 5):totable(), (a + s):totable())
    local x = tide.tensor(values(24, 3)):view(2, 3, 4)
    local y = tide.tensor(values(4, 9)):view(1, 1, 4)
    assert.are.same((x - y:expand(2, 3, 4)):totable(), (x - y):totable())
  end)

  it("computes through strided views: transposed and narrowed inputs", function()
    local a = tide.tensor(values(12, 1)):view(3, 4)
    local b = tide.tensor(values(12, 2)):view(4, 3)
    local at, bt = a:t(), b:t()
    assert.is_false(at:is_contiguous())
    assert.are.same((at:contiguous() + b):totable(), (at + b):totable())
    assert.are.same((a * bt:contiguous()):totable(), (a * bt):totable())
    local n = a:narrow(2, 2, 2)
    assert.are.same((n:contiguous() - 1):totable(), (n - 1):totable())
    assert.are.same((n:contiguous() * n:contiguous()):totable(), (n * n):totable())
  end)

  it("agrees in place and out of place, and returns the receiver", function()
    for _, name in ipairs { "add", "sub", "mul", "div", "pow", "maximum", "minimum" } do
      local a = tide.tensor(values(12, 4)):view(3, 4):add(5)
      local b = tide.tensor(values(4, 5)):abs():add(1)
      local expect = a[name](a, b):totable()
      local r = a[name .. "_"](a, b)
      assert.are.equal(a, r)
      assert.is_true(near(expect, a:totable()), name)
    end
    local t = tide.tensor { 1, 2, 3 }
    assert.are.equal(t, t:add_(1))
    assert.are.same({ 2, 3, 4 }, t:totable())
    t:mul_(t)                                                     -- the same view is fine
    assert.are.same({ 4, 9, 16 }, t:totable())
    local tt = grid():t()                                         -- in place through a view
    tt:sub_(1)
    assert.are.same({ 0, 4, 8 }, tt[1]:totable())
  end)

  it("has the axpy form add(u, alpha) and sub(u, alpha)", function()
    local a, b = tide.tensor { 1, 2, 3 }, tide.tensor { 10, 20, 30 }
    assert.are.same({ 21, 42, 63 }, a:add(b, 2):totable())
    assert.are.same({ -4, -8, -12 }, a:sub(b, 0.5):totable())
    assert.are.same({ 1, 2, 3 }, a:totable())
    a:add_(b, -0.1)
    assert.is_true(near({ 0, 0, 0 }, a:totable(), 1e-6))
    assert.are.same({ 7, 8, 9 }, tide.tensor({ 1, 2, 3 }, "i32"):add(2, 3):totable())
    local m = tide.tensor { { 1, 1 }, { 2, 2 } }
    m:add_(tide.tensor { 1, 2 }, 10)                              -- broadcast axpy
    assert.are.same({ { 11, 21 }, { 12, 22 } }, m:totable())
  end)

  it("propagates NaN through maximum and minimum", function()
    local a = tide.tensor { 0 / 0, 1, 2 }
    local b = tide.tensor { 1, 0 / 0, 1 }
    local mx, mn = a:maximum(b):totable(), a:minimum(b):totable()
    assert.is_true(mx[1] ~= mx[1] and mx[2] ~= mx[2] and mx[3] == 2)
    assert.is_true(mn[1] ~= mn[1] and mn[2] ~= mn[2] and mn[3] == 1)
    assert.are.same({ 2, 5 }, tide.tensor({ 1, 5 }):max(tide.tensor { 2, 3 }):totable())
    assert.are.same({ 1, 3 }, tide.tensor({ 1, 5 }):min(tide.tensor { 2, 3 }):totable())
  end)

  it("raises clear errors", function()
    local a = grid()
    assert.has_error(function() return a:add(tide.zeros(5)) end,
      "add: shapes 3x4 and 5 cannot be broadcast (dim 2: 4 vs 5)")
    assert.has_error(function() return a + tide.zeros(5) end,
      "add: shapes 3x4 and 5 cannot be broadcast (dim 2: 4 vs 5)")
    assert.has_error(function() return tide.zeros(1, 4):add_(a) end,
      "add_: result shape 3x4 does not match the receiver 1x4")
    assert.has_error(function() return a:add("x") end, "add: expected a tensor or a number, got string")
    assert.has_error(function() return a + "x" end, "add: expected a tensor or a number, got string")
    assert.has_error(function() return {} * a end, "mul: expected a tensor or a number, got table")
    assert.has_error(function() return a:sub_(true) end, "sub_: expected a tensor or a number, got boolean")
    assert.has_error(function() return a:mul(a, 2) end,
      "mul: too many arguments (alpha is for add and sub only)")
    assert.has_error(function() return a:add(a, "x") end, "add: alpha must be a number, got string")
    local i = tide.tensor({ 1, 2 }, "i32")
    assert.has_error(function() return i:mul_(0.5) end,
      "mul_: result dtype f32 cannot be stored in the i32 receiver")
    assert.has_error(function() return i:div_(i) end,
      "div_: result dtype f32 cannot be stored in the i32 receiver")
    assert.has_error(function() return i:add_(tide.tensor { 1, 2 }) end,
      "add_: result dtype f32 cannot be stored in the i32 receiver")
    assert.has_error(function() return a:narrow(2, 1, 3):add_(a:narrow(2, 2, 3)) end,
      "add_: the argument overlaps the receiver in memory; clone() it first")
    assert.has_error(function() return a:add_(a[1]) end,
      "add_: the argument overlaps the receiver in memory; clone() it first")
    assert.has_error(function() return tide.tensor({ 1, 2 }):expand(3, 2):add_(1) end,
      "add_: the receiver has elements that share memory (an expanded view); clone() it first")
    local c = tide.zeros(2)
    c:close()
    assert.has_error(function() return a + c end, "attempt to use a closed tensor")
  end)
end)

describe("unary math", function()
  local x = tide.tensor { -2.5, -1, -0.5, 0, 0.5, 1.5, 3 }
  local xs = x:totable()

  local function check(name, f, tol)
    local want = {}
    for i, v in ipairs(xs) do want[i] = f(v) end
    local got = x[name](x):totable()
    for i = 1, #want do
      local w, g = want[i], got[i]
      assert.is_true((w ~= w and g ~= g) or near(g, w, tol or 1e-6), name .. " at " .. i)
    end
  end

  it("computes each op on f32 against math", function()
    check("neg", function(v) return -v end)
    check("abs", math.abs)
    check("relu", function(v) return v > 0 and v or 0 end)
    check("sqrt", function(v) return v < 0 and 0 / 0 or math.sqrt(v) end)
    check("exp", math.exp)
    check("log", function(v) return v < 0 and 0 / 0 or (v == 0 and -math.huge or math.log(v)) end)
    check("tanh", function(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end)
    check("sigmoid", function(v) return 1 / (1 + math.exp(-v)) end)
    check("floor", math.floor)
    check("ceil", math.ceil)
  end)

  it("rounds half to even, as torch and numpy", function()
    assert.are.same({ -2, -2, -0, 0, 2, 2, 3 },
      tide.tensor({ -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.6 }):round():totable())
  end)

  it("keeps integer dtypes where the result is an integer, gives f32 otherwise", function()
    local i = tide.tensor({ -4, 0, 9 }, "i32")
    assert.are.same({ 4, 0, 9 }, i:abs():totable())
    assert.are.equal("i32", i:abs():dtype())
    assert.are.same({ 0, 0, 9 }, i:relu():totable())
    assert.are.same({ 4, 0, -9 }, (-i):totable())
    assert.are.same({ -4, 0, 9 }, i:floor():totable())
    assert.are.equal("i32", i:round():dtype())
    for _, name in ipairs { "sqrt", "exp", "log", "tanh", "sigmoid" } do
      assert.are.equal("f32", i[name](i):dtype())
    end
    assert.are.same({ 0, 3 }, tide.tensor({ 0, 9 }, "i64"):sqrt():totable())
    assert.are.same({ 1, 254 }, tide.tensor({ 255, 2 }, "u8"):neg():totable())
    assert.are.same({ 255, 2 }, tide.tensor({ 255, 2 }, "u8"):abs():totable())
  end)

  it("works in place on the receiver, also through a strided view", function()
    local t = tide.tensor { { -1, 4 }, { 9, -16 } }
    local r = t:abs_()
    assert.are.equal(t, r)
    t:t():sqrt_()
    assert.are.same({ { 1, 2 }, { 3, 4 } }, t:totable())
    for _, name in ipairs { "neg", "abs", "relu", "exp", "tanh", "sigmoid", "floor", "ceil", "round" } do
      local a = tide.tensor(values(9, 11)):view(3, 3):t()
      local expect = a[name](a):totable()
      a[name .. "_"](a)
      assert.are.same(expect, a:totable(), name)
    end
  end)

  it("relu keeps NaN and is vectorised over large tensors too", function()
    local r = tide.tensor({ -1, 0 / 0, 2 }):relu():totable()
    assert.are.equal(0, r[1])
    assert.is_true(r[2] ~= r[2])
    local big = tide.tensor(values(1000, 5)):relu()
    assert.are.equal(0, big:min())
  end)

  it("clamps with either bound or both", function()
    local a = grid()
    assert.are.same({ { 3, 3, 3, 4 }, { 5, 6, 7, 8 }, { 9, 10, 10, 10 } }, a:clamp(3, 10):totable())
    assert.are.same({ 1, 2, 3, 4 }, a:clamp(nil, 4)[1]:totable())
    assert.are.same({ 7, 7, 7, 8 }, a:clamp(7)[2]:totable())
    assert.are.same({ 5, 5 }, tide.tensor({ 1, 9 }):clamp(6, 5):totable()) -- min > max gives max
    local i = tide.tensor({ 1, 5, 9 }, "i32")
    assert.are.equal("i32", i:clamp(2, 6):dtype())
    assert.are.same({ 2, 5, 6 }, i:clamp(2, 6):totable())
    assert.are.equal("f32", i:clamp(nil, 4.5):dtype())
    assert.are.same({ 1, 4.5, 4.5 }, i:clamp(nil, 4.5):totable())
    assert.are.same({ 1, 5, 9 }, tide.tensor({ 1, 5, 9 }, "u8"):clamp(-5, 300):totable())
    local t = tide.tensor { -3, 0, 3 }
    assert.are.equal(t, t:clamp_(-1, 1))
    assert.are.same({ -1, 0, 1 }, t:totable())
    local n = tide.tensor({ 0 / 0 }):clamp(0, 1):totable()
    assert.is_true(n[1] ~= n[1])
  end)

  it("raises clear errors", function()
    local i = tide.tensor({ 4 }, "i32")
    assert.has_error(function() return i:sqrt_() end,
      "sqrt_: result dtype f32 cannot be stored in the i32 receiver")
    assert.has_error(function() return i:clamp_(0.5, 2) end,
      "clamp_: result dtype f32 cannot be stored in the i32 receiver")
    assert.has_error(function() return i:clamp() end, "clamp: expected a min, a max or both, got neither")
    assert.has_error(function() return i:clamp("a") end, "clamp: min must be a number or nil, got string")
    assert.has_error(function() return i:clamp(1, {}) end, "clamp: max must be a number or nil, got table")
    assert.has_error(function() return tide.tensor({ 1 }):expand(2):relu_() end,
      "relu_: the receiver has elements that share memory (an expanded view); clone() it first")
  end)
end)

describe("comparisons, where and masked_fill", function()
  it("compares to u8 masks, against tensors and numbers", function()
    local a = tide.tensor { 1, 2, 3, 4 }
    local b = tide.tensor { 4, 2, 2, 4 }
    assert.are.same({ 0, 1, 0, 1 }, a:eq(b):totable())
    assert.are.same({ 1, 0, 1, 0 }, a:ne(b):totable())
    assert.are.same({ 1, 0, 0, 0 }, a:lt(b):totable())
    assert.are.same({ 1, 1, 0, 1 }, a:le(b):totable())
    assert.are.same({ 0, 0, 1, 0 }, a:gt(b):totable())
    assert.are.same({ 0, 1, 1, 1 }, a:ge(b):totable())
    assert.are.equal("u8", a:eq(b):dtype())
    assert.are.same({ 0, 0, 1, 1 }, a:gt(2):totable())
    assert.are.same({ 0, 0, 1, 1 }, a:ge(2.5):totable())
    -- broadcasting, and mixed dtypes compared in the promoted dtype
    local col = tide.tensor({ { 1 }, { 3 } }, "i32")
    assert.are.same({ { 0, 0, 0, 0 }, { 1, 1, 0, 0 } }, col:gt(a):totable())
    -- an integer tensor against a float, or a number its dtype cannot hold: exact
    local i = tide.tensor({ 4, 5 }, "i32")
    assert.are.same({ 1, 0 }, i:lt(4.5):totable())
    assert.are.same({ 0, 0, 0 }, tide.tensor({ 44, 0, 255 }, "u8"):eq(300):totable())
    assert.are.same({ 1, 1, 1 }, tide.tensor({ 44, 0, 255 }, "u8"):lt(300):totable())
    local nan = tide.tensor { 0 / 0 }
    assert.are.same({ 0 }, nan:eq(nan):totable())
    assert.are.same({ 1 }, nan:ne(nan):totable())
  end)

  it("compares strided views", function()
    local a = grid()
    assert.are.same(a:t():contiguous():gt(6):totable(), a:t():gt(6):totable())
  end)

  it("selects with tide.where, broadcasting tensors and numbers", function()
    local a = grid()
    local m = a:gt(6)
    assert.are.same({ { 0, 0, 0, 0 }, { 0, 0, 7, 8 }, { 9, 10, 11, 12 } }, tide.where(m, a, 0):totable())
    assert.are.same({ { -1, -2, -3, -4 }, { -5, -6, 7, 8 }, { 9, 10, 11, 12 } },
      tide.where(m, a, -a):totable())
    assert.are.equal("f32", tide.where(m, 1.5, 0):dtype())
    assert.are.equal("i64", tide.where(m, 1, 0):dtype())
    assert.are.same({ 1, 1, 1, 1 }, tide.where(m, 1, 0)[3]:totable())
    local i = tide.tensor({ 1, 2, 3, 4 }, "i32")
    assert.are.equal("i32", tide.where(m, i, 0):dtype())            -- row broadcast
    assert.are.same({ 0, 0, 3, 4 }, tide.where(m, i, 0)[2]:totable())
    assert.are.equal("f32", tide.where(m, i, 0.5):dtype())
    assert.are.equal("f64", tide.where(m, i, tide.zeros({ 1 }, "f64")):dtype())
    -- a column mask against a row
    local cm = tide.tensor({ { 1 }, { 0 } }, "u8")
    assert.are.same({ { 1, 2 }, { 0, 0 } }, tide.where(cm, tide.tensor { 1, 2 }, 0):totable())
  end)

  it("fills in place where a mask is set, broadcasting the mask", function()
    local a = grid()
    local r = a:masked_fill_(a:gt(10), 0)
    assert.are.equal(a, r)
    assert.are.same({ 9, 10, 0, 0 }, a[3]:totable())
    local b = grid()
    b:masked_fill_(tide.tensor({ 1, 0, 0, 1 }, "u8"), -1)
    assert.are.same({ { -1, 2, 3, -1 }, { -1, 6, 7, -1 }, { -1, 10, 11, -1 } }, b:totable())
    local c = grid()
    local d = c:masked_fill(c:lt(3), 99)
    assert.are.same({ 99, 99, 3, 4 }, d[1]:totable())
    assert.are.same({ 1, 2, 3, 4 }, c[1]:totable())
    local u = tide.tensor({ 0, 3, 0 }, "u8")
    u:masked_fill_(u, 7)                                         -- its own mask: the same view
    assert.are.same({ 0, 7, 0 }, u:totable())
    local t = grid():t()
    t:masked_fill_(t:eq(2), 0)
    assert.are.same({ 1, 0, 3, 4 }, t:t()[1]:totable())
  end)

  it("raises clear errors", function()
    local a = grid()
    assert.has_error(function() return a:masked_fill_(a, 1) end, "masked_fill_: expected a u8 mask, got f32")
    assert.has_error(function() return a:masked_fill_(1, 1) end,
      "masked_fill_: expected a u8 mask tensor, got number")
    assert.has_error(function() return a:masked_fill_(a:gt(1), "x") end,
      "masked_fill_: expected a number to fill with, got string")
    assert.has_error(function() return a:masked_fill_(tide.ones({ 5 }, "u8"), 1) end,
      "masked_fill_: shapes 3x4 and 5 cannot be broadcast (dim 2: 4 vs 5)")
    assert.has_error(function() return a[1]:masked_fill_(a:gt(1), 1) end,
      "masked_fill_: mask shape 3x4 does not broadcast to the receiver 4")
    local i = tide.tensor({ 1, 2 }, "i32")
    assert.has_error(function() return i:masked_fill_(i:gt(0), 0.5) end,
      "masked_fill_: value 0.5 does not fit dtype i32")
    assert.has_error(function() return tide.tensor({ 1 }, "u8"):masked_fill_(tide.ones({ 1 }, "u8"), 300) end,
      "masked_fill_: value 300 does not fit dtype u8")
    assert.has_error(function() return a:eq("x") end, "eq: expected a tensor or a number, got string")
    assert.has_error(function() return a:lt(tide.zeros(5)) end,
      "lt: shapes 3x4 and 5 cannot be broadcast (dim 2: 4 vs 5)")
    assert.has_error(function() return tide.where(a, a, a) end, "where: expected a u8 mask, got f32")
    assert.has_error(function() return tide.where(1, a, a) end, "where: expected a u8 mask tensor, got number")
    assert.has_error(function() return tide.where(a:gt(1), "x", a) end,
      "where: expected a tensor or a number, got string")
    assert.has_error(function() return tide.where(a:gt(1), a, tide.zeros(5)) end,
      "where: shapes 3x4 and 5 cannot be broadcast (dim 2: 4 vs 5)")
  end)

  it("takes numbers up to each integer dtype's exact ends, neither wrapping nor refusing them", function()
    local function fill(dt, v) return tide.zeros({ 1 }, dt):masked_fill_(tide.ones({ 1 }, "u8"), v)[1] end
    assert.are.equal(255, fill("u8", 255.0))
    assert.are.equal(2 ^ 31 - 1, fill("i32", 2.0 ^ 31 - 1))
    assert.are.equal(-2 ^ 31, fill("i32", -2.0 ^ 31))
    assert.are.equal(math.mininteger, fill("i64", -2.0 ^ 63))
    assert.has_error(function() fill("u8", 256.0) end, "masked_fill_: value 256 does not fit dtype u8")
    assert.has_error(function() fill("u8", -1.0) end, "masked_fill_: value -1 does not fit dtype u8")
    assert.has_error(function() fill("i32", 2.0 ^ 31) end,
      "masked_fill_: value 2147483648 does not fit dtype i32")
    -- 2^63 is (double)INT64_MAX rounded up: one past the end of i64
    assert.has_error(function() fill("i64", 2.0 ^ 63) end,
      "masked_fill_: value 9.2233720368547758e+18 does not fit dtype i64")
    -- a number past an integer dtype's range compares as itself, not wrapped into it (300 % 256 = 44)
    assert.are.same({ 0, 0 }, tide.tensor({ 0, 44 }, "u8"):eq(300):totable())
    assert.are.same({ 1, 1 }, tide.tensor({ 0, 44 }, "u8"):lt(300):totable())
    assert.are.same({ 0 }, tide.tensor({ 0 }, "i32"):eq(1 << 32):totable())
    -- a clamp bound past the range is the range's end
    assert.are.same({ 0, 7, 255 }, tide.tensor({ 0, 7, 255 }, "u8"):clamp(-5, 300):totable())
    assert.are.same({ -2 ^ 31, 5 }, tide.tensor({ -2 ^ 31, 5 }, "i32"):clamp(-2 ^ 40, 2 ^ 40):totable())
  end)
end)
