-- Rank 1 skips the barrier, then either ends (`exit`), computes for a long time (`busy`) or
-- stops itself with SIGSTOP (`stop`, as a debugger or a stuck node would):
-- under TIDE_TIMEOUT the others' watchdog reports the barrier's call site and where rank 1 is.
local tide = require "tide"
local world = tide.world
if world.rank ~= 1 then
  world:barrier() -- @barrier
elseif arg[1] == "stop" then
  -- this lua5.4 process's pid (/proc/self is the reader itself)
  local pid = io.open("/proc/self/stat"):read("a"):match("^(%d+)")
  os.execute("kill -STOP " .. pid)
elseif arg[1] == "busy" then
  local t0 = os.time()
  while os.time() - t0 < 60 do end -- @busy
end
print("finished")
