-- What many specs begin with: the world communicator, its size P and this rank me (0-based),
-- and err_of, the message an error carries without where it was raised:
--   local S = require "support.spec"
--   local world, P, me, err_of = S.world, S.P, S.me, S.err_of
local tide = require "tide"

local M = { world = tide.world }
M.P, M.me = M.world.size, M.world.rank

-- The message fn(...) raises, without the "file:line: " that error() put in front; nil when
-- fn returns.
function M.err_of(fn, ...)
  local ok, e = pcall(fn, ...)
  if ok then return nil end
  return (tostring(e):gsub("^[^:]*:%d+: ", ""))
end

return M
