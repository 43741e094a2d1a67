-- No input crashes the process (issue 12, 1-5 and 15): sizes whose element or byte counts,
-- strides or ranges do not fit in 64 bits are errors naming the shape; a size the machine
-- cannot hold is an out-of-memory error naming the bytes; a killed save's temporary is
-- removed by the next save. Each case here crashed, or read out of bounds, before.
local tide = require "tide"
local nn = require "tide.nn"
local files = require "support.files"

local BIG = 1 << 62           -- 2^62 elements: 2^64 bytes of f32 wrapped to 0
local BIG_S = "4611686018427387904"

-- fn must raise an error whose message contains text (plain, not a pattern).
local function fails(text, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error containing: " .. text)
  err = tostring(err)
  assert(err:find(text, 1, true), ("expected an error containing\n  %s\ngot\n  %s"):format(text, err))
end

local dir
local function at(name) return dir .. "/" .. name end
local write, exists = files.write, files.exists

setup(function() dir = files.tmpdir() end)
teardown(function() files.remove_tree(dir) end)

describe("sizes that do not fit in 64 bits (issue 12, 1)", function()
  local too_big = "tensor: shape " .. BIG_S .. " of f32 is too large"

  it("are errors for every constructor, and nothing is allocated", function()
    collectgarbage("collect")
    local live = tide.memory().live
    fails(too_big, tide.empty, { BIG })
    fails(too_big, tide.zeros, { BIG })
    fails(too_big, tide.ones, { BIG })
    fails(too_big, tide.full, { BIG }, 5)
    fails(too_big, tide.randn, { BIG })
    fails(too_big, tide.linspace, 0, 1, BIG)
    fails("tensor: shape " .. BIG_S .. " of i64 is too large", tide.randperm, BIG)
    fails("tensor: shape 2147483648x2147483648 of f32 is too large", tide.eye, 1 << 31)
    assert.are.equal(live, tide.memory().live)
  end)

  it("are errors in the tide executable, which exits with a message instead of a segfault", function()
    local exe = os.getenv("TIDE_EXE")
    if not exe then return pending("TIDE_EXE not set") end
    local p = io.popen(exe .. " -e 'local t = tide.empty({1 << 62}); t[1000000] = 5' 2>&1; echo \"rc=$?\"")
    local out = p:read("a")
    p:close()
    assert.truthy(out:find(too_big, 1, true), out)
    assert.truthy(out:find("rc=1\n", 1, true), out)
  end)

  it("let an expanded view exist but not be copied or computed with", function()
    local e = tide.ones { 1 }:expand { BIG }
    assert.are.same({ BIG }, e:shape())
    fails(too_big, function() return e:contiguous() end)
    fails(too_big, function() return e + e end)
    fails("expand: cannot expand 1 to " .. BIG_S .. "x" .. BIG_S .. ": more than 2^63-1 elements",
          function() return tide.ones { 1 }:expand { BIG, BIG } end)
    -- a small expansion still computes: 2 * 5 ones
    assert.are.equal(10, (tide.ones { 1 }:expand { 5 } + tide.ones { 1 }:expand { 5 }):sum())
  end)

  it("are errors for nn.Linear, dtensor.zeros and shared_zeros", function()
    fails("tensor: shape 2147483648x2147483648 of f32 is too large", nn.Linear, 1 << 31, 1 << 31)
    fails("dtensor.zeros: shape " .. BIG_S .. " of f32 is too large", tide.dtensor.zeros, { BIG })
    fails("dtensor.zeros: shape 2x" .. BIG_S .. "x" .. BIG_S .. " of f32 is too large",
          tide.dtensor.zeros, { 2, BIG, BIG })
    fails("shared_zeros: shape " .. BIG_S .. " of f32 is too large",
          function() return tide.world:shared_zeros(BIG) end)
  end)

  it("are errors for a redistribute whose expanded rows do not fit", function()
    local dt = tide.dtensor.zeros { 2, 2 }
    local dest = tide.zeros({ 2 }, "i32")
    fails("redistribute: a row of tensor 2 (2x2305843009213693952) is more bytes than fit in 64"
          .. " bits", tide.dtensor.redistribute, { dt, tide.ones { 1, 1 }:expand { 2, 1 << 61 } }, dest)
    fails("redistribute: out of memory for 8796093022224 bytes of rows to send",
          tide.dtensor.redistribute, { dt, tide.ones { 1, 1 }:expand { 2, 1 << 40 } }, dest)
    -- a small expanded view still rides along: 2 rows of 3 ones
    local moved = tide.dtensor.redistribute({ dt, tide.ones { 1, 3 }:expand { 2, 3 } }, dest)
    assert.are.equal(6, moved[2]:sum())
  end)

  it("are errors for a view's shape, even with no elements", function()
    fails("view: shape 0x" .. BIG_S .. "x" .. BIG_S .. " of f32 is too large",
          function() return tide.zeros { 0 }:view { 0, BIG, BIG } end)
    fails("view: shape 4294967296x4294967296 of f32 is too large",
          function() return tide.zeros { 0 }:view { 1 << 32, 1 << 32 } end)
  end)

  it("are refused in the scratch of sort, topk and bincount on expanded views", function()
    fails("topk: " .. BIG_S .. " elements of 8 bytes do not fit in 64 bits",
          function() return tide.ones { 1 }:expand { BIG }:topk(3) end)
    fails("bincount: 2305843009213693952 elements of 16 bytes do not fit in 64 bits",
          function() return tide.ones({ 1 }, "i64"):expand { 1 << 61 }:bincount() end)
    fails("bincount: value 9223372036854775807 at position 1 needs more bins than fit in 64 bits",
          function() return tide.tensor({ math.maxinteger }, "i64"):bincount() end)
  end)
end)

describe("the k-means kernels' scratch", function()
  it("checks its byte count: 2^61 farthest rows wrapped to a 0-byte buffer", function()
    local K = tide._internal.cluster_kernels
    local x = tide.tensor { { 0, 0 }, { 3, 4 }, { 1, 0 }, { 0, 2 } }
    local c = tide.tensor { { 0, 0 } }
    local labels = tide.ones({ 4 }, "i32")
    fails("kmeans: 2305843009213693952 elements of 8 bytes do not fit in 64 bits",
          K.farthest, x, c, labels, 1 << 61)
    -- the two farthest from the one centre: (3, 4) at 25, then (0, 2) at 4
    local rows, d2 = K.farthest(x, c, labels, 2)
    assert.are.same({ 2, 4 }, { rows[1], rows[2] })
    assert.are.same({ 25, 4 }, { d2[1], d2[2] })
  end)
end)

describe("counts that do not fit", function()
  it("saturate in ring_bounded's sum of quotas (2 x 2^63-1 overflowed)", function()
    local ranks = tide.ring_bounded(tide.tensor({ 1, 2, 1 }, "i64"), tide.tensor({ 0, 1 }, "i32"),
                                    tide.tensor({ math.maxinteger, math.maxinteger }, "i64"))
    -- quotas never bind: each key goes to the owner of its start point
    assert.are.same({ 0, 1, 0 }, { ranks[1], ranks[2], ranks[3] })
  end)
end)

describe("sizes the machine cannot hold", function()
  it("fail with an out-of-memory error naming the bytes", function()
    collectgarbage("collect")
    local live = tide.memory().live
    fails("tensor: out of memory allocating 4398046511104 bytes for a 1099511627776 f32 tensor",
          tide.zeros, { 1 << 40 })
    fails("shared_zeros: out of memory allocating 4398046511104 bytes for 1099511627776 f32",
          function() return tide.world:shared_zeros(1 << 40) end)
    assert.are.equal(live, tide.memory().live)
  end)
end)

describe("narrow (issue 12, 3)", function()
  it("refuses a length whose end overflows", function()
    fails("narrow: range [2, 1 + 9223372036854775807] out of bounds for size 3 in dim 1",
          function() return tide.ones { 3 }:narrow(1, 2, math.maxinteger) end)
    local t = tide.tensor { 1, 2, 3 }
    assert.are.equal(2 + 3, t:narrow(1, 2, 2):sum())
    assert.are.same({ 0 }, t:narrow(1, 4, 0):shape())
  end)
end)

describe("files that promise sizes that do not fit", function()
  -- A version 1.0 .npy header around dict, padded as NumPy pads.
  local function npy(dict)
    local body = dict .. string.rep(" ", 63 - (10 + #dict) % 64) .. "\n"
    return "\x93NUMPY\x01\x00" .. string.pack("<I2", #body) .. body
  end

  it("tide.io.read_idx: a 24-byte f32 file of 2^31 x 2^31 (issue 12, 2)", function()
    local path = at("wrap.idx")
    write(path, "\0\0\x0d\x02\x80\0\0\0\x80\0\0\0" .. string.rep("\x3f", 12))
    fails("read_idx: '" .. path .. "' has a malformed header: shape 2147483648x2147483648 of f32"
          .. " is too large", tide.io.read_idx, path)
  end)

  it("tide.load: a .npy of shape (0, 2^62, 2^62) (issue 12, 5)", function()
    local path = at("zero.npy")
    write(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, " .. BIG_S .. ", "
                    .. BIG_S .. "), }"))
    fails("load: '" .. path .. "' has a malformed header: shape 0x" .. BIG_S .. "x" .. BIG_S
          .. " of f32 is too large", tide.load, path)
    fails("load: '" .. path .. "' has a malformed header: shape 0x" .. BIG_S .. "x" .. BIG_S
          .. " of f32 is too large", tide.io.npy_shape, path)
  end)

  it("tide.load: rows 2^62 + 1 .. of a 1000-row file (issue 12, 4)", function()
    local path = at("rows.npy")
    tide.save(path, tide.arange(0, 1000))
    fails("load: rows " .. (BIG + 1) .. ".." .. BIG_S .. " + " .. BIG_S .. " asked for, but '"
          .. path .. "' has 1000 rows", tide.load, path, { first = BIG + 1, count = BIG })
    fails("load: rows 2..9223372036854775807 asked for, but '" .. path .. "' has 1000 rows",
          tide.load, path, { first = 2, count = math.maxinteger - 1 })
    -- the last ten rows: 990 + ... + 999
    assert.are.equal(9945, tide.load(path, { first = 991, count = 10 }):sum())
  end)
end)

describe("a killed save (issue 12, 15)", function()
  local function host()
    local f = assert(io.open("/proc/sys/kernel/hostname"))
    local h = f:read("l")
    f:close()
    return h
  end

  -- The id of a process that has exited.
  local function dead_pid()
    local p = io.popen("sh -c 'echo $$'")
    local pid = tonumber(p:read("l"))
    p:close()
    return pid
  end

  it("leaves a temporary that the next save to the path removes", function()
    local path = at("model.npy")
    local stale = ("%s.tmp-%s-%d-3"):format(path, host(), dead_pid())
    local elsewhere = ("%s.tmp-otherhost-%d-3"):format(path, dead_pid())
    write(stale, string.rep("x", 4096))
    write(elsewhere, "x")
    local t = tide.tensor { 1, 2, 3 }
    tide.save(path, t)
    assert.is_false(exists(stale))
    assert.is_true(exists(elsewhere))   -- another host's process id means nothing here
    assert.are.equal(6, tide.load(path):sum())
    os.remove(elsewhere)
  end)
end)

describe("index errors on dims past 2^31", function()
  it("name the size as it is, not cut to 32 bits", function()
    local t = tide.zeros { 1 }:expand { 1 << 40 }
    fails("index 1099511627777 out of range (expected 1..1099511627776 or -1099511627776..-1)",
      function() return t[(1 << 40) + 1] end)
    fails("narrow: start -2199023255552 out of range for size 1099511627776 in dim 1",
      function() return t:narrow(1, -(1 << 41), 1) end)
  end)
end)
