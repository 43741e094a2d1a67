-- k-nearest-neighbour imputation and missing-value masks under mpirun (1, 2 or 4 ranks):
-- impute.knn equals scikit-learn's KNNImputer (tests/data/impute_knn_sklearn.json, written by
-- tests/bench/impute_knn_sklearn.py) and a plain Lua loop over nan_euclidean distances, on a
-- tensor and on a dtensor whose neighbours live on other ranks; impute.mask gives the indicator
-- columns of scikit-learn's add_indicator (issue 16, the seeds' question on missing data).
local tide = require "tide"
local impute = require "tide.impute"
local dtensor = require "tide.dtensor"
local cjson = require "cjson"

local S = require "support.spec"
local world, me, err_of = S.world, S.me, S.err_of

local ref = require("support.refdata").read("impute_knn_sklearn.json")
local n, d = ref.n, ref.d
local rows = {}
for i = 1, n do
  rows[i] = {}
  for j = 1, d do
    local v = ref.X[i][j]
    rows[i][j] = v == cjson.null and 0 / 0 or v
  end
end
local X = tide.tensor(rows, "f64")

-- scikit-learn's KNNImputer written as loops: for each hole, the donors having the feature at
-- a nan_euclidean distance (over the features both rows have, scaled by d / common), the k
-- nearest averaged; no donor at any distance: the column's mean.
local function knn_loops(k)
  local out = {}
  for i = 1, n do
    out[i] = {}
    for c = 1, d do
      local v = rows[i][c]
      if v ~= v then
        local cand, sum, cnt = {}, 0, 0
        for j = 1, n do
          local w = rows[j][c]
          if w == w then
            sum, cnt = sum + w, cnt + 1
            local s, common = 0, 0
            for f2 = 1, d do
              local a, b = rows[i][f2], rows[j][f2]
              if a == a and b == b then s, common = s + (a - b) ^ 2, common + 1 end
            end
            if common > 0 then cand[#cand + 1] = { s * d / common, j, w } end
          end
        end
        table.sort(cand, function(p, q) return p[1] < q[1] or (p[1] == q[1] and p[2] < q[2]) end)
        if #cand == 0 then
          v = sum / cnt
        else
          local t = 0
          for m = 1, math.min(k, #cand) do t = t + cand[m][3] end
          v = t / math.min(k, #cand)
        end
      end
      out[i][c] = v
    end
  end
  return out
end

local function max_diff(t, want)
  local worst = 0
  for i = 1, n do
    for j = 1, d do worst = math.max(worst, math.abs(t:get(i, j) - want[i][j])) end
  end
  return worst
end

-- X sharded unevenly: rank r holds r + 1 parts of the rows (the last rank the rest)
local function uneven(M)
  local P, parts = world.size, world.size * (world.size + 1) // 2
  local first, count = 0, 0
  for r = 0, me do
    first = first + count
    count = r == P - 1 and n - first or (n * (r + 1)) // parts
  end
  return dtensor.from_local(M:narrow(1, first + 1, count):clone(), world)
end

describe("impute.knn", function()
  it("equals scikit-learn's KNNImputer and a plain loop for k = 1, 3, 5", function()
    for _, k in ipairs({ 1, 3, 5 }) do
      local filled = impute.knn(X, { k = k })
      assert.is_true(max_diff(filled, ref["knn" .. k]) <= 1e-12)
      assert.is_true(max_diff(filled, knn_loops(k)) <= 1e-12)
    end
    assert.is_true(max_diff(impute.knn(X), ref.knn5) <= 1e-12)   -- k = 5 by default
    assert.is_true(X:isnan():any())   -- X keeps its holes
  end)

  it("finds neighbours on every rank of a dtensor, sharded as the input", function()
    local D = uneven(X)
    local filled = impute.knn(D, { k = 3 })
    assert.is_true(dtensor.is_dtensor(filled))
    assert.are.same(D:row_counts(), filled:row_counts())
    assert.is_true(max_diff(filled:full(), ref.knn3) <= 1e-12)
    local even = impute.knn(dtensor.scatter(me == 0 and X or nil, 0), { k = 5 })
    assert.is_true(max_diff(even:full(), ref.knn5) <= 1e-12)
  end)

  it("keeps f32 as f32, and a matrix without holes unchanged", function()
    local f32 = impute.knn(X:to("f32"), { k = 3 })
    assert.are.equal("f32", f32:dtype())
    assert.is_true(max_diff(f32:to("f64"), ref.knn3) <= 1e-4)
    local full = tide.tensor({ { 1, 2 }, { 3, 4 } }, "f64")
    assert.are.same(full:totable(), impute.knn(full):totable())
  end)

  it("errors name the option, the column with no value and the wrong input", function()
    assert.are.equal("impute.knn: k must be an integer of at least 1, got 0",
      err_of(function() impute.knn(X, { k = 0 }) end))
    assert.are.equal("impute.knn: unknown option 'n_neighbors' (expected one of: k)",
      err_of(function() impute.knn(X, { n_neighbors = 3 }) end))
    local Y = X:clone()
    Y:select(2, 2):fill_(0 / 0)
    assert.are.equal("impute.knn: column 2 has no value (every row is NaN)",
      err_of(function() impute.knn(Y) end))
    assert.are.equal("impute.knn: expected a 2-D tensor or dtensor, got 1-D tensor",
      err_of(function() impute.knn(tide.zeros({ 3 }, "f64")) end))
  end)
end)

describe("impute.mask", function()
  -- scikit-learn's SimpleImputer(add_indicator = True): the imputed columns, then one 0/1
  -- column per feature with a hole
  local with = ref.mean_with_indicator
  local columns = {}
  for j = 1, d do
    for i = 1, n do
      if rows[i][j] ~= rows[i][j] then columns[#columns + 1] = j break end
    end
  end

  local function check(imputed, indicator, cols)
    assert.are.same(columns, cols)
    local both = tide.cat({ imputed, indicator }, 2)
    assert.are.same({ n, d + #cols }, both:shape())
    for i = 1, n do
      for j = 1, d + #cols do assert.is_true(math.abs(both:get(i, j) - with[i][j]) <= 1e-12) end
    end
  end

  it("gives the mean-imputed copy and scikit-learn's add_indicator columns", function()
    check(impute.mask(X))
    local DI, Dind, cols = impute.mask(uneven(X))
    assert.is_true(dtensor.is_dtensor(DI) and dtensor.is_dtensor(Dind))
    check(DI:full(), Dind:full(), cols)
  end)

  it("takes the knn strategy, and every feature with features = 'all'", function()
    local imputed, indicator, cols = impute.mask(uneven(X), { strategy = "knn", k = 3,
      features = "all" })
    assert.is_true(max_diff(imputed:full(), ref.knn3) <= 1e-12)
    assert.are.same({ 1, 2, 3, 4, 5 }, cols)
    local ind = indicator:full()
    for i = 1, n do
      for j = 1, d do assert.are.equal(rows[i][j] ~= rows[i][j] and 1 or 0, ind:get(i, j)) end
    end
    local _, none, nocols = impute.mask(tide.ones({ 3, 2 }, "f64"))
    assert.are.same({}, nocols)
    assert.are.same({ 3, 0 }, none:shape())
  end)

  it("errors name the option", function()
    assert.are.equal('impute.mask: strategy must be "mean", "median" or "knn", got mode',
      err_of(function() impute.mask(X, { strategy = "mode" }) end))
    assert.are.equal('impute.mask: features must be "missing-only" or "all", got some',
      err_of(function() impute.mask(X, { features = "some" }) end))
    assert.are.equal('impute.mask: option k needs strategy = "knn", got strategy = "mean"',
      err_of(function() impute.mask(X, { k = 3 }) end))
  end)
end)
