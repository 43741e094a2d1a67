-- tide.bayes's samplers under mpirun (1, 2 or 4 ranks): each rank draws its share from its own
-- stream and one allreduce per round combines them; every queried marginal of likelihood
-- weighting and Gibbs lies within 3 standard errors of variable elimination's exact answer, on
-- Asia and on a generated 30-variable network (issue 18, acceptance 4). The seeds are fixed, so
-- each rank count sees the same draws every run; that the standard errors are honest (errors of
-- about one standard error over many seeds) is tests/lua/bayes_spec.lua's check.
local tide = require "tide"
local bayes = require "tide.bayes"

local world = tide.world
local ASIA = (os.getenv("TIDE_SOURCE_DIR") or ".") .. "/examples/asia.json"

local function check(net, query, evidence, opts)
  local exact = net:exact(query, evidence)
  local p, se, info = net:sample(query, evidence, opts)
  local states = net:states(query)
  for k = 1, #states - 1 do   -- the last state's error follows from the others'
    local s, x = states[k], exact[states[k]]
    assert.is_true(math.abs(p[s] - x) <= 3 * se[s],
      ("%s %s=%s at %d ranks: %g vs exact %g, se %g"):format(opts.method, query, s, world.size,
        p[s], x, se[s]))
  end
  -- every rank gets the same estimate
  local all = world:allgather_obj(p)
  for r = 2, #all do assert.are.same(all[1], all[r]) end
  return info
end

describe("distributed sampling", function()
  it("matches exact inference on Asia, by likelihood weighting and Gibbs", function()
    local net = bayes.network(ASIA)
    for _, case in ipairs { { "lung", { xray = "yes", smoke = "yes" } },
        { "bronc", { dysp = "yes" } }, { "tub", { xray = "yes", asia = "yes" } } } do
      local info = check(net, case[1], case[2], { method = "lw", samples = 40000, seed = 22 })
      assert.are.equal(40000, info.samples)
      info = check(net, case[1], case[2], { method = "gibbs", samples = 40000, seed = 22,
        chains = 500 })
      assert.are.equal(500 * world.size, info.chains)
    end
  end)

  it("matches exact inference on a generated 30-variable network", function()
    local net = bayes.network(bayes.random_spec(30, { seed = 7 }))
    local ev = { v5 = "s1", v17 = "s2", v28 = "s1" }
    for _, q in ipairs { "v3", "v12", "v20", "v30" } do
      check(net, q, ev, { method = "lw", samples = 30000, seed = 3 })
      check(net, q, ev, { method = "gibbs", samples = 30000, seed = 3, chains = 500,
        burn_in = 50 })
    end
  end)
end)
