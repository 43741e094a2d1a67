-- Collaborative filtering by alternating least squares over every rank: a low-rank rating
-- matrix with most entries missing is drawn (each rank keeping its block of the ratings, which
-- it passes to fit), ALS fits users' and items' factors,
-- and the held-out ratings' RMSE is printed after each iteration (implicit: their mean
-- predicted preference, which should approach 1, the preference of every rated pair).
--
--   tide examples/als.lua                          2,000 users x 1,000 items, 5% rated, rank 8
--   tide run -n 2 examples/als.lua --users 5000 --implicit 1
--
-- Flags: --users N --items M --density D (the rated share) --true_rank R (of the data)
-- --rank K (of the fit) --reg L --iters T --implicit 0|1 --alpha A --seed S --top N.
local tide = require "tide"
local recommend = require "tide.recommend"

local args = { users = 2000, items = 1000, density = 0.05, true_rank = 8, rank = 8, reg = 0.05,
  iters = 10, implicit = 0, alpha = 10, seed = 1, top = 5 }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = argv[i]:match("^%-%-(.+)$")
  if args[key] == nil or argv[i + 1] == nil then
    error(("als.lua: bad flag %s (usage: --flag value ..., see the header)"):format(argv[i]))
  end
  args[key] = math.tointeger(tonumber(argv[i + 1])) or tonumber(argv[i + 1]) or argv[i + 1]
end

local world = tide.world
local me = world.rank
-- each rank keeps its block of the ratings, as if it had read them from its own file
local train, test = recommend.synthetic { n_users = args.users, n_items = args.items,
  rank = args.true_rank, density = args.density, seed = args.seed, comm = world }
local tu, ti, tr = test.users, test.items, test.ratings
local n_train = world:allreduce(train.users:numel(), "sum")
local n_test = world:allreduce(test.users:numel(), "sum")

if me == 0 then
  print(("als %d users x %d items, %d ratings (%d held out), rank %d, %s, on %d ranks"):format(
    args.users, args.items, n_train, n_test, args.rank,
    args.implicit == 1 and "implicit" or "explicit", world.size))
end
local t0 = tide.now()
local model = recommend.als {
  rank = args.rank, reg = args.reg, iters = args.iters, implicit = args.implicit == 1,
  alpha = args.alpha, seed = args.seed, n_users = args.users, n_items = args.items,
  callback = function(it, m)
    local what, v   -- collective: every rank calls rmse and predict
    if args.implicit == 1 then
      local p = m:predict(tu, ti)
      what, v = "mean preference", world:allreduce(p:sum(), "sum") / n_test
    else
      what, v = "RMSE", m:rmse(tu, ti, tr)
    end
    if me == 0 then
      print(("iteration %2d  held-out %s %.5f  (%.2f s)"):format(it, what, v, tide.now() - t0))
    end
  end,
}
model:fit(train.users, train.items, train.ratings)

local ids, scores = model:recommend(1, args.top)
if me == 0 then
  local kb = world:allreduce(model.exchanged.bytes, "sum") / 1024
  print(("factor rows exchanged: %.1f KiB in all"):format(kb))
  print(("top %d for user 1 (items it did not rate): %s"):format(ids:numel(),
    table.concat(ids:totable(), " ")))
  print(("their scores: %s"):format(table.concat(scores:totable(), " ")))
else
  world:allreduce(model.exchanged.bytes, "sum")
end
