-- tide.checkpoint.manifest: the JSON manifest of a checkpoint step, written and checked.
--
-- {"format": "tide-checkpoint", "version": 1, "job": "...", "id": "...", "step": N,
--  "world_size": P, "replicated": "replicated.safetensors",
--  "dtensors": {"name": {"dtype": "f32", "shape": [rows, ...], "replicated": false,
--                        "shards": [{"file": "rank-00000.safetensors", "first": 0, "count": 5},
--                                   ...]}},
--  "files": {"replicated.safetensors": {"crc32": 123, "size": 456}, ...}}
-- The writer ends the object with "crc32": "xxxxxxxx", the crc32 of every byte before that
-- member's comma (io/ckpt_writer.h). Rows are 0-based here (the file's convention); shards
-- tile the rows in order. "id" is made anew for every save and is in every file's metadata
-- too, so a file from another save (or another job) in the directory is caught. parse checks
-- every field and every reference and raises "manifest: <file>: <what is wrong>" for anything
-- else; it needs only lua-cjson (the fuzz harness runs it alone).
local cjson = require("cjson").new()

local M = {}

M.FORMAT, M.VERSION = "tide-checkpoint", 1

local DTYPES = { f32 = true, f64 = true, i32 = true, i64 = true, u8 = true }

-- ---------------------------------------------------------------- writing
-- JSON with exact integers (cjson writes numbers with 14 digits) and sorted keys.
local function encode(v, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = cjson.encode(v)
  elseif t == "number" then
    out[#out + 1] = math.type(v) == "integer" and ("%d"):format(v) or ("%.17g"):format(v)
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif #v > 0 or next(v) == nil and getmetatable(v) == M.array then
    out[#out + 1] = "["
    for i, x in ipairs(v) do
      if i > 1 then out[#out + 1] = "," end
      encode(x, out)
    end
    out[#out + 1] = "]"
  else
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = cjson.encode(k) .. ":"
      encode(v[k], out)
    end
    out[#out + 1] = "}"
  end
end

M.array = {}   -- metatable marking an empty table as [] rather than {}

function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

-- The manifest without its "files" entries, as the text before and after them (the writer
-- puts every rank's entries between the two, and appends the crc32 member and the last "}").
function M.split(info)
  local text = M.encode(info)
  assert(text:sub(-1) == "}")
  local prefix = text:sub(1, -2) .. (next(info) and "," or "") .. '"files":{'
  return prefix, "}"
end

-- The text a writer with crc32(text) -> integer would produce from prefix, entries, suffix.
function M.seal(body, crc32)
  return body .. (',"crc32":"%08x"}'):format(crc32(body))
end

-- ---------------------------------------------------------------- reading

local function fail(where, fmt, ...)
  error(("manifest: %s: " .. fmt):format(where, ...), 0)
end

local function int(v, where, what, min, max)
  local n = math.type(v) == "integer" and v or (type(v) == "number" and math.tointeger(v))
  if not n or n < min or (max and n > max) then
    fail(where, "%s must be an integer%s, got %s", what,
      max and (" in [%d, %d]"):format(min, max) or (" >= %d"):format(min),
      type(v) == "number" and ("%.17g"):format(v) or tostring(v))
  end
  return n
end

local function str(v, where, what)
  if type(v) ~= "string" then fail(where, "%s must be a string, got %s", what, type(v)) end
  return v
end

local function obj(v, where, what)
  if type(v) ~= "table" then fail(where, "%s must be an object, got %s", what, type(v)) end
  return v
end

-- a file name inside the step directory: no path separators, nothing hidden
local function file_name(v, where, what)
  str(v, where, what)
  if not v:match("^[%w][%w%._%-]*$") then
    fail(where, "%s '%s' is not a plain file name", what, v)
  end
  return v
end

local function only(t, known, where, what)
  for k in pairs(t) do
    if not known[k] then fail(where, "unexpected key '%s' in %s", tostring(k), what) end
  end
end

local function check_dtensor(name, d, files, where)
  local what = ("dtensor '%s'"):format(name)
  obj(d, where, what)
  only(d, { dtype = true, shape = true, replicated = true, shards = true }, where, what)
  if not DTYPES[d.dtype] then fail(where, "%s has dtype %s", what, tostring(d.dtype)) end
  obj(d.shape, where, what .. "'s shape")
  if #d.shape < 1 or #d.shape > 8 then
    fail(where, "%s's shape has %d dims (1 to 8 expected)", what, #d.shape)
  end
  for i = 1, #d.shape do d.shape[i] = int(d.shape[i], where, what .. "'s shape", 0) end
  if type(d.replicated) ~= "boolean" then fail(where, "%s's replicated must be a boolean", what) end
  obj(d.shards, where, what .. "'s shards")
  if #d.shards < 1 then fail(where, "%s has no shards", what) end
  local at = 0
  for i, s in ipairs(d.shards) do
    local w = ("%s's shard %d"):format(what, i)
    obj(s, where, w)
    only(s, { file = true, first = true, count = true }, where, w)
    file_name(s.file, where, w .. "'s file")
    if not files[s.file] then fail(where, "%s names '%s', which is not in files", w, s.file) end
    s.first = int(s.first, where, w .. "'s first", 0)
    s.count = int(s.count, where, w .. "'s count", 0)
    if d.replicated then
      if #d.shards ~= 1 or s.first ~= 0 or s.count ~= d.shape[1] then
        fail(where, "%s is replicated but its shard is not the whole tensor", what)
      end
    elseif s.first ~= at then
      fail(where, "%s begins at row %d, expected %d", w, s.first, at)
    end
    at = s.first + s.count
  end
  if at ~= d.shape[1] then
    fail(where, "%s's shards cover %d rows of %d", what, at, d.shape[1])
  end
end

-- text -> the manifest as a table, every field checked; where names the file in errors.
-- crc32(string) -> integer, when given, checks the manifest's own crc32 first.
function M.parse(text, where, crc32)
  if type(text) ~= "string" then fail(where, "expected text, got %s", type(text)) end
  if crc32 then
    local body, want = text:match('^(.*),"crc32":"(%x%x%x%x%x%x%x%x)"}$')
    if not body then fail(where, "no crc32 at its end (torn, or not a tide manifest)") end
    local got = crc32(body)
    if got ~= tonumber(want, 16) then
      fail(where, "corrupt: its crc32 is %08x, it says %s", got, want)
    end
  end
  local ok, m = pcall(cjson.decode, text)
  if not ok then fail(where, "not JSON (%s)", tostring(m)) end
  obj(m, where, "the manifest")
  only(m, { format = true, version = true, job = true, id = true, step = true,
    world_size = true, replicated = true, dtensors = true, files = true, crc32 = true }, where,
    "the manifest")
  if m.format ~= M.FORMAT then
    fail(where, "format is %s, not '%s'", tostring(m.format), M.FORMAT)
  end
  m.version = int(m.version, where, "version", 1)
  if m.version > M.VERSION then
    fail(where, "version %d is newer than this tide reads (%d)", m.version, M.VERSION)
  end
  str(m.job, where, "job")
  str(m.id, where, "id")
  m.step = int(m.step, where, "step", 0)
  m.world_size = int(m.world_size, where, "world_size", 1)
  obj(m.files, where, "files")
  for name, f in pairs(m.files) do
    file_name(name, where, "a file")
    obj(f, where, "file '" .. tostring(name) .. "'")
    only(f, { crc32 = true, size = true }, where, "file '" .. name .. "'")
    f.crc32 = int(f.crc32, where, name .. "'s crc32", 0, 0xffffffff)
    f.size = int(f.size, where, name .. "'s size", 0)
  end
  if m.replicated ~= nil then
    file_name(m.replicated, where, "replicated")
    if not m.files[m.replicated] then
      fail(where, "replicated names '%s', which is not in files", m.replicated)
    end
  end
  m.dtensors = m.dtensors or {}
  obj(m.dtensors, where, "dtensors")
  for name, d in pairs(m.dtensors) do
    str(name, where, "a dtensor name")
    check_dtensor(name, d, m.files, where)
  end
  return m
end

return M
