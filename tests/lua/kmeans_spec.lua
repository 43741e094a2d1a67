-- tide.cluster on one process: Lloyd against a naive reference written here with plain loops,
-- the inertia against a recomputation from the labels, the initialisations, weights, empty
-- clusters, predict/transform, mini-batch, the kernels, and every error message.
local tide = require "tide"
local cluster = require "tide.cluster"

local K = tide._internal.cluster_kernels

-- ------------------------------------------------------------------ helpers

-- A small deterministic data set made with Lua alone (a 32-bit LCG), so the reference below
-- shares nothing with tide: n rows of d features around k centres on a coarse grid.
local function lcg(seed)
  local s = seed
  return function()
    s = (1103515245 * s + 12345) % 2147483648
    return s / 2147483648
  end
end

local function lua_blobs(n, d, k, spread, seed)
  local u = lcg(seed)
  local centres, rows = {}, {}
  for j = 1, k do
    centres[j] = {}
    for t = 1, d do centres[j][t] = math.floor(u() * 8) end
  end
  for i = 1, n do
    local c = centres[1 + (i * 7) % k]
    rows[i] = {}
    for t = 1, d do rows[i][t] = c[t] + spread * (u() + u() + u() - 1.5) end
  end
  return rows
end

local function sqdist(a, b)
  local s = 0
  for t = 1, #a do s = s + (a[t] - b[t]) ^ 2 end
  return s
end

-- Lloyd as the textbook writes it: iters updates from init, then the labels and inertia of
-- the final centres. An empty cluster keeps its centre (the data below never empties one).
local function naive_lloyd(rows, init, iters)
  local k, d = #init, #init[1]
  local c = {}
  for j = 1, k do c[j] = { table.unpack(init[j]) } end
  local function assign()
    local labels, inertia = {}, 0
    for i, x in ipairs(rows) do
      local best, bj = math.huge, 0
      for j = 1, k do
        local e = sqdist(x, c[j])
        if e < best then best, bj = e, j end
      end
      labels[i], inertia = bj, inertia + best
    end
    return labels, inertia
  end
  local history = {}
  for it = 1, iters do
    local labels, inertia = assign()
    history[it] = inertia
    local sums, counts = {}, {}
    for j = 1, k do
      sums[j], counts[j] = {}, 0
      for t = 1, d do sums[j][t] = 0 end
    end
    for i, x in ipairs(rows) do
      local j = labels[i]
      counts[j] = counts[j] + 1
      for t = 1, d do sums[j][t] = sums[j][t] + x[t] end
    end
    for j = 1, k do
      if counts[j] > 0 then
        for t = 1, d do c[j][t] = sums[j][t] / counts[j] end
      end
    end
  end
  local labels, inertia = assign()
  return labels, inertia, c, history
end

-- Seeded Gaussian blobs made by tide (f32 or f64): centres uniform in [-5, 5)^d.
local function blobs(n, d, k, std, seed, dtype)
  local g = tide.rng(seed, { same_on_all_ranks = true })
  local centres = tide.rand({ k, d }, { generator = g, dtype = dtype }):mul(10):add(-5)
  local lab = tide.randint(1, k + 1, { n }, { generator = g })
  local noise = tide.randn({ n, d }, { generator = g, dtype = dtype })
  return centres:index_select(1, lab):add(noise:mul(std)), centres
end

-- The largest distance from a true centre to its nearest found centre.
local function worst_recovery(found, truth)
  local worst = 0
  for j = 1, truth:size(1) do
    local best = math.huge
    for i = 1, found:size(1) do
      best = math.min(best, math.sqrt(sqdist(found[i]:totable(), truth[j]:totable())))
    end
    worst = math.max(worst, best)
  end
  return worst
end

local function rel(a, b)
  return math.abs(a - b) / math.max(math.abs(b), 1e-300)
end

local function recomputed_inertia(x, labels, c, w)
  local s = 0
  local xs, ls, cs = x:totable(), labels:totable(), c:totable()
  for i = 1, #xs do s = s + (w and w[i] or 1) * sqdist(xs[i], cs[ls[i]]) end
  return s
end

-- ------------------------------------------------------------------ Lloyd against the reference

describe("kmeans Lloyd", function()
  -- overlapping blobs: labels still move at iteration 20, so all 20 iterations count
  local rows = lua_blobs(2000, 5, 8, 6.0, 11)
  local init = {}
  for j = 1, 8 do init[j] = { table.unpack(rows[j * 50]) } end

  it("gives the naive reference's labels and inertia after 20 iterations (f64)", function()
    local ref_labels, ref_inertia, ref_c, ref_hist = naive_lloyd(rows, init, 20)
    local m = cluster.kmeans(tide.tensor(rows, "f64"), 8,
      { init = tide.tensor(init, "f64"), max_iter = 20, tol = 0 })
    assert.are.equal(20, m.iterations)
    assert.is_true(m.history[20].changed > 0)
    assert.are.same(ref_labels, m.labels:totable())
    assert.is_true(rel(m.inertia, ref_inertia) < 1e-6)
    local c = m.centroids:totable()
    for j = 1, 8 do
      for t = 1, 5 do assert.is_true(math.abs(c[j][t] - ref_c[j][t]) < 1e-9) end
    end
    -- each iteration's inertia, for the centres it started from, as the reference's
    for it, rec in ipairs(m.history) do
      assert.is_true(rel(rec.inertia, ref_hist[it]) < 1e-9)
      assert.are.equal(0, rec.empty)
    end
  end)

  it("reports an inertia equal to a recomputation from its labels", function()
    for _, dt in ipairs { "f64", "f32" } do
      local x = tide.tensor(rows, dt)
      local m = cluster.kmeans(x, 8, { seed = 2 })
      assert.is_true(rel(m.inertia, recomputed_inertia(x, m.labels, m.centroids)) < 1e-6)
      assert.are.equal(dt, m.centroids:dtype())
      assert.are.equal("i32", m.labels:dtype())
    end
  end)

  it("stops at a fixed point, and at the relative-shift tolerance", function()
    local x = tide.tensor(rows, "f64")
    local m = cluster.kmeans(x, 8, { init = tide.tensor(init, "f64"), tol = 0 })
    assert.is_true(m.converged)
    assert.are.equal(0, m.history[#m.history].changed)
    assert.is_true(m.iterations < 300)
    local loose = cluster.kmeans(x, 8, { init = tide.tensor(init, "f64"), tol = 0.05 })
    assert.is_true(loose.iterations < m.iterations)
    assert.is_true(loose.history[#loose.history].shift <= 0.05)
    assert.is_true(loose.history[#loose.history - 1].shift > 0.05)
    local none = cluster.kmeans(x, 8, { init = tide.tensor(init, "f64"), max_iter = 0 })
    assert.are.equal(0, none.iterations)
    assert.are.same(init, none.centroids:totable())
  end)

  it("weights rows as repeated rows would", function()
    local small = lua_blobs(60, 3, 3, 2.0, 5)
    local w, repeated = {}, {}
    for i, r in ipairs(small) do
      w[i] = 1 + i % 3
      for _ = 1, w[i] do repeated[#repeated + 1] = r end
    end
    local init3 = tide.tensor({ small[1], small[2], small[3] }, "f64")
    local a = cluster.kmeans(tide.tensor(small, "f64"), 3,
      { init = init3, sample_weight = tide.tensor(w, "f64"), tol = 0 })
    local b = cluster.kmeans(tide.tensor(repeated, "f64"), 3, { init = init3, tol = 0 })
    assert.is_true(rel(a.inertia, b.inertia) < 1e-12)
    local ca, cb = a.centroids:totable(), b.centroids:totable()
    for j = 1, 3 do
      for t = 1, 3 do assert.is_true(math.abs(ca[j][t] - cb[j][t]) < 1e-12) end
    end
    assert.is_true(rel(a.inertia,
      recomputed_inertia(tide.tensor(small, "f64"), a.labels, a.centroids, w)) < 1e-9)
  end)

  it("re-seeds an empty cluster at the row farthest from its centre", function()
    -- centre 3 gets no row; the farthest rows from their centres are 0 and 0.2 (0.1 away,
    -- a tie: the lower row wins), so centre 3 moves to 0 and cluster 1 keeps 0.1 and 0.2
    local x = tide.tensor({ { 0 }, { 0.1 }, { 0.2 }, { 10 }, { 10.1 } }, "f64")
    local m = cluster.kmeans(x, 3, { init = tide.tensor({ { 0.1 }, { 10.05 }, { 100 } }, "f64"),
      tol = 0 })
    assert.are.equal(1, m.history[1].empty)
    local c = m.centroids:totable()
    assert.is_true(math.abs(c[1][1] - 0.15) < 1e-12)
    assert.is_true(math.abs(c[2][1] - 10.05) < 1e-12)
    assert.are.equal(0, c[3][1])
    assert.are.same({ 3, 1, 1, 2, 2 }, m.labels:totable())
  end)
end)

-- ------------------------------------------------------------------ initialisations

describe("kmeans initialisation", function()
  local x, truth = blobs(20000, 8, 10, 0.2, 3, "f32")

  it("recovers well-separated centres from every init", function()
    for _, init in ipairs { "k-means||", "k-means++" } do
      local m = cluster.kmeans(x, 10, { init = init, seed = 1 })
      assert.is_true(worst_recovery(m.centroids, truth) < 0.1, init)
    end
  end)

  it("is deterministic under a seed, and the seed matters", function()
    local a = cluster.kmeans(x, 10, { init = "random", seed = 5, max_iter = 3 })
    local b = cluster.kmeans(x, 10, { init = "random", seed = 5, max_iter = 3 })
    local c = cluster.kmeans(x, 10, { init = "random", seed = 6, max_iter = 3 })
    assert.are.same(a.centroids:totable(), b.centroids:totable())
    assert.are_not.same(a.centroids:totable(), c.centroids:totable())
  end)

  it("starts from k distinct rows of the data with init = random", function()
    local m = cluster.kmeans(x, 10, { init = "random", seed = 4, max_iter = 0 })
    local seen = {}
    for j = 1, 10 do
      local key = table.concat(m.centroids[j]:totable(), ",")
      assert.is_nil(seen[key])
      seen[key] = true
    end
  end)

  it("copes with fewer distinct rows than k candidates would need", function()
    local same = tide.zeros({ 6, 2 }, "f64")
    same:narrow(1, 4, 3):fill_(1)
    for _, init in ipairs { "k-means||", "k-means++", "random" } do
      local m = cluster.kmeans(same, 2, { init = init })
      assert.are.equal(0, m.inertia)
    end
    local m = cluster.kmeans(same, 6, {})
    assert.are.equal(0, m.inertia)
  end)
end)

-- ------------------------------------------------------------------ the model

describe("kmeans model", function()
  local x = tide.tensor(lua_blobs(200, 4, 3, 1.0, 9), "f64")
  local m = cluster.kmeans(x, 3, { seed = 3 })

  it("predicts the nearest centre and transforms into distances", function()
    local q = tide.tensor({ { 0, 0, 0, 0 }, { 7, 7, 7, 7 }, { 3, 1, 4, 1 } }, "f64")
    local labels = m:predict(q):totable()
    local dist = m:transform(q):totable()
    local c = m.centroids:totable()
    for i, row in ipairs(q:totable()) do
      local best, bj = math.huge, 0
      for j = 1, 3 do
        local e = math.sqrt(sqdist(row, c[j]))
        assert.is_true(math.abs(dist[i][j] - e) < 1e-9)
        if e < best then best, bj = e, j end
      end
      assert.are.equal(bj, labels[i])
    end
    assert.are.same(m.labels:totable(), m:predict(x):totable())
    assert.are.equal("f32", m:transform(q:to("f32")):dtype())
  end)

  it("prints a summary", function()
    assert.truthy(tostring(m):find("k = 3, 4 features", 1, true))
  end)
end)

-- ------------------------------------------------------------------ mini-batch

describe("minibatch_kmeans", function()
  local x, truth = blobs(20000, 8, 6, 0.3, 8, "f32")

  it("recovers the centres from batches of the local rows", function()
    local m = cluster.minibatch_kmeans(x, 6, { batch_size = 512, max_iter = 60, seed = 2 })
    assert.is_true(worst_recovery(m.centroids, truth) < 0.1)
    assert.are.equal(60, m.iterations)
    assert.is_true(rel(m.inertia, recomputed_inertia(x, m.labels, m.centroids)) < 1e-6)
  end)

  it("streams batches from a function until it runs dry", function()
    local calls = {}
    local function next_batch(step)
      calls[#calls + 1] = step
      if step > 40 then return nil end
      return x:narrow(1, 1 + (step * 400) % 19600, 400)
    end
    local m = cluster.minibatch_kmeans(next_batch, 6, { max_iter = 100 })
    assert.is_true(worst_recovery(m.centroids, truth) < 0.1)
    assert.are.equal(40, m.iterations)
    assert.are.equal(0, calls[1])
    assert.is_nil(m.labels)
    local p = m:predict(x)
    assert.is_true(p:min() >= 1 and p:max() <= 6)
  end)

  it("refuses too small a first batch and a bad batch", function()
    assert.has_error(function()
      cluster.minibatch_kmeans(function() return x:narrow(1, 1, 3) end, 6)
    end, "minibatch_kmeans: the first batches hold 3 rows in all, fewer than k = 6 (raise batch_size)")
    assert.has_error(function()
      cluster.minibatch_kmeans(function(s) return s == 0 and x or tide.zeros({ 5, 3 }) end, 6)
    end, "minibatch_kmeans: a batch has 3 features, expected 8")
    assert.has_error(function()
      cluster.minibatch_kmeans(x, 6, { batch_size = 0 })
    end, "minibatch_kmeans: batch_size must be an integer of at least 1, got 0")
  end)
end)

-- ------------------------------------------------------------------ kernels

describe("cluster kernels", function()
  it("assign fills labels, sums, counts and distances for f32 and f64", function()
    for _, dt in ipairs { "f32", "f64" } do
      -- 150 rows: whole vectors of rows and a remainder go through different code
      local rows = lua_blobs(150, 3, 4, 1.0, 21)
      local x = tide.tensor(rows, dt)
      local c = tide.tensor({ rows[1], rows[2], rows[3], rows[4] }, dt)
      local labels, sums = tide.zeros(150, "i32"), tide.zeros({ 4, 3 }, "f64")
      local counts, mind = tide.zeros(4, "f64"), tide.zeros(150, "f64")
      local st = K.assign(x, c, { labels = labels, sums = sums, counts = counts, mind = mind,
        count_changes = true })
      assert.are.equal(150, st.changed)
      local xs, cs, inertia = x:totable(), c:totable(), 0
      local ref_sums = { { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 } }
      for i = 1, 150 do
        local best, bj = math.huge, 0
        for j = 1, 4 do
          local e = sqdist(xs[i], cs[j])
          if e < best then best, bj = e, j end
        end
        assert.are.equal(bj, labels[i])
        assert.is_true(math.abs(mind[i] - best) <= 1e-5 * (1 + best))
        for t = 1, 3 do ref_sums[bj][t] = ref_sums[bj][t] + xs[i][t] end
        inertia = inertia + best
      end
      assert.is_true(rel(st.inertia, inertia) < 1e-6)
      local ss = sums:totable()
      for j = 1, 4 do
        for t = 1, 3 do assert.is_true(math.abs(ss[j][t] - ref_sums[j][t]) < 1e-9) end
      end
      assert.are.equal(0, K.assign(x, c, { labels = labels, count_changes = true }).changed)
    end
  end)

  it("updates centres, keeping those with no rows, and with a prior as mini-batch", function()
    local c = tide.tensor({ { 1, 1 }, { 5, 5 } }, "f64")
    local sums = tide.tensor({ { 4, 6 }, { 0, 0 } }, "f64")
    local counts = tide.tensor({ 2, 0 }, "f64")
    local cn, shift2, norm2, empty = K.update(c, sums, counts)
    assert.are.same({ { 2, 3 }, { 5, 5 } }, cn:totable())
    assert.are.equal(1 + 4, shift2)
    assert.are.equal(2 + 50, norm2)
    assert.are.equal(1, empty)
    local prior = tide.tensor({ 2, 0 }, "f64")
    cn = K.update(c, sums, counts, prior)
    assert.are.same({ { 1.5, 2 }, { 5, 5 } }, cn:totable())
    assert.are.same({ 4, 0 }, prior:totable())
  end)

  it("samples, picks and draws from counter-based streams", function()
    local u = K.uniform(1, 2, 3)
    assert.is_true(u >= 0 and u < 1)
    assert.are.equal(u, K.uniform(1, 2, 3))
    assert.are_not.equal(u, K.uniform(1, 2, 4))
    -- the stream is splitmix64 through hash64 with seed 0: key = h(seed ~ h(stream ~ C)), then
    -- the top 53 bits of h(key + h(counter))
    local function h(x) return tide.hash64(tide.tensor({ x }, "i64"), 0):totable()[1] end
    for _, c in ipairs { { 1, 2, 3 }, { 123456789, 7, 0 }, { -1, 1 << 40, math.maxinteger } } do
      local key = h(c[1] ~ h(c[2] ~ 0x5851f42d4c957f2d))
      assert.are.equal((h(key + h(c[3])) >> 11) * 2.0 ^ -53, K.uniform(c[1], c[2], c[3]))
    end
    local mind = tide.tensor({ 0, 1, 2, 3 }, "f64")
    assert.are.equal(3, K.pick(mind, nil, 1.5))          -- running sums 0, 1, 3, 6
    assert.are.equal(4, K.pick(mind, nil, 99))           -- past the total: the last row
    assert.is_nil(K.pick(tide.zeros(3, "f64"), nil, 0))
    assert.are.equal(6, K.potential(mind, nil))
    assert.are.same({}, K.sample(mind, nil, 0, 1, 1, 0):totable())
    assert.are.same({ 2, 3, 4 }, K.sample(mind, nil, 1, 1, 1, 0):totable())  -- p >= 1
    local r = K.random_rows(10, 1000, 3, 4, 0)
    assert.are.equal(1, r:min())
    assert.are.equal(10, r:max())
    assert.are.same({ 1, 2, 4 },
      K.plusplus(tide.tensor({ { 0 }, { 5 }, { 5 }, { 9 } }, "f64"),
        tide.tensor({ 1, 1, 0, 1 }, "f64"), 3, 0):sort():totable())
    local far, d2 = K.farthest(tide.tensor({ { 0 }, { 3 }, { 1 } }, "f64"),
      tide.tensor({ { 0 } }, "f64"), tide.ones(3, "i32"), 2)
    assert.are.same({ 2, 3 }, far:totable())
    assert.are.same({ 9, 1 }, d2:totable())
  end)

  it("refuses mismatched arguments", function()
    local x = tide.zeros({ 4, 3 })
    assert.has_error(function() K.assign(x, tide.zeros({ 2, 2 })) end,
      "kmeans_assign: the data has 3 features but the centres have 2 (centres 2x2)")
    assert.has_error(function() K.assign(x, tide.zeros({ 2, 3 }, "f64")) end,
      "kmeans_assign: the data is f32 but the centres are f64")
    assert.has_error(function() K.assign(x, tide.zeros({ 2, 3 }), { labels = tide.zeros(4) }) end,
      "kmeans_assign: labels must be a contiguous i32 tensor of 4 elements, got f32 4")
    assert.has_error(function() K.assign(x, tide.zeros({ 2, 3 }), { sums = tide.zeros(5, "f64") }) end,
      "kmeans_assign: sums must be a contiguous f64 tensor of 6 elements, got f64 5")
    assert.has_error(function() K.assign(x, tide.zeros({ 2, 3 }), { bogus = 1 }) end,
      "kmeans_assign: unknown option 'bogus' (expected one of: weight, labels, label_base, "
        .. "count_changes, sums, counts, mind, mind_update)")
    assert.has_error(function() K.plusplus(x, nil, 5, 0) end,
      "kmeans_plusplus: cannot choose 5 centres from 4 points")
  end)
end)

-- ------------------------------------------------------------------ bad input

describe("kmeans bad input", function()
  local x = tide.tensor(lua_blobs(10, 4, 2, 1.0, 1), "f64")

  it("refuses k outside 1..rows", function()
    assert.has_error(function() cluster.kmeans(x, 11) end,
      "kmeans: k = 11 is larger than the number of rows (10)")
    assert.has_error(function() cluster.kmeans(x, 0) end,
      "kmeans: k must be a positive integer, got 0")
    assert.has_error(function() cluster.kmeans(x, 2.5) end,
      "kmeans: k must be a positive integer, got 2.5")
  end)

  it("refuses a d mismatch in predict and transform", function()
    local m = cluster.kmeans(x, 2)
    assert.has_error(function() m:predict(tide.zeros({ 5, 3 }, "f64")) end,
      "kmeans.predict: expected 4 features, got 3")
    assert.has_error(function() m:transform(tide.zeros({ 5, 5 })) end,
      "kmeans.transform: expected 4 features, got 5")
    assert.has_error(function() m:predict(tide.zeros({ 5 })) end,
      "kmeans.predict: expected a 2-D f32 or f64 tensor (rows x features), got f32 5")
  end)

  it("names the row of a NaN or an infinity", function()
    local bad = x:clone()
    bad:set_(7, 2, 0 / 0)
    assert.has_error(function() cluster.kmeans(bad, 2) end,
      "kmeans: NaN in the data at row 7 (rank 0, local row 7)")
    bad:set_(7, 2, 1):set_(3, 4, math.huge)
    assert.has_error(function() cluster.kmeans(bad, 2) end,
      "kmeans: infinity in the data at row 3 (rank 0, local row 3)")
    local m = cluster.kmeans(x, 2)
    assert.has_error(function() m:predict(bad) end,
      "kmeans.predict: infinity in the data at row 3 (rank 0, local row 3)")
  end)

  it("refuses bad data, options and weights", function()
    assert.has_error(function() cluster.kmeans(tide.zeros({ 4 }), 1) end,
      "kmeans: expected a 2-D f32 or f64 tensor (rows x features), got f32 4")
    assert.has_error(function() cluster.kmeans(tide.zeros({ 4, 2 }, "i32"), 1) end,
      "kmeans: expected a 2-D f32 or f64 tensor (rows x features), got i32 4x2")
    assert.has_error(function() cluster.kmeans("x", 1) end,
      "kmeans: expected a tensor or a dtensor, got string")
    assert.has_error(function() cluster.kmeans(x, 2, { iters = 3 }) end,
      "kmeans: unknown option 'iters' (expected one of: callback, comm, init, init_rounds, "
        .. "max_iter, oversampling, sample_weight, seed, tol)")
    assert.has_error(function() cluster.kmeans(x, 2, { init = "kmeans++" }) end,
      'kmeans: init must be "k-means||", "k-means++", "random" or a k x d tensor, got kmeans++')
    assert.has_error(function() cluster.kmeans(x, 2, { init = tide.zeros({ 3, 4 }) }) end,
      "kmeans: init has shape 3x4, expected 2x4 (k x features)")
    assert.has_error(function() cluster.kmeans(x, 2, { max_iter = -1 }) end,
      "kmeans: max_iter must be an integer of at least 0, got -1")
    assert.has_error(function() cluster.kmeans(x, 2, { tol = -1 }) end,
      "kmeans: tol must be a number >= 0, got -1")
    assert.has_error(function() cluster.kmeans(x, 2, { sample_weight = tide.ones(9) }) end,
      "kmeans: sample_weight has shape 9 but this rank has 10 rows")
    local w = tide.ones(10)
    w[4] = -1
    assert.has_error(function() cluster.kmeans(x, 2, { sample_weight = w }) end,
      "kmeans: sample_weight 4 of rank 0 is -1.0 (weights must be finite and >= 0)")
  end)

  it("refuses initial centres and options that cannot be right", function()
    -- NaN centres once gave a NaN inertia and labels all 1
    local init = tide.zeros({ 2, 4 }, "f64")
    init:set_(2, 3, 0 / 0)
    assert.has_error(function() cluster.kmeans(x, 2, { init = init }) end,
      "kmeans: init has NaN in row 2 (centres must be finite)")
    init:set_(2, 3, -math.huge)
    assert.has_error(function() cluster.minibatch_kmeans(x, 2, { init = init }) end,
      "minibatch_kmeans: init has infinity in row 2 (centres must be finite)")
    assert.has_error(function() cluster.kmeans(x, 2, { tol = 0 / 0 }) end,
      "kmeans: tol must be a number >= 0, got NaN")
    assert.has_error(function() cluster.kmeans(x, 2, { oversampling = 0 }) end,
      "kmeans: oversampling must be a number > 0, got 0")
    assert.has_error(function() cluster.kmeans(x, 2, { oversampling = 0 / 0 }) end,
      "kmeans: oversampling must be a number > 0, got NaN")
    assert.has_error(function() cluster.minibatch_kmeans(x, 2, { tol = math.huge }) end,
      "minibatch_kmeans: tol must be a number >= 0, got inf")
    assert.has_error(function() cluster.minibatch_kmeans(x, 2, { batch_size = 0 }) end,
      "minibatch_kmeans: batch_size must be an integer of at least 1, got 0")
    assert.has_error(function() cluster.kmeans(x, 2, { init_rounds = 0 }) end,
      "kmeans: init_rounds must be an integer of at least 1, got 0")
    assert.has_error(function() cluster.kmeans(x, 2, { seed = 0.5 }) end,
      "kmeans: seed must be an integer, got 0.5")
    assert.has_error(function() cluster.kmeans(x, 2, { callback = 1 }) end,
      "kmeans: callback must be a function, got number")
    -- the same centres given finite are taken as they are: with max_iter 0 they are the model's
    init:set_(2, 3, 1)
    assert.are.same(init:totable(), cluster.kmeans(x, 2, { init = init, max_iter = 0 })
      .centroids:totable())
  end)
end)
