-- A small traced job: collectives, a non-blocking one, an object collective and user spans.
-- `traced.lua [file]`: with a file, tracing starts and stops through tide.trace (rank 0 prints
-- the file written); without, TIDE_TRACE starts it and the exit writes it. Rank 0 prints the
-- summary's per-rank compute and comm seconds.
local tide = require "tide"
local world = tide.world
if arg[1] then tide.trace.start(arg[1]) end
local t = tide.ones(1000)
for step = 1, 3 do
  tide.trace.span("step " .. step, function()
    world:allreduce(t)
  end)
end
world:iallreduce(t):wait()
world:allgather_obj({ rank = world.rank })
local s = tide.trace.summary()
if world.rank == 0 then
  for r, v in ipairs(s) do
    print(string.format("summary %d %.6f %.6f", r - 1, v.compute, v.comm))
  end
end
if arg[1] then
  local path = tide.trace.stop()
  if world.rank == 0 then print("wrote " .. path) end
end
print("finished")
