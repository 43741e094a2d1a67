-- tide.save / tide.load of any value as safetensors: exact round trips (all five dtypes, 0-d,
-- empty, views, integers kept integers), NumPy reading tide's files and tide reading files
-- NumPy wrote, mapped loads, and every error a malformed file or value gives.
local tide = require "tide"
local files = require "support.files"

local PYTHON = "/usr/bin/python3"

local dir
local function at(name) return dir .. "/" .. name end
local read, write = files.read, files.write

-- A safetensors file from a header text and data bytes, as a foreign writer would make it.
local function st_file(header, data)
  return string.pack("<I8", #header) .. header .. (data or "")
end

local function have_numpy()
  return os.execute(PYTHON .. " -c 'import numpy' 2>/dev/null") == true
end

local function python(code)
  local script = at("script.py")
  write(script, code)
  local p = assert(io.popen(PYTHON .. " " .. script .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  assert(ok, "python failed: " .. out)
  return out
end

-- the same value, compared by content: tensors by dtype, shape and elements
local function same(a, b, path)
  path = path or "value"
  if tide.is_tensor(a) then
    assert.is_true(tide.is_tensor(b), path .. " is not a tensor")
    assert.are.equal(a:dtype(), b:dtype(), path)
    assert.are.same(a:shape(), b:shape(), path)
    assert.are.same(a:totable(), b:totable(), path)
    return
  end
  assert.are.equal(type(a), type(b), path)
  if type(a) == "table" then
    for k, v in pairs(a) do same(v, b[k], path .. "." .. tostring(k)) end
    for k in pairs(b) do assert.is_not_nil(a[k], path .. "." .. tostring(k) .. " is extra") end
  elseif type(a) == "number" then
    assert.are.equal(math.type(a), math.type(b), path)
    if a ~= a then assert.is_true(b ~= b, path) else
      assert.are.equal(a, b, path)
      assert.are.equal(1 / a, 1 / b, path .. " (sign of zero)")
    end
  else
    assert.are.equal(a, b, path)
  end
end

setup(function() dir = files.tmpdir() end)
teardown(function() files.remove_tree(dir) end)

local dtypes = { "f32", "f64", "i32", "i64", "u8" }

local function sample_value()
  local v = { tensors = {}, views = {}, scalars = {} }
  for i, dt in ipairs(dtypes) do
    v.tensors[dt] = tide.arange(0, 12, dt):view(3, 4):add(i)
    v.views[dt] = v.tensors[dt]:transpose(1, 2):narrow(1, 2, 2)     -- strided, offset
    v.scalars[dt] = tide.tensor(i + 1, dt)                          -- 0-d
    v["empty_" .. dt] = tide.zeros({ 0, 3 }, dt)
  end
  v.tensors.f64:set(1, 1, 0.1)
  v.tensors.f32:set(1, 2, -1.5e-30)
  v.tensors.i64:set(1, 1, math.maxinteger)
  v.numbers = { 1, -7, math.mininteger, math.maxinteger, 0.1, -0.0, 1e308, math.huge,
    -math.huge, 2 ^ 53 + 0.0, 3.0 }
  v.strings = { "", "plain", "quote\" back\\slash\n\t", "nul\0byte", "\xff\xfe not utf8", "ü€😀" }
  v.flags = { [true] = "yes", [false] = 0, list = { true, false } }
  v[1], v[2.5], v[-3] = "one", "two and a half", "minus three"
  v.nested = { a = { b = { c = { d = tide.ones({ 2 }, "i32") } } } }
  return v
end

describe("tide.save and tide.load of any value", function()
  it("give back the same nested value, dtypes, shapes and number kinds", function()
    local v = sample_value()
    tide.save(at("v.st"), v)
    same(v, tide.load(at("v.st")))
    same(v, tide.load(at("v.st"), { map = true }))
    local nan = tide.load((function() tide.save(at("nan.st"), { 0 / 0 }) return at("nan.st") end)())
    assert.is_true(nan[1] ~= nan[1])
  end)

  it("saves a tensor, a number, a string or a boolean alone", function()
    for _, v in ipairs { tide.arange(0, 5, "i64"), 42, 0.25, "text", false, {} } do
      tide.save(at("one.st"), v)
      same(v, tide.load(at("one.st")))
    end
  end)

  it("stores a tensor that appears twice once, and gives it back as one tensor", function()
    local t = tide.arange(0, 1000, "f64")
    tide.save(at("twice.st"), { a = t, b = t, c = { t } })
    local w = tide.load(at("twice.st"))
    assert.are.equal(w.a, w.b)
    assert.are.equal(w.a, w.c[1])
    tide.save(at("once.st"), { a = t })
    assert.is_true(#read(at("twice.st")) < #read(at("once.st")) + 100)
  end)

  it("names tensors by key path, and writes the same file for the same value", function()
    local v = { model = { ["1"] = { weight = tide.ones { 2 } } }, ["model.1.weight"] = tide.zeros { 1 } }
    tide.save(at("n1.st"), v)
    tide.save(at("n2.st"), v)
    assert.are.equal(read(at("n1.st")), read(at("n2.st")))
    local tensors = tide.io.st_load(at("n1.st"))
    assert.is_not_nil(tensors["model.1.weight"])
    assert.is_not_nil(tensors["model.1.weight~2"])
    same(v, tide.load(at("n1.st")))
  end)

  it("maps tensors from the file's pages, copy-on-write", function()
    local t = tide.arange(0, 100, "f32")
    tide.save(at("m.st"), { x = t })
    local before = read(at("m.st"))
    local m = tide.load(at("m.st"), { map = true }).x
    m:fill_(7)
    assert.are.equal(700, m:sum())
    assert.are.equal(before, read(at("m.st")))
    os.remove(at("m.st"))           -- the mapping outlives the name
    assert.are.equal(700, m:sum())
  end)

  it("returns the file's crc32 and size, which the bytes on disk match", function()
    local crc, size = tide.save(at("c.st"), { x = tide.arange(0, 10, "i32") })
    assert.are.same({ crc, size }, { tide.io.crc32_file(at("c.st")) })
    assert.are.equal(#read(at("c.st")), size)
  end)

  it("encodes in memory the very bytes it writes (views and all dtypes)", function()
    local names = { "a", "b", "c", "d" }
    local tensors = { tide.arange(0, 12, "f64"):view(3, 4):t(), tide.arange(0, 5, "u8"),
      tide.arange(0, 7, "i32"):narrow(1, 2, 4), tide.zeros({ 0, 3 }, "f32") }
    local meta = { k = "v" }
    tide.io.st_save(at("e.st"), names, tensors, meta)
    local bytes = tide.io.st_encode("e", names, tensors, meta)
    assert.are.equal("u8", bytes:dtype())
    local want = read(at("e.st"))
    assert.are.equal(#want, bytes:numel())
    assert.are.equal(tide.io.crc32_file(at("e.st")), tide.io.crc32(bytes))
    assert.has_error(function() tide.io.st_encode("e", { "x", "x" }, { bytes, bytes }) end,
      "save: two tensors for 'e' are named 'x'")
  end)

  it("leaves .npy paths to NumPy's format, and loads .npy bytes under any name", function()
    local t = tide.arange(0, 6, "f64"):view(2, 3)
    tide.save(at("a.npy"), t)
    assert.are.equal("\x93NUMPY", read(at("a.npy")):sub(1, 6))
    os.rename(at("a.npy"), at("a.data"))
    same(t, tide.load(at("a.data")))
    assert.has_error(function() tide.save(at("b.npy"), { t }) end)
  end)

  it("writes in place atomically: no temporary file is left behind", function()
    tide.save(at("atomic.st"), { 1, 2 })
    tide.save(at("atomic.st"), { 3 })
    same({ 3 }, tide.load(at("atomic.st")))
    local p = io.popen("ls '" .. dir .. "' | grep -c tmp")
    assert.are.equal("0", p:read("l"))
    p:close()
  end)
end)

describe("NumPy interop", function()
  it("NumPy alone reads a tide file (json header, np.frombuffer)", function()
    if not have_numpy() then
      pending("skipped: /usr/bin/python3 has no numpy (apt-get install python3-numpy)")
      return
    end
    local v = {}
    for i, dt in ipairs(dtypes) do
      v[dt] = tide.arange(0, 6, dt):view(2, 3):mul(i):transpose(1, 2)
    end
    v.scalar = tide.tensor(2.5, "f64")
    v.empty = tide.zeros({ 0 }, "i32")
    tide.save(at("np.st"), v)
    local out = python(([==[
import json, struct, numpy as np
kinds = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1"}
raw = open(%q, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
for name in sorted(k for k in header if k != "__metadata__"):
    e = header[name]
    b, end = e["data_offsets"]
    a = np.frombuffer(data[b:end], dtype=kinds[e["dtype"]]).reshape(e["shape"])
    print(name, e["dtype"], list(a.shape), " ".join(repr(float(x)) for x in a.ravel()))
]==]):format(at("np.st")))
    local want = {}
    local names = {}
    for name in pairs(v) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local t = v[name]
      local vals = {}
      for _, x in ipairs(t:contiguous():view(-1):totable()) do
        vals[#vals + 1] = ("%.1f"):format(x)
      end
      local shape = table.concat(t:shape(), ", ")
      want[#want + 1] = ("%s %s [%s] %s"):format(name, t:dtype():upper(), shape,
        table.concat(vals, " "))
    end
    assert.are.equal(table.concat(want, "\n") .. "\n", out:gsub("(%d)%.0(%D)", "%1.0%2"))
  end)

  it("tide loads a file NumPy wrote, unaligned and unpadded, copied or mapped", function()
    if not have_numpy() then
      pending("skipped: /usr/bin/python3 has no numpy (apt-get install python3-numpy)")
      return
    end
    python(([==[
import json, struct, numpy as np
arrays = {"a_u8": np.arange(3, dtype="u1"), "b_f64": np.linspace(0, 1, 6).reshape(2, 3),
          "c_i32": np.array([-1, 2, -3], dtype="<i4"), "d_f32": np.float32(1.5) * np.ones(()),
          "e_i64": np.array([[2**62, -5]], dtype="<i8")}
arrays["d_f32"] = arrays["d_f32"].astype("<f4")
header, blobs, at = {"__metadata__": {"by": "numpy"}}, [], 0
for name, a in arrays.items():           # u8 first: what follows is misaligned
    b = a.tobytes()
    header[name] = {"dtype": {"u1": "U8", "f8": "F64", "i4": "I32", "f4": "F32", "i8": "I64"}[a.dtype.str[1:]],
                    "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
    blobs.append(b)
    at += len(b)
text = json.dumps(header).encode()
open(%q, "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
]==]):format(at("numpy.safetensors")))
    local want = {
      a_u8 = tide.tensor({ 0, 1, 2 }, "u8"),
      b_f64 = tide.tensor({ { 0, 0.2, 0.4 }, { 0.6000000000000001, 0.8, 1 } }, "f64"),
      c_i32 = tide.tensor({ -1, 2, -3 }, "i32"),
      d_f32 = tide.tensor(1.5, "f32"),
      e_i64 = tide.tensor({ { 1 << 62, -5 } }, "i64"),
    }
    same(want, tide.load(at("numpy.safetensors")))
    same(want, tide.load(at("numpy.safetensors"), { map = true }))
    local _, meta = tide.io.st_load(at("numpy.safetensors"))
    assert.are.same({ by = "numpy" }, meta)
  end)
end)

describe("errors", function()
  local function fails(bytes, pattern)
    local path = at("bad.st")
    write(path, bytes)
    local ok, err = pcall(tide.load, path)
    assert.is_false(ok, "no error for " .. pattern)
    assert.is_truthy(err:find(pattern, 1, true), err .. "\n  does not contain: " .. pattern)
    assert.is_truthy(err:find(path, 1, true), err .. "\n  does not name the file")
  end

  local T = '"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
  local D = string.pack("<ff", 1, 2)

  it("accepts the valid file these cases break", function()
    write(at("good.st"), st_file("{" .. T .. "}", D))
    same({ x = tide.tensor { 1, 2 } }, tide.load(at("good.st")))
  end)

  it("names the file and what is wrong with its header or sizes", function()
    fails("abc", "not a safetensors file: 3 bytes, too short")
    fails(string.pack("<I8", 1000) .. "{}", "its header length 1000 exceeds the file")
    fails(string.pack("<I8", 1 << 40), "its header length 1099511627776 exceeds")
    fails(st_file("[]"), "malformed header: expected '{'")
    fails(st_file("{" .. T .. "} x", D), "text after the header's object")
    fails(st_file("{" .. T, D), "expected ',' or '}'")
    fails(st_file('{"x":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,4]}}', "abcd"),
      "tensor 'x' of unsupported dtype 'F8_E4M3'")
    fails(st_file('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}', D),
      "an unexpected key 'extra' in tensor 'x'")
    fails(st_file('{"x":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', D),
      "a duplicate key 'dtype'")
    fails(st_file('{"x":{"dtype":"F32","data_offsets":[0,8]}}', D), "tensor 'x' has no shape")
    fails(st_file('{"x":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', D),
      "expected an integer, got a fraction or exponent")
    fails(st_file('{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', D),
      "expected a non-negative integer")
    fails(st_file('{"x":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}', D),
      "an integer with a leading zero")
    fails(st_file('{"x":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}', D),
      "an integer too large")
    fails(st_file('{"x":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}}', D),
      "more than 8 entries in shape")
    fails(st_file('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', D),
      "data_offsets needs two entries")
    fails(st_file('{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', D),
      "tensor 'x' of shape 3 and dtype F32 needs 12 bytes, but its data_offsets [0, 8] span 8")
    fails(st_file('{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', D),
      "data_offsets [8, 0] that end before they begin")
    fails(st_file('{"x":{"dtype":"I64","shape":[4611686018427387904,4],"data_offsets":[0,8]}}', D),
      "tensor 'x' has a shape too large")
    fails(st_file("{" .. T .. "}", D .. "xx"),
      "the tensors cover 8 bytes of data, but the file holds 10 after the header")
    fails(st_file("{" .. T .. "}", "abc"), "the file holds 3 after the header (truncated?)")
    fails(st_file('{"x":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}', "abcd"),
      "tensor 'x' begins at byte 2 of the data, expected 0 (the tensors must cover the data"
      .. " without gaps)")
    fails(st_file('{"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
      .. '"y":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', "abc"), "without overlaps")
    fails(st_file('{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
      .. '"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', "ab"),
      "a duplicate tensor name 'x'")
    fails(st_file('{"__metadata__":{"a":1}}'), "a __metadata__ value that is not a string")
    fails(st_file('{"__metadata__":{"a":"1","a":"2"}}'), "a duplicate __metadata__ key 'a'")
    fails(st_file('{"__metadata__":{},"__metadata__":{}}'), "a second __metadata__")
    fails(st_file('{"\\q":1}'), "a bad escape in a string")
    fails(st_file('{"\\ud800":1}'), "a high surrogate without its low half")
    fails(st_file('{"\\udc00":1}'), "a lone low surrogate")
    fails(st_file('{"a\nb":1}'), "a control character in a string")
    fails(st_file('{"abc'), "unterminated string")
    fails(st_file('{"":{}}'), "a tensor with an empty name")
    fails(st_file('{"__metadata__":{"tide.value":"{\\"s:a\\":\\"t:nope\\"}"}}'),
      "the value refers to tensor 'nope', which the file does not hold")
    fails(st_file('{"__metadata__":{"tide.value":"{\\"s:a\\":\\"q:1\\"}"}}'),
      "a malformed entry 'q:1' in tide.value")
    fails(st_file('{"__metadata__":{"tide.value":"{"}}'), "tide.value is not JSON")
  end)

  it("unescapes names as JSON does", function()
    write(at("esc.st"), st_file('{"\\u00fc\\ud83d\\ude00\\"\\/":{"dtype":"U8","shape":[1],'
      .. '"data_offsets":[0,1]}}', "\7"))
    local t = tide.load(at("esc.st"))["ü😀\"/"]
    assert.are.same({ 7 }, t:totable())
  end)

  it("says what cannot be saved, and where", function()
    local function save_fails(v, msg)
      local ok, err = pcall(tide.save, at("x.st"), v)
      assert.is_false(ok)
      assert.are.equal(msg, err)
    end
    save_fails({ a = { f = print } }, "save: cannot save a function at 'a.f' (tables, tensors,"
      .. " numbers, strings and booleans only)")
    local loop = {}
    loop.self = loop
    save_fails({ loop }, "save: the table at '1.self' contains itself")
    save_fails({ o = setmetatable({}, {}) }, "save: the table at 'o' has a metatable (an"
      .. " object: save its state() instead)")
    save_fails({ [tide.ones(1)] = 1 }, "save: a key of type userdata in the table at the"
      .. " value itself (keys must be numbers, strings or booleans)")
    save_fails(tide.world, "save: cannot save a tide.comm at the value itself (tables,"
      .. " tensors, numbers, strings and booleans only)")
    assert.has_error(function() tide.save(at("x.st"), {}, { map = true }) end,
      "save: unknown option 'map' (expected none)")
    assert.has_error(function() tide.load(at("good.st"), { mapped = true }) end,
      "load: unknown option 'mapped' (expected one of: map)")
    assert.has_error(function() tide.save(at("no/x.st"), { 1 }) end,
      "save: cannot write '" .. at("no/x.st") .. "': No such file or directory")
    assert.has_error(function() tide.load(at("none.st")) end,
      "load: cannot open '" .. at("none.st") .. "': No such file or directory")
    assert.has_error(function() tide.save(42, {}) end, "save: expected a path (a string), got number")
    assert.has_error(function() tide.io.st_save(at("x.st"), { "a", "a" }, { tide.ones(1), tide.ones(1) }) end,
      "save: two tensors for '" .. at("x.st") .. "' are named 'a'")
    assert.has_error(function() tide.io.st_save(at("x.st"), { "__metadata__" }, { tide.ones(1) }) end,
      "save: a tensor for '" .. at("x.st") .. "' is named '__metadata__', which safetensors"
      .. " reserves or forbids")
  end)
end)

describe("what fuzzing found", function()
  it("a header with no tensors and stray data is refused, not sorted from a null array", function()
    write(at("empty.st"), st_file("{}", "\0\0\0\0"))
    local ok, err = pcall(tide.load, at("empty.st"))
    assert.is_false(ok)
    assert.is_truthy(err:find("the tensors cover 0 bytes of data, but the file holds 4 after the"
      .. " header", 1, true), err)
    write(at("none.st"), st_file("{}"))
    assert.are.same({}, tide.load(at("none.st")))
  end)

  it("a zero-sized dim does not hide a shape whose strides overflow", function()
    write(at("zero.st"), st_file('{"x":{"dtype":"U8","shape":[0,4294967296,4294967296],'
      .. '"data_offsets":[0,0]}}'))
    assert.has_error(function() tide.load(at("zero.st")) end,
      "load: '" .. at("zero.st") .. "': tensor 'x' has a shape too large")
    local idx = string.char(0, 0, 8, 3) .. string.pack(">I4I4I4", 0, 0xffffffff, 0xffffffff)
    write(at("zero.idx"), idx)
    assert.has_error(function() tide.io.read_idx(at("zero.idx")) end,
      "read_idx: '" .. at("zero.idx") .. "' has a malformed header: shape 0x4294967295x4294967295"
      .. " of u8 is too large (its size in bytes does not fit in 64 bits)")
    local dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }"
    local pad = 64 - (10 + #dict + 1) % 64
    write(at("zero.npy"), "\x93NUMPY\x01\x00" .. string.pack("<I2", #dict + pad + 1) .. dict
      .. (" "):rep(pad) .. "\n")
    assert.has_error(function() tide.load(at("zero.npy")) end,
      "load: '" .. at("zero.npy") .. "' has a malformed header: shape 0x4294967296x4294967296 of"
      .. " f64 is too large (its size in bytes does not fit in 64 bits)")
  end)

  it("an IDX header that claims a terabyte is counted against the file, not allocated", function()
    for _, gz in ipairs { false, true } do
      local path = at(gz and "big.idx.gz" or "big.idx")
      local bytes = string.char(0, 0, 8, 2) .. string.pack(">I4I4", 1 << 20, 1 << 20) .. "abc"
      write(gz and at("big.raw") or path, bytes)
      if gz then assert(os.execute(("gzip -c '%s' > '%s'"):format(at("big.raw"), path))) end
      assert.has_error(function() tide.io.read_idx(path) end,
        "read_idx: '" .. path .. "' is truncated: expected 1099511627776 bytes of data, got 3")
    end
  end)
end)
