-- tide.checkpoint in one process: every check load makes (a flipped byte in any file, a file
-- from another save, a manifest of another step or job, a short file), the messages of bad
-- arguments and of TIDE_FAULT, the faults themselves in a child `tide`, and kill -9 at random
-- moments of saving, after which the newest complete checkpoint always loads.
local tide = require "tide"
local ck = require "tide.checkpoint"
local manifest = require "tide.checkpoint.manifest"

local TIDE = os.getenv("TIDE_EXE")

local root
local serial = 0
local function fresh()
  serial = serial + 1
  return ("%s/d%d"):format(root, serial)
end

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function load_err(dir, opts)
  local ok, err = pcall(ck.load, dir, opts)
  assert.is_false(ok, "load did not fail")
  return err
end

-- the state of step s: every value a function of s, so a loaded state tells its step
local function state_of(s)
  return { w = tide.arange(0, 4096, "f64"):add(s), b = tide.full({ 7 }, s, "i32"), step = s,
    rows = tide.dtensor.from_local(tide.arange(0, 300, "f32"):view(100, 3):add(s), tide.world) }
end

local function check_state(st, s)
  assert.are.equal(s, st.step)
  assert.are.same(tide.arange(0, 4096, "f64"):add(s):totable(), st.w:totable())
  assert.are.same(tide.full({ 7 }, s, "i32"):totable(), st.b:totable())
  assert.are.same(tide.arange(0, 300, "f32"):view(100, 3):add(s):totable(), st.rows:full():totable())
end

setup(function()
  root = os.tmpname()
  os.remove(root)
  assert(os.execute("mkdir '" .. root .. "'"))
end)

teardown(function()
  os.execute("rm -rf '" .. root .. "'")
end)

describe("checkpoint.load reports", function()
  it("a flipped byte in any file of a step, naming the file", function()
    local dir = fresh()
    ck.save(dir, state_of(1), { step = 1 })
    local sdir = dir .. "/step-1"
    for _, name in ipairs { "manifest.json", "replicated.safetensors", "rank-00000.safetensors" } do
      local bytes = read(sdir .. "/" .. name)
      for _, at in ipairs { 1, 9, #bytes // 2, #bytes - 3, #bytes } do
        local flipped = bytes:sub(1, at - 1) .. string.char(bytes:byte(at) ~ 0x10) .. bytes:sub(at + 1)
        write(sdir .. "/" .. name, flipped)
        local err = load_err(dir)
        assert.is_truthy(err:find(sdir .. "/" .. name, 1, true), name .. "@" .. at .. ": " .. err)
        write(sdir .. "/" .. name, bytes)
      end
    end
    check_state(ck.load(dir), 1)
  end)

  it("a missing or short file, a torn step, a file of another save, another step's manifest",
    function()
      local dir = fresh()
      ck.save(dir, state_of(1), { step = 1 })
      ck.save(dir, state_of(2), { step = 2 })
      local s1, s2 = dir .. "/step-1", dir .. "/step-2"
      local rep = read(s2 .. "/replicated.safetensors")
      os.remove(s2 .. "/replicated.safetensors")
      assert.is_truthy(load_err(dir, { step = 2 }):find("checkpoint: '" .. s2
        .. "/replicated.safetensors' is missing or unreadable", 1, true))
      write(s2 .. "/replicated.safetensors", rep:sub(1, -2))
      assert.is_truthy(load_err(dir, { step = 2 }):find("'" .. s2 .. "/replicated.safetensors' has "
        .. (#rep - 1) .. " bytes, the manifest says " .. #rep, 1, true))
      -- a whole file from step 1 in step 2: right size and crc for nobody
      write(s2 .. "/replicated.safetensors", read(s1 .. "/replicated.safetensors"))
      local m2 = read(s2 .. "/manifest.json")
      local body = m2:match('^(.*),"crc32"'):gsub('"replicated.safetensors":{"crc32":%d+,"size":%d+}',
        ('"replicated.safetensors":{"crc32":%d,"size":%d}'):format(
          tide.io.crc32_file(s1 .. "/replicated.safetensors")))
      write(s2 .. "/manifest.json", manifest.seal(body, tide.io.crc32))
      assert.is_truthy(load_err(dir, { step = 2 }):find("checkpoint: '" .. s2
        .. "/replicated.safetensors' belongs to another save (id ", 1, true))
      write(s2 .. "/manifest.json", read(s1 .. "/manifest.json"))
      assert.is_truthy(load_err(dir, { step = 2 }):find("checkpoint: '" .. s2
        .. "/manifest.json' is the manifest of step 1, not of step 2", 1, true))
      os.remove(s2 .. "/manifest.json")
      assert.is_truthy(load_err(dir, { step = 2 }):find("'" .. s2
        .. "/manifest.json' is missing (an unfinished or torn checkpoint)", 1, true))
      -- the newest usable step is 1; a step-N.tmp is never looked at
      assert(os.execute("mkdir '" .. dir .. "/step-9.tmp'"))
      local st, step = ck.load(dir)
      assert.are.equal(1, step)
      check_state(st, 1)
    end)

  it("a checkpoint of another job, when a job is named", function()
    local dir = fresh()
    ck.save(dir, { x = 1 }, { step = 4, job = "train-a" })
    assert.are.equal(1, ck.load(dir, { job = "train-a" }).x)
    assert.is_truthy(load_err(dir, { job = "train-b" }):find("checkpoint: '" .. dir
      .. "/step-4/manifest.json' belongs to job 'train-a', not 'train-b'", 1, true))
  end)

  it("nil for a directory with no checkpoint, or none at the step asked for", function()
    assert.is_nil(ck.load(fresh()))
    local dir = fresh()
    ck.save(dir, { 1 }, { step = 3 })
    assert.is_nil(ck.load(dir, { step = 2 }))
    assert.are.same({ 1 }, (ck.load(dir, { step = 3 })))
  end)
end)

describe("the manifest", function()
  local good = {
    format = "tide-checkpoint", version = 1, job = "", id = "x", step = 2, world_size = 2,
    replicated = "replicated.safetensors",
    files = { ["replicated.safetensors"] = { crc32 = 1, size = 10 },
      ["rank-00000.safetensors"] = { crc32 = 2, size = 10 } },
    dtensors = { x = { dtype = "f32", shape = { 5, 2 }, replicated = false, shards = {
      { file = "rank-00000.safetensors", first = 0, count = 3 },
      { file = "rank-00000.safetensors", first = 3, count = 2 } } } },
  }
  local function with(change)
    local m = require("cjson").decode(require("cjson").encode(good))
    change(m)
    return manifest.encode(m)
  end
  local function bad(change, msg)
    local ok, err = pcall(manifest.parse, with(change), "m.json")
    assert.is_false(ok, msg)
    assert.are.equal("manifest: m.json: " .. msg, err)
  end

  it("parses a good one and refuses each kind of bad field", function()
    assert.are.equal(2, manifest.parse(with(function() end), "m.json").step)
    bad(function(m) m.format = "other" end, "format is other, not 'tide-checkpoint'")
    bad(function(m) m.version = 2 end, "version 2 is newer than this tide reads (1)")
    bad(function(m) m.step = -1 end, "step must be an integer >= 0, got -1")
    bad(function(m) m.step = 1.5 end, "step must be an integer >= 0, got 1.5")
    bad(function(m) m.extra = 1 end, "unexpected key 'extra' in the manifest")
    bad(function(m) m.files["../x"] = { crc32 = 1, size = 1 } end, "a file '../x' is not a plain file name")
    bad(function(m) m.files["replicated.safetensors"].crc32 = 2 ^ 32 end,
      "replicated.safetensors's crc32 must be an integer in [0, 4294967295], got 4294967296")
    bad(function(m) m.replicated = "nope.safetensors" end,
      "replicated names 'nope.safetensors', which is not in files")
    bad(function(m) m.dtensors.x.dtype = "f16" end, "dtensor 'x' has dtype f16")
    bad(function(m) m.dtensors.x.shards[2].first = 4 end,
      "dtensor 'x''s shard 2 begins at row 4, expected 3")
    bad(function(m) m.dtensors.x.shards[2].count = 1 end, "dtensor 'x''s shards cover 4 rows of 5")
    bad(function(m) m.dtensors.x.shards[2].file = "r.safetensors" end,
      "dtensor 'x''s shard 2 names 'r.safetensors', which is not in files")
    bad(function(m) m.dtensors.x.shape = { 1, 1, 1, 1, 1, 1, 1, 1, 1 } end,
      "dtensor 'x''s shape has 9 dims (1 to 8 expected)")
    local ok, err = pcall(manifest.parse, "{", "m.json")
    assert.is_false(ok)
    assert.is_truthy(err:find("manifest: m.json: not JSON", 1, true))
    ok, err = pcall(manifest.parse, with(function() end), "m.json", tide.io.crc32)
    assert.are.equal("manifest: m.json: no crc32 at its end (torn, or not a tide manifest)", err)
  end)
end)

describe("checkpoint arguments and TIDE_FAULT", function()
  it("say what was expected", function()
    local dir = fresh()
    assert.has_error(function() ck.save(1, {}) end,
      "checkpoint.save: expected a directory (a string), got number")
    assert.has_error(function() ck.save(dir, {}, { keep = 0 }) end,
      "checkpoint.save: keep must be an integer >= 1, got 0")
    assert.has_error(function() ck.save(dir, {}, { step = -2 }) end,
      "checkpoint.save: step must be an integer >= 0, got -2")
    assert.has_error(function() ck.save(dir, {}, { interval = 2 }) end,
      "checkpoint.save: unknown option 'interval' (expected one of: async, check, comm, every,"
      .. " job, keep, local_dir, partner, step, timeout)")
    assert.has_error(function() ck.save(dir, {}, { every = 2 }) end,
      "checkpoint.save: partner and every go with local_dir")
    assert.has_error(function() ck.save(dir, {}, { local_dir = 3 }) end,
      "checkpoint.save: local_dir must be a directory (a string), got number")
    assert.has_error(function() ck.save(dir, {}, { local_dir = dir, every = 0 }) end,
      "checkpoint.save: every must be an integer >= 1, got 0")
    assert.has_error(function() ck.save(dir, {}, { local_dir = dir, partner = true }) end,
      "checkpoint.save: partner copies need ranks on two nodes or more, but all 1 ranks are on"
      .. " node '" .. (os.getenv("TIDE_NODE") or io.open("/proc/sys/kernel/hostname"):read("l"))
      .. "' (TIDE_NODE names emulated nodes; partner = 'auto' saves without copies then)")
    assert.has_error(function() ck.save(dir, {}, { local_dir = dir, partner = "yes" }) end,
      "checkpoint.save: partner: expected true, false or 'auto', got 'yes'")
    -- 'auto' on one node: saved without copies, and loaded back
    ck.save(dir .. "/auto", { x = 7 }, { local_dir = root .. "/auto_local", partner = "auto" })
    assert.are.equal(7, ck.load(dir .. "/auto", { local_dir = root .. "/auto_local" }).x)
    assert.has_error(function() ck.load(dir, { async = true }) end,
      "checkpoint.load: unknown option 'async' (expected one of: comm, job, local_dir, map, step)")
    assert.has_error(function() ck.save(dir, { f = print }) end,
      "checkpoint.save: cannot save a function at 'f' (tables, tensors, numbers, strings and"
      .. " booleans only)")
    write(root .. "/file", "")
    local ok, err = pcall(ck.save, root .. "/file/x", {})
    assert.is_false(ok)
    assert.is_truthy(err:find("mkdirs: '" .. root .. "/file' exists and is not a directory", 1, true))
  end)

  it("parses TIDE_FAULT and refuses anything else", function()
    assert.are.same({ rank = 1, step = 30, kind = "kill" }, ck.parse_fault("rank=1,step=30,kind=kill"))
    for _, bad in ipairs { "rank=1,step=3", "rank=1,step=x,kind=kill", "rank=1,step=3,kind=boom",
      "rank=1,step=3,kind=kill,when=now", "rank=-1,step=3,kind=exit", "garbage" } do
      assert.has_error(function() ck.parse_fault(bad) end,
        "TIDE_FAULT: expected rank=R,step=S,kind=kill|hang|exit|corrupt, got '" .. bad .. "'")
    end
  end)
end)

describe("faults in a child tide", function()
  local script
  setup(function()
    script = root .. "/job.lua"
    write(script, [[
local ck = tide.checkpoint
local dir, steps, every, async = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4] == "async"
local st, at = ck.load(dir)
local s = at or 0
local function state(s)
  return { w = tide.arange(0, 200000, "f64"):add(s), b = tide.full({ 7 }, s, "i32"), step = s,
    rows = tide.dtensor.from_local(tide.arange(0, 300, "f32"):view(100, 3):add(s), tide.world) }
end
while s < steps do
  s = ck.tick()
  if s % every == 0 then ck.save(dir, state(s), { keep = 3, async = async }) end
end
print("done at " .. s)
]])
  end)

  it("kill, exit and hang strike at their step, and not after a restart", function()
    local dir = fresh()
    local out, code = sh(("TIDE_FAULT=rank=0,step=3,kind=kill %s %s %s 5 1"):format(TIDE, script, dir))
    assert.is_true(code == 9 or code == 137, out)       -- killed by SIGKILL (signal 9, or 128 + 9)
    assert.is_truthy(out:find("[rank 0] TIDE_FAULT: kill at step 3", 1, true))
    assert.are.equal(2, select(2, ck.load(dir)))        -- steps 1 and 2 were saved
    out, code = sh(("TIDE_FAULT=rank=0,step=3,kind=kill TIDE_RESTART=1 %s %s %s 5 1")
      :format(TIDE, script, dir))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("done at 5", 1, true))
    out, code = sh(("TIDE_FAULT=rank=0,step=2,kind=exit %s %s %s 5 1"):format(TIDE, script, fresh()))
    assert.are.equal(75, code, out)
    out, code = sh(("TIDE_FAULT=rank=0,step=1,kind=hang timeout -s KILL 1 %s %s %s 5 1")
      :format(TIDE, script, fresh()))
    assert.are.equal(137, code, out)                    -- still there when timeout killed it
    out, code = sh(("TIDE_FAULT=rank=3,step=1,kind=kill %s %s %s 2 1"):format(TIDE, script, fresh()))
    assert.are.equal(0, code, out)                      -- no rank 3 here
  end)

  it("corrupt spoils one file, and load falls back past it and says so", function()
    local dir = fresh()
    local out, code = sh(("TIDE_FAULT=rank=0,step=2,kind=corrupt %s %s %s 2 1"):format(TIDE, script, dir))
    assert.are.equal(0, code, out)
    out, code = sh(("%s -e 'local s, n = tide.checkpoint.load(%q); print(\"loaded\", n, s.step)'")
      :format(TIDE, dir))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("checkpoint: step 2 in '" .. dir .. "' is unusable: checkpoint: '"
      .. dir .. "/step-2/replicated.safetensors' is corrupt", 1, true), out)
    assert.is_truthy(out:find("; falling back to step 1", 1, true), out)
    assert.is_truthy(out:find("loaded\t1\t1", 1, true), out)
  end)

  it("the end of the script waits for an asynchronous save", function()
    local dir = fresh()
    local out, code = sh(("%s -e 'tide.checkpoint.save(%q, {x = tide.ones(3000000)}, {async = true,"
      .. " step = 7})'"):format(TIDE, dir))
    assert.are.equal(0, code, out)
    local st, step = ck.load(dir)
    assert.are.equal(7, step)
    assert.are.equal(3000000, st.x:sum())
  end)

  it("kill -9 at 20 random moments of saving leaves the newest complete step loadable", function()
    math.randomseed(13)
    local dir = fresh()
    local function latest()
      local f = io.open(dir .. "/latest")
      if not f then return nil end
      local s = f:read("a")
      f:close()
      return s
    end
    local last = 0
    for round = 1, 20 do
      local mode = round % 2 == 0 and "async" or "sync"
      -- the child saves every step from where the last one left off; once it has finished a
      -- save (a save takes about 0.1 s), it is killed 0 to 0.3 s later: in the middle of one
      local before = latest()
      local p = io.popen(("%s %s %s 1000000 1 %s >/dev/null 2>&1 & echo $!")
        :format(TIDE, script, dir, mode))
      local pid = p:read("n")
      p:close()
      local t0 = os.time()
      while latest() == before and os.time() - t0 < 60 do tide.io.sleep(0.01) end
      tide.io.sleep(math.random() * 0.3)
      os.execute(("kill -9 %d; while kill -0 %d 2>/dev/null; do sleep 0.01; done"):format(pid, pid))
      local st, step = ck.load(dir)
      assert.is_not_nil(st, "round " .. round .. ": nothing to load")
      assert.are.equal(step, st.step)
      assert.are.equal(199999 * 200000 / 2 + 200000 * step, st.w:sum())
      assert.are.same(tide.full({ 7 }, step, "i32"):totable(), st.b:totable())
      assert.are.equal(299 * 300 / 2 + 300 * step, st.rows:full():sum())
      assert.is_true(step > last, ("round %d did not go past step %d"):format(round, last))
      last = step
    end
  end)
end)
