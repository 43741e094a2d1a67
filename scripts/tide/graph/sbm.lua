-- tide.graph.sbm: a synthetic stochastic-block-model graph for node classification, made
-- from one 64-bit LCG so that another program can make the very same graph (tests/bench/
-- gcn_torch.py repeats this file line for line in Python).
--
--   local d = tide.graph.sbm{n = 2000, classes = 4, degree_in = 3, degree_out = 3,
--                            features = 8, signal = 0.6, train = 0.1, seed = 1}
--
-- Vertex v (1-based) is of class (v - 1) % classes + 1, so a class is spread over the ids.
-- Each vertex draws degree_in neighbours of its own class and degree_out of other classes,
-- uniformly; every edge is kept in both directions (an undirected graph as src -> dst
-- pairs; a pair drawn twice is kept twice; a vertex drawn as its own neighbour is skipped).
-- Features are N(0, 1) plus `signal` on the feature (class - 1) % features + 1 (Box-Muller
-- from two draws, the second draw's cosine only). A vertex is a training vertex when its draw
-- is below `train`, else a test vertex.
--
-- Returns {src, dst (i64), labels (i64, 1-based), x (n x features, f32), train, test (i64
-- vertex ids, ascending), init = fn(rows, cols, seed) -> rows x cols f32 weights uniform in
-- +-sqrt(6 / (rows + cols)) (Glorot), drawn row-major from the same LCG seeded with seed}.
local tide = require "tide"
local args = require "tide.args"

local M = {}

local A, C = 6364136223846793005, 1442695040888963407   -- Knuth's MMIX LCG
local UNIT = 2.0 ^ -53

-- A generator of doubles in [0, 1): the top 53 bits of the state after each step. Lua's
-- integers wrap around modulo 2^64 and >> is a logical shift, as Python's masked ints do.
local function lcg(seed)
  local x = seed
  return function()
    x = x * A + C
    return (x >> 11) * UNIT
  end
end
M.lcg = lcg

local function normal(rand)
  local u1, u2 = rand(), rand()
  return math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)
end

function M.init(rows, cols, seed)
  local rand, bound = lcg(seed), math.sqrt(6 / (rows + cols))
  local w = {}
  for i = 1, rows do
    local row = {}
    for j = 1, cols do row[j] = (2 * rand() - 1) * bound end
    w[i] = row
  end
  return tide.tensor(w, "f32")
end

function M.sbm(opts)
  local op = "graph.sbm"
  opts = args.check_opts(opts, { n = true, classes = true, degree_in = true, degree_out = true,
    features = true, signal = true, train = true, seed = true }, op)
  local n = args.integer(opts.n, "n", op, 2, 2000)
  local k = args.integer(opts.classes, "classes", op, 2, 4)
  local din = args.integer(opts.degree_in, "degree_in", op, 0, 3)
  local dout = args.integer(opts.degree_out, "degree_out", op, 0, 3)
  local f = args.integer(opts.features, "features", op, 1, 8)
  local signal = args.number(opts.signal, "signal", op, 0.6, "finite")
  local train = args.number(opts.train, "train", op, 0.1, "in [0, 1]")
  local seed = args.seed(opts.seed, op, 1)
  if n % k ~= 0 then
    error(("%s: n (%d) must be a multiple of classes (%d)"):format(op, n, k), 2)
  end
  local rand, per = lcg(seed), n // k
  local src, dst = {}, {}
  local function edge(v, u)
    if u ~= v then
      src[#src + 1], dst[#dst + 1] = v, u
      src[#src + 1], dst[#dst + 1] = u, v
    end
  end
  for v = 1, n do
    local c = (v - 1) % k
    for _ = 1, din do edge(v, math.floor(rand() * per) * k + c + 1) end
    for _ = 1, dout do
      local other = (c + 1 + math.floor(rand() * (k - 1))) % k
      edge(v, math.floor(rand() * per) * k + other + 1)
    end
  end
  local x, labels = {}, {}
  for v = 1, n do
    local c = (v - 1) % k
    labels[v] = c + 1
    local row = {}
    for j = 1, f do row[j] = normal(rand) end
    row[c % f + 1] = row[c % f + 1] + signal
    x[v] = row
  end
  local tr, te = {}, {}
  for v = 1, n do
    if rand() < train then tr[#tr + 1] = v else te[#te + 1] = v end
  end
  return { src = tide.tensor(src, "i64"), dst = tide.tensor(dst, "i64"),
    labels = tide.tensor(labels, "i64"), x = tide.tensor(x, "f32"),
    train = tide.tensor(tr, "i64"), test = tide.tensor(te, "i64"), init = M.init }
end

return M
