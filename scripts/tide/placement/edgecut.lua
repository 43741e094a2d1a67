-- tide.placement's graph policies: vertices are the keys, and a policy that sees the edges
-- can keep neighbours together.
--
--   edgecut{passes = 4, slack = 1.05, seed = 0}
--       streaming LDG (Stanton and Kliot, KDD 2012) with restreaming (Nishimura and Ugander,
--       KDD 2013): vertices arrive in a seeded random order and each goes to the part holding
--       most of its neighbours, weighted by (1 - size / capacity), capacity = slack * n / P;
--       every pass after the first streams again, seeing where the last pass put the
--       vertices not yet placed. policy:partition(src, dst, n, P) -> parts (i32, 0-based rank
--       per vertex); afterwards policy:assign(vertices) looks vertices up and policy:stats()
--       reports the edge cut and balance of that partition.
--   graph_stats(src, dst, parts, P) -> {edges, edge_cut, cut_fraction, counts, imbalance}
--       for any partition (hash's too): an edge is cut when its ends live on two ranks.
--
-- Vertices are 1-based ids; src and dst are 1-D integer tensors (an edge is src -> dst; the
-- policy treats edges as undirected). The stream is a Lua loop over vertices and their
-- neighbours: partitioning is done once per graph, not per step.
local tide = require "tide"
local args = require "tide.args"
local U = require "tide.placement.util"

local M = {}

function M.graph_stats(src, dst, parts, P, ...)
  args.at_most("placement.graph_stats", 4, ...)
  local op = "placement.graph_stats"
  U.check_keys(src, op)
  U.check_keys(dst, op)
  P = U.world(P, op)
  local edges = src:numel()
  local cut = edges > 0 and parts:index_select(1, src):ne(parts:index_select(1, dst)):sum() or 0
  local counts = tide.bincount(parts, { minlength = P }):totable()
  return { edges = edges, edge_cut = cut, cut_fraction = edges > 0 and cut / edges or 0,
    counts = counts, imbalance = U.imbalance(counts) }
end

local EdgeCut = U.class("edgecut", {})
EdgeCut.state_fields = { passes = "integer", slack = "number", seed = "integer" }

-- Both directions of every edge as a CSR of the n vertices: row v lists v's neighbours.
local function neighbours(src, dst, n)
  local ones = tide.ones({ 2 * src:numel() }, "f32")
  local A = tide.sparse.coo(tide.cat({ src, dst }), tide.cat({ dst, src }), ones, { n, n })
  return A.rowptr:totable(), A.col:totable()
end

-- One pass of LDG over the vertices in order; parts (0-based, or nil: not placed yet) holds
-- the last pass's answer and is overwritten as the stream goes.
local function stream(order, rowptr, col, parts, P, capacity)
  local size, count, touched = {}, {}, {}
  for p = 0, P - 1 do size[p], count[p] = 0, 0 end
  for _, v in ipairs(order) do
    local nt = 0
    for k = rowptr[v] + 1, rowptr[v + 1] do
      local p = parts[col[k] + 1]
      if p ~= nil and col[k] + 1 ~= v then
        if count[p] == 0 then
          nt = nt + 1
          touched[nt] = p
        end
        count[p] = count[p] + 1
      end
    end
    -- the least loaded part wins ties, and takes a vertex with no placed neighbour
    local best, best_score = nil, -1
    for p = 0, P - 1 do
      if size[p] < capacity then
        local score = count[p] * (1 - size[p] / capacity)
        if score > best_score or (score == best_score and size[p] < size[best]) then
          best, best_score = p, score
        end
      end
    end
    for i = 1, nt do count[touched[i]] = 0 end
    parts[v] = best
    size[best] = size[best] + 1
  end
end

function EdgeCut:partition(src, dst, n, comm)
  local op = "placement.edgecut"
  U.check_keys(src, op)
  U.check_keys(dst, op)
  args.integer(n, "the vertex count", op, 0)
  local P = U.world(comm, op)
  local rowptr, col = neighbours(src, dst, n)
  -- stream 0: every rank draws the same order, so every rank computes the same partition
  local order = tide.randperm(n, { seed = self.seed, stream = 0 }):totable()
  local capacity = math.max(1, math.ceil(self.slack * n / P))
  local parts = {}
  for _ = 1, self.passes do stream(order, rowptr, col, parts, P, capacity) end
  local t = n > 0 and tide.tensor(parts, "i32") or tide.empty({ 0 }, "i32")
  self.parts = t
  self._stats = M.graph_stats(src, dst, t, P)
  return t
end

function EdgeCut:assign(keys)
  U.check_keys(keys, "placement.edgecut")
  if not self.parts then
    error("placement.edgecut: assign needs a graph first: call policy:partition(src, dst, n, P)",
      2)
  end
  return self.parts:index_select(1, keys)
end

function EdgeCut:stats()
  if not self._stats then
    error("placement.edgecut: no partition yet: call policy:partition(src, dst, n, P)", 2)
  end
  return self._stats
end

function EdgeCut:after_load() self.parts, self._stats = nil, nil end

function M.edgecut(opts, ...)
  args.at_most("placement.edgecut", 1, ...)
  local op = "placement.edgecut"
  opts = U.check_opts(opts, U.set("passes", "slack", "seed"), op)
  return setmetatable({
    passes = args.integer(opts.passes, "passes", op, 1, 4),
    slack = args.number(opts.slack, "slack", op, 1.05, ">= 1"),
    seed = args.seed(opts.seed, op),
  }, EdgeCut)
end

return M
