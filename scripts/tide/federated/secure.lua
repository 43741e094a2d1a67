-- tide.federated.secure: secure aggregation (Bonawitz et al. 2017, the semi-honest protocol
-- with dropouts), over libsodium (core/secure/secagg.h).
--
-- The server learns the sum of the surviving clients' vectors and nothing else:
-- 1. The server opens a session: a random session id and its X25519 key.
-- 2. Every client advertises two X25519 public keys: c (for the channels between clients and
--    with the server) and s (for the masks); the server passes the roster to everyone.
-- 3. Every client splits its mask secret key s_sk into Shamir shares (threshold t of n) and
--    sends share v to client v, sealed (secretbox) under their pairwise channel key, with the
--    session, sender and receiver inside: the server only forwards the boxes.
-- 4. Clients may drop out from here on. A surviving client u sends y_u = encode(x_u) +
--    sum over v > u of PRG(s_uv) - sum over v < u of PRG(s_uv) (mod 2^32), where s_uv is the
--    seed u and v agree by X25519 and PRG is ChaCha20; with it a MAC under its key with the
--    server over (session, u, BLAKE2b(y_u)). Every y_u alone is uniform in Z_2^32. (y_u is an
--    i32 tensor whose bits are the residues; all of a client's masks are added in one pass of
--    C over it, and the server adds the y_u up in C.)
-- 5. The server names the survivors; each survivor opens its boxes from the dropped clients
--    and sends those shares (MACed, with the session) to the server; never a survivor's share.
-- 6. The server rebuilds each dropped client's s_sk from t shares, recomputes its seeds with
--    the survivors and takes their masks back out: the sum of the y_u is then the sum of the
--    encoded inputs, which it decodes.
-- A message of another session (a replay), a second message from one client, a bad MAC or a
-- box that does not open is rejected with an error naming the client. Fixed point: values are
-- rounded to multiples of 1/scale (scale = 2^16 unless given), so the sum is exact to
-- clients / (2 scale) per element, and the sum must stay below 2^31 / scale in magnitude.
-- Over MPI the masked vectors travel as binary tensors (one alltoallv of every rank's rows to
-- the server); keys, boxes, shares and tags, a few dozen bytes each, as hex in JSON.
local tide = require "tide"
local args = require "tide.args"

local S = tide._internal.secure_kernels
local M = {}

local hex, unhex = S.hex, S.unhex       -- libsodium's bin2hex and hex2bin
M.hex, M.unhex = hex, unhex

local function nonce(sid, from, to)      -- 24 bytes naming the session and the pair
  return S.digest(tide.tensor({ from, to }, "i64")):sub(1, 8) .. sid:sub(1, 16)
end

local function reject(fmt, ...)
  error("secure_sum: rejected " .. fmt:format(...), 0)
end

-- ------------------------------------------------------------------ the server

local Server = {}
Server.__index = Server
M.Server = Server

-- Server.new{clients = n, threshold = t, scale = s}
function Server.new(o)
  local pk, sk = S.keypair()
  return setmetatable({ n = o.clients, t = o.threshold, scale = o.scale, sid = S.random(16),
    pk = pk, sk = sk, inputs = {}, shares = {}, keys = {} }, Server)
end

function Server:hello() return { sid = self.sid, pk = self.pk } end

-- roster(advertisements) -> the roster every client gets: {[id] = {c = pk, s = pk}}
function Server:roster(ads)
  local roster = {}
  for _, a in ipairs(ads) do
    if a.sid ~= self.sid then reject("an advertisement of client %d from another session", a.id) end
    if roster[a.id] then reject("a second advertisement of client %d", a.id) end
    if math.type(a.id) ~= "integer" or a.id < 1 or a.id > self.n then
      error(("secure_sum: client id expected an integer in 1..%d, got %s"):format(self.n,
        tostring(a.id)), 0)
    end
    roster[a.id] = { c = a.c, s = a.s }
    self.keys[a.id] = S.agree(self.sk, self.pk, a.c)
  end
  self.roster = roster
  return roster
end

-- Takes a client's masked input {sid, id, y, tag}.
function Server:receive_input(m)
  local key = self.keys[m.id]
  if not key then reject("an input from client %s, not in the roster", tostring(m.id)) end
  if m.sid ~= self.sid then reject("an input of client %d from another session", m.id) end
  if self.inputs[m.id] then reject("a second input of client %d (a replay)", m.id) end
  if not S.verify(m.tag, self.sid .. "input" .. m.id .. S.digest(m.y), key) then
    reject("the input of client %d: its MAC does not match", m.id)
  end
  self.inputs[m.id] = m.y
end

-- The clients whose inputs came, sorted.
function Server:survivors()
  local out = {}
  for id in pairs(self.inputs) do out[#out + 1] = id end
  table.sort(out)
  self.alive = out
  return out
end

-- Takes a survivor's share of a dropped client's mask key {sid, from, about, share, tag}.
function Server:receive_share(m)
  local key = self.keys[m.from]
  if not key or not self.inputs[m.from] then reject("a share from client %s, not a survivor", tostring(m.from)) end
  if m.sid ~= self.sid then reject("a share from client %d from another session", m.from) end
  if self.inputs[m.about] then reject("a share of survivor %d's key", m.about) end
  local list = self.shares[m.about] or {}
  self.shares[m.about] = list
  for _, s in ipairs(list) do
    if s.from == m.from then reject("a second share from client %d (a replay)", m.from) end
  end
  if not S.verify(m.tag, self.sid .. "share" .. m.from .. ":" .. m.about .. m.share, key) then
    reject("the share of client %d's key from client %d: its MAC does not match", m.about, m.from)
  end
  list[#list + 1] = { from = m.from, share = m.share }
end

-- The sum of the survivors' inputs (f64), after removing the dropped clients' masks.
function Server:finish()
  local total
  for _, id in ipairs(self.alive) do
    local y = self.inputs[id]
    total = total and S.add_(total, y) or y:clone()
  end
  local seeds, signs = {}, {}
  for id, who in pairs(self.roster) do
    if not self.inputs[id] then
      local list = self.shares[id] or {}
      if #list < self.t then
        error(("secure_sum: client %d dropped and only %d of the %d shares needed to remove " ..
          "its masks came"):format(id, #list, self.t), 0)
      end
      local xs, shares = {}, {}
      for i = 1, self.t do xs[i], shares[i] = list[i].from, list[i].share end
      local s_sk = S.combine(xs, shares)
      for _, w in ipairs(self.alive) do
        seeds[#seeds + 1] = S.agree(s_sk, who.s, self.roster[w].s)
        -- w added +PRG when w < id and -PRG when w > id: take it back out
        signs[#signs + 1] = w < id and -1 or 1
      end
    end
  end
  S.mask_(total, table.concat(seeds), signs)
  return S.decode(total, self.scale)
end

-- ------------------------------------------------------------------ a client

local Client = {}
Client.__index = Client
M.Client = Client

-- Client.new(id, x, hello) with hello = server:hello()
function Client.new(id, x, hello, scale)
  local cpk, csk = S.keypair()
  local spk, ssk = S.keypair()
  return setmetatable({ id = id, x = x, sid = hello.sid, server_key = S.agree(csk, cpk, hello.pk),
    cpk = cpk, csk = csk, spk = spk, ssk = ssk, scale = scale, received = {} }, Client)
end

function Client:advertise() return { sid = self.sid, id = self.id, c = self.cpk, s = self.spk } end

-- share(roster, threshold) -> boxes {sid, from, to, box} for every other client in the roster.
function Client:share(roster, t)
  self.roster = roster
  local ids = {}
  for id in pairs(roster) do ids[#ids + 1] = id end
  table.sort(ids)
  self.n = #ids
  local shares = S.split(self.ssk, math.max(table.unpack(ids)), t)
  self.own_share = shares[self.id]
  local out = {}
  self.channel = {}
  for _, v in ipairs(ids) do
    if v ~= self.id then
      local key = S.agree(self.csk, self.cpk, roster[v].c)
      self.channel[v] = key       -- the same key opens v's box to this client
      local body = self.sid .. ("%d:%d:"):format(self.id, v) .. shares[v]
      out[#out + 1] = { sid = self.sid, from = self.id, to = v,
        box = S.seal(key, nonce(self.sid, self.id, v), body) }
    end
  end
  return out
end

-- Takes a box addressed to this client; a box that does not open, or opens to another
-- session or pair, is rejected.
function Client:receive_box(b)
  local key = self.channel[b.from]
  if not key then reject("a share from client %s, not in the roster", tostring(b.from)) end
  local body = S.open(key, nonce(self.sid, b.from, self.id), b.box)
  local head = self.sid .. ("%d:%d:"):format(b.from, self.id)
  if not body or body:sub(1, #head) ~= head then
    reject("the share client %d sent to client %d: the box is not genuine", b.from, self.id)
  end
  if self.received[b.from] then reject("a second share from client %d (a replay)", b.from) end
  self.received[b.from] = body:sub(#head + 1)
end

-- The masked input {sid, id, y, tag}.
function Client:masked_input()
  local y = S.encode(self.x:contiguous(), self.scale)
  local seeds, signs = {}, {}
  for v, keys in pairs(self.roster) do
    if v ~= self.id then
      seeds[#seeds + 1] = S.agree(self.ssk, self.spk, keys.s)
      signs[#signs + 1] = self.id < v and 1 or -1
    end
  end
  S.mask_(y, table.concat(seeds), signs)
  return { sid = self.sid, id = self.id, y = y,
    tag = S.auth(self.server_key, self.sid .. "input" .. self.id .. S.digest(y)) }
end

-- reveal(survivors) -> this client's shares of the dropped clients' keys, MACed.
function Client:reveal(survivors)
  local alive = {}
  for _, id in ipairs(survivors) do alive[id] = true end
  local out = {}
  for v in pairs(self.roster) do
    if not alive[v] and v ~= self.id then
      local share = self.received[v]
      if share then
        out[#out + 1] = { sid = self.sid, from = self.id, about = v, share = share,
          tag = S.auth(self.server_key, self.sid .. "share" .. self.id .. ":" .. v .. share) }
      end
    end
  end
  table.sort(out, function(a, b) return a.about < b.about end)
  return out
end

-- ------------------------------------------------------------------ over a communicator

-- Small messages cross MPI as JSON, byte strings as hex.
local function wire(v)
  if type(v) == "string" then return hex(v) end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, e in pairs(v) do out[k] = wire(e) end
  return out
end

local function unwire(v)
  if type(v) == "string" then return unhex(v) end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, e in pairs(v) do out[k] = unwire(e) end
  return out
end

-- Every rank's list of messages, concatenated on the server (root 0); nil elsewhere.
local function to_server(comm, list)
  if comm.size == 1 then return list end
  local all = comm:gather_obj(wire(list), 0)
  if not all then return nil end
  local out = {}
  for _, part in ipairs(all) do
    for _, m in ipairs(part) do out[#out + 1] = unwire(m) end
  end
  return out
end

local function from_server(comm, v)
  if comm.size == 1 then return v end
  return unwire(comm:bcast_obj(comm.rank == 0 and wire(v) or nil, 0))
end

-- The masked inputs {sid, id, y, tag} of every rank's clients, on the server: the rings y of a
-- rank as the rows of one i32 tensor (numel values each) sent to rank 0 by one alltoallv, the
-- rest as JSON; rows arrive in rank order, as gather_obj's lists do.
local function inputs_to_server(comm, list, numel)
  if comm.size == 1 then return list end
  local rows = tide.empty({ #list, numel }, "i32")
  local heads, counts = {}, {}
  for i, m in ipairs(list) do
    rows[i]:copy_(m.y)
    heads[i] = { sid = m.sid, id = m.id, tag = m.tag }
  end
  for r = 1, comm.size do counts[r] = r == 1 and #list or 0 end
  local got = comm:alltoallv(rows, counts)
  local all = to_server(comm, heads)
  if not all then return nil end
  for i, m in ipairs(all) do m.y = got[i] end
  return all
end

local SECURE_SUM = { comm = true, clients = true, drop = true, threshold = true, scale = true }

-- secure_sum(x, group) -> the sum (f64, x's shape) of the surviving clients' tensors, on every
-- rank. x is this rank's one client's tensor (client rank + 1 of comm.size), or a table
-- {[client id] = tensor} of this rank's clients (ids 1..group.clients). group: {comm =
-- tide.world, clients =, drop = {ids that drop out after sharing their keys}, threshold =
-- clients // 2 + 1, scale = 2^16}. Rank 0 is the server. Collective over comm.
function M.secure_sum(x, group)
  local where = "federated.secure_sum"
  group = args.check_opts(group, SECURE_SUM, where)
  local comm = group.comm or tide.world
  local mine
  if tide.is_tensor(x) then
    mine = { [comm.rank + 1] = x }
  elseif type(x) == "table" then
    mine = x
  else
    error(where .. ": expected a tensor or a table {[client id] = tensor}, got " .. type(x), 2)
  end
  local n = args.integer(group.clients, "clients", where, 1, comm.size)
  local shape
  for id, t in pairs(mine) do
    if math.type(id) ~= "integer" or id < 1 or id > n then
      error(("%s: client id expected an integer in 1..%d, got %s"):format(where, n,
        tostring(id)), 2)
    end
    if not tide.is_tensor(t) then
      error(("%s: client %d's value expected a tensor, got %s"):format(where, id, type(t)), 2)
    end
    shape = t:shape()
  end
  local t = args.integer(group.threshold, "threshold", where, 1, n // 2 + 1)
  if t > n then error(("%s: threshold %d is more than the %d clients"):format(where, t, n), 2) end
  local scale = args.number(group.scale, "scale", where, 65536, "> 0")
  local drop = {}
  for _, id in ipairs(group.drop or {}) do
    if math.type(id) ~= "integer" or id < 1 or id > n then
      error(("%s: dropped client id expected an integer in 1..%d, got %s"):format(where, n,
        tostring(id)), 2)
    end
    drop[id] = true
  end
  local ids = {}
  for id in pairs(mine) do ids[#ids + 1] = id end
  table.sort(ids)

  local server = comm.rank == 0 and Server.new { clients = n, threshold = t, scale = scale } or nil
  local hello = from_server(comm, server and server:hello())
  local clients = {}
  for i, id in ipairs(ids) do clients[i] = Client.new(id, mine[id], hello, scale) end
  local function each(fn)
    local out = {}
    for _, c in ipairs(clients) do
      for _, m in ipairs(fn(c)) do out[#out + 1] = m end
    end
    return out
  end
  -- 2: the roster
  local ads = to_server(comm, each(function(c) return { c:advertise() } end))
  local roster_list
  if server then
    local roster = server:roster(ads)
    roster_list = {}
    for id, k in pairs(roster) do roster_list[#roster_list + 1] = { id = id, c = k.c, s = k.s } end
  end
  local roster = {}
  for _, e in ipairs(from_server(comm, roster_list)) do roster[e.id] = { c = e.c, s = e.s } end
  -- 3: sealed shares, forwarded by the server
  local boxes = to_server(comm, each(function(c) return c:share(roster, t) end))
  boxes = from_server(comm, boxes)
  local by_id = {}
  for _, c in ipairs(clients) do by_id[c.id] = c end
  for _, b in ipairs(boxes) do
    if by_id[b.to] then by_id[b.to]:receive_box(b) end
  end
  -- 4: masked inputs of the clients that stay
  local numel = 0
  if shape then
    numel = 1
    for _, d in ipairs(shape) do numel = numel * d end
  end
  if comm.size > 1 then numel = comm:allreduce(numel, "max") end
  local inputs = inputs_to_server(comm, each(function(c)
    return drop[c.id] and {} or { c:masked_input() } end), numel)
  local alive
  if server then
    for _, m in ipairs(inputs) do server:receive_input(m) end
    alive = server:survivors()
  end
  alive = from_server(comm, alive)
  -- 5: the survivors' shares of the dropped clients' keys
  local shares = to_server(comm, each(function(c)
    return drop[c.id] and {} or c:reveal(alive) end))
  local sum
  if server then
    for _, m in ipairs(shares) do server:receive_share(m) end
    sum = server:finish()
  else
    sum = tide.empty({ numel }, "f64")
  end
  if comm.size > 1 then comm:broadcast(sum, 0) end
  return shape and sum:view(shape) or sum
end

return M
