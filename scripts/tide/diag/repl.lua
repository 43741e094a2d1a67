-- The REPL's commands (module tide.diag.repl): a line that starts with ':' is one of these, run
-- on every rank (the REPL sends each line to every rank; host_repl.c turns the line into a
-- call of command). Ranks are 0-based.
--   :on RANKS <stmt>   runs stmt (an expression or statements) on those ranks only ("1",
--                      "0,2", "1-3"); rank 0 shows each one's results as `[R] values`, in
--                      rank order, or `[R] error: message`
--   :ranks all|0       (`tide run`'s launcher) whose output shows
--   :help              this list
-- and complete(text), the names that complete text (`tide.wo` -> `tide.world`), which rank 0
-- answers for the launcher of `tide run` (bindings/host/repl_client.c).
local tide = require "tide"

local M = {}

local HELP = [[:on RANKS stmt   run stmt on those ranks ("1", "0,2", "1-3"); shows [R] results
:ranks all|0     whose output shows (the REPL of tide run -n N)
:help            this list]]

-- Compiles stmt as lua.c does: `return stmt` first, then as statements.
local function compile(stmt)
  local code = stmt:gsub("^=", "")
  local chunk = load("return " .. code, "=stdin", "t")
  if chunk then return chunk end
  local err
  chunk, err = load(code, "=stdin", "t")
  return chunk, err
end

local function show(reply)
  local parts = {}
  for i = 2, reply.n do parts[#parts + 1] = tostring(reply[i]) end
  return table.concat(parts, "\t")
end

-- `:on RANKS stmt`: every rank calls it; rank 0 returns the lines to print.
local function on(rest)
  local spec, stmt = rest:match("^(%S+)%s+(.+)$")
  if not spec then
    error("repl: expected :on RANKS statement, e.g. :on 1 return x", 0)
  end
  local chunk, err = compile(stmt)
  if not chunk then error(err, 0) end
  local ok, results = pcall(tide.on, spec, function() return table.pack(pcall(chunk)) end)
  if not ok then   -- the ranks named badly: every rank finds it before any message is sent
    error("repl: :on " .. (tostring(results):gsub("^[^\n]-:%d+: ", "")), 0)
  end
  if not results then return end
  local lines = {}
  for _, r in ipairs(results.ranks) do
    local reply = results[r][1]
    if reply[1] then
      if reply.n > 1 then lines[#lines + 1] = ("[%d] %s"):format(r, show(reply)) end
    else
      lines[#lines + 1] = ("[%d] error: %s"):format(r, tostring(reply[2]))
    end
  end
  if #lines > 0 then return table.concat(lines, "\n") end
end

function M.command(line)
  local name, rest = line:match("^:(%a+)%s*(.-)%s*$")
  if name == "on" then
    return on(rest)
  elseif name == "help" then
    return tide.world.rank == 0 and HELP or nil
  elseif name == "ranks" then
    error("repl: :ranks needs the launcher's REPL (tide run -n N); under mpirun every rank's"
      .. " output goes to mpirun", 0)
  end
  error(("repl: unknown command '%s' (expected :on RANKS stmt, :ranks all|0 or :help)"):format(
    line:match("^%S*")), 0)
end

-- The tables an __index function reads: a C binding's __index (tensors, communicators) is a
-- closure over its methods table.
local function upvalue_tables(fn)
  local found = {}
  for i = 1, 255 do
    local name, x = debug.getupvalue(fn, i)
    if name == nil then break end
    if type(x) == "table" then found[#found + 1] = x end
  end
  return found
end

-- The keys a value offers after `.` (or its methods after `:`): a table's own fields, then
-- what its metatable's __index chain adds (a tensor's methods, a class's).
local function keys_of(v, methods, out)
  local seen = {}
  local function add(k, x)
    if type(k) == "string" and k:match("^[%a_][%w_]*$") and not seen[k]
        and (not methods or type(x) == "function") then
      seen[k] = true
      out[#out + 1] = k
    end
  end
  for _ = 1, 8 do   -- a bounded walk: __index chains are short, and may loop
    if type(v) == "table" then
      for k, x in next, v do add(k, x) end
    end
    local mt = getmetatable(v)
    local index = type(mt) == "table" and rawget(mt, "__index")
    if type(index) == "function" then
      for _, t in ipairs(upvalue_tables(index)) do
        for k, x in next, t do add(k, x) end
      end
      break
    elseif type(index) ~= "table" then
      break
    end
    v = index
  end
  return out
end

-- complete(text): the completions of text, one a line, sorted: `tide.wo` -> `tide.world`,
-- `t:ad` -> `t:add`, `pri` -> `print`. Reads values without calling anything but metatables'
-- absence checks, so it has no effect on the session.
function M.complete(text)
  local path, sep, prefix = text:match("^(.-)([.:]?)([%a_]?[%w_]*)$")
  if not path then return "" end
  local v
  if sep == "" then
    if path ~= "" then return "" end   -- not a name: "1 +"
    v = _G
  else
    v = _G
    for name in (path .. "."):gmatch("([^.]*)%.") do
      if not name:match("^[%a_][%w_]*$") or (type(v) ~= "table" and type(v) ~= "userdata") then
        return ""
      end
      local ok, x = pcall(function() return v[name] end)
      if not ok or x == nil then return "" end
      v = x
    end
  end
  local found = {}
  for _, k in ipairs(keys_of(v, sep == ":", {})) do
    if k:sub(1, #prefix) == prefix then found[#found + 1] = path .. sep .. k end
  end
  table.sort(found)
  return table.concat(found, "\n")
end

return M
