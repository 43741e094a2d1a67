-- tide.cluster: distributed k-means (Lloyd with k-means|| initialisation) and mini-batch
-- k-means. Every rank clusters its own rows; the ranks agree on the centres through allreduce,
-- so the answer is the one a single machine holding all the rows would compute.
--
--   local cluster = require "tide.cluster"
--   local dt = tide.dtensor.randn({1000000, 32}, {seed = 1})     -- or any row-sharded dtensor
--   local model = cluster.kmeans(dt, 64, {seed = 0})
--   print(model.inertia, model.iterations)
--   local labels = model:predict(dt)                               -- i32, 1-based clusters
--
-- Data is a dtensor (row-sharded), or a tensor: this rank's rows when opts.comm is given, else
-- the whole data set on this process. Rows are f32 or f64 (centres keep the data's dtype).
-- Cluster labels are 1-based (1..k) i32, as every index in tide's Lua API; ranks are 0-based.
-- Results are the same for any number of ranks up to floating-point summation order: the
-- random choices of the initialisations hash the global row index, never the rank.
--
-- Collective calls: kmeans, minibatch_kmeans, and predict/transform on a dtensor must be
-- called by every rank of the communicator. An error found on one rank (bad rows, NaN) is
-- raised on every rank, so no rank is left waiting.
local tide = require "tide"
local args = require "tide.args"

local K = tide._internal.cluster_kernels
local cluster = {}

-- ------------------------------------------------------------------ options and arguments

local check_opts, shape_str = args.check_opts, args.shape_str

local function is_dtensor(x)
  local core = tide._internal.dtensor
  return core ~= nil and core.is_dtensor(x)
end

-- The communicator of a dtensor (a field, or a method on some versions).
local function dtensor_comm(x)
  local c = x.comm
  if type(c) == "function" then c = x:comm() end
  return c
end

local function fn_opt(v, where)
  if v ~= nil and type(v) ~= "function" then
    error(("%s: callback must be a function, got %s"):format(where, type(v)), 3)
  end
  return v
end

local function seed_opt(v, where, default)
  if v == nil then return default end
  if math.type(v) ~= "integer" then
    error(("%s: seed must be an integer, got %s"):format(where, tostring(v)), 3)
  end
  return v
end

local function int_opt(v, what, where, min, default)
  if v == nil then return default end
  if math.type(v) ~= "integer" or v < min then
    error(("%s: %s must be an integer of at least %d, got %s"):format(where, what, min,
      tostring(v)), 3)
  end
  return v
end

local function num_opt(v, what, where, default)
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v or v < 0 then
    error(("%s: %s must be a number >= 0, got %s"):format(where, what, tostring(v)), 3)
  end
  return v
end

-- ------------------------------------------------------------------ collectives
-- Everything here goes through allreduce (sum) and broadcast; with no communicator, or one
-- rank, they do nothing.

local function multi(ctx)
  return ctx.comm ~= nil and ctx.size > 1
end

local function allreduce(ctx, t)
  if multi(ctx) then ctx.comm:allreduce(t, "sum") end
  return t
end

local function broadcast(ctx, t, root)
  if multi(ctx) then ctx.comm:broadcast(t, root) end
  return t
end

-- One number per rank, summed: slot r + 1 holds rank r's value on every rank.
local function per_rank(ctx, value)
  local buf = tide.zeros(ctx.size, "f64")
  buf[ctx.rank + 1] = value
  allreduce(ctx, buf)
  return buf
end

-- ------------------------------------------------------------------ the data on this rank

-- ctx: x (contiguous local rows), n, d, dtype, comm, rank, size, counts (rows per rank),
-- offset (global index of the first local row, 0-based), N (global rows), weight (f64 or nil).
-- x may be nil: this rank brings no rows (a stream that has ended, or a bad batch, fail
-- saying why) and takes the width and dtype of the others. A failure on any rank is raised
-- on every rank: by it with its message, by the others naming it.
local function local_context(x, opts, where, level, fail)
  level = level + 1
  local xl, comm = nil, opts.comm
  if is_dtensor(x) then
    xl, comm = x.local_, dtensor_comm(x)   -- opts.comm is not needed: the dtensor has one
  elseif tide.is_tensor(x) then
    xl = x
  elseif x ~= nil then
    error(("%s: expected a tensor or a dtensor, got %s"):format(where, type(x)), level)
  end
  if comm ~= nil and (math.type(comm.rank) ~= "integer" or math.type(comm.size) ~= "integer") then
    error(where .. ": comm must be a communicator (with rank and size)", level)
  end
  local ctx = { comm = comm, rank = comm and comm.rank or 0, size = comm and comm.size or 1 }
  local msg = fail
  if not msg and xl and (xl:dim() ~= 2 or (xl:dtype() ~= "f32" and xl:dtype() ~= "f64")) then
    msg = ("%s: expected a 2-D f32 or f64 tensor (rows x features), got %s %s"):format(where,
      xl:dtype(), shape_str(xl))
  end
  local w = opts.sample_weight
  if not msg and xl and w ~= nil then
    if is_dtensor(w) then w = w.local_ end
    if not tide.is_tensor(w) then
      msg = ("%s: sample_weight must be a tensor or a dtensor, got %s"):format(where, type(w))
    elseif w:numel() ~= xl:size(1) or w:dim() ~= 1 then
      msg = ("%s: sample_weight has shape %s but this rank has %d rows"):format(where,
        shape_str(w), xl:size(1))
    else
      w = w:to("f64"):contiguous()
      local bad = K.bad_weight(w)
      if bad then
        msg = ("%s: sample_weight %d of rank %d is %s (weights must be finite and >= 0)")
          :format(where, bad, ctx.rank, tostring(w[bad]))
      end
    end
  end
  -- one allreduce tells every rank the row counts, the widths and whether anyone failed
  local present = xl ~= nil and not msg
  local n, d = present and xl:size(1) or 0, present and xl:size(2) or -1
  local dtcode = present and (xl:dtype() == "f32" and 1 or 2) or 0
  local info = tide.zeros({ ctx.size, 4 }, "f64")
  info[ctx.rank + 1] = tide.tensor({ n, d, dtcode, msg and 1 or 0 }, "f64")
  allreduce(ctx, info)
  if msg then error(msg, level) end
  local DT = { "f32", "f64" }
  local ref = present and ctx.rank or nil   -- whose width and dtype the others must match
  ctx.counts, ctx.N, ctx.offset = {}, 0, 0
  for r = 0, ctx.size - 1 do
    local row = info[r + 1]
    if row[4] ~= 0 then error(("%s: rank %d failed (see its error)"):format(where, r), level) end
    if row[3] ~= 0 then
      ref = ref or r
      local want = info[ref + 1]
      if row[2] ~= want[2] or row[3] ~= want[3] then
        error(("%s: rank %d has %s rows of %d features but rank %d has %s rows of %d"):format(
          where, r, DT[math.tointeger(row[3])], math.tointeger(row[2]), ref,
          DT[math.tointeger(want[3])], math.tointeger(want[2])), level)
      end
    end
    ctx.counts[r + 1] = math.tointeger(row[1])
    if r < ctx.rank then ctx.offset = ctx.offset + ctx.counts[r + 1] end
    ctx.N = ctx.N + ctx.counts[r + 1]
  end
  if not present then
    local want = ref and info[ref + 1]
    xl = tide.zeros({ 0, want and math.tointeger(want[2]) or 1 },
      want and DT[math.tointeger(want[3])] or "f32")
    w = nil
  end
  ctx.x, ctx.n, ctx.d, ctx.dtype = xl:contiguous(), n, xl:size(2), xl:dtype()
  ctx.weight = w
  return ctx
end

-- Raises on every rank when any rank's rows hold a NaN or an infinity.
local function check_finite(ctx, where, level)
  local row, kind = K.nonfinite(ctx.x)
  local buf = per_rank(ctx, row and (kind == "NaN" and row or -row) or 0)
  for r = 0, ctx.size - 1 do
    local v = math.tointeger(buf[r + 1])
    if v ~= 0 then
      local lrow = math.abs(v)
      local grow = lrow
      for q = 1, r do grow = grow + ctx.counts[q] end
      error(("%s: %s in the data at row %d (rank %d, local row %d)"):format(where,
        v > 0 and "NaN" or "infinity", grow, r, lrow), level + 1)
    end
  end
end

-- The rows of x named by a 1-based i64 tensor, as a new tensor (rows x d).
local function take(x, rows)
  if rows:numel() == 0 then return tide.zeros({ 0, x:size(2) }, x:dtype()) end
  return x:index_select(1, rows)
end

-- Every rank's local block of rows (m_r x d), stacked in rank order on every rank (f64).
local function gather_rows(ctx, blk)
  local m = blk:size(1)
  if not multi(ctx) then return blk:to("f64") end
  local counts = per_rank(ctx, m)
  local total, off = 0, 0
  for r = 0, ctx.size - 1 do
    local c = math.tointeger(counts[r + 1])
    if r < ctx.rank then off = off + c end
    total = total + c
  end
  local buf = tide.zeros({ total, ctx.d }, "f64")
  if m > 0 then buf:narrow(1, off + 1, m):copy_(blk) end
  return allreduce(ctx, buf)
end

-- The rows of the global data at the given 0-based global indices (a Lua list), on every
-- rank, in the list's order, as an f64 tensor.
local function fetch_rows(ctx, globals)
  local buf = tide.zeros({ #globals, ctx.d }, "f64")
  for i, g in ipairs(globals) do
    local l = g - ctx.offset
    if l >= 0 and l < ctx.n then buf[i]:copy_(ctx.x[l + 1]) end
  end
  return allreduce(ctx, buf)
end

-- `count` global rows, each drawn with probability proportional to v_i · w_i (v: an f64 per
-- local row, or nil for all ones; w: the sample weights, if any); draw t uses counter
-- `counter + t` of stream `stream`. Returns the rows (count x d, f64) on every rank, or nil
-- when every term is 0. Two allreduces whatever count is.
local function pick_rows(ctx, v, seed, stream, counter, count)
  local by_count = v == nil and ctx.weight == nil
  local sums = per_rank(ctx, by_count and ctx.n or K.potential(v, ctx.weight))
  local total = 0
  for r = 1, ctx.size do total = total + sums[r] end
  if not (total > 0) then return nil end
  local rows = tide.zeros({ count, ctx.d }, "f64")
  for t = 1, count do
    local target = K.uniform(seed, stream, counter + t - 1) * total
    -- the owner: the first rank whose running sum passes target (the last with a positive
    -- sum when rounding leaves target past the total)
    local owner, before = nil, 0
    for r = 0, ctx.size - 1 do
      local s = sums[r + 1]
      if s > 0 then
        if owner and target < before then break end
        owner = r
        before = before + s
      end
    end
    before = before - sums[owner + 1]
    if ctx.rank == owner then
      local l
      if by_count then
        l = math.min(math.floor(target - before), ctx.n - 1) + 1
      else
        l = K.pick(v, ctx.weight, target - before)
      end
      rows[t]:copy_(ctx.x[l])
    end
  end
  return allreduce(ctx, rows)
end

-- ------------------------------------------------------------------ initialisations

-- Streams of the counter-based draws (K.uniform(seed, stream, counter)): one per purpose, the
-- numbered ones (rounds, steps) in disjoint ranges.
local STREAM_FIRST, STREAM_RANDOM, STREAM_REDUCE = 1, 3, 4
local STREAM_PARALLEL, STREAM_PP_ROUNDS, STREAM_BATCH = 1 << 40, 2 << 40, 3 << 40
local REDUCE_TRIES = 3

-- "random": k distinct rows uniformly (Floyd's sampling over the global row indices).
local function init_random(ctx, k, seed)
  local chosen, taken = {}, {}
  for j = ctx.N - k, ctx.N - 1 do
    local t = math.floor(K.uniform(seed, STREAM_RANDOM, j) * (j + 1))
    if t > j then t = j end
    if taken[t] then t = j end
    taken[t] = true
    chosen[#chosen + 1] = t
  end
  table.sort(chosen)
  return fetch_rows(ctx, chosen):to(ctx.dtype)
end

-- "k-means++" over the distributed data (Arthur and Vassilvitskii), greedy as scikit-learn
-- does it: k rounds, each drawing 2 + ⌊ln k⌋ candidate rows with probability ∝ w · D² (D the
-- distance to the nearest centre so far) and keeping the one that lowers Σ w · D² most.
local function init_plusplus(ctx, k, seed)
  local centres = tide.zeros({ k, ctx.d }, "f64")
  local mind = tide.zeros(ctx.n, "f64")
  local trials = 2 + math.floor(math.log(k))
  centres[1]:copy_(pick_rows(ctx, nil, seed, STREAM_FIRST, 0, 1)[1])
  K.assign(ctx.x, centres:narrow(1, 1, 1):to(ctx.dtype), { mind = mind })
  for c = 2, k do
    local cands = pick_rows(ctx, mind, seed, STREAM_PP_ROUNDS + c, 0, trials)
    local row
    if cands == nil then
      -- every row already coincides with a centre (fewer distinct rows than k): any will do
      row = fetch_rows(ctx, { (c - 1) % ctx.N })[1]
    else
      local pot = allreduce(ctx, K.trials(ctx.x, cands:to(ctx.dtype), mind, ctx.weight))
      local best = 1
      for t = 2, trials do
        if pot[t] < pot[best] then best = t end
      end
      row = cands[best]
    end
    centres[c]:copy_(row)
    K.assign(ctx.x, centres:narrow(1, c, 1):to(ctx.dtype), { mind = mind, mind_update = true })
  end
  return centres:to(ctx.dtype)
end

local function stack(blocks, d)
  local m = 0
  for _, b in ipairs(blocks) do m = m + b:size(1) end
  local out = tide.zeros({ m, d }, "f64")
  local at = 1
  for _, b in ipairs(blocks) do
    if b:size(1) > 0 then out:narrow(1, at, b:size(1)):copy_(b) end
    at = at + b:size(1)
  end
  return out
end

-- Weighted Lloyd on a small local set (the k-means|| candidates), from centres c. Returns the
-- centres and their weighted inertia on the set.
local function local_lloyd(x, w, c, iters)
  local k, d = c:size(1), c:size(2)
  for _ = 1, iters do
    local sums, counts = tide.zeros({ k, d }, "f64"), tide.zeros(k, "f64")
    K.assign(x, c, { weight = w, sums = sums, counts = counts })
    local cn, shift2, norm2 = K.update(c, sums, counts)
    c = cn
    if shift2 <= 1e-12 * norm2 then break end
  end
  return c, K.assign(x, c, { weight = w }).inertia
end

-- "k-means||" (Bahmani et al., VLDB 2012): a first row drawn ∝ w, then `rounds` rounds that
-- each keep every row independently with probability min(1, l · w · D² / φ), φ = Σ w · D²;
-- the candidates are weighted by the weight of the rows nearest to them and reduced to k on
-- rank 0 by weighted k-means++ and a few weighted Lloyd steps, then broadcast.
local function init_parallel(ctx, k, seed, l, rounds)
  local first = pick_rows(ctx, nil, seed, STREAM_FIRST, 0, 1)
  local blocks = { first }
  local mind = tide.zeros(ctx.n, "f64")
  K.assign(ctx.x, first:to(ctx.dtype), { mind = mind })
  for round = 1, rounds do
    local phi = per_rank(ctx, K.potential(mind, ctx.weight))
    local total = 0
    for r = 1, ctx.size do total = total + phi[r] end
    if not (total > 0) then break end
    local sel = K.sample(mind, ctx.weight, l / total, seed, STREAM_PARALLEL + round, ctx.offset)
    local new = gather_rows(ctx, take(ctx.x, sel))
    if new:size(1) > 0 then
      blocks[#blocks + 1] = new
      K.assign(ctx.x, new:to(ctx.dtype), { mind = mind, mind_update = true })
    end
  end
  local cands = stack(blocks, ctx.d)
  local m = cands:size(1)
  if m < k then
    -- fewer distinct candidates than centres (tiny or repetitive data): exact k-means++
    return init_plusplus(ctx, k, seed)
  end
  local cd = cands:to(ctx.dtype)
  local weights = tide.zeros(m, "f64")
  K.assign(ctx.x, cd, { weight = ctx.weight, counts = weights })
  allreduce(ctx, weights)
  local centres = tide.zeros({ k, ctx.d }, ctx.dtype)
  if ctx.rank == 0 then
    -- the reduction is cheap (m is about rounds · l), so it affords more greedy trials per
    -- k-means++ step than scikit-learn's 2 + ln k (with only those, D² sampling in 32
    -- dimensions leaves one or two of 64 well-separated blobs without a centre: a blob's
    -- own spread weighs 2·d·σ² against the gap between blobs), up to 8 times as many while
    -- the cost stays near 2e8 distance terms; and it is tried REDUCE_TRIES times with
    -- different seeds, the lowest weighted inertia winning, as scikit-learn's n_init would
    local base = 2 + math.floor(math.log(k))
    local trials = math.max(base, math.min(8 * base, math.floor(2e8 / (k * m * ctx.d))))
    local best
    for try = 1, REDUCE_TRIES do
      local rows = K.plusplus(cd, weights, k, (seed ~ 0x5bd1e995) + STREAM_REDUCE + try, trials)
      local c, inertia = local_lloyd(cd, weights, take(cd, rows), 30)
      if not best or inertia < best then best = inertia; centres:copy_(c) end
    end
  end
  return broadcast(ctx, centres, 0)
end

local function initial_centres(ctx, k, init, seed, opts, where, level)
  level = level + 1
  if tide.is_tensor(init) then
    if init:dim() ~= 2 or init:size(1) ~= k or init:size(2) ~= ctx.d then
      error(("%s: init has shape %s, expected %dx%d (k x features)"):format(where,
        shape_str(init), k, ctx.d), level)
    end
    return init:to(ctx.dtype):contiguous()
  elseif init == "k-means||" then
    local l = num_opt(opts.oversampling, "oversampling", where, 2) * k
    local rounds = int_opt(opts.init_rounds, "init_rounds", where, 1, 5)
    return init_parallel(ctx, k, seed, l, rounds)
  elseif init == "k-means++" then
    return init_plusplus(ctx, k, seed)
  elseif init == "random" then
    return init_random(ctx, k, seed)
  end
  error(("%s: init must be \"k-means||\", \"k-means++\", \"random\" or a k x d tensor, got %s")
    :format(where, tostring(init)), level)
end

-- ------------------------------------------------------------------ empty clusters

-- The globally farthest rows from their own centres, one per empty cluster: each rank offers
-- its own m farthest (exact distances), every rank picks the same m from all offers (larger
-- distance first, then lower global row). Returns a list of {x = the row (f64, d), w = weight,
-- label = its current cluster (1-based)}, possibly shorter than m.
local function farthest_rows(ctx, c, labels, m)
  local rows, d2 = K.farthest(ctx.x, c, labels, m)
  -- one slot of m rows per rank: a used flag, distance, global row, weight, label, then the
  -- row itself; a row already on its centre (distance 0) would be no better a centre
  local offers = tide.zeros({ ctx.size * m, ctx.d + 5 }, "f64")
  for i = 1, rows:numel() do
    local lrow = rows[i]
    if d2[i] > 0 then
      local slot = offers[ctx.rank * m + i]
      slot[1] = 1
      slot[2] = d2[i]
      slot[3] = ctx.offset + lrow - 1
      slot[4] = ctx.weight and ctx.weight[lrow] or 1
      slot[5] = labels[lrow]
      slot:narrow(1, 6, ctx.d):copy_(ctx.x[lrow])
    end
  end
  allreduce(ctx, offers)
  local list = {}
  for s = 1, ctx.size * m do
    local o = offers[s]
    if o[1] > 0 then
      list[#list + 1] = { d2 = o[2], g = o[3], w = o[4], label = o[5], x = o:narrow(1, 6, ctx.d) }
    end
  end
  table.sort(list, function(a, b)
    if a.d2 ~= b.d2 then return a.d2 > b.d2 end
    return a.g < b.g
  end)
  local out = {}
  for i = 1, math.min(m, #list) do out[i] = list[i] end
  return out
end

-- Re-seeds every empty cluster of a Lloyd step at the farthest rows (as scikit-learn does):
-- the row leaves its cluster's sums and joins the empty one, then the centres are recomputed
-- and the re-seeded ones put exactly on their rows. Returns the centres and how many moved.
local function reseed_empty(ctx, c, labels, sums, counts)
  local empties = {}
  for j = 1, c:size(1) do
    if not (counts[j] > 0) then empties[#empties + 1] = j end
  end
  local far = farthest_rows(ctx, c, labels, #empties)
  for i, j in ipairs(empties) do
    local f = far[i]
    if f then
      local old = math.tointeger(f.label)
      local moved = f.x:mul(f.w)
      sums[old]:sub_(moved)
      sums[j]:copy_(moved)
      counts[old] = counts[old] - f.w
      counts[j] = f.w
    end
  end
  local cn = K.update(c, sums, counts)
  for i, j in ipairs(empties) do
    if far[i] then cn[j]:copy_(far[i].x) end
  end
  return cn, #far
end

-- ------------------------------------------------------------------ the model

local Model = {}
Model.__index = Model

local function check_rows_for_model(self, x, where)
  local xl = is_dtensor(x) and x.local_ or x
  if not tide.is_tensor(xl) then
    error(("%s: expected a tensor or a dtensor, got %s"):format(where, type(x)), 3)
  end
  if xl:dim() ~= 2 or (xl:dtype() ~= "f32" and xl:dtype() ~= "f64") then
    error(("%s: expected a 2-D f32 or f64 tensor (rows x features), got %s %s"):format(where,
      xl:dtype(), shape_str(xl)), 3)
  end
  if xl:size(2) ~= self.n_features then
    error(("%s: expected %d features, got %d"):format(where, self.n_features, xl:size(2)), 3)
  end
  local ctx = { x = xl:contiguous(), n = xl:size(1), d = xl:size(2), rank = 0, size = 1,
    counts = { xl:size(1) } }
  if is_dtensor(x) then
    ctx.comm = dtensor_comm(x)
    ctx.rank, ctx.size = ctx.comm.rank, ctx.comm.size
    local counts = per_rank(ctx, ctx.n)
    for r = 1, ctx.size do ctx.counts[r] = math.tointeger(counts[r]) end
  end
  check_finite(ctx, where, 2)
  return ctx, self.centroids:to(xl:dtype())
end

local function wrap_like(x, ctx, t)
  if is_dtensor(x) then return tide.dtensor.from_local(t, ctx.comm) end
  return t
end

-- model:predict(x) -> the nearest centre (1-based, i32) of every row: a dtensor for a dtensor
-- (collective), else a tensor.
function Model:predict(x)
  local ctx, c = check_rows_for_model(self, x, "kmeans.predict")
  local labels = tide.zeros(ctx.n, "i32")
  K.assign(ctx.x, c, { labels = labels })
  return wrap_like(x, ctx, labels)
end

-- model:transform(x) -> the Euclidean distance of every row to every centre (rows x k, the
-- data's dtype): a dtensor for a dtensor (collective), else a tensor.
function Model:transform(x)
  local ctx, c = check_rows_for_model(self, x, "kmeans.transform")
  return wrap_like(x, ctx, K.distances(ctx.x, c))
end

function Model:__tostring()
  return ("tide.cluster model: k = %d, %d features, inertia %.6g after %d iterations"):format(
    self.k, self.n_features, self.inertia or 0 / 0, self.iterations)
end

local function labels_out(ctx, labels)
  if ctx.comm ~= nil and tide.dtensor and tide.dtensor.from_local then
    return tide.dtensor.from_local(labels, ctx.comm)
  end
  return labels
end

-- ------------------------------------------------------------------ Lloyd

local KMEANS_OPTS = { init = true, max_iter = true, tol = true, seed = true,
  sample_weight = true, comm = true, oversampling = true, init_rounds = true, callback = true }

local function check_k(k, where)
  if math.type(k) ~= "integer" or k < 1 then
    error(("%s: k must be a positive integer, got %s"):format(where, tostring(k)), 3)
  end
end

-- Σ‖a − b‖² of two centre tensors, and the relative shift the tolerance is measured in.
local function sqdiff(a, b)
  return a:to("f64"):sub(b:to("f64")):pow(2):sum()
end

local function relative_shift(shift2, norm2)
  return norm2 > 0 and math.sqrt(shift2 / norm2) or math.sqrt(shift2)
end

-- The buffers of one fit: a single f64 vector holds the per-cluster sums (k x d), the counts
-- (k) and two scalars, so that one allreduce per iteration combines everything.
local function fit_state(ctx, k)
  local d = ctx.d
  local buf = tide.zeros(k * d + k + 2, "f64")
  return { buf = buf, sums = buf:narrow(1, 1, k * d):view(k, d),
    counts = buf:narrow(1, k * d + 1, k), at_a = k * d + k + 1, at_b = k * d + k + 2 }
end

-- Labels and inertia for centres c (scikit-learn's inertia_ is for the final centres).
local function final_pass(ctx, c, labels)
  local st = K.assign(ctx.x, c, { weight = ctx.weight, labels = labels })
  return allreduce(ctx, tide.tensor({ st.inertia }, "f64"))[1]
end

-- One Lloyd iteration from centres c: the assignment pass, one allreduce, the new centres
-- (empty clusters re-seeded). Returns them and the iteration's record.
local function lloyd_step(ctx, s, c)
  local t0 = tide.now()
  s.buf:zero_()
  local a = K.assign(ctx.x, c, s.io)
  s.buf[s.at_a] = a.inertia
  s.buf[s.at_b] = a.changed
  local t1 = tide.now()
  allreduce(ctx, s.buf)
  local t2 = tide.now()
  local cn, shift2, norm2, n_empty = K.update(c, s.sums, s.counts)
  local reseeded = 0
  if n_empty > 0 then
    cn, reseeded = reseed_empty(ctx, c, s.labels, s.sums, s.counts)
    shift2 = sqdiff(cn, c)
  end
  return cn, { inertia = s.buf[s.at_a], changed = math.tointeger(s.buf[s.at_b]),
    shift = relative_shift(shift2, norm2), empty = reseeded, seconds = tide.now() - t0,
    gemm_seconds = a.gemm_seconds, assign_seconds = a.assign_seconds,
    allreduce_seconds = t2 - t1 }
end

-- cluster.kmeans(x, k, opts) -> model
--   x       a dtensor, or a tensor (this rank's rows with opts.comm, else all the data)
--   k       the number of clusters (1 <= k <= the number of rows)
--   opts    init = "k-means||" (default) | "k-means++" | "random" | a k x d tensor
--           max_iter = 300, tol = 1e-4 (stop when ‖C_new − C‖_F / ‖C‖_F <= tol; 0: only at
--           a fixed point), seed = 0, sample_weight = tensor/dtensor (one weight >= 0 per row),
--           comm = communicator (for a tensor of local rows), oversampling = 2 (k-means||
--           draws oversampling · k candidates per round), init_rounds = 5,
--           callback = function(record) called after each iteration on every rank.
-- model fields: centroids (k x d, the data's dtype), labels (i32 1..k per row: a dtensor when
-- the data is distributed), inertia (Σ w · ‖x − its centre‖² for the final centres),
-- iterations, converged, history (one record per iteration: iteration, inertia (for the
-- centres the iteration started from), shift, changed (labels), empty (re-seeded clusters),
-- seconds, gemm_seconds, assign_seconds and allreduce_seconds (this rank's)).
function cluster.kmeans(x, k, opts)
  local where = "kmeans"
  opts = check_opts(opts, KMEANS_OPTS, where)
  check_k(k, where)
  local max_iter = int_opt(opts.max_iter, "max_iter", where, 0, 300)
  local tol = num_opt(opts.tol, "tol", where, 1e-4)
  local seed = seed_opt(opts.seed, where, 0)
  local callback = fn_opt(opts.callback, where)
  local ctx = local_context(x, opts, where, 2)
  if k > ctx.N then
    error(("%s: k = %d is larger than the number of rows (%d)"):format(where, k, ctx.N), 2)
  end
  check_finite(ctx, where, 2)
  local c = initial_centres(ctx, k, opts.init or "k-means||", seed, opts, where, 2)
  local s = fit_state(ctx, k)
  s.labels = tide.zeros(ctx.n, "i32")
  s.io = { weight = ctx.weight, labels = s.labels, count_changes = true, sums = s.sums,
    counts = s.counts }
  local history, converged, inertia = {}, false, nil
  for it = 1, max_iter do
    local rec
    c, rec = lloyd_step(ctx, s, c)
    rec.iteration = it
    history[it] = rec
    if callback then callback(rec) end
    if rec.changed == 0 and rec.empty == 0 then
      -- the labels did not change, so neither did the centres: they and the inertia agree
      converged, inertia = true, rec.inertia
      break
    end
    if rec.shift <= tol then
      converged = true
      break
    end
  end
  inertia = inertia or final_pass(ctx, c, s.labels)
  return setmetatable({ centroids = c, labels = labels_out(ctx, s.labels), inertia = inertia,
    iterations = #history, converged = converged, history = history, k = k,
    n_features = ctx.d }, Model)
end

-- ------------------------------------------------------------------ mini-batch

local MINIBATCH_OPTS = { init = true, max_iter = true, tol = true, seed = true,
  sample_weight = true, comm = true, oversampling = true, init_rounds = true, callback = true,
  batch_size = true }

-- A source of batches: rows drawn at random (with replacement) from local data, or a
-- function the caller streams batches from.
local function batch_source(x, opts, where, batch_size, seed)
  if type(x) == "function" then
    return { stream = true, comm = opts.comm, next = function(step) return x(step) end }
  end
  local ctx = local_context(x, opts, where, 3)
  local src = { ctx = ctx, comm = ctx.comm }
  src.next = function(step)
    if ctx.n == 0 then return nil end
    local rows = K.random_rows(ctx.n, batch_size, seed, STREAM_BATCH + step,
      ctx.rank * batch_size)
    return take(ctx.x, rows), ctx.weight and ctx.weight:index_select(1, rows)
  end
  return src
end

-- A batch as a context of its own (the collectives of the initialisation and the re-seeding
-- run over the batches of all ranks). A bad batch fails on every rank.
local function batch_context(comm, xb, wb, d, dtype, where, level)
  local fail
  if xb ~= nil then
    if not tide.is_tensor(xb) or xb:dim() ~= 2 then
      fail = ("%s: a batch must be a 2-D tensor (rows x features), got %s"):format(where,
        tide.is_tensor(xb) and shape_str(xb) or type(xb))
    elseif d and xb:size(2) ~= d then
      fail = ("%s: a batch has %d features, expected %d"):format(where, xb:size(2), d)
    elseif dtype and xb:dtype() ~= dtype then
      xb = xb:to(dtype)
    end
  end
  return local_context(not fail and xb or nil, { comm = comm, sample_weight = wb }, where,
    level + 1, fail)
end

-- Centres no row has reached yet (prior weight 0) move to the batch's farthest rows.
local function reseed_unreached(bctx, c, cn, labels, prior, n_empty)
  local far = farthest_rows(bctx, c, labels, n_empty)
  local e, reseeded = 0, 0
  for j = 1, c:size(1) do
    if not (prior[j] > 0) then
      e = e + 1
      if far[e] then
        cn[j]:copy_(far[e].x)
        reseeded = reseeded + 1
      end
    end
  end
  return reseeded
end

-- One mini-batch step: every rank's next batch is assigned to c, one allreduce combines the
-- sums, counts and inertia (after the small one that checks the batches and counts their
-- rows), and each centre moves to the running mean of all it has absorbed. Returns the new centres and the step's record, or nil when every rank's
-- source has ended.
local function minibatch_step(src, s, c, step, where)
  local t0 = tide.now()
  local xb, wb = src.next(step)
  local bctx = batch_context(src.comm, xb, wb, c:size(2), c:dtype(), where, 3)
  if bctx.N == 0 then return nil end      -- every rank's source has ended
  if src.stream then check_finite(bctx, where, 3) end
  s.buf:zero_()
  local labels = tide.zeros(bctx.n, "i32")
  local a = K.assign(bctx.x, c, { weight = bctx.weight, labels = labels, sums = s.sums,
    counts = s.counts })
  s.buf[s.at_a] = a.inertia
  local t1 = tide.now()
  allreduce(bctx, s.buf)
  local t2 = tide.now()
  local cn, shift2, norm2, n_empty = K.update(c, s.sums, s.counts, s.prior)
  local reseeded = 0
  if n_empty > 0 then
    reseeded = reseed_unreached(bctx, c, cn, labels, s.prior, n_empty)
    shift2 = sqdiff(cn, c)
  end
  return cn, { inertia = s.buf[s.at_a], rows = bctx.N,
    shift = relative_shift(shift2, norm2), empty = reseeded, seconds = tide.now() - t0,
    gemm_seconds = a.gemm_seconds, assign_seconds = a.assign_seconds,
    allreduce_seconds = t2 - t1 }
end

-- cluster.minibatch_kmeans(x, k, opts) -> model
--   x   a dtensor or a tensor (batches are drawn from each rank's rows), or a function
--       next_batch(step) -> tensor (rows x d) or nil, called on every rank for step 0 (the
--       initialisation sample), 1, 2, ...: data that never has to fit in memory. A rank whose
--       function returns nil sits the step out; when every rank does, training stops.
--   k   the number of clusters
--   opts  batch_size = 1024 (rows per rank per step), max_iter = 100 (steps), init =
--       "k-means||" (on the step-0 batches of all ranks; or "k-means++", "random", a tensor),
--       tol = 0 (stop when the relative centre shift of a step is <= tol), seed = 0, comm,
--       sample_weight (tensor data only), oversampling, init_rounds, callback.
-- Each step assigns every rank's batch, allreduces the per-centre sums and counts once, and
-- moves each centre to the running weighted mean of all rows it has absorbed (Sculley, 2010).
-- For tensor data the model's labels and inertia come from one final pass over all rows;
-- for a stream they are nil.
function cluster.minibatch_kmeans(x, k, opts)
  local where = "minibatch_kmeans"
  opts = check_opts(opts, MINIBATCH_OPTS, where)
  check_k(k, where)
  local batch_size = int_opt(opts.batch_size, "batch_size", where, 1, 1024)
  local max_iter = int_opt(opts.max_iter, "max_iter", where, 0, 100)
  local tol = num_opt(opts.tol, "tol", where, 0)
  local seed = seed_opt(opts.seed, where, 0)
  local callback = fn_opt(opts.callback, where)
  if type(x) == "function" and opts.sample_weight ~= nil then
    error(where .. ": sample_weight applies to tensor data, not to a stream of batches", 2)
  end
  local src = batch_source(x, opts, where, batch_size, seed)
  local data = src.ctx
  if data then
    if k > data.N then
      error(("%s: k = %d is larger than the number of rows (%d)"):format(where, k, data.N), 2)
    end
    check_finite(data, where, 2)
  end
  -- step 0: the initialisation runs over the first batches of all ranks together
  local xb, wb = src.next(0)
  local ictx = batch_context(src.comm, xb, wb, data and data.d, data and data.dtype, where, 2)
  if k > ictx.N then
    error(("%s: the first batches hold %d rows in all, fewer than k = %d (raise batch_size)")
      :format(where, ictx.N, k), 2)
  end
  check_finite(ictx, where, 2)
  local c = initial_centres(ictx, k, opts.init or "k-means||", seed, opts, where, 2)
  local s = fit_state(ictx, k)
  s.prior = tide.zeros(k, "f64")
  local history, converged = {}, false
  for step = 1, max_iter do
    local cn, rec = minibatch_step(src, s, c, step, where)
    if not cn then break end
    c = cn
    rec.iteration = step
    history[step] = rec
    if callback then callback(rec) end
    if tol > 0 and rec.shift <= tol then
      converged = true
      break
    end
  end
  local model = setmetatable({ centroids = c, iterations = #history, converged = converged,
    history = history, k = k, n_features = ictx.d }, Model)
  if data then
    local labels = tide.zeros(data.n, "i32")
    model.inertia = final_pass(data, c, labels)
    model.labels = labels_out(data, labels)
  end
  return model
end

-- ------------------------------------------------------------------ test data

-- Rows first .. first + count − 1 (0-based) of a global data set of n rows, under the block
-- layout of `size` ranks (rank r gets ⌊n/size⌋ rows, one more for the first n mod size ranks).
local function block_rows(n, size, rank)
  local base, extra = n // size, n % size
  return rank * base + math.min(rank, extra), base + (rank < extra and 1 or 0)
end

-- cluster.blobs{n, d, k, std = 1, box = 5, seed = 0, dtype = "f32", comm = nil}
--   -> x, centres, labels
-- Seeded isotropic Gaussian blobs: k centres uniform in [−box, box)^d, every row a centre
-- picked uniformly plus std · N(0, I). With comm, x holds only this rank's block of rows (the
-- block layout of dtensors) and labels (i64, 1..k) their true clusters; each rank generates
-- only its own rows, and they are the same rows for any number of ranks (counter-based
-- random numbers: row i uses the same counters wherever it lives). centres is k x d.
function cluster.blobs(opts)
  local where = "cluster.blobs"
  opts = check_opts(opts, { n = true, d = true, k = true, std = true, box = true, seed = true,
    dtype = true, comm = true }, where)
  local n = int_opt(opts.n, "n", where, 1, nil)
  local d = int_opt(opts.d, "d", where, 1, nil)
  local k = int_opt(opts.k, "k", where, 1, nil)
  if not (n and d and k) then error(where .. ": n, d and k are required", 2) end
  local std = num_opt(opts.std, "std", where, 1)
  local box = num_opt(opts.box, "box", where, 5)
  local seed = seed_opt(opts.seed, where, 0)
  local dtype = opts.dtype or "f32"
  local comm = opts.comm
  local first, count = 0, n
  if comm ~= nil then first, count = block_rows(n, comm.size, comm.rank) end
  local g = tide.rng(seed, { same_on_all_ranks = true })
  local centres = tide.rand({ k, d }, { generator = g, dtype = dtype })
  centres:mul_(2 * box):add_(-box)
  g:set_counter(k * d + first)
  local labels = tide.randint(1, k + 1, { count }, { generator = g, dtype = "i64" })
  g:set_counter(k * d + n + first * d)
  local x = tide.randn({ count, d }, { generator = g, dtype = dtype })
  x:mul_(std):add_(centres:index_select(1, labels))
  return x, centres, labels
end

return cluster
