-- Cross-validation and missing data under mpirun (1, 2 or 4 ranks): k-fold folds that
-- partition the rows exactly, stratified folds within one row of the class ratios, folds spread
-- over ranks with every result gathered, and mean/median imputation equal to numpy's
-- nanmean/nanmedian (tests/data/impute_numpy.json, written by tests/bench/impute_numpy.py)
-- on a tensor and on a dtensor (issue 16, acceptance 4), plus the errors.
local tide = require "tide"
local ms = require "tide.model_selection"
local impute = require "tide.impute"
local dtensor = require "tide.dtensor"

local S = require "support.spec"
local world, P, me, err_of = S.world, S.P, S.me, S.err_of

-- the multiset of a list of index tensors, as a count per row
local function counts_of(list, n)
  local seen = {}
  for i = 1, n do seen[i] = 0 end
  for _, idx in ipairs(list) do
    assert.are.equal("i64", idx:dtype())
    for _, i in ipairs(idx:totable()) do seen[i] = seen[i] + 1 end
  end
  return seen
end

local function ones(n)
  local t = {}
  for i = 1, n do t[i] = 1 end
  return t
end

describe("kfold", function()
  it("tests every row exactly once, trains on the rest, in contiguous runs without a seed", function()
    local n, k = 103, 5
    local folds = ms.kfold(n, k)
    local tests = {}
    for f, fold in ipairs(folds) do
      tests[f] = fold.test
      assert.are.equal(f <= n % k and 21 or 20, fold.test:numel())
      local c = counts_of({ fold.train, fold.test }, n)
      assert.are.same(ones(n), c)
    end
    assert.are.same(ones(n), counts_of(tests, n))
    local first = {}
    for i = 1, 21 do first[i] = i end
    assert.are.same(first, folds[1].test:totable())
  end)

  it("shuffles with a seed, the same on every rank", function()
    local folds = ms.kfold(50, 4, { seed = 9 })
    local tests = {}
    for f, fold in ipairs(folds) do tests[f] = fold.test end
    assert.are.same(ones(50), counts_of(tests, 50))
    assert.are_not.same(ms.kfold(50, 4)[1].test:totable(), folds[1].test:totable())
    local all = world:allgather_obj(folds[2].test:totable())
    for r = 1, P do assert.are.same(all[1], all[r]) end
  end)

  it("stratified folds keep each class within one row of its share", function()
    local n, k = 103, 4
    local labels, class_n = {}, { [0] = 0, 0, 0 }
    for i = 1, n do
      labels[i] = (i * 7) % 10 < 5 and 0 or ((i * 7) % 10 < 8 and 1 or 2)
      class_n[labels[i]] = class_n[labels[i]] + 1
    end
    local y = tide.tensor(labels, "i64")
    for _, seed in ipairs({ false, 3 }) do
      local folds = ms.kfold(n, k, { stratify = y, seed = seed or nil })
      local tests = {}
      for f, fold in ipairs(folds) do
        tests[f] = fold.test
        local per = { [0] = 0, 0, 0 }
        for _, i in ipairs(fold.test:totable()) do per[labels[i]] = per[labels[i]] + 1 end
        for c = 0, 2 do
          assert.is_true(math.abs(per[c] - class_n[c] / k) < 1, "class " .. c .. " fold " .. f)
        end
      end
      assert.are.same(ones(n), counts_of(tests, n))
    end
  end)

  it("train_test_split splits disjointly at the asked size", function()
    local train, test = ms.train_test_split(10, { test_size = 0.3, seed = 1 })
    assert.are.equal(3, test:numel())
    assert.are.same(ones(10), counts_of({ train, test }, 10))
    local y = tide.tensor({ 0, 0, 0, 0, 1, 1, 1, 1 }, "i64")
    local tr, te = ms.train_test_split(8, { test_size = 0.25, stratify = y })
    assert.are.same({ 1, 5 }, te:totable())
    assert.are.same(ones(8), counts_of({ tr, te }, 8))
  end)

  it("errors name the argument", function()
    assert.are.equal("model_selection.kfold: expected k as an integer in 2..n (n = 5), got 6",
      err_of(function() ms.kfold(5, 6) end))
    assert.are.equal("model_selection.kfold: expected k as an integer in 2..n (n = 5), got 1",
      err_of(function() ms.kfold(5, 1) end))
    assert.are.equal("model_selection.kfold: expected n as a non-negative integer, got 2.5",
      err_of(function() ms.kfold(2.5, 2) end))
    assert.are.equal("model_selection.kfold: expected stratify as a 1-D tensor of 5 labels, got a tensor of shape {4}",
      err_of(function() ms.kfold(5, 2, { stratify = tide.zeros({ 4 }, "i64") }) end))
    assert.truthy(err_of(function() ms.kfold(5, 2, { sead = 1 }) end):find("sead", 1, true))
    assert.are.equal("model_selection.train_test_split: expected test_size in (0, 1), got 1.5",
      err_of(function() ms.train_test_split(5, { test_size = 1.5 }) end))
  end)
end)

describe("cross_validate", function()
  it("runs fold f on rank (f - 1) % P and gives every rank every fold's result", function()
    local n = 40
    local rows = {}
    for i = 1, n do rows[i] = { i, i * i } end
    local X = tide.tensor(rows, "f64")
    local y = X:select(2, 1):mul(2)
    local results = ms.cross_validate(function(train, test, f)
      -- the fold's rows: the mean of test y, from the data handed over
      return { f = f, rank = me, mean = test.y:mean(), ntrain = train.X:size(1),
        first = test.X:get(1, 1) }
    end, { X = X, y = y }, 5)
    assert.are.equal(5, #results)
    local folds = ms.kfold(n, 5)
    for f = 1, 5 do
      assert.are.equal(f, results[f].f)
      assert.are.equal((f - 1) % P, results[f].rank)
      local s = 0
      for _, i in ipairs(folds[f].test:totable()) do s = s + 2 * i end
      assert.is_true(math.abs(results[f].mean - s / folds[f].test:numel()) < 1e-12)
      assert.are.equal(n - folds[f].test:numel(), results[f].ntrain)
      assert.are.equal(folds[f].test:get(1), results[f].first)
    end
  end)

  it("errors name the argument", function()
    local X = tide.zeros({ 4, 2 }, "f64")
    assert.are.equal("model_selection.cross_validate: expected fit_fn as a function, got nil",
      err_of(function() ms.cross_validate(nil, { X = X }, 2) end))
    assert.are.equal("model_selection.cross_validate: data.y has 3 rows, the others 4",
      err_of(function() ms.cross_validate(function() end, { X = X, y = tide.zeros({ 3 }) }, 2) end))
  end)
end)

describe("impute", function()
  local ref = require("support.refdata").read("impute_numpy.json")
  local n, d = ref.n, ref.d
  local rows = {}
  for i = 1, n do
    rows[i] = {}
    for j = 1, d do
      rows[i][j] = (i + 2 * j) % 5 == 0 and 0 / 0 or math.sin(i * j) * 10 + j
    end
  end
  local X = tide.tensor(rows, "f64")

  local function check_filled(filled, stats)
    for i = 1, n do
      for j = 1, d do
        local want = (i + 2 * j) % 5 == 0 and stats[j] or rows[i][j]
        assert.is_true(math.abs(filled:get(i, j) - want) <= 1e-12)
      end
    end
  end

  it("mean equals numpy's nanmean per column, on a tensor and on a dtensor", function()
    local stats = impute.statistics(X, "mean"):totable()
    for j = 1, d do assert.is_true(math.abs(stats[j] - ref.nanmean[j]) <= 1e-12) end
    check_filled(impute.mean(X), ref.nanmean)
    assert.is_true(X:get(1, 2) ~= X:get(1, 2))   -- the input still holds its NaN
    local D = dtensor.scatter(me == 0 and X or nil, 0)
    local dstats = impute.statistics(D, "mean"):totable()
    for j = 1, d do assert.is_true(math.abs(dstats[j] - ref.nanmean[j]) <= 1e-12) end
    local filled = impute.mean(D)
    assert.is_true(dtensor.is_dtensor(filled))
    assert.are.same(D:row_counts(), filled:row_counts())
    check_filled(filled:full(), ref.nanmean)
  end)

  it("median equals numpy's nanmedian per column, and f32 stays f32", function()
    local stats = impute.statistics(X, "median"):totable()
    for j = 1, d do assert.is_true(math.abs(stats[j] - ref.nanmedian[j]) <= 1e-12) end
    check_filled(impute.median(dtensor.scatter(me == 0 and X or nil, 0)):full(), ref.nanmedian)
    local f32 = impute.median(X:to("f32"))
    assert.are.equal("f32", f32:dtype())
  end)

  it("errors name the column with no value and the wrong input", function()
    local Y = X:clone()
    Y:select(2, 3):fill_(0 / 0)
    assert.are.equal("impute.mean: column 3 has no value (every row is NaN)",
      err_of(function() impute.mean(Y) end))
    assert.are.equal("impute.median: column 3 has no value (every row is NaN)",
      err_of(function() impute.median(Y) end))
    assert.are.equal("impute.mean: expected a 2-D tensor or dtensor, got 1-D tensor",
      err_of(function() impute.mean(tide.zeros({ 3 }, "f64")) end))
    assert.are.equal("impute.mean: expected f32 or f64 values, got i64",
      err_of(function() impute.mean(tide.zeros({ 3, 2 }, "i64")) end))
  end)
end)
