-- tide.ps.server: what a server rank of a parameter server keeps and how it answers.
--
-- The server holds the keys placed on it (value, the update rule's state, a version counter:
-- the updates applied) and every worker's clock (the clock() calls it has made). Handlers
-- take requests already received (tide.ps moves the bytes, from this rank or another), so a
-- rank that both serves and works answers itself without messages.
--
-- Consistency: "async" applies every push on arrival and never holds a worker. SSP(s) applies
-- on arrival too, and answers a worker's clock c once the slowest worker has reached c - s.
-- "bsp" (and SSP(0), the same) keeps clock t's pushes per worker and applies them when every
-- worker has reached clock t + 1: the gradients summed in worker-rank order (the first
-- worker's, plus the next's, ...), then the rule applied once, so the result does not depend on
-- the order messages came in and equals a data-parallel loop that sums in the same order.
local tide = require "tide"
local rules = require "tide.ps.rules"

local Server = {}
Server.__index = Server

function Server.new(n_workers, mode, staleness, reply)
  local s = setmetatable({ keys = {}, n_workers = n_workers, mode = mode, staleness = staleness,
    reply = reply, wclock = {}, closed = 0, applied = 0, buffered = {}, waiting = {} }, Server)
  for w = 1, n_workers do s.wclock[w] = 0 end
  return s
end

function Server:declare(id, name, value, rule, hp)
  self.keys[id] = { name = name, value = value:clone(), rule = rule, hp = hp, state = {},
    version = 0 }
end

function Server:key(id, op)
  local k = self.keys[id]
  if not k then
    error(("ps: a %s for key #%d, which this server does not hold (every rank must init the "
      .. "same keys, in the same order, before any push or pull)"):format(op, id), 0)
  end
  return k
end

-- The pushes of clock t, per key and worker: {dense = {[w] = sum}, rows = {[w] = {idx, grad}...}}
function Server:slot(t, id)
  local by_key = self.buffered[t] or {}
  self.buffered[t] = by_key
  local slot = by_key[id] or { dense = {}, rows = {} }
  by_key[id] = slot
  return slot
end

function Server:push(w, id, t, grad)
  local k = self:key(id, "push")
  if self.mode == "bsp" then
    local slot = self:slot(t, id)
    if slot.dense[w] then slot.dense[w]:add_(grad) else slot.dense[w] = grad:clone() end
    return
  end
  k.rule(k.value, grad, k.state, k.hp)
  k.version = k.version + 1
end

function Server:push_rows(w, id, t, idx, grad)
  local k = self:key(id, "push_rows")
  if self.mode == "bsp" then
    local rows = self:slot(t, id).rows
    rows[w] = rows[w] or {}
    table.insert(rows[w], { idx, grad })
    return
  end
  local uniq, sum = rules.coalesce_rows(idx, grad)
  rules.apply_rows(k.rule, k.value, uniq, sum, k.state, k.hp)
  k.version = k.version + 1
end

function Server:pull(id)
  return self:key(id, "pull").value
end

function Server:pull_rows(id, idx)
  return self:key(id, "pull_rows").value:index_select(1, idx)
end

-- Stacks lists of row pushes (in the order given) into one index and one gradient tensor.
local function stack(list)
  local n = 0
  for _, p in ipairs(list) do n = n + p[1]:numel() end
  local shape = list[1][2]:shape()
  shape[1] = n
  local idx, grad, at = tide.zeros({ n }, "i64"), tide.zeros(shape, list[1][2]:dtype()), 0
  for _, p in ipairs(list) do
    local m = p[1]:numel()
    if m > 0 then
      idx:narrow(1, at + 1, m):copy_(p[1])
      grad:narrow(1, at + 1, m):copy_(p[2])
    end
    at = at + m
  end
  return idx, grad
end

-- Applies clock t's buffered pushes, key by key in id order, workers in rank order.
function Server:apply_clock(t)
  local by_key = self.buffered[t] or {}
  self.buffered[t] = nil
  local ids = {}
  for id in pairs(by_key) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do
    local k, slot = self.keys[id], by_key[id]
    local total, list = nil, {}
    for w = 1, self.n_workers do
      local g = slot.dense[w]
      if g then
        if total then total:add_(g) else total = g end
      end
      for _, p in ipairs(slot.rows[w] or {}) do list[#list + 1] = p end
    end
    if total then
      k.rule(k.value, total, k.state, k.hp)
      k.version = k.version + 1
    end
    if #list > 0 then
      local uniq, sum = rules.coalesce_rows(stack(list))
      rules.apply_rows(k.rule, k.value, uniq, sum, k.state, k.hp)
      k.version = k.version + 1
    end
  end
end

-- The slowest worker's clock (a closed worker no longer holds anyone back).
function Server:min_clock()
  local m = math.huge
  for w = 1, self.n_workers do m = math.min(m, self.wclock[w]) end
  return m
end

-- Whether a worker that has reached clock c may go on.
function Server:may_go(c)
  local m = self:min_clock()
  if self.mode == "bsp" then return self.applied >= c end
  return m >= c - self.staleness
end

function Server:progress()
  if self.mode == "bsp" then
    local m = self:min_clock()
    if m == math.huge then   -- every worker closed: what is left goes in, in clock order
      local ts = {}
      for t in pairs(self.buffered) do ts[#ts + 1] = t end
      table.sort(ts)
      for _, t in ipairs(ts) do self:apply_clock(t) end
    else
      while self.applied < m do
        self:apply_clock(self.applied)
        self.applied = self.applied + 1
      end
    end
  end
  local still = {}
  for _, wait in ipairs(self.waiting) do
    if self:may_go(wait.c) then self.reply(wait.src) else still[#still + 1] = wait end
  end
  self.waiting = still
end

function Server:clock(w, c, src)
  self.wclock[w] = c
  self.waiting[#self.waiting + 1] = { src = src, c = c }
  self:progress()
end

function Server:close(w)
  self.wclock[w] = math.huge
  self.closed = self.closed + 1
  self:progress()
end

function Server:all_closed()
  return self.closed == self.n_workers
end

return Server
