-- tide.recommend.als: collaborative filtering by alternating least squares over every rank.
--
--   local r = recommend.als{rank = 10, reg = 0.1, iters = 15, implicit = false, alpha = 40,
--     seed = 1, n_users = nil, n_items = nil, comm = tide.world, callback = nil}
--   r:fit(users, items, ratings)   i64, i64 and f32 (or f64) 1-D tensors of triplets, each rank
--                                  passing its own share; ids count from 1 (n_users, n_items:
--                                  the largest ids when not given). Collective. Returns r.
--   r:predict(users, items)        f64 predictions for this rank's pairs. Collective.
--   r:rmse(users, items, ratings)  over every rank's triplets. Collective.
--   r:recommend(user, n)           the n (at most: fewer when the user rated nearly every item)
--                                  best items the user did not rate in fit's data (every
--                                  rank's share), as i64 ids and f64 scores, best first, the
--                                  same on every rank. Collective.
--   r.user_factors, r.item_factors row-sharded f64 dtensors (block layout: ids in order)
--   r.history                      training RMSE after each iteration (explicit only)
--   r.exchanged                    {rows =, bytes =}: factor rows this rank received from others
--   callback(iteration, r)         called on every rank after each iteration (may call the
--                                  collective methods: every rank is there)
--   r:state() / r:load_state(s)    the factors (as dtensors: tide.checkpoint reshards them)
--                                  and the rated pairs recommend excludes.
--
-- Each half-step solves, for every user u at once (then every item likewise),
--   explicit: (Y_u^T Y_u + reg n_u I) x_u = Y_u^T r_u     ALS-WR (Zhou et al. 2008): the ridge
--             grows with the user's number of ratings n_u; a user with none gets x_u = 0
--   implicit: (Y^T Y + Y_u^T (C_u - I) Y_u + reg I) x_u = Y_u^T C_u p_u     Hu, Koren and
--             Volinsky (2008): C = 1 + alpha r, p = 1 where r > 0; ratings must be >= 0 (a 0
--             is the same as no rating)
-- where Y_u holds the factors of the items u rated. The ratings live on the rank that owns
-- their user (for the user half-step) and on the one that owns their item (for the item
-- half-step): tide.placement.range over the factors' block layout places them once, in fit.
-- Each half-step then fetches, by one alltoallv, only the other side's rows a rank's ratings
-- name (r.exchanged counts the rows and bytes this rank received), and one C kernel
-- (core/algo/als.c) builds every row's k x k normal equations and solves them by Cholesky,
-- each while it is in cache. A user's ratings are summed in item order, so the
-- factors do not depend on the rank count (implicit: up to the rounding of Y^T Y's allreduce).
local tide = require "tide"
local args = require "tide.args"
local dtensor = require "tide.dtensor"
local placement = require "tide.placement"

local K = tide._internal.als_kernels

local M = {}
local ALS = {}
ALS.__index = ALS

local known = { rank = true, reg = true, iters = true, implicit = true, alpha = true,
  seed = true, n_users = true, n_items = true, comm = true, callback = true }

function M.new(opts, level)
  local op = "recommend.als"
  level = level or 2
  opts = args.check_opts(opts, known, op, level + 1)
  local r = setmetatable({
    rank = args.integer(opts.rank, "rank", op, 1, 10, level + 1),
    reg = args.number(opts.reg, "reg", op, 0.1, "> 0", level + 1),
    iters = args.integer(opts.iters, "iters", op, 0, 15, level + 1),
    implicit = args.boolean(opts.implicit, "implicit", op, false, level + 1),
    alpha = args.number(opts.alpha, "alpha", op, 40, ">= 0", level + 1),
    seed = args.seed(opts.seed, op, 1, level + 1),
    -- the id ranges given (fit takes the largest ids of its data where nil)
    given = {
      opts.n_users and args.integer(opts.n_users, "n_users", op, 1, nil, level + 1),
      opts.n_items and args.integer(opts.n_items, "n_items", op, 1, nil, level + 1),
    },
    comm = opts.comm or tide.world,
    callback = args.func(opts.callback, "callback", op, level + 1),
  }, ALS)
  return r
end

-- ---------------------------------------------------------------- checking triplets

local function desc(t)
  return tide.is_tensor(t) and args.tensor_desc(t) or type(t)
end

-- "" when the triplets are well formed, else what is wrong with this rank's share
local function local_problem(users, items, ratings, limits, nonneg)
  local named = { { "users", users, "i64" }, { "items", items, "i64" } }
  if ratings ~= false then named[3] = { "ratings", ratings, "f32 or f64" } end
  for _, a in ipairs(named) do
    local t, want = a[2], a[3]
    if not tide.is_tensor(t) or t:dim() ~= 1 or not want:find(t:dtype(), 1, true) then
      return ("expected %s as a 1-D %s tensor, got %s"):format(a[1], want, desc(t))
    end
  end
  for k = 2, #named do
    if named[k][2]:numel() ~= users:numel() then
      return ("expected %s of %d entries (as users), got %d"):format(named[k][1],
        users:numel(), named[k][2]:numel())
    end
  end
  for k, which in ipairs { "user", "item" } do
    local ids, hi = named[k][2], limits[k]
    if ids:numel() > 0 then
      local bad = ids:lt(1)
      if hi then bad = bad:add_(ids:gt(hi)) end
      if bad:sum() > 0 then
        local row = bad:to("f64"):argmax()
        return ("%ss holds the %s id %d at row %d (expected ids %s)"):format(which, which,
          ids:get(row), row, hi and "1.." .. hi or ">= 1")
      end
    end
  end
  if ratings and ratings:numel() > 0 then
    local bad = ratings:isfinite():eq(0)
    if bad:sum() > 0 then
      local row = bad:to("f64"):argmax()
      return ("ratings holds %s at row %d (expected finite ratings)"):format(
        tostring(ratings:get(row)):gsub("^%-?nan$", "NaN"), row)
    end
    if nonneg and ratings:lt(0):sum() > 0 then
      local row = ratings:lt(0):to("f64"):argmax()
      return ("ratings holds %s at row %d (implicit feedback expects ratings >= 0)"):format(
        tostring(ratings:get(row)), row)
    end
  end
  return ""
end

-- Checks every rank's share and raises the first problem, rank by rank, on every rank alike
-- (so no rank is left waiting in a collective another one has left).
local function check_triplets(self, op, users, items, ratings, limits)
  local mine = local_problem(users, items, ratings, limits, self.implicit and ratings)
  local all = self.comm.size > 1 and self.comm:allgather_obj(mine) or { mine }
  for r, msg in ipairs(all) do
    if msg ~= "" then error(("%s: %s on rank %d"):format(op, msg, r - 1), 3) end
  end
end

-- ---------------------------------------------------------------- who holds what

-- The block layout of n rows over the ranks, as dtensors lay them out: rank r holds ids
-- first[r] + 1 .. first[r] + count[r].
local function layout(n, comm)
  local P, q = comm.size, n // comm.size
  local first, count, bounds = {}, {}, {}
  for r = 0, P - 1 do
    first[r] = r * q + math.min(r, n % P)
    count[r] = q + (r < n % P and 1 or 0)
    if r > 0 then bounds[r] = first[r] + 1 end
  end
  return { n = n, first = first, count = count,
    policy = placement.range { bounds = bounds }, comm = comm }
end

local function owners(lay, ids)
  return lay.policy:assign(ids, lay.comm)
end

-- A plan to fetch the rows `ids` (1-D i64, any order, repeats allowed) of a factor matrix laid
-- out as lay: need (the distinct ids, ascending: the rows fetch returns), and what this rank
-- sends to whom each time (send_rows: 1-based local rows, grouped by destination rank).
local function fetch_plan(lay, ids)
  local comm = lay.comm
  local need = ids:numel() > 0 and ids:unique() or tide.zeros({ 0 }, "i64")
  local from = tide.full({ need:numel() }, comm.rank, "i64")
  local asked = dtensor.redistribute({ id = need, from = from }, owners(lay, need), comm)
  local per = asked.from:numel() > 0 and asked.from:bincount({ minlength = comm.size })
  local send_counts = {}
  for r = 1, comm.size do send_counts[r] = per and per:get(r) or 0 end
  return { need = need, send_rows = asked.id - lay.first[comm.rank], send_counts = send_counts }
end

-- The rows plan.need of the factors (this rank's block: shard), by one alltoallv; what came
-- from other ranks is added to self.exchanged (rows and bytes received by this rank).
local function fetch(self, plan, shard)
  local rows = shard:index_select(1, plan.send_rows)
  if self.comm.size == 1 then return rows end
  local got, counts = self.comm:alltoallv(rows, plan.send_counts)
  local remote = got:size(1) - counts[self.comm.rank + 1]
  self.exchanged.rows = self.exchanged.rows + remote
  self.exchanged.bytes = self.exchanged.bytes + remote * got:size(2) * 8
  return got
end

-- ---------------------------------------------------------------- one side's equations

-- The ratings of the ids this rank owns on side `own` (users or items), sorted by (own,
-- other) id, as CSR lists over its block of ids, with the plan to fetch the other side's rows.
local function make_side(self, own, other, r, lay_own, lay_other)
  local comm = self.comm
  local moved = dtensor.redistribute({ own = own, other = other, r = r }, owners(lay_own, own),
    comm)
  own, other, r = moved.own, moved.other, moved.r
  local order = (own * lay_other.n + other):argsort()
  own, other, r = own:index_select(1, order), other:index_select(1, order),
    r:index_select(1, order)
  local first, count = lay_own.first[comm.rank], lay_own.count[comm.rank]
  local per = tide.zeros({ count }, "i64")
  if own:numel() > 0 then
    per = (own - (first + 1)):bincount({ minlength = count })
  end
  local offsets = tide.zeros({ count + 1 }, "i64")
  if count > 0 then offsets:narrow(1, 2, count):copy_(per:cumsum()) end
  local plan = fetch_plan(lay_other, other)
  local side = { own = own, other = other, r = r, offsets = offsets, plan = plan,
    cols = plan.need:numel() > 0 and plan.need:searchsorted(other) or tide.zeros({ 0 }, "i64") }
  if self.implicit then
    -- p = 1 where r > 0: a rating of 0 is a pair seen without preference (C = 1, p = 0)
    side.weights, side.values = r * self.alpha, (r * self.alpha + 1) * r:gt(0):to("f64")
    side.ridge = tide.full({ count }, self.reg, "f64")
  else
    side.weights, side.values = tide.ones({ r:numel() }, "f64"), r
    side.ridge = per:to("f64"):clamp(1, math.huge) * self.reg
  end
  return side
end

-- Y^T Y over every rank (the implicit variant's shared part of every equation)
local function gram(self, F)
  local g = tide.matmul(F.shard:t(), F.shard)
  return self.comm.size > 1 and self.comm:allreduce(g, "sum") or g
end

-- new factors of side's own ids from the other side's factors F
local function half_step(self, side, F)
  local Y = fetch(self, side.plan, F.shard)
  local X = K.solve(Y, side.offsets, side.cols, side.weights, side.values, side.ridge,
    self.implicit and gram(self, F) or nil)
  return dtensor.from_local(X, self.comm), Y
end

local function global_rmse(comm, sse, n)
  local v = tide.tensor({ sse, n }, "f64")
  if comm.size > 1 then v = comm:allreduce(v, "sum") end
  return math.sqrt(v:get(1) / v:get(2))
end

-- ---------------------------------------------------------------- fit

local function global_max(comm, ids, given)
  if given then return given end
  local m = ids:numel() > 0 and ids:max() or 0
  m = comm.size > 1 and comm:allreduce(m, "max") or m
  return math.max(m, 1)
end

function ALS:fit(users, items, ratings)
  local op = "als.fit"
  local comm = self.comm
  check_triplets(self, op, users, items, ratings, self.given)
  self.n_users = global_max(comm, users, self.given[1])
  self.n_items = global_max(comm, items, self.given[2])
  local lu, li = layout(self.n_users, comm), layout(self.n_items, comm)
  self.layouts = { users = lu, items = li }
  local r = ratings:to("f64")
  self.exchanged = { rows = 0, bytes = 0 }
  local by_user = make_side(self, users, items, r, lu, li)
  local by_item = make_side(self, items, users, r, li, lu)
  self.rated = { users = by_user.own, items = by_user.other }
  local Y = dtensor.rand({ self.n_items, self.rank }, { dtype = "f64", seed = self.seed,
    comm = comm })
  Y = dtensor.from_local(Y.shard / math.sqrt(self.rank), comm)
  local X = dtensor.zeros({ self.n_users, self.rank }, { dtype = "f64", comm = comm })
  self.history = {}
  for it = 1, self.iters do
    X = half_step(self, by_user, Y)
    local Xg
    Y, Xg = half_step(self, by_item, X)
    self.user_factors, self.item_factors = X, Y
    if not self.implicit then
      local s = by_item
      local sse = K.sse(Y.shard, Xg, s.offsets, s.cols, s.weights, s.values, s.ridge)
      self.history[it] = global_rmse(comm, sse, s.r:numel())
    end
    if self.callback then self.callback(it, self) end
  end
  self.user_factors, self.item_factors = X, Y
  return self
end

-- ---------------------------------------------------------------- using the factors

local function check_fitted(self, op)
  if not self.user_factors then
    error(op .. ": the model is not fitted (call r:fit(users, items, ratings) first)", 3)
  end
end

function ALS:predict(users, items)
  local op = "als.predict"
  check_fitted(self, op)
  check_triplets(self, op, users, items, false, { self.n_users, self.n_items })
  local lu, li = self.layouts.users, self.layouts.items
  local pu, pi = fetch_plan(lu, users), fetch_plan(li, items)
  local X = fetch(self, pu, self.user_factors.shard)
  local Y = fetch(self, pi, self.item_factors.shard)
  if users:numel() == 0 then return tide.zeros({ 0 }, "f64") end
  return (X:index_select(1, pu.need:searchsorted(users)) *
    Y:index_select(1, pi.need:searchsorted(items))):sum(2)
end

function ALS:rmse(users, items, ratings)
  local op = "als.rmse"
  check_fitted(self, op)
  check_triplets(self, op, users, items, ratings, { self.n_users, self.n_items })
  local p = self:predict(users, items)
  local e = p - ratings:to("f64")
  return global_rmse(self.comm, users:numel() > 0 and (e * e):sum() or 0, users:numel())
end

function ALS:recommend(user, n)
  local op = "als.recommend"
  check_fitted(self, op)
  args.integer(user, "user", op, 1)
  if user > self.n_users then
    error(("%s: expected a user id in 1..%d, got %d"):format(op, self.n_users, user), 2)
  end
  n = args.integer(n, "n", op, 1, 10)
  local comm, lu = self.comm, self.layouts.users
  local owner = owners(lu, tide.tensor({ user }, "i64")):get(1)
  local Y = self.item_factors:gather(owner)   -- every item's factors, on the user's owner
  local ids, scores
  if comm.rank == owner then
    local x = self.user_factors.shard:select(1, user - lu.first[owner])
    local s = Y:mv(x)
    local rated = self.rated.items:masked_select(self.rated.users:eq(user))
    for _, item in ipairs(rated:totable()) do s:set_(item, -math.huge) end   -- a user's few
    local top = math.min(n, self.n_items - (rated:numel() > 0 and rated:unique():numel() or 0))
    if top > 0 then
      scores, ids = s:topk(top)
    else
      scores, ids = tide.zeros({ 0 }, "f64"), tide.zeros({ 0 }, "i64")
    end
  end
  if comm.size > 1 then
    local got = comm:bcast_obj(comm.rank == owner and { ids:to("i64"):totable(),
      scores:totable() } or nil, owner)
    ids, scores = tide.tensor(got[1], "i64"), tide.tensor(got[2], "f64")
  end
  return ids:to("i64"), scores
end

-- ---------------------------------------------------------------- state

local state_fields = { kind = true, rank = true, reg = true, iters = true, implicit = true,
  alpha = true, seed = true, n_users = true, n_items = true, user_factors = true,
  item_factors = true, rated_users = true, rated_items = true }

--- A fresh state: the options, the factors and the rated pairs (recommend's exclusions) as
--- dtensors of this rank's rows, which tide.checkpoint saves shard by shard and restores on
--- any rank count.
function ALS:state()
  check_fitted(self, "als.state")
  local comm = self.comm
  local function copy(dt) return dtensor.from_local(dt.shard:clone(), comm) end
  return { kind = "tide.recommend.als", rank = self.rank, reg = self.reg, iters = self.iters,
    implicit = self.implicit, alpha = self.alpha, seed = self.seed, n_users = self.n_users,
    n_items = self.n_items, user_factors = copy(self.user_factors),
    item_factors = copy(self.item_factors),
    rated_users = dtensor.from_local(self.rated.users:clone(), comm),
    rated_items = dtensor.from_local(self.rated.items:clone(), comm) }
end

-- rows of dt (global ids first + 1 ..) moved to the ranks that own those ids under lay
local function to_owners(dt, lay)
  local ids = tide.arange(1, dt.shard:size(1) + 1):to("i64") + dt:row_offset()
  local moved = dtensor.redistribute({ x = dt }, owners(lay, ids), lay.comm)
  return moved.x
end

local function check_factors(dt, n, k, where, field)
  if not dtensor.is_dtensor(dt) then
    error(("%s: %s expected a dtensor, got %s"):format(where, field, desc(dt)), 4)
  end
  local shape = dt:global_shape()
  if dt:dtype() ~= "f64" or #shape ~= 2 or shape[1] ~= n or shape[2] ~= k then
    error(("%s: %s expected f64[%dx%d], got %s[%s]"):format(where, field, n, k, dt:dtype(),
      table.concat(shape, "x")), 4)
  end
end

--- Takes a state as r:state() gives it (checked first) and returns r, ready to predict and
--- recommend. Collective.
function ALS:load_state(s)
  local where = "als.load_state"
  args.state_keys(s, state_fields, where)
  if s.kind ~= "tide.recommend.als" then
    error(where .. ': kind expected "tide.recommend.als", got ' .. tostring(s.kind), 2)
  end
  for _, f in ipairs { "rank", "iters", "seed", "n_users", "n_items" } do
    args.state_integer(s[f], where, f, f == "seed" and nil or (f == "iters" and 0 or 1))
  end
  check_factors(s.user_factors, s.n_users, s.rank, where, "user_factors")
  check_factors(s.item_factors, s.n_items, s.rank, where, "item_factors")
  for _, f in ipairs { "rated_users", "rated_items" } do
    if not dtensor.is_dtensor(s[f]) or s[f]:dtype() ~= "i64" then
      error(("%s: %s expected an i64 dtensor, got %s"):format(where, f, desc(s[f])), 2)
    end
  end
  self.rank, self.reg, self.iters, self.implicit = s.rank, s.reg, s.iters, s.implicit
  self.alpha, self.seed, self.n_users, self.n_items = s.alpha, s.seed, s.n_users, s.n_items
  local comm = self.comm
  local lu, li = layout(self.n_users, comm), layout(self.n_items, comm)
  self.layouts = { users = lu, items = li }
  self.exchanged = { rows = 0, bytes = 0 }
  self.user_factors = dtensor.from_local(to_owners(s.user_factors, lu).shard:clone(), comm)
  self.item_factors = dtensor.from_local(to_owners(s.item_factors, li).shard:clone(), comm)
  local us = s.rated_users.shard
  local moved = dtensor.redistribute({ u = us, i = s.rated_items.shard }, owners(lu, us), comm)
  self.rated = { users = moved.u, items = moved.i }
  self.history = {}
  return self
end

return M
