-- Rank 1 fails while rank 0 waits in a barrier: the job must end at once (not hang), and the
-- message must name rank 1 and this file's line.
local tide = require "tide"
if tide.world.rank == 1 then
  error("rank 1 gives up")
end
tide.world:barrier()
print("rank " .. tide.world.rank .. " passed the barrier")
