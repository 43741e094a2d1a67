-- Distributed k-means: every rank clusters its own rows, the ranks agree on the centres with
-- one allreduce per iteration.
--
--   tide examples/kmeans.lua                           1,000,000 x 32 blobs, k = 64, one rank
--   tide run -n 2 examples/kmeans.lua --iters 20       two ranks
--   tide run -n 2 examples/kmeans.lua --npy data.npy --k 64 [--init-npy centres.npy]
--
-- Flags: --n N --d D --k K (data size and clusters), --std S (blob spread, default 1),
-- --iters I (max Lloyd iterations, default 20), --tol T (default 0: stop only when no label
-- changes), --init NAME ("k-means||" (default), k-means++ or random), --seed S,
-- --dtype f32|f64, --npy PATH (a .npy matrix instead of blobs: each rank reads only its own
-- rows), --init-npy PATH (initial centres from a .npy k x d matrix), --minibatch B
-- (mini-batch k-means, B rows per rank per step).
local tide = require "tide"
local cluster = require "tide.cluster"

local args = { n = 1000000, d = 32, k = 64, std = 1, iters = 20, tol = 0, init = "k-means||",
  seed = 0, dtype = "f32" }
local flags = { n = 1, d = 1, k = 1, std = 1, iters = 1, tol = 1, init = 1, seed = 1, dtype = 1,
  npy = 1, init_npy = 1, minibatch = 1 }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = (argv[i]:match("^%-%-(.+)$") or ""):gsub("-", "_")
  if not flags[key] or argv[i + 1] == nil then
    error(("kmeans.lua: bad flag %s (usage: --flag value ..., see the header)"):format(argv[i]))
  end
  local v = argv[i + 1]
  args[key] = math.tointeger(tonumber(v)) or tonumber(v) or v
end

local comm = tide.world
local rank0 = comm.rank == 0
local function say(fmt, ...)
  if rank0 then print(fmt:format(...)) end
end

-- The data: this rank's rows only.
local x, truth
local t0 = tide.now()
if args.npy then
  x = tide.dtensor.load(args.npy, comm)       -- each rank reads only its own rows
  say("data: %s (%s)", args.npy, table.concat((x.global_shape and x:global_shape() or x:shape()), "x"))
else
  x, truth = tide.data.blobs { n = args.n, d = args.d, k = args.k, std = args.std,
    seed = args.seed, dtype = args.dtype, comm = comm }
  say("data: %d x %d %s Gaussian blobs around %d centres, std %g, %d rank(s)", args.n, args.d,
    args.dtype, args.k, args.std, comm.size)
end
say("made the data in %.2f s", tide.now() - t0)

local init = args.init
if args.init_npy then init = tide.load(args.init_npy) end
local opts = { init = init, max_iter = args.iters, tol = args.tol, seed = args.seed,
  callback = function(r)
    say("iter %3d  inertia %.6e  shift %.2e  %s %8d  %.4f s", r.iteration, r.inertia, r.shift,
      r.changed and "changed" or "rows", r.changed or r.rows, r.seconds)
  end }
if tide.is_tensor(x) then opts.comm = comm end   -- a dtensor carries its own

t0 = tide.now()
local model
if args.minibatch then
  opts.batch_size = args.minibatch
  model = cluster.minibatch_kmeans(x, args.k, opts)
else
  model = cluster.kmeans(x, args.k, opts)
end
local total = tide.now() - t0

local loop = 0
for _, r in ipairs(model.history) do loop = loop + r.seconds end
say("%d iterations, %.4f s per iteration; initialisation and final pass %.2f s",
  model.iterations, loop / math.max(model.iterations, 1), total - loop)
say("final inertia %.8e", model.inertia)
if truth and rank0 then
  -- how far each true centre is from the nearest centre found
  local d = model.centroids:to("f64")
  local worst = 0
  for j = 1, truth:size(1) do
    local best = math.huge
    for c = 1, d:size(1) do
      local s = 0
      for t = 1, truth:size(2) do s = s + (d:get(c, t) - truth:get(j, t)) ^ 2 end
      best = math.min(best, s)
    end
    worst = math.max(worst, math.sqrt(best))
  end
  print(("true centres: the farthest is %.4f from a centre found"):format(worst))
end
