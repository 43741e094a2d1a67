-- Rank 0 starts something that needs every rank while the others compute for a minute outside
-- any collective: `hang.lua split|dup|shared_zeros|trace|gc|isend|exit_isend`. Under
-- TIDE_TIMEOUT the watchdog must report the call on rank 0 and end the job; nothing may block
-- for good. `exit_isend` leaves an unmatched isend to the end of the script (the state closing
-- collects it); `gc` and `isend` drop a pending request and collect it at once.
local tide = require "tide"
local world = tide.world
local kind = arg[1]
if world.rank ~= 0 then
  local t0 = os.time()
  while os.time() - t0 < 60 do end
  return
end
local big = tide.ones(1 << 20)   -- past Open MPI's eager limit: a send waits for its receive
if kind == "split" then
  world:split(0) -- @split
elseif kind == "dup" then
  world:dup() -- @dup
elseif kind == "shared_zeros" then
  world:shared_zeros(8) -- @shared_zeros
elseif kind == "trace" then
  tide.trace.start(os.tmpname()) -- @trace
  tide.trace.stop()
elseif kind == "gc" then
  world:iallreduce(tide.ones(4)) -- @gc
  collectgarbage()
  collectgarbage()
elseif kind == "isend" then
  world:isend(big, 1, 5) -- @isend
  collectgarbage()
  collectgarbage()
elseif kind == "exit_isend" then
  world:isend(big, 1, 6) -- @exit_isend
else
  error("hang.lua: unknown kind " .. tostring(kind))
end
print("finished")
