-- Diagnosing a job (issue 14): the watchdog's dumps and the doctor's summary of a job where
-- rank 1 diverges in step 57 (acceptance 3), `tide doctor`'s errors, a dump asked for with
-- SIGUSR1, and TIDE_RECORDER's error. Jobs run the tide executable under mpirun.
local proc = require "support.proc"
local jobs = require "support.jobs"
local cjson = require "cjson"

local TIDE = assert(os.getenv("TIDE_EXE"), "TIDE_EXE is not set")
local MPIRUN = os.getenv("MPIRUN") or "mpirun"
local SRC = os.getenv("TIDE_SOURCE_DIR") or "."
local JOB = SRC .. "/tests/host/diverge.lua"
local q = proc.quote

local read = require("support.files").try_read

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  return d
end

local now = proc.now

-- Runs cmd (stderr joined); returns output, exit code, seconds, and the wall-clock time it
-- ended at.
local function run(cmd)
  local t0 = now()
  local out, code = proc.run("ASAN_OPTIONS=detect_leaks=0 " .. cmd)
  local t1 = now()
  return out, code, t1 - t0, t1
end

-- Seconds from a dump's first recorded collective to `t` (wall clock): how long the job ran
-- after its start-up (MPI's start-up under a sanitizer on a loaded machine takes seconds). The
-- ring's times are monotonic: the dump's pair of clocks converts them.
local function since_first(d, t)
  return t - (d.wall - (d.monotonic - d.collectives[1].start))
end

local function marked(marker) return jobs.marked(JOB, marker) end
local contains = jobs.contains

local function diverge(kind, dir)
  return run(("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TIDE_DUMP_DIR=%s "
    .. "timeout -k 5 60 %s --oversubscribe -np 2 env TIDE_TIMEOUT=5 %s %s %s"):format(
    q(dir), q(MPIRUN), q(TIDE), q(JOB), kind))
end

local function dump_of(dir, r)
  return cjson.decode((assert(read(("%s/rank-%d.json"):format(dir, r)), "no dump of rank " .. r)))
end

describe("a job where rank 1 diverges in step 57 (TIDE_TIMEOUT=5)", function()
  local A, B, BR = marked("allreduce"), marked("barrier"), marked("broadcast")

  it("skipping an allreduce: ends within 10 s, and the doctor names rank 1 and where it is", function()
    local dir = tmpdir()
    local out, code, _, t_end = diverge("skip", dir)
    assert.are_not.equal(0, code, out)
    -- each rank's record, against what the script does: rank 0 made 100 allreduces (the last
    -- never completes), rank 1 made 99 and waits in the barrier as its 100th collective
    local d0, d1 = dump_of(dir, 0), dump_of(dir, 1)
    local secs = since_first(d0, t_end)
    assert.is_true(secs < 10, ("ended %.1f s after the first collective:\n%s"):format(secs, out))
    assert.are.equal(100, #d0.collectives)
    assert.are.equal(100, #d1.collectives)
    for i, e in ipairs(d0.collectives) do
      assert.are.same({ i, "allreduce", "f32", { 4 }, "sum", "diverge.lua:" .. A },
        { e.seq, e.name, e.dtype, e.shape, e.op, e.site })
      assert.are.equal(i < 100 and "done" or "started", e.state)
    end
    assert.are.same({ 100, "barrier", "diverge.lua:" .. B, "started" },
      { d1.collectives[100].seq, d1.collectives[100].name, d1.collectives[100].site,
        d1.collectives[100].state })
    -- the summary: the last each completed, who is missing, where it is, the first difference
    contains(out, "last completed:\n  ranks 0-1: #99 allreduce f32 [4] op sum at diverge.lua:" .. A)
    contains(out, ("first incomplete: allreduce #100 at diverge.lua:%d; missing: rank 1\n"):format(A))
    contains(out, ("  rank 1 is at %s:%d, in barrier #100 (started)"):format(JOB, B))
    contains(out, ("first difference: #100: rank 0: allreduce f32 [4] op sum at diverge.lua:%d; "
      .. "rank 1: barrier at diverge.lua:%d"):format(A, B))
    -- and `tide doctor DIR` says the same afterwards
    local again, rc = run(q(TIDE) .. " doctor " .. q(dir))
    assert.are.equal(0, rc, again)
    contains(again, ("  rank 1 is at %s:%d, in barrier #100 (started)"):format(JOB, B))
    os.execute("rm -rf " .. q(dir))
  end)

  -- Decision (issue 14 vs issue 12's light check): the light check does not catch this case
  -- (rank 0's allreduce is not new, so only rank 1 checks, and waits): the watchdog ends the
  -- job and the doctor's "first difference" names both calls. Were the light check ever to
  -- catch it first, its message names both call sites too; either report is accepted.
  it("broadcast instead of allreduce: the summary names both collectives and call sites", function()
    local dir = tmpdir()
    local out, code, _, t_end = diverge("broadcast", dir)
    assert.are_not.equal(0, code, out)
    local text = read(dir .. "/rank-0.json")   -- none when the light check ended the job
    local secs = text and since_first(cjson.decode(text), t_end) or 0
    assert.is_true(secs < 10, ("ended %.1f s after the first collective:\n%s"):format(secs, out))
    local doctor = ("first difference: #57: rank 0: allreduce f32 [4] op sum at diverge.lua:%d; "
      .. "rank 1: broadcast f32 [4] root 0 at diverge.lua:%d"):format(A, BR)
    local check = ("#57: rank 1 called broadcast"):format()
    if out:find(doctor, 1, true) then
      contains(out, "last completed:\n  ranks 0-1: #56 allreduce f32 [4] op sum at diverge.lua:" .. A)
      contains(out, ("  rank 1 is at %s:%d, in broadcast #57 (started)"):format(JOB, BR))
    else
      contains(out, check)
      contains(out, "diverge.lua:" .. A)
      contains(out, "diverge.lua:" .. BR)
    end
    os.execute("rm -rf " .. q(dir))
  end)
end)

describe("heartbeats (TIDE_HEARTBEAT=2)", function()
  it("name a rank stopped with SIGSTOP on every other rank within 6 s; the job ends non-zero", function()
    local dir = tmpdir()
    local out, code = run(("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
      .. "TIDE_DUMP_DIR=%s timeout -k 5 60 %s --oversubscribe -np 4 env TIDE_HEARTBEAT=2 %s %s"):format(
      q(dir), q(MPIRUN), q(TIDE), q(SRC .. "/tests/host/stop_rank.lua")))
    assert.are_not.equal(0, code, out)
    assert.are_not.equal(124, code, out)   -- not the time limit: the job ended itself
    local stopped = tonumber(out:match("stopping at ([%d.]+)"))
    assert.is_truthy(stopped, out)
    for _, r in ipairs { 0, 1, 3 } do
      contains(out, ("tide heartbeat: rank %d: no heartbeat from rank 2 for "):format(r))
    end
    -- the ranks that could answer dumped, after they reported: their files' times bound when
    local dumped = 0
    for _, r in ipairs { 0, 1, 3 } do
      local text = read(("%s/rank-%d.json"):format(dir, r))
      if text then
        local d = cjson.decode(text)
        assert.matches("^tide heartbeat: rank 2 silent for ", d.reason)
        assert.is_true(d.wall - stopped < 6, ("rank %d dumped %.1f s after the stop"):format(r, d.wall - stopped))
        dumped = dumped + 1
      end
    end
    assert.is_true(dumped >= 1, "no dump:\n" .. out)
    assert.is_nil(read(dir .. "/rank-2.json"))
    os.execute("rm -rf " .. q(dir))
  end)

  it("end a job with a stopped rank so that tide run --restarts 1 relaunches it", function()
    local dir = tmpdir()
    local out, code = run(("TIDE_DUMP_DIR=%s TIDE_HEARTBEAT=2 timeout -k 5 60 %s run --restarts 1 "
      .. "-n 2 %s"):format(q(dir), q(TIDE), q(SRC .. "/tests/host/stop_once.lua")))
    assert.are.equal(0, code, out)
    contains(out, "tide heartbeat: rank 0: no heartbeat from rank 1 for ")
    contains(out, "(status 75 (a rank was lost)) after ")
    contains(out, "restart 1 of 1 with 2 ranks (TIDE_RESTART=1)")
    contains(out, "finished on attempt 1\n")
    assert.is_nil(out:find("attempt 0 was not stopped", 1, true), out)
    os.execute("rm -rf " .. q(dir))
  end)

  it("refuse a TIDE_HEARTBEAT that is not a number of seconds", function()
    local out, rc = run("TIDE_HEARTBEAT=soon " .. q(TIDE) .. " -e 'print(1)'")
    assert.are_not.equal(0, rc)
    contains(out, "TIDE_HEARTBEAT: expected a timeout in seconds, got 'soon'")
  end)
end)

describe("tide.breakpoint()", function()
  it("stops at its line, shows locals, reaches rank 1 with :on, and :continue finishes (exit 0)", function()
    local job = SRC .. "/tests/host/breakpoint.lua"
    local n = 0
    local line
    for l in io.lines(job) do
      n = n + 1
      if l:find("-- @breakpoint", 1, true) then line = n end
    end
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write("mine\n:on 1 return i, mine\nmine = 100\n:on 9 return 1\nnosuch()\n:continue\n")
    f:close()
    local out, code = run(("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout -k 5 60 "
      .. "%s --oversubscribe -np 2 %s %s < %s"):format(q(MPIRUN), q(TIDE), q(job), q(input)))
    os.remove(input)
    assert.are.equal(0, code, out)
    local where = ("%s:%d"):format(job, line)
    local prompt = "(breakpoint " .. where .. ") "
    contains(out, "rank 1 total 63")    -- 11 + 21 + 31
    -- rank 1's line reaches mpirun through its own pipe: it may land anywhere in rank 0's
    out = out:gsub("rank 1 total 63\n", "", 1)
    contains(out, "[breakpoint] rank 0 stopped at " .. where)
    contains(out, prompt .. "20\n")                 -- rank 0's mine in step 2: 2 * 10 + 0
    contains(out, prompt .. "[1] 2\t21\n")         -- rank 1's loop variable and its mine
    contains(out, prompt .. "error: tide.on: rank 9 out of range (expected 0..1)\n")
    contains(out, prompt .. "error: breakpoint:1: attempt to call a nil value (global 'nosuch')\n")
    contains(out, "[breakpoint] continuing")
    contains(out, "rank 0 total 140")   -- 10 + 100 (assigned at the breakpoint) + 30
  end)
end)

describe("the REPL's :on", function()
  it("runs a statement on some ranks and shows each rank's results in rank order", function()
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write('x = tide.world.rank * 10\n:on 1 x\n:on 0-1 return x + 1, "a"\n'
      .. ':on 1 error("boom")\n:bogus\n:on 1\nx\n')
    f:close()
    -- stdout and stderr kept apart: mpirun forwards them as separate streams, so a later
    -- statement's error could land between two lines of one statement's results (seen in CI)
    local errors = os.tmpname()
    local out, code = run(("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout -k 5 60 "
      .. "%s --oversubscribe -np 2 %s -i < %s 2> %s"):format(q(MPIRUN), q(TIDE), q(input), q(errors)))
    local err = read(errors) or ""
    os.remove(input)
    os.remove(errors)
    assert.are.equal(0, code, out .. err)
    contains(out, "[1] 10\n")
    contains(out, "[0] 1\ta\n[1] 11\ta\n")   -- one statement's results: in rank order
    contains(out .. err, "[1] error: stdin:1: boom\n")
    contains(err, "[rank 1] repl: unknown command ':bogus' (expected :on RANKS stmt, :ranks all|0 or :help)")
    contains(err, "[rank 0] repl: expected :on RANKS statement, e.g. :on 1 return x")
    assert.matches("\n0\n", "\n" .. out)   -- the session goes on: rank 0's x
  end)
end)

describe("tide doctor", function()
  it("says when a directory holds no dumps", function()
    local dir = tmpdir()
    local out, code = run(q(TIDE) .. " doctor " .. q(dir))
    assert.are.equal(1, code)
    assert.are.equal("tide doctor: no dumps (rank-R.json) in " .. dir .. "\n", out)
  end)

  it("refuses more than one directory", function()
    local out, code = run(q(TIDE) .. " doctor a b")
    assert.are.equal(2, code)
    assert.are.equal("tide doctor: expected at most one directory, got 2 arguments\n", out)
  end)

  it("says which file is not JSON", function()
    local dir = tmpdir()
    os.execute("mkdir -p " .. q(dir))
    local f = assert(io.open(dir .. "/rank-0.json", "w"))
    f:write("{oops")
    f:close()
    local out, code = run(q(TIDE) .. " doctor " .. q(dir))
    assert.are.equal(1, code)
    contains(out, "tide doctor: " .. dir .. "/rank-0.json is not JSON: ")
    os.execute("rm -rf " .. q(dir))
  end)

  it("says a rank left the call that failed on it, with its error, not that it is in it", function()
    local doctor = require "tide.diag.doctor"
    local function call(id, name, state, error)
      return { id = id, comm = 0, seq = id, name = name, site = "job.lua:" .. (4 + id),
        state = state, error = error }
    end
    local function dump(r, last)
      local frames = { { what = "Lua", site = "job.lua:" .. (10 + r) } }
      return { rank = r, size = 3, reason = "test",
        traceback = { { thread = "main", frames = frames } },
        collectives = { call(1, "barrier", "done"), last } }
    end
    local lines = doctor.analyse({ [0] = dump(0, call(2, "allreduce", "started")),
      dump(1, call(2, "allreduce", "started")),
      dump(2, call(2, "broadcast", "failed", "broadcast: cannot write into an expanded tensor")) },
      3)
    contains(table.concat(lines, "\n"),
      "first incomplete: allreduce #2 at job.lua:6; missing: rank 2\n"
      .. "  rank 2 is at job.lua:12, after broadcast #2 failed: broadcast: cannot write into an "
      .. "expanded tensor")
  end)

  it("names the ranks whose dump is missing", function()
    local dir = tmpdir()
    os.execute("mkdir -p " .. q(dir))
    local f = assert(io.open(dir .. "/rank-0.json", "w"))
    f:write(cjson.encode { rank = 0, size = 3, reason = "test", collectives = {} })
    f:close()
    local out, code = run(q(TIDE) .. " doctor " .. q(dir))
    assert.are.equal(0, code, out)
    contains(out, "tide doctor: 1 of 3 ranks dumped (test)\n  no dump from ranks 1-2")
    os.execute("rm -rf " .. q(dir))
  end)
end)

describe("a dump", function()
  it("is taken at the next safe point after SIGUSR1", function()
    local dir = tmpdir()
    -- the script signals itself, then computes: the Lua hook takes the dump in the loop
    local code = [[
      local pid = io.open('/proc/self/stat'):read('a'):match('^(%d+)')
      tide.world:barrier()
      os.execute('kill -USR1 ' .. pid)
      local x = 0
      for i = 1, 1e6 do x = x + i end
    ]]
    local out, rc = run(("TIDE_DUMP_DIR=%s %s -e %s"):format(q(dir), q(TIDE), q(code)))
    assert.are.equal(0, rc, out)
    local d = dump_of(dir, 0)
    assert.are.equal("signal", d.reason)
    assert.are.equal("barrier", d.collectives[1].name)
    assert.are.equal("main", d.traceback[1].thread)
    os.execute("rm -rf " .. q(dir))
  end)

  it("refuses a TIDE_RECORDER that is not a count", function()
    local out, rc = run("TIDE_RECORDER=lots " .. q(TIDE) .. " -e 'print(1)'")
    assert.are_not.equal(0, rc)
    contains(out, "TIDE_RECORDER: expected a number of collectives from 0 (off) to 1048576, got 'lots'")
  end)
end)
