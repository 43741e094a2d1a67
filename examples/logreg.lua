-- Logistic regression on rows sharded over the ranks: each rank makes its own rows of a data
-- set drawn from a known linear model, L-BFGS (or gd / sgd) fits it with one allreduce of the
-- gradient per evaluation, and every rank ends with the same weights.
--
--   tide examples/logreg.lua                          100,000 x 20, binary, one rank
--   tide run -n 2 examples/logreg.lua --classes 4 --solver gd
--
-- Flags: --n N --d D (data size), --classes K (2: binary, else multinomial), --C C (inverse
-- L2 strength, scikit-learn's), --solver lbfgs|gd|sgd, --seed S.
local tide = require "tide"
local dtensor = require "tide.dtensor"
local linear = require "tide.linear"

local args = { n = 100000, d = 20, classes = 2, C = 1.0, solver = "lbfgs", seed = 1 }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = argv[i]:match("^%-%-(.+)$")
  if args[key] == nil or argv[i + 1] == nil then
    error(("logreg.lua: bad flag %s (usage: --flag value ..., see the header)"):format(argv[i]))
  end
  args[key] = math.tointeger(tonumber(argv[i + 1])) or tonumber(argv[i + 1]) or argv[i + 1]
end

local world = tide.world
-- the true model, the same on every rank; each rank draws only its rows
local K = args.classes == 2 and 1 or args.classes
local W = tide.randn({ args.d, K }, { dtype = "f64", seed = args.seed, same_on_all_ranks = true })
local X = dtensor.randn({ args.n, args.d }, { dtype = "f64", seed = args.seed + 1 })
local noise = dtensor.randn({ args.n, K }, { dtype = "f64", seed = args.seed + 2 }).shard
local Z = tide.matmul(X.shard, W) + noise
local y = K == 1 and Z:select(2, 1):gt(0):to("i64") or Z:argmax(2)

local t0 = tide.now()
local m = linear.logistic_regression({ C = args.C, solver = args.solver, tol = 1e-8 }):fit(X, y)
local seconds = tide.now() - t0
local loss, acc = m:loss(X, y), m:score(X, y)

-- at the optimum the intercept's gradient is 0: the mean predicted probability of each class
-- equals that class's share of the labels
local p = m:predict_proba(X)
local sums = tide.zeros({ 2 * p:size(2) }, "f64")
sums:narrow(1, 1, p:size(2)):copy_(p:sum(1))
for c = 1, p:size(2) do
  sums:set_(p:size(2) + c, y:eq(m.classes[c]):sum())
end
sums = world:allreduce(sums)

if world.rank == 0 then
  print(("logreg %d x %d, %d classes, %s on %d ranks: %d iterations, %.3f s"):format(args.n,
    args.d, #m.classes, args.solver, world.size, m.n_iter, seconds))
  print(("loss %.10f, accuracy %.4f"):format(loss, acc))
  local worst = 0
  for c = 1, p:size(2) do
    worst = math.max(worst, math.abs(sums:get(c) - sums:get(p:size(2) + c)) / args.n)
  end
  print(("mean predicted probability vs label share, worst class: %.3g"):format(worst))
end
