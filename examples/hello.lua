-- hello.lua: every rank reports itself, then the ranks check that they agree on an allreduce.
--   tide run -n 2 examples/hello.lua        (or: mpirun -np 4 tide examples/hello.lua)
local tide = require "tide"

local world = tide.world   -- ranks are 0-based, as in MPI

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname") or io.popen("uname -n")
  local name = f and f:read("l") or "unknown"
  if f then f:close() end
  return name
end

print(("rank %d of %d on %s"):format(world.rank, world.size, hostname()))

-- Sum {rank, 1} over every rank, in place: the ranks 0..N-1 add up to N(N-1)/2, the ones to N.
local t = tide.tensor({ world.rank, 1 }, "i64")
world:allreduce(t, "sum")
local n = world.size
if t[1] ~= n * (n - 1) // 2 or t[2] ~= n then
  error(("allreduce disagrees: got sum %d over %d ranks, expected %d over %d"):format(
    t[1], t[2], n * (n - 1) // 2, n))
end
world:barrier()
if world.rank == 0 then
  print(("all %d ranks agree: sum of ranks %d = N(N-1)/2"):format(n, t[1]))
end
