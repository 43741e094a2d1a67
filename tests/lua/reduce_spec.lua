-- Reductions from Lua: over every element (a Lua number) or one dim (a tensor), with keepdim,
-- checked against naive loops and identities, on every dtype and on strided views.
local tide = require "tide"

local DTYPES = { "f32", "f64", "i32", "i64", "u8" }

local function grid(dt)
  return tide.tensor({ { 1, 5, 3, 2 }, { 4, 2, 6, 6 }, { 0, 7, 1, 3 } }, dt)
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

local function near(a, b, tol)
  if type(a) == "table" then
    if #a ~= #b then return false end
    for i = 1, #a do if not near(a[i], b[i], tol) then return false end end
    return true
  end
  return a == b or math.abs(a - b) <= (tol or 1e-5) * math.max(1, math.abs(b))
end

-- the reduction of a 3-D tensor t along dim d (1-based) by a naive loop, as nested tables
local function naive3(t, d, f, init)
  local s = t:shape()
  local out_shape = {}
  for k = 1, 3 do if k ~= d then out_shape[#out_shape + 1] = s[k] end end
  local out = {}
  for i = 1, out_shape[1] do
    out[i] = {}
    for j = 1, out_shape[2] do
      local acc = init
      for k = 1, s[d] do
        local idx = d == 1 and { k, i, j } or d == 2 and { i, k, j } or { i, j, k }
        acc = f(acc, t:get(idx))
      end
      out[i][j] = acc
    end
  end
  return out
end

describe("reductions over every element", function()
  it("returns Lua numbers for each dtype", function()
    for _, dt in ipairs(DTYPES) do
      local t = grid(dt)
      assert.are.equal(40, t:sum())
      assert.are.equal(7, t:max())
      assert.are.equal(0, t:min())
      assert.are.equal(0, t:prod())
      assert.are.equal(40 / 12, t:mean())
      assert.are.equal(10, t:argmax())                          -- flat, 1-based
      assert.are.equal(9, t:argmin())
      local integer = dt ~= "f32" and dt ~= "f64"
      assert.are.equal(integer and "integer" or "float", math.type(t:sum()))
      assert.are.equal(integer and "integer" or "float", math.type(t:max()))
      assert.are.equal("float", math.type(t:mean()))
    end
    assert.are.equal(5040, tide.tensor({ 1, 2, 3, 4, 5, 6, 7 }, "i32"):prod())
  end)

  it("sums integers exactly in 64 bits", function()
    local big = tide.tensor({ 2 ^ 53 // 1, 1, 1 }, "i64")
    assert.are.equal((2 ^ 53 // 1) + 2, big:sum())
    assert.are.equal(255 * 1000, tide.full({ 1000 }, 255, "u8"):sum())
  end)

  it("accumulates f32 in double", function()
    local t = tide.full({ 1000000 }, 0.1)
    local f = string.unpack("f", string.pack("f", 0.1))           -- 0.1 rounded to f32
    assert.is_true(math.abs(t:sum() - 1000000 * f) < 1e-6)
    assert.is_true(math.abs(t:mean() - f) < 1e-12)
  end)

  it("agrees with naive loops on random data and strided views", function()
    local t = tide.tensor(values(60, 3)):view(3, 4, 5)
    local views = { t, t:permute(3, 1, 2), t:narrow(2, 2, 2), t:transpose(1, 3) }
    for _, v in ipairs(views) do
      local c = v:contiguous()
      local flat = c:view(-1):totable()
      local sum, sumsq, mx, mn, mxi, mni = 0, 0, -math.huge, math.huge, 0, 0
      for i, x in ipairs(flat) do
        sum, sumsq = sum + x, sumsq + x * x
        if x > mx then mx, mxi = x, i end
        if x < mn then mn, mni = x, i end
      end
      local n = #flat
      assert.is_true(near(v:sum(), sum))
      assert.is_true(near(v:mean(), sum / n))
      assert.are.equal(mx, v:max())
      assert.are.equal(mn, v:min())
      assert.are.equal(mxi, v:argmax())
      assert.are.equal(mni, v:argmin())
      assert.is_true(near(v:norm(), math.sqrt(sumsq)))
      local var = (sumsq - sum * sum / n) / (n - 1)
      assert.is_true(near(v:var(), var))
      assert.is_true(near(v:std(), math.sqrt(var)))
    end
  end)

  it("keeps the first of equal extremes and propagates NaN", function()
    assert.are.equal(2, tide.tensor({ 1, 9, 9, 2 }):argmax())
    assert.are.equal(1, tide.tensor({ 1, 9, 1 }):argmin())
    local nan = tide.tensor { 1, 0 / 0, 9, 0 / 0 }
    assert.is_true(nan:max() ~= nan:max())
    assert.is_true(nan:min() ~= nan:min())
    assert.are.equal(2, nan:argmax())
    assert.are.equal(2, nan:argmin())
    local big = tide.tensor(values(1000, 1))
    big[700] = 0 / 0                                            -- the vectorised path too
    assert.is_true(big:max() ~= big:max())
    assert.are.equal(700, big:argmax())
  end)

  it("handles empty tensors", function()
    local e = tide.zeros(0)
    assert.are.equal(0, e:sum())
    assert.are.equal(1, e:prod())
    assert.are.equal(0, e:norm())
    assert.is_true(e:mean() ~= e:mean())
    assert.is_true(e:var() ~= e:var())
    assert.is_true(e:var { unbiased = false } ~= e:var { unbiased = false })
    local v0 = tide.zeros(0, 2):var(1):totable()
    assert.is_true(v0[1] ~= v0[1] and v0[2] ~= v0[2])
    assert.are.equal(0, tide.zeros({ 0 }, "i32"):sum())
    assert.are.same({ 0, 0, 0 }, tide.zeros(0, 3):sum(1):totable())
    assert.are.same({ 0 }, tide.zeros(3, 0):max(1):shape())
  end)
end)

describe("reductions along a dim", function()
  it("sums, averages and multiplies along each dim, negative dims from the end", function()
    local t = grid()
    assert.are.same({ 5, 14, 10, 11 }, t:sum(1):totable())
    assert.are.same({ 11, 18, 11 }, t:sum(2):totable())
    assert.are.same(t:sum(2):totable(), t:sum(-1):totable())
    assert.are.same(t:sum(1):totable(), t:sum(-2):totable())
    assert.are.same({ 11 / 4, 18 / 4, 11 / 4 }, t:mean(2):totable())
    assert.are.same({ 0, 70, 18, 36 }, t:prod(1):totable())
  end)

  it("keeps the dim with {keepdim = true}", function()
    local t = grid()
    assert.are.same({ 1, 4 }, t:sum(1, { keepdim = true }):shape())
    assert.are.same({ { 11 }, { 18 }, { 11 } }, t:sum(2, { keepdim = true }):totable())
    assert.are.same({ 3, 1 }, t:mean(-1, { keepdim = true }):shape())
    local v, i = t:max(2, { keepdim = true })
    assert.are.same({ { 5 }, { 6 }, { 7 } }, v:totable())
    assert.are.same({ { 2 }, { 3 }, { 2 } }, i:totable())
    assert.are.same({ 1, 4 }, t:argmin(1, { keepdim = true }):shape())
    assert.are.same({ 3, 1 }, t:std(2, { keepdim = true, unbiased = false }):shape())
    assert.are.same({ 1, 4 }, t:norm(2, 1, { keepdim = true }):shape())
    assert.are.same({ 3, 4 }, t:sum(1, { keepdim = false }):add(t):shape())
  end)

  it("gives values and 1-based indices for max and min", function()
    local t = grid()
    local v, i = t:max(1)
    assert.are.same({ 4, 7, 6, 6 }, v:totable())
    assert.are.same({ 2, 3, 2, 2 }, i:totable())
    assert.are.equal("i64", i:dtype())
    v, i = t:min(2)
    assert.are.same({ 1, 2, 0 }, v:totable())
    assert.are.same({ 1, 2, 1 }, i:totable())
    v, i = t:max(2)                                             -- ties: the first
    assert.are.same({ 2, 3, 2 }, i:totable())
    assert.are.same(i:totable(), t:argmax(2):totable())
    assert.are.same(t:min(1):totable(), ({ t:min(1) })[1]:totable())
    assert.are.same({ 3, 2, 3, 1 }, t:argmin(1):totable())
  end)

  it("keeps the dtype for max/min and follows torch for the others", function()
    for _, dt in ipairs(DTYPES) do
      local t = grid(dt)
      local float = dt == "f32" or dt == "f64"
      assert.are.equal(dt, t:max(1):dtype())
      assert.are.equal(float and dt or "i64", t:sum(1):dtype())
      assert.are.equal(float and dt or "i64", t:prod(1):dtype())
      assert.are.equal(float and dt or "f32", t:mean(1):dtype())
      assert.are.equal(float and dt or "f32", t:var(1):dtype())
      assert.are.equal(float and dt or "f32", t:norm(2, 1):dtype())
      assert.are.equal("i64", t:argmax(1):dtype())
      assert.are.same({ 5, 14, 10, 11 }, t:sum(1):totable())
    end
    assert.are.same({ 600, 6 }, tide.tensor({ { 200, 200, 200 }, { 1, 2, 3 } }, "u8"):sum(2):totable())
  end)

  it("equals a naive loop along every dim, on contiguous and strided tensors", function()
    local base = tide.tensor(values(60, 5)):view(3, 4, 5)
    local views = { base, base:permute(2, 3, 1), base:transpose(1, 3), base:narrow(3, 2, 3) }
    local add = function(a, x) return a + x end
    local mul = function(a, x) return a * x end
    for _, v in ipairs(views) do
      for d = 1, 3 do
        assert.is_true(near(naive3(v, d, add, 0), v:sum(d):totable()))
        assert.is_true(near(naive3(v, d, mul, 1), v:prod(d):totable()))
        assert.are.same(naive3(v, d, math.max, -math.huge), v:max(d):totable())
        assert.are.same(naive3(v, d, math.min, math.huge), v:min(d):totable())
        local n = v:size(d)
        local sumsq = naive3(v, d, function(a, x) return a + x * x end, 0)
        local sum = naive3(v, d, add, 0)
        local var, l1 = {}, naive3(v, d, function(a, x) return a + math.abs(x) end, 0)
        for i = 1, #sum do
          var[i] = {}
          for j = 1, #sum[i] do
            var[i][j] = (sumsq[i][j] - sum[i][j] ^ 2 / n) / (n - 1)
            sumsq[i][j] = math.sqrt(sumsq[i][j])
          end
        end
        assert.is_true(near(var, v:var(d):totable(), 1e-4))
        assert.is_true(near(sumsq, v:norm(2, d):totable()))
        assert.is_true(near(l1, v:norm(1, d):totable()))
        -- the index of the max picks out the max
        local vals, idx = v:max(d)
        local vt, it = vals:totable(), idx:totable()
        for i = 1, #vt do
          for j = 1, #vt[i] do
            local at = d == 1 and { it[i][j], i, j } or d == 2 and { i, it[i][j], j } or { i, j, it[i][j] }
            assert.are.equal(vt[i][j], v:get(at))
          end
        end
      end
    end
  end)

  it("reduces large rows and columns (the vectorised paths) correctly", function()
    local m = tide.tensor(values(300 * 70, 9)):view(300, 70)
    local rows, cols = m:sum(2):totable(), m:sum(1):totable()
    local mt = m:totable()
    for i = 1, 300, 37 do
      local s = 0
      for j = 1, 70 do s = s + mt[i][j] end
      assert.is_true(near(s, rows[i]))
    end
    for j = 1, 70, 9 do
      local s = 0
      for i = 1, 300 do s = s + mt[i][j] end
      assert.is_true(near(s, cols[j]))
    end
    assert.are.same(m:t():contiguous():sum(2):totable(), m:sum(1):totable())
    assert.are.same(m:t():sum(2):totable(), m:sum(1):totable())
    local v1, i1 = m:max(1)
    local v2, i2 = m:t():contiguous():max(2)
    assert.are.same(v2:totable(), v1:totable())
    assert.are.same(i2:totable(), i1:totable())
  end)
end)

describe("var, std and norm identities", function()
  local x = tide.tensor(values(50, 13), "f64")
  local n = 50

  it("var is the mean of squares minus the squared mean, Bessel-corrected by default", function()
    local biased = (x * x):mean() - x:mean() ^ 2
    assert.is_true(near(x:var { unbiased = false }, biased, 1e-12))
    assert.is_true(near(x:var(), biased * n / (n - 1), 1e-12))
    assert.is_true(near(x:std(), math.sqrt(x:var()), 1e-12))
    assert.is_true(near(x:std { unbiased = false }, math.sqrt(biased), 1e-12))
  end)

  it("var ignores shifts and scales by the square", function()
    assert.is_true(near((x + 1000):var(), x:var(), 1e-9))
    assert.is_true(near((x * 3):var(), 9 * x:var(), 1e-12))
    assert.are.equal(0, tide.full({ 10 }, 7):var())
    assert.is_true(tide.tensor({ 5 }):var() ~= tide.tensor({ 5 }):var())   -- n - 1 = 0
    assert.are.equal(0, tide.tensor({ 5 }):var { unbiased = false })
  end)

  it("var along a dim matches var of each slice", function()
    local m = x:view(5, 10)
    local byrow = m:var(2, { unbiased = false }):totable()
    for i = 1, 5 do
      assert.is_true(near(byrow[i], m[i]:var { unbiased = false }, 1e-12))
    end
    assert.is_true(near(m:std(1):totable()[3], m:select(2, 3):std(), 1e-12))
  end)

  it("norms agree with sums and maxima", function()
    assert.is_true(near(x:norm() ^ 2, (x * x):sum(), 1e-12))
    assert.is_true(near(x:norm(1), x:abs():sum(), 1e-12))
    assert.are.equal(x:abs():max(), x:norm(math.huge))
    assert.are.equal(x:ne(0):to("i64"):sum(), x:norm(0))
    assert.is_true(near(x:norm(3), (x:abs() ^ 3):sum() ^ (1 / 3), 1e-12))
    assert.is_true(near(x:norm(2.5), (x:abs() ^ 2.5):sum() ^ (1 / 2.5), 1e-12))
    local m = x:view(5, 10)
    assert.is_true(near(m:norm(2, 2):totable(), (m * m):sum(2):sqrt():totable(), 1e-12))
  end)
end)

describe("reduction errors", function()
  local t = grid()

  it("names the op, the dim and the valid range", function()
    assert.has_error(function() return t:sum(3) end, "sum: dim 3 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() return t:mean(-3) end, "mean: dim -3 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() return t:max(0) end, "max: dim 0 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() return t:argmin(5) end, "argmin: dim 5 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() return t:norm(2, 3) end, "norm: dim 3 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() return t:var(3) end, "var: dim 3 out of range (expected 1..2 or -2..-1)")
  end)

  it("refuses unknown or ill-typed options", function()
    assert.has_error(function() return t:sum(1, { keepdims = true }) end,
      "sum: unknown option 'keepdims' (expected one of: keepdim)")
    assert.has_error(function() return t:var(1, { unbiassed = false }) end,
      "var: unknown option 'unbiassed' (expected one of: keepdim, unbiased)")
    assert.has_error(function() return t:sum(1, { keepdim = 1 }) end,
      "sum: option keepdim must be a boolean, got number")
    assert.has_error(function() return t:sum { keepdim = true } end, "sum: keepdim needs a dim")
    assert.has_error(function() return t:max(1, { unbiased = true }) end,
      "max: unknown option 'unbiased' (expected one of: keepdim)")
  end)

  it("refuses empty max/min and bad norms", function()
    assert.has_error(function() return tide.zeros(0):max() end, "max: cannot reduce an empty tensor (shape 0)")
    assert.has_error(function() return tide.zeros(0, 2):min() end, "min: cannot reduce an empty tensor (shape 0x2)")
    assert.has_error(function() return tide.zeros(0):argmax() end, "argmax: cannot reduce an empty tensor (shape 0)")
    assert.has_error(function() return tide.zeros(0, 3):max(1) end, "max: cannot reduce dim 1 of size 0 (shape 0x3)")
    assert.has_error(function() return tide.zeros(0, 3):argmin(1) end,
      "argmin: cannot reduce dim 1 of size 0 (shape 0x3)")
    assert.has_error(function() return t:norm(-1) end, "norm: p must be >= 0 (or inf), got -1")
    assert.has_error(function() return t:norm(-1, 1) end, "norm: p must be >= 0 (or inf), got -1")
  end)
end)
