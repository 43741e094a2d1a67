-- tide.checkpoint under mpirun (1, 2 and 4 ranks): a saved state comes back exactly, dtensors
-- reshard to every smaller rank count (a split of the world), asynchronous saves, keep, the
-- replicated-values check, and the fallback past a corrupt or torn step, on every rank.
local tide = require "tide"
local dtensor = require "tide.dtensor"
local ck = require "tide.checkpoint"

local world = tide.world
local P, me = world.size, world.rank

local root
local function fresh(name)
  local d = root .. "/" .. name
  world:barrier()
  return d
end

-- A global tensor of n rows whose element (i, j) (0-based) is 1000 i + j, split unevenly:
-- rank r holds r + 1 blocks' worth of rows, so no layout equals the block layout of load.
local function global(n, cols, dtype)
  return tide.arange(0, n * cols, dtype):view(n, cols):add(
    tide.arange(0, n, dtype):view(n, 1):mul(1000 - cols))
end

local function uneven(n, cols, dtype)
  local weights, total = {}, 0
  for r = 0, P - 1 do weights[r + 1] = r + 1; total = total + r + 1 end
  local first, count = 0, 0
  for r = 0, me do
    first = first + count
    count = r == P - 1 and n - first or (n * weights[r + 1]) // total
  end
  return global(n, cols, dtype):narrow(1, first + 1, count):clone()
end

local function state_at(step)
  return {
    model = { w = tide.arange(0, 12, "f32"):view(3, 4):add(step), b = tide.ones({ 4 }, "f64") },
    opt = { step_count = step, lr = 0.125, betas = { 0.9, 0.999 }, name = "adam" },
    rows = dtensor.from_local(uneven(37, 3, "f64"), world),
    keys = dtensor.from_local(uneven(37, 1, "i64"):view(-1), world),
    labels = dtensor.replicated(tide.arange(0, 5, "u8"), world),
    flag = true,
  }
end

local function check_state(s, step, comm)
  assert.are.same(tide.arange(0, 12, "f32"):view(3, 4):add(step):totable(), s.model.w:totable())
  assert.are.equal("f32", s.model.w:dtype())
  assert.are.same({ 1, 1, 1, 1 }, s.model.b:totable())
  assert.are.equal(step, s.opt.step_count)
  assert.are.equal("integer", math.type(s.opt.step_count))
  assert.are.same({ 0.9, 0.999 }, s.opt.betas)
  assert.are.equal(0.125, s.opt.lr)
  assert.is_true(s.flag)
  assert.are.equal(comm.size, s.rows:comm().size)
  assert.are.same({ 37, 3 }, s.rows:global_shape())
  assert.are.same(global(37, 3, "f64"):totable(), s.rows:full():totable())
  assert.are.equal("i64", s.keys:dtype())
  assert.are.same(global(37, 1, "i64"):view(-1):totable(), s.keys:full():totable())
  assert.is_true(s.labels:is_replicated())
  assert.are.same({ 0, 1, 2, 3, 4 }, s.labels.shard:totable())
  -- the block layout: rank r holds floor(37 / p) rows, one more for the first 37 % p
  local q, rem = 37 // comm.size, 37 % comm.size
  assert.are.equal(q + (comm.rank < rem and 1 or 0), s.rows.shard:shape()[1])
end

setup(function()
  root = world:bcast_obj(me == 0 and os.tmpname() or nil, 0)
  if me == 0 then
    os.remove(root)
    assert(os.execute("mkdir -p '" .. root .. "'"))
  end
  world:barrier()
end)

teardown(function()
  world:barrier()
  if me == 0 then os.execute("rm -rf '" .. root .. "'") end
end)

describe("checkpoint", function()
  it("gives back the saved state, dtensors included, on the same ranks", function()
    local dir = fresh("same")
    assert.is_nil(ck.load(dir))
    assert.are.equal(3, ck.save(dir, state_at(3), { step = 3 }))
    local s, step = ck.load(dir)
    assert.are.equal(3, step)
    assert.are.equal(3, ck.step())
    check_state(s, 3, world)
  end)

  it("reshards a checkpoint saved here to every smaller rank count", function()
    local dir = fresh("reshard")
    ck.save(dir, state_at(5), { step = 5 })
    for k = 1, P - 1 do
      local sub = world:split(me < k and 0 or nil)
      if sub then
        local s = ck.load(dir, { comm = sub })
        check_state(s, 5, sub)
        sub:free()
      end
      world:barrier()
    end
  end)

  it("saves asynchronously what the state was when save returned", function()
    local dir = fresh("async")
    local st = state_at(1)
    ck.save(dir, st, { step = 1, async = true })
    st.model.w:fill_(-1)                      -- changes after save returned are not saved
    st.rows.shard:fill_(-1)
    ck.wait()
    local s = ck.load(dir)
    check_state(s, 1, world)
  end)

  it("keeps the newest K steps and counts steps with tick()", function()
    local dir = fresh("keep")
    local st = state_at(0)
    ck.load(fresh("nothing"))   -- resets nothing: the count stays where it was
    local base = ck.step()
    for _ = 1, 4 do
      ck.tick()
      ck.save(dir, st, { keep = 2 })
    end
    world:barrier()
    local names = tide.io.list_dir(dir)
    assert.are.same({ "latest", ("step-%d"):format(base + 3), ("step-%d"):format(base + 4) },
      names)
    local f = assert(io.open(dir .. "/latest"))
    assert.are.equal(("step-%d"):format(base + 4), f:read("l"))
    f:close()
  end)

  it("refuses replicated values that differ between ranks, on every rank", function()
    if P == 1 then return end
    local dir = fresh("differ")
    local ok, err = pcall(ck.save, dir, { lr = 0.1, seed = me == P - 1 and 2 or 1 })
    assert.is_false(ok)
    assert.are.equal(("checkpoint.save: the replicated state differs between ranks: the"
      .. " non-tensor values on rank %d differ from rank 0's (keep per-rank values in a"
      .. " dtensor, or pass check = false)"):format(P - 1), err)
    ok, err = pcall(ck.save, dir, { w = tide.full({ 2 }, me == 1 and 5 or 0) })
    assert.is_false(ok)
    assert.is_truthy(err:find("tensor 'w' on rank 1 differ from rank 0's", 1, true))
  end)

  it("falls back past a corrupt or torn newest step, on every rank", function()
    local dir = fresh("fallback")
    ck.save(dir, state_at(1), { step = 1 })
    ck.save(dir, state_at(2), { step = 2 })
    ck.save(dir, state_at(3), { step = 3 })
    world:barrier()
    if me == 0 then
      -- step 3: one byte of the last rank's shard flipped; step 2: no manifest (torn)
      local path = ("%s/step-3/rank-%05d.safetensors"):format(dir, P - 1)
      local f = assert(io.open(path, "r+b"))
      f:seek("set", 100)
      local b = f:read(1)
      f:seek("set", 100)
      f:write(string.char(b:byte() ~ 1))
      f:close()
      os.remove(dir .. "/step-2/manifest.json")
    end
    world:barrier()
    local s, step = ck.load(dir)
    assert.are.equal(1, step)
    check_state(s, 1, world)
    if me == 0 then os.execute("rm -rf '" .. dir .. "/step-1'") end
    world:barrier()
    local ok, err = pcall(ck.load, dir)
    assert.is_false(ok)
    assert.is_truthy(err:find("no usable checkpoint in '" .. dir .. "'", 1, true))
    assert.is_truthy(err:find(("step-3/rank-%05d.safetensors' is corrupt"):format(P - 1), 1, true))
    assert.is_truthy(err:find("step-2/manifest.json' is missing", 1, true))
  end)
end)
