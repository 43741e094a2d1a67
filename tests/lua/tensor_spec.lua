-- Tensors from Lua: creation, views, element access, copies, memory, and their errors.
local tide = require "tide"

describe("tensor creation", function()
  it("makes zeros, ones, full and empty of every dtype", function()
    for _, dt in ipairs { "f32", "f64", "i32", "i64", "u8" } do
      local z = tide.zeros({ 2, 3 }, dt)
      assert.are.equal(dt, z:dtype())
      assert.are.same({ 2, 3 }, z:shape())
      assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, z:totable())
      assert.are.same({ 1, 1 }, tide.ones(2, dt):totable())
      assert.are.same({ { 7 } }, tide.full({ 1, 1 }, 7, dt):totable())
      assert.are.equal(4, tide.empty(4, dt):numel())
    end
  end)

  it("builds a tensor from a nested table, f32 by default", function()
    local t = tide.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    assert.are.equal("f32", t:dtype())
    assert.are.same({ 2, 3 }, t:shape())
    assert.are.equal(6, t:get(2, 3))
    assert.are.equal(5, t:get { 2, 2 })
    local i = tide.tensor({ 2 ^ 40 + 1 }, "i64")
    assert.are.equal(math.tointeger(2 ^ 40 + 1), i[1])
  end)

  it("rejects ragged tables and bad entries", function()
    assert.has_error(function() tide.tensor { { 1, 2 }, { 3 } } end,
      "tensor: ragged nested table (dim 2 has 1 entries here, 2 at its first)")
    assert.has_error(function() tide.tensor { 1, "x" } end,
      "tensor: expected a number at depth 1, got string")
    assert.has_error(function() tide.zeros({ 2 }, "f8") end,
      "unknown dtype 'f8' (expected f32, f64, i32, i64, u8, f16 or bf16)")
    assert.has_error(function() tide.zeros({ 2, -1 }) end, "tensor: negative size -1 in dim 2")
  end)
end)

describe("tensor views", function()
  local function grid()
    return tide.tensor { { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { 9, 10, 11, 12 } }
  end

  it("selects rows with t[i] and numbers from 1-D tensors", function()
    local t = grid()
    assert.are.same({ 5, 6, 7, 8 }, t[2]:totable())
    assert.are.equal(7, t[2][3])
    assert.are.equal(12, t[-1][-1])
    assert.are.equal(3, #t)
  end)

  it("shares storage: writing through a view changes the source", function()
    local t = grid()
    local col = t:narrow(2, 2, 2)
    assert.is_true(col:is_view())
    assert.is_false(col:is_contiguous())
    col:fill_(0)
    assert.are.same({ 1, 0, 0, 4 }, t[1]:totable())
    t[3] = 9
    assert.are.same({ 9, 9, 9, 9 }, t[3]:totable())
    t:select(2, 1):set_(2, -5)
    assert.are.equal(-5, t:get(2, 1))
  end)

  it("transposes, permutes and reshapes", function()
    local t = grid()
    assert.are.same({ { 1, 5, 9 }, { 2, 6, 10 }, { 3, 7, 11 }, { 4, 8, 12 } }, t:t():totable())
    assert.are.same(t:t():totable(), t:transpose(1, 2):totable())
    local p = tide.zeros { 2, 3, 4 }
    assert.are.same({ 4, 2, 3 }, p:permute(3, 1, 2):shape())
    assert.are.same({ 4, 3 }, t:view(4, 3):shape())
    assert.are.same({ 12 }, t:view(-1):shape())
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, t:t():t():reshape(12):totable())
    assert.are.same({ 1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12 }, t:t():reshape(12):totable())
    assert.are.same({ 1, 3, 4 }, t:unsqueeze(1):shape())
    assert.are.same({ 3, 4, 1 }, t:unsqueeze(-1):shape())
    assert.are.same({ 3, 4 }, t:unsqueeze(1):squeeze():shape())
    assert.are.same({ { 1, 2 }, { 1, 2 } }, tide.tensor({ 1, 2 }):expand(2, 2):totable())
  end)

  it("copies, clones and casts", function()
    local t = grid()
    local c = t:t():contiguous()
    assert.is_true(c:is_contiguous())
    assert.are.same(t:t():totable(), c:totable())
    local k = t:clone()
    k:zero_()
    assert.are.equal(1, t:get(1, 1))
    local i = tide.tensor({ 1.7, -2.2 }):to("i32")
    assert.are.equal("i32", i:dtype())
    assert.are.same({ 1, -2 }, i:totable())
    local dst = tide.zeros({ 2, 3 }, "f64")
    dst:copy_(tide.tensor { 1, 2, 3 })
    assert.are.same({ { 1, 2, 3 }, { 1, 2, 3 } }, dst:totable())
  end)

  it("raises clear errors for bad dims, indices and shapes", function()
    local t = grid()
    assert.has_error(function() return t[4] end,
      "tensor index: index 4 out of range (expected 1..3 or -3..-1)")
    assert.has_error(function() return t[0] end,
      "tensor index: index 0 out of range (expected 1..3 or -3..-1)")
    assert.has_error(function() t:narrow(3, 1, 1) end,
      "narrow: dim 3 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() t:narrow(1, 2, 5) end,
      "narrow: range [2, 6] out of bounds for size 3 in dim 1")
    assert.has_error(function() t:view(5, 5) end,
      "view: cannot reshape 3x4 (12 elements) into 5x5 (25 elements)")
    assert.has_error(function() t:t():view(12) end,
      "view: a non-contiguous 4x3 tensor cannot be viewed as 12 without a copy (use reshape or contiguous)")
    assert.has_error(function() t:get(1) end, "get: expected 2 indices for a 2-dim tensor, got 1")
    assert.has_error(function() t:copy_(tide.zeros(5)) end, "expand: cannot expand 5 to 3x4 (dim 2: 5 vs 4)")
    assert.has_error(function() t:permute(1, 1) end,
      "permute: expected a permutation of 1..2, got dim 1 at position 2")
    assert.has_error(function() t:narrow("x", 1, 1) end)
  end)
end)

describe("tensor memory", function()
  it("frees storage at close and refuses a closed tensor", function()
    local before = tide.memory().live
    do
      local t <close> = tide.zeros(1024 * 1024)
      assert.is_true(tide.memory().live >= before + 4 * 1024 * 1024)
    end
    assert.are.equal(before, tide.memory().live)
    local t = tide.zeros(3)
    t:close()
    t:close()
    assert.has_error(function() t:numel() end, "attempt to use a closed tensor")
  end)

  it("keeps a 1 GiB allocation loop bounded", function()
    local peak_before = tide.memory().live
    for _ = 1, 64 do
      local t = tide.empty(4 * 1024 * 1024)   -- 16 MiB each, never closed by hand
      t:fill_(1)
    end
    collectgarbage()
    assert.is_true(tide.memory().live <= peak_before + 16 * 1024 * 1024)
  end)
end)

describe("scalars stored into a tensor", function()
  local NAN = 0 / 0
  local function stores(dt, v) -- every entry point, each on a fresh tensor
    return {
      full = function() return tide.full({ 2 }, v, dt) end,
      fill_ = function() return tide.zeros(2, dt):fill_(v) end,
      set_ = function() return tide.zeros(2, dt):set_(1, v) end,
      index = function() local t = tide.zeros(2, dt); t[1] = v; return t end,
      row = function() local t = tide.zeros({ 2, 2 }, dt); t[1] = v; return t end,
      tensor = function() return tide.tensor({ v }, dt) end,
    }
  end
  local function names(entry)
    return ({ index = "tensor index", row = "tensor index", tensor = "tensor" })[entry] or entry
  end

  it("refuses NaN and infinities for an integer dtype at every entry point", function()
    for _, dt in ipairs { "i32", "i64", "u8" } do
      for _, bad in ipairs { { NAN, "NaN" }, { math.huge, "inf" }, { -math.huge, "-inf" } } do
        for entry, f in pairs(stores(dt, bad[1])) do
          assert.has_error(f, ("%s: %s cannot be stored in an %s tensor (integers have no NaN " ..
            "or infinity)"):format(names(entry), bad[2], dt))
        end
      end
    end
  end)

  it("refuses numbers outside the dtype's range, integers and floats alike", function()
    local cases = { { "i32", 2147483648 }, { "i32", -2147483649 }, { "i32", 1e12 },
      { "u8", 256 }, { "u8", -1 }, { "u8", -1.5 }, { "i64", 2 ^ 63 }, { "i64", -2 ^ 64 } }
    for _, c in ipairs(cases) do
      for entry, f in pairs(stores(c[1], c[2])) do
        assert.has_error(f, ("%s: %s is out of range for %s"):format(names(entry),
          tostring(c[2]), c[1]))
      end
    end
    assert.has_error(function() tide.full({ 1 }, 1e300, "f32") end,
      "full: 1e+300 is out of range for f32 (finite values up to 3.4028235e38)")
  end)

  it("keeps the edges of each range and truncates floats toward zero", function()
    local edges = { i32 = { -2147483648, 2147483647 }, u8 = { 0, 255 },
      i64 = { math.mininteger, math.maxinteger } }
    for dt, e in pairs(edges) do
      for entry, f in pairs(stores(dt, e[1])) do
        assert.are.equal(e[1], f():view(-1)[1], entry .. " " .. dt)
      end
      assert.are.same({ e[2], e[2] }, tide.full({ 2 }, e[2], dt):totable())
      assert.are.same({ e[2], e[2] }, tide.zeros(2, dt):fill_(e[2]):totable())
    end
    assert.are.same({ 2, -2 }, tide.tensor({ 2.9, -2.9 }, "i32"):totable())
    assert.are.equal(255, tide.full({ 1 }, 255.99, "u8")[1])
    -- floats hold NaN and infinities
    local f = tide.full({ 1 }, NAN, "f32")
    assert.is_true(f[1] ~= f[1])
    assert.are.equal(-math.huge, tide.zeros(1, "f64"):fill_(-math.huge)[1])
  end)

  it("leaves t:to(dtype) with NumPy's wrap-around", function()
    -- what astype does: floats truncate, out-of-range integers wrap, no error
    assert.are.same({ 44, 255, 2 }, tide.tensor({ 300, -1, 2 }, "i64"):to("u8"):totable())
    assert.are.same({ 1, -1 }, tide.tensor({ 1.7, -1.7 }, "f64"):to("i32"):totable())
  end)

  it("keeps t:set as a deprecated alias of t:set_", function()
    local t = tide.zeros(3, "i64")
    assert.are.equal(t, t:set(2, 7))
    assert.are.same({ 0, 7, 0 }, t:totable())
    assert.has_error(function() t:fill_("7") end, "fill_: expected a number, got string")
    assert.has_error(function() t:set(2, 0 / 0) end,
      "set_: NaN cannot be stored in an i64 tensor (integers have no NaN or infinity)")
  end)
end)

describe("integer scalars next to an integer tensor", function()
  it("must have a value in its dtype", function()
    local u = tide.tensor({ 5, 6 }, "u8")
    assert.has_error(function() return u + 256 end, "add: 256 is out of range for u8")
    assert.has_error(function() return 300 * u end, "mul: 300 is out of range for u8")
    assert.has_error(function() u:add_(-1) end, "add_: -1 is out of range for u8")
    assert.has_error(function() u:maximum(-1) end, "maximum: -1 is out of range for u8")
    assert.has_error(function() tide.where(tide.tensor({ 1, 0 }, "u8"), u, 1 << 31) end,
      "where: 2147483648 is out of range for u8")
    assert.has_error(function() return tide.zeros(1, "i32") - (1 << 40) end,
      "sub: 1099511627776 is out of range for i32")
    -- in range they compute as before (the result may still wrap), and floats promote
    assert.are.same({ 4, 5 }, u:sub(1):totable())
    assert.are.same({ 255, 0 }, (u + 250):totable())
    assert.are.equal("f32", (u + 0 / 0):dtype())
    assert.are.same({ 255, 255 }, u:maximum(255):totable())
  end)
end)
