-- A job for tests/lua/hosts_spec.lua: ddp's gradient reduction with and without the hierarchy.
-- Every rank fills a Linear layer's gradients with its own values; a ddp wrap that chose for
-- itself and one told hierarchical = false each average them. Prints whether the hierarchy
-- was chosen and on how many nodes, whether the hierarchical result equals, bit for bit, the
-- documented order (node sums, then across nodes: with 2 ranks a node and 2 nodes both are
-- single additions, so the order is exact whatever MPI does), and the largest difference to
-- the flat result.
local tide = require "tide"
local nn, ddp = tide.nn, tide.ddp

local world = tide.world
local function filled_model()
  tide.manual_seed(3, { same_on_all_ranks = true })
  local m = nn.Linear(37, 11)
  local _, grads = m:parameters()
  for i, g in ipairs(grads) do
    g:copy_(tide.randn(g:shape(), { seed = 100 * world.rank + i }))
  end
  return m
end

local auto = ddp.wrap(filled_model(), world)
local flat = ddp.wrap(filled_model(), world, { hierarchical = false })
auto:sync_grads()
flat:sync_grads()

local node = world:split_node()
local nodes = world:allreduce(node.rank == 0 and 1 or 0)
local leader = node:allreduce(node.rank == 0 and world.rank or 0, "max")   -- its world rank

-- the documented order, from every rank's own values
local exact, worst = true, 0
local _, ga = auto:parameters()
local _, gf = flat:parameters()
for i, g in ipairs(ga) do
  local mine = tide.randn(g:shape(), { seed = 100 * world.rank + i })
  -- node sums in node-rank order, then the nodes in the order of their leaders' ranks
  local by_node, order = {}, {}
  local everyone = world:allgather_obj({ leader = leader, node_rank = node.rank,
    v = mine:totable() })
  for _, e in ipairs(everyone) do
    if not by_node[e.leader] then by_node[e.leader] = {} order[#order + 1] = e.leader end
    by_node[e.leader][e.node_rank + 1] = tide.tensor(e.v)   -- f32 values, exact in JSON
  end
  table.sort(order)
  local total
  for _, leader in ipairs(order) do
    local parts = by_node[leader]
    local s = parts[1]:clone()
    for k = 2, #parts do s = s + parts[k] end
    total = total and total + s or s
  end
  total:mul_(1 / world.size)
  if (g - total):abs():max() ~= 0 then exact = false end
  worst = math.max(worst, (g - gf[i]):abs():max())
end

if world.rank == 0 then
  print(("hierarchical %s on %d nodes"):format(tostring(auto.hierarchical), nodes))
  print(("documented order exact %s, flat differs by at most %.3g"):format(tostring(exact), worst))
end
