-- A least-loaded policy: new keys go to the ranks with the least load first (water filling),
-- so that after placing them the loads are as level as they can be. opts.loads lists each
-- rank's load now (rows it already holds, say; 0 when absent); policy.loads can be updated
-- between calls.   placement.load("least_loaded.lua", {loads = {0, 500, 100, 400}})
local placement = require "tide.placement"

return function(opts)
  local policy = placement.class("least_loaded", {})

  function policy:assign(keys, comm)
    local P, c = placement.world(comm, "least_loaded")
    local pos, total = placement.positions(#keys, c)
    local load, order = {}, {}
    for r = 1, P do load[r], order[r] = self.loads[r] or 0, r end
    table.sort(order, function(a, b) return load[a] < load[b] or (load[a] == load[b] and a < b) end)
    -- the level the k least loaded ranks reach when they absorb every key, for the first k
    -- at which that level does not pass the next rank's load
    local level, sum = 0, 0
    for k = 1, P do
      sum = sum + load[order[k]]
      level = (total + sum) / k
      if k == P or level <= load[order[k + 1]] then break end
    end
    local want = {}
    for r = 1, P do want[r] = math.max(0, level - load[r]) end
    return placement.split(pos, placement.apportion(total, want))
  end

  return setmetatable({ loads = opts.loads or {} }, policy)
end
