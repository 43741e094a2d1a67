-- The main job survives a dead rank (issue 13, acceptance 2): examples/train_mnist.lua with
-- --checkpoint, a rank killed by TIDE_FAULT during epoch 3 of 5 under `tide run -n 2
-- --restarts 1`, ends with the parameters of an uninterrupted run with the same seed, bit for
-- bit, and prints the same epoch and accuracy lines. (12,800 samples: 100 steps an epoch, so
-- step 230 is inside epoch 3; a checkpoint every 25 steps.) And (acceptance 3) a run saved at
-- 4 ranks goes on at 2 from its epoch-boundary checkpoint and still reaches the 5-epoch bar.
local proc = require "support.proc"
local tide = require "tide"

local source = os.getenv("TIDE_SOURCE_DIR") or "."
local exe = os.getenv("TIDE_EXE") or "build/tide"

local function train(dir, env)
  local cmd = ("%s %s run -n 2 %s %s --samples 12800 --epochs 5 --checkpoint %s --every 25 "
    .. "--quiet --metrics ''"):format(env or "", proc.quote(exe), env and "--restarts 1" or "",
    proc.quote(source .. "/examples/train_mnist.lua"), proc.quote(dir))
  return proc.run(cmd)
end

-- The whole data set, a checkpoint at each epoch's end (the default), on ranks ranks.
local function train_epochs(dir, ranks, epochs)
  return proc.run(("%s run -n %d %s --epochs %d --checkpoint %s --quiet --metrics ''"):format(
    proc.quote(exe), ranks, proc.quote(source .. "/examples/train_mnist.lua"), epochs,
    proc.quote(dir)))
end

-- The lines a reader compares: every epoch's loss and accuracy (not its seconds), the final one.
local function results(out)
  local lines = {}
  for line in out:gmatch("[^\n]+") do
    local epoch = line:match("^(epoch %d+/%d+  train loss %S+  test accuracy %S+)")
    if epoch then lines[#lines + 1] = epoch end
    if line:match("^final test accuracy") then lines[#lines + 1] = line end
  end
  return lines
end

local function flat(state, prefix, out)
  out = out or {}
  local keys = {}
  for k in pairs(state) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v, name = state[k], prefix .. "." .. tostring(k)
    if type(v) == "table" then flat(v, name, out) else out[name] = v end
  end
  return out
end

describe("train_mnist --checkpoint under tide run --restarts 1", function()
  it("ends a run killed in epoch 3 with the uninterrupted run's parameters and lines", function()
    if os.getenv("TIDE_SANITIZED") then
      -- two 5-epoch trainings under ASan outlast the test's limit on a shared machine; the
      -- restart and resume paths run under the sanitizers in restart_spec and state_spec
      pending("run in the plain build")
      return
    end
    local root = os.tmpname()
    os.remove(root)
    local plain_dir, killed_dir = root .. ".plain", root .. ".killed"
    local plain, code = train(plain_dir)
    assert.are.equal(0, code, plain)
    local killed, kcode = train(killed_dir, "TIDE_FAULT=rank=1,step=230,kind=kill")
    assert.are.equal(0, kcode, killed)
    assert.truthy(killed:find("[rank 1] TIDE_FAULT: kill at step 230", 1, true), killed)
    assert.truthy(killed:find("restart 1 of 1 with 2 ranks (TIDE_RESTART=1)", 1, true), killed)
    assert.truthy(killed:find("train_mnist: resumed from " .. killed_dir .. " at epoch 3, step 25 of 100",
      1, true), killed)

    local want, got = results(plain), results(killed)
    assert.are.equal(6, #want, plain)
    -- the killed run printed epochs 1-2 before it died and all five after its restart
    local tail = {}
    for i = #got - 5, #got do tail[#tail + 1] = got[i] end
    assert.are.same(want, tail)

    local a, b = flat(tide.checkpoint.load(plain_dir).model, "model"),
      flat(tide.checkpoint.load(killed_dir).model, "model")
    local n = 0
    for name, t in pairs(a) do
      n = n + 1
      assert.is_not_nil(b[name], name)
      if tide.is_tensor(t) then
        assert.are.same(t:shape(), b[name]:shape(), name)
        assert.are.same(t:view(-1):totable(), b[name]:view(-1):totable(), name .. " differs")
      else
        assert.are.equal(t, b[name], name)
      end
    end
    assert.is_true(n >= 6, "expected the 6 tensors of the MLP, got " .. n)
    os.execute("rm -rf " .. proc.quote(plain_dir) .. " " .. proc.quote(killed_dir))
  end)

  it("continues at 2 ranks a run saved at 4 and still reaches the 5-epoch bar", function()
    if os.getenv("TIDE_SANITIZED") then
      pending("run in the plain build")
      return
    end
    local dir = os.tmpname()
    os.remove(dir)
    local four, code = train_epochs(dir, 4, 3)
    assert.are.equal(0, code, four)
    assert.truthy(four:find("epoch 3/3", 1, true), four)
    local two, code2 = train_epochs(dir, 2, 5)
    assert.are.equal(0, code2, two)
    assert.truthy(two:find("train_mnist: 2 ranks", 1, true), two)
    assert.truthy(two:find("resumed from " .. dir .. " at epoch 4, step 0", 1, true), two)
    assert.is_nil(two:find("epoch 1/5", 1, true), two)
    -- train_spec's bar after 5 epochs (84.0%: under the spread of seeds 0-9 on this recipe)
    local acc = tonumber(two:match("final test accuracy ([%d.]+)%% after 5 epochs"))
    assert(acc and acc >= 84.0, "accuracy " .. tostring(acc) .. "% after 5 epochs < 84.0%:\n" .. two)
    os.execute("rm -rf " .. proc.quote(dir))
  end)
end)
