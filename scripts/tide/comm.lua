-- tide.comm: collectives on Lua values, serialised with lua-cjson.
--
-- Adds to every communicator (tide.world, splits, dups):
--   comm:bcast_obj(v, root = 0) -> root's value, on every rank
--   comm:allgather_obj(v)       -> list of every rank's value (entry r + 1 is rank r's)
--   comm:gather_obj(v, root = 0)-> that list on root, nil elsewhere
--   comm:send_obj(v, dst, tag = 0)
--   comm:recv_obj(src = tide.ANY, tag = tide.ANY) -> value, source rank, tag
-- Values are numbers, strings, booleans, nil and tables of them with string or integer keys (a
-- string key that spells an integer comes back as that integer). Numbers come back exactly and keep their Lua subtype (integer or
-- float): the floats and the large integers that JSON's 14 significant digits would round travel
-- as tagged strings. A value that cannot be serialised (a function, a tensor, a cycle) makes
-- every rank of a collective fail with the serialising rank's message, so no rank is left
-- waiting. Every rank gets a decoded copy, root included. This module loads by itself the first
-- time a script uses one of these methods.
local core = require "tide.core"
local cjson = require("cjson").new()   -- our own instance: settings do not leak to the script's
cjson.encode_sparse_array(true)         -- sparse integer keys become an object, not an error

local M = {}

local FLOAT, INT, STR = "\0f", "\0i", "\0s"
local MAX_DEPTH = 200
local EXACT_INT = 2 ^ 53

local pack

local function pack_number(v)
  if math.type(v) == "integer" then
    if v > EXACT_INT or v < -EXACT_INT then
      return INT .. tostring(v)
    end
    return v
  end
  if v ~= v then
    return FLOAT .. "nan"
  elseif v == math.huge then
    return FLOAT .. "inf"
  elseif v == -math.huge then
    return FLOAT .. "-inf"
  end
  -- an integral float would come back an integer; others must survive %.14g
  if math.tointeger(v) or v == math.floor(v) or tonumber(string.format("%.14g", v)) ~= v then
    return FLOAT .. string.format("%a", v)
  end
  return v
end

-- A copy of v that cjson encodes and unpack restores exactly.
function pack(v, depth)
  local t = type(v)
  if t == "number" then
    return pack_number(v)
  elseif t == "string" then
    return v:byte(1) == 0 and STR .. v or v
  elseif t == "boolean" or t == "nil" then
    return v
  elseif t == "table" then
    if depth > MAX_DEPTH then
      error("value nested deeper than " .. MAX_DEPTH .. " tables (a cycle?)", 0)
    end
    local out = {}
    for k, x in pairs(v) do
      local kt = type(k)
      if kt ~= "string" and math.type(k) ~= "integer" then
        error("cannot serialise a table key of type " .. (math.type(k) or kt)
          .. " (keys are strings or integers)", 0)
      end
      out[k] = pack(x, depth + 1)
    end
    return out
  end
  error("cannot serialise a " .. t .. " (values are numbers, strings, booleans and tables)", 0)
end

local function unpack_value(v)
  local t = type(v)
  if t == "number" then
    return math.tointeger(v) or v
  elseif t == "string" then
    if v:byte(1) ~= 0 then
      return v
    end
    local tag, rest = v:sub(1, 2), v:sub(3)
    if tag == STR then
      return rest
    elseif tag == INT then
      return math.tointeger(tonumber(rest))
    elseif rest == "nan" then
      return 0 / 0
    elseif rest == "inf" then
      return math.huge
    elseif rest == "-inf" then
      return -math.huge
    end
    return tonumber(rest)
  elseif t == "table" then
    local out = {}
    for k, x in pairs(v) do
      if x ~= cjson.null then
        -- JSON object keys are strings: integer-looking keys of a map come back as integers
        local key = type(k) == "string" and k:match("^%-?%d+$") and math.tointeger(tonumber(k)) or k
        out[key] = unpack_value(x)
      end
    end
    return out
  elseif v == cjson.null then
    return nil
  end
  return v
end

-- Serialises v: true and the bytes, or false and why not.
function M.encode(v)
  local ok, s = pcall(function() return cjson.encode(pack(v, 0)) end)
  if not ok then
    s = tostring(s):gsub("^Cannot serialise", "cannot serialise")
  end
  return ok, s
end

function M.decode(s)
  return unpack_value(cjson.decode(s))
end

local methods = core.comm_methods

function methods.bcast_obj(comm, v, root)
  root = root or 0
  local ok, s = true, ""
  if comm.rank == root then
    ok, s = M.encode(v)
  end
  return M.decode(comm:_bcast_bytes("bcast_obj", ok, s, root))
end

function methods.allgather_obj(comm, v)
  local all = comm:_allgather_bytes("allgather_obj", M.encode(v))
  local out = {}
  for r = 1, comm.size do
    out[r] = M.decode(all[r])
  end
  return out
end

function methods.gather_obj(comm, v, root)
  local ok, s = M.encode(v)
  local all = comm:_gather_bytes("gather_obj", ok, s, root or 0)
  if not all then
    return nil
  end
  local out = {}
  for r = 1, comm.size do
    out[r] = M.decode(all[r])
  end
  return out
end

function methods.send_obj(comm, v, dst, tag)
  local ok, s = M.encode(v)
  if not ok then
    error("send_obj: " .. s, 2)
  end
  comm:_send_bytes(s, dst, tag)
end

function methods.recv_obj(comm, src, tag)
  local s, source, got_tag = comm:_recv_bytes(src, tag)
  return M.decode(s), source, got_tag
end

return M
