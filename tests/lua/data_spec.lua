-- tide.data: the Fashion-MNIST reader, synthetic sets, the distributed sampler (checked as a
-- partition of the samples) and the loader.
local tide = require "tide"
local data = require "tide.data"

local function list(t) return t:totable() end

describe("fashion_mnist", function()
  local have = io.open(data.FASHION_MNIST_PATH .. "/t10k-labels-idx1-ubyte.gz", "rb")
  if have then have:close() end

  it("reads the test split: 10000 images of 784 pixels in [0, 1], labels 1..10", function()
    if not have then
      pending("dataset-fashion-mnist is not installed")
      return
    end
    local t = data.fashion_mnist { split = "test" }
    assert.are.equal(10000, t.n)
    assert.are.same({ 10000, 784 }, t.x:shape())
    assert.are.equal("f32", t.x:dtype())
    assert.are.equal("i64", t.y:dtype())
    assert.are.equal(0, t.x:min())
    assert.are.equal(1, t.x:max())
    assert.are.equal(1, t.y:min())
    assert.are.equal(10, t.y:max())
    -- the test split is balanced: 1000 images of each class
    local counts = {}
    for _, v in ipairs(list(t.y)) do counts[v] = (counts[v] or 0) + 1 end
    for c = 1, 10 do assert.are.equal(1000, counts[c]) end
    -- pixels are bytes / 255
    local row = list(t.x[1])
    for _, v in ipairs(row) do
      local b = v * 255
      assert.is_true(math.abs(b - math.floor(b + 0.5)) < 1e-4)
    end
  end)

  it("names the package when the data set is missing", function()
    assert.has_error(function() data.fashion_mnist { path = "/nonexistent" } end,
      "data.fashion_mnist: the data set is missing (no /nonexistent/train-images-idx3-ubyte.gz); " ..
      "install the Debian package dataset-fashion-mnist, or pass path= to a folder with its IDX .gz files")
    assert.has_error(function() data.fashion_mnist { split = "valid" } end,
      'data.fashion_mnist: split must be "train" or "test", got valid')
    assert.has_error(function() data.fashion_mnist { splt = "test" } end,
      "data.fashion_mnist: unknown option 'splt' (expected one of: path, split)")
  end)
end)

describe("synthetic_classification", function()
  it("is reproducible, labels 1..classes, points near their class centre", function()
    local a = data.synthetic_classification { n = 500, d = 4, classes = 3, seed = 7 }
    local b = data.synthetic_classification { n = 500, d = 4, classes = 3, seed = 7 }
    assert.are.same(list(a.y), list(b.y))
    assert.are.same(list(a.x), list(b.x))
    assert.are.same({ 500, 4 }, a.x:shape())
    assert.are.equal(1, a.y:min())
    assert.are.equal(3, a.y:max())
    -- the class means are separation-scaled centres; the noise has variance 1
    local sums, counts = {}, {}
    local xs, ys = list(a.x), list(a.y)
    for i, y in ipairs(ys) do
      sums[y] = sums[y] or { 0, 0, 0, 0 }
      counts[y] = (counts[y] or 0) + 1
      for j = 1, 4 do sums[y][j] = sums[y][j] + xs[i][j] end
    end
    local var, n = 0, 0
    for i, y in ipairs(ys) do
      for j = 1, 4 do
        var = var + (xs[i][j] - sums[y][j] / counts[y]) ^ 2
        n = n + 1
      end
    end
    assert.is_true(math.abs(var / n - 1) < 0.15)
    assert.has_error(function() data.synthetic_classification { n = 0, d = 2, classes = 2 } end,
      "data.synthetic_classification: n must be an integer of at least 1, got 0")
    assert.has_error(function()
      data.synthetic_classification { n = 4, d = 2, classes = 2, separation = 0 / 0 }
    end, "data.synthetic_classification: separation must be a number >= 0, got NaN")
    assert.has_error(function()
      data.synthetic_classification { n = 4, d = 2, classes = 2, seed = -1 }
    end, "data.synthetic_classification: seed must be an integer of at least 0, got -1")
  end)
end)

describe("blobs", function()
  it("gives every rank its block of the rows one process would make", function()
    local all, centres, labels = data.blobs { n = 10, d = 3, k = 4, seed = 5, dtype = "f64" }
    -- the same generator again, as a plain loop: row i is centre labels[i] plus noise
    local at = 0
    for rank = 0, 2 do
      local x, c, l = data.blobs { n = 10, d = 3, k = 4, seed = 5, dtype = "f64",
        comm = { rank = rank, size = 3 } }
      assert.are.same(centres:totable(), c:totable())
      for i = 1, x:size(1) do
        assert.are.same(all[at + i]:totable(), x[i]:totable())
        assert.are.equal(labels[at + i], l[i])
      end
      at = at + x:size(1)
    end
    assert.are.equal(10, at)
    for i = 1, 10 do
      assert.is_true(labels[i] >= 1 and labels[i] <= 4)
    end
    for _, v in ipairs(centres:view(-1):totable()) do
      assert.is_true(v >= -5 and v < 5)
    end
    -- tide.cluster.blobs is the same generator under its first name
    local x2 = tide.cluster.blobs { n = 10, d = 3, k = 4, seed = 5, dtype = "f64" }
    assert.are.same(all:totable(), x2:totable())
  end)

  it("refuses sizes and spreads that cannot be right", function()
    assert.has_error(function() data.blobs { d = 2, k = 2 } end, "data.blobs: n is required")
    assert.has_error(function() data.blobs { n = 4, d = 2, k = 2, std = 0 / 0 } end,
      "data.blobs: std must be a number >= 0, got NaN")
    assert.has_error(function() data.blobs { n = 4, d = 2, k = 2, box = -1 } end,
      "data.blobs: box must be a number >= 0, got -1")
    assert.has_error(function() data.blobs { n = 4, d = 0, k = 2 } end,
      "data.blobs: d must be an integer of at least 1, got 0")
  end)
end)

describe("DistributedSampler", function()
  it("splits a permutation among ranks: disjoint, complete, same on every rank", function()
    local seen = {}
    local per_rank = {}
    for r = 0, 2 do
      local s = data.DistributedSampler { n = 10, comm = { rank = r, size = 3 }, seed = 5 }
      s:set_epoch(2)
      local idx = list(s:indices())
      assert.are.equal(4, #idx)               -- ceil(10 / 3), padded
      assert.are.equal(4, s.num_samples)
      per_rank[r] = idx
      for _, i in ipairs(idx) do seen[i] = (seen[i] or 0) + 1 end
    end
    local total = 0
    for i = 1, 10 do
      assert.is_true(seen[i] ~= nil, "index " .. i .. " missing")
      total = total + seen[i]
    end
    assert.are.equal(12, total)               -- two indices repeated as padding
    -- the strided split: rank r holds entries r+1, r+4, ... of one permutation
    local perm = list(tide.randperm(10, { seed = 7, dtype = "i64", same_on_all_ranks = true }))
    local s0 = data.DistributedSampler { n = 10, comm = { rank = 1, size = 3 }, seed = 5 }
    s0:set_epoch(2)
    assert.are.same({ perm[2], perm[5], perm[8], perm[1] }, list(s0:indices()))
  end)

  it("drops the tail with drop_last, and changes order with the epoch", function()
    local s = data.DistributedSampler { n = 10, comm = { rank = 0, size = 3 }, drop_last = true }
    assert.are.equal(3, #list(s:indices()))
    local a = list(s:indices())
    s:set_epoch(1)
    assert.are_not.same(a, list(s:indices()))
    local fixed = data.DistributedSampler { n = 6, comm = { rank = 1, size = 2 }, shuffle = false }
    assert.are.same({ 2, 4, 6 }, list(fixed:indices()))
  end)

  it("refuses bad arguments", function()
    assert.has_error(function() data.DistributedSampler { n = 3, comm = { rank = 2, size = 2 } } end,
      "data.DistributedSampler: comm must have an integer rank in 0..size-1 and size")
    assert.has_error(function() data.DistributedSampler { n = 1, comm = { rank = 0, size = 2 }, drop_last = true } end,
      "data.DistributedSampler: drop_last with 1 samples leaves nothing for 2 ranks")
    assert.has_error(function() data.DistributedSampler { n = 4, sed = 1 } end,
      "data.DistributedSampler: unknown option 'sed' (expected one of: comm, drop_last, n, seed, shuffle)")
  end)
end)

describe("DataLoader", function()
  local ds = { x = tide.arange(0, 20, 1, "f32"):reshape({ 10, 2 }), y = tide.arange(1, 11, 1, "i64") }

  it("yields contiguous batches in sampler order, the last one short", function()
    local loader = data.DataLoader(ds, { batch_size = 4 })
    assert.are.equal(3, loader:num_batches())
    local got = {}
    for x, y, k in loader:batches() do
      assert.is_true(x:is_contiguous())
      got[k] = { list(x), list(y) }
    end
    assert.are.same({ { { 0, 1 }, { 2, 3 }, { 4, 5 }, { 6, 7 } }, { 1, 2, 3, 4 } }, got[1])
    assert.are.same({ { { 16, 17 }, { 18, 19 } }, { 9, 10 } }, got[3])
    local dropped = data.DataLoader(ds, { batch_size = 4, drop_last = true })
    local n = 0
    for _ in dropped:batches() do n = n + 1 end
    assert.are.equal(2, n)
    assert.are.equal(2, dropped:num_batches())
  end)

  it("keeps inputs and targets together when shuffling", function()
    local loader = data.DataLoader(ds, { batch_size = 3, shuffle = true, seed = 3 })
    local labels = {}
    for x, y in loader:batches() do
      local xs, ys = list(x), list(y)
      for i = 1, #ys do
        assert.are.equal(2 * (ys[i] - 1), xs[i][1])
        labels[#labels + 1] = ys[i]
      end
    end
    table.sort(labels)
    assert.are.same(list(ds.y), labels)
  end)

  it("refuses mismatched data and bad options", function()
    assert.has_error(function() data.DataLoader({ x = tide.zeros({ 3, 2 }), y = tide.zeros({ 4 }) }, { batch_size = 2 }) end,
      "data.DataLoader: the data set has 3 inputs but 4 targets")
    assert.has_error(function() data.DataLoader(ds, { batch_size = 0 }) end,
      "data.DataLoader: batch_size must be an integer of at least 1, got 0")
    assert.has_error(function() data.DataLoader(ds, { batch_size = 2, sampler = data.Sampler { n = 5 } }) end,
      "data.DataLoader: the sampler covers 5 samples but the data set has 10")
  end)
end)
