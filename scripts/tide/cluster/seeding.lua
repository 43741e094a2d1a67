-- tide.cluster.seeding: the initial centres of a fit: "random" (k distinct rows), "k-means++"
-- and "k-means||" over the distributed data, or the caller's k x d tensor. Every random draw is
-- a counter-based uniform keyed by (seed, stream, counter) and the global row index, so the
-- centres are the same for any rank count. Collective: every rank calls M.initial.
local tide = require "tide"
local args = require "tide.args"
local C = require "tide.cluster.context"

local K = tide._internal.cluster_kernels
local shape_str = args.shape_str
local allreduce, broadcast, per_rank = C.allreduce, C.broadcast, C.per_rank
local take, gather_rows, fetch_rows, pick_rows = C.take, C.gather_rows, C.fetch_rows, C.pick_rows
local M = {}

-- Streams of the counter-based draws (K.uniform(seed, stream, counter)): one per purpose, the
-- numbered ones (rounds, steps) in disjoint ranges.
local STREAM_FIRST, STREAM_RANDOM, STREAM_REDUCE = 1, 3, 4
local STREAM_PARALLEL, STREAM_PP_ROUNDS = 1 << 40, 2 << 40
M.STREAM_BATCH = 3 << 40   -- the mini-batch draws (tide.cluster)
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

function M.initial(ctx, k, init, seed, opts, where, level)
  level = level + 1
  if tide.is_tensor(init) then
    if init:dim() ~= 2 or init:size(1) ~= k or init:size(2) ~= ctx.d then
      error(("%s: init has shape %s, expected %dx%d (k x features)"):format(where,
        shape_str(init), k, ctx.d), level)
    end
    local c = init:to(ctx.dtype):contiguous()
    local row, kind = K.nonfinite(c)
    if row then   -- NaN centres would make every distance NaN and the inertia with them
      error(("%s: init has %s in row %d (centres must be finite)"):format(where, kind, row),
        level)
    end
    return c
  elseif init == "k-means||" then
    local l = args.number(opts.oversampling, "oversampling", where, 2, "> 0", level + 1) * k
    local rounds = args.integer(opts.init_rounds, "init_rounds", where, 1, 5, level + 1)
    return init_parallel(ctx, k, seed, l, rounds)
  elseif init == "k-means++" then
    return init_plusplus(ctx, k, seed)
  elseif init == "random" then
    return init_random(ctx, k, seed)
  end
  error(("%s: init must be \"k-means||\", \"k-means++\", \"random\" or a k x d tensor, got %s")
    :format(where, tostring(init)), level)
end

return M
