-- state() / load_state(s) of every object (issue 13): for each, run a few steps, take the state,
-- run K more recording what comes out, restore the state into a fresh object made differently,
-- run the same K steps: the results must be bit-identical. States hold only the kinds
-- tide.save keeps (tables with string or integer keys, tensors, numbers, strings, booleans),
-- never alias the live object, and load_state names the object and the field it refuses.
local tide = require "tide"
local nn, optim, data = tide.nn, tide.optim, tide.data
local S = require "support.state"
local bad_kinds, through_file, bits = S.bad_kinds, S.through_file, S.bits
local run_example, stand_in, results = S.run_example, S.stand_in, S.results

-- ------------------------------------------------------------------ helpers

local function assert_state(v)
  assert.are.same({}, bad_kinds(v))
  return v
end

local function param_bits(m)
  local ps = m:parameters()
  local out = {}
  for i, p in ipairs(ps) do out[i] = bits(p) end
  return out
end

describe("the walker over states", function()
  it("refuses what a state may not hold, and passes every object's state", function()
    local g = tide.rng(1)
    local shared = {}
    local found = bad_kinds { f = print, g = g, [1.5] = 1, t = setmetatable({}, {}),
      a = shared, b = { shared } }
    for i, f in ipairs(found) do   -- which of a and b.1 is met second depends on pairs' order
      found[i] = f:gsub("^state%.[ab][.1]*: a table seen twice", "state.a|b.1: a table seen twice")
    end
    table.sort(found)
    assert.are.same({ "state.a|b.1: a table seen twice (shared or cyclic)",
      "state.f: a function", "state.g: a userdata that is not a tensor",
      "state.t: a table with a metatable", "state: a key of type number" }, found)
    local m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    local opt = optim.Adam(m)
    local loader = data.DataLoader(data.synthetic_classification { n = 8, d = 2, classes = 2 },
      { batch_size = 3 })
    for _, s in ipairs { g:state(), tide.get_rng_state(), m:state(), opt:state(),
      optim.StepLR(opt, { step_size = 1 }):state(), loader:state(), loader.sampler:state(),
      tide.placement.adaptive():state(), tide.cluster.kmeans(tide.rand({ 10, 2 }), 2):state() } do
      assert.are.same({}, bad_kinds(s))
    end
  end)
end)

-- ------------------------------------------------------------------ generators

describe("generators", function()
  it("continue bit-identically from a state, in a fresh generator", function()
    local g = tide.rng(7)
    tide.rand({ 5 }, { generator = g })
    local s = assert_state(through_file(g:state()))
    assert.are.equal("tide.rng", s.kind)
    assert.are.equal(string.format("%016x", g:key()), s.key)
    assert.are.equal(5, s.counter)
    local a = { bits(tide.randn({ 3, 4 }, { generator = g })), bits(tide.randint(1, 9, { 6 },
      { generator = g })), bits(tide.randperm(9, { generator = g })) }
    local h = tide.rng(99):load_state(s)
    local b = { bits(tide.randn({ 3, 4 }, { generator = h })), bits(tide.randint(1, 9, { 6 },
      { generator = h })), bits(tide.randperm(9, { generator = h })) }
    assert.are.same(a, b)
    assert.are.equal(g:counter(), h:counter())
    -- torch's names for the same two methods
    assert.are.same(g:state(), tide.rng(1):set_state(g:get_state()):state())
  end)

  it("keep all 64 bits of a key whose top bit is set", function()
    local g
    for seed = 0, 100 do
      g = tide.rng(seed)
      if g:key() < 0 then break end        -- the top bit, as a Lua integer
    end
    assert.is_true(g:key() < 0)
    local h = tide.rng(0):load_state(g:state())
    assert.are.equal(g:key(), h:key())
    assert.are.equal(bits(tide.rand({ 4 }, { generator = g })),
      bits(tide.rand({ 4 }, { generator = h })))
  end)

  it("the default generator: tide.get_rng_state / tide.set_rng_state", function()
    tide.manual_seed(3)
    tide.rand({ 7 })
    local s = assert_state(through_file(tide.get_rng_state()))
    local a = bits(tide.randn({ 10 }))
    tide.manual_seed(11)
    tide.rand({ 2 })
    assert.are.equal(tide.default_generator(), tide.set_rng_state(s))
    assert.are.equal(a, bits(tide.randn({ 10 })))
    assert.are.same(tide.get_rng_state(), tide.default_generator():state())
  end)

  it("refuse a state that is not one, naming the field", function()
    local g = tide.rng(1)
    local ok = g:state()
    local function with(k, v)
      local s = through_file(ok)
      s[k] = v
      return s
    end
    local cases = {
      { 5, "tide.rng.load_state: expected a generator state (a table from g:state()), got number" },
      { with("extra", 1), "tide.rng.load_state: unexpected field 'extra' (expected kind, key, counter)" },
      { with("kind", "rng"), 'tide.rng.load_state: kind expected "tide.rng", got rng' },
      { with("key", "12ab"), "tide.rng.load_state: key expected 16 hex digits, got 12ab" },
      { with("key", 5), "tide.rng.load_state: key expected 16 hex digits, got 5" },
      { with("counter", 3.0), "tide.rng.load_state: counter expected an integer, got the float " ..
        "3.0 (a JSON round trip turns integers into floats: keep states with tide.save/tide.load, " ..
        "or convert with math.tointeger)" },
      { with("counter", -1), "tide.rng.load_state: counter expected an integer >= 0, got -1" },
    }
    for _, c in ipairs(cases) do
      assert.has_error(function() g:load_state(c[1]) end, c[2])
    end
    assert.are.same(ok, g:state())          -- nothing changed
    assert.has_error(function() tide.set_rng_state(with("key", "x")) end,
      "set_rng_state: key expected 16 hex digits, got x")
  end)
end)

-- ------------------------------------------------------------------ nn, optim, schedules

-- Every kind of module, Dropout's generator included.
local function model(seed)
  tide.manual_seed(seed)
  return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Dropout(0.25), nn.Linear(8, 8,
    { bias = false }), nn.ReLU(), nn.Sigmoid(), nn.Linear(8, 3), nn.LogSoftMax())
end

local problem = data.synthetic_classification { n = 40, d = 6, classes = 3, seed = 5 }
local crit = nn.NLLLoss()

local function train_step(m, opt, sched)
  m:zero_grad()
  local out = m:forward(problem.x)
  local loss = crit:forward(out, problem.y)
  m:backward(problem.x, crit:backward(out, problem.y))
  opt:step()
  if sched then sched:step() end
  return loss, opt.lr
end

local OPTIMIZERS = {
  { "SGD", { lr = 0.1 } },
  { "SGD", { lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 1e-3 } },
  { "Adam", { lr = 0.01 } },
  { "Adam", { lr = 0.01, weight_decay = 0.01, decoupled = true } },
  { "RMSprop", { lr = 0.01, momentum = 0.5, centered = true } },
  { "Adagrad", { lr = 0.05, lr_decay = 0.1 } },
}
local SCHEDULES = { false, { "StepLR", { step_size = 2, gamma = 0.5 } },
  { "CosineAnnealingLR", { t_max = 5, eta_min = 1e-3 } },
  { "LinearLR", { start_factor = 0.2, total_iters = 4 } },
  -- Adagrad has no momentum to cycle
  { "OneCycleLR", { max_lr = 0.05, total_steps = 10 }, skip = "Adagrad" } }

describe("nn modules, optimizers and schedules", function()
  for _, o in ipairs(OPTIMIZERS) do
    for _, sc in ipairs(SCHEDULES) do
      if not (sc and sc.skip == o[1]) then
        local name = ("%s %s%s"):format(o[1], o[2].momentum and "with momentum" or
          o[2].decoupled and "decoupled" or "plain", sc and " under " .. sc[1] or "")
        it(name .. ": training resumed from states ends bit-identical", function()
          local m = model(1)
          local opt = optim[o[1]](m, o[2])
          local sched = sc and optim[sc[1]](opt, sc[2])
          for _ = 1, 3 do train_step(m, opt, sched) end
          local s = assert_state(through_file { model = m:state(), opt = opt:state(),
            sched = sched and sched:state() })
          local want = {}
          for i = 1, 4 do want[i] = { train_step(m, opt, sched) } end
          -- a fresh model from another seed, a fresh optimizer and schedule
          local m2 = model(2)
          local opt2 = optim[o[1]](m2, o[2])
          local sched2 = sc and optim[sc[1]](opt2, sc[2])
          assert.are_not.same(param_bits(m), param_bits(m2))
          assert.are.equal(m2, m2:load_state(s.model))
          assert.are.equal(opt2, opt2:load_state(s.opt))
          if sched then assert.are.equal(sched2, sched2:load_state(s.sched)) end
          local got = {}
          for i = 1, 4 do got[i] = { train_step(m2, opt2, sched2) } end
          assert.are.same(want, got)
          assert.are.same(param_bits(m), param_bits(m2))
        end)
      end
    end
  end

  it("ReduceLROnPlateau resumed from a saved state steps as the original", function()
    local m = model(1)
    local opt = optim.SGD(m, { lr = 0.1 })
    local sched = optim.ReduceLROnPlateau(opt, { patience = 0, factor = 0.5, cooldown = 1 })
    local fresh = assert_state(through_file { sched = sched:state() })   -- best is +inf
    assert.are.equal(math.huge, fresh.sched.best)
    for _, loss in ipairs { 1, 2, 0.5 } do sched:step(loss) end
    local s = assert_state(through_file { opt = opt:state(), sched = sched:state() })
    local want = {}
    for i, loss in ipairs { 0.6, 0.7, 0.4, 0.45 } do want[i] = sched:step(loss) end
    local opt2 = optim.SGD(m, { lr = 0.1 }):load_state(s.opt)
    local sched2 = optim.ReduceLROnPlateau(opt2, { patience = 0, factor = 0.5, cooldown = 1 })
    sched2:load_state(s.sched)
    local got = {}
    for i, loss in ipairs { 0.6, 0.7, 0.4, 0.45 } do got[i] = sched2:step(loss) end
    assert.are.same(want, got)
    assert.are.same({ 0.025, 0.025, 0.025, 0.0125 }, want)   -- patience 0, one epoch of cooldown
  end)

  it("a state is a copy: training on does not change it", function()
    local m = model(1)
    local opt = optim.SGD(m, { lr = 0.1, momentum = 0.9 })
    train_step(m, opt)
    local s = m:state()
    local os = opt:state()
    local before, obefore = bits(s["1.weight"]), bits(os.buffers[1])
    train_step(m, opt)
    assert.are.equal(before, bits(s["1.weight"]))
    assert.are.equal(obefore, bits(os.buffers[1]))
    assert.are_not.equal(before, bits(m.modules[1].weight))
  end)

  it("criteria and parameterless modules have an empty state", function()
    for _, m in ipairs { nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.LogSoftMax(), nn.MSELoss(),
      nn.CrossEntropyLoss(), nn.NLLLoss() } do
      assert.are.same({}, m:state())
      assert.are.equal(m, m:load_state({}))
    end
  end)

  it("Dropout: seed and generator options; its masks follow its state", function()
    local g = tide.rng(4)
    local d = nn.Dropout(0.5, { generator = g })
    local x = tide.ones({ 4, 6 })
    local s = d:state()
    local a = bits(d:forward(x))
    assert.are_not.equal(s.generator.counter, g:counter())   -- the generator given is used
    local d2 = nn.Dropout(0.5, { seed = 8 }):load_state(s)
    assert.are.equal(a, bits(d2:forward(x)))
    assert.has_error(function() nn.Dropout(0.5, { seed = 1, generator = g }) end,
      "nn.Dropout: give seed or generator, not both")
    assert.has_error(function() nn.Dropout(0.5, { generator = 3 }) end,
      "nn.Dropout: generator must be a tide.rng, got number")
  end)

  it("module load_state errors name the module and the field", function()
    local m = model(1)
    local s = m:state()
    assert.has_error(function() m:load_state(3) end,
      "nn.Sequential.load_state: expected a table from module:state(), got number")
    local lin = nn.Linear(5, 10)
    assert.has_error(function() lin:load_state({ weight = tide.zeros({ 5, 10 }, "f64"),
      bias = tide.zeros({ 10 }) }) end,
      "nn.Linear.load_state: weight expected f32[10x5], got f64[5x10]")
    s["3.generator"] = { kind = "tide.rng", key = "00", counter = 0 }
    local w = bits(m.modules[1].weight)
    assert.has_error(function() m:load_state(s) end,
      "nn.Sequential.load_state: 3.generator: key expected 16 hex digits, got 00")
    assert.are.equal(w, bits(m.modules[1].weight))   -- checked before anything changed
  end)

  it("optimizer load_state errors name the field and say what to do about floats", function()
    local m = model(1)
    local sgd = optim.SGD(m, { lr = 0.1, momentum = 0.9 })
    local adam = optim.Adam(m, { lr = 0.1 })
    train_step(m, sgd)
    train_step(m, adam)
    local function sgd_with(k, v)
      local s = sgd:state()
      s[k] = v
      return s
    end
    local w1 = tide.zeros({ 8, 6 })
    local cases = {
      { sgd, 7, "optim.SGD.load_state: expected a state table, got number" },
      { sgd, sgd_with("momentum", 1), "optim.SGD.load_state: unexpected field 'momentum' " ..
        "(expected buffers, lr, step_count)" },
      { sgd, sgd_with("step_count", 1.0), "optim.SGD.load_state: step_count expected an " ..
        "integer, got the float 1.0 (a JSON round trip turns integers into floats: keep " ..
        "states with tide.save/tide.load, or convert with math.tointeger)" },
      { sgd, sgd_with("step_count", -2), "optim.SGD.load_state: step_count expected an integer >= 0, got -2" },
      { sgd, sgd_with("lr", "fast"), "optim.SGD.load_state: lr must be a number >= 0, got string" },
      { sgd, sgd_with("buffers", 1), "optim.SGD.load_state: buffers expected a table of tensors, got number" },
      { sgd, sgd_with("buffers", { [9] = w1 }), "optim.SGD.load_state: buffers has an entry at " ..
        "9, but the optimizer has 5 parameters" },
      { sgd, sgd_with("buffers", { w1:to("f64") }), "optim.SGD.load_state: buffers[1] expected " ..
        "f32[8x6], got f64[8x6]" },
      { adam, { step_count = 1, lr = 0.1, m = { w1 }, v = {} },
        "optim.Adam.load_state: m[1] has no v[1] beside it" },
      { adam, { step_count = 1, lr = 0.1, m = {}, v = { w1 } },
        "optim.Adam.load_state: v[1] has no m[1] beside it" },
      { adam, { step_count = 1, lr = 0.1, m = {}, v = { tide.zeros({ 6, 8 }) } },
        "optim.Adam.load_state: v[1] expected f32[8x6], got f32[6x8]" },
    }
    for _, c in ipairs(cases) do
      assert.has_error(function() c[1]:load_state(c[2]) end, c[3])
    end
    local sched = optim.StepLR(sgd, { step_size = 1 })
    assert.has_error(function() sched:load_state({ epoch = 2.0, base_lr = 0.1 }) end,
      "optim.StepLR.load_state: epoch expected an integer, got the float 2.0 (a JSON round " ..
      "trip turns integers into floats: keep states with tide.save/tide.load, or convert " ..
      "with math.tointeger)")
    assert.has_error(function() sched:load_state({ epoch = 2, base_lr = 0.1, gamma = 1 }) end,
      "optim.StepLR.load_state: unexpected field 'gamma' (expected base_lr, epoch)")
    assert.has_error(function() sched:load_state({ epoch = 2 }) end,
      "optim.StepLR.load_state: base_lr is required")
  end)
end)

-- ------------------------------------------------------------------ data

local set = data.synthetic_classification { n = 50, d = 2, classes = 2, seed = 1 }

local function loader_for(rank, size, opts)
  local sampler = data.DistributedSampler { n = 50, comm = { rank = rank, size = size }, seed = 3 }
  opts = opts or {}
  return data.DataLoader(set, { batch_size = opts.batch_size or 4, sampler = sampler,
    drop_last = opts.drop_last }), sampler
end

local function epoch_batches(loader)
  local out = {}
  for _, y, k in loader:batches() do out[#out + 1] = { k, bits(y) } end
  return out
end

describe("DataLoader and DistributedSampler", function()
  it("a resumed epoch yields the remaining batches in the same order, then the next epochs", function()
    local loader, sampler = loader_for(1, 3)
    sampler:set_epoch(2)
    local s
    local first = {}
    for _, y, k in loader:batches() do
      first[#first + 1] = { k, bits(y) }
      if k == 2 then s = assert_state(through_file(loader:state())) end
    end
    assert.are.equal(5, #first)                   -- 17 samples at rank 1 of 3, batches of 4
    assert.are.same({ step = 2, batch_size = 4, drop_last = false,
      sampler = { epoch = 2, n = 50, seed = 3, shuffle = true, ranks = 3 } }, s)
    sampler:set_epoch(3)
    local next_epoch = epoch_batches(loader)

    local loader2, sampler2 = loader_for(1, 3)
    assert.are.equal(loader2, loader2:load_state(s))
    assert.are.equal(2, sampler2.epoch)
    sampler2:set_epoch(2)                         -- what a training loop does: the same epoch
    assert.are.same({ first[3], first[4], first[5] }, epoch_batches(loader2))
    sampler2:set_epoch(3)
    assert.are.same(next_epoch, epoch_batches(loader2))
  end)

  it("a state taken at an epoch's end is the next epoch's start, on any rank count", function()
    local loader, sampler = loader_for(0, 2)
    sampler:set_epoch(1)
    epoch_batches(loader)
    local s = loader:state()
    assert.are.equal(0, s.step)
    assert.are.equal(2, s.sampler.epoch)
    -- saved at 2 ranks in batches of 4, resumed at 3 ranks in batches of 8 (the same global
    -- batch would need the same split; an epoch boundary allows any)
    local loader2, sampler2 = loader_for(1, 3, { batch_size = 8 })
    loader2:load_state(s)
    assert.are.equal(2, sampler2.epoch)
    local fresh, fresh_sampler = loader_for(1, 3, { batch_size = 8 })
    fresh_sampler:set_epoch(2)
    assert.are.same(epoch_batches(fresh), epoch_batches(loader2))
  end)

  it("the skip applies to the saved epoch only", function()
    local loader, sampler = loader_for(0, 2)
    sampler:set_epoch(1)
    local s
    for _, _, k in loader:batches() do if k == 3 then s = loader:state() end end
    local loader2, sampler2 = loader_for(0, 2)
    loader2:load_state(s)
    sampler2:set_epoch(4)
    sampler:set_epoch(4)
    assert.are.same(epoch_batches(loader), epoch_batches(loader2))
  end)

  it("a loader without a sampler (shuffled with set_epoch) resumes too", function()
    local function plain() return data.DataLoader(set, { batch_size = 7, shuffle = true, seed = 2 }) end
    local a = plain()
    a:set_epoch(1)
    local s
    local all = {}
    for _, y, k in a:batches() do
      all[k] = { k, bits(y) }
      if k == 4 then s = a:state() end
    end
    local b = plain():load_state(s)
    b:set_epoch(1)
    assert.are.same({ all[5], all[6], all[7], all[8] }, epoch_batches(b))
  end)

  it("a sampler's state is its epoch; another rank count may load it", function()
    local _, sampler = loader_for(0, 2)
    sampler:set_epoch(6)
    local s = assert_state(sampler:state())
    local _, other = loader_for(2, 4)
    assert.are.equal(other, other:load_state(s))
    assert.are.equal(6, other.epoch)
  end)

  it("load_state errors name the field", function()
    local loader, sampler = loader_for(1, 3)
    sampler:set_epoch(1)
    for _, _, k in loader:batches() do if k == 2 then break end end
    local function st(patch)
      local s = through_file(loader:state())
      patch(s)
      return s
    end
    local cases = {
      { st(function(s) s.sampler.seed = 4 end),
        "DataLoader.load_state: sampler: seed expected 3 (this sampler's), got 4" },
      { st(function(s) s.sampler.ranks = 2 end), "DataLoader.load_state: step 2 was counted at " ..
        "2 ranks, this loader runs at 3 (resume at an epoch boundary to change the rank count)" },
      { st(function(s) s.batch_size = 8 end), "DataLoader.load_state: step 2 was counted in " ..
        "batches of 8; this loader makes batches of 4 (resume at an epoch boundary to change them)" },
      { st(function(s) s.step = 9 end),
        "DataLoader.load_state: step expected at most 5 (the batches of an epoch), got 9" },
      { st(function(s) s.step = 1.0 end), "DataLoader.load_state: step expected an integer, got " ..
        "the float 1.0 (a JSON round trip turns integers into floats: keep states with " ..
        "tide.save/tide.load, or convert with math.tointeger)" },
      { st(function(s) s.sampler = nil end),
        "DataLoader.load_state: sampler expected a table from sampler:state(), got nil" },
      { st(function(s) s.epoch = 1 end), "DataLoader.load_state: unexpected field 'epoch' " ..
        "(expected batch_size, drop_last, sampler, step)" },
    }
    for _, c in ipairs(cases) do
      assert.has_error(function() loader:load_state(c[1]) end, c[2])
    end
    -- at an epoch boundary the batch size and rank count may change
    local other = loader_for(0, 2, { batch_size = 5 })
    assert.are.equal(other, other:load_state(st(function(s) s.step = 0 end)))
    assert.has_error(function() sampler:load_state({ epoch = -1, n = 50, seed = 3,
      shuffle = true, ranks = 3 }) end,
      "DistributedSampler.load_state: epoch expected an integer >= 0, got -1")
    local custom = data.DataLoader(set, { batch_size = 2, sampler = { indices = function()
      return tide.arange(1, 51) end } })
    assert.has_error(function() custom:state() end,
      "DataLoader.state: the sampler has no state/load_state methods")
  end)
end)

-- ------------------------------------------------------------------ k-means, placement

describe("k-means models", function()
  it("predict and transform the same after a round trip", function()
    local x = data.blobs { n = 300, d = 3, k = 4, seed = 2 }
    local m = tide.cluster.kmeans(x, 4, { seed = 1 })
    local s = assert_state(through_file(m:state()))
    local m2 = tide.cluster.model_from_state(s)
    assert.are.equal(bits(m:predict(x)), bits(m2:predict(x)))
    assert.are.equal(bits(m:transform(x)), bits(m2:transform(x)))
    assert.are.equal(m.inertia, m2.inertia)
    assert.are.equal(m.iterations, m2.iterations)
    local other = tide.cluster.kmeans(data.blobs { n = 100, d = 3, k = 4, seed = 9 }, 4)
    assert.are.equal(other, other:load_state(s))
    assert.are.equal(bits(m:predict(x)), bits(other:predict(x)))
  end)

  it("load_state errors name the field", function()
    local m = tide.cluster.kmeans(data.blobs { n = 60, d = 2, k = 3, seed = 2 }, 3, { seed = 1 })
    local function st(k, v)
      local s = m:state()
      s[k] = v
      return s
    end
    local cases = {
      { st("centroids", m.centroids:to("f64")), "kmeans.load_state: centroids expected f32[3x2], got f64[3x2]" },
      { st("k", 3.0), "kmeans.load_state: k expected an integer, got the float 3.0 (a JSON round " ..
        "trip turns integers into floats: keep states with tide.save/tide.load, or convert with " ..
        "math.tointeger)" },
      { st("inertia", "low"), "kmeans.load_state: inertia expected a number, got string" },
      { st("converged", 1), "kmeans.load_state: converged expected a boolean, got number" },
      { st("history", 1), "kmeans.load_state: history expected a list of records, got number" },
      { st("labels", 1), "kmeans.load_state: unexpected field 'labels' (expected centroids, " ..
        "converged, history, inertia, iterations, k, n_features)" },
    }
    for _, c in ipairs(cases) do
      assert.has_error(function() m:load_state(c[1]) end, c[2])
    end
    assert.has_error(function() tide.cluster.model_from_state(st("centroids", tide.zeros({ 2, 2 }))) end,
      "kmeans.load_state: centroids expected f32[3x2], got f32[2x2]")
  end)
end)

describe("placement policies", function()
  local P = tide.placement
  local keys = P.zipf(500, { seed = 3 })
  local cases = {
    { "block", function() return P.block() end, function() return P.block() end },
    { "cyclic", function() return P.cyclic() end, function() return P.cyclic() end },
    { "hash", function() return P.hash { seed = 5 } end, function() return P.hash() end },
    { "range", function() return P.range { bounds = { 3, 10, 40 } } end,
      function() return P.range { bounds = { 1, 2, 3 } } end },
    { "weighted", function() return P.weighted { weights = { 1, 2, 3, 4 }, seed = 2 } end,
      function() return P.weighted { weights = { 1, 1, 1, 1 } } end },
    { "consistent_hash", function() return P.consistent_hash { vnodes = 20, weights = { 1, 2, 1, 1 },
      bounded_load = 1.25, seed = 4 } end, function() return P.consistent_hash() end },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. " assigns the same after a round trip", function()
      local a = c[2]()
      local want = bits(a:assign(keys, 4))
      local b = c[3]()
      assert.are.equal(b, b:load_state(assert_state(through_file(a:state()))))
      assert.are.equal(want, bits(b:assign(keys, 4)))
      assert.are.same(a:state(), b:state())
    end)
  end

  it("range.sampled keeps its learned splitters", function()
    local a = P.range.sampled { samples_per_rank = 32 }
    a:assign(keys, 4)
    local s = assert_state(through_file(a:state()))
    assert.are.equal(3, #s.bounds)
    local b = P.range.sampled():load_state(s)
    assert.are.same(a.bounds, b.bounds)
    assert.are.equal(32, b.samples_per_rank)
  end)

  it("adaptive keeps its learned throughputs", function()
    local a = P.adaptive { window = 3 }
    for i = 1, 5 do a:observe(100 * i, 0.5 + i / 8) end
    local s = assert_state(through_file(a:state()))
    local b = P.adaptive():load_state(s)
    assert.are.equal(a:throughput(), b:throughput())
    assert.are.equal(bits(a:assign(keys, 3)), bits(b:assign(keys, 3)))
    b:observe(10, 1)
    assert.are.equal(3, #b.history)            -- its window came with the state
  end)

  it("load_state errors name the policy and the field", function()
    local a = P.adaptive()
    assert.has_error(function() a:load_state({ policy = "hash", window = 4, history = {} }) end,
      'placement.adaptive.load_state: policy expected "adaptive", got hash')
    assert.has_error(function() a:load_state({ policy = "adaptive", window = 4.0, history = {} }) end,
      "placement.adaptive.load_state: window expected an integer, got the float 4.0")
    assert.has_error(function() a:load_state({ policy = "adaptive", window = 4,
      history = { { 1, 2, 3 } } }) end,
      "placement.adaptive.load_state: history expected a list of {number, number} pairs, got table")
    assert.has_error(function() a:load_state({ policy = "adaptive", window = 4, history = {},
      speed = 1 }) end,
      "placement.adaptive.load_state: unexpected field 'speed' (expected history, policy, " ..
      "targets, window)")
    assert.has_error(function() P.range { bounds = { 1 } }:load_state({ policy = "range",
      bounds = { 1.5 } }) end,
      "placement.range.load_state: bounds expected a list of integers, got table")
  end)
end)

-- ------------------------------------------------------------------ resuming the main job

describe("examples/train_mnist.lua --checkpoint", function()
  -- 1200 samples in batches of 100: 12 steps an epoch, 3 epochs
  local flags = { "--samples", "1200", "--batch", "100", "--epochs", "3", "--hidden", "24",
    "--seed", "2", "--metrics", "", "--quiet" }
  local function with(...)
    local out = { table.unpack(flags) }
    for _, a in ipairs { ... } do out[#out + 1] = a end
    return out
  end

  it("killed during epoch 2 and resumed, ends bit-identical to a run never stopped", function()
    local ok, plain, plain_lines = run_example(flags, nil)
    assert(ok, plain)
    local store = {}
    local ok1, err = run_example(with("--checkpoint", "ckpt", "--every", "5"), stand_in(store, 19))
    assert.is_false(ok1)
    assert.are.equal("stand-in: killed at step 19", err)
    assert.are.equal(2, #store.ckpt)                 -- steps 10 and 15 (keep = 2)
    assert.are.same({ 1, 3 }, { store.ckpt[2].loader.sampler.epoch, store.ckpt[2].loader.step })
    local ok2, resumed, lines = run_example(with("--checkpoint", "ckpt", "--every", "5"),
      stand_in(store))
    assert(ok2, resumed)
    assert.truthy(table.concat(lines, "\n"):find("train_mnist: resumed from ckpt at epoch 2, " ..
      "step 3 of 12", 1, true))
    assert.are.same(param_bits(plain.model), param_bits(resumed.model))
    assert.are.equal(plain.accuracy, resumed.accuracy)
    local want = results(plain_lines)
    assert.are.same({ want[2], want[3], want[4] }, results(lines))
  end)

  it("with --dp-epsilon, resumed, ends bit-identical and at the same epsilon", function()
    local dp = { "--dp-epsilon", "3", "--batch", "100", "--lr", "0.5" }
    local ok, plain, plain_lines = run_example(with(table.unpack(dp)), nil)
    assert(ok, plain)
    local store = {}
    local saving = with(table.unpack(dp))
    for _, a in ipairs { "--checkpoint", "dpckpt", "--every", "5" } do saving[#saving + 1] = a end
    local ok1, err = run_example(saving, stand_in(store, 19))
    assert.is_false(ok1)
    assert.are.equal("stand-in: killed at step 19", err)
    assert.are.same({ 1, 3 }, { store.dpckpt[2].loader.epoch, store.dpckpt[2].loader.step })
    assert.are.equal(15, store.dpckpt[2].opt.steps)   -- the accountant's steps came along
    local ok2, resumed, lines = run_example(saving, stand_in(store))
    assert(ok2, resumed)
    assert.are.same(param_bits(plain.model), param_bits(resumed.model))
    local function epsilons(ls)
      local out = {}
      for _, l in ipairs(ls) do out[#out + 1] = l:match("^epoch %d+/%d+ .*epsilon ([%d.]+)") end
      return out
    end
    local eps = epsilons(plain_lines)
    assert.are.equal(3, #eps)
    assert.are.same({ eps[2], eps[3] }, epsilons(lines))
    local want = results(plain_lines)
    assert.are.same({ want[2], want[3], want[4] }, results(lines))
  end)

  it("says what it needs when tide.checkpoint is missing", function()
    if pcall(require, "tide.checkpoint") then return end   -- the real one has landed
    local ok, err = run_example(with("--checkpoint", "ckpt"), nil)
    assert.is_false(ok)
    assert.are.equal("train_mnist: --checkpoint needs tide.checkpoint, which this build of " ..
      "tide lacks", err)
  end)

  it("refuses checkpoint flags that make no sense", function()
    local cp = stand_in({})
    local cases = {
      { with("--every", "3"), "train_mnist: --every and --keep go with --checkpoint DIR" },
      { with("--checkpoint", "d", "--keep", "0"), "train_mnist: --keep expects a positive integer, got 0" },
      { with("--checkpoint", "d", "--every", "2.5"), "train_mnist: --every expects an integer, got '2.5'" },
      { { "--samples", "0" }, "train_mnist: --samples expects a positive integer, got 0" },
    }
    for _, c in ipairs(cases) do
      local ok, err = run_example(c[1], cp)
      assert.is_false(ok)
      assert.are.equal(c[2], err)
    end
  end)
end)
