-- Node classification with a 2-layer GCN (Kipf and Welling) on a graph partitioned over the
-- ranks: a synthetic stochastic-block-model graph whose features lean toward each vertex's
-- class (tide.graph.sbm, the same on every rank), full-batch Adam on the training vertices,
-- accuracy on the others. Each rank owns its vertices' rows; each layer exchanges only halo
-- rows; the gradients are summed over the ranks before every step.
--
--   tide examples/gcn.lua                                 2,000 vertices, one rank
--   tide run -n 2 examples/gcn.lua --policy edgecut
--   /usr/bin/python3 tests/bench/karate_graph.py k.json && tide examples/gcn.lua --graph k.json
--
-- Flags: --n N --classes K --degree_in D --degree_out D --features F --signal S --train P
-- (the graph), --hidden H --epochs E --lr LR --weight_decay WD --seed S, --policy
-- hash|edgecut. --graph FILE trains on a graph from a JSON file instead: {src = [...], dst =
-- [...], labels = [...], train = [...], test = [...]} (1-based vertex ids and labels; edges
-- listed in both directions for an undirected graph), features = [[...], ...] or, absent, one
-- one-hot feature per vertex. tests/bench/gcn_torch.py trains the same network with PyTorch
-- from the same graph, split and initial weights (one LCG makes them all), for comparison.
local tide = require "tide"
local nn = tide.nn

local args = { n = 2000, classes = 4, degree_in = 4, degree_out = 2, features = 8, signal = 0.8,
  train = 0.1, hidden = 16, epochs = 200, lr = 0.01, weight_decay = 5e-4, seed = 1,
  policy = "hash", graph = "sbm" }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = argv[i]:match("^%-%-(.+)$")
  if args[key] == nil or argv[i + 1] == nil then
    error(("gcn.lua: bad flag %s (usage: --flag value ..., see the header)"):format(argv[i]))
  end
  args[key] = math.tointeger(tonumber(argv[i + 1])) or tonumber(argv[i + 1]) or argv[i + 1]
end

local world = tide.world
local d
if args.graph == "sbm" then
  d = tide.graph.sbm { n = args.n, classes = args.classes, degree_in = args.degree_in,
    degree_out = args.degree_out, features = args.features, signal = args.signal,
    train = args.train, seed = args.seed }
else
  local f = assert(io.open(args.graph))
  local spec = require("cjson").decode(f:read("a"))
  f:close()
  local function ids(list) return tide.tensor(list, "i64") end   -- (JSON's numbers are floats)
  d = { src = ids(spec.src), dst = ids(spec.dst), labels = ids(spec.labels),
    train = ids(spec.train), test = ids(spec.test) }
  args.n, args.classes = d.labels:numel(), math.tointeger(d.labels:max())
  d.x = spec.features and tide.tensor(spec.features, "f32") or tide.eye(args.n)
  args.features = d.x:size(2)
  d.init = tide.graph.init
end
local g = tide.graph.partition(d.src, d.dst, args.n, { policy = args.policy })
local x, labels = g:features(d.x), g:features(d.labels)

-- this rank's training and test vertices, as its local row numbers
local row_of = {}
for i, v in ipairs(g.vertices:totable()) do row_of[v] = i end
local function local_rows(ids)
  local rows = {}
  for _, v in ipairs(ids:totable()) do rows[#rows + 1] = row_of[v] end
  return #rows > 0 and tide.tensor(rows, "i64") or tide.empty({ 0 }, "i64")
end
local train_rows, test_rows = local_rows(d.train), local_rows(d.test)

-- the network, with the initial weights the PyTorch twin also starts from
local F, H, C = args.features, args.hidden, args.classes
local conv1, relu, conv2 = nn.GCNConv(F, H), nn.ReLU(), nn.GCNConv(H, C)
conv1.weight:copy_(d.init(F, H, args.seed + 100):t())
conv2.weight:copy_(d.init(H, C, args.seed + 101):t())
local model = nn.Sequential(conv1, conv2)   -- holds the parameters; forward is by hand below
local opt = tide.optim.Adam(model, { lr = args.lr, weight_decay = args.weight_decay })
local criterion = nn.CrossEntropyLoss { reduction = "sum" }
local n_train = d.train:numel()

local function forward()
  local h = relu:forward(conv1:forward(x, g))
  return conv2:forward(h, g), h
end

local epoch_seconds = {}
for epoch = 1, args.epochs do
  local t0 = tide.now()
  model:zero_grad()
  local out, h = forward()
  local grad_out = tide.zeros({ g.nlocal, C }, "f32")
  local loss = 0
  if train_rows:numel() > 0 then
    local logits, y = out:index_select(1, train_rows), labels:index_select(1, train_rows)
    loss = criterion:forward(logits, y) / n_train           -- the mean over all ranks' rows
    grad_out:index_add_(1, train_rows, criterion:backward(logits, y) / n_train)
  end
  conv1:backward(x, relu:backward(conv1.output, conv2:backward(h, grad_out)),
    { input_grad = false })
  local _, grads = model:parameters()
  for _, grad in ipairs(grads) do world:allreduce(grad) end
  opt:step()
  epoch_seconds[epoch] = tide.now() - t0
  loss = world:allreduce(loss)
  if world.rank == 0 and (epoch == 1 or epoch % 50 == 0) then
    print(("epoch %3d  loss %.4f"):format(epoch, loss))
  end
end
table.sort(epoch_seconds)
local median = epoch_seconds[(#epoch_seconds + 1) // 2]

local out = forward()
local correct = 0
if test_rows:numel() > 0 then
  correct = out:index_select(1, test_rows):argmax(2):eq(labels:index_select(1, test_rows)):sum()
end
correct = world:allreduce(correct)
local stats = g:stats()
if world.rank == 0 then
  print(("%d vertices, %d edges on %d rank(s), %s partition: %d edges cut (%.1f%%)"):format(
    args.n, stats.edges, world.size, args.policy, stats.edge_cut, 100 * stats.cut_fraction))
  print(("%d epochs, median epoch %.4f s"):format(args.epochs, median))
  print(("test accuracy %.1f%%"):format(100 * correct / d.test:numel()))
end
