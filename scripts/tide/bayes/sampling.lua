-- tide.bayes.sampling: approximate posterior marginals by forward (logic) sampling, likelihood
-- weighting and Gibbs sampling, spread over the ranks of a communicator.
--
-- Every rank draws its share from its own stream (tide.rng(seed) differs by rank) and the ranks
-- combine sums by one allreduce per round, so the estimate is that of one sampler drawing all
-- the samples. Samples are drawn many at a time: a variable's draw for N samples is one
-- index_select of its CPT rows by the parents' configurations and one categorical draw.
--
-- Standard errors:
--   forward, lw  the ratio estimator p_s = sum(w 1[x=s]) / sum(w) and its delta-method variance
--                sum(w^2 (1[x=s] - p_s)^2) / sum(w)^2 (forward sampling is lw with 0/1 weights).
--   gibbs        independent chains: the spread of the chains' own means over their kept sweeps,
--                sd(chain means) / sqrt(chains); honest when each chain runs well past its
--                correlation time (raise burn_in and samples for slowly mixing networks).
-- Gibbs updates one variable at a time from its Markov blanket. A variable whose every CPT row is
-- one-hot (a deterministic function of its parents, as Asia's "either") is never updated on its
-- own, which would freeze the chain; it is recomputed whenever one of its parents changes, and the
-- parent's update weighs the children of both.
local tide = require "tide"

local KERNELS = tide._internal.bayes_kernels
local M = {}

-- The per-variable tensors the samplers index: cpt rows (nrows x nstates), the flat cpt, and for a
-- deterministic variable the state each row gives.
local function tables(net)
  if net.tensors then return net.tensors end
  local t = {}
  for i, v in ipairs(net.variables) do
    local flat = tide.tensor(v.cpt, "f64")
    local rec = { rows = flat:view { v.nrows, v.nstates }, flat = flat }
    if v.deterministic then
      local det = {}
      for r = 1, v.nrows do
        for s = 1, v.nstates do
          if v.cpt[(r - 1) * v.nstates + s] == 1 then det[r] = s end
        end
      end
      rec.det = tide.tensor(det, "i64")
    end
    t[i] = rec
  end
  net.tensors = t
  return t
end

-- The 1-based CPT row of variable v for every sample, from the parents' states.
local function config(net, i, states, n)
  local v = net.variables[i]
  local row = tide.ones({ n }, "i64")
  for k, p in ipairs(v.parents) do
    row = row + (states[p] - 1) * v.strides[k]
  end
  return row
end

-- P(variable i = its current state | parents) for every sample.
local function prob_of_state(net, tens, i, states, n)
  local flat_index = (config(net, i, states, n) - 1) * net.variables[i].nstates + states[i]
  return tens[i].flat:index_select(1, flat_index)
end

local function ratio_estimate(acc, nq)
  local W, W2 = acc[1], acc[2]
  local p, se = {}, {}
  for s = 1, nq do
    local ps = acc[2 + s] / W
    local var = (acc[2 + nq + s] * (1 - 2 * ps) + ps * ps * W2) / (W * W)
    p[s], se[s] = ps, math.sqrt(math.max(var, 0))
  end
  return p, se, W * W / W2
end

local function allreduce_sum(comm, list)
  local t = tide.tensor(list, "f64")
  comm:allreduce(t, "sum")
  return t:totable()
end

-- Splits a total over the ranks: the first total % size ranks take one more.
local function share(total, comm)
  local base = total // comm.size
  return base + (comm.rank < total % comm.size and 1 or 0)
end

-- The network restricted to the plan's variables, as the flat arrays of the C kernel
-- (core/algo/bayes.h), in the plan's topological order.
local function kernel_plan(net, plan)
  local position = {}
  for k, i in ipairs(plan.order) do position[i] = k end
  local nstates, pstart, parents, strides, cstart, cpt, evidence = {}, { 0 }, {}, {}, {}, {}, {}
  for k, i in ipairs(plan.order) do
    local v = net.variables[i]
    nstates[k], cstart[k], evidence[k] = v.nstates, #cpt, (plan.evidence[i] or 0) - 1
    for j, p in ipairs(v.parents) do
      parents[#parents + 1], strides[#strides + 1] = position[p] - 1, v.strides[j]
    end
    pstart[k + 1] = #parents
    table.move(v.cpt, 1, #v.cpt, #cpt + 1, cpt)
  end
  local function i64(t) return tide.tensor(#t > 0 and t or { 0 }, "i64"):narrow(1, 1, #t) end
  local function i32(t) return tide.tensor(#t > 0 and t or { 0 }, "i32"):narrow(1, 1, #t) end
  return { nstates = i32(nstates), parent_start = i64(pstart), parents = i32(parents),
    strides = i64(strides), cpt_start = i64(cstart), cpt = tide.tensor(cpt, "f64"),
    evidence = i32(evidence), query = position[plan.query] }
end

function M.weighted(net, plan, opts, comm, g)
  local nq = net.variables[plan.query].nstates
  local kplan = kernel_plan(net, plan)
  local acc = {}
  for k = 1, 2 + 2 * nq do acc[k] = 0.0 end
  local drawn, rounds, p, se, ess = 0, 0, nil, nil, nil
  repeat
    local local_sums = tide.zeros({ #acc }, "f64")
    KERNELS.weighted(kplan, kplan.query, share(opts.samples, comm), opts.method == "forward", g,
      local_sums)
    for k, x in ipairs(allreduce_sum(comm, local_sums:totable())) do acc[k] = acc[k] + x end
    drawn, rounds = drawn + opts.samples, rounds + 1
    if acc[1] > 0 then p, se, ess = ratio_estimate(acc, nq) end
    local done = not opts.target_error or drawn >= opts.max_samples or
      (p and math.max(table.unpack(se)) <= opts.target_error)
  until done
  if not p then
    error(("bayes.sample: all %d samples have weight 0: the evidence is impossible or too " ..
      "unlikely for %s%s"):format(drawn, opts.method == "forward" and "forward sampling" or
      "likelihood weighting", opts.method == "forward" and " (try method = \"lw\")" or ""), 0)
  end
  return p, se, { samples = drawn, rounds = rounds, ess = ess }
end

-- Gibbs: which variables a chain updates, and for each the deterministic descendants recomputed
-- with it and the CPTs (its own and its blanket's children's) that weigh its states.
local function gibbs_plan(net, plan)
  local updates = {}
  for _, i in ipairs(plan.order) do
    local v = net.variables[i]
    if not plan.evidence[i] and not v.deterministic then
      local followers, in_followers, weigh, weighed = {}, {}, { i }, { [i] = true }
      local frontier = { i }
      while #frontier > 0 do
        local x = table.remove(frontier, 1)
        for _, c in ipairs(net.variables[x].children) do
          if plan.relevant[c] and not weighed[c] and not in_followers[c] then
            if net.variables[c].deterministic and not plan.evidence[c] then
              in_followers[c] = true
              frontier[#frontier + 1] = c
            else
              weighed[c] = true
              weigh[#weigh + 1] = c
            end
          end
        end
      end
      for _, j in ipairs(plan.order) do   -- recompute in topological order
        if in_followers[j] then followers[#followers + 1] = j end
      end
      updates[#updates + 1] = { var = i, followers = followers, weigh = weigh }
    end
  end
  return updates
end

local function recompute(net, tens, list, states, n)
  for _, d in ipairs(list) do
    states[d] = tens[d].det:index_select(1, config(net, d, states, n))
  end
end

local function gibbs_step(net, tens, u, states, n, g)
  local cols = {}
  for s = 1, net.variables[u.var].nstates do
    states[u.var] = tide.full({ n }, s, "i64")
    recompute(net, tens, u.followers, states, n)
    local p = prob_of_state(net, tens, u.weigh[1], states, n)
    for k = 2, #u.weigh do p:mul_(prob_of_state(net, tens, u.weigh[k], states, n)) end
    cols[s] = p
  end
  states[u.var] = tide.stack(cols, 2):categorical { generator = g }
  recompute(net, tens, u.followers, states, n)
end

-- Starting states for n chains with positive probability: likelihood-weighted particles
-- resampled by weight.
local function gibbs_start(net, plan, n, g)
  local tens, states, m = tables(net), {}, math.max(4 * n, 1024)
  local w = tide.ones({ m }, "f64")
  for _, i in ipairs(plan.order) do
    local row = config(net, i, states, m)
    local e = plan.evidence[i]
    if e then
      w:mul_(tens[i].rows:narrow(2, e, 1):contiguous():view { -1 }:index_select(1, row))
      states[i] = tide.full({ m }, e, "i64")
    else
      states[i] = tens[i].rows:index_select(1, row):categorical { generator = g }
    end
  end
  if w:sum() <= 0 then
    error("bayes.sample: no starting state for Gibbs has positive probability: the evidence " ..
      "is impossible or too unlikely", 0)
  end
  local pick = w:multinomial(n, { replacement = true, generator = g })
  for i, s in pairs(states) do states[i] = s:index_select(1, pick) end
  return states
end

function M.gibbs(net, plan, opts, comm, g)
  local tens, q = tables(net), plan.query
  local nq = net.variables[q].nstates
  local chains = opts.chains
  local updates = gibbs_plan(net, plan)
  local states = gibbs_start(net, plan, chains, g)
  local function sweep()
    for _, u in ipairs(updates) do gibbs_step(net, tens, u, states, chains, g) end
  end
  for _ = 1, opts.burn_in do sweep() end
  local counts = {}
  for s = 1, nq do counts[s] = tide.zeros({ chains }, "f64") end
  local kept, rounds, p, se = 0, 0, {}, {}
  local per_round = math.max(1, -(-opts.samples // (chains * comm.size)))   -- ceil
  repeat
    for _ = 1, per_round do
      sweep()
      for s = 1, nq do counts[s]:add_(states[q]:eq(s):to("f64")) end
    end
    kept, rounds = kept + per_round, rounds + 1
    local sums = {}
    for s = 1, nq do
      local m = counts[s] / kept
      sums[s], sums[nq + s] = m:sum(), (m * m):sum()
    end
    sums[2 * nq + 1] = chains
    sums = allreduce_sum(comm, sums)
    local c = sums[2 * nq + 1]
    for s = 1, nq do
      p[s] = sums[s] / c
      local var = c > 1 and (sums[nq + s] - c * p[s] * p[s]) / (c - 1) or 0
      se[s] = math.sqrt(math.max(var, 0) / c)
    end
    local drawn = kept * c
    local done = not opts.target_error or drawn >= opts.max_samples or
      math.max(table.unpack(se)) <= opts.target_error
  until done
  return p, se, { samples = kept * chains * comm.size, rounds = rounds, chains = chains * comm.size,
    sweeps = kept, burn_in = opts.burn_in }
end

return M
