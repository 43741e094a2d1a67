-- Ranks disagree about a collective: `mismatch.lua shape|dtype|collective`. Under TIDE_DEBUG=1
-- every rank fails with the fingerprint message; without it the job must still end (an MPI
-- error, or the watchdog under TIDE_TIMEOUT). Never prints "finished".
local tide = require "tide"
local world = tide.world
local kind = arg[1]
world:barrier()
if kind == "shape" then
  world:allreduce(tide.zeros(world.rank == 1 and 20 or 10)) -- @shape
elseif kind == "dtype" then
  world:allreduce(tide.zeros(10, world.rank == 1 and "f64" or "f32")) -- @dtype
elseif kind == "collective" then
  if world.rank == 1 then world:barrier() else world:allreduce(tide.zeros(10)) end -- @collective
else
  error("mismatch.lua: unknown kind " .. tostring(kind))
end
world:barrier()
print("finished")
