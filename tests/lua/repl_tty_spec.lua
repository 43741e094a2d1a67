-- The REPL of `tide run -n 2` in a terminal (a tmux pane; issue 14, acceptance 1 and 2): Ctrl-C
-- stops a running statement on every rank and the session goes on with its state; it also
-- releases a rank blocked in an allreduce the other rank never entered; Up recalls the previous
-- line, Tab completes `tide.wo`, Ctrl-C at the prompt clears the line; each statement's output
-- shows in rank order before the next prompt; Ctrl-D ends the job with status 0.
-- Every wait polls the pane against a deadline: no fixed sleeps.
local proc = require "support.proc"

local TIDE = os.getenv("TIDE_EXE")
local q = proc.quote
local have_tmux = os.execute("command -v tmux > /dev/null 2>&1")
-- The sanitizer build checks memory, not speed: no time limit there, and fewer rounds.
local SANITIZED = os.getenv("TIDE_SANITIZED") ~= nil
local ROUNDS = SANITIZED and 5 or 50

local SERVER = "tide-test-" .. tostring(os.time()) .. "-" .. tostring(math.random(1 << 30))
local function tmux(args)
  return proc.run(("tmux -L %s %s"):format(SERVER, args))
end

local now = proc.now

local function screen()
  return (tmux("capture-pane -p -J -S -3000 -t repl"):gsub("[ \t]+\n", "\n"):gsub("%s+$", ""))
end

-- Waits until pred(screen) holds; fails with the screen after `seconds`.
local function wait_for(what, pred, seconds)
  local deadline = now() + (seconds or 20)
  local s
  repeat
    s = screen()
    if pred(s) then return s end
    os.execute("sleep 0.05")
  until now() > deadline
  error(("waited %g s for %s; the screen:\n%s"):format(seconds or 20, what, s), 2)
end

local function ends_with(suffix)
  return function(s) return s:sub(-#suffix) == suffix end
end

local function send(...)
  local keys = {}
  for i = 1, select("#", ...) do keys[i] = q((select(i, ...))) end
  tmux("send-keys -t repl " .. table.concat(keys, " "))
end

-- A line typed and its output up to the next prompt.
local function run_line(line, seconds)
  local before = #screen()
  send(line, "Enter")
  return wait_for("the prompt after " .. line, function(s)
    return #s > before + #line and s:sub(-2) == "\n>"
  end, seconds)
end

local describe_tty = have_tmux and describe or pending
describe_tty("tide run -n 2 in a terminal", function()
  local home

  setup(function()
    home = os.tmpname()
    os.remove(home)
    os.execute("mkdir -p " .. q(home))
    tmux(("new-session -d -s repl -x 160 -y 50 %s"):format(q(
      ("HOME=%s %s run -n 2; echo EXIT=$?; sleep 60"):format(q(home), q(TIDE)))))
    wait_for("the first prompt", function(s) return s:find("\n> ?$") ~= nil end, 60)
  end)

  teardown(function()
    tmux("kill-server")
    os.execute("rm -rf " .. q(home))
  end)

  it("Ctrl-C stops `while true do end` on every rank; x + 1 prints 42 within 2 s", function()
    run_line("x = 41")
    send("while true do end", "Enter")
    wait_for("the statement to start", ends_with("while true do end"))
    local t0 = now()
    send("C-c")
    wait_for("the interrupt", ends_with("[rank 0] interrupted\n[rank 1] interrupted\n>"))
    local s = run_line("x + 1")
    local took = now() - t0
    assert.is_truthy(s:find("\n> x %+ 1\n42\n>$"), s)
    if not SANITIZED then
      assert.is_true(took < 2, ("42 came %.2f s after the Ctrl-C"):format(took))
    end
  end)

  it("Ctrl-C releases an allreduce only rank 0 entered; the next collectives match", function()
    send("if tide.world.rank == 0 then tide.world:allreduce(tide.tensor{1}) end", "Enter")
    wait_for("the statement to start", ends_with("end"))
    os.execute("sleep 0.3")   -- rank 1 is done and rank 0 waits in the allreduce
    send("C-c")
    local s = wait_for("the interrupt", ends_with("\n>"))
    assert.is_truthy(s:find("\n%[rank 0%] interrupted\n>$"), s)   -- rank 1 was not busy
    s = run_line("tide.world:allreduce(tide.tensor{tide.world.rank + 1}):item(), x")
    assert.is_truthy(s:find("\n3%.0%s+41\n>$"), s)   -- (the pane shows tabs as spaces)
    -- the same with a request: collecting the abandoned request must not wait for it
    send("if tide.world.rank == 0 then r = tide.world:iallreduce(tide.tensor{1}); r:wait() end",
      "Enter")
    wait_for("the statement to start", ends_with("r:wait() end"))
    os.execute("sleep 0.3")
    send("C-c")
    wait_for("the interrupt", ends_with("\n[rank 0] interrupted\n>"))
    run_line("r = nil; collectgarbage()")
    s = run_line("tide.world:allreduce(tide.tensor{5}):item()")
    assert.is_truthy(s:find("\n10%.0\n>$"), s)
  end)

  it("Up recalls the previous line", function()
    send("Up")
    wait_for("the recalled line", ends_with("> tide.world:allreduce(tide.tensor{5}):item()"))
    local s = run_line("")
    assert.is_truthy(s:find("\n10%.0\n>$"), s)
  end)

  it("Tab completes tide.wo to tide.world, and Ctrl-C clears the line", function()
    send("tide.wo", "Tab")
    wait_for("the completion", ends_with("> tide.world"))
    send("C-c")
    wait_for("an empty prompt", ends_with("> tide.world\n>"))
    local s = run_line("tide.world.size")
    assert.is_truthy(s:find("\n> tide.world.size\n2\n>$"), s)
  end)

  it("shows print(tide.world.rank) as 0 then [1] 1 before the next prompt, 50 times", function()
    for i = 1, ROUNDS do
      local s = run_line("print(tide.world.rank)")
      assert.is_truthy(s:find("\n> print%(tide.world.rank%)\n0\n%[1%] 1\n>$"),
        ("round %d:\n%s"):format(i, s:sub(-200)))
    end
  end)

  it("Ctrl-D ends the session and the job with status 0, the lines kept in ~/.tide_history", function()
    send("C-d")
    wait_for("the job's end", function(s) return s:find("EXIT=%d+$") ~= nil end, 30)
    assert.is_truthy(screen():find("EXIT=0$"))
    local f = assert(io.open(home .. "/.tide_history"))
    local history = f:read("a")
    f:close()
    assert.is_truthy(history:find("x = 41\nwhile true do end\nx + 1\n", 1, true), history)
  end)
end)
