-- The storage dtypes f16 and bf16: conversions against numpy's float16 and the bf16 rounding
-- rule (tests/data/half_numpy.json, written by tests/bench/half_numpy.py), checked bit for bit
-- through the bytes of saved files; views, copies, element access, printing, files; and the
-- errors of the kernels that do not compute on them.
local tide = require "tide"
local refdata = require "support.refdata"

local ref = refdata.read("half_numpy.json")

local function double_of(hex)
  return string.unpack(">d", (hex:gsub("..", function(h) return string.char(tonumber(h, 16)) end)))
end

-- The value of 16-bit pattern h in a format with mbits mantissa and ebits exponent bits,
-- written from the IEEE definition (the reference for tide's widening).
local function widen(h, mbits, ebits)
  local bias = (1 << (ebits - 1)) - 1
  local field, m = (h >> mbits) & ((1 << ebits) - 1), h & ((1 << mbits) - 1)
  local v
  if field == (1 << ebits) - 1 then
    v = m == 0 and math.huge or 0 / 0
  elseif field == 0 then
    v = m * 2.0 ^ (1 - bias - mbits)
  else
    v = (m + (1 << mbits)) * 2.0 ^ (field - bias - mbits)
  end
  return h & 0x8000 ~= 0 and -v or v
end

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

-- The element bits of a tensor saved to a file: the last 2 * n bytes of the .npy or
-- .safetensors file (both put the data last).
local function bits_of(t, name)
  local path = dir .. "/" .. name
  if name:match("%.npy$") then tide.core.save(path, t) else tide.save(path, { t = t }) end
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  local n, out = t:numel(), {}
  for i = 1, n do
    out[i] = string.unpack("<I2", s, #s - 2 * n + 2 * i - 1)
  end
  return out, s
end

describe("f16 and bf16 conversions", function()
  local xs = {}
  for i, c in ipairs(ref.cases) do xs[i] = double_of(c.x) end

  -- Each case's f16 bits (field: f16 or f16_of_f32) against numpy's; a NaN may be any quiet
  -- NaN of the same sign.
  local function same_f16_bits(bits, field)
    for i, c in ipairs(ref.cases) do
      local want = c[field]
      if want & 0x7c00 == 0x7c00 and want & 0x3ff ~= 0 then
        assert.are.equal(want & 0xfe00, bits[i] & 0xfe00)
      else
        assert.are.equal(want, bits[i], "case " .. i .. ": " .. c.x)
      end
    end
  end

  it("f64 -> f16 gives numpy's float16 bits (normal, subnormal, overflow, ties, NaN)", function()
    local bits, file = bits_of(tide.tensor(xs, "f64"):to("f16"), "h.npy")
    assert.truthy(file:find("'descr': '<f2'", 1, true))
    same_f16_bits(bits, "f16")
  end)

  it("f32 -> f16 (the bulk path on the bits) gives numpy's float16 bits of the f32", function()
    same_f16_bits(bits_of(tide.tensor(xs, "f64"):to("f32"):to("f16"), "h32.npy"), "f16_of_f32")
  end)

  it("f32 -> bf16 follows the rounding rule, the f64 path agrees on f32 values", function()
    local x32 = tide.tensor(xs, "f64"):to("f32")
    local fast = bits_of(x32:to("bf16"), "b.st")
    local slow = bits_of(x32:to("f64"):to("bf16"), "b2.st")
    for i, c in ipairs(ref.cases) do
      if c.bf16 & 0x7f80 == 0x7f80 and c.bf16 & 0x7f ~= 0 then
        assert.are.equal(c.bf16 & 0xffc0, fast[i] & 0xffc0)
        assert.are.equal(c.bf16 & 0xffc0, slow[i] & 0xffc0)
      else
        assert.are.equal(c.bf16, fast[i], "case " .. i)
        assert.are.equal(c.bf16, slow[i], "case " .. i)
      end
    end
  end)

  it("widening is exact: get and :to('f64') give the IEEE value of each pattern", function()
    local h = tide.tensor(xs, "f64"):to("f16")
    local b = tide.tensor(xs, "f64"):to("f32"):to("bf16")
    local h64, b64, h32 = h:to("f64"), b:to("f32"), h:to("f32")   -- (f32: the bulk path)
    for i, c in ipairs(ref.cases) do
      for _, pair in ipairs({ { h:get(i), h64:get(i), widen(c.f16, 10, 5) },
                              { h32:get(i), h64:get(i), widen(c.f16, 10, 5) },
                              { b:get(i), b64:get(i), widen(c.bf16, 7, 8) } }) do
        local got, got2, want = pair[1], pair[2], pair[3]
        if want ~= want then
          assert.is_true(got ~= got and got2 ~= got2)
        else
          assert.are.equal(want, got)
          assert.are.equal(want, got2)
          assert.are.equal(1 / want, 1 / got)        -- the sign of zero too
        end
      end
      if type(c.f16_value) == "number" then assert.are.equal(c.f16_value, h:get(i)) end
    end
  end)

  it("every f16 pattern survives f16 -> f32 -> f16 (NaNs stay NaN)", function()
    local all = {}
    for h = 0, 0xffff do all[h + 1] = widen(h, 10, 5) end
    local back = bits_of(tide.tensor(all, "f64"):to("f16"):to("f32"):to("f16"), "all.npy")
    for h = 0, 0xffff do
      if h & 0x7c00 == 0x7c00 and h & 0x3ff ~= 0 then
        assert.is_true(back[h + 1] & 0x7c00 == 0x7c00 and back[h + 1] & 0x3ff ~= 0)
      elseif back[h + 1] ~= h then
        error(("pattern 0x%04x came back as 0x%04x"):format(h, back[h + 1]))
      end
    end
  end)
end)

describe("f16 and bf16 tensors", function()
  it("are created, viewed, copied, indexed and printed", function()
    local t = tide.zeros({ 2, 3 }, "f16")
    assert.are.equal("f16", t:dtype())
    t:fill_(1.5)
    t:set_(2, 3, -0.1)
    t[1][2] = 70000
    assert.are.equal(-0.0999755859375, t:get(2, 3))     -- the nearest f16 to -0.1
    assert.are.equal(math.huge, t:get(1, 2))
    local v = t:t()
    assert.is_true(v:is_view())
    assert.are.equal(-0.0999755859375, v:get(3, 2))
    local c = v:contiguous()
    assert.are.same({ { 1.5, 1.5 }, { math.huge, 1.5 }, { 1.5, -0.0999755859375 } }, c:totable())
    local b = tide.ones({ 2 }, "bf16")
    b:copy_(tide.tensor({ 3.14159, 1e-40 }))
    assert.are.same({ 3.140625, math.floor(1e-40 / 2.0 ^ -133 + 0.5) * 2.0 ^ -133 },
                    b:totable())
    assert.truthy(tostring(b):find("bf16 tensor of size 2", 1, true))
    assert.truthy(tostring(t):find("inf", 1, true))
    assert.are.equal("bf16", tide.zeros({ 1 }, "bfloat16"):dtype())
    assert.are.equal("f16", tide.zeros({ 1 }, "float16"):dtype())
  end)

  it("round-trip through .npy (f16) and safetensors (f16, bf16)", function()
    local h = tide.tensor({ 1, -2.5, 6e-8, 65504 }):to("f16")
    tide.core.save(dir .. "/r.npy", h)
    assert.are.same(h:totable(), tide.core.load(dir .. "/r.npy"):totable())
    assert.are.equal("f16", tide.core.load(dir .. "/r.npy"):dtype())
    local b = h:to("bf16")
    tide.save(dir .. "/r.st", { h = h, b = b })
    local back = tide.load(dir .. "/r.st")
    assert.are.equal("bf16", back.b:dtype())
    assert.are.same(b:totable(), back.b:totable())
    assert.are.same(h:totable(), back.h:totable())
  end)

  it("refuse arithmetic, reductions and random draws with a clear message", function()
    local h = tide.ones({ 3 }, "f16")
    local f = tide.ones({ 3 })
    assert.has_error(function() return h + h end,
                     "add: f16 is a storage dtype: convert with :to('f32') first")
    assert.has_error(function() return f * h:to("bf16") end,
                     "mul: bf16 is a storage dtype: convert with :to('f32') first")
    local ok, err = pcall(function() return h:sum() end)
    assert.is_false(ok)
    assert.truthy(err:find("sum: f16 is a storage dtype: convert with :to('f32') first", 1, true))
    ok, err = pcall(tide.core.randn, { 2 }, { dtype = "f16" })
    assert.truthy(err:find("randn: f16 is a storage dtype", 1, true))
    ok, err = pcall(tide.core.save, dir .. "/b.npy", h:to("bf16"))
    assert.truthy(err:find("numpy has no bf16 dtype", 1, true))
  end)
end)
