-- The tide executable, its REPL, `tide run`, the embedding example and plain lua5.4, each run
-- as a separate job (alone and under mpirun) whose output and exit code are checked.
--   TIDE_EXE         the built tide executable
--   MPIRUN           the mpirun the build found
--   TIDE_SOURCE_DIR  the source tree; TIDE_BUILD_DIR the build tree
local TIDE = assert(os.getenv("TIDE_EXE"), "TIDE_EXE is not set")
local MPIRUN = assert(os.getenv("MPIRUN"), "MPIRUN is not set")
local SRC = assert(os.getenv("TIDE_SOURCE_DIR"), "TIDE_SOURCE_DIR is not set")
local BUILD = assert(os.getenv("TIDE_BUILD_DIR"), "TIDE_BUILD_DIR is not set")

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function command_output(cmd)
  local p = assert(io.popen(cmd))
  local s = p:read("a")
  p:close()
  return (s:gsub("%s+$", ""))
end

local CORES = tonumber(command_output("getconf _NPROCESSORS_ONLN"))
local ROOT = command_output("id -u") == "0"

-- Runs a shell command with input on stdin (none: /dev/null) under a time limit; returns
-- {code = exit code (124 when the limit struck), out = stdout, err = stderr, secs = wall time}.
-- In a sanitizer build the spawned programs are instrumented themselves, so LD_PRELOAD (set
-- for lua5.4's sake) is dropped and mpirun runs uninstrumented; and since Open MPI unloads its
-- plugins at MPI_Finalize, only the slow unwinder traces their allocations back into the
-- libraries tests/lsan.supp names.
local ASAN = "ASAN_OPTIONS=" .. q((os.getenv("ASAN_OPTIONS") or "") .. ":fast_unwind_on_malloc=0")
local function run(cmd, input, limit, keep_preload)
  local out, err, inp = os.tmpname(), os.tmpname(), os.tmpname()
  local f = assert(io.open(inp, "wb"))
  f:write(input or "")
  f:close()
  local t0 = tonumber(command_output("date +%s.%N"))
  local prefix = (keep_preload and "env " or "env -u LD_PRELOAD ") .. ASAN .. " "
  local ok, how, code = os.execute(("%stimeout %d sh -c %s <%s >%s 2>%s"):format(
    prefix, limit or 60, q(cmd), inp, out, err))
  local secs = tonumber(command_output("date +%s.%N")) - t0
  local r = { code = how == "exit" and code or 128 + code, out = slurp(out), err = slurp(err),
              secs = secs }
  os.remove(out)
  os.remove(err)
  os.remove(inp)
  assert(ok ~= nil or r.code ~= 0)
  return r
end

local function mpirun(np, args)
  return ("%s --oversubscribe -np %d %s"):format(q(MPIRUN), np, args)
end

local function tide(args)
  return q(TIDE) .. " " .. args
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do
    t[#t + 1] = l
  end
  return t
end

local function script(name)
  return SRC .. "/tests/host/" .. name
end

-- The line of file whose text contains needle.
local function line_of(file, needle)
  local n = 0
  for l in io.lines(file) do
    n = n + 1
    if l:find(needle, 1, true) then
      return n
    end
  end
  error("no line of " .. file .. " contains " .. needle)
end

describe("tide, alone", function()
  it("runs -e code: tide -e 'print(1+1)' prints 2", function()
    local r = run(tide("-e 'print(1+1)'"))
    assert.are.equal(0, r.code)
    assert.are.equal("2\n", r.out)
    assert.are.equal("", r.err)
  end)

  it("shows its version with -v and its usage with -h", function()
    local r = run(tide("-v"))
    assert.are.equal(0, r.code)
    assert.truthy(r.out:match("^tide %d+%.%d+%.%d+ %(Lua 5%.4, Open MPI %d+%.%d+%.%d+%)\n$"), r.out)
    local h = run(tide("-h"))
    assert.are.equal(0, h.code)
    assert.truthy(h.out:find("usage: tide [options] [script [args]]", 1, true))
    assert.truthy(h.out:find("tide run -n N [--tcp] [--dry-run] [-i] [script [args]]", 1, true))
    assert.truthy(h.out:find("--restarts K", 1, true))
  end)

  it("gives a script its arguments as `...` and arg, as lua.c does", function()
    local r = run(tide(q(script("args.lua")) .. " a 'b c'"))
    assert.are.equal(0, r.code, r.err)
    assert.are.same({
      "n=2\tdots=a,b c",
      "arg0=" .. script("args.lua") .. "\targ1=a\targ2=b c\tlen=2\targm1=" .. TIDE,
      "global tide: table\tsame as require: true",
    }, lines(r.out))
  end)

  it("runs -e before the script, in order", function()
    local r = run(tide("-e 'print(1)' -e 'print(2)' " .. q(script("args.lua")) .. " x"))
    assert.are.equal(0, r.code, r.err)
    local l = lines(r.out)
    assert.are.same({ "1", "2", "n=1\tdots=x" }, { l[1], l[2], l[3] })
  end)

  it("loads a library into a global with -l", function()
    local r = run(tide("-l cjson -e 'print(cjson.encode({ 1, 2 }))'"))
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("[1,2]\n", r.out)
    r = run(tide("-l no_such_module"))
    assert.are.equal(1, r.code)
    assert.truthy(r.err:find("[rank 0] module 'no_such_module' not found:", 1, true), r.err)
  end)

  it("runs stdin as a script when it is not a terminal", function()
    local r = run(tide(""), "print('from stdin', 6 * 7)\n")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("from stdin\t42\n", r.out)
    local dash = run(tide("- p q"), "print(...)\n")
    assert.are.equal("p\tq\n", dash.out)
  end)

  it("reports a script error as [rank 0] file:line: message with a traceback, exit 1", function()
    local file = script("error_alone.lua")
    local r = run(tide(q(file)))
    assert.are.equal(1, r.code)
    local l = lines(r.err)
    assert.are.equal(("[rank 0] %s:%d: x is too big: 5"):format(file, line_of(file, "error(")), l[1])
    assert.are.equal("stack traceback:", l[2])
    assert.truthy(r.err:find(("%s:%d: in "):format(file, line_of(file, "check(5)")), 1, true))
    assert.are.equal("", r.out)
  end)

  it("rejects bad arguments with a clear message and a non-zero exit", function()
    local r = run(tide("-x"))
    assert.are.equal(1, r.code)
    assert.are.equal("tide: unrecognized option '-x' (tide -h shows the usage)\n", r.err)
    r = run(tide("-e"))
    assert.are.equal(1, r.code)
    assert.are.equal("tide: '-e' needs an argument (tide -h shows the usage)\n", r.err)
    r = run(tide("no/such/script.lua"))
    assert.are.equal(1, r.code)
    assert.are.equal("[rank 0] tide: cannot open no/such/script.lua: No such file or directory\n",
                     r.err)
    r = run(tide("-e 'x = = 1'"))
    assert.are.equal(1, r.code)
    assert.are.equal("[rank 0] tide: (command line):1: unexpected symbol near '='\n", r.err)
  end)

  it("ends with the code os.exit gives", function()
    local r = run(tide(q(script("exit_code.lua")) .. " 3"))
    assert.are.equal(3, r.code)
    assert.are.equal("exiting with 3\n", r.out)
    r = run(tide(q(script("exit_code.lua")) .. " 0"))
    assert.are.equal(0, r.code)
    assert.are.equal("exiting with 0\n", r.out)
  end)

  it("gives OpenBLAS the cores divided by the ranks on the node, unless told", function()
    local r = run("env -u OPENBLAS_NUM_THREADS " .. tide(q(script("blas_threads.lua"))))
    assert.are.equal("blas_threads=" .. CORES .. "\n", r.out)
    r = run("env -u OPENBLAS_NUM_THREADS " .. mpirun(2, tide(q(script("blas_threads.lua")))))
    local each = "blas_threads=" .. math.max(1, CORES // 2)
    assert.are.same({ each, each }, lines(r.out))
    r = run("OPENBLAS_NUM_THREADS=1 " .. tide(q(script("blas_threads.lua"))))
    assert.are.equal("blas_threads=1\n", r.out)
  end)
end)

describe("tide under mpirun", function()
  it("runs examples/hello.lua on 4 ranks: four rank reports, exit 0", function()
    local r = run(mpirun(4, tide(q(SRC .. "/examples/hello.lua"))))
    assert.are.equal(0, r.code, r.err)
    local seen = {}
    for _, l in ipairs(lines(r.out)) do
      local rank, size = l:match("^rank (%d+) of (%d+) on %S+$")
      if rank then
        assert.are.equal("4", size)
        seen[#seen + 1] = tonumber(rank)
      end
    end
    table.sort(seen)
    assert.are.same({ 0, 1, 2, 3 }, seen)
    assert.truthy(r.out:find("sum of ranks 6 = N(N-1)/2", 1, true), r.out)
  end)

  it("ends the job within 10 s when rank 1 fails while rank 0 waits in a barrier", function()
    local file = script("barrier_error.lua")
    local r = run(mpirun(2, tide(q(file))), nil, 30)
    assert.are_not.equal(0, r.code)
    assert.are_not.equal(124, r.code)
    assert.truthy(r.secs < 10, "took " .. r.secs .. " s")
    assert.truthy(r.err:find(("[rank 1] %s:%d: rank 1 gives up"):format(
      file, line_of(file, 'error("rank 1 gives up")')), 1, true), r.err)
    assert.truthy(r.err:find("stack traceback:", 1, true))
  end)

  it("reports a file missing on every rank once per rank and exits non-zero", function()
    local r = run(mpirun(2, tide("no_such.lua")))
    assert.are_not.equal(0, r.code)
    local l = lines(r.err)
    local msgs = {}
    for _, m in ipairs(l) do
      if m:find("cannot open", 1, true) then msgs[#msgs + 1] = m end
    end
    table.sort(msgs)
    assert.are.same({
      "[rank 0] tide: cannot open no_such.lua: No such file or directory",
      "[rank 1] tide: cannot open no_such.lua: No such file or directory",
    }, msgs)
  end)

  it("ends the whole job when os.exit gives a non-zero code on one rank", function()
    local r = run(mpirun(2, tide("-e 'if tide.world.rank == 1 then os.exit(5) end "
      .. "tide.world:barrier()'")), nil, 30)
    assert.are_not.equal(0, r.code)
    assert.are_not.equal(124, r.code)
    -- whatever Open MPI's own banner says (at times only an ORTE_ERROR_LOG line), the rank
    -- and the cause are named
    assert.truthy(r.err:find("[rank 1] os.exit(5) ends the job", 1, true), r.err)
  end)

  it("closes the Lua state before finalising MPI, so a TIDE_TRACE timeline gets written", function()
    local file = os.tmpname()
    os.remove(file)
    local r = run("TIDE_TRACE=" .. q(file) .. " " .. mpirun(2, tide(q(SRC .. "/examples/hello.lua"))))
    assert.are.equal(0, r.code, r.err)
    assert.truthy(slurp(file):find('"name":"allreduce"', 1, true))
    os.remove(file)
    r = run("TIDE_TRACE=" .. q(file) .. " " .. mpirun(2, tide("-i")), "tide.world:barrier()\nos.exit()\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(slurp(file):find('"name":"barrier"', 1, true))
    os.remove(file)
  end)

  it("reads stdin on rank 0 and runs it on every rank", function()
    local r = run(mpirun(2, tide("")), "print('rank', tide.world.rank)\n")
    assert.are.equal(0, r.code, r.err)
    local l = lines(r.out)
    table.sort(l)
    assert.are.same({ "rank\t0", "rank\t1" }, l)
  end)
end)

describe("the REPL", function()
  it("runs each line on every rank, prints rank 0's values and every rank's errors", function()
    local r = run(mpirun(2, tide("-i")),
      'x = tide.world.rank * 10\nx\nerror("boom")\n1 + 1\n')
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("0\n2\n", r.out)
    local errs = {}
    for _, l in ipairs(lines(r.err)) do
      if l:match("^%[rank %d%]") then errs[#errs + 1] = l end
    end
    assert.are.same({ "[rank 0] stdin:1: boom", "[rank 1] stdin:1: boom" }, errs)
  end)

  it("completes a multi-line statement and runs it once", function()
    local r = run(mpirun(2, tide("-i")),
      "n = 0\nfor i = 1, 3 do\n  n = n + i\nend\nn\ntide.on(1, function() return n end)\n")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("6\n6\n", r.out)
  end)

  it("prints =expr and several values, and goes on after a syntax error", function()
    local r = run(tide("-i"), "= 6 * 7\nreturn 1, 'two', nil\nx = = 1\nfunction f(a,\nb)\n"
      .. "return a - b end\nf(5, 3)\n")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("42\n1\ttwo\tnil\n2\n", r.out)
    assert.are.equal("stdin:1: unexpected symbol near '='\n", r.err)
  end)

  it("shows another rank's values with tide.on, and its errors on the rank that raised them", function()
    local r = run(mpirun(2, tide("-i")), table.concat({
      "tide.on(1, function() return tide.world.rank, 'r' .. tide.world.rank, true, nil, 2.5 end)",
      "tide.on(0, function(a, b) return a + b end, 1, 2)",
      "tide.on(1, function() error('inner', 0) end)",
      "x = tide.on(2, print)",
      "'still here'",
    }, "\n") .. "\n")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("1\tr1\ttrue\tnil\t2.5\n3\nstill here\n", r.out)
    local errs = {}
    for _, l in ipairs(lines(r.err)) do
      if l:match("^%[rank %d%]") then errs[#errs + 1] = l end
    end
    assert.are.same({
      "[rank 1] inner",
      "[rank 0] stdin:1: tide.on: rank 2 out of range (expected 0..1)",
      "[rank 1] stdin:1: tide.on: rank 2 out of range (expected 0..1)",
    }, errs)
  end)

  it("brings tensors back as tensors, and runs fn on a list or a range of ranks", function()
    local r = run(mpirun(3, tide("-i")), table.concat({
      -- rank 1's tensor, built there from its rank; rank 0 checks it against the closed form
      "t = tide.on(1, function() return tide.arange(6, 'f64'):reshape({ 2, 3 }):mul_(tide.world.rank / 3) end)",
      "= t:dtype(), t:shape()[1], t:shape()[2], t:get(2, 3), t:sum() == 15 / 3",
      "r = tide.on('1-2', function() return tide.world.rank * 10, tide.world.rank end)",
      "= r[1][1], r[2][1], r[2][2], r[0], r[1].n",
      "r = tide.on({ 2, 0, 2 }, function() return tide.world.rank end)",
      "= #r.ranks, r.ranks[1], r.ranks[2], r[0][1], r[2][1]",
      "print(tostring(tide.on('0,2', function() return 'x', tide.world.rank end)))",
    }, "\n") .. "\n")
    assert.are.equal(0, r.code, r.err)
    assert.are.same({
      "f64\t2\t3\t1.6666666666667\ttrue",
      "10\t20\t2\tnil\t2",
      "2\t0\t2\t0\t2",
      "rank 0: x\t0",
      "rank 2: x\t2",
    }, lines(r.out))
  end)

  it("refuses a collective inside tide.on at once, naming tide.on, and bad rank specs", function()
    local r = run(mpirun(2, tide("-i")), table.concat({
      "tide.on(1, function() tide.world:barrier() end)",
      "tide.on(1, function() return tide.world:allreduce(1) end)",
      "tide.on('1-x', print)",
      "tide.on({ 0, 1.5 }, print)",
      "tide.on(1, 5)",
      "tide.on(1, function() return print end)",
      "r = tide.on('0-1', function() return tide.world:allreduce(1) end)",
      "= r and r[1][1]",
    }, "\n") .. "\n", 60)
    assert.are.equal(0, r.code, r.err)
    local errs = {}
    for _, l in ipairs(lines(r.err)) do
      if l:match("^%[rank %d%]") then errs[#errs + 1] = l end
    end
    local solo = "a collective inside tide.on, which runs its function on some ranks only (the "
      .. "other ranks would never join it)"
    local serial = "tide.on: rank 1 could not serialise its value: cannot serialise a function "
      .. "(values are numbers, strings, booleans and tables)"
    assert.are.same({
      "[rank 1] stdin:1: barrier: " .. solo,
      "[rank 1] stdin:1: allreduce: " .. solo,
      '[rank 0] tide.on: expected ranks such as "1-3" or "0,2", got "1-x"',
      '[rank 1] tide.on: expected ranks such as "1-3" or "0,2", got "1-x"',
      "[rank 0] tide.on: expected integer ranks, got float",
      "[rank 1] tide.on: expected integer ranks, got float",
      "[rank 0] tide.on: expected a function, got number",
      "[rank 1] tide.on: expected a function, got number",
      "[rank 0] " .. serial,
      "[rank 1] " .. serial,
    }, errs)
    -- on every rank, collectives are allowed: the allreduce of 1 over 2 ranks
    assert.are.equal("2\n", r.out)
  end)

  it("ends every rank with exit 0 on os.exit and on end of input", function()
    local r = run(mpirun(2, tide("-i")), "print('before')\nos.exit()\nprint('after')\n")
    assert.are.equal(0, r.code, r.err)
    assert.are.same({ "before", "before" }, lines(r.out))
    r = run(mpirun(2, tide("-i")), "")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("", r.out)
  end)

  it("stops a runaway chunk on SIGINT and goes on", function()
    -- The signal goes in only once the loop runs (the REPL has printed "ready"), however
    -- long the start took on a loaded machine.
    local out = os.tmpname()
    -- (a job sent to the background reads /dev/null unless given stdin explicitly)
    local cmd = ("exec 3<&0; %s <&3 >%s & pid=$!; i=0; " ..
      "while ! grep -q ready %s && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; " ..
      "sleep 0.2; kill -INT $pid; wait $pid; code=$?; cat %s; exit $code"):format(
      tide("-i"), out, out, out)
    local r = run(cmd, "print('ready') io.stdout:flush()\nwhile true do end\nprint('after')\n")
    os.remove(out)
    assert.are.equal(0, r.code, r.err)    -- the session went on to the end of its input
    assert.are.equal("ready\nafter\n", r.out)
    assert.are.equal("[rank 0] interrupted", lines(r.err)[1])
  end)

  it("prompts when someone is typing (TIDE_INTERACTIVE=1)", function()
    local r = run("TIDE_INTERACTIVE=1 " .. tide("-i"), "for i = 1, 2 do\nend\n1\n")
    assert.are.equal(0, r.code, r.err)
    local l = lines(r.out)
    assert.truthy(l[1]:match("^tide %d"), r.out)
    assert.are.equal("> >> > 1", l[3])
    assert.are.equal("> ", l[4])
  end)
end)

describe("tide run", function()
  local self = command_output("readlink -f " .. q(TIDE))
  local hello = SRC .. "/examples/hello.lua"
  local root = ROOT and " --allow-run-as-root" or ""

  it("prints the mpirun command line with --dry-run", function()
    local r = run(tide("run --dry-run -n 2 " .. q(hello) .. " a 'b c'"))
    assert.are.equal(0, r.code, r.err)
    local over = 2 > CORES and " --oversubscribe" or ""
    assert.are.equal(("%s -np 2%s%s %s %s a 'b c'\n"):format(MPIRUN, over, root, self, hello), r.out)
  end)

  it("oversubscribes past the cores and selects TCP with --tcp", function()
    local n = CORES + 1
    local r = run(tide(("run -n %d --tcp --dry-run %s"):format(n, q(hello))))
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(("%s -np %d --oversubscribe%s --mca btl tcp,self %s %s\n"):format(
      MPIRUN, n, root, self, hello), r.out)
  end)

  it("runs the job", function()
    local r = run(tide("run -n 2 --tcp " .. q(hello)))
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("rank 1 of 2 on ", 1, true), r.out)
  end)

  it("rejects bad arguments", function()
    local cases = {
      { "run " .. q(hello), "tide: run: missing -n N (the number of ranks) (tide -h shows the usage)\n" },
      { "run -n 0 " .. q(hello),
        "tide: run: -n expects a positive number of ranks, got '0' (tide -h shows the usage)\n" },
      { "run -n", "tide: run: '-n' needs a number of ranks (tide -h shows the usage)\n" },
      { "run -n 2 --fast x.lua", "tide: run: unknown option '--fast' (tide -h shows the usage)\n" },
      { "run -n 2 no_such.lua", "tide: run: cannot open no_such.lua: No such file or directory\n" },
    }
    for _, c in ipairs(cases) do
      local r = run(tide(c[1]))
      assert.are.equal(1, r.code, c[1])
      assert.are.equal(c[2], r.err)
      assert.are.equal("", r.out)
    end
  end)
end)

describe("embedding", function()
  it("runs the embedding example under mpirun -np 2", function()
    local r = run(mpirun(2, q(BUILD .. "/examples/embed/embed_example")))
    assert.are.equal(0, r.code, r.err)
    local l = lines(r.out)
    table.sort(l)
    assert.are.same({
      "rank 0: after shift_ the program's keys start at 1003",
      "rank 0: bad keys: assign: expected a tensor of keys, got string",
      "rank 0: keys 3 10 17 24 31 38 -> ranks 1 0 1 0 1 0",
      "rank 0: missing function: call: 'no_such_policy' is not a function (got nil)",
      "rank 0: ok",
      "rank 0: syntax error: [string \"return 1 +\"]:1: unexpected symbol near <eof>",
      "rank 1: after shift_ the program's keys start at 1103",
      "rank 1: bad keys: assign: expected a tensor of keys, got string",
      "rank 1: keys 103 110 117 124 131 138 -> ranks 1 0 1 0 1 0",
      "rank 1: missing function: call: 'no_such_policy' is not a function (got nil)",
      "rank 1: ok",
      "rank 1: syntax error: [string \"return 1 +\"]:1: unexpected symbol near <eof>",
    }, l)
  end)
end)

describe("plain lua5.4", function()
  it("loads tide with the README's paths and is a world of one", function()
    local env = ("LUA_PATH=%s LUA_CPATH=%s "):format(
      q(SRC .. "/scripts/?.lua;" .. SRC .. "/scripts/?/init.lua;;"), q(BUILD .. "/lua/?.so;;"))
    local r = run(env .. "lua5.4 -e 'local t = require \"tide\"; print(t.world.size)'", nil, 60, true)
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("1\n", r.out)
  end)
end)
