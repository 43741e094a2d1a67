-- Cross-validation with missing data: a data set with some features missing (NaN) is imputed
-- with each column's mean, then k-fold cross-validation of a logistic regression runs its
-- folds spread over the ranks (fold f on rank (f - 1) % P) and gathers every fold's accuracy.
--
--   tide examples/cross_validation.lua
--   tide run -n 2 examples/cross_validation.lua --n 2000 --k 5 --missing 0.1
--
-- Flags: --n N --d D (rows, features), --k K (folds), --missing F (share of entries removed),
-- --C C, --seed S.
local tide = require "tide"
local impute = require "tide.impute"
local linear = require "tide.linear"
local ms = require "tide.model_selection"

local args = { n = 2000, d = 8, k = 5, missing = 0.1, C = 1.0, seed = 1 }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = argv[i]:match("^%-%-(.+)$")
  if args[key] == nil or argv[i + 1] == nil then
    error(("cross_validation.lua: bad flag %s (see the header)"):format(argv[i]))
  end
  args[key] = math.tointeger(tonumber(argv[i + 1])) or tonumber(argv[i + 1])
end

local world = tide.world
-- every rank holds the same data (the folds, not the rows, are spread)
local X = tide.randn({ args.n, args.d }, { dtype = "f64", seed = args.seed, same_on_all_ranks = true })
local w = tide.randn({ args.d }, { dtype = "f64", seed = args.seed + 1, same_on_all_ranks = true })
local y = tide.matmul(X, w):gt(0):to("i64")
local holes = tide.rand({ args.n, args.d }, { dtype = "f64", seed = args.seed + 2,
  same_on_all_ranks = true }):lt(args.missing)
X = X:masked_fill(holes, 0 / 0)
local missing = holes:sum()

local filled = impute.mean(X)
local left = filled:ne(filled):sum()

local results = ms.cross_validate(function(train, test)
  local m = linear.logistic_regression({ C = args.C }):fit(train.X, train.y)
  return { acc = m:score(test.X, test.y), rows = test.y:numel(), rank = world.rank }
end, { X = filled, y = y }, args.k, { stratify = y, seed = args.seed })

if world.rank == 0 then
  print(("imputed %d missing entries of %d (%d left)"):format(missing, args.n * args.d, left))
  local total, rows, mean = 0, {}, 0
  for f, r in ipairs(results) do
    print(("fold %d on rank %d: %d test rows, accuracy %.4f"):format(f, r.rank, r.rows, r.acc))
    total = total + r.rows
    rows[f] = r.rows
    mean = mean + r.acc / #results
  end
  print(("folds test %d rows in all (n = %d); mean accuracy %.4f"):format(total, args.n, mean))
end
