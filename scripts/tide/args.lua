-- tide.args: the argument checks every Lua module of tide shares, so that a wrong option or
-- argument reads the same everywhere: "<where>: <what was expected>, got <what came>".
-- Errors are raised at level 3: the caller of the public function that called the check.
local M = {}

-- Returns opts (or {} when nil) after checking it is a table whose keys are all in known (a
-- set: {lr = true, ...}); an unknown key is an error naming the known ones.
function M.check_opts(opts, known, where)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("%s: expected an options table, got %s"):format(where, type(opts)), 3)
  end
  for k in pairs(opts) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      error(("%s: unknown option '%s' (expected one of: %s)"):format(where, tostring(k),
        table.concat(names, ", ")), 3)
    end
  end
  return opts
end

-- "3x4" for a tensor's shape ("scalar" for a 0-dim tensor), as the C core writes shapes.
function M.shape_str(t)
  local s = t:shape()
  if #s == 0 then return "scalar" end
  return table.concat(s, "x")
end

return M
