-- Node-local checkpoints with partner copies: 4 ranks on 2 emulated nodes (TIDE_NODE, one
-- mpirun app context each) save into their node's directory and their partner's; after one
-- node's directory is lost, load rebuilds its files from the partner copies (no shared
-- directory), says how long it took, and gives back the state of the newest step. Then the same
-- for real, with asynchronous saves, under `tide run -n 4 --restarts 1` (TIDE_NODE=a,a,b,b): a
-- node is lost while the job runs (its ranks stopped, its directory deleted, its ranks killed)
-- and the relaunched job carries on from the partners' copies.
local TIDE, MPIRUN = os.getenv("TIDE_EXE"), os.getenv("MPIRUN") or "mpirun"

local root

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function listing(dir)
  local names = {}
  local p = io.popen("ls -A '" .. dir .. "' 2>/dev/null")
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  table.sort(names)
  return names
end

local JOB = [[
local ck, world = tide.checkpoint, tide.world
local dir, ldir, steps, async = arg[1], arg[2], tonumber(arg[3]), arg[4] == "async"
-- the state of step s: 40 rows of 3 (element (i, j) = 3 i + j + s) and s itself
local function state(s)
  local rows = tide.dtensor.zeros({ 40, 3 }, { dtype = "f64" })
  local first = rows:row_offset()
  local n = rows.shard:shape()[1]
  rows.shard:copy_(tide.arange(3 * first, 3 * (first + n), "f64"):view(n, 3):add(s))
  return { rows = rows, step = s, name = "partner" }
end
local st, at = ck.load(dir, { local_dir = ldir })
while ck.step() < steps do
  local s = ck.tick()
  st = state(s)
  ck.save(dir, st, { local_dir = ldir, partner = true, every = 100, keep = 2, async = async })
end
local sum = st.rows:sum()
if world.rank == 0 then
  print(("at %d loaded %s sum %.1f name %s"):format(st.step, tostring(at), sum, st.name))
end
]]

setup(function()
  root = os.tmpname()
  os.remove(root)
  assert(os.execute("mkdir '" .. root .. "'"))
  local f = assert(io.open(root .. "/job.lua", "w"))
  f:write(JOB)
  f:close()
end)

teardown(function()
  os.execute("rm -rf '" .. root .. "'")
end)

local function run(steps, mode)
  local app = ("-np 2 -x TIDE_NODE=%s %s %s/job.lua %s/shared %s/local %d %s")
  return sh(("%s --oversubscribe %s : %s"):format(MPIRUN, app:format("a", TIDE, root, root, root,
    steps, mode or ""), app:format("b", TIDE, root, root, root, steps, mode or "")))
end

describe("partner copies", function()
  it("keep every rank's files on two nodes, and rebuild a lost node from them", function()
    local out, code = run(3)
    assert.are.equal(0, code, out)
    -- sum over 40 x 3 elements of 3 i + j + 3 = (0 + ... + 119) + 120 * 3
    local want = 119 * 120 / 2 + 120 * 3
    assert.is_truthy(out:find(("at 3 loaded nil sum %.1f name partner"):format(want), 1, true), out)
    local all = { "manifest.json", "rank-00000.safetensors", "rank-00001.safetensors",
      "rank-00002.safetensors", "rank-00003.safetensors", "replicated.safetensors" }
    -- node a: ranks 0 and 1, and the copies of b's ranks 2 and 3 (their partners are on a);
    -- node b: the other way round, and a copy of rank 0's replicated file
    assert.are.same(all, listing(root .. "/local/a/step-3"))
    assert.are.same(all, listing(root .. "/local/b/step-3"))
    assert.are.same({ "latest", "step-2", "step-3" }, listing(root .. "/local/a"))
    assert.are.same({}, listing(root .. "/shared"))
    -- node b is lost: its directory goes; the restart rebuilds it from a's copies
    assert(os.execute("rm -rf '" .. root .. "/local/b'"))
    out, code = run(3)
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find(("at 3 loaded 3 sum %.1f name partner"):format(want), 1, true), out)
    assert.is_truthy(out:find("checkpoint: restored %d+ file%(s%) of step 3 from partner copies"
      .. " in [%d.]+ s"), out)
    assert.are.same({ "manifest.json", "rank-00002.safetensors", "rank-00003.safetensors",
      "replicated.safetensors" }, listing(root .. "/local/b/step-3"))
    -- and the run goes on from there, saving in the background now, which gives the same
    -- files: step 5 loads, and after node a is lost too
    out, code = run(5, "async")
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find(("at 5 loaded 3 sum %.1f"):format(119 * 120 / 2 + 120 * 5), 1, true), out)
    assert.are.same(all, listing(root .. "/local/a/step-5"))
    assert(os.execute("rm -rf '" .. root .. "/local/a'"))
    out, code = run(5)
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find(("at 5 loaded 5 sum %.1f"):format(119 * 120 / 2 + 120 * 5), 1, true), out)
  end)
end)

-- The job under `tide run`: the state of step s is a function of s (as above), saved every step
-- asynchronously; the first run goes on until it is killed (rank 0 says when step 4 is saved),
-- the relaunched one loads, says when its first step is done, and ends 3 steps later.
local LOST_JOB = [[
local ck, world = tide.checkpoint, tide.world
local dir, ldir, root = arg[1], arg[2], arg[3]
local restarted = (os.getenv("TIDE_RESTART") or "0") ~= "0"
local function state(s)
  local rows = tide.dtensor.zeros({ 40, 3 }, { dtype = "f64" })
  local first, n = rows:row_offset(), rows.shard:shape()[1]
  rows.shard:copy_(tide.arange(3 * first, 3 * (first + n), "f64"):view(n, 3):add(s))
  return { rows = rows, step = s }
end
local f = assert(io.open(("%s/pid-%d"):format(root, world.rank), "w"))
f:write(tide.io.getpid())
f:close()
local st, at = ck.load(dir, { local_dir = ldir })
local last = restarted and at + 3 or 100000
while ck.step() < last do
  local s = ck.tick()
  st = state(s)
  if s == (at or 0) + 1 and restarted and world.rank == 0 then
    print(("first step after the restart at %.6f"):format(tide.now()))
    io.stdout:flush()
  end
  ck.save(dir, st, { local_dir = ldir, partner = true, every = 100000, keep = 2, async = true })
  if s == 4 and world.rank == 0 then
    ck.wait()
    io.open(root .. "/ready", "w"):close()
  end
  tide.io.sleep(0.02)
end
local sum = st.rows:sum()
if world.rank == 0 then print(("at %d loaded %d sum %.1f"):format(st.step, at, sum)) end
]]

local ASAN = (os.getenv("LD_PRELOAD") or ""):find("asan") and "ASAN_OPTIONS=detect_leaks=0 " or ""

local wait_for = require("support.files").wait_for

describe("a node lost while the job runs", function()
  it("is rebuilt from the partner copies by the relaunched job, without the shared directory",
    function()
      local tide = require "tide"
      local dir = root .. "/lost"
      assert(os.execute(("mkdir -p '%s'"):format(dir)))
      local f = assert(io.open(dir .. "/job.lua", "w"))
      f:write(LOST_JOB)
      f:close()
      assert(os.execute(("(%sTIDE_NODE=a,a,b,b %s run -n 4 --restarts 1 %s/job.lua %s/shared"
        .. " %s/local %s > %s/out 2>&1; echo $? > %s/out.rc) &"):format(ASAN, TIDE, dir, dir, dir,
          dir, dir, dir)))
      wait_for(dir .. "/ready", 120)
      local pids = {}
      for r = 2, 3 do pids[#pids + 1] = wait_for(("%s/pid-%d"):format(dir, r), 5) end
      -- node b is lost: its ranks stop at once, its disk is gone, its ranks are dead
      local lost = tide.now()
      assert(os.execute("kill -STOP " .. table.concat(pids, " ")))
      assert(os.execute(("rm -rf '%s/local/b'"):format(dir)))
      assert(os.execute("kill -KILL " .. table.concat(pids, " ")))
      local code = tonumber(wait_for(dir .. "/out.rc", 120))
      local out = wait_for(dir .. "/out", 1)
      assert.are.equal(0, code, out)
      assert.is_truthy(out:find("restart 1 of 1 with 4 ranks (TIDE_RESTART=1)", 1, true), out)
      local restored = out:match("checkpoint: restored %d+ file%(s%) of step %d+ from partner"
        .. " copies in ([%d.]+) s")
      assert.is_truthy(restored, out)
      local at = math.tointeger(tonumber(out:match("at %d+ loaded (%d+)")))
      assert.is_true(at >= 4, out)
      -- the state of step at + 3, every row right: sum of 3 i + j + s over 40 x 3
      assert.is_truthy(out:find(("at %d loaded %d sum %.1f"):format(at + 3, at,
        119 * 120 / 2 + 120 * (at + 3)), 1, true), out)
      assert.are.same({}, listing(dir .. "/shared"))
      local first = tonumber(out:match("first step after the restart at ([%d.]+)"))
      print(("\n  partner copies: time to recover %.2f s from the loss of node b to the first"
        .. " step after the restart (the restore itself %s s)"):format(first - lost, restored))
    end)

  it("TIDE_NODE lists every rank's node, and says when one is missing", function()
    local P = require "tide.checkpoint.partner"
    assert.are.equal("b", P.node_name("a,a,b,b", 2))
    assert.are.equal("a", P.node_name("a", 3))
    assert.has_error(function() P.node_name("a,a,b", 3) end, "TIDE_NODE: expected a node name"
      .. " for every rank (comma-separated, rank 0's first), got none for rank 3 in 'a,a,b'")
    assert.has_error(function() P.node_name("a,,b", 1) end, "TIDE_NODE: expected a node name"
      .. " for every rank (comma-separated, rank 0's first), got an empty one for rank 1 in 'a,,b'")
  end)
end)
