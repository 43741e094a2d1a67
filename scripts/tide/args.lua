-- tide.args: the argument checks every Lua module of tide shares, so that a wrong option or
-- argument reads the same everywhere: "<where>: <what was expected>, got <what came>".
-- Errors are raised at `level` (3 unless given): the caller of the public function that
-- called the check. (A check in a tail call, `return args.number(...)`, loses its caller's
-- frame, and the level with it: call, then return.) An option left nil takes its default; only a default of nil makes it
-- required ("<where>: <what> is required").
local M = {}

local function fail(level, fmt, ...)
  error(fmt:format(...), (level or 3) + 1)
end

-- Returns opts (or {} when nil) after checking it is a table whose keys are all in known (a
-- set: {lr = true, ...}); an unknown key is an error naming the known ones.
function M.check_opts(opts, known, where, level)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    fail(level, "%s: expected an options table, got %s", where, type(opts))
  end
  for k in pairs(opts) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      fail(level, "%s: unknown option '%s' (expected %s)", where, tostring(k),
        #names > 0 and "one of: " .. table.concat(names, ", ") or "none")
    end
  end
  return opts
end

-- Raises "<where>: too many arguments (expected at most max, got n)", the C bindings' wording,
-- when a public function declared with max parameters and a trailing `...` got values in that
-- `...`: `function M.load(path, opts, ...) args.at_most("load", 2, ...)`. A select("#", ...)
-- and no table, so it may sit on a path called once per batch.
function M.at_most(where, max, ...)
  local extra = select("#", ...)
  if extra > 0 then
    fail(3, "%s: too many arguments (expected at most %d, got %d)", where, max, max + extra)
  end
end

-- The ranges a number option may be asked to lie in. Each excludes NaN (every comparison with
-- it is false) and, but for "any", infinities: no option of tide means anything at infinity.
local RANGES = {
  ["any"] = function(x) return x == x end,
  [">= 0"] = function(x) return x >= 0 and x < math.huge end,
  ["> 0"] = function(x) return x > 0 and x < math.huge end,
  [">= 1"] = function(x) return x >= 1 and x < math.huge end,
  ["in [0, 1]"] = function(x) return x >= 0 and x <= 1 end,
  ["in [0, 1)"] = function(x) return x >= 0 and x < 1 end,
  ["finite"] = function(x) return x > -math.huge and x < math.huge end,
}

-- A number v (default when nil) in `range` (a key of RANGES, ">= 0" unless given):
-- "<where>: <what> must be a number >= 0, got nan".
function M.number(v, what, where, default, range, level)
  if v == nil then v = default end
  if v == nil then fail(level, "%s: %s is required", where, what) end
  range = range or ">= 0"
  if type(v) ~= "number" or not RANGES[range](v) then
    local got = type(v) == "number" and (v ~= v and "NaN" or tostring(v)) or type(v)
    fail(level, "%s: %s must be %s%s, got %s", where, what,
      range == "finite" and "a finite number" or "a number",
      (range == "any" or range == "finite") and "" or " " .. range, got)
  end
  return v
end

-- An integer v (default when nil) of at least min: "<where>: <what> must be an integer of at
-- least 1, got 0". (A float with an integer value, 2.0, is not an integer here.)
function M.integer(v, what, where, min, default, level)
  if v == nil then v = default end
  if v == nil then fail(level, "%s: %s is required", where, what) end
  if math.type(v) ~= "integer" or (min and v < min) then
    if min then
      fail(level, "%s: %s must be an integer of at least %d, got %s", where, what, min,
        tostring(v))
    end
    fail(level, "%s: %s must be an integer, got %s", where, what, tostring(v))
  end
  return v
end

-- A seed: any integer, 0 when nil.
function M.seed(v, where, default, level)
  local seed = M.integer(v, "seed", where, nil, default or 0, (level or 3) + 1)
  return seed   -- not a tail call, which would drop this frame from the level count
end

-- A function or nil.
function M.func(v, what, where, level)
  if v ~= nil and type(v) ~= "function" then
    fail(level, "%s: %s must be a function, got %s", where, what, type(v))
  end
  return v
end

-- A boolean (default when nil).
function M.boolean(v, what, where, default, level)
  if v == nil then return default end
  if type(v) ~= "boolean" then
    fail(level, "%s: %s must be a boolean, got %s", where, what, type(v))
  end
  return v
end

-- One of the strings in choices (a list; default when nil): '<where>: <what> must be "mean"
-- or "sum", got max'.
function M.one_of(v, what, where, choices, default, level)
  if v == nil then v = default end
  for _, c in ipairs(choices) do
    if v == c then return v end
  end
  local quoted = {}
  for i, c in ipairs(choices) do quoted[i] = '"' .. c .. '"' end
  local list = #quoted == 1 and quoted[1]
    or table.concat(quoted, ", ", 1, #quoted - 1) .. " or " .. quoted[#quoted]
  fail(level, "%s: %s must be %s, got %s", where, what, list, tostring(v))
end

-- Writes "tide: OLD is deprecated, use NEW" to stderr the first time OLD is used (the notice
-- the C bindings give for theirs, from the same record).
function M.deprecated(old, use)
  require("tide")._internal.deprecated(old, use)
end

-- "3x4" for a tensor's shape ("scalar" for a 0-dim tensor), as the C core writes shapes.
function M.shape_str(t)
  local s = t:shape()
  if #s == 0 then return "scalar" end
  return table.concat(s, "x")
end

-- ---------------------------------------------------------------- states (obj:load_state)
-- One wording for every load_state: "<where>: <field> expected f32[10x5], got f64[5x10]".

-- "f32[10x5]" ("f32[]" for a 0-dim tensor); the Lua type of anything else ("nil", "table").
function M.tensor_desc(t)
  local tide = require "tide"
  if not tide.is_tensor(t) then return type(t) end
  return t:dtype() .. "[" .. table.concat(t:shape(), "x") .. "]"
end

-- Raises unless v is a tensor of like's dtype and shape.
function M.state_tensor(v, like, where, field, level)
  local want, got = M.tensor_desc(like), M.tensor_desc(v)
  if want ~= got then fail(level, "%s: %s expected %s, got %s", where, field, want, got) end
  return v
end

-- An integer (at least min when given); a float, as a JSON round trip makes of every integer,
-- is refused with what to do about it.
function M.state_integer(v, where, field, min, level)
  if math.type(v) == "float" then
    fail(level, "%s: %s expected an integer, got the float %s (a JSON round trip turns "
      .. "integers into floats: keep states with tide.save/tide.load, or convert with "
      .. "math.tointeger)", where, field, tostring(v))
  end
  if math.type(v) ~= "integer" or (min and v < min) then
    fail(level, "%s: %s expected an integer%s, got %s", where, field,
      min and " >= " .. min or "", v == nil and "nil" or tostring(v))
  end
  return v
end

-- A deep copy of a state's plain Lua value (tables copied, everything else shared), so a state
-- never aliases the object's own tables.
function M.copy_value(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.copy_value(x) end
  return out
end

-- Raises unless every key of s is in known (a set); names the first unexpected one in order.
function M.state_keys(s, known, where, level)
  if type(s) ~= "table" then
    fail(level, "%s: expected a state table, got %s", where, type(s))
  end
  local bad = {}
  for k in pairs(s) do
    if not known[k] then bad[#bad + 1] = tostring(k) end
  end
  if #bad > 0 then
    table.sort(bad)
    local names = {}
    for n in pairs(known) do names[#names + 1] = tostring(n) end
    table.sort(names)
    fail(level, "%s: unexpected field '%s' (expected %s)", where, bad[1],
      table.concat(names, ", "))
  end
  return s
end

return M
