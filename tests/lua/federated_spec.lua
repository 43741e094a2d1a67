-- tide.federated: Dirichlet splits (a partition; the Dirichlet's moments; alpha's effect),
-- FedAvg's weighted average and FedProx's proximal step against the same arithmetic done here
-- client by client, dropouts, a CI-sized run on Fashion-MNIST, and bad input.
local tide = require "tide"
local nn, data, federated = tide.nn, tide.data, tide.federated

local function class_counts(labels, rows, classes)
  local counts = {}
  for c = 1, classes do counts[c] = 0 end
  for _, i in ipairs(rows:totable()) do
    local c = math.tointeger(labels:get(i))
    counts[c] = counts[c] + 1
  end
  return counts
end

describe("federated.dirichlet", function()
  local labels = tide.randint(1, 6, { 3000 }, { seed = 3, dtype = "i64" })

  it("gives every sample to exactly one client, the same for the same seed", function()
    local s = federated.dirichlet { labels = labels, clients = 17, alpha = 0.5, seed = 2 }
    local seen, total = {}, 0
    for c = 1, 17 do
      for _, i in ipairs(s:indices(c):totable()) do
        assert.is_nil(seen[i])
        seen[i] = true
        total = total + 1
      end
    end
    assert.are.equal(3000, total)
    local again = federated.dirichlet { labels = labels, clients = 17, alpha = 0.5, seed = 2 }
    for c = 1, 17 do assert.are.same(s:indices(c):totable(), again:indices(c):totable()) end
  end)

  it("mixes the classes by alpha: nearly uniform at 100, one class a client at 0.05", function()
    local function mean_top_share(alpha)
      local s = federated.dirichlet { labels = labels, clients = 10, alpha = alpha, seed = 4 }
      local sum, n = 0, 0
      for c = 1, 10 do
        local counts = class_counts(labels, s:indices(c), 5)
        local total, top = 0, 0
        for _, k in ipairs(counts) do total, top = total + k, math.max(top, k) end
        if total > 0 then sum, n = sum + top / total, n + 1 end
      end
      return sum / n
    end
    assert.is_true(mean_top_share(100) < 0.3)     -- 5 classes: 0.2 when perfectly mixed
    assert.is_true(mean_top_share(0.05) > 0.8)
  end)

  it("draws Dirichlet(alpha) with its mean and variance", function()
    local g = tide.rng(9)
    local k, alpha, n = 4, 0.5, 4000
    local sum, sq = 0, 0
    for _ = 1, n do
      local p = federated.sample_dirichlet(alpha, k, g)
      sum, sq = sum + p[1], sq + p[1] * p[1]
    end
    local mean = sum / n
    local var = sq / n - mean * mean
    -- E = 1/k; Var = (1/k)(1 - 1/k) / (k alpha + 1) = 0.0625 (sd of the mean: 0.004)
    assert.is_true(math.abs(mean - 0.25) < 0.02, "mean " .. mean)
    assert.is_true(math.abs(var - 0.0625) < 0.1 * 0.0625, "var " .. var)
  end)

  it("names bad input", function()
    assert.has_error(function() federated.dirichlet { labels = labels, clients = 4, alpha = 0 } end,
      "federated.dirichlet: alpha must be a number > 0, got 0")
    assert.has_error(function() federated.dirichlet { labels = labels, clients = 0, alpha = 1 } end,
      "federated.dirichlet: clients must be an integer of at least 1, got 0")
    local s = federated.dirichlet { labels = labels, clients = 4, alpha = 1 }
    assert.has_error(function() s:indices(5) end,
      "federated.Split.indices: client id expected an integer in 1..4, got 5")
    assert.has_error(function() s:indices(0) end,
      "federated.Split.indices: client id expected an integer in 1..4, got 0")
  end)
end)

-- Four clients of a small f64 problem, each holding its rows whole in one batch.
local function setup()
  local set = data.synthetic_classification { n = 120, d = 6, classes = 3, seed = 5,
    dtype = "f64" }
  local split = federated.dirichlet { labels = set.y, clients = 4, alpha = 1, seed = 6 }
  tide.manual_seed(2)
  local model = nn.Sequential { nn.Linear(6, 5, { dtype = "f64" }), nn.Tanh(),
    nn.Linear(5, 3, { dtype = "f64" }) }
  return set, split, model
end

local function params_of(model)
  local out = {}
  for i, p in ipairs((model:parameters())) do out[i] = p:clone() end
  return out
end

local function set_params(model, values)
  for i, p in ipairs((model:parameters())) do p:copy_(values[i]) end
end

-- steps of full-batch gradient descent on rows, from start, with FedProx's term mu.
local function local_gd(model, set, rows, start, lr, mu, steps)
  local crit = nn.CrossEntropyLoss()
  set_params(model, start)
  local x, y = set.x:index_select(1, rows), set.y:index_select(1, rows)
  for _ = 1, steps do
    model:zero_grad()
    local out = model:forward(x)
    crit:forward(out, y)
    model:backward(x, crit:backward(out, y))
    local ps, gs = model:parameters()
    for i, p in ipairs(ps) do p:add_((gs[i] + (p - start[i]) * mu) * -lr) end
  end
  return params_of(model)
end

describe("federated.fedavg", function()
  it("averages the clients' models weighted by their sample counts", function()
    for _, c in ipairs { { mu = 0, steps = 1 }, { mu = 0.5, steps = 3 } } do
      local set, split, model = setup()
      local start = params_of(model)
      local want, total = {}, 0
      for i, p in ipairs(start) do want[i] = tide.zeros(p:shape(), "f64") end
      for k = 1, 4 do
        local rows = split:indices(k)
        local w = local_gd(model, set, rows, start, 0.3, c.mu, c.steps)
        for i = 1, #want do want[i]:add_(w[i] * rows:size(1)) end
        total = total + rows:size(1)
      end
      set_params(model, start)
      local run = c.mu > 0 and federated.fedprox or federated.fedavg
      local hist = run { model = model, data = set, split = split, rounds = 1, fraction = 1,
        local_epochs = c.steps, batch_size = 1000, lr = 0.3, mu = c.mu > 0 and c.mu or nil,
        comm = { rank = 0, size = 1 } }
      assert.are.equal(120, hist[1].samples)
      assert.are.same({ 1, 2, 3, 4 }, hist[1].clients)
      for i, p in ipairs((model:parameters())) do
        assert.is_true((p - want[i] / total):abs():max() < 1e-12)
      end
    end
  end)

  it("leaves dropped clients out of the round", function()
    local set, split, model = setup()
    local hist = federated.fedavg { model = model, data = set, split = split, rounds = 8,
      fraction = 0.5, dropout = 0.5, seed = 3, comm = { rank = 0, size = 1 } }
    local some = 0
    for _, e in ipairs(hist) do
      assert.are.equal(2, #e.clients)
      local n, out = 0, {}
      for _, c in ipairs(e.dropped) do out[c] = true end
      some = some + #e.dropped
      for _, c in ipairs(e.clients) do
        if not out[c] then n = n + split:indices(c):size(1) end
      end
      assert.are.equal(n, e.samples)
    end
    assert.is_true(some > 0 and some < 16)
  end)

  it("names bad input", function()
    local set, split, model = setup()
    local base = { model = model, data = set, split = split, rounds = 1 }
    local function with(k, v)
      local o = {}
      for kk, vv in pairs(base) do o[kk] = vv end
      o[k] = v
      return o
    end
    assert.has_error(function() federated.fedavg(with("fraction", 1.5)) end,
      "federated.fedavg: fraction must be a number in [0, 1], got 1.5")
    assert.has_error(function() federated.fedavg(with("dropout", 1)) end,
      "federated.fedavg: dropout must be a number in [0, 1), got 1")
    assert.has_error(function() federated.fedavg(with("split", {})) end,
      "federated.fedavg: split expected a federated.dirichlet split, got table")
    assert.has_error(function() federated.fedavg(with("clients", 3)) end,
      "federated.fedavg: unknown option 'clients' (expected one of: batch_size, comm, " ..
      "criterion, data, dropout, fraction, local_epochs, lr, model, momentum, mu, on_round, " ..
      "rounds, seed, split, test)")
    assert.has_error(function() federated.fedprox(with("mu", 0)) end,
      "federated.fedprox: mu must be a number > 0, got 0")
  end)
end)

describe("FedAvg on Fashion-MNIST (CI-sized: 20 clients, 10000 images)", function()
  it("learns past 70% in 10 rounds at alpha 0.5", function()
    local f = io.open(data.FASHION_MNIST_PATH .. "/train-images-idx3-ubyte.gz", "rb")
    if not f or os.getenv("TIDE_SANITIZED") then
      pending("needs dataset-fashion-mnist and the plain build")
      return
    end
    f:close()
    local train = data.fashion_mnist { split = "train" }
    train = { x = train.x:narrow(1, 1, 10000), y = train.y:narrow(1, 1, 10000) }
    local test = data.fashion_mnist { split = "test" }
    local split = federated.dirichlet { labels = train.y, clients = 20, alpha = 0.5, seed = 1 }
    tide.manual_seed(1)
    local model = nn.Sequential { nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10) }
    local hist = federated.fedavg { model = model, data = train, split = split, rounds = 10,
      fraction = 0.3, local_epochs = 5, lr = 0.05, test = test, seed = 1,
      comm = { rank = 0, size = 1 } }
    assert.is_true(hist[10].accuracy > 0.70, "accuracy " .. hist[10].accuracy)
  end)
end)
