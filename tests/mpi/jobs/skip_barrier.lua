-- Rank 1 skips the barrier, then either ends (`exit`) or computes for a long time (`busy`):
-- under TIDE_TIMEOUT the others' watchdog reports the barrier's call site and where rank 1 is.
local tide = require "tide"
local world = tide.world
if world.rank ~= 1 then
  world:barrier() -- @barrier
elseif arg[1] == "busy" then
  local t0 = os.time()
  while os.time() - t0 < 60 do end -- @busy
end
print("finished")
