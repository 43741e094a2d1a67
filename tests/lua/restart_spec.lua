-- `tide run --restarts K [--elastic MIN]`: a job whose rank is killed (TIDE_FAULT) is relaunched
-- with TIDE_RESTART and resumes from its checkpoint to the very bits an uninterrupted run ends
-- with; a script error is not relaunched; the supervisor's messages and option errors.
local files = require "support.files"
local write = files.write

local TIDE = os.getenv("TIDE_EXE")

local root

-- In the sanitizer build every process here has ASan preloaded, mpirun included, whose leak
-- check at exit can crash after a rank died under it (LeakSanitizer's tracer): it would turn
-- a lost rank into status 1. The leak check stays on in every other spec.
local ENV = (os.getenv("LD_PRELOAD") or ""):find("asan") and "ASAN_OPTIONS=detect_leaks=0 " or ""

local function sh(cmd)
  local p = assert(io.popen(ENV .. cmd .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

-- Data-parallel least squares with momentum: each rank holds rows of a dtensor; the gradient is
-- allreduced every step; a checkpoint every 3 steps; the final weights saved by rank 0.
local JOB = [[
local ck, world, dtensor = tide.checkpoint, tide.world, tide.dtensor
local dir, out, steps = arg[1], arg[2], tonumber(arg[3])
local st = ck.load(dir)
if not st then
  local x = dtensor.rand({ 64, 8 }, { dtype = "f64", seed = 7 })
  local w_true = tide.arange(1, 9, "f64"):view(8, 1)
  st = { x = x, y = x:matmul(w_true), w = tide.zeros({ 8, 1 }, "f64"),
         v = tide.zeros({ 8, 1 }, "f64"), losses = {} }
end
while ck.step() < steps do
  local s = ck.tick()
  local x, y = st.x.shard, st.y.shard
  local r = x:matmul(st.w) - y
  local g = x:t():matmul(r)
  world:allreduce(g, "sum")
  local loss = world:allreduce((r * r):sum())
  st.losses[#st.losses + 1] = loss
  st.v:mul_(0.9):add_(g:mul(0.001))
  st.w:sub_(st.v)
  if s % 3 == 0 then ck.save(dir, st, { keep = 2 }) end
end
if world.rank == 0 then
  tide.save(out, { w = st.w, losses = st.losses, restart = os.getenv("TIDE_RESTART") or "none" })
end
]]

setup(function()
  root = files.tmpdir()
  write(root .. "/job.lua", JOB)
end)

teardown(function() files.remove_tree(root) end)

local function run(opts, env, name, steps)
  local cmd = ("%s %s run %s %s/job.lua %s/%s.ckpt %s/%s.out %d"):format(env or "", TIDE, opts,
    root, root, name, root, name, steps or 20)
  return sh(cmd)
end

describe("tide run --restarts", function()
  it("relaunches a job that lost a rank, which ends bit for bit as an uninterrupted one", function()
    local out, code = run("-n 2", nil, "clean")
    assert.are.equal(0, code, out)
    out, code = run("-n 2 --restarts 1", "TIDE_FAULT=rank=1,step=8,kind=kill", "killed")
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("[rank 1] TIDE_FAULT: kill at step 8", 1, true), out)
    assert.is_truthy(out:find("tide: run: rank 1 died (signal 9 (Killed)) after ", 1, true), out)
    assert.is_truthy(out:find("restart 1 of 1 with 2 ranks (TIDE_RESTART=1)", 1, true), out)
    local tide = require "tide"
    local clean, killed = tide.load(root .. "/clean.out"), tide.load(root .. "/killed.out")
    assert.are.equal("1", killed.restart)
    assert.are.equal(tide.io.crc32(clean.w), tide.io.crc32(killed.w))   -- the same bits
    assert.are.same(clean.w:totable(), killed.w:totable())
    assert.are.same(clean.losses, killed.losses)
    assert.is_true(clean.losses[20] < clean.losses[1] / 10)          -- it did learn
  end)

  it("continues on the ranks left with --elastic", function()
    local out, code = run("-n 3 --elastic 2", "TIDE_FAULT=rank=2,step=5,kind=exit", "elastic")
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("tide: run: rank 2 died (status 75 (a rank was lost)) after ", 1, true), out)
    assert.is_truthy(out:find("restart 1 of 1 with 2 ranks (TIDE_RESTART=1)", 1, true), out)
    local tide = require "tide"
    local three = run("-n 3", nil, "three")
    local a, b = tide.load(root .. "/three.out"), tide.load(root .. "/elastic.out")
    -- the sum over ranks is reassociated at 2 ranks: equal to rounding, not to the bit
    assert.is_true((a.w - b.w):abs():max() < 1e-9, three)
  end)

  it("does not relaunch after a script error, and stops when no restarts are left", function()
    write(root .. "/bad.lua", "if tide.world.rank == 1 then error('a bug') end tide.world:barrier()")
    local out, code = sh(("%s run -n 2 --restarts 3 %s/bad.lua"):format(TIDE, root))
    assert.are.equal(1, code, out)
    assert.is_truthy(out:find("tide: run: the job failed with status 1 after ", 1, true), out)
    assert.is_truthy(out:find("(a script error or its own exit: not relaunched)", 1, true), out)
    assert.is_falsy(out:find("restart 1 of", 1, true), out)
    out, code = run("-n 2 --restarts 0", "TIDE_FAULT=rank=0,step=2,kind=kill", "norestart")
    assert.is_true(code == 137, out)
    assert.is_truthy(out:find("no restarts left (--restarts 0)", 1, true), out)
  end)

  it("says what is wrong with its options", function()
    local cases = {
      { "-n 2 --restarts x", "tide: run: --restarts expects an integer >= 0, got 'x'" },
      { "-n 2 --restarts", "tide: run: --restarts expects an integer >= 0, got 'nothing'", "" },
      { "-n 2 --elastic 0", "tide: run: --elastic expects an integer >= 1, got '0'" },
      { "-n 2 --elastic 3", "tide: run: --elastic 3 asks for more ranks than -n 2" },
      { "--elastic 1", "tide: run: --elastic needs -n N (the ranks to start with)" },
    }
    for _, c in ipairs(cases) do
      local out, code = sh(("%s run %s %s"):format(TIDE, c[1], c[3] or root .. "/job.lua"))
      assert.are.equal(2, code, out)
      assert.is_truthy(out:find(c[2], 1, true), out)
    end
    local out = sh(("%s run -n 2 --restarts 1 --dry-run %s/job.lua a"):format(TIDE, root))
    assert.is_truthy(out:find(" %-np 2 "), out)
    assert.is_falsy(out:find("restarts", 1, true), out)
  end)
end)
