-- Rank 2 stops itself with SIGSTOP (a stuck node) while the others compute outside any
-- collective for up to 30 s (issue 14, acceptance 4): under TIDE_HEARTBEAT every other rank
-- must report it and the job must end non-zero. Rank 2 prints the wall-clock time it stops at.
local tide = require "tide"
local world = tide.world
world:barrier()
if world.rank == 2 then
  local pid = io.open("/proc/self/stat"):read("a"):match("^(%d+)")
  io.stdout:write(("stopping at %.3f\n"):format(tide.now()))
  io.stdout:flush()
  os.execute("kill -STOP " .. pid)
end
local t0 = tide.now()
local x = 0
while tide.now() - t0 < 30 do x = x + 1 end -- @compute
print("finished")
