-- tide.graph: a graph partitioned over the ranks of a communicator, for graph networks.
--
--   local g = tide.graph.partition(src, dst, nvertices, {policy = "edgecut"})
--   local x = g:features(X)           -- this rank's rows of the n x F feature matrix X
--   local y = g:propagate(x)          -- this rank's rows of Â X, Â = D^-1/2 (A + I) D^-1/2
--
-- Every rank passes the whole edge list (src -> dst, 1-based vertex ids; i32 or i64 tensors)
-- and gets the same partition: the policy ("hash", "edgecut", or a placement policy object:
-- one with partition(src, dst, n, P), or any with assign(vertex ids, P)) names the 0-based
-- rank owning each vertex. A rank owns its vertices' feature rows and the edges into them,
-- and knows its halo: the vertices it reads across an edge that other ranks own.
--
-- g:propagate(h) multiplies by this rank's rows of Â: it starts the halo exchange (one
-- non-blocking alltoallv carrying only the halo rows each rank needs), multiplies the part of
-- Â over its own vertices meanwhile, then adds the halo part. g:propagate_backward(gy) is its
-- transpose, sending the halo rows' gradients back to their owners. Inside tide.autograd,
-- g:propagate is recorded with that backward. nn.GCNConv(in, out) is the layer on top.
--
-- Fields: comm, rank, nranks, nvertices, owner (i32, 0-based rank per vertex), vertices (i64,
-- this rank's ids, ascending), nlocal, halo (i64 ids, by owning rank then id), nhalo,
-- send_counts and recv_counts (halo rows per rank, rank r at index r + 1), moved = {rows,
-- bytes} sent by this rank's exchanges so far. g:stats() -> edge cut, balance, halo size.
local tide = require "tide"
local args = require "tide.args"
local sbm = require "tide.graph.sbm"

local K = tide._internal.kernels
local M = { sbm = sbm.sbm, init = sbm.init }

local Graph = {}
Graph.__index = Graph
Graph.__name = "tide.graph"

function M.is_graph(v) return getmetatable(v) == Graph end

-- ------------------------------------------------------------------ checking the edges

local function check_ids(t, what, where)
  if not tide.is_tensor(t) or t:dim() ~= 1 or (t:dtype() ~= "i32" and t:dtype() ~= "i64") then
    error(("%s: %s must be a 1-D i32 or i64 tensor of vertex ids, got %s"):format(where, what,
      tide.is_tensor(t) and (args.shape_str(t) .. " " .. t:dtype()) or type(t)), 4)
  end
end

-- Raises naming the first edge with an end outside 1..n.
local function check_edges(src, dst, n, where)
  check_ids(src, "src", where)
  check_ids(dst, "dst", where)
  if src:numel() ~= dst:numel() then
    error(("%s: src and dst must have one length, got %d and %d"):format(where, src:numel(),
      dst:numel()), 3)
  end
  if math.type(n) ~= "integer" or n < 1 then
    error(("%s: nvertices must be a positive integer, got %s"):format(where, tostring(n)), 3)
  end
  for _, ends in ipairs { src, dst } do
    local bad = (ends:lt(1) + ends:gt(n)):nonzero()
    if bad:numel() > 0 then
      local e = bad:get(1, 1)
      error(("%s: edge %d (%d -> %d) names a vertex outside 1..%d"):format(where, e,
        src:get(e), dst:get(e), n), 3)
    end
  end
end

-- ------------------------------------------------------------------ placing the vertices

-- The 0-based owner of every vertex, checked.
local function place(policy, src, dst, n, P, where)
  if policy == nil or policy == "hash" then
    policy = tide.placement.hash()
  elseif policy == "edgecut" then
    policy = tide.placement.edgecut()
  end
  local owner
  if type(policy) == "table" and type(policy.partition) == "function" then
    owner = policy:partition(src, dst, n, P)
  elseif type(policy) == "table" and type(policy.assign) == "function" then
    owner = policy:assign(tide.arange(1, n + 1, "i64"), P)
  else
    error(("%s: policy must be \"hash\", \"edgecut\" or a placement policy, got %s"):format(
      where, tostring(policy)), 3)
  end
  if not tide.is_tensor(owner) or owner:dim() ~= 1 or owner:numel() ~= n then
    error(("%s: the policy must give one rank per vertex (%d), got %s"):format(where, n,
      tide.is_tensor(owner) and args.shape_str(owner) or type(owner)), 3)
  end
  owner = owner:to("i32")
  if n > 0 and (owner:min() < 0 or owner:max() >= P) then
    error(("%s: the policy placed a vertex on rank %d, outside 0..%d"):format(where,
      owner:min() < 0 and owner:min() or owner:max(), P - 1), 3)
  end
  return owner, policy
end

-- ------------------------------------------------------------------ building a rank's part

-- Sorted ids of a set (a table id -> true).
local function sorted_keys(set)
  local out = {}
  for id in pairs(set) do out[#out + 1] = id end
  table.sort(out)
  return out
end

local function list_tensor(list)
  return #list > 0 and tide.tensor(list, "i64") or tide.empty({ 0 }, "i64")
end

-- The entries of Â (triplets) in rows this rank owns, with columns renamed: an owned vertex
-- by its local row (1..nlocal), a halo vertex by nlocal + its place in the halo.
local function local_part(self, r, c, v, owner)
  local keep = owner:index_select(1, r):eq(self.rank)
  local lr, lc = r:masked_select(keep):totable(), c:masked_select(keep):totable()
  local lv = v:masked_select(keep)
  local own, lid = owner:totable(), self._lid
  local need = {}                       -- owning rank -> set of halo ids
  for q = 0, self.nranks - 1 do need[q] = {} end
  for k = 1, #lc do
    local u = lc[k]
    if own[u] ~= self.rank then need[own[u]][u] = true end
  end
  local halo, recv_counts = {}, {}
  for q = 0, self.nranks - 1 do
    local ids = sorted_keys(need[q])
    recv_counts[q + 1] = #ids
    for _, u in ipairs(ids) do
      halo[#halo + 1] = u
      lid[u] = self.nlocal + #halo
    end
  end
  for k = 1, #lr do
    lr[k], lc[k] = lid[lr[k]], lid[lc[k]]
  end
  return list_tensor(lr), list_tensor(lc), lv, halo, recv_counts
end

-- What the other ranks need from this one: the owned vertices that are columns of rows they
-- own, by rank, then by id (the order each of them keeps its halo in).
local function send_plan(self, r, c, owner)
  local pick = owner:index_select(1, c):eq(self.rank) * owner:index_select(1, r):ne(self.rank)
  local rows, cols = r:masked_select(pick):totable(), c:masked_select(pick):totable()
  local own, lid = owner:totable(), self._lid
  local wanted = {}
  for q = 0, self.nranks - 1 do wanted[q] = {} end
  for k = 1, #rows do wanted[own[rows[k]]][cols[k]] = true end
  local index, counts = {}, {}
  for q = 0, self.nranks - 1 do
    local ids = sorted_keys(wanted[q])
    counts[q + 1] = #ids
    for _, u in ipairs(ids) do index[#index + 1] = lid[u] end
  end
  return list_tensor(index), counts
end

-- Â's rows of this rank as two CSR matrices: over its own vertices and over its halo.
local function split_adjacency(self, lr, lc, lv)
  local nl = self.nlocal
  local inner = lc:le(nl)
  local outer = lc:gt(nl)
  self.adj_local = tide.sparse.coo(lr:masked_select(inner), lc:masked_select(inner),
    lv:masked_select(inner), { nl, nl })
  self.adj_halo = tide.sparse.coo(lr:masked_select(outer), lc:masked_select(outer) - nl,
    lv:masked_select(outer), { nl, self.nhalo })
end

--- The graph of src -> dst edges over vertices 1..nvertices, partitioned over opts.comm.
function M.partition(src, dst, nvertices, opts)
  local where = "graph.partition"
  opts = args.check_opts(opts, { policy = true, comm = true, normalize = true, dtype = true },
    where)
  check_edges(src, dst, nvertices, where)
  local comm = opts.comm or tide.world
  local dtype = args.one_of(opts.dtype, "dtype", where, { "f32", "f64" }, "f32")
  local normalize = args.boolean(opts.normalize, "normalize", where, true)
  src, dst = src:to("i64"), dst:to("i64")
  local self = setmetatable({ comm = comm, rank = comm.rank, nranks = comm.size,
    nvertices = nvertices, dtype = dtype, moved = { rows = 0, bytes = 0 } }, Graph)
  local owner, policy = place(opts.policy, src, dst, nvertices, comm.size, where)
  self.owner, self.policy = owner, policy
  self._src, self._dst = src, dst
  -- Â: an edge u -> v puts u's features into v's row
  local A = tide.sparse.coo(dst, src, tide.ones({ src:numel() }, dtype),
    { nvertices, nvertices })
  if normalize then A = A:normalize_gcn() end
  local r, c, v = A:triplets()
  local mine = owner:eq(self.rank)
  self.nlocal = math.tointeger(mine:sum())
  self.vertices = self.nlocal > 0 and mine:nonzero():reshape({ self.nlocal })
    or tide.empty({ 0 }, "i64")
  self._lid = {}
  for i, u in ipairs(self.vertices:totable()) do self._lid[u] = i end
  local lr, lc, lv, halo, recv_counts = local_part(self, r, c, v, owner)
  self.halo, self.nhalo, self.recv_counts = list_tensor(halo), #halo, recv_counts
  self.send_index, self.send_counts = send_plan(self, r, c, owner)
  split_adjacency(self, lr, lc, lv)
  self._lid = nil
  return self
end

-- ------------------------------------------------------------------ features and products

--- This rank's rows of a global n x F feature tensor (a new tensor).
function Graph:features(x)
  if not tide.is_tensor(x) or x:dim() < 1 or x:size(1) ~= self.nvertices then
    error(("graph.features: expected a tensor with one row per vertex (%d), got %s"):format(
      self.nvertices, tide.is_tensor(x) and args.shape_str(x) or type(x)), 2)
  end
  if self.nlocal == 0 then
    local shape = x:shape()
    shape[1] = 0
    return tide.empty(shape, x:dtype())
  end
  return x:index_select(1, self.vertices)
end

--- The global n x F tensor of every rank's rows h (an allgather; every rank gets it).
function Graph:gather(h)
  local all = self.comm:allgather(h:contiguous())
  local ids = self.comm:allgather(self.vertices)
  return tide.zeros(all:shape(), all:dtype()):index_add_(1, ids, all)
end

local function check_rows(self, h, rows, where)
  if not tide.is_tensor(h) or h:dim() ~= 2 or h:size(1) ~= rows then
    error(("%s: expected a %d x F tensor (this rank's rows), got %s"):format(where, rows,
      tide.is_tensor(h) and args.shape_str(h) or type(h)), 3)
  end
  if h:dtype() ~= self.dtype then
    error(("%s: expected %s rows (the graph's dtype), got %s"):format(where, self.dtype,
      h:dtype()), 3)
  end
end

local function count(self, t)
  self.moved.rows = self.moved.rows + t:size(1)
  self.moved.bytes = self.moved.bytes + t:numel() * (t:dtype() == "f64" and 8 or 4)
end

-- Starts sending rows of h (by the given local indices and counts); returns a request whose
-- wait() gives the rows received.
local function start_exchange(self, h, index, counts)
  local send = index:numel() > 0 and h:index_select(1, index)
    or tide.empty({ 0, h:size(2) }, h:dtype())
  count(self, send)
  return self.comm:ialltoallv(send, counts)
end

-- The gradient of the halo rows sent back to their owners and added to the owned rows.
local function return_halo(self, ghalo, gh)
  local back = self.comm:alltoallv(ghalo:contiguous(), self.recv_counts)
  count(self, ghalo)
  if back:size(1) > 0 then gh:index_add_(1, self.send_index, back) end
  return gh
end

local tape = require "tide.autograd.tape"

--- This rank's rows of Â h for h (nlocal x F): the halo arrives while the local part runs.
function Graph:propagate(h)
  check_rows(self, h, self.nlocal, "graph.propagate")
  local req = start_exchange(self, h, self.send_index, self.send_counts)
  local y = K.csr_spmm(self.adj_local, h)
  local halo = req:wait()
  -- recorded inside tide.autograd (a no-op outside): the halo's gradient goes home
  halo = tape.record(halo, { h }, function(g)
    return return_halo(self, g, tide.zeros({ self.nlocal, h:size(2) }, h:dtype()))
  end)
  if self.nhalo == 0 then return y end
  return y + K.csr_spmm(self.adj_halo, halo)
end

--- The gradient with respect to h of propagate(h), given gy, the gradient of its result:
--- Â^T gy on the owned rows, plus what the other ranks send back for this rank's halo rows.
function Graph:propagate_backward(gy)
  check_rows(self, gy, self.nlocal, "graph.propagate_backward")
  gy = gy:contiguous()
  local gh = K.csr_spmm_t(self.adj_local, gy)
  local ghalo = K.csr_spmm_t(self.adj_halo, gy)
  return return_halo(self, ghalo, gh)
end

--- Edge cut and balance of the partition, halo rows of this rank, rows and bytes moved.
function Graph:stats()
  local s = tide.placement.graph_stats(self._src, self._dst, self.owner, self.nranks)
  s.nlocal, s.nhalo = self.nlocal, self.nhalo
  s.moved_rows, s.moved_bytes = self.moved.rows, self.moved.bytes
  return s
end

function Graph:__tostring()
  return ("tide.graph: %d vertices, rank %d of %d owns %d and reads %d halo rows"):format(
    self.nvertices, self.rank, self.nranks, self.nlocal, self.nhalo)
end

return M
