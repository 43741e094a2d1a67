-- What benchmarks print their figures with: the median of a list and the machine's CPU name.
local M = {}

-- The median of the numbers in xs (not changed); NaN for none.
function M.median(xs)
  local s = {}
  for i, v in ipairs(xs) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return 0 / 0 end
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- The CPU's model name from /proc/cpuinfo ("unknown CPU" when there is none).
function M.cpu()
  local f = io.open("/proc/cpuinfo")
  local text = f and f:read("a") or ""
  if f then f:close() end
  return text:match("model name%s*:%s*([^\n]+)") or "unknown CPU"
end

return M
