-- Running the job scripts of tests/mpi/jobs/ under mpirun from a spec, and checking what they
-- printed.
local proc = require "support.proc"
local files = require "support.files"

local M = {}

local SRC = os.getenv("TIDE_SOURCE_DIR") or "."
local MPIRUN = os.getenv("MPIRUN") or "mpirun"
M.dir = SRC .. "/tests/mpi/jobs/"

-- Runs `lua5.4 script args` (script: a file of tests/mpi/jobs/) under mpirun -np np for at most
-- limit seconds (60); returns its exit code, its output (stdout and stderr) and seconds. env:
-- variables for mpirun and the ranks ("TIDE_TIMEOUT=3 ..."), set after the defaults: the
-- switches of the runtime as a job gets them unless told (TIDE_DEBUG=0, no TIDE_TIMEOUT ...).
-- This process is an MPI singleton: the variables Open MPI set for it would confuse the child
-- mpirun, so they are cleared (proc.clean_env). LD_PRELOAD stays: these jobs run lua5.4, which
-- needs the sanitizer runtime preloaded. Jobs check behaviour, not leaks: under the sanitizer
-- build LeakSanitizer stays off in them (its tracer does not survive oversubscribed MPI jobs).
function M.run(np, script, args, env, limit)
  local out = os.tmpname()
  local cmd = string.format("cd %q && %s LD_PRELOAD=%q OMPI_ALLOW_RUN_AS_ROOT=1 "
    .. "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 TIDE_DEBUG=0 TIDE_TRACE= "
    .. "TIDE_CHECK= TIDE_TIMEOUT= TIDE_WATCHDOG= %s timeout -k 5 %d %s --oversubscribe -np %d "
    .. "lua5.4 %q %s > %q 2>&1; echo $?",
    M.dir, proc.clean_env, os.getenv("LD_PRELOAD") or "", env or "", limit or 60, MPIRUN, np,
    M.dir .. script, args or "", out)
  local t0 = os.time()
  local p = assert(io.popen(cmd))
  local rc = tonumber(p:read("a"))
  p:close()
  local text = files.read(out)
  os.remove(out)
  return rc, text, os.time() - t0
end

-- The line of a script that carries a marker comment ("-- @shape"); script: a file of
-- tests/mpi/jobs/, or a path.
function M.marked(script, marker)
  local path = script:find("/", 1, true) and script or M.dir .. script
  local n = 0
  for l in io.lines(path) do
    n = n + 1
    if l:find("-- @" .. marker, 1, true) then return n end
  end
  error("no marker " .. marker .. " in " .. script)
end

-- Asserts that text contains s (plain text, not a pattern), showing text when not.
function M.contains(text, s)
  assert(text:find(s, 1, true), "expected the output to contain:\n" .. s .. "\n--- got:\n" .. text)
end

return M
