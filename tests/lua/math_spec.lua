-- The % and // metamethods (remainder and floor_divide, Lua's own floored operators), fmod,
-- sin/cos, isnan/isinf/isfinite, nan_to_num and any/all, each checked against Lua's operators
-- or a plain loop for every dtype where it means something, and the rule that a function
-- refuses arguments it does not take.
local tide = require "tide"

local DTYPES = { "f32", "f64", "i32", "i64", "u8" }

-- applies f elementwise to nested tables of one shape (b a table or a number)
local function map2(f, a, b)
  if type(a) ~= "table" then return f(a, b) end
  local out = {}
  for i = 1, #a do out[i] = map2(f, a[i], type(b) == "table" and b[i] or b) end
  return out
end

-- signed values for signed dtypes, others for u8; divisors never 0
local function operands(dt)
  if dt == "u8" then
    return { { 7, 200, 0, 13 }, { 5, 9, 255, 1 } }, { { 2, 7, 3, 13 }, { 4, 4, 17, 1 } }
  end
  return { { 7, -7, 0, 13 }, { -13, 9, -1, 5 } }, { { 2, 2, -3, -4 }, { 4, -4, 7, -1 } }
end

-- C's fmod on integers (truncated: the sign of the dividend)
local function ifmod(x, y)
  local r = math.fmod(x, y)
  return math.tointeger(r) or r
end

describe("% and //", function()
  it("equal Lua's floored operators for tensors and scalars of every dtype", function()
    for _, dt in ipairs(DTYPES) do
      local ta, tb = operands(dt)
      local a, b = tide.tensor(ta, dt), tide.tensor(tb, dt)
      local rem = map2(function(x, y) return x % y end, ta, tb)
      local fdiv = map2(function(x, y) return x // y end, ta, tb)
      if dt == "f32" or dt == "f64" then
        rem = map2(function(x) return x + 0.0 end, rem)
        fdiv = map2(function(x) return x + 0.0 end, fdiv)
      end
      assert.are.same(rem, (a % b):totable())
      assert.are.same(fdiv, (a // b):totable())
      assert.are.same(rem, a:remainder(b):totable())
      assert.are.same(fdiv, a:floor_divide(b):totable())
      assert.are.same(map2(ifmod, ta, tb), a:fmod(b):totable())
      assert.are.equal(dt, (a // b):dtype())
      -- a == b * (a // b) + a % b
      assert.are.same(a:totable(), (b * (a // b) + a % b):totable())
      -- scalars on either side
      assert.are.same(map2(function(x) return x % 3 end, ta), (a % 3):totable())
      assert.are.same(map2(function(x) return x // 3 end, ta), (a // 3):totable())
      assert.are.same(map2(function(x) return 100 % x end, tb), (100 % b):totable())
      -- in place
      local c = a:clone()
      assert.are.equal(c, c:floor_divide_(b))
      assert.are.same(fdiv, c:totable())
    end
  end)

  it("follows IEEE for floats: fractions, the sign of the divisor, x % 0 is NaN", function()
    local a = tide.tensor({ -7.5, 7.5, 2.25, -0.5 }, "f64")
    assert.are.same({ -7.5 % 2, 7.5 % 2, 2.25 % 2, -0.5 % 2 }, (a % 2):totable())
    assert.are.same({ -7.5 % -2, 7.5 % -2, 2.25 % -2, -0.5 % -2 }, (a % -2):totable())
    assert.are.same({ -7.5 // 2, 7.5 // 2, 2.25 // 2, -0.5 // 2 }, (a // 2):totable())
    assert.are.same({ math.fmod(-7.5, 2), math.fmod(7.5, 2), math.fmod(2.25, 2), math.fmod(-0.5, 2) },
      a:fmod(2):totable())
    local z = (a % 0):totable()
    for i = 1, 4 do assert.is_true(z[i] ~= z[i]) end
    -- an integer tensor with a float scalar is f32, as for every other op
    assert.are.equal("f32", (tide.tensor({ 7 }, "i32") % 2.5):dtype())
    assert.are.same({ 2 }, (tide.tensor({ 7 }, "i32") % 2.5):totable())
  end)

  it("wraps the most negative integer // -1, as negation does", function()
    local m = math.mininteger
    assert.are.same({ m, -5 }, (tide.tensor({ m, 5 }, "i64") // -1):totable())
    assert.are.same({ 0, 0 }, (tide.tensor({ m, 5 }, "i64") % -1):totable())
  end)

  it("refuses an integer division by zero", function()
    local a = tide.tensor({ 1, 2 }, "i32")
    assert.has_error(function() return a % 0 end, "remainder: integer division by zero")
    assert.has_error(function() return a // tide.tensor({ 1, 0 }, "i32") end,
      "floor_divide: integer division by zero")
    assert.has_error(function() return a:fmod(tide.tensor({ 0, 1 }, "u8")) end,
      "fmod: integer division by zero")
    assert.has_error(function() return 5 // tide.tensor({ 1, 0 }, "i64") end,
      "floor_divide: integer division by zero")
    assert.has_error(function() return a:remainder(a, 1) end,
      "remainder: too many arguments (alpha is for add and sub only)")
  end)
end)

describe("sin and cos", function()
  it("equal math.sin and math.cos, integers giving f32", function()
    local xs = { -3, -0.5, 0, 1, 2.5, 100 }
    local t = tide.tensor(xs, "f64")
    local s, c = t:sin():totable(), t:cos():totable()
    for i, x in ipairs(xs) do
      assert.are.equal(math.sin(x), s[i])
      assert.are.equal(math.cos(x), c[i])
    end
    local i32 = tide.tensor({ 0, 1, 2 }, "i32"):sin()
    assert.are.equal("f32", i32:dtype())
    for i, x in ipairs { 0, 1, 2 } do assert(math.abs(i32:totable()[i] - math.sin(x)) < 1e-6) end
    local a = tide.tensor({ 0.25, 1 }, "f32")
    assert.are.equal(a, a:cos_())
    assert(math.abs(a:totable()[1] - math.cos(0.25)) < 1e-7)
  end)
end)

describe("isnan, isinf, isfinite and nan_to_num", function()
  local inf, nan = math.huge, 0 / 0
  it("classify each element as a plain loop does", function()
    for _, dt in ipairs { "f32", "f64" } do
      local xs = { 1, nan, inf, -inf, 0, -2.5 }
      local t = tide.tensor(xs, dt)
      local want_nan, want_inf, want_fin = {}, {}, {}
      for i, x in ipairs(xs) do
        want_nan[i] = x ~= x and 1 or 0
        want_inf[i] = (x == inf or x == -inf) and 1 or 0
        want_fin[i] = (x == x and x ~= inf and x ~= -inf) and 1 or 0
      end
      assert.are.same(want_nan, t:isnan():totable())
      assert.are.same(want_inf, t:isinf():totable())
      assert.are.same(want_fin, t:isfinite():totable())
      assert.are.equal("u8", t:isnan():dtype())
      local fixed = t:nan_to_num():totable()
      local big = dt == "f64" and 1.7976931348623157e308 or 3.4028234663852886e38
      assert.are.same({ 1, 0, big, -big, 0, -2.5 }, fixed)
      assert.are.same({ 1, 9, 7, -7, 0, -2.5 }, t:nan_to_num(9, 7, -7):totable())
      -- views classify as their elements
      assert.are.same({ 1, 0, 0 }, tide.tensor({ { nan, 1 }, { 2, 3 }, { 4, 5 } }, dt):t()[1]:isnan():totable())
    end
    for _, dt in ipairs { "i32", "i64", "u8" } do
      local t = tide.tensor({ 1, 2 }, dt)
      assert.are.same({ 0, 0 }, t:isnan():totable())
      assert.are.same({ 0, 0 }, t:isinf():totable())
      assert.are.same({ 1, 1 }, t:isfinite():totable())
      assert.are.same({ 1, 2 }, t:nan_to_num():totable())
    end
  end)

  it("refuses a non-number replacement and extra arguments", function()
    local t = tide.tensor({ 1 }, "f32")
    assert.has_error(function() t:nan_to_num("x") end,
      "nan_to_num: nan must be a number or nil, got string")
    assert.has_error(function() t:isnan(1) end, "isnan: too many arguments (expected at most 1, got 2)")
  end)
end)

describe("any and all", function()
  it("agree with a plain loop over all elements and along each dim", function()
    local rows = { { 0, 1, 0 }, { 0, 0, 0 }, { 2, 3, 4 } }
    for _, dt in ipairs(DTYPES) do
      local t = tide.tensor(rows, dt)
      assert.is_true(t:any())
      assert.is_false(t:all())
      assert.is_true((t + 1):all())
      assert.is_false(tide.zeros({ 2, 2 }, dt):any())
      local any1, all1, any2, all2 = {}, {}, {}, {}
      for j = 1, 3 do
        any1[j], all1[j] = 0, 1
        for i = 1, 3 do
          if rows[i][j] ~= 0 then any1[j] = 1 else all1[j] = 0 end
        end
      end
      for i = 1, 3 do
        any2[i], all2[i] = 0, 1
        for j = 1, 3 do
          if rows[i][j] ~= 0 then any2[i] = 1 else all2[i] = 0 end
        end
      end
      assert.are.same(any1, t:any(1):totable())
      assert.are.same(all1, t:all(1):totable())
      assert.are.same(any2, t:any(-1):totable())
      assert.are.same(all2, t:all(2):totable())
      assert.are.same({ { 1 }, { 0 }, { 1 } }, t:any(2, { keepdim = true }):totable())
    end
    -- NaN is true; an empty tensor has none and all
    assert.is_true(tide.tensor({ 0 / 0 }, "f64"):all())
    assert.is_false(tide.zeros { 0 }:any())
    assert.is_true(tide.zeros { 0 }:all())
  end)

  it("raises clear errors", function()
    local t = tide.zeros { 2, 3 }
    assert.has_error(function() t:any(3) end, "any: dim 3 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() t:all({ keepdim = true }) end, "all: keepdim needs a dim")
    assert.has_error(function() t:any(1, {}, 3) end, "any: too many arguments (expected at most 3, got 4)")
  end)
end)

describe("extra arguments", function()
  it("are refused by methods and functions alike", function()
    local a = tide.zeros { 2, 2 }
    assert.has_error(function() a:exp(1) end, "exp: too many arguments (expected at most 1, got 2)")
    assert.has_error(function() a:relu_(true) end, "relu_: too many arguments (expected at most 1, got 2)")
    assert.has_error(function() a:eq(a, a) end, "eq: too many arguments (expected at most 2, got 3)")
    assert.has_error(function() a:add(a, 1, 2) end, "add: too many arguments (expected at most 3, got 4)")
    assert.has_error(function() a:sum(1, {}, 2) end, "sum: too many arguments (expected at most 3, got 4)")
    assert.has_error(function() a:clamp(0, 1, 2) end, "clamp: too many arguments (expected at most 3, got 4)")
    assert.has_error(function() tide.where(a:eq(0), a, a, a) end,
      "where: too many arguments (expected at most 3, got 4)")
    assert.has_error(function() a:matmul(a, a) end, "matmul: too many arguments (expected at most 2, got 3)")
    assert.has_error(function() tide.linalg.solve(a, a, a) end, "solve: too many arguments (expected at most 2, got 3)")
    -- unary minus still works (Lua passes its operand twice)
    assert.are.same({ { -0.0, -0.0 }, { -0.0, -0.0 } }, (-a):totable())
  end)
end)
