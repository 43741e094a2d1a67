-- tide.privacy under mpirun: a DP-SGD step over the ranks, each clipping its own rows, ends
-- with the parameters of the same step in one process on the whole batch (the noise comes
-- once, from rank 0); the ranks' Poisson batches never share a sample.
local tide = require "tide"
local nn, optim, data, privacy = tide.nn, tide.optim, tide.data, tide.privacy
local train_step = require("support.train").step

local world = tide.world
local N, rank = world.size, world.rank
local B = 12     -- divisible by 1, 2 and 4 ranks

local function build()
  tide.manual_seed(7, { same_on_all_ranks = true })
  return nn.Sequential { nn.Linear(6, 8, { dtype = "f64" }), nn.ReLU(),
    nn.Linear(8, 3, { dtype = "f64" }) }
end

local function set()
  tide.manual_seed(9, { same_on_all_ranks = true })
  return { x = tide.randn({ B, 6 }, "f64"):mul_(2), y = tide.randint(1, 4, { B }, "i64") }
end

-- Three DP-SGD steps over comm, each on rows lo..hi of the set.
local function train(comm, lo, hi)
  local model, s = build(), set()
  local loader = data.DataLoader(s, { batch_size = B // comm.size })  -- q = 1
  local pm, po = privacy.make_private(model, optim.SGD(model, { lr = 0.2, momentum = 0.9 }),
    loader, { noise = 0.7, clip = 0.3, delta = 1e-5, comm = comm, seed = 5 })
  local crit = nn.CrossEntropyLoss()
  local x, y = s.x:narrow(1, lo, hi - lo + 1), s.y:narrow(1, lo, hi - lo + 1)
  for _ = 1, 3 do train_step(pm, crit, po, x, y) end
  return model, po
end

describe("DP-SGD over the ranks", function()
  it("takes the step one process takes on the whole batch", function()
    local per = B // N
    local model, po = train(world, rank * per + 1, (rank + 1) * per)
    local ref = train({ rank = 0, size = 1 }, 1, B)
    local ps, rs = model:parameters(), ref:parameters()
    for j = 1, #ps do
      local d = (ps[j] - rs[j]):abs():max()
      assert.is_true(d < 1e-12, "rank " .. rank .. " param " .. j .. " differs by " .. d)
    end
    assert.are.equal(3, po.steps)
  end)

  it("draws Poisson batches from disjoint shards that cover the set", function()
    local n = 10 * N + 1
    local s = { x = tide.arange(n, "f64"):view({ n, 1 }), y = tide.ones({ n }, "i64") }
    local model = nn.Linear(1, 1, { dtype = "f64" })
    local _, _, pl = privacy.make_private(model, optim.SGD(model, { lr = 0.1 }),
      data.DataLoader(s, { batch_size = 3 }), { noise = 1, clip = 1, delta = 1e-5 })
    local mine = pl.indices:totable()
    local all = world:allgather_obj(mine)
    local seen = {}
    for _, part in ipairs(all) do
      for _, i in ipairs(part) do
        assert.is_nil(seen[i])
        seen[i] = true
      end
    end
    for i = 1, n do assert.is_true(seen[i]) end
    for bx in pl:batches() do
      for i = 1, bx:size(1) do assert.is_true((math.tointeger(bx:get(i, 1)) % N) == rank) end
    end
  end)
end)
