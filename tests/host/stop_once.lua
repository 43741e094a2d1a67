-- Under `tide run --restarts 1` with TIDE_HEARTBEAT=2 (issue 14, acceptance 4): on the first
-- attempt rank 1 stops itself with SIGSTOP (a frozen node) while rank 0 computes outside any
-- collective; the heartbeats must end that job with a status the supervisor relaunches from,
-- and the relaunched job (TIDE_RESTART=1) finishes.
local tide = require "tide"
local world = tide.world
local attempt = tonumber(os.getenv("TIDE_RESTART") or "0")
world:barrier()
if attempt == 0 then
  if world.rank == 1 then
    local pid = io.open("/proc/self/stat"):read("a"):match("^(%d+)")
    os.execute("kill -STOP " .. pid)
  end
  local t0 = tide.now()
  while tide.now() - t0 < 30 do end
  print("attempt 0 was not stopped")
else
  world:barrier()
  if world.rank == 0 then print(("finished on attempt %d"):format(attempt)) end
end
