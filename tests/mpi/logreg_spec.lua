-- Logistic regression under mpirun (1, 2 or 4 ranks) against scikit-learn's
-- LogisticRegression(C, tol = 1e-10) (tests/data/logreg_sklearn.json, written by
-- tests/bench/logreg_sklearn.py with /usr/bin/python3) and the optimum of the same objective
-- found by Newton's method in numpy (tests/data/logreg_twin.json, tests/bench/logreg_twin.py):
-- the loss within 1e-6 relative of scikit-learn's, its predictions on >= 99.9% of rows, and the
-- weights fitted on a dtensor over every rank equal to one process's to 1e-10 (issue 16,
-- acceptance 2), plus the errors.
local tide = require "tide"
local linear = require "tide.linear"
local dtensor = require "tide.dtensor"

local S = require "support.spec"
local world, P, me, err_of = S.world, S.P, S.me, S.err_of

local refdata = require "support.refdata"
local ref = refdata.read("logreg_twin.json")
local sk = refdata.read("logreg_sklearn.json")

-- the twin's data, from the same integer arithmetic (see tests/bench/logreg_twin.py)
local N, D = ref.n, ref.d
local WB = { 2.0, -1.0, 0.5, 1.0, -1.5 }
local WM = { { 1.0, -2.0, 0.5, 0.0, 1.0 }, { -1.0, 1.0, 1.5, -0.5, 0.0 }, { 0.0, 0.5, -1.0, 1.0, -1.0 } }
local function noise(i, k) return ((48271 * i + 16807 * k) % 997) / 997 - 0.5 end
local rows, yb, ym = {}, {}, {}
for i = 1, N do
  rows[i] = {}
  for j = 1, D do rows[i][j] = ((7919 * i + 104729 * j + 31 * i * j) % 1000) / 1000 - 0.5 end
  local s = 0.0
  for j = 1, D do s = s + WB[j] * rows[i][j] end
  yb[i] = s + 1.5 * noise(i, 0) > 0 and 1 or 0
  local best, arg
  for k = 1, 3 do
    s = 0.0
    for j = 1, D do s = s + WM[k][j] * rows[i][j] end
    s = s + noise(i, k)
    if best == nil or s > best then best, arg = s, k end
  end
  ym[i] = arg
end
local X = tide.tensor(rows, "f64")
local Y = { binary = tide.tensor(yb, "i64"), multinomial = tide.tensor(ym, "i64") }

local function sharded(t) return dtensor.scatter(me == 0 and t or nil, 0) end

local function max_diff(a, b) return (a - b):abs():max() end

-- the share of rows where two lists of labels agree
local function agreement(pred, want)
  local same = 0
  for i = 1, N do
    if pred[i] == want[i] then same = same + 1 end
  end
  return same / N
end

for _, kind in ipairs({ "binary", "multinomial" }) do
  for c, case in ipairs(ref[kind]) do
    describe(("%s, C = %g"):format(kind, case.C), function()
      local y = Y[kind]
      local opts = { C = case.C, tol = 1e-13, max_iter = 1000 }
      local dm = linear.logistic_regression(opts):fit(sharded(X), sharded(y))
      local one = linear.logistic_regression(opts):fit(X, y)

      it("lbfgs reaches the twin's loss, weights and predictions", function()
        local loss = dm:loss(sharded(X), sharded(y))
        assert.is_true(math.abs(loss - case.loss) <= 1e-6 * case.loss)
        assert.is_true(math.abs(one:loss(X, y) - case.loss) <= 1e-12 * case.loss)
        local coef = tide.tensor(case.coef, "f64")
        assert.are.same(coef:shape(), dm.coef:shape())
        assert.is_true(max_diff(coef, dm.coef) <= 1e-8)
        if kind == "binary" then
          assert.is_true(math.abs(case.intercept[1] - dm.intercept:get(1)) <= 1e-8)
        else   -- softmax intercepts are defined up to a shift; both solvers keep their sum 0
          assert.is_true(max_diff(tide.tensor(case.intercept, "f64"), dm.intercept) <= 1e-8)
        end
        assert.is_true(agreement(dm:predict(X):totable(), case.predict) >= 0.999)
      end)

      it("reaches scikit-learn's loss within 1e-6 relative and its predictions", function()
        local peer = sk[kind][c]
        assert.are.equal(case.C, peer.C)
        local loss = dm:loss(sharded(X), sharded(y))
        assert.is_true(math.abs(loss - peer.loss) <= 1e-6 * peer.loss)
        assert.is_true(loss <= peer.loss * (1 + 1e-12))   -- and never above it
        assert.is_true(agreement(dm:predict(X):totable(), peer.predict) >= 0.999)
        -- scikit-learn stops with weights up to ~1.5e-4 from the optimum (the twin's Newton)
        assert.is_true(max_diff(tide.tensor(peer.coef, "f64"), dm.coef) <= 1e-3)
      end)

      it("the weights on " .. P .. " ranks equal one process's to 1e-10, the same on every rank", function()
        assert.is_true(max_diff(one.coef, dm.coef) <= 1e-10)
        assert.is_true(max_diff(one.intercept, dm.intercept) <= 1e-10)
        local all = world:allgather_obj(dm.coef:reshape({ dm.coef:numel() }):totable())
        for r = 2, P do assert.are.same(all[1], all[r]) end
      end)

      it("score is the accuracy and predict_proba's rows are distributions", function()
        local hits = 0
        local pred = one:predict(X):totable()
        local labels = y:totable()
        for i = 1, N do if pred[i] == labels[i] then hits = hits + 1 end end
        assert.is_true(math.abs(dm:score(sharded(X), sharded(y)) - hits / N) <= 1e-15)
        local p = one:predict_proba(X)
        assert.are.same({ N, kind == "binary" and 2 or 3 }, p:shape())
        assert.is_true((p:sum(2) - 1):abs():max() <= 1e-12)
        if kind == "binary" then
          local z = tide.matmul(X, one.coef:t()):select(2, 1) + one.intercept:get(1)
          assert.is_true(max_diff(z:sigmoid(), p:select(2, 2)) <= 1e-15)
        end
      end)
    end)
  end
end

describe("other solvers", function()
  local case = ref.binary[1]
  it("gd reaches the same optimum", function()
    local m = linear.logistic_regression({ solver = "gd", tol = 1e-9, max_iter = 20000 })
      :fit(sharded(X), sharded(Y.binary))
    assert.is_true(math.abs(m:loss(X, Y.binary) - case.loss) <= 1e-6 * case.loss)
  end)

  it("sgd comes within 1% of the optimum, the same weights on every rank", function()
    local m = linear.logistic_regression({ solver = "sgd", max_iter = 40, batch_size = 32,
      lr = 2, seed = 3 }):fit(sharded(X), sharded(Y.binary))
    assert.is_true(m:loss(X, Y.binary) <= 1.01 * case.loss)
    local all = world:allgather_obj(m.coef:reshape({ D }):totable())
    for r = 2, P do assert.are.same(all[1], all[r]) end
  end)
end)

describe("logistic regression errors", function()
  it("name the rank and row of a NaN, a bad label, and bad options", function()
    local bad = X:clone()
    bad:set_(N, 2, 0 / 0)
    local D0 = sharded(bad)
    local last = D0:row_counts()[P]
    assert.are.equal(("logistic_regression.fit: X holds NaN at row %d on rank %d (impute it first, tide.impute)")
      :format(last, P - 1), err_of(function()
        linear.logistic_regression():fit(D0, sharded(Y.binary))
      end))
    local ylab = Y.binary:to("f64")
    ylab:set_(1, 0.5)
    assert.are.equal("logistic_regression.fit: expected integer labels, got 0.5 at row 1 on rank 0",
      err_of(function() linear.logistic_regression():fit(X, ylab) end))
    assert.are.equal("logistic_regression.fit: expected labels 0/1 or 1..K, got -1",
      err_of(function() linear.logistic_regression():fit(X, Y.binary - 1) end))
    assert.are.equal("logistic_regression.fit: expected y as a 1-D tensor of 1000 labels (X's rows), got shape {3}",
      err_of(function() linear.logistic_regression():fit(X, tide.zeros({ 3 })) end))
    -- labels sharded otherwise than the rows: every rank names the first rank that differs
    local short = dtensor.from_local(me == P - 1 and tide.zeros({ D0.shard:size(1) + 1 }) or
      tide.zeros({ D0.shard:size(1) }), world)
    assert.are.equal(("logistic_regression.fit: expected y as a 1-D tensor of %d labels (X's rows), got shape {%d} on rank %d")
      :format(last, last + 1, P - 1), err_of(function() linear.logistic_regression():fit(D0, short) end))
    assert.are.equal('linear.logistic_regression: expected solver "lbfgs", "gd" or "sgd", got newton',
      err_of(function() linear.logistic_regression({ solver = "newton" }) end))
    assert.are.equal("linear.logistic_regression: expected C > 0, got 0",
      err_of(function() linear.logistic_regression({ C = 0 }) end))
    assert.truthy(err_of(function() linear.logistic_regression({ c = 1 }) end):find("'c'", 1, true)
      or err_of(function() linear.logistic_regression({ c = 1 }) end):find("c", 1, true))
    assert.are.equal("logistic_regression.predict_proba: the model is not fitted (call m:fit(X, y) first)",
      err_of(function() linear.logistic_regression():predict(X) end))
    local m = linear.logistic_regression({ max_iter = 5 }):fit(X, Y.binary)
    assert.are.equal("logistic_regression.predict_proba: expected 5 features, got 3",
      err_of(function() m:predict(tide.zeros({ 2, 3 }, "f64")) end))
  end)
end)
