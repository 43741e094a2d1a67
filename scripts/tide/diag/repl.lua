-- The REPL's commands (module tide.diag.repl): a line that starts with ':' is one of these, run
-- on every rank (the REPL sends each line to every rank; host_repl.c turns the line into a
-- call of command). Ranks are 0-based.
--   :on RANKS <stmt>   runs stmt (an expression or statements) on those ranks only ("1",
--                      "0,2", "1-3"); rank 0 shows each one's results as `[R] values`, in
--                      rank order, or `[R] error: message`
--   :help              this list
local tide = require "tide"

local M = {}

local HELP = [[:on RANKS stmt   run stmt on those ranks ("1", "0,2", "1-3"); shows [R] results
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
  local results = tide.on(spec, function() return table.pack(pcall(chunk)) end)
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
  end
  error(("repl: unknown command '%s' (expected :on RANKS stmt or :help)"):format(
    line:match("^%S*")), 0)
end

return M
