-- What the benchmarks under tests/bench/ share: medians, the CPU's name for the report, running
-- a shell command or a twin that prints one JSON line, sizes from the environment, whether a
-- Python peer is installed, and launching a benchmark's worker side under mpirun.
local cjson = require "cjson"

local M = {}

-- The median of the numbers xs (left as they were); NaN for none.
function M.median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n == 0 then return 0 / 0 end
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- The CPU's model name from /proc/cpuinfo ("unknown CPU" when it does not say).
function M.cpu()
  local f = io.open("/proc/cpuinfo")
  if not f then return "unknown CPU" end
  local name = f:read("a"):match("model name%s*:%s*([^\n]+)")
  f:close()
  return name or "unknown CPU"
end
M.cpu_name = M.cpu

-- Runs cmd with stderr joined to stdout; returns ok (a boolean) and the output.
function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok == true, out
end

-- Runs cmd and returns the first line of its output that decodes as a JSON object, or nil and
-- the whole output.
function M.json_of(cmd)
  local _, out = M.sh(cmd)
  for line in out:gmatch("[^\n]+") do
    if line:match("^{") then
      local ok, rec = pcall(cjson.decode, line)
      if ok then return rec end
    end
  end
  return nil, out
end

-- The records of a JSON-lines file (a metrics log), skipping lines that do not decode; {} when
-- the file is missing.
function M.read_jsonl(path)
  local out = {}
  local fh = io.open(path, "r")
  if not fh then return out end
  for line in fh:lines() do
    if line:match("%S") then
      local ok, rec = pcall(cjson.decode, line)
      if ok then out[#out + 1] = rec end
    end
  end
  fh:close()
  return out
end

-- The whole numbers of the environment variable name (or of default when it is unset), as a
-- benchmark's sizes: TIDE_BENCH_X="200000 10 7" -> 200000, 10, 7.
function M.sizes(name, default)
  local out = {}
  for v in (os.getenv(name) or default):gmatch("%d+") do
    out[#out + 1] = math.tointeger(tonumber(v))
  end
  return table.unpack(out)
end

-- Whether /usr/bin/python3 can import every module named (Debian's peers: torch, scipy).
function M.has_python(...)
  local imports = table.concat({ ... }, ", ")
  return os.execute(("/usr/bin/python3 -c 'import %s' > /dev/null 2>&1"):format(imports)) == true
end

-- Runs `lua5.4 tests/bench/<name>.lua --worker` under mpirun -np np, passing the build and
-- source folders and the variables in env (a table: name -> value); ends this process with
-- status 1 when the job fails.
function M.launch(name, np, env)
  local root = os.getenv("TIDE_SOURCE_DIR") or "."
  local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
  local vars = { ("TIDE_BUILD_DIR=%q TIDE_SOURCE_DIR=%q"):format(build, root) }
  local names = {}
  for k in pairs(env or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do vars[#vars + 1] = ("%s=%q"):format(k, tostring(env[k])) end
  local cmd = ("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 %s %s --oversubscribe "
    .. "-np %d lua5.4 %q --worker"):format(table.concat(vars, " "),
    os.getenv("MPIRUN") or "mpirun", np, root .. "/tests/bench/" .. name .. ".lua")
  if not os.execute(cmd) then
    os.exit(1)
  end
end

return M
