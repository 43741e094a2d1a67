-- State across ranks (issue 13): a DistributedSampler's loader resumed mid-epoch on every rank
-- yields the remaining batches in the same order, and together the ranks cover exactly the
-- rest of the epoch's global order; each rank's default generator (its own stream) continues
-- bit-identically from its state; examples/train_mnist.lua killed mid-epoch and resumed from its
-- checkpoint (an in-memory stand-in for tide.checkpoint on every rank) ends bit-identical to a
-- run never stopped, at this rank count.
local tide = require "tide"
local data = require "tide.data"
local S = require "support.state"

local world = tide.world
local P, me = world.size, world.rank

local N, BS, SEED, EPOCH, STEP = 103, 5, 7, 2, 2
local set = data.synthetic_classification { n = N, d = 2, classes = 3, seed = 1 }
set.y = tide.arange(1, N + 1)                -- the targets are the sample indices

local function loader()
  local sampler = data.DistributedSampler { n = N, comm = world, seed = SEED }
  return data.DataLoader(set, { batch_size = BS, sampler = sampler }), sampler
end

describe("a DistributedSampler's loader", function()
  it("resumed mid-epoch on every rank yields the rest of the epoch, in order", function()
    local l, s = loader()
    s:set_epoch(EPOCH)
    local all, state = {}, nil
    for _, y, k in l:batches() do
      all[k] = y:clone()
      if k == STEP then state = l:state() end
    end
    local l2, s2 = loader()
    l2:load_state(state)
    s2:set_epoch(EPOCH)
    local rest, k0 = {}, nil
    for _, y, k in l2:batches() do
      k0 = k0 or k
      rest[#rest + 1] = y:clone()
    end
    assert.are.equal(STEP + 1, k0)
    assert.are.equal(#all - STEP, #rest)
    for i, y in ipairs(rest) do
      assert.are.same(all[STEP + i]:totable(), y:totable())
    end

    -- every rank's rest together: the global order (padded as the sampler pads it) from
    -- position STEP * BS * P + 1 on, as a multiset of indices
    local got = tide.zeros({ N }, "i64")
    for _, y in ipairs(rest) do
      got:index_add_(1, y, tide.ones({ y:size(1) }, "i64"))
    end
    got = world:allreduce(got, "sum")
    local order = tide.randperm(N, { seed = SEED + EPOCH, same_on_all_ranks = true }):totable()
    local total = -(-N // P) * P
    local want = {}
    for i = 1, N do want[i] = 0 end
    for pos = STEP * BS * P + 1, total do
      local idx = order[(pos - 1) % N + 1]
      want[idx] = want[idx] + 1
    end
    assert.are.same(want, got:totable())
  end)
end)

describe("each rank's default generator", function()
  it("continues bit-identically from its state, which differs between ranks", function()
    tide.manual_seed(5)
    tide.randn({ 3 })
    local s = tide.get_rng_state()
    local a = tide.randn({ 8 }):totable()
    tide.manual_seed(6)
    tide.set_rng_state(s)
    assert.are.same(a, tide.randn({ 8 }):totable())
    -- the key is the rank's stream: all ranks' keys differ
    local key = tonumber(s.key:sub(1, 8), 16)
    local keys = world:allgather(tide.tensor({ key }, "f64")):totable()
    for r = 1, P do
      for q = r + 1, P do assert.are_not.equal(keys[r], keys[q]) end
    end
  end)
end)

describe("a dtensor's state", function()
  local dtensor = tide.dtensor

  -- rank r holds r + 1 rows: a layout no block layout matches (at 2 ranks and more)
  local function uneven(fill)
    local first = me * (me + 1) // 2
    local t = tide.arange(first * 3, (first + me + 1) * 3, "f32"):view(me + 1, 3)
    return dtensor.from_local(fill and t or t:zero_(), world)
  end

  it("restores its rows and the generator dtensor.rand draws from", function()
    local dt = dtensor.rand({ 11, 3 }, { dtype = "f64" })
    local want = dt:full():totable()
    local s = dt:state()
    local a = dtensor.randn({ 6, 2 }):full():totable()   -- what the generator gives next
    dt.shard:fill_(7)                                     -- the state is a copy
    assert.are.same(want, s.rows:full():totable())
    dtensor.rand({ 4 })
    assert.are.equal(dt, dt:load_state(s))
    assert.are.same(want, dt:full():totable())
    assert.are.same(a, dtensor.randn({ 6, 2 }):full():totable())
  end)

  it("loads rows that tide.checkpoint laid out by blocks into its own layout", function()
    local total = P * (P + 1) // 2
    local dt = uneven(true)
    local dir = world:bcast_obj(me == 0 and os.tmpname() or nil, 0)
    if me == 0 then os.remove(dir) end   -- (a directory goes there)
    tide.checkpoint.save(dir, { x = dt:state() }, { step = 1 })
    local st = tide.checkpoint.load(dir)
    local q, rem = total // P, total % P
    assert.are.equal(q + (me < rem and 1 or 0), st.x.rows.shard:shape()[1])
    local back = uneven(false)
    back:load_state(st.x)
    assert.are.same(dt.shard:totable(), back.shard:totable())
    world:barrier()
    if me == 0 then os.execute("rm -rf '" .. dir .. "'") end
  end)

  it("load_state errors name the field", function()
    local dt = dtensor.zeros({ 5, 3 })
    local s = dt:state()
    assert.has_error(function() dt:load_state({ kind = "tide.dtensor", rows = 3 }) end,
      "dtensor.load_state: rows expected a dtensor, got number")
    assert.has_error(function()
      dt:load_state({ kind = "tide.dtensor", rows = dtensor.zeros({ 4, 3 }) })
    end, "dtensor.load_state: rows expected f32[5x3], got f32[4x3]")
    assert.has_error(function() dt:load_state({ kind = "tide.rng", rows = s.rows }) end,
      "dtensor.load_state: kind expected 'tide.dtensor', got tide.rng")
    assert.has_error(function() dt:load_state({ kind = "tide.dtensor", rows = s.rows, x = 1 }) end,
      "dtensor.load_state: unexpected field 'x' (expected generator, kind, rows)")
    if P > 1 then
      local sub = world:split(me == 0 and 0 or 1)
      local other = dtensor.zeros({ 5, 3 }, { comm = sub })
      assert.has_error(function() dt:load_state({ kind = "tide.dtensor", rows = other }) end,
        ("dtensor.load_state: rows live on %d ranks, this dtensor on %d"):format(sub.size, P))
    end
  end)
end)

describe("examples/train_mnist.lua --checkpoint on " .. P .. " ranks", function()
  it("killed during epoch 2 and resumed, ends bit-identical to a run never stopped", function()
    -- 1200 samples in global batches of 100: 12 steps an epoch on any of 1, 2, 4 ranks
    local flags = { "--samples", "1200", "--batch", "100", "--epochs", "3", "--hidden", "24",
      "--seed", "2", "--metrics", "", "--quiet" }
    local ckpt = { table.unpack(flags) }
    for _, a in ipairs { "--checkpoint", "ckpt", "--every", "5" } do ckpt[#ckpt + 1] = a end
    local ok, plain, plain_lines = S.run_example(flags, nil)
    assert(ok, plain)
    local store = {}
    local ok1, err = S.run_example(ckpt, S.stand_in(store, 19))
    assert.is_false(ok1)
    assert.are.equal("stand-in: killed at step 19", err)
    -- what each rank saved is the same on every rank: a checkpoint's replicated values
    local d = S.digest(store.ckpt[#store.ckpt])
    local h = 0
    for i = 1, #d do h = (h * 31 + d:byte(i)) % 1000000007 end
    local hs = world:allgather(tide.tensor({ h, #d }, "f64")):totable()   -- {h0, n0, h1, n1, ...}
    for r = 1, P - 1 do assert.are.same({ hs[1], hs[2] }, { hs[2 * r + 1], hs[2 * r + 2] }) end
    local ok2, resumed, lines = S.run_example(ckpt, S.stand_in(store))
    assert(ok2, resumed)
    local ps, qs = plain.model:parameters(), resumed.model:parameters()
    for i = 1, #ps do assert.are.equal(S.bits(ps[i]), S.bits(qs[i])) end
    assert.are.equal(plain.accuracy, resumed.accuracy)
    if me == 0 then
      local want = S.results(plain_lines)
      assert.are.same({ want[2], want[3], want[4] }, S.results(lines))
    end
  end)
end)
