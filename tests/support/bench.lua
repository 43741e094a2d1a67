-- Helpers the benchmarks share: medians, the CPU's name and running a shell command.
local M = {}

function M.median(xs)
  table.sort(xs)
  local k = #xs
  return k % 2 == 1 and xs[(k + 1) // 2] or (xs[k // 2] + xs[k // 2 + 1]) / 2
end

-- "AMD EPYC ...", from /proc/cpuinfo
function M.cpu()
  for line in io.lines("/proc/cpuinfo") do
    local name = line:match("^model name%s*:%s*(.+)$")
    if name then return name end
  end
  return "unknown CPU"
end

-- cmd's success and its output (stdout and stderr together)
function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

return M
