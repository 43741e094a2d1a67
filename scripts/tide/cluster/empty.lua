-- tide.cluster.empty: re-seeding the clusters a step leaves empty (Lloyd) or no row has reached
-- yet (mini-batch) at the rows farthest from their centres, chosen alike on every rank.
-- Collective. Clusters are 1-based; global rows 0-based.
local tide = require "tide"
local C = require "tide.cluster.context"

local K = tide._internal.cluster_kernels
local allreduce = C.allreduce
local M = {}

-- The globally farthest rows from their own centres, one per empty cluster: each rank offers
-- its own m farthest (exact distances), every rank picks the same m from all offers (larger
-- distance first, then lower global row). Returns a list of {x = the row (f64, d), w = weight,
-- label = its current cluster (1-based)}, possibly shorter than m.
function M.farthest_rows(ctx, c, labels, m)
  local rows, d2 = K.farthest(ctx.x, c, labels, m)
  -- one slot of m rows per rank: a used flag, distance, global row, weight, label, then the
  -- row itself; a row already on its centre (distance 0) would be no better a centre
  local offers = tide.zeros({ ctx.size * m, ctx.d + 5 }, "f64")
  for i = 1, rows:numel() do
    local lrow = rows[i]
    if d2[i] > 0 then
      local slot = offers[ctx.rank * m + i]
      slot[1] = 1
      slot[2] = d2[i]
      slot[3] = ctx.offset + lrow - 1
      slot[4] = ctx.weight and ctx.weight[lrow] or 1
      slot[5] = labels[lrow]
      slot:narrow(1, 6, ctx.d):copy_(ctx.x[lrow])
    end
  end
  allreduce(ctx, offers)
  local list = {}
  for s = 1, ctx.size * m do
    local o = offers[s]
    if o[1] > 0 then
      list[#list + 1] = { d2 = o[2], g = o[3], w = o[4], label = o[5], x = o:narrow(1, 6, ctx.d) }
    end
  end
  table.sort(list, function(a, b)
    if a.d2 ~= b.d2 then return a.d2 > b.d2 end
    return a.g < b.g
  end)
  local out = {}
  for i = 1, math.min(m, #list) do out[i] = list[i] end
  return out
end

-- Re-seeds every empty cluster of a Lloyd step at the farthest rows (as scikit-learn does):
-- the row leaves its cluster's sums and joins the empty one, then the centres are recomputed
-- and the re-seeded ones put exactly on their rows. Returns the centres and how many moved.
function M.reseed_empty(ctx, c, labels, sums, counts)
  local empties = {}
  for j = 1, c:size(1) do
    if not (counts[j] > 0) then empties[#empties + 1] = j end
  end
  local far = M.farthest_rows(ctx, c, labels, #empties)
  for i, j in ipairs(empties) do
    local f = far[i]
    if f then
      local old = math.tointeger(f.label)
      local moved = f.x:mul(f.w)
      sums[old]:sub_(moved)
      sums[j]:copy_(moved)
      counts[old] = counts[old] - f.w
      counts[j] = f.w
    end
  end
  local cn = K.update(c, sums, counts)
  for i, j in ipairs(empties) do
    if far[i] then cn[j]:copy_(far[i].x) end
  end
  return cn, #far
end

-- Centres no row has reached yet (prior weight 0) move to the batch's farthest rows.
function M.reseed_unreached(bctx, c, cn, labels, prior, n_empty)
  local far = M.farthest_rows(bctx, c, labels, n_empty)
  local e, reseeded = 0, 0
  for j = 1, c:size(1) do
    if not (prior[j] > 0) then
      e = e + 1
      if far[e] then
        cn[j]:copy_(far[e].x)
        reseeded = reseeded + 1
      end
    end
  end
  return reseeded
end

return M
