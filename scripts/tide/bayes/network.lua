-- tide.bayes.network: a discrete Bayesian network read from a Lua table or a JSON file, checked
-- once so that inference can trust it.
--
-- The spec: { variables = { {name =, states = {...}, parents = {...}, cpt = {...}}, ... } }.
-- A CPT is a flat list in the order of (parents' states..., own state), own state fastest and
-- the first parent slowest, so row r (1-based) of a variable is the parents' configuration
--   r = 1 + sum over parents p of (state_p - 1) * stride_p,
-- where the last parent's stride is 1 and each earlier one's is the product of the later
-- parents' state counts. Variables may come in any order; they are kept in the spec's order and
-- a topological order is computed once.
local cjson = require("cjson").new()

local M = {}

local WHERE = "bayes.network"
local SUM_TOLERANCE = 1e-6   -- a CPT row may sum to 1 within this (JSON decimals round)

local function fail(fmt, ...)
  error(WHERE .. ": " .. fmt:format(...), 0)
end

local function read_json(path)
  local f, err = io.open(path, "rb")
  if not f then fail("cannot read '%s': %s", path, err) end
  local text = f:read("a")
  f:close()
  local ok, spec = pcall(cjson.decode, text)
  if not ok then fail("'%s' is not valid JSON: %s", path, spec) end
  return spec
end

local function check_list(v, what, name)
  if type(v) ~= "table" then
    fail("variable '%s': expected %s as a list, got %s", name, what, type(v))
  end
  for i = 1, #v do
    if v[i] == nil then fail("variable '%s': %s has a hole at %d", name, what, i) end
  end
  return v
end

-- Describes row r of variable v's CPT as "parent=state, ..." for error messages.
local function describe_row(net, v, r)
  local parts, rest = {}, r - 1
  for k = #v.parents, 1, -1 do
    local p = net.variables[v.parents[k]]
    local s = rest % p.nstates
    rest = rest // p.nstates
    table.insert(parts, 1, p.name .. "=" .. p.states[s + 1])
  end
  return #parts > 0 and table.concat(parts, ", ") or "(no parents)"
end

local function parse_variable(raw, i)
  if type(raw) ~= "table" then fail("variable %d: expected a table, got %s", i, type(raw)) end
  local name = raw.name
  if type(name) ~= "string" or name == "" then
    fail("variable %d: expected a name (a non-empty string), got %s", i, tostring(name))
  end
  for k in pairs(raw) do
    if k ~= "name" and k ~= "states" and k ~= "parents" and k ~= "cpt" then
      fail("variable '%s': unknown field '%s' (expected name, states, parents, cpt)", name,
        tostring(k))
    end
  end
  local states = check_list(raw.states, "states", name)
  if #states < 1 then fail("variable '%s': expected at least one state", name) end
  local index = {}
  for s, st in ipairs(states) do
    if type(st) ~= "string" then
      fail("variable '%s': state %d must be a string, got %s", name, s, type(st))
    end
    if index[st] then fail("variable '%s': state '%s' appears twice", name, st) end
    index[st] = s
  end
  return {
    name = name, states = states, state_index = index, nstates = #states,
    parent_names = check_list(raw.parents or {}, "parents", name),
    cpt_list = check_list(raw.cpt, "cpt", name),
  }
end

local function link_parents(net)
  for _, v in ipairs(net.variables) do
    v.parents, v.children = {}, {}
  end
  for i, v in ipairs(net.variables) do
    local seen = {}
    for _, pname in ipairs(v.parent_names) do
      local p = net.index[pname]
      if not p then fail("variable '%s' has an unknown parent '%s'", v.name, tostring(pname)) end
      if p == i then fail("variable '%s' is its own parent", v.name) end
      if seen[p] then fail("variable '%s' lists parent '%s' twice", v.name, pname) end
      seen[p] = true
      v.parents[#v.parents + 1] = p
      table.insert(net.variables[p].children, i)
    end
  end
end

-- Kahn's algorithm; what is left when no variable is free lies on or behind a cycle, and a walk
-- along parents among those finds one to name.
local function topological_order(net)
  local vars, pending, order, ready = net.variables, {}, {}, {}
  for i, v in ipairs(vars) do
    pending[i] = #v.parents
    if pending[i] == 0 then ready[#ready + 1] = i end
  end
  local head = 1
  while head <= #ready do
    local i = ready[head]
    head = head + 1
    order[#order + 1] = i
    for _, c in ipairs(vars[i].children) do
      pending[c] = pending[c] - 1
      if pending[c] == 0 then ready[#ready + 1] = c end
    end
  end
  if #order == #vars then return order end
  local start
  for i = 1, #vars do
    if pending[i] > 0 then start = i break end
  end
  local step, at, path = {}, start, {}
  while not step[at] do       -- follow unresolved parents until one repeats
    step[at] = #path + 1
    path[#path + 1] = at
    for _, p in ipairs(vars[at].parents) do
      if pending[p] > 0 then at = p break end
    end
  end
  local cycle = {}
  for k = #path, step[at], -1 do cycle[#cycle + 1] = vars[path[k]].name end
  cycle[#cycle + 1] = vars[at].name
  fail("the network has a cycle: %s", table.concat(cycle, " -> "))
end

local function build_cpt(net, v)
  v.strides, v.nrows = {}, 1
  for k = #v.parents, 1, -1 do
    v.strides[k] = v.nrows
    v.nrows = v.nrows * net.variables[v.parents[k]].nstates
  end
  local want = v.nrows * v.nstates
  if #v.cpt_list ~= want then
    fail("variable '%s': cpt has %d entries, expected %d (%d parent configurations x %d states)",
      v.name, #v.cpt_list, want, v.nrows, v.nstates)
  end
  v.cpt, v.deterministic = v.cpt_list, true
  for r = 1, v.nrows do
    local sum, ones = 0.0, 0
    for s = 1, v.nstates do
      local x = v.cpt[(r - 1) * v.nstates + s]
      if type(x) ~= "number" or not (x >= 0 and x <= 1) then
        fail("variable '%s': cpt entry for %s, %s=%s must be a probability in [0, 1], got %s",
          v.name, describe_row(net, v, r), v.name, v.states[s], tostring(x))
      end
      sum = sum + x
      if x == 1 then ones = ones + 1 end
    end
    if math.abs(sum - 1) > SUM_TOLERANCE then
      fail("variable '%s': cpt row for %s sums to %.9g, expected 1", v.name,
        describe_row(net, v, r), sum)
    end
    if ones ~= 1 then v.deterministic = false end
  end
  v.cpt_list = nil
end

-- Builds a network from a spec table or the path of a JSON file holding one.
function M.new(spec)
  if type(spec) == "string" then spec = read_json(spec) end
  if type(spec) ~= "table" then
    fail("expected a spec table or a JSON file path, got %s", type(spec))
  end
  local raw = spec.variables
  if type(raw) ~= "table" or #raw == 0 then
    fail("expected spec.variables as a non-empty list of variables, got %s",
      type(raw) == "table" and "an empty table" or type(raw))
  end
  local net = { variables = {}, index = {} }
  for i, r in ipairs(raw) do
    local v = parse_variable(r, i)
    if net.index[v.name] then fail("variable '%s' appears twice", v.name) end
    net.variables[i], net.index[v.name] = v, i
  end
  link_parents(net)
  net.order = topological_order(net)
  for _, v in ipairs(net.variables) do build_cpt(net, v) end
  return net
end

-- The variable named `name` (its index and record), or an error naming what the caller asked.
function M.variable(net, name, what)
  local i = net.index[name]
  if not i then
    fail("%s: unknown variable '%s'", what, tostring(name))
  end
  return i, net.variables[i]
end

-- Evidence {var = "state", ...} as {[variable index] = state index}, checked.
function M.evidence(net, evidence, where)
  local out = {}
  if evidence == nil then return out end
  if type(evidence) ~= "table" then
    error(("%s: expected evidence as a table {variable = \"state\"}, got %s"):format(where,
      type(evidence)), 0)
  end
  for name, state in pairs(evidence) do
    local i = net.index[name]
    if not i then
      error(("%s: evidence on an unknown variable '%s'"):format(where, tostring(name)), 0)
    end
    local v = net.variables[i]
    local s = v.state_index[state]
    if not s then
      error(("%s: evidence %s = '%s': '%s' has no state '%s' (states: %s)"):format(where, name,
        tostring(state), name, tostring(state), table.concat(v.states, ", ")), 0)
    end
    out[i] = s
  end
  return out
end

-- The variables that matter for a query: the query, the evidence and all their ancestors
-- (others are barren: summing them out gives 1). As a set of indices.
function M.relevant(net, query, evidence)
  local keep, stack = {}, { query }
  for i in pairs(evidence) do stack[#stack + 1] = i end
  while #stack > 0 do
    local i = table.remove(stack)
    if not keep[i] then
      keep[i] = true
      for _, p in ipairs(net.variables[i].parents) do stack[#stack + 1] = p end
    end
  end
  return keep
end

return M
