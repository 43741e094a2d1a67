-- tide.checkpoint.value: any Lua value of tables, tensors, numbers, strings and booleans as one
-- safetensors file (what tide.save and tide.load do for every path but *.npy).
--
-- The tensors are the file's tensors, named by their key path ("model.1.weight"; a name that
-- would repeat gets "~2", "~3" ...). Everything else is the value's skeleton, JSON in the
-- metadata entry "tide.value", in which every leaf is a tagged string so that nothing is lost
-- to JSON's numbers: "i:42" (an integer), "f:0.1" (a float, %.17g, or inf/-inf/nan),
-- "s:text" (a UTF-8 string), "x:ff00" (any other string, in hex), "b:1"/"b:0", "t:name" (the
-- tensor of that name). A table is a JSON object whose keys are tagged the same way ("s:lr",
-- "i:1"). A tensor that appears twice is stored once and comes back as one tensor twice.
-- Other tools see a plain safetensors file; a file without "tide.value" (numpy's, Hugging
-- Face's) loads as a table of its tensors by name.
local tide = require "tide"
local cjson = require "cjson"

local M = {}

local io_ = tide.io
local FORMAT_KEY, VALUE_KEY = "tide.format", "tide.value"

local is_tensor = tide.is_tensor
M.is_tensor = is_tensor

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function unhex(h)
  return (h:gsub("..", function(b) return string.char(tonumber(b, 16)) end))
end

local function float_tag(x)
  if x ~= x then return "f:nan" end
  if x == math.huge then return "f:inf" end
  if x == -math.huge then return "f:-inf" end
  local s = ("%.17g"):format(x)
  -- "-0" or "3" would read back as integers: keep the mark of a float
  return "f:" .. (s:find("[.eEn]") and s or s .. ".0")
end

-- the tag of a scalar (a leaf or a key); nil for anything else
local function scalar_tag(v)
  local t = type(v)
  if t == "number" then
    return math.type(v) == "integer" and ("i:" .. v) or float_tag(v)
  elseif t == "string" then
    return utf8.len(v) and not v:find("%z") and ("s:" .. v) or ("x:" .. hex(v))
  elseif t == "boolean" then
    return v and "b:1" or "b:0"
  end
end

local function path_str(path)
  return #path == 0 and "the value itself" or ("'" .. table.concat(path, ".") .. "'")
end

-- Walks v, filling names/tensors and returning its skeleton.
local function encode(v, path, st, op)
  local tag = scalar_tag(v) or (st.custom and st.custom(v, path))
  if tag then return tag end
  if is_tensor(v) then
    local name = st.seen[v]
    if not name then
      local base = #path == 0 and "tensor" or table.concat(path, ".")
      name = base
      local k = 1
      while st.used[name] or name == "__metadata__" do
        k = k + 1
        name = base .. "~" .. k
      end
      st.used[name] = true
      st.seen[v] = name
      st.names[#st.names + 1] = name
      st.tensors[#st.tensors + 1] = v
    end
    return "t:" .. name
  end
  if type(v) ~= "table" then
    local what = type(v) == "userdata" and ((getmetatable(v) or {}).__name or "userdata")
      or type(v)
    error(("%s: cannot save a %s at %s (tables, tensors, numbers, strings and booleans only)")
      :format(op, what, path_str(path)), 0)
  end
  if getmetatable(v) ~= nil then
    error(("%s: the table at %s has a metatable (an object: save its state() instead)")
      :format(op, path_str(path)), 0)
  end
  if st.open[v] then
    error(("%s: the table at %s contains itself"):format(op, path_str(path)), 0)
  end
  st.open[v] = true
  local node = {}
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  -- a deterministic order, so that the same value gives the same file (and tensor names)
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "boolean" then return (a and 1 or 0) < (b and 1 or 0) end
    return a < b
  end)
  for _, k in ipairs(keys) do
    local ktag = scalar_tag(k)
    if not ktag then
      error(("%s: a key of type %s in the table at %s (keys must be numbers, strings or"
        .. " booleans)"):format(op, type(k), path_str(path)), 0)
    end
    path[#path + 1] = tostring(k)
    node[ktag] = encode(v[k], path, st, op)
    path[#path] = nil
  end
  st.open[v] = nil
  return node
end

-- JSON of a skeleton with sorted keys: the same value gives the same text in every process
-- (pairs' order is not), so ranks can compare it and files are reproducible
local function skeleton_json(node, out)
  if type(node) == "string" then
    out[#out + 1] = cjson.encode(node)
    return
  end
  local keys = {}
  for k in pairs(node) do keys[#keys + 1] = k end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    out[#out + 1] = (i > 1 and "," or "") .. cjson.encode(k) .. ":"
    skeleton_json(node[k], out)
  end
  out[#out + 1] = "}"
end

-- value -> names, tensors, metadata (for tide.io.st_save). custom(v, path), when given, may
-- turn a value into a tag of its own ("d:name" for tide.checkpoint's dtensors).
function M.encode(value, op, custom)
  local st = { seen = {}, used = {}, names = {}, tensors = {}, open = {}, custom = custom }
  local skeleton = encode(value, {}, st, op or "save")
  local out = {}
  skeleton_json(skeleton, out)
  return st.names, st.tensors, { [FORMAT_KEY] = "1", [VALUE_KEY] = table.concat(out) }
end

local function decode_scalar(tag, where, tensors, custom)
  local kind, body = tag:sub(1, 2), tag:sub(3)
  if custom and tensors then
    local v = custom(kind, body, where)
    if v ~= nil then return v end
  end
  if kind == "i:" then
    local n = math.tointeger(tonumber(body))
    if n then return n end
  elseif kind == "f:" then
    if body == "nan" then return 0 / 0 end
    if body == "inf" then return math.huge end
    if body == "-inf" then return -math.huge end
    local x = tonumber(body)
    if math.type(x) == "float" then return x end   -- (x + 0.0 would lose -0.0's sign)
  elseif kind == "s:" then
    return body
  elseif kind == "x:" then
    if #body % 2 == 0 and not body:find("[^0-9a-f]") then return unhex(body) end
  elseif kind == "b:" then
    if body == "1" or body == "0" then return body == "1" end
  elseif kind == "t:" and tensors then
    local t = tensors[body]
    if t ~= nil then return t end
    error(("load: %s: the value refers to tensor '%s', which the file does not hold")
      :format(where, body), 0)
  end
  error(("load: %s: a malformed entry '%s' in tide.value"):format(where, tag), 0)
end

local function decode(node, where, tensors, custom)
  if type(node) == "string" then return decode_scalar(node, where, tensors, custom) end
  if type(node) ~= "table" then
    error(("load: %s: a malformed tide.value (a %s where a tagged string or an object goes)")
      :format(where, type(node)), 0)
  end
  local out = {}
  for k, v in pairs(node) do
    local key = decode_scalar(k, where, nil)
    out[key] = decode(v, where, tensors, custom)
  end
  return out
end

-- tensors (name -> tensor) and metadata -> the value saved; custom(kind, body, where) may
-- give the value of a tag of its own (non-nil)
function M.decode(tensors, meta, where, custom)
  local text = meta[VALUE_KEY]
  if text == nil then return tensors end   -- a plain safetensors file
  local ok, skeleton = pcall(cjson.decode, text)
  if not ok then
    error(("load: %s: tide.value is not JSON (%s)"):format(where, tostring(skeleton)), 0)
  end
  return decode(skeleton, where, tensors, custom)
end

local save_opts = {}
local load_opts = { map = true }

local check_opts = require("tide.args").check_opts

-- tide.save(path, value): the file's crc32 and size come back (checkpoints use them)
function M.save(path, value, opts)
  check_opts(opts, save_opts, "save")
  local names, tensors, meta = M.encode(value, "save")
  return io_.st_save(path, names, tensors, meta)
end

function M.load(path, opts)
  opts = check_opts(opts, load_opts, "load")
  local tensors, meta = io_.st_load(path, opts.map)
  return M.decode(tensors, meta, "'" .. path .. "'")
end

return M
