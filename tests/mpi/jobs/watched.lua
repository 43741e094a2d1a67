-- The default watchdog (run with TIDE_WATCHDOG=1 and no TIDE_TIMEOUT): first what it must never
-- take for a hang, for well past its timeout: many short collectives, calls after the ranks
-- computed apart for longer than the timeout, and calls a rank enters half the timeout late.
-- Then rank 1 skips a barrier (`watched.lua hang`): rank 0's sentinel must end the job.
local tide = require "tide"
local world = tide.world
local TIMEOUT = 1

local function spin(seconds)
  local t0 = tide.now()
  while tide.now() - t0 < seconds do end
end

local t = tide.ones(256)
local t0 = tide.now()
local calls, done = 0, false
while not done do           -- the ranks agree when to stop, so they make the same calls
  world:allreduce(t)
  world:barrier()
  done = world:allreduce(tide.now() - t0 > 2.5 * TIMEOUT and 1 or 0, "max") == 1
  calls = calls + 3
end
spin(1.5 * TIMEOUT)        -- apart, outside any collective: no call in progress
for late = 0, world.size - 1 do
  if world.rank == late then spin(0.5 * TIMEOUT) end
  world:allreduce(t)       -- the others wait half the timeout
  calls = calls + 1
end
calls = world:allreduce(calls, "min")
if world.rank == 0 then
  print(("legitimate: %d collectives in %.1f s"):format(calls, tide.now() - t0))
end
io.stdout:flush()
if arg[1] == "hang" then
  if world.rank ~= 1 then
    world:barrier() -- @hang
  else
    spin(60)
  end
end
print("reached the end")
