-- What benchmarks share: the median of a list, and the CPU's name (from /proc/cpuinfo).
local M = {}

function M.median(xs)
  local s = { table.unpack(xs) }
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

function M.cpu_name()
  local f = io.open("/proc/cpuinfo")
  if not f then return "unknown CPU" end
  local name = f:read("a"):match("model name%s*:%s*([^\n]+)")
  f:close()
  return name or "unknown CPU"
end

return M
