-- tide.comm: collectives on Lua values, serialised with lua-cjson.
--
-- Adds to every communicator (tide.world, splits, dups):
--   comm:bcast_obj(v, root = 0) -> root's value, on every rank
--   comm:allgather_obj(v)       -> list of every rank's value (entry r + 1 is rank r's)
--   comm:gather_obj(v, root = 0)-> that list on root, nil elsewhere
--   comm:send_obj(v, dst, tag = 0)
--   comm:recv_obj(src = tide.ANY, tag = tide.ANY) -> value, source rank, tag
--   comm:on(ranks, fn, ...)     -> fn(...) run on the ranks named (0-based: r, {r1, r2}, "1-3",
--                                  "0,2-3"); on rank 0, what fn returned (one rank) or a table
--                                  rank -> {results, n = count} (several); tide.on is this on
--                                  tide.world. Tensors come back as tensors.
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
local TENSOR = "\0T"   -- the key that marks a packed tensor (tide.on's results)
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

-- A tensor as a table: dtype, shape and its elements in order (numbers packed exactly).
local function pack_tensor(v, depth)
  local shape, n = v:shape(), v:numel()
  local data
  if #shape == 0 then
    data = { v:item() }
  elseif n > 0 then
    data = v:contiguous():reshape({ n }):totable()
  else
    data = {}
  end
  return { [TENSOR] = v:dtype(), shape = shape, data = pack(data, depth + 1) }
end

local unpack_value

local function unpack_tensor(v)
  local dtype, shape, data = v[TENSOR], unpack_value(v.shape or {}), unpack_value(v.data or {})
  if #shape == 0 then
    return core.tensor(data[1], dtype)
  elseif #data == 0 then
    return core.zeros(shape, dtype)
  end
  return core.tensor(data, dtype):reshape(shape)
end

-- A copy of v that cjson encodes and unpack restores exactly (tensors too when `tensors`).
function pack(v, depth, tensors)
  local t = type(v)
  if tensors and t == "userdata" and core.is_tensor(v) then
    return pack_tensor(v, depth)
  end
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
      out[k] = pack(x, depth + 1, tensors)
    end
    return out
  end
  error("cannot serialise a " .. t .. " (values are numbers, strings, booleans and tables)", 0)
end

function unpack_value(v)
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
    if v[TENSOR] then
      return unpack_tensor(v)
    end
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

-- Serialises v: true and the bytes, or false and why not. tensors: tensors travel too (as
-- their elements: for small results, such as tide.on's).
function M.encode(v, tensors)
  local ok, s = pcall(function() return cjson.encode(pack(v, 0, tensors)) end)
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

-- Every rank's value from the byte strings the ranks sent (all, one per rank, rank order).
local function decode_all(comm, all)
  local out = {}
  for r = 1, comm.size do
    out[r] = M.decode(all[r])
  end
  return out
end

function methods.allgather_obj(comm, v)
  return decode_all(comm, comm:_allgather_bytes("allgather_obj", M.encode(v)))
end

function methods.gather_obj(comm, v, root)
  local ok, s = M.encode(v)
  local all = comm:_gather_bytes("gather_obj", ok, s, root or 0)
  if not all then
    return nil
  end
  return decode_all(comm, all)
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

-- ---------------------------------------------------------------- tide.on

-- The ranks a tide.on names, sorted and without repeats, and whether it named a single rank
-- (a number). nil and a message when the spec is wrong.
local function parse_ranks(spec, size, name)
  local list = {}
  local function add(r)
    if math.type(r) ~= "integer" then
      return name .. ": expected integer ranks, got " .. (math.type(r) or type(r))
    end
    if r < 0 or r >= size then
      return ("%s: rank %d out of range (expected 0..%d)"):format(name, r, size - 1)
    end
    list[#list + 1] = r
  end
  local err
  if math.type(spec) == "integer" then
    err = add(spec)
  elseif type(spec) == "table" then
    for i = 1, #spec do
      err = err or add(spec[i])
    end
  elseif type(spec) == "string" then
    for part in (spec .. ","):gmatch("([^,]*),") do
      local a, b = part:match("^%s*(%d+)%s*%-%s*(%d+)%s*$")
      a = a or part:match("^%s*(%d+)%s*$")
      if not a then
        err = err or ("%s: expected ranks such as \"1-3\" or \"0,2\", got \"%s\""):format(name, spec)
        break
      end
      for r = math.tointeger(a), math.tointeger(b or a) do
        err = err or add(r)
      end
    end
  else
    err = ("%s: expected a rank, a list of ranks or a range such as \"1-3\", got %s"):format(
      name, math.type(spec) or type(spec))
  end
  if err then
    return nil, err
  end
  if #list == 0 then
    return nil, name .. ": expected at least one rank"
  end
  table.sort(list)
  local out = {}
  for _, r in ipairs(list) do
    if out[#out] ~= r then out[#out + 1] = r end
  end
  return out, math.type(spec) == "integer"
end

-- tide.on's result for several ranks: rank -> the list of what fn returned there ({n = count}).
local Results = {}
Results.__index = Results
Results.__name = "tide.on results"

function Results.__tostring(t)
  local lines = {}
  for _, r in ipairs(t.ranks) do
    local v, parts = t[r], {}
    for i = 1, v.n do parts[i] = tostring(v[i]) end
    lines[#lines + 1] = ("rank %d: %s"):format(r, table.concat(parts, "\t"))
  end
  return table.concat(lines, "\n")
end

-- Runs fn(...) on the ranks spec names; every rank of comm calls it (it is collective). Rank 0
-- returns fn's results (one rank) or a Results table (several); the others return nothing. An
-- error in fn is raised on the rank that ran it, with its own message, after the results went
-- to rank 0, so no rank is left waiting; rank 0 then has no results from it. While fn runs on
-- some ranks only, collectives fail at once (they would wait for ranks that never come).
local function on(comm, name, spec, fn, ...)
  local list, single = parse_ranks(spec, comm.size, name)
  if not list then
    error(single, 2)
  end
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    error(("%s: expected a function, got %s"):format(name, type(fn)), 2)
  end
  local runs = false
  for _, r in ipairs(list) do
    runs = runs or r == comm.rank
  end
  local reply, failure
  if runs then
    local old = core._set_solo(#list < comm.size and name or nil)
    local res = table.pack(pcall(fn, ...))
    core._set_solo(old)
    if res[1] then
      reply = { n = res.n - 1 }
      for i = 2, res.n do reply[i - 1] = res[i] end
    else
      failure = res[2]
      reply = { failed = true }
    end
  end
  local ok, s = M.encode(reply or false, true)
  local gathered, all = pcall(comm._gather_bytes, comm, name, ok, s, 0)
  if not gathered then
    error((tostring(all):gsub("^[^\n]-:%d+: ", "")), 2)   -- where the script called tide.on
  end
  if failure ~= nil then
    error(failure, 0)
  end
  if not all then
    return
  end
  local results = setmetatable({ ranks = {} }, Results)
  for _, r in ipairs(list) do
    local v = M.decode(all[r + 1])
    if type(v) == "table" and not v.failed then
      v.n = v.n or 0
      results[r] = v
      results.ranks[#results.ranks + 1] = r
    end
  end
  if single then
    local v = results[list[1]]
    if v then
      return table.unpack(v, 1, v.n)
    end
    return
  end
  return results
end

-- tide.on(ranks, fn, ...) on tide.world: ranks is a 0-based rank, a list of ranks ({1, 3}) or a
-- string ("1-3", "0,2-3").
function M.on(spec, fn, ...)
  return on(core.world, "tide.on", spec, fn, ...)
end

-- comm:on(ranks, fn, ...): the same on any communicator (ranks are comm's).
function methods.on(comm, spec, fn, ...)
  return on(comm, "on", spec, fn, ...)
end

return M
