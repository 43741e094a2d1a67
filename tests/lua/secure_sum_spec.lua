-- tide.federated.secure_sum (secure aggregation over libsodium): Shamir sharing, exact sums
-- with 0, 1 and 30% of the clients dropping, what the server receives from one client against
-- the uniform distribution (chi-square), and rejected shares, boxes and replays.
local tide = require "tide"
local federated = tide.federated
local secure = require "tide.federated.secure"
local S = tide._internal.secure_kernels

local ONE = { rank = 0, size = 1 }
local hex = secure.hex

describe("Shamir sharing of a key", function()
  it("rebuilds the key from any t shares and not from t - 1", function()
    local _, sk = S.keypair()
    local shares = S.split(sk, 7, 4)
    for _, pick in ipairs { { 1, 2, 3, 4 }, { 7, 2, 5, 3 }, { 6, 1, 4, 7, 2 } } do
      local sh = {}
      for i, x in ipairs(pick) do sh[i] = shares[x] end
      assert.are.equal(hex(sk), hex(S.combine(pick, sh)))
    end
    local ok, got = pcall(S.combine, { 1, 2, 3 }, { shares[1], shares[2], shares[3] })
    assert.is_true(not ok or got ~= sk)
  end)
end)

describe("the ring kernels (i32 tensors read as residues mod 2^32)", function()
  local M32 = 0xffffffff
  local function residues(t)
    local out = {}
    for i, v in ipairs(t:totable()) do out[i] = v & M32 end
    return out
  end

  it("add wraps mod 2^32 and encode/decode round to multiples of 1/scale", function()
    local x = tide.tensor({ 1.5, -2.25, 30000, -30000, 0 }, "f64")
    local a = S.encode(x, 65536)
    assert.are.equal("i32", a:dtype())
    local want = {}
    for i, v in ipairs(x:totable()) do want[i] = math.tointeger(v * 65536) & M32 end
    assert.are.same(want, residues(a))
    local sum = S.add_(a:clone(), a)
    for i, v in ipairs(want) do want[i] = (v + v) & M32 end
    assert.are.same(want, residues(sum))
    assert.are.same({ 3, -4.5, 60000 - 65536, -60000 + 65536, 0 }, S.decode(sum, 65536):totable())
  end)

  it("adds several seeds' masks in one pass as one mask at a time does", function()
    local y0 = S.encode(tide.randn({ 10000 }, { seed = 1, dtype = "f64" }), 65536)
    local seeds = { S.random(32), S.random(32), S.random(32) }
    local one = y0:clone()
    S.mask_(one, seeds[1], 1)
    S.mask_(one, seeds[2], -1)
    S.mask_(one, seeds[3], 1)
    local all = S.mask_(y0:clone(), table.concat(seeds), { 1, -1, 1 })
    assert.are.same(residues(one), residues(all))
    assert.are_not.same(residues(y0), residues(all))
    -- a mask and its negative cancel, word for word (the stream continues over blocks of 4096)
    S.mask_(all, table.concat(seeds), { -1, 1, -1 })
    assert.are.same(residues(y0), residues(all))
    assert.has_error(function() S.mask_(tide.zeros({ 4 }, "i64"), seeds[1], 1) end,
      "secure_sum mask: expected a contiguous i32 tensor of Z_2^32 values, got i64")
    assert.has_error(function() S.mask_(y0, "short", 1) end,
      "secure_sum: seeds must be a multiple of 32 bytes, got 5")
  end)
end)

describe("federated.secure_sum", function()
  local function inputs(n)
    local xs, total = {}, tide.zeros({ 3, 4 }, "f64")
    for id = 1, n do
      xs[id] = tide.randn({ 3, 4 }, { seed = id, dtype = "f64" }):mul_(100)
      total:add_(xs[id])
    end
    return xs, total
  end

  for _, case in ipairs { { name = "no client", drop = {} }, { name = "one client", drop = { 5 } },
    { name = "30% of the clients", drop = { 2, 3, 11, 13, 17, 20 } } } do
    it("is the sum of the survivors' values, to 20 / 2^17, when " .. case.name .. " drops", function()
      local xs, total = inputs(20)
      for _, id in ipairs(case.drop) do total:sub_(xs[id]) end
      local sum = federated.secure_sum(xs, { comm = ONE, clients = 20, drop = case.drop })
      assert.are.same({ 3, 4 }, sum:shape())
      -- each value is rounded to a multiple of 2^-16: at most 2^-17 off, 20 of them
      assert.is_true((sum - total):abs():max() <= 20 / 2 ^ 17)
    end)
  end

  it("hides each input: the server's view of a client is uniform (chi-square, 16 bins)", function()
    local bins_hi, bins_lo = {}, {}
    for b = 1, 16 do bins_hi[b], bins_lo[b] = 0, 0 end
    local runs = 800      -- 50 expected a bin: the chi-square approximation holds
    for _ = 1, runs do
      local server = secure.Server.new { clients = 3, threshold = 2, scale = 65536 }
      local hello = server:hello()
      local cs, ads = {}, {}
      for id = 1, 3 do
        cs[id] = secure.Client.new(id, tide.tensor({ 0.5 }, "f64"), hello, 65536)
        ads[id] = cs[id]:advertise()
      end
      local roster = server:roster(ads)
      local boxes = {}
      for id = 1, 3 do
        for _, b in ipairs(cs[id]:share(roster, 2)) do boxes[#boxes + 1] = b end
      end
      for _, b in ipairs(boxes) do cs[b.to]:receive_box(b) end
      -- what the server gets from client 1: a residue mod 2^32 (the bits of an i32)
      local y = cs[1]:masked_input().y:get(1) & 0xffffffff
      bins_hi[(y >> 28) + 1] = bins_hi[(y >> 28) + 1] + 1
      bins_lo[(y & 15) + 1] = bins_lo[(y & 15) + 1] + 1
    end
    for _, bins in ipairs { bins_hi, bins_lo } do
      local chi2, e = 0, runs / 16
      for b = 1, 16 do chi2 = chi2 + (bins[b] - e) ^ 2 / e end
      assert.is_true(chi2 < 37.7, "chi-square " .. chi2)   -- 15 degrees of freedom, p = 0.001
    end
  end)

  -- One session of n clients up to the masked inputs.
  local function session(n)
    local server = secure.Server.new { clients = n, threshold = 2, scale = 65536 }
    local hello = server:hello()
    local cs, ads = {}, {}
    for id = 1, n do
      cs[id] = secure.Client.new(id, tide.tensor({ id }, "f64"), hello, 65536)
      ads[id] = cs[id]:advertise()
    end
    local roster = server:roster(ads)
    local boxes = {}
    for id = 1, n do
      for _, b in ipairs(cs[id]:share(roster, 2)) do boxes[#boxes + 1] = b end
    end
    return server, cs, boxes
  end

  it("rejects a wrong share, a forged box and replayed messages", function()
    local server, cs, boxes = session(4)
    local forged = {}
    for k, v in pairs(boxes[1]) do forged[k] = v end
    forged.box = forged.box:sub(1, -2) .. string.char((forged.box:byte(-1) + 1) % 256)
    assert.has_error(function() cs[forged.to]:receive_box(forged) end,
      ("secure_sum: rejected the share client %d sent to client %d: the box is not genuine")
      :format(forged.from, forged.to))
    for _, b in ipairs(boxes) do cs[b.to]:receive_box(b) end
    assert.has_error(function() cs[boxes[1].to]:receive_box(boxes[1]) end,
      ("secure_sum: rejected a second share from client %d (a replay)"):format(boxes[1].from))
    local inputs = {}
    for id = 1, 3 do inputs[id] = cs[id]:masked_input() end      -- client 4 drops
    for id = 1, 3 do server:receive_input(inputs[id]) end
    assert.has_error(function() server:receive_input(inputs[2]) end,
      "secure_sum: rejected a second input of client 2 (a replay)")
    local alive = server:survivors()
    local shares = cs[1]:reveal(alive)
    assert.are.equal(1, #shares)
    local wrong = {}
    for k, v in pairs(shares[1]) do wrong[k] = v end
    wrong.share = S.random(64)
    assert.has_error(function() server:receive_share(wrong) end,
      "secure_sum: rejected the share of client 4's key from client 1: its MAC does not match")
    server:receive_share(shares[1])
    assert.has_error(function() server:receive_share(shares[1]) end,
      "secure_sum: rejected a second share from client 1 (a replay)")
    server:receive_share(cs[2]:reveal(alive)[1])
    assert.is_true(math.abs(server:finish():get(1) - 6) < 1e-4)    -- 1 + 2 + 3
    -- a message of this session replayed into the next one
    local later = session(4)
    assert.has_error(function() later:receive_input(inputs[1]) end,
      "secure_sum: rejected an input of client 1 from another session")
  end)

  it("names bad input", function()
    local x = tide.ones({ 2 }, "f64")
    assert.has_error(function() federated.secure_sum({ [0] = x }, { comm = ONE, clients = 3 }) end,
      "federated.secure_sum: client id expected an integer in 1..3, got 0")
    assert.has_error(function() federated.secure_sum({ [4] = x }, { comm = ONE, clients = 3 }) end,
      "federated.secure_sum: client id expected an integer in 1..3, got 4")
    assert.has_error(function() federated.secure_sum(x, { comm = ONE, threshold = 2 }) end,
      "federated.secure_sum: threshold 2 is more than the 1 clients")
    assert.has_error(function() federated.secure_sum({ x, x, x }, { comm = ONE, clients = 3,
      drop = { 9 } }) end, "federated.secure_sum: dropped client id expected an integer in 1..3, got 9")
    assert.has_error(function() federated.secure_sum({ x, x, x }, { comm = ONE, clients = 3,
      drop = { 1, 2 } }) end,
      "secure_sum: client 1 dropped and only 1 of the 2 shares needed to remove its masks came")
    assert.has_error(function() federated.secure_sum({ tide.full({ 1 }, 1e6, "f64") },
      { comm = ONE, clients = 1 }) end,
      "secure_sum: value 1e+06 does not fit the fixed-point range |x| < 2^31 / scale = 32768")
  end)
end)
