-- Running other processes (tide, mpirun) from a spec.
--
-- A busted process that has loaded tide is itself an MPI singleton, and Open MPI leaves
-- variables in its environment (PMIX_*, OMPI_MCA_ess, ...) that would make a child mpirun
-- believe it belongs to that singleton job. Every command is run with those removed, and
-- without LD_PRELOAD: the sanitizer build preloads its runtime into the (uninstrumented) lua5.4
-- running the specs, while the tide executable links it itself, and mpirun must not get it.
local M = {}

local CLEAN_ENV = [[env -u LD_PRELOAD $(env | sed -n -E ]] ..
  [['s/^((PMIX|ORTE|OPAL)_[A-Za-z0-9_]*|OMPI_MCA_(ess|pmix|orte_[A-Za-z0-9_]*)|OMPI_APP_CTX_NUM_PROCS|OMPI_COMM_WORLD_[A-Z_]*|OMPI_UNIVERSE_SIZE|OMPI_FILE_LOCATION)=.*/-u \1/p') ]]

-- The prefix that runs a command without those variables: `proc.clean_env .. "mpirun ..."`.
M.clean_env = CLEAN_ENV

-- Quotes s for the shell.
function M.quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

-- Runs cmd (a shell command line) with stderr joined to stdout; returns output, exit code.
-- (Through sh -c, so that a line starting with a builtin, `cd X && ...`, runs too: env execs
-- a program.)
function M.run(cmd)
  local p = assert(io.popen(CLEAN_ENV .. "sh -c " .. M.quote(cmd) .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

-- The wall clock in seconds, finer than os.time (for deadlines and for timing a job).
function M.now()
  local p = assert(io.popen("date +%s.%N"))
  local t = tonumber(p:read("a"))
  p:close()
  return t
end


return M
