-- What the benchmarks under tests/bench/ share: the CPU's name, medians, and reading the one
-- JSON line a twin or peer process prints.
local cjson = require "cjson"

local M = {}

--- The CPU's model name from /proc/cpuinfo ("unknown CPU" elsewhere).
function M.cpu_name()
  local f = io.open("/proc/cpuinfo")
  if not f then return "unknown CPU" end
  local name = f:read("a"):match("model name%s*:%s*([^\n]+)")
  f:close()
  return name or "unknown CPU"
end

function M.median(xs)
  local s = {}
  for i, v in ipairs(xs) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return 0 / 0 end
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

--- The whole numbers of the environment variable name (or of default when it is unset), as
--- a benchmark's sizes: TIDE_BENCH_X="200000 10 7" -> 200000, 10, 7.
function M.sizes(name, default)
  local out = {}
  for v in (os.getenv(name) or default):gmatch("%d+") do
    out[#out + 1] = math.tointeger(tonumber(v))
  end
  return table.unpack(out)
end

--- Runs cmd and returns the first line of its output that decodes as a JSON object, or nil
--- and the whole output.
function M.json_of(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  p:close()
  for line in out:gmatch("[^\n]+") do
    if line:match("^{") then
      local ok, rec = pcall(cjson.decode, line)
      if ok then return rec end
    end
  end
  return nil, out
end

--- Whether /usr/bin/python3 can import every module named (Debian's peers: torch, scipy).
function M.has_python(...)
  local imports = table.concat({ ... }, ", ")
  return os.execute(("/usr/bin/python3 -c 'import %s' > /dev/null 2>&1"):format(imports)) == true
end

return M
