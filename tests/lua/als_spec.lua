-- tide.recommend.als in one process: each half-step's factors against the normal equations
-- built densely in plain Lua and solved by Gaussian elimination (explicit ALS-WR, and the
-- implicit variant without the Y^T Y trick), predict and recommend against the factors, the
-- state round trip, the C kernel against a naive loop, and every error (issue 16).
local tide = require "tide"
local recommend = require "tide.recommend"
local err_of = require("support.spec").err_of

-- x with A x = b, by Gaussian elimination with partial pivoting (A, b: Lua tables, copied)
local function gauss(A, b)
  local n = #b
  local M = {}
  for i = 1, n do
    M[i] = {}
    for j = 1, n do M[i][j] = A[i][j] end
    M[i][n + 1] = b[i]
  end
  for c = 1, n do
    local p = c
    for r = c + 1, n do if math.abs(M[r][c]) > math.abs(M[p][c]) then p = r end end
    M[c], M[p] = M[p], M[c]
    for r = c + 1, n do
      local f = M[r][c] / M[c][c]
      for j = c, n + 1 do M[r][j] = M[r][j] - f * M[c][j] end
    end
  end
  local x = {}
  for i = n, 1, -1 do
    local s = M[i][n + 1]
    for j = i + 1, n do s = s - M[i][j] * x[j] end
    x[i] = s / M[i][i]
  end
  return x
end

local train, test = recommend.synthetic { n_users = 40, n_items = 30, rank = 3, density = 0.3,
  seed = 5 }
local U, I, R = train.users:totable(), train.items:totable(), train.ratings:to("f64"):totable()

-- the factors of every item that fit's last half-step must give from the user factors X
-- (a table of rows): explicit (X_i^T X_i + reg n_i I) y = X_i^T r_i; implicit
-- (sum over EVERY user of c_ui x_u x_u^T + reg I) y = sum of c_ui p_ui x_u
local function dense_items(X, k, reg, implicit, alpha, R)
  local rated = {}
  for e = 1, #U do
    rated[I[e]] = rated[I[e]] or {}
    rated[I[e]][U[e]] = R[e]
  end
  local Y = {}
  for i = 1, 30 do
    local A, b = {}, {}
    for p = 1, k do
      A[p], b[p] = {}, 0
      for q = 1, k do A[p][q] = 0 end
    end
    local n = 0
    for u = 1, 40 do
      local r = rated[i] and rated[i][u]
      local c, pref = 1, 0
      if r then c, pref, n = 1 + alpha * r, r > 0 and 1 or 0, n + 1 end
      if implicit or r then
        local w = implicit and c or 1
        for p = 1, k do
          for q = 1, k do A[p][q] = A[p][q] + w * X[u][p] * X[u][q] end
          b[p] = b[p] + (implicit and c * pref or r) * X[u][p]
        end
      end
    end
    local ridge = implicit and reg or reg * math.max(n, 1)
    for p = 1, k do A[p][p] = A[p][p] + ridge end
    Y[i] = gauss(A, b)
  end
  return Y
end

local function max_diff(t, rows)
  local m = 0
  for i, row in ipairs(rows) do
    for j, v in ipairs(row) do m = math.max(m, math.abs(t:get(i, j) - v)) end
  end
  return m
end

describe("recommend.als", function()
  it("ends on item factors that solve the dense explicit (ALS-WR) equations", function()
    local r = recommend.als { rank = 3, reg = 0.1, iters = 3, seed = 2 }
      :fit(train.users, train.items, train.ratings)
    local Y = dense_items(r.user_factors.shard:totable(), 3, 0.1, false, 0, R)
    assert.is_true(max_diff(r.item_factors.shard, Y) < 1e-10)
    assert.are.equal(3, #r.history)
  end)

  it("ends on item factors that solve the dense implicit (Hu, Koren, Volinsky) equations", function()
    -- every fifth rating 0: seen without preference, as if not rated
    local zeroed = train.ratings:clone()
    for e = 1, zeroed:numel(), 5 do zeroed:set_(e, 0) end
    local r = recommend.als { rank = 3, reg = 0.5, iters = 2, seed = 2, implicit = true,
      alpha = 3 }:fit(train.users, train.items, zeroed)
    local Y = dense_items(r.user_factors.shard:totable(), 3, 0.5, true, 3,
      zeroed:to("f64"):totable())
    assert.is_true(max_diff(r.item_factors.shard, Y) < 1e-9)
    assert.are.same({}, r.history)
  end)

  it("predicts dot products, recommends the best unrated items, and calls back", function()
    local seen = {}
    local r = recommend.als { rank = 3, iters = 2, callback = function(it, m)
      seen[#seen + 1] = it
      assert.is_true(tide.dtensor.is_dtensor(m.user_factors))
    end }:fit(train.users, train.items, train.ratings)
    assert.are.same({ 1, 2 }, seen)
    local X, Y = r.user_factors.shard, r.item_factors.shard
    local p = r:predict(test.users, test.items)
    for e = 1, test.users:numel() do
      local want = X:select(1, test.users:get(e)):dot(Y:select(1, test.items:get(e)))
      assert.is_true(math.abs(p:get(e) - want) < 1e-12)
    end
    local e = p - test.ratings:to("f64")
    assert.is_true(math.abs(r:rmse(test.users, test.items, test.ratings)
      - math.sqrt((e * e):mean())) < 1e-12)
    -- user 4: every item scored, those it rated dropped, the rest sorted
    local rated, best = {}, {}
    for k = 1, #U do if U[k] == 4 then rated[I[k]] = true end end
    for i = 1, 30 do
      if not rated[i] then best[#best + 1] = { i, X:select(1, 4):dot(Y:select(1, i)) } end
    end
    table.sort(best, function(a, b) return a[2] > b[2] end)
    local ids, scores = r:recommend(4, 5)
    assert.are.equal("i64", ids:dtype())
    for k = 1, 5 do
      assert.are.equal(best[k][1], ids:get(k))
      assert.is_true(math.abs(best[k][2] - scores:get(k)) < 1e-12)
    end
    assert.are.equal(#best, r:recommend(4, 1000):numel())   -- no more than the unrated items
  end)

  it("keeps its state: a loaded model predicts and recommends alike", function()
    local r = recommend.als { rank = 3, iters = 2 }:fit(train.users, train.items, train.ratings)
    local s = r:state()
    assert.are.equal("tide.recommend.als", s.kind)
    s.user_factors.shard:zero_()   -- a fresh copy: the model keeps its own
    s = r:state()
    local back = recommend.als():load_state(s)
    assert.are.equal(0, (back:predict(test.users, test.items)
      - r:predict(test.users, test.items)):abs():max())
    assert.are.same(r:recommend(9, 4):totable(), back:recommend(9, 4):totable())
    s.n_users = 41
    assert.are.equal("als.load_state: user_factors expected f64[41x3], got f64[40x3]",
      err_of(function() recommend.als():load_state(s) end))
    s.n_users, s.extra = 40, 1
    assert.is_truthy(err_of(function() recommend.als():load_state(s) end)
      :find("als.load_state: unexpected field 'extra'", 1, true))
    s.extra, s.rank = nil, 3.0
    assert.is_truthy(err_of(function() recommend.als():load_state(s) end)
      :find("als.load_state: rank expected an integer, got the float 3.0", 1, true))
  end)
end)

describe("recommend.als errors", function()
  local u, i, v = train.users, train.items, train.ratings

  it("refuses bad options", function()
    assert.is_truthy(err_of(function() recommend.als { ranks = 3 } end)
      :find("recommend.als: unknown option 'ranks'", 1, true))
    assert.are.equal("recommend.als: rank must be an integer of at least 1, got 0",
      err_of(function() recommend.als { rank = 0 } end))
    assert.are.equal("recommend.als: reg must be a number > 0, got -1",
      err_of(function() recommend.als { reg = -1 } end))
    assert.are.equal("recommend.als: alpha must be a number >= 0, got NaN",
      err_of(function() recommend.als { alpha = 0 / 0 } end))
    assert.are.equal("recommend.als: implicit must be a boolean, got number",
      err_of(function() recommend.als { implicit = 1 } end))
    assert.are.equal("recommend.synthetic: density must be a number in [0, 1), got 1",
      err_of(function() recommend.synthetic { density = 1 } end))
  end)

  it("names the argument, the rank and the row of bad triplets", function()
    local r = recommend.als { n_users = 39, iters = 1 }
    assert.are.equal("als.fit: users holds the user id 40 at row 1 (expected ids 1..39) on rank 0",
      err_of(function() r:fit(u:sort(1, { descending = true }), i, v) end))
    local bad = v:clone()
    bad:set_(5, 0 / 0)
    assert.are.equal("als.fit: ratings holds NaN at row 5 (expected finite ratings) on rank 0",
      err_of(function() recommend.als():fit(u, i, bad) end))
    bad:set_(5, math.huge)
    assert.are.equal("als.fit: ratings holds inf at row 5 (expected finite ratings) on rank 0",
      err_of(function() recommend.als():fit(u, i, bad) end))
    bad:set_(5, -1)
    assert.are.equal("als.fit: ratings holds -1.0 at row 5 (implicit feedback expects ratings "
      .. ">= 0) on rank 0", err_of(function() recommend.als { implicit = true }:fit(u, i, bad) end))
    assert.are.equal(("als.fit: expected items as a 1-D i64 tensor, got i32[%d] on rank 0")
      :format(i:numel()), err_of(function() recommend.als():fit(u, i:to("i32"), v) end))
    assert.are.equal("als.fit: expected ratings as a 1-D f32 or f64 tensor, got table on rank 0",
      err_of(function() recommend.als():fit(u, i, {}) end))
    assert.are.equal(("als.fit: expected ratings of %d entries (as users), got 3 on rank 0")
      :format(u:numel()), err_of(function() recommend.als():fit(u, i, v:narrow(1, 1, 3)) end))
  end)

  it("names what is wrong when using the model", function()
    assert.are.equal("als.predict: the model is not fitted (call r:fit(users, items, ratings) first)",
      err_of(function() recommend.als():predict(u, i) end))
    local r = recommend.als { iters = 1 }:fit(u, i, v)
    assert.are.equal("als.predict: items holds the item id 31 at row 1 (expected ids 1..30) on rank 0",
      err_of(function() r:predict(u:narrow(1, 1, 1), tide.tensor({ 31 }, "i64")) end))
    assert.are.equal("als.recommend: expected a user id in 1..40, got 41",
      err_of(function() r:recommend(41, 3) end))
    assert.are.equal("als.recommend: n must be an integer of at least 1, got 0",
      err_of(function() r:recommend(1, 0) end))
  end)

  it("has a C kernel that checks its lists", function()
    local K = tide._internal.als_kernels
    local Y = tide.ones({ 2, 2 }, "f64")
    local off, w = tide.tensor({ 0, 1 }, "i64"), tide.ones({ 1 }, "f64")
    local A, b = K.normal_equations(Y * 3, off, tide.tensor({ 2 }, "i64"), w * 2, w * 5,
      w * 0.5, tide.eye(2, "f64"))
    assert.are.same({ { { 1 + 18 + 0.5, 18 }, { 18, 1 + 18 + 0.5 } } }, A:totable())
    assert.are.same({ { 15, 15 } }, b:totable())
    -- [[19.5, 18], [18, 19.5]] x = [15, 15]: x = 15 / 37.5 in both entries
    local x = K.solve(Y * 3, off, tide.tensor({ 2 }, "i64"), w * 2, w * 5, w * 0.5,
      tide.eye(2, "f64"))
    assert.is_true((x - 15 / 37.5):abs():max() < 1e-15)
    -- (x . y_2 - 5)^2 with y_2 = (3, 3)
    assert.are.equal((0.4 * 3 * 2 - 5) ^ 2, K.sse(tide.full({ 1, 2 }, 0.4, "f64"), Y * 3, off,
      tide.tensor({ 2 }, "i64"), w, w * 5, w))
    assert.are.equal("als_normal_equations: col 3 at entry 1 is outside the 2 factor rows",
      err_of(function() K.normal_equations(Y, off, tide.tensor({ 3 }, "i64"), w, w, w) end))
    assert.are.equal("als_solve: the normal equations of row 1 are not positive definite "
      .. "(leading minor 2; is reg > 0?)",
      err_of(function() K.solve(Y, off, tide.tensor({ 1 }, "i64"), w, w, w * 0) end))
  end)
end)
