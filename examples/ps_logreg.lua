-- ps_logreg.lua: sparse logistic regression on hashed features with a parameter server, in
-- each consistency mode, against the same job done with a collective (allreduce-style).
--   tide run -n 4 examples/ps_logreg.lua        (1 server + 3 workers; any n >= 1 works)
--   flags: --features 1048576 (2^20 hashed buckets)  --steps 40  --batch 256 (per worker)
--          --nnz 8 (features per sample)  --lr 2  --seed 1  --domain 100000 (raw feature ids)
--
-- The data are click-style: each sample has nnz raw feature ids drawn from a Zipf law, hashed
-- into `features` buckets; a known true weight vector decides the label's probability. Rank 0
-- serves the weights ("w", 2^20 f64) and the others work: each step a worker pulls the rows its
-- batch touches, computes the log-loss gradient of those rows and pushes them (push_rows), then
-- calls clock(). The allreduce version runs the same workers on the same batches, each holding
-- all of w: every worker's sparse gradient goes into a dense one, the dense ones are gathered
-- and summed in worker-rank order (worker 1's, + worker 2's, ...), and w += -lr * sum. That is
-- the order a BSP server sums in (tide/ps/server.lua), so the two give the same bits.
local tide = require "tide"
local placement = require "tide.placement"

local args = { features = 1 << 20, steps = 40, batch = 256, nnz = 8, lr = 2, seed = 1,
  domain = 100000 }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = argv[i]:match("^%-%-(.+)$")
  if not key or args[key] == nil or tonumber(argv[i + 1]) == nil then
    error("usage: ps_logreg.lua [--features D] [--steps T] [--batch B] [--nnz K] [--lr X] "
      .. "[--seed S] [--domain N]")
  end
  args[key] = math.tointeger(tonumber(argv[i + 1])) or tonumber(argv[i + 1])
end

local world = tide.world
local P, me = world.size, world.rank
local S = 1                                   -- servers: rank 0 (with one rank: it also works)
local D, B, K = args.features, args.batch, args.nnz

-- The true weights, the same on every rank; and a worker's data: every step's batch.
local truth = tide.randn({ D }, { dtype = "f64", seed = args.seed, stream = 0 }):mul(1.5)

local function dataset(stream, n)
  local raw = placement.zipf(n * K, { domain = args.domain, seed = args.seed, stream = stream })
  local rows = tide.hash_bucket(raw:to("i64"), D, args.seed):to("i64"):add(1)   -- 1-based
  local logit = truth:index_select(1, rows):reshape({ n, K }):sum(2)
  local u = tide.rand({ n }, { dtype = "f64", seed = args.seed + 7, stream = stream })
  local y = u:lt(logit:sigmoid()):to("f64")
  return { rows = rows:reshape({ n, K }), y = y }
end

-- One step's sparse gradient of the mean log-loss over the global batch (B * workers
-- samples): the unique rows the batch touches and a gradient per row, summed in sample order.
local function gradient(data, step, w_rows_of, workers)
  local rows = data.rows:narrow(1, (step - 1) * B + 1, B):contiguous():reshape({ B * K })
  local y = data.y:narrow(1, (step - 1) * B + 1, B)
  local uniq, inverse = rows:unique { inverse = true }
  local w_rows = w_rows_of(uniq)
  local logit = w_rows:index_select(1, inverse):reshape({ B, K }):sum(2)
  local err = logit:sigmoid():sub(y):div(B * workers)
  local per = err:reshape({ B, 1 }):expand({ B, K }):contiguous():reshape({ B * K })
  return uniq, tide.zeros({ uniq:numel() }, "f64"):index_add_(1, inverse, per)
end

local function log_loss(w, data)
  local n = data.y:numel()
  local p = w:index_select(1, data.rows:reshape({ n * K })):reshape({ n, K }):sum(2):sigmoid()
  p = p:clamp(1e-12, 1 - 1e-12)
  local y = data.y
  return -(y:mul(p:log()):add(y:mul(-1):add(1):mul(p:mul(-1):add(1):log()))):mean()
end

local n_workers = P > S and P - S or P
local worker_index = P > S and me - S + 1 or me + 1   -- 1-based among the workers
local is_worker = P == S or me >= S
local data = is_worker and dataset(worker_index, args.steps * B) or nil
local test = dataset(1000, 4096)
local first_worker = P > S and S or 0

-- The parameter-server job in one consistency mode; the server (rank 0) returns the final w.
local function run_ps(consistency)
  local ps = tide.ps.new(world, { servers = S, consistency = consistency })
  ps:init("w", tide.zeros({ D }, "f64"), { rule = "sgd", lr = args.lr })
  local t0 = tide.now()
  for step = 1, args.steps do
    if is_worker then
      local uniq, g = gradient(data, step, function(u) return ps:pull_rows("w", u) end, n_workers)
      ps:push_rows("w", uniq, g)
    end
    ps:clock()
  end
  ps:close()           -- the server serves until every worker is done: every push is in
  local w = ps:server_value("w")
  return w and w:clone(), tide.now() - t0
end

-- The same job with a collective over the workers: dense gradients gathered, summed in
-- worker order, w += -lr * sum.
local function run_allreduce()
  local comm = world:split(is_worker and 1 or 0, me)
  local w = tide.zeros({ D }, "f64")
  local t0 = tide.now()
  if is_worker then
    for step = 1, args.steps do
      local uniq, g = gradient(data, step, function(u) return w:index_select(1, u) end, n_workers)
      local all = comm:allgather(tide.zeros({ D }, "f64"):index_add_(1, uniq, g):reshape({ 1, D }))
      local total = all[1]:clone()
      for r = 2, n_workers do total:add_(all[r]) end
      tide.ps.rules.sgd(w, total, nil, { lr = args.lr })
    end
  end
  world:broadcast(w, first_worker)   -- every worker holds the same w; rank 0 prints
  return w, tide.now() - t0
end

local w_ar, t_ar = run_allreduce()
local results = {}
for _, mode in ipairs { "bsp", { ssp = 3 }, "async" } do
  local w, seconds = run_ps(mode)
  local name = type(mode) == "table" and "ssp(3)" or mode
  results[#results + 1] = { name = name, w = w, seconds = seconds }
end

if me == 0 then
  print(("ps_logreg: %d features, %d workers x %d samples x %d steps, %d server(s)"):format(D,
    n_workers, B, args.steps, S))
  local base = log_loss(w_ar, test)
  print(("%-10s loss %.6f  %.2f s"):format("allreduce", base, t_ar))
  local bsp_loss
  for _, r in ipairs(results) do
    local loss = log_loss(r.w, test)
    bsp_loss = bsp_loss or loss
    print(("%-10s loss %.6f  %.2f s  max |w - w_allreduce| %.3g  vs bsp %+.3f%%"):format(r.name,
      loss, r.seconds, r.w:sub(w_ar):abs():max(), 100 * (loss - bsp_loss) / bsp_loss))
  end
  local same = results[1].w:eq(w_ar):to("i64"):sum() == D
  print("bsp equals allreduce bit for bit: " .. (same and "yes" or "no"))
  print(("true-weight loss %.6f"):format(log_loss(truth, test)))
end
