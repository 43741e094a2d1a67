-- tide.federated.split: non-IID splits of a labelled data set over simulated clients.
--
-- dirichlet{labels, clients, alpha, seed = 0, classes}: for every class, the class's samples
-- are shuffled and cut among the clients in proportions drawn from Dirichlet(alpha, ..., alpha)
-- (Hsu, Qi and Brown 2019, the split FedML and Flower use): small alpha gives each client a few
-- classes, large alpha nearly the global mix. Every sample goes to exactly one client. The
-- draws come from tide.rng(seed) alike on every rank, so every rank computes the same split.
local tide = require "tide"
local args = require "tide.args"

local M = {}

-- A stream of uniform numbers in (0, 1) from a generator, drawn in blocks.
local function uniforms(g)
  local buf, i = nil, 0
  return function()
    if buf == nil or i == #buf then
      buf, i = tide.rand({ 1024 }, { generator = g, dtype = "f64" }):totable(), 0
    end
    i = i + 1
    local u = buf[i]
    if u <= 0 then u = 2 ^ -53 end
    return u
  end
end

-- A standard normal by Box-Muller from two uniforms.
local function normal(u)
  return math.sqrt(-2 * math.log(u())) * math.cos(2 * math.pi * u())
end

-- Gamma(a, 1) by Marsaglia and Tsang (2000); for a < 1, Gamma(a + 1) * U^(1/a).
local function gamma(a, u)
  if a < 1 then return gamma(a + 1, u) * u() ^ (1 / a) end
  local d = a - 1 / 3
  local c = 1 / math.sqrt(9 * d)
  while true do
    local x, v
    repeat
      x = normal(u)
      v = 1 + c * x
    until v > 0
    v = v * v * v
    local w = u()
    if w < 1 - 0.0331 * x ^ 4 or math.log(w) < 0.5 * x * x + d * (1 - v + math.log(v)) then
      return d * v
    end
  end
end

-- One draw of Dirichlet(alpha, ..., alpha) over k components, as a Lua list.
local function dirichlet(alpha, k, u)
  local p, sum = {}, 0
  for i = 1, k do
    p[i] = gamma(alpha, u)
    sum = sum + p[i]
  end
  for i = 1, k do p[i] = p[i] / sum end
  return p
end
M.sample_dirichlet = function(alpha, k, g) return dirichlet(alpha, k, uniforms(g)) end

local Split = {}
Split.__index = Split
Split.__name = "federated.Split"

function M.dirichlet(opts)
  local where = "federated.dirichlet"
  opts = args.check_opts(opts, { labels = true, clients = true, alpha = true, seed = true,
    classes = true }, where)
  local labels = opts.labels
  if not tide.is_tensor(labels) or labels:dim() ~= 1 then
    error(where .. ": labels expected a 1-D tensor of class labels (1-based), got " ..
      args.tensor_desc(labels), 2)
  end
  local clients = args.integer(opts.clients, "clients", where, 1)
  local alpha = args.number(opts.alpha, "alpha", where, nil, "> 0")
  local seed = args.seed(opts.seed, where)
  local classes = opts.classes or math.tointeger(labels:max())
  local g = tide.rng(seed, { same_on_all_ranks = true })
  local u = uniforms(g)
  local lab = labels:totable()
  local by_class = {}
  for c = 1, classes do by_class[c] = {} end
  for i, y in ipairs(lab) do
    local c = math.tointeger(y)
    if c == nil or c < 1 or c > classes then
      error(("%s: label %s of sample %d is outside 1..%d"):format(where, tostring(y), i,
        classes), 2)
    end
    local list = by_class[c]
    list[#list + 1] = i
  end
  local parts = {}
  for k = 1, clients do parts[k] = {} end
  for c = 1, classes do
    local idx = by_class[c]
    -- shuffle (Fisher-Yates on the stream), then cut at the cumulative proportions
    for i = #idx, 2, -1 do
      local j = math.floor(u() * i) + 1
      idx[i], idx[j] = idx[j], idx[i]
    end
    local p = dirichlet(alpha, clients, u)
    local start, acc = 1, 0
    for k = 1, clients do
      acc = acc + p[k]
      local stop = k == clients and #idx or math.floor(acc * #idx + 0.5)
      local part = parts[k]
      for i = start, stop do part[#part + 1] = idx[i] end
      start = math.max(start, stop + 1)
    end
  end
  local out = {}
  for k = 1, clients do
    table.sort(parts[k])
    out[k] = #parts[k] > 0 and tide.tensor(parts[k], "i64") or tide.empty({ 0 }, "i64")
  end
  return setmetatable({ parts = out, clients = clients, alpha = alpha }, Split)
end

-- split:indices(id) -> client id's sample indices (i64, 1-based); ids are 1..clients.
function Split:indices(id)
  if math.type(id) ~= "integer" or id < 1 or id > self.clients then
    error(("federated.Split.indices: client id expected an integer in 1..%d, got %s"):format(
      self.clients, tostring(id)), 2)
  end
  return self.parts[id]
end

function Split:__len() return self.clients end

return M
