-- tide.ps: a parameter server. Servers hold keyed tensors; workers push gradients and pull
-- values; the same script runs on every rank.
--
--   local ps = tide.ps.new(comm, {servers = 1, consistency = "bsp", placement = policy})
--   ps:init("w", tide.zeros({1 << 20}, "f64"), {rule = "sgd", lr = 0.1})   -- every rank
--   for t = 1, T do
--     if ps:is_worker() then
--       local w = ps:pull("w"); ...; ps:push("w", grad)
--     end
--     ps:clock()
--   end
--   ps:close()
--
-- Roles: servers = S makes ranks 0 .. S-1 of comm servers and the others workers; S = comm.size
-- makes every rank both. Keys are placed on servers by a tide.placement policy (default
-- cyclic: the i-th key declared goes to server i mod S) over key numbers 0, 1, ... in the order
-- they were declared. Consistency: "bsp", "async" or {ssp = s} (tide/ps/server.lua says what
-- each promises; {ssp = 0} is "bsp"). coalesce (bytes, default 4096, 0 = never): dense pushes
-- this small wait and go to their server together, one message per server and dtype, when the
-- rank next pulls from it, calls clock() or close(), or ps:flush(). Rules: "sgd" (default),
-- "momentum", "adagrad" or a function(value, grad, state, hp) changing value in place
-- (tide.ps.rules). ps:save(dir) / ps:load(dir) keep the servers' state.
--
-- Transport: tensor point to point on a duplicate of comm, so no other traffic can match it.
-- Each request is a 4-number header (op, key, clock, rows) and then the tensors themselves,
-- sent from and received into tensor storage (the pulled value lands in `out`). A rank that
-- waits (for a pulled value, an acknowledged clock, sends to complete) serves requests
-- meanwhile when it is a server, so ranks that both serve and work never deadlock; a server
-- rank serves inside clock() and close(). There is no progress thread: Lua states are not
-- shared between threads, and a server only answers while the script is in a ps call.
local tide = require "tide"
local args = require "tide.args"
local rules = require "tide.ps.rules"
local Server = require "tide.ps.server"

local M = { rules = rules }

local OP_PUSH, OP_PULL, OP_PUSH_ROWS, OP_PULL_ROWS, OP_CLOCK, OP_CLOSE, OP_PUSH_MANY =
  1, 2, 3, 4, 5, 6, 7
local TAG_REQ, TAG_DATA, TAG_REPLY, TAG_ACK = 32001, 32002, 32003, 32004
local ITEMSIZE = { f32 = 4, f64 = 8, i32 = 4, i64 = 8, u8 = 1 }
local STAGED_MAX = 1 << 16   -- bytes staged for one server before they go without waiting
local RULES = { sgd = rules.sgd, momentum = rules.momentum, adagrad = rules.adagrad }

local PS = {}
PS.__index = PS
PS.__name = "tide.ps"

local function shape_str(dtype, shape)
  local parts = {}
  for i, n in ipairs(shape) do parts[i] = tostring(n) end
  return ("%s [%s]"):format(dtype, table.concat(parts, ", "))
end

local function parse_consistency(c, where)
  if c == nil or c == "bsp" then return "bsp", 0 end
  if c == "async" then return "async", math.huge end
  if type(c) == "table" then
    args.check_opts(c, { ssp = true }, where .. ": consistency", 4)
    local s = args.integer(c.ssp, "consistency.ssp", where, 0, nil, 4)
    if s == 0 then return "bsp", 0 end
    return "ssp", s
  end
  error(("%s: consistency must be \"bsp\", \"async\" or {ssp = s}, got %s"):format(where,
    tostring(c)), 3)
end

--- A parameter server over comm (collective: every rank of comm calls it).
function M.new(comm, opts, ...)
  args.at_most("ps.new", 2, ...)
  local where = "ps.new"
  if type(comm) ~= "userdata" or comm.size == nil then
    error(where .. ": expected a communicator, got " .. type(comm), 2)
  end
  opts = args.check_opts(opts, { servers = true, placement = true, consistency = true,
    coalesce = true }, where)
  local P = comm.size
  local S = args.integer(opts.servers, "servers", where, 1, 1)
  if S > P then
    error(("%s: servers = %d, but the communicator has %d ranks"):format(where, S, P), 2)
  end
  local placement = opts.placement or require("tide.placement").cyclic()
  if type(placement) ~= "table" or type(placement.assign) ~= "function" then
    error(where .. ": placement must be a tide.placement policy (a table with assign), got "
      .. type(placement), 2)
  end
  local mode, s = parse_consistency(opts.consistency, where)
  local coalesce = args.integer(opts.coalesce, "coalesce", where, 0, 4096)
  local self = setmetatable({ comm = comm:dup(), rank = comm.rank, size = P, S = S, mode = mode,
    staleness = s, placement = placement, keys = {}, by_name = {}, clock_count = 0,
    servers = {}, workers = {}, widx = {}, hdr_out = tide.zeros({ 4 }, "i64"),
    coalesce = coalesce, staged = {}, sending = {} }, PS)
  for r = 0, S - 1 do self.servers[#self.servers + 1] = r end
  for r = (S == P) and 0 or S, P - 1 do
    self.workers[#self.workers + 1] = r
    self.widx[r] = #self.workers
  end
  self.is_server_ = self.rank < S
  self.is_worker_ = self.widx[self.rank] ~= nil
  if self.is_server_ then
    self.server = Server.new(#self.workers, mode, s, function(src) self:ack(src) end)
    self.hdr_in = tide.zeros({ 4 }, "i64")
    self.hdr_req = self.comm:irecv(self.hdr_in, tide.ANY, TAG_REQ)
  end
  return self
end

function PS:is_server() return self.is_server_ end
function PS:is_worker() return self.is_worker_ end
function PS:__tostring()
  return ("tide.ps (%d servers, %d workers, %s, rank %d: %s)"):format(#self.servers,
    #self.workers, self.mode == "ssp" and "ssp " .. self.staleness or self.mode, self.rank,
    self.is_server_ and (self.is_worker_ and "server and worker" or "server") or "worker")
end

-- ---------------------------------------------------------------- keys

local INIT_OPTS = { rule = true, lr = true, momentum = true, eps = true }

--- Declares key with its initial value (the owner server's tensor is the one kept); every
--- rank calls it for the same keys in the same order, before any push or pull.
function PS:init(key, value, opts)
  local where = "ps:init"
  if type(key) ~= "string" and math.type(key) ~= "integer" then
    error(where .. ": expected a key (a string or an integer), got " .. type(key), 2)
  end
  if self.by_name[key] then
    error(("%s: key '%s' is already declared"):format(where, tostring(key)), 2)
  end
  if not tide.is_tensor(value) then
    error(("%s: key '%s': expected a tensor, got %s"):format(where, tostring(key), type(value)), 2)
  end
  opts = args.check_opts(opts, INIT_OPTS, where)
  local rule = opts.rule or "sgd"
  if type(rule) == "string" then
    if not RULES[rule] then
      error(("%s: rule must be \"sgd\", \"momentum\", \"adagrad\" or a function, got \"%s\""):format(
        where, rule), 2)
    end
    rule = RULES[rule]
  elseif type(rule) ~= "function" then
    error(where .. ": rule must be \"sgd\", \"momentum\", \"adagrad\" or a function, got "
      .. type(rule), 2)
  end
  local hp = { lr = args.number(opts.lr, "lr", where, 0.01),
    momentum = args.number(opts.momentum, "momentum", where, 0.9),
    eps = args.number(opts.eps, "eps", where, 1e-10, "> 0") }
  local id = #self.keys
  local ids = tide.arange(0, id + 1):to("i64")
  local server = self.servers[self.placement:assign(ids, #self.servers):get(id + 1) + 1]
  if server == nil then
    error(("%s: placement put key '%s' on server %s, expected 0..%d"):format(where,
      tostring(key), tostring(self.placement:assign(ids, #self.servers):get(id + 1)),
      #self.servers - 1), 2)
  end
  local k = { id = id, name = key, server = server, dtype = value:dtype(), shape = value:shape(),
    itemsize = ITEMSIZE[value:dtype()] }
  self.keys[id + 1] = k
  self.by_name[key] = k
  if server == self.rank then
    self.server:declare(id, key, value, rule, hp)
  end
  return self
end

-- The key's record, or an error naming it and the keys there are.
function PS:key(key, where)
  local k = self.by_name[key]
  if not k then
    local names = {}
    for _, x in ipairs(self.keys) do names[#names + 1] = tostring(x.name) end
    error(("ps:%s: unknown key '%s' (declared: %s)"):format(where, tostring(key),
      #names > 0 and table.concat(names, ", ") or "none"), 3)
  end
  if not self.is_worker_ then
    error(("ps:%s: rank %d is a server only; the workers are ranks %s"):format(where, self.rank,
      table.concat(self.workers, ", ")), 3)
  end
  if self.closed then
    error(("ps:%s: this parameter server is closed"):format(where), 3)
  end
  return k
end

local function check_tensor(t, k, what, where, shape)
  if not tide.is_tensor(t) then
    error(("ps:%s: key '%s': expected %s as a tensor, got %s"):format(where, tostring(k.name),
      what, type(t)), 4)
  end
  shape = shape or k.shape
  local got, ok = t:shape(), t:dtype() == k.dtype and #t:shape() == #shape
  for i = 1, #shape do ok = ok and got[i] == shape[i] end
  if not ok then
    error(("ps:%s: key '%s' expects %s %s, got %s"):format(where, tostring(k.name), what,
      shape_str(k.dtype, shape), shape_str(t:dtype(), got)), 4)
  end
end

-- Row indices: a 1-D integer tensor of 1-based rows of the key, as i64.
local function check_rows(idx, k, where)
  if not tide.is_tensor(idx) or #idx:shape() ~= 1 or not idx:dtype():match("^[iu]") then
    error(("ps:%s: key '%s': expected the rows as a 1-D integer tensor, got %s"):format(where,
      tostring(k.name), tide.is_tensor(idx) and shape_str(idx:dtype(), idx:shape()) or type(idx)), 4)
  end
  if #k.shape < 1 then
    error(("ps:%s: key '%s' is a scalar and has no rows"):format(where, tostring(k.name)), 4)
  end
  idx = idx:to("i64")
  if idx:numel() > 0 then
    local lo, hi = idx:min(), idx:max()
    if lo < 1 or hi > k.shape[1] then
      error(("ps:%s: key '%s' has rows 1..%d, got row %d"):format(where, tostring(k.name),
        k.shape[1], lo < 1 and lo or hi), 4)
    end
  end
  return idx
end

local function row_shape(k, n)
  local shape = { n }
  for i = 2, #k.shape do shape[i] = k.shape[i] end
  return shape
end

-- ---------------------------------------------------------------- moving requests

-- Answers one request if one has come (servers only); true when it did.
function PS:serve_once()
  if not self.is_server_ then return false end
  local done, hdr, src = self.hdr_req:test()
  if not done then return false end
  local op, id, t, n = hdr:get(1), hdr:get(2), hdr:get(3), hdr:get(4)
  self.hdr_req = self.comm:irecv(self.hdr_in, tide.ANY, TAG_REQ)   -- hdr read: post the next
  local srv, comm, w = self.server, self.comm, self.widx[src]
  if op == OP_PUSH then
    local k = srv:key(id, "push")
    k.scratch = k.scratch or k.value:clone()
    comm:recv(k.scratch, src, TAG_DATA)
    srv:push(w, id, t, k.scratch)
  elseif op == OP_PUSH_MANY then   -- n small keys of one dtype: their ids, then their values
    local ids = comm:recv(tide.zeros({ n }, "i64"), src, TAG_DATA):totable()
    local keys, total = {}, 0
    for i, kid in ipairs(ids) do
      keys[i] = srv:key(kid, "push")
      total = total + keys[i].value:numel()
    end
    local flat = comm:recv(tide.zeros({ total }, keys[1].value:dtype()), src, TAG_DATA)
    local at = 0
    for i, k in ipairs(keys) do
      local m = k.value:numel()
      srv:push(w, ids[i], t, flat:narrow(1, at + 1, m):reshape(k.value:shape()))
      at = at + m
    end
  elseif op == OP_PULL then
    comm:send(srv:pull(id), src, TAG_REPLY)
  elseif op == OP_PUSH_ROWS then
    local k = srv:key(id, "push_rows")
    local idx = comm:recv(tide.zeros({ n }, "i64"), src, TAG_DATA)
    local shape = k.value:shape()
    shape[1] = n
    local grad = comm:recv(tide.zeros(shape, k.value:dtype()), src, TAG_DATA)
    srv:push_rows(w, id, t, idx, grad)
  elseif op == OP_PULL_ROWS then
    local idx = comm:recv(tide.zeros({ n }, "i64"), src, TAG_DATA)
    comm:send(srv:pull_rows(id, idx), src, TAG_REPLY)
  elseif op == OP_CLOCK then
    srv:clock(w, t, src)
  elseif op == OP_CLOSE then
    srv:close(w)
  else
    error(("ps: server rank %d got an unknown request %d from rank %d"):format(self.rank, op, src), 0)
  end
  return true
end

-- Waits for every request in reqs, serving meanwhile.
function PS:wait(reqs)
  for _, r in ipairs(reqs) do
    while not r:test() do self:serve_once() end
  end
end

function PS:send_header(dst, op, id, n)
  local h = self.hdr_out
  h:set_(1, op)
  h:set_(2, id)
  h:set_(3, self.clock_count)
  h:set_(4, n or 0)
  self.comm:send(h, dst, TAG_REQ)
end

-- A clock acknowledged: to this rank's own worker side, or a message to another rank.
function PS:ack(src)
  if src == self.rank then
    self.self_acked = true
  else
    self.comm:send(tide.zeros({ 1 }, "i64"), src, TAG_ACK)
  end
end

-- ---------------------------------------------------------------- coalescing

-- Small pushes wait, per server and dtype, and go as one message (ids, then the values end to
-- end) when the rank next talks to that server (a pull, a clock, close) or when their buffer
-- (64 KiB, or room for one push of the coalesce size) is full. The push returns without
-- waiting for the send (the values were copied), as an eager MPI_Send of a small message does.
function PS:stage(k, grad)
  local by_dtype = self.staged[k.server] or {}
  self.staged[k.server] = by_dtype
  local st = by_dtype[k.dtype]
  if not st then   -- a fresh buffer per batch: the last one may still be on its way
    local cap = math.max(STAGED_MAX // k.itemsize, self.coalesce // k.itemsize)
    st = { ids = {}, buf = tide.zeros({ cap }, k.dtype), numel = 0 }
    by_dtype[k.dtype] = st
  end
  local m = grad:numel()
  if st.numel + m > st.buf:numel() then
    self:flush(k.server)
    return self:stage(k, grad)
  end
  st.ids[#st.ids + 1] = k.id
  if not grad:is_contiguous() then grad = grad:contiguous() end
  st.buf:narrow(1, st.numel + 1, m):copy_(grad:reshape({ m }))
  st.numel = st.numel + m
end

--- Sends the small pushes waiting for server (every server when nil).
function PS:flush(server)
  if server == nil then
    for _, s in ipairs(self.servers) do self:flush(s) end
    return
  end
  local by_dtype = self.staged[server]
  if not by_dtype then return end
  self.staged[server] = nil
  local dtypes = {}
  for dtype in pairs(by_dtype) do dtypes[#dtypes + 1] = dtype end
  table.sort(dtypes)
  for _, dtype in ipairs(dtypes) do
    local st = by_dtype[dtype]
    self:send_header(server, OP_PUSH_MANY, 0, #st.ids)
    self:reap()
    local sending = self.sending
    sending[#sending + 1] = self.comm:isend(tide.tensor(st.ids, "i64"), server, TAG_DATA)
    sending[#sending + 1] = self.comm:isend(st.buf:narrow(1, 1, st.numel), server, TAG_DATA)
  end
end

-- Forgets the coalesced sends that have completed (their buffers were fresh, so nothing waits
-- for them; clock() and close() wait for the rest).
function PS:reap()
  local still = {}
  for _, r in ipairs(self.sending) do
    if not r:test() then still[#still + 1] = r end
  end
  self.sending = still
end

-- ---------------------------------------------------------------- the worker's calls

--- Sends grad for key to its server (applied by the key's rule, when the consistency allows).
function PS:push(key, grad)
  local k = self:key(key, "push")
  check_tensor(grad, k, "a gradient", "push")
  if k.server == self.rank then
    self.server:push(self.widx[self.rank], k.id, self.clock_count, grad)
    return
  end
  if grad:numel() * k.itemsize <= self.coalesce then
    self:stage(k, grad)
    return
  end
  self:send_header(k.server, OP_PUSH, k.id)
  self:wait { self.comm:isend(grad, k.server, TAG_DATA) }
end

--- The key's value: into out when given (of the key's shape and dtype), else a new tensor.
function PS:pull(key, out)
  local k = self:key(key, "pull")
  if out == nil then
    out = tide.zeros(k.shape, k.dtype)
  else
    check_tensor(out, k, "out", "pull")
  end
  if k.server == self.rank then
    return out:copy_(self.server:pull(k.id))
  end
  self:flush(k.server)
  local req = self.comm:irecv(out, k.server, TAG_REPLY)
  self:send_header(k.server, OP_PULL, k.id)
  self:wait { req }
  return out
end

--- push then pull (the value after this push, when the consistency applies pushes at once).
function PS:push_pull(key, grad, out)
  self:push(key, grad)
  return self:pull(key, out)
end

--- Sends gradients for some rows of key: idx (1-D integer tensor of 1-based rows, repeats
--- allowed: their gradients add up) and grads (#idx rows of the key's row shape).
function PS:push_rows(key, idx, grads)
  local k = self:key(key, "push_rows")
  idx = check_rows(idx, k, "push_rows")
  check_tensor(grads, k, "gradients", "push_rows", row_shape(k, idx:numel()))
  if k.server == self.rank then
    self.server:push_rows(self.widx[self.rank], k.id, self.clock_count, idx, grads)
    return
  end
  self:flush(k.server)
  self:send_header(k.server, OP_PUSH_ROWS, k.id, idx:numel())
  self:wait { self.comm:isend(idx, k.server, TAG_DATA), self.comm:isend(grads, k.server, TAG_DATA) }
end

--- The rows idx (1-D integer tensor of 1-based rows) of key: into out when given, else new.
function PS:pull_rows(key, idx, out)
  local k = self:key(key, "pull_rows")
  idx = check_rows(idx, k, "pull_rows")
  local shape = row_shape(k, idx:numel())
  if out == nil then
    out = tide.zeros(shape, k.dtype)
  else
    check_tensor(out, k, "out", "pull_rows", shape)
  end
  if k.server == self.rank then
    if idx:numel() > 0 then out:copy_(self.server:pull_rows(k.id, idx)) end
    return out
  end
  self:flush(k.server)
  local req = self.comm:irecv(out, k.server, TAG_REPLY)
  self:send_header(k.server, OP_PULL_ROWS, k.id, idx:numel())
  self:wait { self.comm:isend(idx, k.server, TAG_DATA), req }
  return out
end

--- Ends this rank's iteration. A worker tells every server and, but in async mode, waits
--- until the consistency lets it go on; a server-only rank serves until every worker has
--- reached this clock (async: returns at once).
function PS:clock()
  if self.closed then error("ps:clock: this parameter server is closed", 2) end
  local c = self.clock_count + 1
  if not self.is_worker_ then
    self.clock_count = c
    if self.mode ~= "async" then
      while self.server:min_clock() < c do self:serve_once() end
    end
    return c
  end
  self:flush()
  self:wait(self.sending)
  self.sending = {}
  if self.mode == "async" then
    self.clock_count = c
    while self:serve_once() do end   -- a rank that also serves answers what has come
    return c
  end
  local reqs = {}
  for _, s in ipairs(self.servers) do
    if s ~= self.rank then
      reqs[#reqs + 1] = self.comm:irecv(tide.zeros({ 1 }, "i64"), s, TAG_ACK)
    end
  end
  self.clock_count = c   -- the header carries c
  self.self_acked = not self.is_server_
  for _, s in ipairs(self.servers) do
    if s == self.rank then
      self.server:clock(self.widx[s], c, s)
    else
      self:send_header(s, OP_CLOCK, 0)
    end
  end
  self:wait(reqs)
  while not self.self_acked do self:serve_once() end
  return c
end

--- Ends this rank's part: a worker tells every server it is done; a server serves until
--- every worker has closed. Collective; the ps is unusable afterwards.
function PS:close()
  if self.closed then return end
  if self.is_worker_ then
    self:flush()
    self:wait(self.sending)
    self.sending = {}
    for _, s in ipairs(self.servers) do
      if s == self.rank then
        self.server:close(self.widx[s])
      else
        self:send_header(s, OP_CLOSE, 0)
      end
    end
  end
  if self.is_server_ then
    while not self.server:all_closed() do self:serve_once() end
  end
  self.closed = true
end

--- A server's own view of key (nil when another server holds it): value and version (the
--- number of updates applied), for tests and checkpoints.
function PS:server_value(key)
  local k = self.by_name[key]
  if not k or not self.is_server_ or not self.server.keys[k.id] then return nil end
  local s = self.server.keys[k.id]
  return s.value, s.version
end

-- ---------------------------------------------------------------- saving server state

local function state_path(dir, rank)
  return ("%s/ps_server_%d.safetensors"):format(dir, rank)
end

--- Saves every server's keys (values, rule state, versions) under dir, one file per server
--- (tide.save's safetensors format, written then renamed into place). Collective: call it
--- where every rank is (between clocks); workers' pushes not yet applied are not in it.
function PS:save(dir)
  if type(dir) ~= "string" then error("ps:save: expected a directory, got " .. type(dir), 2) end
  self:flush()
  if self.is_server_ then
    tide.io.mkdirs(dir)
    local keys = {}
    for _, k in pairs(self.server.keys) do
      keys[#keys + 1] = { name = k.name, value = k.value, version = k.version, state = k.state }
    end
    tide.save(state_path(dir, self.rank), { keys = keys })
  end
  self.comm:barrier()
end

--- Restores what ps:save wrote into this ps (the same servers and keys, declared with init).
--- Collective. A key whose shape or dtype changed is an error naming it.
function PS:load(dir)
  if type(dir) ~= "string" then error("ps:load: expected a directory, got " .. type(dir), 2) end
  local ok, err = true, nil
  if self.is_server_ then
    ok, err = pcall(function()
      local saved = tide.load(state_path(dir, self.rank))
      for _, rec in ipairs(saved.keys) do
        local k = self.by_name[rec.name]
        local held = k and self.server.keys[k.id]
        if not held then
          error(("ps:load: %s holds key '%s', which server %d does not hold"):format(dir,
            tostring(rec.name), self.rank), 0)
        end
        local was, now = shape_str(rec.value:dtype(), rec.value:shape()), shape_str(k.dtype, k.shape)
        if was ~= now then
          error(("ps:load: key '%s' was saved as %s, declared as %s"):format(tostring(rec.name),
            was, now), 0)
        end
        held.value:copy_(rec.value)
        held.version = rec.version
        held.state = rec.state or {}
      end
    end)
  end
  local all = self.comm:allgather_obj(ok and "" or tostring(err))
  for r = 1, #all do
    if all[r] ~= "" then error(all[r], 2) end
  end
end

return M
