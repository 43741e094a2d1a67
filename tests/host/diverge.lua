-- A loop of 100 steps where rank 1 goes wrong in step 57 (issue 14, acceptance 3), then a
-- barrier: `diverge.lua skip` (rank 1 skips that step's allreduce, so it reaches the barrier
-- one collective early) or `diverge.lua broadcast` (rank 1 calls broadcast instead). Under
-- TIDE_TIMEOUT the watchdog ends the job and the doctor's summary names rank 1.
local tide = require "tide"
local world = tide.world
local kind = arg[1]
local t = tide.ones(4)
for step = 1, 100 do
  if world.rank == 1 and step == 57 then
    if kind == "broadcast" then
      world:broadcast(t, 0) -- @broadcast
    end
  else
    world:allreduce(t) -- @allreduce
  end
end
world:barrier() -- @barrier
print("finished")
