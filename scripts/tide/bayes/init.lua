-- tide.bayes: discrete Bayesian networks, with exact inference by variable elimination and
-- approximate inference by sampling spread over the ranks.
--
--   local net = tide.bayes.network(spec)   -- a table, or the path of a JSON file holding one:
--     { variables = { { name = "asia", states = { "yes", "no" }, parents = {}, cpt = {...} }, ...} }
--     the CPT a flat list in the order of (parents' states..., own state), own state fastest.
--   net:exact(var, evidence)            -> { state = probability, ... }   (local: no messages)
--   net:sample(var, evidence, opts)     -> probabilities, standard errors, info (collective)
--     opts: method = "lw" (likelihood weighting, the default) | "gibbs" | "forward",
--           samples = total draws over all ranks (default 100000), seed = 0,
--           target_error = e: draw further rounds of `samples` until every standard error is at
--             most e (or max_samples, default 100 x samples, are drawn),
--           chains = Gibbs chains per rank (1000), burn_in = Gibbs sweeps dropped first (100),
--           comm = tide.world.
--   evidence is { variable = "state", ... }.
--   tide.bayes.random_spec(n, {seed =, max_parents = 3, min_states = 2, max_states = 4,
--     window = 6})  -> a spec of n variables "v1".."vn", each with up to max_parents parents among
--     the `window` variables before it and CPT rows drawn away from 0 and 1; the same on every rank.
local tide = require "tide"
local args = require "tide.args"
local network = require "tide.bayes.network"
local exact = require "tide.bayes.exact"
local sampling = require "tide.bayes.sampling"

local M = {}

local Network = {}
Network.__index = Network
Network.__name = "tide.bayes.network"

function M.network(spec)
  return setmetatable(network.new(spec), Network)
end

-- The names of the variables in the spec's order, and of a variable's states.
function Network:names()
  local out = {}
  for i, v in ipairs(self.variables) do out[i] = v.name end
  return out
end

function Network:states(name)
  local _, v = network.variable(self, name, "bayes.states")
  return { table.unpack(v.states) }
end

local function by_state(v, list)
  local out = {}
  for s, x in ipairs(list) do out[v.states[s]] = x end
  return out
end

local function query_plan(net, var, evidence, where)
  local q, v = network.variable(net, var, where)
  local ev = network.evidence(net, evidence, where)
  if ev[q] then
    error(("%s: the query variable '%s' is also in the evidence"):format(where, var), 0)
  end
  local relevant = network.relevant(net, q, ev)
  local order = {}
  for _, i in ipairs(net.order) do
    if relevant[i] then order[#order + 1] = i end
  end
  return { query = q, evidence = ev, relevant = relevant, order = order }, v
end

-- Exact P(var | evidence) by variable elimination.
function Network:exact(var, evidence)
  local plan, v = query_plan(self, var, evidence, "bayes.exact")
  local p = exact.marginal(self, plan.query, plan.evidence)
  if not p then
    error("bayes.exact: the evidence has probability 0 under the network", 2)
  end
  return by_state(v, p)
end

local SAMPLE_OPTS = { method = true, samples = true, seed = true, target_error = true,
  max_samples = true, chains = true, burn_in = true, comm = true }
local METHODS = { lw = sampling.weighted, forward = sampling.weighted, gibbs = sampling.gibbs }

local function sample_opts(opts)
  local where = "bayes.sample"
  opts = args.check_opts(opts, SAMPLE_OPTS, where, 4)
  local o = {
    method = opts.method or "lw",
    samples = args.integer(opts.samples, "samples", where, 1, 100000, 4),
    seed = args.seed(opts.seed, where, 0, 4),
    chains = args.integer(opts.chains, "chains", where, 1, 1000, 4),
    burn_in = args.integer(opts.burn_in, "burn_in", where, 0, 100, 4),
    comm = opts.comm or tide.world,
  }
  if not METHODS[o.method] then
    error(("%s: method must be \"lw\", \"gibbs\" or \"forward\", got %s"):format(where,
      tostring(o.method)), 4)
  end
  if opts.target_error ~= nil then
    o.target_error = args.number(opts.target_error, "target_error", where, nil, "> 0", 4)
  end
  o.max_samples = args.integer(opts.max_samples, "max_samples", where, 1, 100 * o.samples, 4)
  return o
end

local RANDOM_OPTS = { seed = true, max_parents = true, min_states = true, max_states = true,
  window = true }

function M.random_spec(n, opts)
  local where = "bayes.random_spec"
  opts = args.check_opts(opts, RANDOM_OPTS, where)
  n = args.integer(n, "n (the number of variables)", where, 1)
  local seed = args.seed(opts.seed, where)
  local max_parents = args.integer(opts.max_parents, "max_parents", where, 0, 3)
  local lo = args.integer(opts.min_states, "min_states", where, 1, 2)
  local hi = args.integer(opts.max_states, "max_states", where, lo, 4)
  local window = args.integer(opts.window, "window", where, 1, 6)
  local u = tide.rand({ n * (2 + 2 * window) + 4096 }, { seed = seed, dtype = "f64",
    same_on_all_ranks = true }):totable()
  local at = 0
  local function draw() at = at % #u + 1 return u[at] end
  local vars = {}
  for i = 1, n do
    local states = {}
    for s = 1, lo + math.floor(draw() * (hi - lo + 1)) do states[s] = "s" .. s end
    local candidates = {}
    for j = math.max(1, i - window), i - 1 do candidates[#candidates + 1] = j end
    local parents, rows = {}, 1
    for _ = 1, math.min(max_parents, #candidates, math.floor(draw() * (max_parents + 1))) do
      local j = table.remove(candidates, 1 + math.floor(draw() * #candidates))
      parents[#parents + 1] = j
    end
    table.sort(parents)
    for k, j in ipairs(parents) do
      rows = rows * #vars[j].states
      parents[k] = vars[j].name
    end
    local cpt = {}
    for _ = 1, rows do
      local row, sum = {}, 0
      for s = 1, #states do row[s] = 0.2 + draw() sum = sum + row[s] end
      for s = 1, #states do cpt[#cpt + 1] = row[s] / sum end
    end
    vars[i] = { name = "v" .. i, states = states, parents = parents, cpt = cpt }
  end
  return { variables = vars }
end

-- Approximate P(var | evidence); collective over opts.comm: every rank calls it alike.
function Network:sample(var, evidence, opts)
  local o = sample_opts(opts)
  local plan, v = query_plan(self, var, evidence, "bayes.sample")
  local g = tide.rng(o.seed)
  local p, se, info = METHODS[o.method](self, plan, o, o.comm, g)
  info.method = o.method
  return by_state(v, p), by_state(v, se), info
end

return M
