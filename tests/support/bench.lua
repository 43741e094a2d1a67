-- What the benchmarks of tests/bench share: medians, the CPU's name, and launching a
-- benchmark's worker side under mpirun.
local M = {}

-- The median of the numbers xs (not changed); NaN for none.
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
