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
local C = require "tide.cluster.context"
local seeding = require "tide.cluster.seeding"
local empty = require "tide.cluster.empty"
local Model = require "tide.cluster.model"

local K = tide._internal.cluster_kernels
local cluster = {}

local check_opts, shape_str = args.check_opts, args.shape_str
local allreduce, local_context, check_finite, take = C.allreduce, C.local_context,
  C.check_finite, C.take
local labels_out = Model.labels_out

-- ------------------------------------------------------------------ Lloyd

local KMEANS_OPTS = { init = true, max_iter = true, tol = true, seed = true,
  sample_weight = true, comm = true, oversampling = true, init_rounds = true, callback = true }

-- The options both fits take, checked (errors at the caller of kmeans or minibatch_kmeans):
-- returns opts, max_iter, tol, seed, callback.
local function fit_opts(opts, k, known, where, max_iter, tol)
  opts = check_opts(opts, known, where, 4)
  if math.type(k) ~= "integer" or k < 1 then
    error(("%s: k must be a positive integer, got %s"):format(where, tostring(k)), 3)
  end
  return opts, args.integer(opts.max_iter, "max_iter", where, 0, max_iter, 4),
    args.number(opts.tol, "tol", where, tol, ">= 0", 4), args.seed(opts.seed, where, 0, 4),
    args.func(opts.callback, "callback", where, 4)
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

-- The second half of a step, once s.buf holds this rank's sums, counts and inertia (at at_a):
-- the one allreduce, the new centres (prior: the mini-batch running weights, or nil), and
-- reseed(cn, n_empty) -> centres, how many moved, when clusters come out empty. Returns the
-- centres and the step's record.
local function finish_step(ctx, s, c, a, t0, prior, reseed)
  local t1 = tide.now()
  allreduce(ctx, s.buf)
  local t2 = tide.now()
  local cn, shift2, norm2, n_empty = K.update(c, s.sums, s.counts, prior)
  local reseeded = 0
  if n_empty > 0 then
    cn, reseeded = reseed(cn, n_empty)
    shift2 = sqdiff(cn, c)
  end
  return cn, { inertia = s.buf[s.at_a], shift = relative_shift(shift2, norm2),
    empty = reseeded, seconds = tide.now() - t0, gemm_seconds = a.gemm_seconds,
    assign_seconds = a.assign_seconds, allreduce_seconds = t2 - t1 }
end

-- One Lloyd iteration from centres c: the assignment pass, one allreduce, the new centres
-- (empty clusters re-seeded). Returns them and the iteration's record.
local function lloyd_step(ctx, s, c)
  local t0 = tide.now()
  s.buf:zero_()
  local a = K.assign(ctx.x, c, s.io)
  s.buf[s.at_a] = a.inertia
  s.buf[s.at_b] = a.changed
  local cn, rec = finish_step(ctx, s, c, a, t0, nil, function()
    return empty.reseed_empty(ctx, c, s.labels, s.sums, s.counts)
  end)
  rec.changed = math.tointeger(s.buf[s.at_b])
  return cn, rec
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
function cluster.kmeans(x, k, opts, ...)
  args.at_most("cluster.kmeans", 3, ...)
  local where = "kmeans"
  local max_iter, tol, seed, callback
  opts, max_iter, tol, seed, callback = fit_opts(opts, k, KMEANS_OPTS, where, 300, 1e-4)
  local ctx = local_context(x, opts, where, 2)
  if k > ctx.N then
    error(("%s: k = %d is larger than the number of rows (%d)"):format(where, k, ctx.N), 2)
  end
  check_finite(ctx, where, 2)
  local c = seeding.initial(ctx, k, opts.init or "k-means||", seed, opts, where, 2)
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
    local rows = K.random_rows(ctx.n, batch_size, seed, seeding.STREAM_BATCH + step,
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

-- One mini-batch step: every rank's next batch is assigned to c, one allreduce combines the
-- sums, counts and inertia (after the small one that checks the batches and counts their
-- rows), and each centre moves to the running mean of all it has absorbed. Returns the new
-- centres and the step's record, or nil when every rank's source has ended.
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
  local cn, rec = finish_step(bctx, s, c, a, t0, s.prior, function(cn, n_empty)
    return cn, empty.reseed_unreached(bctx, c, cn, labels, s.prior, n_empty)
  end)
  rec.rows = bctx.N
  return cn, rec
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
function cluster.minibatch_kmeans(x, k, opts, ...)
  args.at_most("cluster.minibatch_kmeans", 3, ...)
  local where = "minibatch_kmeans"
  local max_iter, tol, seed, callback
  opts, max_iter, tol, seed, callback = fit_opts(opts, k, MINIBATCH_OPTS, where, 100, 0)
  local batch_size = args.integer(opts.batch_size, "batch_size", where, 1, 1024)
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
  local c = seeding.initial(ictx, k, opts.init or "k-means||", seed, opts, where, 2)
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

-- cluster.model_from_state(s) -> a model (as a fit returns, without labels) from model:state().
function cluster.model_from_state(s, ...)
  args.at_most("cluster.model_from_state", 1, ...)
  return setmetatable({}, Model):load_state(s)
end

-- cluster.blobs{n, d, k, ...}: the seeded Gaussian blobs of tide.data (data.blobs), kept here
-- under the name it first had.
function cluster.blobs(opts, ...)
  args.at_most("cluster.blobs", 1, ...)
  return require("tide.data").blobs(opts)
end

return cluster
