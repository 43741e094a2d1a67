-- tide.cluster across ranks: the true centres are recovered, the distributed answer equals the
-- one-rank answer (computed here on every rank on the whole data set), the inertia equals a
-- recomputation from the labels, and a bad rank fails every rank with a message naming it.
local tide = require "tide"
local cluster = require "tide.cluster"

local world = tide.world
local P, R = world.size, world.rank

local N, D, NK = 20000, 8, 10

-- The whole data set (same on every rank) and this rank's block of it.
local full, truth = tide.data.blobs { n = N, d = D, k = NK, std = 0.5, seed = 4 }
local mine = tide.data.blobs { n = N, d = D, k = NK, std = 0.5, seed = 4, comm = world }

local function block(n)
  local base, extra = n // P, n % P
  return R * base + math.min(R, extra), base + (R < extra and 1 or 0)
end
local first, count = block(N)

local function worst_recovery(found, centres)
  local worst = 0
  local f, c = found:totable(), centres:totable()
  for j = 1, #c do
    local best = math.huge
    for i = 1, #f do
      local s = 0
      for t = 1, #c[j] do s = s + (f[i][t] - c[j][t]) ^ 2 end
      best = math.min(best, s)
    end
    worst = math.max(worst, math.sqrt(best))
  end
  return worst
end

local function rel(a, b) return math.abs(a - b) / math.abs(b) end

local function local_labels(labels)
  return tide.is_tensor(labels) and labels or labels.shard
end

-- Σ over ranks of the local Σ ‖x − c_label‖², recomputed in plain Lua.
local function recomputed(x, labels, c)
  local s = 0
  local xs, ls, cs = x:totable(), local_labels(labels):totable(), c:totable()
  for i = 1, #xs do
    for t = 1, #xs[i] do s = s + (xs[i][t] - cs[ls[i]][t]) ^ 2 end
  end
  return world:allreduce(s)
end

describe("distributed kmeans on " .. P .. " ranks", function()
  it("has each rank's rows as the block of the whole data set", function()
    assert.are.same(full:narrow(1, first + 1, count):totable(), mine:totable())
  end)

  it("recovers the true centres of a dtensor (k-means|| init), labels as a dtensor", function()
    local dt = tide.dtensor.from_local(mine, world)
    local m = cluster.kmeans(dt, NK, { seed = 1 })
    assert.is_true(worst_recovery(m.centroids, truth) < 0.1)
    assert.is_true(rel(m.inertia, recomputed(mine, m.labels, m.centroids)) < 1e-6)
    assert.is_true(tide.dtensor.is_dtensor(m.labels))
    assert.are.same({ N }, m.labels:global_shape())
    assert.are.equal("i32", m.labels.shard:dtype())
    local p = m:predict(dt)
    assert.is_true(tide.dtensor.is_dtensor(p))
    assert.are.same(m.labels.shard:totable(), p.shard:totable())
    local dist = m:transform(dt)
    assert.are.same({ N, NK }, dist:global_shape())
  end)

  it("equals the one-rank answer for every init under the same seed", function()
    for _, init in ipairs { "k-means||", "k-means++", "random" } do
      local one = cluster.kmeans(full, NK, { seed = 7, init = init, max_iter = 20, tol = 0 })
      local many = cluster.kmeans(mine, NK, { comm = world, seed = 7, init = init,
        max_iter = 20, tol = 0 })
      assert.is_true(rel(many.inertia, one.inertia) < 1e-4, init)
      assert.is_true(worst_recovery(many.centroids, one.centroids) < 1e-4, init)
      -- the same labels, but for a rare row on a boundary that summation order may tip
      local a, b = one.labels:narrow(1, first + 1, count):totable(),
        local_labels(many.labels):totable()
      local differ = 0
      for i = 1, count do
        if a[i] ~= b[i] then differ = differ + 1 end
      end
      assert.is_true(differ <= count // 1000, init)
    end
  end)

  it("weights rows the same way on one rank and on many", function()
    local w = tide.rand({ N }, { seed = 9, same_on_all_ranks = true, dtype = "f64" }):add(0.5)
    local init = full:narrow(1, 1, NK):clone()
    local one = cluster.kmeans(full, NK, { init = init, sample_weight = w, max_iter = 10 })
    local many = cluster.kmeans(mine, NK, { init = init, comm = world, max_iter = 10,
      sample_weight = w:narrow(1, first + 1, count) })
    assert.is_true(rel(many.inertia, one.inertia) < 1e-6)
  end)

  it("re-seeds an empty cluster the same way on one rank and on many", function()
    local init = full:narrow(1, 1, NK):clone()
    init[NK]:fill_(1000)      -- no row is near it
    local one = cluster.kmeans(full, NK, { init = init, max_iter = 5, tol = 0 })
    local many = cluster.kmeans(mine, NK, { init = init, comm = world, max_iter = 5, tol = 0 })
    assert.are.equal(1, one.history[1].empty)
    assert.are.equal(1, many.history[1].empty)
    assert.is_true(worst_recovery(many.centroids, one.centroids) < 1e-4)
    assert.is_true(rel(many.inertia, one.inertia) < 1e-6)
  end)

  it("fits mini-batches drawn on every rank", function()
    local m = cluster.minibatch_kmeans(mine, NK, { comm = world, batch_size = 256,
      max_iter = 60, seed = 3 })
    assert.is_true(worst_recovery(m.centroids, truth) < 0.1)
    assert.is_true(rel(m.inertia, recomputed(mine, m.labels, m.centroids)) < 1e-6)
  end)

  it("streams batches from every rank, some ending sooner, one sending a bad one", function()
    -- rank r streams its own rows in batches of 500 and runs dry after 10 + r steps
    local function next_batch(step)
      if step >= 10 + R then return nil end
      return mine:narrow(1, 1 + (step * 500) % (count - 500), 500)
    end
    local m = cluster.minibatch_kmeans(next_batch, NK, { comm = world, max_iter = 100 })
    assert.are.equal(10 + P - 2, m.iterations)
    assert.are.equal(500, m.history[#m.history].rows)
    assert.is_true(worst_recovery(m.centroids, truth) < 0.1)
    local function bad_batch(step)
      if step == 2 and R == P - 1 then return tide.zeros({ 5, 3 }) end
      return mine:narrow(1, 1, 500)
    end
    local ok, err = pcall(cluster.minibatch_kmeans, bad_batch, NK, { comm = world })
    assert.is_false(ok)
    assert.truthy(tostring(err):find(R == P - 1
      and "minibatch_kmeans: a batch has 3 features, expected 8"
      or ("minibatch_kmeans: rank %d failed (see its error)"):format(P - 1), 1, true))
  end)

  it("predicts across ranks what one rank predicts", function()
    local m = cluster.kmeans(full, NK, { seed = 2 })
    assert.are.same(m.labels:narrow(1, first + 1, count):totable(),
      m:predict(mine):totable())
  end)

  it("fails every rank when one rank's rows hold a NaN, naming the rank and row", function()
    local bad = mine:clone()
    if R == P - 1 then bad:set_(3, 2, 0 / 0) end
    local last_first = (P - 1) * (N // P) + math.min(P - 1, N % P)
    assert.has_error(function() cluster.kmeans(bad, NK, { comm = world }) end,
      ("kmeans: NaN in the data at row %d (rank %d, local row 3)"):format(last_first + 3, P - 1))
  end)

  it("fails every rank on rows of different widths on one rank", function()
    if P == 1 then return end   -- needs a second rank to disagree with
    local x = R == 1 and tide.zeros({ 5, D + 1 }) or tide.zeros({ 5, D })
    local ok, err = pcall(cluster.kmeans, x, 2, { comm = world })
    assert.is_false(ok)
    assert.truthy(tostring(err):find(R == 1
      and "kmeans: rank 0 has f32 rows of 8 features but rank 1 has f32 rows of 9"
      or ("kmeans: rank 1 has f32 rows of 9 features but rank %d has f32 rows of 8"):format(R),
      1, true))
  end)

  it("fails every rank on a bad weight on rank 0", function()
    local w = tide.ones(count)
    if R == 0 then w[2] = -1 end
    local ok, err = pcall(cluster.kmeans, mine, 2, { comm = world, sample_weight = w })
    assert.is_false(ok)
    assert.truthy(tostring(err):find(R == 0
      and "kmeans: sample_weight 2 of rank 0 is -1.0 (weights must be finite and >= 0)"
      or "kmeans: rank 0 failed (see its error)", 1, true))
  end)

  it("works when some ranks hold no rows", function()
    local few = tide.data.blobs { n = 3, d = 2, k = 2, seed = 5 }
    local part = tide.data.blobs { n = 3, d = 2, k = 2, seed = 5, comm = world }
    for _, init in ipairs { "k-means||", "k-means++", "random" } do
      local one = cluster.kmeans(few, 2, { init = init, seed = 1 })
      local many = cluster.kmeans(part, 2, { init = init, seed = 1, comm = world })
      assert.is_true(math.abs(many.inertia - one.inertia) <= 1e-6 * one.inertia, init)
    end
    local mb = cluster.minibatch_kmeans(part, 2, { comm = world, batch_size = 2, max_iter = 3 })
    assert.are.equal(3, mb.iterations)
  end)

  it("refuses more clusters than rows on every rank", function()
    assert.has_error(function() cluster.kmeans(mine, N + 1, { comm = world }) end,
      ("kmeans: k = %d is larger than the number of rows (%d)"):format(N + 1, N))
  end)
end)
