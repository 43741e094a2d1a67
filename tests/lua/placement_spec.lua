-- Placement policies in one process, with comm given as a rank count: each policy places keys
-- where its definition says (checked against naive Lua loops), and the properties of
-- acceptance 2 hold. The MPI specs run here too, in a world of one rank (see the end).
local tide = require "tide"
local placement = require "tide.placement"

-- splitmix64's finaliser on key + (seed + 1) * golden, written out in Lua's 64-bit integers
local function mix(key, seed)
  local z = key + (seed + 1) * 0x9E3779B97F4A7C15
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

-- unsigned 64-bit h mod n
local function umod(h, n)
  return ((h >> 1) % n * 2 + (h & 1)) % n
end

local function counts_of(ranks, P)
  local c = {}
  for r = 1, P do
    c[r] = 0
  end
  for _, r in ipairs(ranks:totable()) do
    c[r + 1] = c[r + 1] + 1
  end
  return c
end

local function moved(a, b)
  local n = 0
  local ta, tb = a:totable(), b:totable()
  for i = 1, #ta do
    if ta[i] ~= tb[i] then
      n = n + 1
    end
  end
  return n
end

local N = 100000
local keys = tide.arange(1, N + 1) * 7919   -- distinct i64 keys, not in order of their hashes

describe("hash kernels", function()
  it("hash64 is splitmix64's finaliser of key + (seed + 1) * golden", function()
    local k = tide.tensor({ 0, 1, -1, 42, math.maxinteger, math.mininteger }, "i64")
    for _, seed in ipairs { 0, 7, -3 } do
      local h = tide.hash64(k, seed):totable()
      for i, key in ipairs(k:totable()) do
        assert.are.equal(mix(key, seed), h[i])
      end
    end
  end)

  it("hashes i32 and u8 keys as their values, through strided views", function()
    local k64 = tide.tensor({ 1, 2, 3, 200 }, "i64")
    assert.are.same(tide.hash64(k64, 5):totable(), tide.hash64(k64:to("i32"), 5):totable())
    assert.are.same(tide.hash64(k64, 5):totable(), tide.hash64(k64:to("u8"), 5):totable())
    local m = tide.tensor({ { 1, 2 }, { 3, 4 } }, "i64"):t()
    assert.are.same({ { mix(1, 0), mix(3, 0) }, { mix(2, 0), mix(4, 0) } }, tide.hash64(m):totable())
  end)

  it("hash_unit and hash_bucket derive from the same hash", function()
    local k = tide.arange(-50, 50)
    local h = tide.hash64(k, 9):totable()
    local u = tide.hash_unit(k, 9):totable()
    local b = tide.hash_bucket(k, 7, 9)
    assert.are.equal("i32", b:dtype())
    for i, hv in ipairs(h) do
      assert.are.equal((hv >> 11) * 2.0 ^ -53, u[i])
      assert.are.equal(umod(hv, 7), b[i])
    end
  end)

  it("rejects float keys and bad bucket counts", function()
    assert.has_error(function() tide.hash64(tide.zeros(3)) end,
      "hash64: expected integer keys (i64, i32 or u8), got f32")
    assert.has_error(function() tide.hash_unit(tide.zeros(3, "f64")) end,
      "hash_unit: expected integer keys (i64, i32 or u8), got f64")
    assert.has_error(function() tide.hash_bucket(keys, 0) end,
      "hash_bucket: expected a bucket count in 1..2147483647, got 0")
  end)

  it("ring_bounded walks clockwise past full ranks and checks its inputs", function()
    local owners = tide.tensor({ 0, 1, 0, 2 }, "i32")
    -- three keys start at point 1 (rank 0, quota 1), one past the end (wraps to point 1)
    local r = tide.ring_bounded(tide.tensor({ 1, 1, 1, 5 }, "i64"), owners,
      tide.tensor({ 1, 1, 2 }, "i64"))
    assert.are.same({ 0, 1, 2, 2 }, r:totable())
    assert.has_error(function()
      tide.ring_bounded(tide.tensor({ 1, 1 }, "i64"), owners, tide.tensor({ 1, 0, 0 }, "i64"))
    end, "ring_bounded: the quotas of the ranks on the ring hold 1 keys, 2 keys to place")
    assert.has_error(function()
      tide.ring_bounded(tide.tensor({ 6 }, "i64"), owners, tide.tensor({ 1, 1, 1 }, "i64"))
    end, "ring_bounded: start 6 of key 1 is outside 1..5")
    assert.has_error(function()
      tide.ring_bounded(tide.tensor({ 1 }, "i64"), tide.tensor({ 3 }, "i32"),
        tide.tensor({ 1, 1, 1 }, "i64"))
    end, "ring_bounded: ring point 0 is owned by rank 3, expected 0..2")
  end)
end)

describe("placement policies by definition", function()
  it("block gives rank r the r-th block of positions, the first total mod P one longer", function()
    local r = placement.block():assign(tide.arange(10), 3)
    assert.are.equal("i32", r:dtype())
    assert.are.same({ 0, 0, 0, 0, 1, 1, 1, 2, 2, 2 }, r:totable())
    local big = placement.block():assign(keys, 7):totable()
    local q, rem = N // 7, N % 7
    for i = 1, N, 997 do
      local p = i - 1
      local want = p < rem * (q + 1) and p // (q + 1) or rem + (p - rem * (q + 1)) // q
      assert.are.equal(want, big[i])
    end
  end)

  it("cyclic deals positions round robin", function()
    assert.are.same({ 0, 1, 2, 0, 1, 2, 0 }, placement.cyclic():assign(tide.arange(7), 3):totable())
    local r = placement.cyclic():assign(keys, 6):totable()
    for i = 1, N do
      if r[i] ~= (i - 1) % 6 then
        assert.are.equal((i - 1) % 6, r[i])
      end
    end
    assert.are.equal(0, placement.cyclic():assign(tide.empty({ 0 }, "i64"), 3):numel())
  end)

  it("hash places key k on hash64(k, seed) mod P", function()
    local r = placement.hash { seed = 11 }:assign(keys, 5):totable()
    local k = keys:totable()
    for i = 1, N, 101 do
      assert.are.equal(umod(mix(k[i], 11), 5), r[i])
    end
  end)

  it("range puts b(r) <= key < b(r+1) on rank r", function()
    local p = placement.range { bounds = { 10, 20, 20 } }
    local k = tide.tensor({ -5, 9, 10, 19, 20, 21, 1000 }, "i64")
    assert.are.same({ 0, 0, 1, 1, 3, 3, 3 }, p:assign(k, 4):totable())
    assert.are.same({ 0, 0, 1, 1, 3, 3, 3 }, p:assign(k:to("i32"), 4):totable())
    -- u8 keys against bounds past 255: compared as integers, not wrapped
    local wide = placement.range { bounds = { 100, 300 } }
    assert.are.same({ 0, 1, 1 }, wide:assign(tide.tensor({ 5, 200, 255 }, "u8"), 3):totable())
  end)

  it("weighted cuts the hashed unit interval in proportion to the weights", function()
    local r = placement.weighted { weights = { 1, 1, 2 }, seed = 3 }:assign(keys, 3)
    local u = tide.hash_unit(keys, 3):totable()
    local rt = r:totable()
    for i = 1, N, 113 do
      local want = u[i] < 0.25 and 0 or u[i] < 0.5 and 1 or 2
      assert.are.equal(want, rt[i])
    end
  end)
end)

describe("placement properties", function()
  it("consistent hashing moves at most 1.3/(N+1) of the keys when 4 ranks become 5", function()
    local ch = placement.consistent_hash { vnodes = 100 }
    local a, b = ch:assign(keys, 4), ch:assign(keys, 5)
    local m = moved(a, b)
    assert.is_true(m <= 1.3 / 5 * N, "moved " .. m)
    -- and every key that moved went to the new rank
    local ta, tb = a:totable(), b:totable()
    for i = 1, N do
      if ta[i] ~= tb[i] then
        assert.are.equal(4, tb[i])
      end
    end
    assert.are.equal(m, placement.moved(a, b))
    -- hash mod P moves about 4/5 of them
    local h = placement.hash()
    local hm = moved(h:assign(keys, 4), h:assign(keys, 5))
    assert.is_true(hm > 0.77 * N and hm < 0.83 * N, "hash-mod moved " .. hm)
  end)

  it("consistent hashing spreads keys over all ranks, more to heavier weights", function()
    local c = counts_of(placement.consistent_hash { vnodes = 200 }:assign(keys, 4), 4)
    assert.is_true(placement.imbalance(c) < 1.25, table.concat(c, " "))
    local w = counts_of(placement.consistent_hash { weights = { 1, 3 } }:assign(keys, 2), 2)
    assert.is_true(w[2] > 2 * w[1], table.concat(w, " "))
  end)

  it("bounded loads keep every rank within ceil(c * mean), even with skewed keys", function()
    local zipf = placement.zipf(N, { seed = 5 })
    for _, P in ipairs { 4, 5 } do
      local r = placement.consistent_hash { bounded_load = 1.25 }:assign(zipf, P)
      local cap = math.ceil(1.25 * N / P)
      local c = counts_of(r, P)
      local total = 0
      for _, v in ipairs(c) do
        assert.is_true(v <= cap, v .. " > " .. cap)
        total = total + v
      end
      assert.are.equal(N, total)
    end
    -- without the bound, the hottest key alone overloads its rank
    local free = counts_of(placement.consistent_hash():assign(zipf, 4), 4)
    assert.is_true(placement.imbalance(free) > 1.25)
  end)

  it("range.sampled balances Zipf(1.1) keys over 4 ranks within 1.10", function()
    local zipf = placement.zipf(N, { exponent = 1.1, seed = 1 })
    local p = placement.range.sampled { samples_per_rank = 256 }
    local r = p:assign(zipf, 4)
    local c = counts_of(r, 4)
    assert.is_true(placement.imbalance(c) <= 1.10, table.concat(c, " "))
    assert.are.same(c, placement.rank_counts(r, 4))
    -- it is a range placement: its bounds put every key where range would
    assert.are.equal(3, #p.bounds)
    assert.are.same(r:totable(), placement.range { bounds = p.bounds }:assign(zipf, 4):totable())
    -- block-sized equal ranges of the key domain would not balance these keys
    assert.is_true(placement.imbalance(counts_of(
      placement.range { bounds = { 25000, 50000, 75000 } }:assign(zipf, 4), 4)) > 2)
  end)

  it("weights {1, 1, 2} give shares within 2% of 1/4, 1/4, 1/2", function()
    local c = counts_of(placement.weighted { weights = { 1, 1, 2 } }:assign(keys, 3), 3)
    for r, share in ipairs { 0.25, 0.25, 0.5 } do
      assert.is_true(math.abs(c[r] / N - share) <= 0.02, table.concat(c, " "))
    end
  end)
end)

describe("adaptive placement math", function()
  it("apportions totals exactly, largest remainders first", function()
    assert.are.same({ 34, 33, 33 }, placement.apportion(100, { 1, 1, 1 }))
    assert.are.same({ 67, 33 }, placement.apportion(100, { 2, 1 }))
    assert.are.same({ 0, 5 }, placement.apportion(5, { 0, 1 }))
  end)

  it("moves only each rank's surplus, in rank order", function()
    local counts, targets = { 50, 50, 20 }, { 30, 40, 50 }
    assert.are.same({ { 2, 31, 20 } }, placement.moves(counts, targets, 0))
    assert.are.same({ { 2, 41, 10 } }, placement.moves(counts, targets, 1))
    assert.are.same({}, placement.moves(counts, targets, 2))
    assert.are.same({}, placement.moves({ 5, 5 }, { 5, 5 }, 0))
    assert.has_error(function() placement.moves({ 5, 5 }, { 4, 4 }, 0) end,
      "placement.moves: the targets hold fewer rows than the counts")
  end)

  it("assigns in proportion to observed throughput, equal shares before any", function()
    local a = placement.adaptive()
    assert.are.same(placement.block():assign(tide.arange(10), 2):totable(),
      a:assign(tide.arange(10), 2):totable())
    a:observe(100, 0.5)
    a:observe(100, 0.5)
    assert.are.equal(200, a:throughput())
    assert.are.same({ 200, 200 }, a:shares(2))
  end)

  it("rejects bad observations", function()
    assert.has_error(function() placement.adaptive():observe(-1, 1) end,
      "adaptive:observe: expected rows >= 0 and seconds >= 0, got -1, 1")
    assert.has_error(function() placement.adaptive():observe(10, 0 / 0) end,
      "adaptive:observe: expected rows >= 0 and seconds >= 0, got 10, " .. tostring(0 / 0))
  end)
end)

describe("policy files", function()
  it("loads a policy written at run time and uses it without rebuilding", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write([[
      local tide = require "tide"
      return function(opts)
        -- everything on the last rank but keys below opts.cut, which go to rank 0
        return { assign = function(self, keys, P)
          local last = tide.full({ #keys }, P - 1, "i32")
          return last:masked_fill(keys:lt(opts.cut), 0)
        end }
      end
    ]])
    f:close()
    local p = placement.load(path, { cut = 3 })
    assert.are.same({ 0, 0, 2, 2 }, p:assign(tide.tensor({ 1, 2, 3, 4 }, "i64"), 3):totable())
    os.remove(path)
  end)

  it("loads the example policies", function()
    local dir = (os.getenv("TIDE_SOURCE_DIR") or ".") .. "/examples/policies/"
    local k = tide.arange(1000)
    local loc = placement.load(dir .. "locality.lua", { slack = 1.0 })
    local r = loc:assign(k, 4)
    assert.are.same({ 250, 250, 250, 250 }, counts_of(r, 4))
    local ll = placement.load(dir .. "least_loaded.lua", { loads = { 0, 500, 100, 400 } })
    -- 1000 new keys level the loads at 500: 500, 0, 400, 100 of them
    assert.are.same({ 500, 0, 400, 100 }, counts_of(ll:assign(k, 4), 4))
  end)

  it("reports files that do not make a policy", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("return 42\n")
    f:close()
    assert.has_error(function() placement.load(path) end, "placement.load: " .. path
      .. " returned number, expected a policy (a table with an assign method) or a function making one")
    os.remove(path)
    assert.has_error(function() placement.load(7) end, "placement.load: expected a file path, got number")
  end)
end)

describe("placement errors", function()
  it("names the policy and what came", function()
    assert.has_error(function() placement.hash():assign(tide.zeros(3), 2) end,
      "placement.hash: expected keys as a 1-D integer tensor (i64, i32 or u8), got 3 f32")
    assert.has_error(function() placement.block():assign(keys, 0) end,
      "placement.block: expected a rank count >= 1, got 0")
    assert.has_error(function() placement.block():assign(keys, "x") end,
      "placement.block: expected a communicator or a rank count, got string")
    assert.has_error(function() placement.hash { seeds = 1 } end,
      "placement.hash: unknown option 'seeds' (expected one of: seed)")
    assert.has_error(function() placement.range { bounds = { 3, 1 } } end,
      "placement.range: bounds must be ascending, got 1 after 3")
    assert.has_error(function() placement.range { bounds = { 1 } }:assign(keys, 3) end,
      "placement.range: 1 bounds split keys over 2 ranks, not 3")
    assert.has_error(function() placement.range {} end,
      "placement.range: option 'bounds' is required (P - 1 ascending integers)")
    assert.has_error(function() placement.weighted { weights = { 1, 2 } }:assign(keys, 3) end,
      "placement.weighted: 2 weights given for 3 ranks")
    assert.has_error(function() placement.weighted { weights = { 1, -2 } } end,
      "placement.weighted: weight 2 must be a number >= 0, got -2")
    assert.has_error(function() placement.consistent_hash { bounded_load = 0.5 } end,
      "placement.consistent_hash: bounded_load must be a number >= 1, got 0.5")
    -- NaN passed `c < 1` and gave every rank a NaN quota
    assert.has_error(function() placement.consistent_hash { bounded_load = 0 / 0 } end,
      "placement.consistent_hash: bounded_load must be a number >= 1, got NaN")
    assert.has_error(function() placement.consistent_hash { weights = { 1, 0 / 0 } } end,
      "placement.consistent_hash: weight 2 must be a number >= 0, got NaN")
    assert.has_error(function() placement.weighted { weights = { 1, math.huge } } end,
      "placement.weighted: weight 2 must be a number >= 0, got inf")
    assert.has_error(function() placement.zipf(10, { exponent = 0 / 0 }) end,
      "placement.zipf: exponent must be a number > 0, got NaN")
    assert.has_error(function() placement.zipf(10, { stream = -1 }) end,
      "placement.zipf: stream must be an integer of at least 0, got -1")
    assert.has_error(function() placement.hash { seed = 1.5 } end,
      "placement.hash: seed must be an integer, got 1.5")
    assert.has_error(function() placement.consistent_hash { vnodes = 0 } end,
      "placement.consistent_hash: vnodes must be an integer of at least 1, got 0")
    assert.has_error(function() placement.range.sampled { samples_per_rank = 0 } end,
      "placement.range.sampled: samples_per_rank must be an integer of at least 1, got 0")
    assert.has_error(function() placement.adaptive { window = 0 } end,
      "placement.adaptive: window must be an integer of at least 1, got 0")
    assert.has_error(function() placement.stats(tide.zeros(2)) end,
      "placement.stats: expected a dtensor, got 2 f32")
    assert.has_error(function() placement.zipf(10, { domain = 0 }) end,
      "placement.zipf: domain must be an integer of at least 1, got 0")
  end)
end)

-- The MPI specs are size-agnostic: here they run in a world of one rank, in this file's
-- environment (where busted's describe and it live).
for _, name in ipairs { "dtensor_spec", "placement_spec" } do
  local path = assert(package.searchpath("mpi." .. name, package.path))
  assert(loadfile(path, "t", _ENV))()
end
