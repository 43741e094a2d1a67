-- tide.recommend.synthetic: a low-rank rating matrix with most entries missing, drawn from a
-- 64-bit LCG so that a few lines of any language (tests/bench/als_numpy.py) draw the same one.
--
--   local train, test = recommend.synthetic{n_users = 300, n_items = 200, rank = 4,
--     density = 0.1, noise = 0.1, test_fraction = 0.1, seed = 1, comm = nil}
--   train.users, train.items (i64, 1-based ids), train.ratings (f32): the whole set, the same
--   on every rank; test likewise (the held-out entries). With comm, each rank of it gets its
--   block of each set (the first n % size ranks one triplet more), what fit takes from it.
--
-- The draws, in order, from s = seed, s <- s * 6364136223846793005 + 1442695040888963407 mod
-- 2^64, u = (s >> 11) / 2^53: every user's rank factors (row by row), then every item's;
-- then the observed cells in row-major order, each one gap = floor(log(1 - u) / log(1 -
-- density)) cells after the last (a Bernoulli(density) mask, one draw per observed cell),
-- and for each cell a noise draw, rating = <U_user, V_item> + noise * (2u - 1), and a
-- held-out draw, u < test_fraction.
local tide = require "tide"
local args = require "tide.args"

local A, C = 6364136223846793005, 1442695040888963407

local function lcg(seed)
  local s = seed
  return function()
    s = s * A + C
    return (s >> 11) * 0x1p-53
  end
end

local function factors(next_u, n, r)
  local f = {}
  for i = 1, n do
    local row = {}
    for j = 1, r do row[j] = next_u() end
    f[i] = row
  end
  return f
end

local known = { n_users = true, n_items = true, rank = true, density = true, noise = true,
  test_fraction = true, seed = true, comm = true }

-- the triplets as tensors: all of them, or the block of rank comm.rank
local function set(users, items, ratings, comm)
  local s = { users = tide.tensor(users, "i64"), items = tide.tensor(items, "i64"),
    ratings = tide.tensor(ratings, "f32") }
  if not comm then return s end
  local n, P, r = #users, comm.size, comm.rank
  local first, count = r * (n // P) + math.min(r, n % P), n // P + (r < n % P and 1 or 0)
  for k, t in pairs(s) do s[k] = t:narrow(1, first + 1, count) end
  return s
end

return function(opts)
  local op = "recommend.synthetic"
  opts = args.check_opts(opts, known, op)
  local nu = args.integer(opts.n_users, "n_users", op, 1, 300)
  local ni = args.integer(opts.n_items, "n_items", op, 1, 200)
  local r = args.integer(opts.rank, "rank", op, 1, 4)
  local density = args.number(opts.density, "density", op, 0.1, "in [0, 1)")
  local noise = args.number(opts.noise, "noise", op, 0.1, ">= 0")
  local frac = args.number(opts.test_fraction, "test_fraction", op, 0.1, "in [0, 1)")
  local next_u = lcg(args.seed(opts.seed, op, 1))
  local U, V = factors(next_u, nu, r), factors(next_u, ni, r)
  local tr, te = { {}, {}, {} }, { {}, {}, {} }
  local log_miss = math.log(1 - density)
  local cell = 0
  while density > 0 do
    cell = cell + math.floor(math.log(1 - next_u()) / log_miss)
    if cell >= nu * ni then break end
    local u, i = cell // ni + 1, cell % ni + 1
    local dot = 0.0
    for j = 1, r do dot = dot + U[u][j] * V[i][j] end
    local rating = dot + noise * (2 * next_u() - 1)
    local into = next_u() < frac and te or tr
    local n = #into[1] + 1
    into[1][n], into[2][n], into[3][n] = u, i, rating
    cell = cell + 1
  end
  return set(tr[1], tr[2], tr[3], opts.comm), set(te[1], te[2], te[3], opts.comm)
end
