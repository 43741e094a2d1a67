-- A traced job whose last rank fails after some collectives: `trace_fail.lua error|exit|abort`
-- (a Lua error, os.exit(3), tide.abort(4)) while the others wait in a barrier. The failing rank
-- must write what it recorded (TIDE_TRACE's name with .rank<R> before .json) and name itself.
local tide = require "tide"
local world = tide.world
local t = tide.ones(100)
for _ = 1, 3 do
  tide.trace.span("step", function() world:allreduce(t) end)
end
if world.rank == world.size - 1 then
  if arg[1] == "error" then
    error("late failure")
  elseif arg[1] == "exit" then
    os.exit(3)
  else
    tide.abort(4)
  end
end
world:barrier()
print("finished")
