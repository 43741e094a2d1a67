-- A loop that stops at tide.breakpoint() in its second step (issue 14, acceptance 5): the
-- test types `mine`, `:on 1 return i, mine`, `mine = 100`, then `:continue`; each rank then
-- prints its total (rank 0's includes the 100 it was given).
local tide = require "tide"
local world = tide.world
local total = 0
for i = 1, 3 do
  local mine = i * 10 + world.rank
  if i == 2 then
    tide.breakpoint() -- @breakpoint
  end
  total = total + mine
end
world:barrier()
for r = 0, world.size - 1 do
  if r == world.rank then print(("rank %d total %d"):format(world.rank, total)) end
  io.stdout:flush()
  world:barrier()
end
