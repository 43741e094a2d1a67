-- The REPL of `tide run -n N [-i] [script]` with its input from a pipe (the terminal's side,
-- Ctrl-C, history and completion, is repl_tty_spec.lua): every rank's output before the next
-- statement's, in rank order with `[R] ` before the lines of rank R > 0; `:ranks all|0`;
-- `:on RANKS`; a script before the REPL with -i; the errors a user can reach.
local proc = require "support.proc"

local TIDE = os.getenv("TIDE_EXE")
local q = proc.quote
local ROUNDS = os.getenv("TIDE_SANITIZED") and 5 or 50   -- the sanitizer build: memory, not speed

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Runs `tide run -n 2 <args>` with input on stdin. Returns what it shows (every rank's stdout
-- and stderr in order, and the launcher's own messages, such as a syntax error found before
-- any rank sees the chunk) and its exit code.
local function session(input, args)
  local inp = os.tmpname()
  write(inp, input)
  local out, code = proc.run(("timeout -k 5 60 %s run -n 2 %s < %s"):format(
    q(TIDE), args or "", q(inp)))
  os.remove(inp)
  return out, code
end

describe("tide run -n 2 (no script): the REPL of every rank", function()
  it("shows each statement's output in rank order before the next one's, 50 times", function()
    local out, code = session(("print(tide.world.rank)\n"):rep(ROUNDS))
    assert.are.equal(0, code, out)
    assert.are.equal(("0\n[1] 1\n"):rep(ROUNDS), out)
  end)

  it("keeps rank order for output that interleaves in time and lines without a newline", function()
    -- rank 1 writes first and more, rank 0 later; an unfinished line is ended for its rank
    local out, code = session(
      'if tide.world.rank == 1 then for i = 1, 3 do print("r1", i) end io.write("tail") '
      .. 'else local t = tide.now() while tide.now() - t < 0.2 do end print("r0") end\n'
      .. 'tide.world.rank + 100\n')
    assert.are.equal(0, code, out)
    assert.are.equal("r0\n[1] r1\t1\n[1] r1\t2\n[1] r1\t3\n[1] tail\n100\n", out)
  end)

  it(":ranks 0 shows rank 0's output only, :ranks all every rank's; others say what they expect", function()
    local out, code = session("print(tide.world.rank)\n:ranks 0\nprint(tide.world.rank)\n"
      .. ":ranks xyz\n:ranks\n:ranks all\nprint(tide.world.rank)\n")
    assert.are.equal(0, code, out)
    assert.are.equal("0\n[1] 1\n0\nrepl: :ranks expects all or 0, got 'xyz'\n"
      .. "showing the output of rank 0 only\n0\n[1] 1\n", out)
  end)

  it(":on RANKS runs a statement on those ranks; bad ranks say what was expected", function()
    local out, code = session("x = tide.world.rank * 10\n:on 1 return x\n:on 0,1 x + 1\n"
      .. ":on 1,3-4 return 1\n:on x return 1\nx\n")
    assert.are.equal(0, code, out)
    assert.matches("^%[1%] 10\n%[0%] 1\n%[1%] 11\n", out)
    assert.matches("\n%[rank 0%] repl: :on tide.on: rank 3 out of range %(expected 0..1%)\n", out)
    assert.matches('\n%[rank 0%] repl: :on tide.on: expected ranks such as "1%-3" or "0,2", got "x"',
      out)
    assert.matches("\n0\n$", out)   -- the session went on
  end)

  it("reads multi-line statements as lua.c does and shows a syntax error without ending", function()
    local out, code = session("function f(a)\n  return a * 2\nend\nf(21)\nx = = 1\n"
      .. "=f(1)\n")
    assert.are.equal(0, code, out)
    assert.are.equal("42\nstdin:1: unexpected symbol near '='\n2\n", out)
  end)

  it("ends with the job's status: 0 at the end of input, the ranks' on os.exit", function()
    local out, code = session("x = 1\n")
    assert.are.equal(0, code, out)
    local _, failed = session("os.exit(3)\nprint('not reached')\n")
    assert.are_not.equal(0, failed)
  end)
end)

-- `tide run -n 2 -i <a script of text>` with input; returns its output, exit code, script name.
local function session_after(text, input)
  local script = os.tmpname()
  write(script, text)
  local out, code = session(input, "-i " .. q(script))
  os.remove(script)
  return out, code, script
end

describe("tide run -n 2 -i script", function()
  it("runs the script on every rank, then the REPL with its globals", function()
    local out, code = session_after(
      'y = 7 * (tide.world.rank + 1)\nprint("script on", tide.world.rank)\n', "y * 6\n:on 1 return y\n")
    assert.are.equal(0, code, out)
    assert.are.equal("script on\t0\n[1] script on\t1\n42\n[1] 14\n", out)
  end)

  it("ends the job with a failing script's error and a non-zero status", function()
    local out, code, script = session_after(
      'if tide.world.rank == 1 then error("script fails") end\n', "print('not reached')\n")
    assert.are_not.equal(0, code, out)
    assert.is_truthy(out:find("[1] [rank 1] " .. script .. ":1: script fails\n", 1, true), out)
    assert.is_nil(out:find("not reached", 1, true), out)
  end)

  it("reads tide.breakpoint's commands from the launcher, then goes on to the REPL", function()
    local out, code, script = session_after([[
local total = 0
for i = 1, 3 do
  local mine = i * 10 + tide.world.rank
  if i == 2 then tide.breakpoint() end
  total = total + mine
end
print("total", total)
]], "mine\n:on 1 return i, mine\nmine = 100\n:continue\nprint('after')\n")
    assert.are.equal(0, code, out)
    assert.are.equal("[breakpoint] rank 0 stopped at " .. script .. ":4 (:on RANKS stmt, :where, "
      .. ":continue)\n20\n[1] 2\t21\n[breakpoint] continuing\ntotal\t140\n[1] total\t63\n"
      .. "after\n[1] after\n", out)
  end)

  it("refuses a script it cannot read", function()
    local out, code = proc.run(q(TIDE) .. " run -n 2 -i /nonexistent/job.lua")
    assert.are.equal(1, code)
    assert.matches("tide: run: cannot open /nonexistent/job.lua: No such file or directory", out)
  end)

  it("refuses --restarts with the REPL", function()
    for _, args in ipairs { "--restarts 1 -n 2", "--restarts 1 -n 2 -i x.lua" } do
      local out, code = proc.run(q(TIDE) .. " run " .. args)
      assert.are.equal(2, code, args)
      assert.are.equal("tide: run: --restarts and --elastic relaunch a script, not the REPL "
        .. "(drop -i, or give a script)\n", out)
    end
  end)

  it("prints the command line with -i under --dry-run", function()
    local out, code = proc.run(q(TIDE) .. " run -n 2 --dry-run")
    assert.are.equal(0, code)
    assert.matches(" %-i\n$", out)
  end)
end)

describe("the REPL under a plain mpirun", function()
  it("says :ranks needs the launcher", function()
    local inp = os.tmpname()
    write(inp, ":ranks 0\n")
    local out = proc.run(("timeout -k 5 60 %s -i < %s"):format(q(TIDE), q(inp)))
    os.remove(inp)
    assert.matches("repl: :ranks needs the launcher's REPL %(tide run %-n N%)", out)
  end)
end)
