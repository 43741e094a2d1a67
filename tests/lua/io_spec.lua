-- .npy save/load and IDX reading from Lua: exact bytes, round trips, the real Fashion-MNIST
-- files, and every error message.
local tide = require "tide"
local files = require "support.files"

local FASHION = "/usr/share/datasets/fashion-mnist/"

local dir
local function at(name) return dir .. "/" .. name end
local read, write = files.read, files.write

local function listing()
  local names = {}
  local p = io.popen("ls -A '" .. dir .. "'")
  for line in p:lines() do
    names[#names + 1] = line
  end
  p:close()
  table.sort(names)
  return names
end

setup(function() dir = files.tmpdir() end)
teardown(function() files.remove_tree(dir) end)

describe("tide.save", function()
  it("writes NumPy's version 1.0 header, byte for byte, then the data", function()
    local t = tide.tensor { { 0, 1, 2, 3 }, { 4, 5, 6, 7 }, { 8, 9, 10, 11 } }
    tide.save(at("a.npy"), t)
    local want = "\x93NUMPY\x01\x00\x76\x00"
      .. "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
      .. string.rep(" ", 58) .. "\n"
    local data = {}
    for i = 0, 11 do
      data[#data + 1] = string.pack("<f", i)
    end
    local bytes = read(at("a.npy"))
    assert.are.equal(128, #want)
    assert.are.equal(want, bytes:sub(1, 128))
    assert.are.equal(table.concat(data), bytes:sub(129))

    tide.save(at("u.npy"), tide.tensor({ 1, 2, 3, 4, 5 }, "u8"))
    assert.are.equal("\x93NUMPY\x01\x00\x76\x00"
      .. "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }"
      .. string.rep(" ", 60) .. "\n\1\2\3\4\5", read(at("u.npy")))
    tide.save(at("s.npy"), tide.tensor(7, "i64"))
    assert.are.equal("\x93NUMPY\x01\x00\x76\x00"
      .. "{'descr': '<i8', 'fortran_order': False, 'shape': (), }"
      .. string.rep(" ", 62) .. "\n" .. string.pack("<i8", 7), read(at("s.npy")))
  end)

  it("round-trips every dtype, and writes a strided view in logical order", function()
    for _, dt in ipairs { "f32", "f64", "i32", "i64", "u8" } do
      local t = tide.tensor({ { { 1, 2 }, { 3, 4 } }, { { 5, 6 }, { 7, 200 } } }, dt)
      tide.save(at(dt .. ".npy"), t)
      local back = tide.load(at(dt .. ".npy"))
      assert.are.equal(dt, back:dtype())
      assert.are.same(t:totable(), back:totable())
      assert.are.same(t:totable(), tide.io.load(at(dt .. ".npy")):totable())
    end
    local t = tide.tensor { { 1.5, 2.5, 3.5 }, { 4.5, 5.5, 6.5 } }
    local view = t:t()
    assert.is_false(view:is_contiguous())
    tide.io.save(at("view.npy"), view)
    local back = tide.load(at("view.npy"))
    assert.are.same({ { 1.5, 4.5 }, { 2.5, 5.5 }, { 3.5, 6.5 } }, back:totable())
    assert.is_true(back:is_contiguous())
    tide.save(at("col.npy"), t:narrow(2, 2, 1))
    assert.are.same({ { 2.5 }, { 5.5 } }, tide.load(at("col.npy")):totable())
    tide.save(at("none.npy"), tide.zeros { 0, 4 })
    assert.are.same({ 0, 4 }, tide.load(at("none.npy")):shape())
  end)

  it("replaces a file in one step and leaves no temporary behind", function()
    tide.save(at("r.npy"), tide.tensor { 1 })
    tide.save(at("r.npy"), tide.tensor { 2, 3 })
    assert.are.same({ 2, 3 }, tide.load(at("r.npy")):totable())
    for _, name in ipairs(listing()) do
      assert.is_falsy(name:find(".tmp-", 1, true))
    end
  end)

  it("fails cleanly: missing directory, a directory in the way, a closed tensor", function()
    local before = listing()
    assert.has_error(function() tide.save(at("no/x.npy"), tide.zeros(2)) end,
      "save: cannot write '" .. at("no/x.npy") .. "': No such file or directory")
    assert(os.execute("mkdir '" .. at("d.npy") .. "'"))
    assert.has_error(function() tide.save(at("d.npy"), tide.zeros(2)) end,
      "save: cannot write '" .. at("d.npy") .. "': Is a directory")
    os.execute("rmdir '" .. at("d.npy") .. "'")
    assert.are.same(before, listing())
    local t = tide.zeros(2)
    t:close()
    assert.has_error(function() tide.save(at("c.npy"), t) end, "attempt to use a closed tensor")
    local ok, err = pcall(tide.save, at("n.npy"), 5)
    assert.is_false(ok)
    assert.is_truthy(err:find("tide.tensor expected, got number", 1, true))
  end)
end)

describe("tide.load", function()
  local function npy(major, dict, data)
    local len = #dict + 1
    local size = major == 1 and string.pack("<I2", len) or string.pack("<I4", len)
    return "\x93NUMPY" .. string.char(major, 0) .. size .. dict .. "\n" .. data
  end

  it("reads version 2.0 headers, Fortran order and big-endian data", function()
    write(at("v2.npy"), npy(2, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
      string.pack("<i8<i8", -5, 1 << 40)))
    local t = tide.load(at("v2.npy"))
    assert.are.equal("i64", t:dtype())
    assert.are.same({ -5, 1 << 40 }, t:totable())
    write(at("f.npy"), npy(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
      string.pack("<dddddd", 1, 4, 2, 5, 3, 6)))
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, tide.load(at("f.npy")):totable())
    write(at("be.npy"), npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
      string.pack(">f>f", 1.5, -2)))
    assert.are.same({ 1.5, -2 }, tide.load(at("be.npy")):totable())
  end)

  it("reads each descriptor of the dtype table, in either byte order, and NumPy's bool as u8", function()
    local cases = {
      { "|b1", "u8", string.pack("BBB", 1, 0, 1), { 1, 0, 1 } },
      { "|u1", "u8", string.pack("BBB", 7, 0, 255), { 7, 0, 255 } },
      { ">i4", "i32", string.pack(">i4>i4>i4", -2, 1 << 20, 3), { -2, 1 << 20, 3 } },
      { "<i8", "i64", string.pack("<i8<i8<i8", -1, 1 << 50, 0), { -1, 1 << 50, 0 } },
      { ">f8", "f64", string.pack(">d>d>d", 0.25, -3, 1e300), { 0.25, -3, 1e300 } },
      { "<f4", "f32", string.pack("<f<f<f", 0.5, -8, 2), { 0.5, -8, 2 } },
    }
    for _, c in ipairs(cases) do
      write(at("d.npy"), npy(1, "{'descr': '" .. c[1] .. "', 'fortran_order': False, 'shape': (3,), }",
        c[3]))
      local t = tide.load(at("d.npy"))
      assert.are.equal(c[2], t:dtype())
      assert.are.same(c[4], t:totable())
    end
  end)

  it("reads a range of rows only, and a file's shape from its header", function()
    local t = tide.arange(0, 30, "f64"):view(10, 3)
    tide.save(at("rows.npy"), t)
    assert.are.same(t:narrow(1, 4, 3):totable(), tide.load(at("rows.npy"), { first = 4, count = 3 })
      :totable())
    assert.are.same(t:narrow(1, 1, 10):totable(),
      tide.load(at("rows.npy"), { first = 1, count = 10 }):totable())
    assert.are.same({ 0, 3 }, tide.load(at("rows.npy"), { first = 11, count = 0 }):shape())
    local shape, dtype = tide.io.npy_shape(at("rows.npy"))
    assert.are.same({ 10, 3 }, shape)
    assert.are.equal("f64", dtype)
    assert.has_error(function() tide.load(at("rows.npy"), { first = 9, count = 3 }) end,
      "load: rows 9..11 asked for, but '" .. at("rows.npy") .. "' has 10 rows")
    assert.has_error(function() tide.load(at("rows.npy"), { first = 0, count = 3 }) end,
      "load: first must be an integer >= 1 and count one >= 0, got 0 and 3")
    assert.has_error(function() tide.load(at("rows.npy"), { first = 2 }) end,
      "load: options first and count go together")
    assert.has_error(function() tide.load(at("rows.npy"), { rows = 2 }) end,
      "load: unknown option 'rows' (expected one of: first, count)")
    write(at("fo.npy"), npy(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
      string.pack("<dddddd", 1, 4, 2, 5, 3, 6)))
    assert.has_error(function() tide.load(at("fo.npy"), { first = 1, count = 1 }) end,
      "load: rows of '" .. at("fo.npy") .. "' asked for, but it is in Fortran order (rows are"
      .. " not contiguous); load it whole")
  end)

  it("names the file and the problem", function()
    assert.has_error(function() tide.load(at("x.npy")) end,
      "load: cannot open '" .. at("x.npy") .. "': No such file or directory")
    write(at("bad.npy"), "not a numpy file at all")
    assert.has_error(function() tide.load(at("bad.npy")) end,
      "load: '" .. at("bad.npy") .. "' is not a .npy file (bad magic)")
    write(at("c8.npy"), npy(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
      string.rep("\0", 8)))
    assert.has_error(function() tide.load(at("c8.npy")) end,
      "load: unsupported dtype '<c8' in '" .. at("c8.npy") .. "'")
    write(at("short.npy"), npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
      string.rep("\0", 20)))
    assert.has_error(function() tide.load(at("short.npy")) end,
      "load: '" .. at("short.npy") .. "' is truncated: expected 48 bytes of data, got 20")
    write(at("hdr.npy"), npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", ""))
    assert.has_error(function() tide.load(at("hdr.npy")) end,
      "load: '" .. at("hdr.npy") .. "' has a malformed header: 'shape' is not a tuple of sizes")
    write(at("cut.npy"), "\x93NUMPY\x01\x00\x76\x00{'descr'")
    assert.has_error(function() tide.load(at("cut.npy")) end,
      "load: '" .. at("cut.npy") .. "' is truncated: expected 118 bytes of header, got 8")
    write(at("v9.npy"), npy(9, "{}", ""))
    assert.has_error(function() tide.load(at("v9.npy")) end,
      "load: '" .. at("v9.npy") .. "' has unsupported .npy format version 9.0")
  end)
end)

describe("tide.io.read_idx", function()
  it("reads the real Fashion-MNIST test labels and images", function()
    local labels = tide.io.read_idx(FASHION .. "t10k-labels-idx1-ubyte.gz")
    assert.are.equal("u8", labels:dtype())
    assert.are.same({ 10000 }, labels:shape())
    assert.are.equal(9, labels[1])
    local counts = {}
    for _, y in ipairs(labels:totable()) do
      assert(y >= 0 and y <= 9)
      counts[y] = (counts[y] or 0) + 1
    end
    for y = 0, 9 do
      assert.are.equal(1000, counts[y])
    end
    local images = tide.io.read_idx(FASHION .. "t10k-images-idx3-ubyte.gz")
    assert.are.equal("u8", images:dtype())
    assert.are.same({ 10000, 28, 28 }, images:shape())
    local row = images[1][1]:totable()
    for _, px in ipairs(row) do
      assert(px >= 0 and px <= 255)
    end
  end)

  local function idx(type, dims, data)
    local parts = { "\0\0", string.char(type, #dims) }
    for _, d in ipairs(dims) do
      parts[#parts + 1] = string.pack(">I4", d)
    end
    parts[#parts + 1] = data
    return table.concat(parts)
  end

  it("reads uncompressed files and every IDX type", function()
    write(at("u8.idx"), idx(0x08, { 2, 2 }, "\1\2\3\255"))
    local t = tide.io.read_idx(at("u8.idx"))
    assert.are.equal("u8", t:dtype())
    assert.are.same({ { 1, 2 }, { 3, 255 } }, t:totable())
    write(at("i16.idx"), idx(0x0B, { 2 }, string.pack(">i2>i2", -300, 7)))
    t = tide.io.read_idx(at("i16.idx"))
    assert.are.equal("i32", t:dtype())
    assert.are.same({ -300, 7 }, t:totable())
    write(at("f64.idx"), idx(0x0E, { 1 }, string.pack(">d", 0.125)))
    assert.are.same({ 0.125 }, tide.io.read_idx(at("f64.idx")):totable())
    write(at("f32.idx"), idx(0x0D, { 1 }, string.pack(">f", -4.5)))
    assert.are.same({ -4.5 }, tide.io.read_idx(at("f32.idx")):totable())
  end)

  it("names the file and the problem", function()
    assert.has_error(function() tide.io.read_idx(at("nope")) end,
      "read_idx: cannot open '" .. at("nope") .. "': No such file or directory")
    write(at("f"), idx(0x08, { 60000, 28, 28 }, string.rep("\7", 1000)))
    assert.has_error(function() tide.io.read_idx(at("f")) end,
      "read_idx: '" .. at("f") .. "' is truncated: expected 47040000 bytes of data, got 1000")
    write(at("m"), "\1\2\3\4\5\6\7\8")
    assert.has_error(function() tide.io.read_idx(at("m")) end,
      "read_idx: '" .. at("m") .. "' is not an IDX file (bad magic 0x01020304)")
    write(at("t"), idx(0x0A, { 1 }, "\0"))
    assert.has_error(function() tide.io.read_idx(at("t")) end,
      "read_idx: '" .. at("t") .. "' has unknown IDX data type 0x0a")
    write(at("d"), idx(0x08, { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, "\0"))
    assert.has_error(function() tide.io.read_idx(at("d")) end,
      "read_idx: '" .. at("d") .. "' has 9 dims, expected 1 to 8")
    write(at("h"), "\0\0\8\2\0\0\0\1")
    assert.has_error(function() tide.io.read_idx(at("h")) end,
      "read_idx: '" .. at("h") .. "' is truncated: expected 12 bytes of header, got 8")
  end)
end)
