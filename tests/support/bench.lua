-- What the benchmarks share (tests/bench/*.lua): the CPU's name for their header.
local M = {}

-- The model name of the first CPU in /proc/cpuinfo ("unknown CPU" when there is none).
function M.cpu()
  local f = io.open("/proc/cpuinfo")
  if not f then return "unknown CPU" end
  for line in f:lines() do
    local name = line:match("^model name%s*:%s*(.+)$")
    if name then
      f:close()
      return name
    end
  end
  f:close()
  return "unknown CPU"
end

return M
