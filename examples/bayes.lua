-- Posterior marginals of a discrete Bayesian network: exact (variable elimination) beside
-- likelihood weighting and Gibbs sampling spread over the ranks, each with its standard error.
--
--   tide examples/bayes.lua
--   tide run -n 2 examples/bayes.lua --evidence xray=yes,smoke=yes --samples 200000
--   tide run -n 2 examples/bayes.lua --net examples/asia.json --target 0.001
--
-- Flags: --net FILE (a JSON network; default: examples/asia.json beside this script),
-- --evidence var=state,... , --samples N (per round, over all ranks), --target E (draw rounds
-- until every standard error is at most E), --seed S.
local tide = require "tide"
local bayes = require "tide.bayes"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local args = { net = here .. "/asia.json", evidence = "xray=yes,smoke=yes", samples = 100000,
  target = false, seed = 1 }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = argv[i]:match("^%-%-(.+)$")
  if args[key] == nil or argv[i + 1] == nil then
    error(("bayes.lua: bad flag %s (see the header)"):format(argv[i]))
  end
  args[key] = math.tointeger(tonumber(argv[i + 1])) or tonumber(argv[i + 1]) or argv[i + 1]
end

local evidence = {}
for name, state in tostring(args.evidence):gmatch("([^,=]+)=([^,]+)") do evidence[name] = state end

local net = bayes.network(args.net)
local world = tide.world
if world.rank == 0 then
  print(("%d variables, evidence %s, %d ranks"):format(#net:names(), args.evidence, world.size))
  print(("%-10s %-8s %9s %9s %9s %9s %9s"):format("variable", "state", "exact", "lw", "lw se",
    "gibbs", "gibbs se"))
end
for _, name in ipairs(net:names()) do
  if not evidence[name] then
    local exact = net:exact(name, evidence)
    local opts = { samples = args.samples, seed = args.seed, target_error = args.target or nil }
    local lw, lw_se = net:sample(name, evidence, opts)
    opts.method = "gibbs"
    local gibbs, gibbs_se = net:sample(name, evidence, opts)
    if world.rank == 0 then
      for _, state in ipairs(net:states(name)) do
        print(("%-10s %-8s %9.5f %9.5f %9.5f %9.5f %9.5f"):format(name, state, exact[state],
          lw[state], lw_se[state], gibbs[state], gibbs_se[state]))
      end
    end
  end
end
