-- bernoulli, multinomial and categorical on the counter-based streams: each draw is checked
-- against the uniform numbers tide.rand gives for the same seed (draw i uses counter i), run
-- through a plain-Lua inverse CDF, plus the frequencies and the errors.
local tide = require "tide"

-- the uniforms in [0, 1) that counters 0..n-1 of seed give (f64: 53 bits, as the samplers use)
local function uniforms(n, seed)
  return tide.rand({ n }, { seed = seed, dtype = "f64" }):totable()
end

describe("bernoulli", function()
  it("is 1 exactly where the seed's uniform is below p, in p's dtype", function()
    local n = 1000
    local p = {}
    for i = 1, n do p[i] = (i % 10) / 10 end
    local u = uniforms(n, 7)
    for _, dt in ipairs { "f32", "f64" } do
      local got = tide.tensor(p, dt):bernoulli({ seed = 7 })
      assert.are.equal(dt, got:dtype())
      local pt = tide.tensor(p, dt):to("f64"):totable()
      local g = got:totable()
      for i = 1, n do assert.are.equal(u[i] < pt[i] and 1 or 0, g[i]) end
    end
    -- the mean of many draws is p within 5 standard deviations
    local m = tide.full({ 100000 }, 0.3, "f64"):bernoulli({ seed = 1 }):mean()
    assert(math.abs(m - 0.3) < 5 * math.sqrt(0.3 * 0.7 / 100000))
    -- the default generator advances: two draws differ
    local p2 = tide.full({ 64 }, 0.5, "f32")
    assert.are_not.same(p2:bernoulli():totable(), p2:bernoulli():totable())
  end)

  it("refuses probabilities outside [0, 1] and integer tensors", function()
    assert.has_error(function() tide.tensor({ 0.5, 1.5 }, "f64"):bernoulli() end,
      "bernoulli: probability 1.5 at element 2 is not in [0, 1]")
    assert.has_error(function() tide.tensor({ 1 }, "i64"):bernoulli() end,
      "bernoulli: expected a float tensor (f32 or f64), got i64")
    assert.has_error(function() tide.tensor({ 0.5 }):bernoulli({ p = 1 }) end,
      "bernoulli: unknown option 'p' (expected one of: seed, generator, same_on_all_ranks, stream)")
    assert.has_error(function() tide.tensor({ 0.5 }):bernoulli({}, 1) end,
      "bernoulli: too many arguments (expected at most 2, got 3)")
  end)
end)

describe("multinomial and categorical", function()
  -- the 1-based category a plain inverse CDF picks for u in [0, 1)
  local function inverse_cdf(w, u)
    local total = 0
    for _, x in ipairs(w) do total = total + x end
    local s, target = 0, u * total
    for i, x in ipairs(w) do
      s = s + x
      if s > target then return i end
    end
  end

  it("with replacement, draw j is the inverse CDF of the seed's uniform j", function()
    local w = { 1, 0, 3, 0.5, 2 }
    local n = 500
    local got = tide.tensor(w, "f64"):multinomial(n, { replacement = true, seed = 3 }):totable()
    local u = uniforms(n, 3)
    for j = 1, n do assert.are.equal(inverse_cdf(w, u[j]), got[j]) end
    -- two rows use consecutive counters: row 2 starts at counter n
    local rows = tide.tensor({ w, { 0, 0, 1, 0, 0 } }, "f32")
    local two = rows:multinomial(n, { replacement = true, seed = 3 }):totable()
    assert.are.same(got, two[1])
    for j = 1, n do assert.are.equal(3, two[2][j]) end
    -- frequencies follow the weights (within 5 standard deviations)
    local many = tide.tensor(w, "f64"):multinomial(60000, { replacement = true, seed = 9 })
    for c, x in ipairs(w) do
      local p = x / 6.5
      local f = many:eq(c):sum() / 60000
      assert(math.abs(f - p) <= 5 * math.sqrt(p * (1 - p) / 60000) + 1e-12, ("category %d"):format(c))
    end
  end)

  it("without replacement, draws are distinct and skip weights of zero", function()
    local w = tide.tensor({ 5, 0, 1, 1, 2, 0, 3 }, "f64")
    for seed = 1, 20 do
      local d = w:multinomial(5, { seed = seed }):totable()
      local seen = {}
      for _, c in ipairs(d) do
        assert.is_nil(seen[c])
        assert.is_true(c ~= 2 and c ~= 6)
        seen[c] = true
      end
    end
    -- drawing every category is a permutation
    local perm = tide.ones({ 6 }, "f32"):multinomial(6, { seed = 4 }):totable()
    table.sort(perm)
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, perm)
  end)

  it("categorical draws one category per row, dropping the sample dim", function()
    local w = tide.tensor({ { 1, 2, 3 }, { 0, 1, 0 } }, "f64")
    local c = w:categorical({ seed = 5 })
    assert.are.same({ 2 }, c:shape())
    assert.are.same(w:multinomial(1, { replacement = true, seed = 5 }):reshape(2):totable(), c:totable())
    assert.are.equal(2, c:totable()[2])
    assert.are.same({}, tide.tensor({ 1, 1 }, "f64"):categorical({ seed = 1 }):shape())
  end)

  it("raises clear errors", function()
    local w = tide.tensor({ 1, 0, 1 }, "f64")
    assert.has_error(function() w:multinomial(3) end,
      "multinomial: cannot draw 3 without replacement from row 1, which has 2 categories of positive weight")
    assert.has_error(function() tide.tensor({ 1, -1 }, "f64"):multinomial(1) end,
      "multinomial: weight -1 (row 1, category 2) is not a finite number >= 0")
    assert.has_error(function() tide.zeros({ 2, 3 }):multinomial(1) end,
      "multinomial: row 1 has no category of positive weight")
    assert.has_error(function() tide.zeros({ 2, 3, 4 }):multinomial(1) end,
      "multinomial: expected a 1-D or 2-D tensor of weights with at least one category, got 2x3x4")
    assert.has_error(function() w:multinomial(-1) end, "multinomial: number of samples -1 is negative")
    assert.has_error(function() w:multinomial(1, { replacement = 1 }) end,
      "multinomial: replacement must be a boolean, got number")
    assert.has_error(function() w:multinomial(1, {}, 2) end,
      "multinomial: too many arguments (expected at most 3, got 4)")
  end)
end)
