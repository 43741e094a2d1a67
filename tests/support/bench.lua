-- What the benchmark drivers under tests/bench/ share: a median, a shell command's output and
-- status, and the CPU's name for the report.
local M = {}

-- The median of a list of numbers (the list is left as it was).
function M.median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local k = #s
  if k == 0 then return 0 / 0 end
  return k % 2 == 1 and s[(k + 1) // 2] or (s[k // 2] + s[k // 2 + 1]) / 2
end

-- Runs cmd with stderr joined to stdout; returns ok (a boolean) and the output.
function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok == true, out
end

-- The CPU's model name, from /proc/cpuinfo.
function M.cpu()
  for line in io.lines("/proc/cpuinfo") do
    local name = line:match("^model name%s*:%s*(.+)$")
    if name then return name end
  end
  return "unknown CPU"
end

return M
