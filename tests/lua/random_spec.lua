-- Random tensors, generators and ranges from Lua: reproducibility, streams, slices,
-- distribution sanity, and every error.
local tide = require "tide"

local function values(t)
  local flat = t:contiguous():view(-1):totable()
  return flat
end

local function moments(t)
  local v = values(t)
  local s, s2 = 0, 0
  for _, x in ipairs(v) do
    s, s2 = s + x, s2 + x * x
  end
  local mean = s / #v
  return mean, s2 / #v - mean * mean, v
end

local function lua_cpath_env()
  return string.format("LUA_PATH=%q LUA_CPATH=%q", package.path, package.cpath)
end

describe("the default generator", function()
  it("starts, unseeded, where manual_seed(0) starts", function()
    -- a fresh process, so nothing has drawn from its default generator yet
    local code = [[local tide = require "tide"
      local a = tide.rand(4, {dtype = "f64"}):totable()
      tide.manual_seed(0)
      local b = tide.rand(4, {dtype = "f64"}):totable()
      for i = 1, 4 do assert(a[i] == b[i]) end
      io.write(string.format("%.17g", a[1]))]]
    local p = io.popen(lua_cpath_env() .. " lua5.4 -e '" .. code .. "' 2>&1")
    local out = p:read("a")
    assert.is_true(p:close(), out)
    local first = tonumber(out)
    assert.is_truthy(first)
    assert.are.equal(first, tide.rand(1, {seed = 0, dtype = "f64"})[1])
  end)

  it("repeats after manual_seed and moves on between draws", function()
    tide.manual_seed(123)
    local a = tide.rand(5):totable()
    local b = tide.rand(5):totable()
    assert.are_not.same(a, b)
    tide.manual_seed(123)
    assert.are.same(a, tide.rand(5):totable())
    -- one draw of 3 then one of 2 continue the same stream as a draw of 5
    tide.manual_seed(123)
    local c, d = tide.rand(3):totable(), tide.rand(2):totable()
    assert.are.same(a, { c[1], c[2], c[3], d[1], d[2] })
  end)

  it("is left alone by draws with their own seed", function()
    tide.manual_seed(3)
    local a = tide.randn(4):totable()
    tide.manual_seed(3)
    local s1 = tide.randn(2, { seed = 9 }):totable()
    local s2 = tide.randn(2, { seed = 9 }):totable()
    assert.are.same(s1, s2)
    assert.are.same(a, tide.randn(4):totable())
  end)

  it("derives streams from (seed, rank): rank 0 here, other streams differ", function()
    assert.are.equal(0, tide.rng(1):counter())
    local mine = tide.rand(6, { seed = 1 }):totable()
    assert.are.same(mine, tide.rand(6, { seed = 1, stream = 0 }):totable())
    assert.are.same(mine, tide.rand(6, { seed = 1, same_on_all_ranks = true }):totable())
    assert.are_not.same(mine, tide.rand(6, { seed = 1, stream = 1 }):totable())
    assert.are_not.same(mine, tide.rand(6, { seed = 2 }):totable())
    tide.manual_seed(1, { stream = 1 })
    assert.are.same(tide.rand(6, { seed = 1, stream = 1 }):totable(), tide.rand(6):totable())
    tide.manual_seed(1, { same_on_all_ranks = true })
    assert.are.same(mine, tide.rand(6):totable())
    assert.are.equal(tide.rng(1):key(), tide.default_generator():key())
    assert.are.equal(6, tide.default_generator():counter())
  end)
end)

describe("streams across MPI ranks", function()
  it("differ per rank, and agree with same_on_all_ranks (2 ranks under mpirun)", function()
    local exe, mpirun = os.getenv("TIDE_EXE"), os.getenv("MPIRUN")
    local probe = exe and io.open(exe, "rb")
    if not (probe and mpirun) then
      pending("needs the tide executable and mpirun (TIDE_EXE, MPIRUN)")
      return
    end
    probe:close()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local tide = require "tide"
      tide.manual_seed(7)
      local mine = tide.rand(1, { dtype = "f64" })[1]
      tide.manual_seed(7, { same_on_all_ranks = true })
      local same = tide.rand(1, { dtype = "f64" })[1]
      local r = tide.rand(1, { dtype = "f64", seed = 7, stream = 1 })[1]
      local seeded = tide.rand(1, { dtype = "f64", seed = 7 })[1]
      io.write(string.format("%.17g %.17g %.17g %.17g\n", mine, same, r, seeded))
    ]])
    f:close()
    local proc = require "support.proc"
    local out = proc.run(string.format("%s --oversubscribe -np 2 %s %s", proc.quote(mpirun),
      proc.quote(exe), proc.quote(script)))
    os.remove(script)
    local rows = {}
    local num = "([%d.e+-]+)"
    for line in out:gmatch("[^\n]+") do
      local a, b, c, d = line:match("^" .. num .. " " .. num .. " " .. num .. " " .. num .. "$")
      if a then
        rows[#rows + 1] = { tonumber(a), tonumber(b), tonumber(c), tonumber(d) }
      end
    end
    assert.are.equal(2, #rows, out)
    local one = tide.rand(1, { dtype = "f64", seed = 7 })[1]
    local two = tide.rand(1, { dtype = "f64", seed = 7, stream = 1 })[1]
    table.sort(rows, function(x, y) return x[1] < y[1] end)
    local mine = { rows[1][1], rows[2][1] }
    table.sort(mine)
    local want = { one, two }
    table.sort(want)
    assert.are.same(want, mine)                      -- rank r drew stream r
    for _, row in ipairs(rows) do
      assert.are.equal(one, row[2])                  -- same_on_all_ranks: stream 0 everywhere
      assert.are.equal(two, row[3])                  -- an explicit stream is the same anywhere
      assert.are.equal(row[1], row[4])               -- {seed = s} uses this rank's stream
    end
  end)
end)

describe("generators", function()
  it("draw through {generator = g} and advance one counter per element", function()
    local g = tide.rng(77)
    local a = tide.randn({ 2, 3 }, { generator = g })
    assert.are.equal(6, g:counter())
    tide.randperm(5, { generator = g })
    assert.are.equal(11, g:counter())
    tide.randint(0, 3, { 4 }, { generator = g })
    tide.zeros(2):uniform_(0, 1, { generator = g }):normal_(0, 1, { generator = g })
    assert.are.equal(19, g:counter())
    local h = tide.rng(77)
    assert.are.same(a:totable(), tide.randn({ 2, 3 }, { generator = h }):totable())
    h:set_counter(0)
    assert.are.same(a:totable(), tide.randn({ 2, 3 }, { generator = h }):totable())
    assert.are.equal(g, g:advance(1))
    assert.are.equal(20, g:counter())
    assert.is_truthy(tostring(g):match("^tide%.rng %(key %-?%d+, counter 20%)$"))
    assert.are.equal(g:key(), g:seed(77):key())
    assert.are.equal(0, g:counter())
  end)

  it("fill any rows of a global tensor exactly as the whole would be filled", function()
    local N, d = 10, 3
    local g = tide.rng(5, { same_on_all_ranks = true })
    g:advance(17)
    local full = tide.randn({ N, d }, { generator = g:clone() })
    for _, rows in ipairs { { 1, 4 }, { 5, 3 }, { 8, 3 } } do
      local r0, n = rows[1], rows[2]
      local h = g:clone():advance((r0 - 1) * d)
      local part = tide.randn({ n, d }, { generator = h })
      assert.are.same(full:narrow(1, r0, n):totable(), part:totable())
    end
    -- the same through uniform_ into a strided view: values land in logical order
    local t = tide.zeros(d, N, "f64"):t()
    t:uniform_(0, 1, { generator = g:clone() })
    assert.are.same(tide.rand({ N, d }, { generator = g:clone(), dtype = "f64" }):totable(),
      t:totable())
  end)
end)

describe("random tensors", function()
  it("rand: f32 by default, uniform in [0, 1) with the right moments", function()
    local t = tide.rand(100000, { seed = 11 })
    assert.are.equal("f32", t:dtype())
    local mean, var, v = moments(t)
    local lo, hi = math.huge, -math.huge
    for _, x in ipairs(v) do
      lo, hi = math.min(lo, x), math.max(hi, x)
    end
    assert.is_true(lo >= 0 and hi < 1)
    assert.is_true(math.abs(mean - 0.5) < 0.0046)
    assert.is_true(math.abs(var - 1 / 12) < 0.0015)
    assert.are.same({ 2, 3, 4 }, tide.rand(2, 3, 4):shape())
    assert.are.equal("f64", tide.rand({ 2 }, "f64"):dtype())
  end)

  it("randn: mean 0, variance 1, 68% within one sd", function()
    local t = tide.randn(100000, { seed = 12, dtype = "f64" })
    local mean, var, v = moments(t)
    assert.is_true(math.abs(mean) < 0.016)
    assert.is_true(math.abs(var - 1) < 0.023)
    local within = 0
    for _, x in ipairs(v) do
      if math.abs(x) < 1 then within = within + 1 end
    end
    assert.is_true(math.abs(within / #v - 0.682689) < 0.0075)
  end)

  it("uniform_ and normal_ fill in place and return the tensor", function()
    local t = tide.zeros(50000, "f64")
    assert.are.equal(t, t:uniform_(2, 4, { seed = 1 }))
    local mean, var, v = moments(t)
    for _, x in ipairs(v) do
      assert(x >= 2 and x < 4)
    end
    assert.is_true(math.abs(mean - 3) < 0.013 and math.abs(var - 4 / 12) < 0.01)
    t:normal_(-5, 3, { seed = 2 })
    mean, var = moments(t)
    assert.is_true(math.abs(mean + 5) < 0.07 and math.abs(var - 9) < 0.3)
    tide.manual_seed(8)
    local a = tide.zeros(3):normal_():totable()
    tide.manual_seed(8)
    assert.are.same(a, tide.randn(3):totable())
  end)

  it("randint: integers in [low, high), i64 by default, every value reached", function()
    local t = tide.randint(-2, 3, { 3000 }, { seed = 4 })
    assert.are.equal("i64", t:dtype())
    local seen = {}
    for _, x in ipairs(t:totable()) do
      assert(math.type(x) == "integer" and x >= -2 and x < 3)
      seen[x] = (seen[x] or 0) + 1
    end
    for x = -2, 2 do
      assert.is_true(seen[x] > 500 and seen[x] < 700)   -- 600 expected, sd 22
    end
    assert.are.same({ 2, 2 }, tide.randint(0, 256, 2, 2, { dtype = "u8" }):shape())
    assert.are.equal("f32", tide.randint(0, 5, { 3 }, "f32"):dtype())
  end)

  it("randperm: a permutation of 1..n", function()
    local p = tide.randperm(1000, { seed = 6 })
    assert.are.equal("i64", p:dtype())
    local seen, moved = {}, 0
    for i, x in ipairs(p:totable()) do
      assert(x >= 1 and x <= 1000 and not seen[x])
      seen[x] = true
      if x ~= i then moved = moved + 1 end
    end
    assert.is_true(moved > 900)
    assert.are.same(p:totable(), tide.randperm(1000, { seed = 6 }):totable())
    assert.are.same({ 0 }, tide.randperm(0):shape())
    assert.are.same({ 1 }, tide.randperm(1, { dtype = "i32" }):totable())
  end)

  it("rejects bad options and arguments", function()
    assert.has_error(function() tide.rand(2, { dtype = "i32" }) end,
      "rand: expected a float dtype (f32 or f64), got i32")
    assert.has_error(function() tide.randn(2, "u8") end,
      "randn: expected a float dtype (f32 or f64), got u8")
    assert.has_error(function() tide.rand(2, { bogus = 1 }) end,
      "rand: unknown option 'bogus' (expected one of: dtype, seed, generator, same_on_all_ranks, stream)")
    assert.has_error(function() tide.rand(2, { seed = 1.5 }) end,
      "rand: seed must be an integer, got 1.5")
    assert.has_error(function() tide.rand(2, { seed = 1, generator = tide.rng(1) }) end,
      "rand: give seed or generator, not both")
    assert.has_error(function() tide.rand(2, { generator = 5 }) end,
      "rand: generator must be a tide.rng, got number")
    assert.has_error(function() tide.rand(2, { stream = 1 }) end,
      "rand: same_on_all_ranks and stream apply only with seed")
    assert.has_error(function() tide.rand(2, { seed = 1, stream = 1, same_on_all_ranks = true }) end,
      "rand: give stream or same_on_all_ranks, not both")
    assert.has_error(function() tide.rand(2, { seed = 1, stream = -1 }) end,
      "rand: stream must be an integer >= 0, got -1")
    assert.has_error(function() tide.rand(2, { seed = 1, same_on_all_ranks = "yes" }) end,
      "rand: same_on_all_ranks must be a boolean, got string")
    assert.has_error(function() tide.rand { 2, -1 } end, "tensor: negative size -1 in dim 2")
    assert.has_error(function() tide.randint(5, 5, { 2 }) end,
      "randint: expected low < high (high is exclusive), got low 5, high 5")
    assert.has_error(function() tide.randint(0, 300, { 2 }, { dtype = "u8" }) end,
      "randint: values 0..299 do not fit in u8")
    assert.has_error(function() tide.randperm(-1) end, "randperm: expected n >= 0, got -1")
    assert.has_error(function() tide.randperm(300, { dtype = "u8" }) end,
      "randperm: values 1..300 do not fit in u8")
    assert.has_error(function() tide.zeros(2, "i32"):uniform_() end,
      "uniform_: expected a float tensor (f32 or f64), got i32")
    assert.has_error(function() tide.zeros(2, "i64"):normal_() end,
      "normal_: expected a float tensor (f32 or f64), got i64")
    assert.has_error(function() tide.zeros(2):uniform_(1, 0) end,
      "uniform_: expected finite a <= b, got a = 1.0, b = 0.0")
    assert.has_error(function() tide.zeros(2):uniform_(0, math.huge) end,
      "uniform_: expected finite a <= b, got a = 0.0, b = inf")
    assert.has_error(function() tide.zeros(2):normal_(0, -1) end,
      "normal_: expected a finite mean and std >= 0, got mean = 0.0, std = -1.0")
    assert.has_error(function() tide.zeros(2):normal_(0, 1, { dtype = "f32" }) end,
      "normal_: unknown option 'dtype' (expected one of: seed, generator, same_on_all_ranks, stream)")
    assert.has_error(function() tide.manual_seed(1, { seed = 2 }) end,
      "manual_seed: unknown option 'seed' (expected one of: same_on_all_ranks, stream)")
    assert.has_error(function() tide.rng(1):set_counter(-1) end,
      "set_counter: expected a counter >= 0, got -1")
    assert.has_error(function() tide.rng(1):advance(-2) end, "advance: expected a count >= 0, got -2")
    local t = tide.zeros(2)
    t:close()
    assert.has_error(function() t:uniform_() end, "attempt to use a closed tensor")
  end)
end)

describe("ranges", function()
  it("arange: stop exclusive, i64 for integers, f32 for any float", function()
    local a = tide.arange(5)
    assert.are.equal("i64", a:dtype())
    assert.are.same({ 0, 1, 2, 3, 4 }, a:totable())
    assert.are.same({ 2, 3, 4 }, tide.arange(2, 5):totable())
    assert.are.same({ 5, 3, 1 }, tide.arange(5, 0, -2):totable())
    assert.are.same({ 0 }, tide.arange(0, 0):shape())
    local f = tide.arange(0, 1, 0.25)
    assert.are.equal("f32", f:dtype())
    assert.are.same({ 0, 0.25, 0.5, 0.75 }, f:totable())
    assert.are.equal("f32", tide.arange(2.0):dtype())
    assert.are.equal("f64", tide.arange(3, "f64"):dtype())
    assert.are.same({ 1, 3 }, tide.arange(1, 4, 2, { dtype = "i32" }):totable())
    assert.has_error(function() tide.arange() end,
      "arange: expected numbers (stop, or start, stop [, step]), got no value")
    assert.has_error(function() tide.arange(0, 5, 0) end, "arange: step must be nonzero")
    assert.has_error(function() tide.arange(5, 0) end,
      "arange: step 1 goes away from stop (start 5, stop 0)")
    assert.has_error(function() tide.arange(0, 2.5, -0.5) end,
      "arange: step -0.5 goes away from stop (start 0, stop 2.5)")
    assert.has_error(function() tide.arange(300, "u8") end, "arange: values 0..299 do not fit in u8")
    -- i64's ends as doubles: -2^63 is held, 2^63 (INT64_MAX rounded up) is one past the end
    assert.are.same({ math.mininteger, 0 }, tide.linspace(-2.0 ^ 63, 0, 2, "i64"):totable())
    assert.has_error(function() tide.linspace(0, 2.0 ^ 63, 2, "i64") end,
      "linspace: values 0..9.22337e+18 do not fit in i64")
    assert.has_error(function() tide.linspace(0, 255.5, 2, "u8") end,
      "linspace: values 0..255.5 do not fit in u8")
    assert.has_error(function() tide.arange(3, { type = "f32" }) end,
      "arange: unknown option 'type' (expected one of: dtype)")
  end)

  it("linspace: n points, both ends exact", function()
    local t = tide.linspace(0, 1, 5)
    assert.are.equal("f32", t:dtype())
    assert.are.same({ 0, 0.25, 0.5, 0.75, 1 }, t:totable())
    local d = tide.linspace(0, 0.3, 7, "f64"):totable()
    assert.are.equal(0.3, d[7])
    assert.is_true(math.abs(d[4] - 0.15) < 1e-15)
    assert.are.same({ 0, 5, 10 }, tide.linspace(0, 10, 3, "i32"):totable())
    assert.are.same({ 4 }, tide.linspace(4, 9, 1):totable())
    assert.are.same({ 0 }, tide.linspace(0, 1, 0):shape())
    assert.has_error(function() tide.linspace(0, 1, -2) end,
      "linspace: expected n >= 0 points, got -2")
  end)

  it("eye: ones on the diagonal", function()
    assert.are.same({ { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, tide.eye(3):totable())
    assert.are.equal("f32", tide.eye(2):dtype())
    assert.are.same({ { 1, 0, 0 }, { 0, 1, 0 } }, tide.eye(2, 3):totable())
    assert.are.same({ { 1, 0 }, { 0, 1 }, { 0, 0 } }, tide.eye(3, 2, "i64"):totable())
    assert.are.equal("u8", tide.eye(2, 2, { dtype = "u8" }):dtype())
    assert.are.equal("i64", tide.eye(2, "i64"):dtype())
    assert.has_error(function() tide.eye(-1) end, "eye: expected sizes >= 0, got -1x-1")
  end)
end)
