-- tide.ddp under mpirun (2 and 4 ranks): data-parallel training with per-rank batch B/N ends
-- with the parameters of single-process training with batch B. Every rank also computes that
-- single-process reference itself, on the whole batch, with no communication.
local tide = require "tide"
local nn, optim, data, ddp = tide.nn, tide.optim, tide.data, tide.ddp

local world = tide.world
local N, rank = world.size, world.rank
local B, STEPS = 32, 20
local set = data.synthetic_classification { n = B * STEPS, d = 20, classes = 5, seed = 11 }

local function build()
  return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(),
    nn.Linear(16, 5))
end

local function flat_values(ps)
  local out = {}
  for _, p in ipairs(ps) do
    local function walk(v)
      if type(v) == "table" then
        for _, e in ipairs(v) do walk(e) end
      else
        out[#out + 1] = v
      end
    end
    walk(p:totable())
  end
  return out
end

local function max_abs_diff(a, b)
  assert.are.equal(#a, #b)
  local m = 0
  for i = 1, #a do m = math.max(m, math.abs(a[i] - b[i])) end
  return m
end

-- Trains STEPS steps; batch(k) gives step k's (x, y). Returns the model.
local function train(model, batch, make_opt)
  local crit = nn.CrossEntropyLoss()
  local opt = make_opt(model)
  for k = 1, STEPS do
    local x, y = batch(k)
    model:zero_grad()
    local out = model:forward(x)
    crit:forward(out, y)
    model:backward(x, crit:backward(out, y), { input_grad = false })
    opt:step()
  end
  return model
end

local function full_batch(k)
  return set.x:narrow(1, (k - 1) * B + 1, B), set.y:narrow(1, (k - 1) * B + 1, B)
end

local function my_share(k)
  local b = B // N
  local start = (k - 1) * B + rank * b + 1
  return set.x:narrow(1, start, b), set.y:narrow(1, start, b)
end

-- The reference: one process, batch B, weights from seed 1's stream 0.
local function reference(make_opt)
  tide.manual_seed(1, { same_on_all_ranks = true })
  return flat_values(train(build(), full_batch, make_opt):parameters())
end

-- Data-parallel: each rank starts from its own random weights (seed 1, its own stream), so
-- only wrap's broadcast of rank 0's weights (stream 0, the reference's) can make them agree.
local function distributed(make_opt, opts)
  tide.manual_seed(1)
  local model = ddp.wrap(build(), world, opts)
  train(model, my_share, make_opt)
  return model
end

local function sgd(m) return optim.SGD(m, { lr = 0.1, momentum = 0.9 }) end

-- Are these tensors bit-identical on every rank?
local function same_everywhere(ps)
  for _, p in ipairs(ps) do
    local hi, lo = p:clone(), p:clone()
    world:allreduce(hi, "max")
    world:allreduce(lo, "min")
    if max_abs_diff(flat_values { hi }, flat_values { lo }) ~= 0 then return false end
  end
  return true
end

describe("ddp at " .. N .. " ranks", function()
  it("matches one process with the whole batch after 20 SGD steps (max abs diff < 1e-5)", function()
    assert.is_true(B % N == 0)
    local want = reference(sgd)
    for _, mb in ipairs { 1, 0.001 } do          -- one bucket; a bucket per tensor or two
      local model = distributed(sgd, { bucket_mb = mb })
      if mb < 0.01 then assert.is_true(#model:bucket_info() > 2) end
      local got = flat_values(model:parameters())
      local diff = max_abs_diff(want, got)
      assert(diff < 1e-5, ("bucket_mb %g: max abs diff %g"):format(mb, diff))
      local ps, gs = model:parameters()
      assert.is_true(same_everywhere(ps), "parameters differ between ranks")
      assert.is_true(same_everywhere(gs), "gradients differ between ranks")
    end
  end)

  it("matches with Adam too", function()
    local function adam(m) return optim.Adam(m, { lr = 0.01 }) end
    local diff = max_abs_diff(reference(adam), flat_values(distributed(adam):parameters()))
    assert(diff < 1e-5, "max abs diff " .. diff)
  end)

  it("averages on demand with sync_grads after the module's own backward", function()
    tide.manual_seed(3, { same_on_all_ranks = true })
    local ref = build()
    local crit = nn.CrossEntropyLoss()
    local x, y = full_batch(1)
    crit:forward(ref:forward(x), y)
    ref:backward(x, crit:backward(ref.output, y))
    local _, want = ref:parameters()

    tide.manual_seed(3, { same_on_all_ranks = true })
    local model = ddp.wrap(build(), world, { bucket_mb = 0.001 })
    local xs, ys = my_share(1)
    model:zero_grad()
    crit:forward(model.module:forward(xs), ys)
    model.module:backward(xs, crit:backward(model.module.output, ys))
    local _, before = model:parameters()
    local local_grad = flat_values(before)
    model:sync_grads()
    local _, got = model:parameters()
    assert.is_true(max_abs_diff(flat_values(want), flat_values(got)) < 1e-6)
    if N > 1 then assert.is_true(max_abs_diff(local_grad, flat_values(got)) > 1e-6) end
  end)

  it("clip_grad_norm: the gradients are averaged, so every rank gets the global norm alone", function()
    -- one process's whole-batch gradient norm, and its clipped gradients
    tide.manual_seed(3, { same_on_all_ranks = true })
    local ref, crit = build(), nn.CrossEntropyLoss()
    local x, y = full_batch(1)
    crit:forward(ref:forward(x), y)
    ref:backward(x, crit:backward(ref.output, y))
    local want = optim.clip_grad_norm(ref, 0.01)
    local _, want_g = ref:parameters()

    tide.manual_seed(3, { same_on_all_ranks = true })
    local model = ddp.wrap(build(), world)
    local xs, ys = my_share(1)
    model:zero_grad()
    crit:forward(model:forward(xs), ys)
    model:backward(xs, crit:backward(model.output, ys))
    local norm = optim.clip_grad_norm(model, 0.01)
    assert(math.abs(norm - want) < 1e-5 * want, ("norm %.9g, one process %.9g"):format(norm, want))
    assert.are.equal(norm, world:allreduce(norm, "max"))   -- the same number on every rank
    local _, gs = model:parameters()
    assert.is_true(max_abs_diff(flat_values(want_g), flat_values(gs)) < 1e-7)
    assert.is_true(same_everywhere(gs), "clipped gradients differ between ranks")
  end)

  it("clip_grad_norm with comm: sharded gradients give the norm of all of them", function()
    -- rank r holds the entries r*3+1 .. r*3+3 of the vector 1, 2, ..., 3N
    local mine = tide.tensor({ rank * 3 + 1, rank * 3 + 2, rank * 3 + 3 }, "f64")
    local sq = 0
    for v = 1, 3 * N do sq = sq + v * v end
    local norm = optim.clip_grad_norm({ mine }, 1, { comm = world })
    assert(math.abs(norm - math.sqrt(sq)) < 1e-12 * norm, "norm " .. norm)
    -- every rank scaled its shard by the same factor
    assert(math.abs(mine[1] - (rank * 3 + 1) / (math.sqrt(sq) + 1e-6)) < 1e-15)
    local inf = optim.clip_grad_norm({ tide.tensor({ rank + 1 }, "f64") }, 100,
      { comm = world, norm_type = math.huge })
    assert.are.equal(N, inf)
  end)

  it("refuses what is not a module or a communicator", function()
    assert.has_error(function() ddp.wrap(42, world) end,
      "ddp.wrap: expected a module with :parameters(), got number")
    assert.has_error(function() ddp.wrap(build(), {}) end,
      "ddp.wrap: expected a communicator (with :iallreduce), got table")
    assert.has_error(function() ddp.wrap(build(), world, { bucket_mb = 0 }) end,
      "ddp.wrap: bucket_mb must be a number > 0, got 0")
    -- NaN passed `mb <= 0` and made one bucket per gradient
    assert.has_error(function() ddp.wrap(build(), world, { bucket_mb = 0 / 0 }) end,
      "ddp.wrap: bucket_mb must be a number > 0, got NaN")
    assert.has_error(function() ddp.wrap(build(), world, { bucket_mb = math.huge }) end,
      "ddp.wrap: bucket_mb must be a number > 0, got inf")
    assert.has_error(function() ddp.wrap(build(), world, { buckets = 2 }) end,
      "ddp.wrap: unknown option 'buckets' (expected one of: broadcast, bucket_mb, compress, " ..
      "hierarchical, momentum, rank, ratio, warmup)")
    assert.has_error(function() ddp.wrap(build(), world, { hierarchical = "yes" }) end,
      "ddp.wrap: hierarchical must be a boolean, got string")
  end)

  it("goes hierarchical only across nodes, and its result equals the flat one", function()
    local node = world:split_node()
    local nodes = world:allreduce(node.rank == 0 and 1 or 0)
    local auto = ddp.wrap(build(), world)
    -- (several ranks a node on several nodes: tests/lua/hosts_spec.lua runs this on two hosts)
    assert.are.equal(nodes > 1 and nodes < world.size, auto.hierarchical)
    local flat = ddp.wrap(build(), world, { hierarchical = false })
    assert.is_false(flat.hierarchical)
    local forced = ddp.wrap(build(), world, { hierarchical = true })
    forced:load_state(flat:state())          -- the same weights (build draws new ones)
    assert.is_true(forced.hierarchical or world.size == 1)
    local x, y = set.x:narrow(1, 1, B), set.y:narrow(1, 1, B)
    local crit = nn.CrossEntropyLoss()
    for _, m in ipairs { flat, forced } do
      m:zero_grad()
      local out = m:forward(x)
      crit:forward(out, y)
      m:backward(x, crit:backward(out, y))
    end
    local _, gf = flat:parameters()
    local _, gh = forced:parameters()
    for i = 1, #gf do
      local d = (gf[i] - gh[i]):abs():max()
      assert.is_true(d < 1e-6, "gradient " .. i .. " differs by " .. d)
    end
  end)

  it("keeps the failing module's frames in the traceback of an error in backward", function()
    local net = build()
    local top = net.modules[#net.modules]
    local function failing_step() error("boom in the top layer") end
    top.backward = function() failing_step() end
    local model = ddp.wrap(net, world)
    local crit = nn.CrossEntropyLoss()
    local x, y = set.x:narrow(1, 1, B), set.y:narrow(1, 1, B)
    local out = model:forward(x)
    local ok, trace = xpcall(model.backward, debug.traceback, model, x, crit:backward(out, y))
    assert.is_false(ok)
    assert.is_truthy(trace:find("boom in the top layer", 1, true))
    -- the frames below ddp's backward: the failing function and the layer that called it
    -- (a pcall and re-raise in ddp cut the traceback there)
    assert.is_truthy(trace:find("failing_step", 1, true), trace)
    assert.is_truthy(trace:find("nn/init%.lua:%d+: in"), trace)
    -- and the wrapper is left ready: a backward that works averages as before
    top.backward = nil
    model:zero_grad()
    local xr, yr = set.x:narrow(1, 1 + 3 * rank, B), set.y:narrow(1, 1 + 3 * rank, B)
    out = model:forward(xr)
    model:backward(xr, crit:backward(out, yr))
    local _, grads = model:parameters()
    local g = grads[1]:clone()
    world:allreduce(g, "max")
    assert.is_true(max_abs_diff(flat_values({ g }), flat_values({ grads[1] })) == 0)
  end)
end)
