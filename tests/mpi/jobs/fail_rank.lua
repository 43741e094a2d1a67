-- One rank fails while the others wait in a barrier (no watchdog): `error`, `exit` (os.exit(3))
-- or `abort` (tide.abort(4)). The job must end at once with a non-zero code.
local tide = require "tide"
local world = tide.world
if world.rank == world.size - 1 then
  if arg[1] == "error" then
    error("boom") -- @error
  elseif arg[1] == "exit" then
    os.exit(3)
  else
    tide.abort(4)
  end
end
world:barrier()
print("finished")
