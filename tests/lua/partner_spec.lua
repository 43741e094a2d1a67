-- Node-local checkpoints with partner copies: 4 ranks on 2 emulated nodes (TIDE_NODE, one
-- mpirun app context each) save into their node's directory and their partner's; after one
-- node's directory is lost, load rebuilds its files from the partner copies (no shared
-- directory), says how long it took, and gives back the state of the newest step.
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
local dir, ldir, steps = arg[1], arg[2], tonumber(arg[3])
-- the state of step s: 40 rows of 3 (element (i, j) = 3 i + j + s) and s itself
local function state(s)
  local rows = tide.dtensor.zeros({ 40, 3 }, { dtype = "f64" })
  local first = rows:row_offset()
  local n = rows.local_:shape()[1]
  rows.local_:copy_(tide.arange(3 * first, 3 * (first + n), "f64"):view(n, 3):add(s))
  return { rows = rows, step = s, name = "partner" }
end
local st, at = ck.load(dir, { local_dir = ldir })
while ck.step() < steps do
  local s = ck.tick()
  st = state(s)
  ck.save(dir, st, { local_dir = ldir, partner = true, every = 100, keep = 2 })
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

local function run(steps)
  local app = ("-np 2 -x TIDE_NODE=%s %s %s/job.lua %s/shared %s/local %d")
  return sh(("%s --oversubscribe %s : %s"):format(MPIRUN, app:format("a", TIDE, root, root, root,
    steps), app:format("b", TIDE, root, root, root, steps)))
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
    -- and the run goes on from there
    out, code = run(5)
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find(("at 5 loaded 3 sum %.1f"):format(119 * 120 / 2 + 120 * 5), 1, true), out)
  end)
end)
