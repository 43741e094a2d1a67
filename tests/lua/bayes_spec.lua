-- tide.bayes in one process: the network spec and its errors, variable elimination against a
-- brute-force sum over the joint and against Asia's published marginals, and the samplers'
-- error shrinking as 1/sqrt(samples) (issue 18, acceptance 4 and 6; tests/mpi/bayes_spec.lua
-- checks the samplers at 1, 2 and 4 ranks).
local tide = require "tide"
local bayes = require "tide.bayes"

local ASIA = (os.getenv("TIDE_SOURCE_DIR") or ".") .. "/examples/asia.json"

local err_of = require("support.spec").err_of

local function two_state(name, parents, cpt)
  return { name = name, states = { "yes", "no" }, parents = parents, cpt = cpt }
end

-- P(query | evidence) by summing the joint over every assignment: an independent check of VE.
local function brute_force(spec, query, evidence)
  local vars, index = spec.variables, {}
  for i, v in ipairs(vars) do index[v.name] = i end
  local assign, totals = {}, {}
  local function prob_of(i)
    local v, row = vars[i], 0
    for _, p in ipairs(v.parents) do row = row * #vars[index[p]].states + assign[index[p]] - 1 end
    return v.cpt[row * #v.states + assign[i]]
  end
  local function walk(i, p)
    if p == 0 then return end
    if i > #vars then
      local s = vars[index[query]].states[assign[index[query]]]
      totals[s] = (totals[s] or 0) + p
      return
    end
    local v = vars[i]
    for s = 1, #v.states do
      if not evidence[v.name] or v.states[s] == evidence[v.name] then
        assign[i] = s
        walk(i + 1, p)
      end
    end
  end
  -- variables of a random spec come in topological order, so a prefix's product is ready
  local function walk_joint(i, p)
    if i > #vars then return walk(i, p) end
    local v = vars[i]
    for s = 1, #v.states do
      if not evidence[v.name] or v.states[s] == evidence[v.name] then
        assign[i] = s
        walk_joint(i + 1, p * prob_of(i))
      end
    end
  end
  walk_joint(1, 1.0)
  local sum = 0
  for _, x in pairs(totals) do sum = sum + x end
  for s, x in pairs(totals) do totals[s] = x / sum end
  return totals
end

describe("bayes.network", function()
  it("reads Asia from JSON and lists its variables and states", function()
    local net = bayes.network(ASIA)
    assert.are.same({ "asia", "tub", "smoke", "lung", "bronc", "either", "xray", "dysp" },
      net:names())
    assert.are.same({ "yes", "no" }, net:states("dysp"))
  end)

  it("names the variable and parent states of a CPT row that does not sum to 1", function()
    local spec = { variables = { two_state("a", {}, { 0.3, 0.7 }),
      two_state("b", { "a" }, { 0.5, 0.5, 0.2, 0.7 }) } }
    assert.matches("variable 'b': cpt row for a=no sums to 0.9, expected 1",
      err_of(function() bayes.network(spec) end), 1, true)
  end)

  it("names the variables on a cycle", function()
    local spec = { variables = { two_state("a", { "c" }, { 1, 0, 0, 1 }),
      two_state("b", { "a" }, { 1, 0, 0, 1 }), two_state("c", { "b" }, { 1, 0, 0, 1 }),
      two_state("d", {}, { 0.5, 0.5 }) } }
    local e = err_of(function() bayes.network(spec) end)
    assert.matches("the network has a cycle: ", e, 1, true)
    for _, name in ipairs { "a", "b", "c" } do assert.matches(name, e:match("cycle: (.*)$")) end
    assert.is_nil(e:match("cycle: .*d"))
  end)

  it("rejects a wrong CPT length, an unknown parent, a bad probability and a bad spec", function()
    assert.matches("variable 'a': cpt has 3 entries, expected 2 (1 parent configurations x 2 states)",
      err_of(function() bayes.network { variables = { two_state("a", {}, { 0.5, 0.5, 0 }) } } end),
      1, true)
    assert.matches("variable 'b' has an unknown parent 'zz'",
      err_of(function() bayes.network { variables = { two_state("a", {}, { 0.5, 0.5 }),
        two_state("b", { "zz" }, { 0.5, 0.5 }) } } end), 1, true)
    assert.matches("variable 'a': cpt entry for (no parents), a=yes must be a probability in [0, 1], got -0.5",
      err_of(function() bayes.network { variables = { two_state("a", {}, { -0.5, 1.5 }) } } end),
      1, true)
    assert.matches("expected spec.variables as a non-empty list",
      err_of(function() bayes.network {} end), 1, true)
    assert.matches("variable 'a' appears twice",
      err_of(function() bayes.network { variables = { two_state("a", {}, { 0.5, 0.5 }),
        two_state("a", {}, { 0.5, 0.5 }) } } end), 1, true)
    assert.matches("cannot read '/nonexistent.json'",
      err_of(function() bayes.network("/nonexistent.json") end), 1, true)
  end)

  it("rejects evidence on an unknown state or variable, and a query in the evidence", function()
    local net = bayes.network(ASIA)
    assert.matches("evidence xray = 'maybe': 'xray' has no state 'maybe' (states: yes, no)",
      err_of(function() net:exact("lung", { xray = "maybe" }) end), 1, true)
    assert.matches("bayes.sample: evidence on an unknown variable 'cough'",
      err_of(function() net:sample("lung", { cough = "yes" }) end), 1, true)
    assert.matches("bayes.exact: unknown variable 'cough'",
      err_of(function() net:exact("cough") end), 1, true)
    assert.matches("the query variable 'lung' is also in the evidence",
      err_of(function() net:exact("lung", { lung = "yes" }) end), 1, true)
    assert.matches("bayes.sample: method must be \"lw\", \"gibbs\" or \"forward\", got mcmc",
      err_of(function() net:sample("lung", {}, { method = "mcmc" }) end), 1, true)
    assert.matches("bayes.sample: samples must be an integer of at least 1, got 0",
      err_of(function() net:sample("lung", {}, { samples = 0 }) end), 1, true)
    assert.matches("unknown option 'sample'",
      err_of(function() net:sample("lung", {}, { sample = 10 }) end), 1, true)
    assert.matches("the evidence has probability 0",
      err_of(function() net:exact("lung", { tub = "yes", either = "no" }) end), 1, true)
    assert.matches("all 1000 samples have weight 0",
      err_of(function() net:sample("lung", { tub = "yes", either = "no" }, { samples = 1000 }) end),
      1, true)
  end)
end)

describe("the sampling kernel", function()
  it("refuses a plan that would read outside its arrays", function()
    local K = tide._internal.bayes_kernels
    local function plan(over)
      local p = { nstates = tide.tensor({ 2, 2 }, "i32"), parent_start = tide.tensor({ 0, 0, 1 }, "i64"),
        parents = tide.tensor({ 0 }, "i32"), strides = tide.tensor({ 1 }, "i64"),
        cpt_start = tide.tensor({ 0, 2 }, "i64"), cpt = tide.tensor({ 0.5, 0.5, 0.9, 0.1, 0.2, 0.8 }, "f64"),
        evidence = tide.tensor({ -1, -1 }, "i32") }
      for k, v in pairs(over) do p[k] = v end
      return p
    end
    local sums = tide.zeros({ 6 }, "f64")
    K.weighted(plan {}, 2, 1000, false, tide.rng(1), sums)
    assert.is_near(1000, sums:get(1), 1e-9)
    assert.matches("variable 2 has parent 2, not an earlier one", err_of(function()
      K.weighted(plan { parents = tide.tensor({ 1 }, "i32") }, 2, 10, false, tide.rng(1), sums)
    end), 1, true)
    assert.matches("variable 2's CPT runs past the table", err_of(function()
      K.weighted(plan { cpt_start = tide.tensor({ 0, 4 }, "i64") }, 2, 10, false, tide.rng(1), sums)
    end), 1, true)
    assert.matches("plan.cpt must be a contiguous 1-D f64 tensor", err_of(function()
      K.weighted(plan { cpt = tide.ones({ 6 }) }, 2, 10, false, tide.rng(1), sums)
    end), 1, true)
    assert.matches("sums must be a contiguous f64 tensor of 6", err_of(function()
      K.weighted(plan {}, 2, 10, false, tide.rng(1), tide.zeros({ 5 }, "f64"))
    end), 1, true)
  end)
end)

describe("bayes exact inference", function()
  it("gives Asia's published prior marginals", function()
    -- Lauritzen and Spiegelhalter's chest clinic, as every BN tool prints it
    local net = bayes.network(ASIA)
    local want = { asia = 0.01, tub = 0.0104, smoke = 0.5, lung = 0.055, bronc = 0.45,
      either = 0.064828, xray = 0.11029, dysp = 0.43597 }
    for name, p in pairs(want) do
      assert.is_near(p, net:exact(name).yes, 1e-5)
    end
  end)

  it("equals a brute-force sum over the joint, with and without evidence", function()
    local spec = bayes.random_spec(11, { seed = 3 })
    local net = bayes.network(spec)
    for _, case in ipairs { { "v11", {} }, { "v1", { v9 = "s2", v4 = "s1" } },
        { "v6", { v11 = "s1" } } } do
      local got, want = net:exact(case[1], case[2]), brute_force(spec, case[1], case[2])
      for s, p in pairs(want) do assert.is_near(p, got[s], 1e-12) end
    end
    local asia = bayes.network(ASIA)
    local f = io.open(ASIA) local text = f:read("a") f:close()
    local aspec = require("cjson").decode(text)
    local got = asia:exact("lung", { xray = "yes", dysp = "yes" })
    local want = brute_force(aspec, "lung", { xray = "yes", dysp = "yes" })
    assert.is_near(want.yes, got.yes, 1e-12)
  end)
end)

-- The sanitizer build checks memory, not statistics: there the samplers' accuracy tests draw a
-- tenth of the samples and skip the calibration and slope checks (about 90 s -> 10 s).
local SANITIZED = os.getenv("TIDE_SANITIZED") ~= nil

describe("bayes sampling", function()
  it("puts every sampler within 3 standard errors of the exact answer on Asia", function()
    local net = bayes.network(ASIA)
    local ev = { xray = "yes", smoke = "yes" }
    for _, q in ipairs { "lung", "tub", "either", "dysp" } do
      local exact = net:exact(q, ev)
      for _, method in ipairs { "lw", "gibbs", "forward" } do
        local p, se, info = net:sample(q, ev, { method = method,
          samples = SANITIZED and 4000 or 40000, seed = 5 })
        assert.are.equal(method, info.method)
        for s, x in pairs(exact) do
          assert.is_true(se[s] > 0)
          assert.is_true(math.abs(p[s] - x) <= 3 * se[s],
            ("%s %s=%s: %g vs exact %g, se %g"):format(method, q, s, p[s], x, se[s]))
        end
      end
    end
  end)

  it("is the same for the same seed and draws until the target error", function()
    local net = bayes.network(ASIA)
    local a = net:sample("bronc", { dysp = "yes" }, { samples = 5000, seed = 2 })
    local b = net:sample("bronc", { dysp = "yes" }, { samples = 5000, seed = 2 })
    assert.are.same(a, b)
    local _, se, info = net:sample("bronc", { dysp = "yes" },
      { samples = 2000, seed = 2, target_error = 0.004 })
    assert.is_true(se.yes <= 0.004 and se.no <= 0.004)
    assert.is_true(info.rounds > 1)
    assert.are.equal(info.rounds * 2000, info.samples)
  end)

  it("reports standard errors that match the spread of its estimates over seeds", function()
    if SANITIZED then return end
    local net = bayes.network(ASIA)
    local ev = { dysp = "yes" }
    local exact = net:exact("bronc", ev).yes
    for _, method in ipairs { "lw", "gibbs" } do
      local sq = 0
      for seed = 1, 20 do
        local p, se = net:sample("bronc", ev, { method = method, samples = 10000, seed = seed })
        sq = sq + ((p.yes - exact) / se.yes) ^ 2
      end
      local rms = math.sqrt(sq / 20)   -- about 1 when the errors are honest (0.7-1.3 at 20 seeds)
      assert.is_true(rms > 0.6 and rms < 1.5, method .. ": rms of error / se " .. rms)
    end
  end)

  it("shrinks its error as 1/sqrt(samples)", function()
    if SANITIZED then return end
    local net = bayes.network(ASIA)
    local ev = { xray = "yes", smoke = "yes" }
    local exact = net:exact("lung", ev).yes
    local xs, ys = {}, {}
    for k, n in ipairs { 1000, 4000, 16000, 64000 } do
      local sq = 0
      for seed = 1, 8 do
        local p = net:sample("lung", ev, { samples = n, seed = 100 * k + seed })
        sq = sq + (p.yes - exact) ^ 2
      end
      xs[k], ys[k] = math.log(n), 0.5 * math.log(sq / 8)
    end
    local mx, my, sxy, sxx = 0, 0, 0, 0
    for k = 1, #xs do mx, my = mx + xs[k] / #xs, my + ys[k] / #ys end
    for k = 1, #xs do
      sxy, sxx = sxy + (xs[k] - mx) * (ys[k] - my), sxx + (xs[k] - mx) ^ 2
    end
    local slope = sxy / sxx
    assert.is_true(slope > -0.65 and slope < -0.35, "slope " .. slope)
  end)
end)

describe("examples/bayes.lua", function()
  it("prints every marginal with both samplers near the exact answer at 2 ranks", function()
    local proc = require "support.proc"
    local exe = os.getenv("TIDE_EXE") or "build/tide"
    local script = (os.getenv("TIDE_SOURCE_DIR") or ".") .. "/examples/bayes.lua"
    local out, code = proc.run(("%s run -n 2 %s --samples 20000"):format(proc.quote(exe),
      proc.quote(script)))
    assert.are.equal(0, code, out)
    assert.truthy(out:find("8 variables, evidence xray=yes,smoke=yes, 2 ranks", 1, true), out)
    local rows = 0
    for exact, lw, lw_se, gibbs, gibbs_se in out:gmatch(
        "\n%S+%s+%S+%s+([%d.]+)%s+([%d.]+)%s+([%d.]+)%s+([%d.]+)%s+([%d.]+)") do
      rows = rows + 1
      assert.is_true(math.abs(lw - exact) <= 4 * lw_se + 1e-5, out)
      assert.is_true(math.abs(gibbs - exact) <= 4 * gibbs_se + 1e-5, out)
    end
    assert.are.equal(12, rows, out)   -- 6 free variables x 2 states
  end)
end)
