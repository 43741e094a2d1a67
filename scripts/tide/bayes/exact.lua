-- tide.bayes.exact: exact posterior marginals by variable elimination, for checking the samplers
-- and for small networks.
--
-- A factor is { vars = {i1, ..., ik}, card = {n1, ..., nk}, values = {...} } over variable
-- indices, its values flat with the last variable fastest (the CPTs' own layout, so a CPT is a
-- factor over (parents..., variable) as it stands). Elimination order: greedy min-fill over the
-- interaction graph, ties broken by the smaller resulting factor, then by index (deterministic).
local network = require "tide.bayes.network"

local M = {}

local function size_of(card)
  local n = 1
  for _, c in ipairs(card) do n = n * c end
  return n
end

-- Strides of a factor's variables: the last is 1.
local function strides(card)
  local st, acc = {}, 1
  for k = #card, 1, -1 do
    st[k] = acc
    acc = acc * card[k]
  end
  return st
end

-- Calls fn(linear index into `card`'s space (0-based), digits) for every assignment, digits
-- 0-based and reused between calls.
local function each_assignment(card, fn)
  local digits = {}
  for k = 1, #card do digits[k] = 0 end
  for lin = 0, size_of(card) - 1 do
    fn(lin, digits)
    for k = #card, 1, -1 do
      digits[k] = digits[k] + 1
      if digits[k] < card[k] then break end
      digits[k] = 0
    end
  end
end

local function cpt_factor(net, i)
  local v = net.variables[i]
  local vars, card = {}, {}
  for k, p in ipairs(v.parents) do
    vars[k], card[k] = p, net.variables[p].nstates
  end
  vars[#vars + 1], card[#card + 1] = i, v.nstates
  return { vars = vars, card = card, values = v.cpt }
end

-- The factor with the evidence variables fixed to their observed states (and dropped).
local function restrict(f, evidence)
  local keep, card, base, st = {}, {}, 0, strides(f.card)
  local keep_stride = {}
  for k, var in ipairs(f.vars) do
    if evidence[var] then
      base = base + (evidence[var] - 1) * st[k]
    else
      keep[#keep + 1], card[#card + 1], keep_stride[#keep_stride + 1] = var, f.card[k], st[k]
    end
  end
  if #keep == #f.vars then return f end
  local values = {}
  each_assignment(card, function(lin, digits)
    local at = base
    for k = 1, #digits do at = at + digits[k] * keep_stride[k] end
    values[lin + 1] = f.values[at + 1]
  end)
  return { vars = keep, card = card, values = values }
end

-- Where each variable of `scope` sits in factor f: the stride of f for it, or 0 when absent.
local function stride_map(f, scope)
  local st, pos = strides(f.card), {}
  for k, var in ipairs(f.vars) do pos[var] = st[k] end
  local out = {}
  for k, var in ipairs(scope) do out[k] = pos[var] or 0 end
  return out
end

-- The product of a list of factors, over the union of their scopes.
local function product(factors)
  local vars, card, seen = {}, {}, {}
  for _, f in ipairs(factors) do
    for k, var in ipairs(f.vars) do
      if not seen[var] then
        seen[var] = true
        vars[#vars + 1], card[#card + 1] = var, f.card[k]
      end
    end
  end
  local maps = {}
  for j, f in ipairs(factors) do maps[j] = stride_map(f, vars) end
  local values = {}
  each_assignment(card, function(lin, digits)
    local x = 1.0
    for j, f in ipairs(factors) do
      local at, m = 0, maps[j]
      for k = 1, #digits do at = at + digits[k] * m[k] end
      x = x * f.values[at + 1]
    end
    values[lin + 1] = x
  end)
  return { vars = vars, card = card, values = values }
end

local function sum_out(f, var)
  local vars, card, drop = {}, {}, nil
  for k, v in ipairs(f.vars) do
    if v == var then drop = k else vars[#vars + 1], card[#card + 1] = v, f.card[k] end
  end
  local values = {}
  for k = 1, size_of(card) do values[k] = 0.0 end
  local out_st = strides(card)
  each_assignment(f.card, function(lin, digits)
    local at, j = 0, 0
    for k = 1, #digits do
      if k ~= drop then
        j = j + 1
        at = at + digits[k] * out_st[j]
      end
    end
    values[at + 1] = values[at + 1] + f.values[lin + 1]
  end)
  return { vars = vars, card = card, values = values }
end

-- The next variable to eliminate: the fewest fill-in edges, then the smallest new factor.
local function pick_min_fill(to_eliminate, factors, cards)
  local best, best_fill, best_size
  for var in pairs(to_eliminate) do
    local nbrs = {}
    for _, f in ipairs(factors) do
      local has = false
      for _, v in ipairs(f.vars) do if v == var then has = true break end end
      if has then
        for _, v in ipairs(f.vars) do if v ~= var then nbrs[v] = true end end
      end
    end
    local list, size = {}, 1
    for v in pairs(nbrs) do list[#list + 1] = v size = size * cards[v] end
    local fill = 0
    for a = 1, #list do
      for b = a + 1, #list do
        local linked = false
        for _, f in ipairs(factors) do
          local ha, hb = false, false
          for _, v in ipairs(f.vars) do
            if v == list[a] then ha = true elseif v == list[b] then hb = true end
          end
          if ha and hb then linked = true break end
        end
        if not linked then fill = fill + 1 end
      end
    end
    if not best or fill < best_fill or (fill == best_fill and (size < best_size or
        (size == best_size and var < best))) then
      best, best_fill, best_size = var, fill, size
    end
  end
  return best
end

-- P(query | evidence) as a list of probabilities by state index, and P(evidence).
function M.marginal(net, query, evidence)
  local keep = network.relevant(net, query, evidence)
  local factors, cards, to_eliminate = {}, {}, {}
  for i, v in ipairs(net.variables) do
    cards[i] = v.nstates
    if keep[i] then
      factors[#factors + 1] = restrict(cpt_factor(net, i), evidence)
      if i ~= query and not evidence[i] then to_eliminate[i] = true end
    end
  end
  while next(to_eliminate) do
    local var = pick_min_fill(to_eliminate, factors, cards)
    to_eliminate[var] = nil
    local with, rest = {}, {}
    for _, f in ipairs(factors) do
      local has = false
      for _, v in ipairs(f.vars) do if v == var then has = true break end end
      if has then with[#with + 1] = f else rest[#rest + 1] = f end
    end
    rest[#rest + 1] = sum_out(product(with), var)
    factors = rest
  end
  local joint = product(factors)     -- over the query alone (scalars multiply in)
  local total = 0.0
  for _, x in ipairs(joint.values) do total = total + x end
  if total <= 0 then return nil, total end
  local p = {}
  for s, x in ipairs(joint.values) do p[s] = x / total end
  return p, total
end

return M
