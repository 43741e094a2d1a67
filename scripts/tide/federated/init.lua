-- tide.federated: federated learning with simulated clients, many per rank.
--
--   local split = federated.dirichlet{labels = train.y, clients = 100, alpha = 0.5}
--   local hist = federated.fedavg{model = model, data = train, split = split, rounds = 50,
--     fraction = 0.1, local_epochs = 1, batch_size = 32, lr = 0.05, test = test}
--   -- federated.fedprox{..., mu = 0.01}: the same rounds with FedProx's proximal term
--
-- A round (McMahan et al. 2017): the server samples fraction * clients clients (at least 1);
-- each of them, unless it drops out (probability `dropout`, after being picked), starts from
-- the global model and runs local_epochs of SGD over its own samples in shuffled batches; the
-- new global model is the average of the survivors' models weighted by their sample counts.
-- FedProx (Li et al. 2020) adds mu/2 |w - w_global|^2 to each client's loss, which keeps
-- clients with skewed data from drifting far. Client c (1-based) lives on rank (c - 1) % size;
-- every rank trains its own sampled clients one after the other, and one allreduce of the
-- weighted sums makes the round. The sampling and dropouts are drawn alike on every rank
-- (from seed), the local shuffles from seed, round and client: the run is the same at any
-- rank count (up to the order of floating-point sums).
local tide = require "tide"
local args = require "tide.args"
local split = require "tide.federated.split"

local federated = {}

federated.dirichlet = split.dirichlet
federated.sample_dirichlet = split.sample_dirichlet

-- secure_sum(x, group): secure aggregation over libsodium (secure.lua).
function federated.secure_sum(x, group)
  return require("tide.federated.secure").secure_sum(x, group)
end

local FEDAVG = { model = true, data = true, split = true, rounds = true, fraction = true,
  local_epochs = true, batch_size = true, lr = true, momentum = true, mu = true,
  dropout = true, seed = true, comm = true, test = true, criterion = true, on_round = true }

-- The clients picked this round (sorted ids) and which of them drop out.
local function sample_round(g, clients, m, dropout)
  local perm = tide.randperm(clients, { generator = g }):narrow(1, 1, m):totable()
  table.sort(perm)
  local drops = tide.rand({ m }, { generator = g, dtype = "f64" }):totable()
  local alive, dropped = {}, {}
  for i, c in ipairs(perm) do
    if drops[i] < dropout then dropped[#dropped + 1] = c else alive[#alive + 1] = c end
  end
  return perm, alive, dropped
end

-- Local training of one client from the current (global) parameters.
local function train_client(o, ps, gs, global, rows, seed)
  local x, y = o.data.x, o.data.y
  local n = rows:size(1)
  local opt = tide.optim.SGD({ ps, gs }, { lr = o.lr, momentum = o.momentum })
  local g = tide.rng(seed, { same_on_all_ranks = true })
  for _ = 1, o.local_epochs do
    local order = rows:index_select(1, tide.randperm(n, { generator = g }))
    for start = 1, n, o.batch_size do
      local idx = order:narrow(1, start, math.min(o.batch_size, n - start + 1))
      local xb, yb = x:index_select(1, idx), y:index_select(1, idx)
      o.model:zero_grad()
      local out = o.model:forward(xb)
      o.criterion:forward(out, yb)
      o.model:backward(xb, o.criterion:backward(out, yb), { input_grad = false })
      if o.mu > 0 then
        local _, grads = o.model:parameters()     -- (re-read: zero_grad may be lazy)
        for i, p in ipairs(ps) do grads[i]:add_((p - global[i]) * o.mu) end
      end
      opt:step()
    end
  end
end

local function check(o, where)
  o = args.check_opts(o, FEDAVG, where, 4)
  if type(o.model) ~= "table" or type(o.model.parameters) ~= "function" then
    error(where .. ": model expected a module with :parameters(), got " .. type(o.model), 3)
  end
  if type(o.data) ~= "table" or not tide.is_tensor(o.data.x) or not tide.is_tensor(o.data.y) then
    error(where .. ": data expected a data set {x = tensor, y = tensor}", 3)
  end
  if getmetatable(o.split) == nil or getmetatable(o.split).__name ~= "federated.Split" then
    error(where .. ": split expected a federated.dirichlet split, got " .. type(o.split), 3)
  end
  local r = {
    model = o.model, data = o.data, split = o.split, test = o.test, on_round = o.on_round,
    rounds = args.integer(o.rounds, "rounds", where, 1, nil, 4),
    fraction = args.number(o.fraction, "fraction", where, 0.1, "in [0, 1]", 4),
    local_epochs = args.integer(o.local_epochs, "local_epochs", where, 1, 1, 4),
    batch_size = args.integer(o.batch_size, "batch_size", where, 1, 32, 4),
    lr = args.number(o.lr, "lr", where, 0.05, "> 0", 4),
    momentum = args.number(o.momentum, "momentum", where, 0, "in [0, 1)", 4),
    mu = args.number(o.mu, "mu", where, 0, ">= 0", 4),
    dropout = args.number(o.dropout, "dropout", where, 0, "in [0, 1)", 4),
    seed = args.seed(o.seed, where, 0, 4),
    comm = o.comm or tide.world,
    criterion = o.criterion or tide.nn.CrossEntropyLoss(),
  }
  args.func(o.on_round, "on_round", where, 4)
  return r
end

-- fedavg{model, data, split, rounds, fraction = 0.1, local_epochs = 1, batch_size = 32,
-- lr = 0.05, momentum = 0, mu = 0, dropout = 0, seed = 0, comm = tide.world, test = nil,
-- criterion = nn.CrossEntropyLoss(), on_round = nil} -> history: one entry per round,
-- {round, clients = picked ids, dropped = ids, samples = the survivors' sample count,
-- accuracy = on test when given}. model ends with the global parameters (the same on every
-- rank). on_round(entry) is called after each round on every rank. Collective over comm.
function federated.fedavg(opts)
  local o = check(opts, "federated.fedavg")
  local comm, clients = o.comm, o.split.clients
  local ps, gs = o.model:parameters()
  for _, p in ipairs(ps) do if comm.size > 1 then comm:broadcast(p, 0) end end
  local global, sums = {}, {}
  for i, p in ipairs(ps) do
    global[i] = p:clone()
    sums[i] = tide.zeros(p:shape(), p:dtype())
  end
  local m = math.max(1, math.floor(o.fraction * clients + 0.5))
  local g = tide.rng(o.seed, { same_on_all_ranks = true })
  local history = {}
  o.model:train()
  for round = 1, o.rounds do
    local picked, alive, dropped = sample_round(g, clients, m, o.dropout)
    local weight = 0
    for _, s in ipairs(sums) do s:zero_() end
    for _, c in ipairs(alive) do
      if (c - 1) % comm.size == comm.rank then
        local rows = o.split:indices(c)
        local n = rows:size(1)
        if n > 0 then
          for i, p in ipairs(ps) do p:copy_(global[i]) end
          train_client(o, ps, gs, global, rows, o.seed * 1000003 + round * 1009 + c)
          for i, p in ipairs(ps) do sums[i]:add_(p * n) end
          weight = weight + n
        end
      end
    end
    for _, s in ipairs(sums) do if comm.size > 1 then comm:allreduce(s, "sum") end end
    if comm.size > 1 then weight = comm:allreduce(weight, "sum") end
    -- nobody survived (every pick dropped, or owned no samples): the model stays as it was
    if weight > 0 then
      for i, s in ipairs(sums) do global[i]:copy_(s):div_(weight) end
    end
    for i, p in ipairs(ps) do p:copy_(global[i]) end
    local entry = { round = round, clients = picked, dropped = dropped, samples = weight }
    if o.test then entry.accuracy = tide.metrics.accuracy(o.model, o.test, { comm = comm }) end
    history[round] = entry
    if o.on_round then o.on_round(entry) end
    o.model:train()
  end
  return history
end

-- fedprox{..., mu = 0.01}: fedavg with the proximal term mu/2 |w - w_global|^2 (mu > 0).
function federated.fedprox(opts)
  if type(opts) ~= "table" then
    error("federated.fedprox: expected an options table, got " .. type(opts), 2)
  end
  local mu = opts.mu == nil and 0.01 or opts.mu
  if type(mu) ~= "number" or not (mu > 0) or mu == math.huge then
    error("federated.fedprox: mu must be a number > 0, got " .. tostring(mu), 2)
  end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.mu = mu
  return federated.fedavg(o)
end

return federated
