-- What the state specs share (tests/lua/state_spec.lua, tests/mpi/state_spec.lua): a walker
-- over the kinds a state may hold, a stand-in for a save and load, exact bits of tensors, and
-- examples/train_mnist.lua run in-process against an in-memory stand-in for tide.checkpoint.
local tide = require "tide"

local M = {}

-- The problems with v as a state: a list of "path: what" strings (empty when it is one).
function M.bad_kinds(v, path, out, seen)
  out, seen, path = out or {}, seen or {}, path or "state"
  local t = type(v)
  if t == "table" then
    if seen[v] then
      out[#out + 1] = path .. ": a table seen twice (shared or cyclic)"
      return out
    end
    seen[v] = true
    if getmetatable(v) ~= nil then out[#out + 1] = path .. ": a table with a metatable" end
    for k, x in pairs(v) do
      if type(k) ~= "string" and math.type(k) ~= "integer" then
        out[#out + 1] = path .. ": a key of type " .. type(k)
      end
      M.bad_kinds(x, path .. "." .. tostring(k), out, seen)
    end
  elseif t == "userdata" and not tide.is_tensor(v) then
    out[#out + 1] = path .. ": a userdata that is not a tensor"
  elseif t ~= "number" and t ~= "string" and t ~= "boolean" and t ~= "userdata" then
    out[#out + 1] = path .. ": a " .. t
  end
  return out
end

-- What a save and a load give back: the same tree, new tables, new tensors (a tensor's
-- storage is not shared with the object it came from, whatever state() returned).
function M.through_file(v)
  if tide.is_tensor(v) then return v:clone() end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.through_file(x) end
  return out
end

-- The exact bits of every element (f32 values widen to doubles exactly).
function M.bits(t)
  local out = { t:dtype(), table.concat(t:shape(), "x") }
  local flat = t:contiguous():view({ t:numel() })
  for i = 1, t:numel() do out[#out + 1] = string.pack("d", flat[i]) end
  return table.concat(out, "|")
end

-- A string that is the same for two states exactly when they hold the same values (keys in
-- sorted order, tensors by their bits).
function M.digest(v)
  if tide.is_tensor(v) then return "T" .. M.bits(v) end
  if type(v) ~= "table" then return math.type(v) or type(v), tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    return a < b
  end)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = tostring(k) .. "=" .. table.concat({ M.digest(v[k]) }, ":")
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- examples/train_mnist.lua run in this process (dofile) with arguments, against `cp` as
-- tide.checkpoint (nil: none). Returns ok, the result or error, and the lines it printed.
local source = os.getenv("TIDE_SOURCE_DIR") or "."
function M.run_example(argv, cp)
  local G = _G                  -- the chunk runs in the real globals, not busted's sandbox
  local saved_arg, saved_print, lines = G.arg, G.print, {}
  local had = rawget(tide, "checkpoint")
  rawset(tide, "checkpoint", cp)
  package.loaded["tide.checkpoint"] = cp
  local path = source .. "/examples/train_mnist.lua"
  G.arg = { [0] = path }
  for i, a in ipairs(argv) do G.arg[i] = a end
  G.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    lines[#lines + 1] = table.concat(parts, "\t")
  end
  local ok, res = pcall(dofile, path)
  G.arg, G.print = saved_arg, saved_print
  rawset(tide, "checkpoint", had)
  package.loaded["tide.checkpoint"] = had
  return ok, res, lines
end

-- A stand-in for tide.checkpoint that keeps checkpoints in memory (store[dir], oldest first)
-- and, like TIDE_FAULT's kind=kill, stops the job at tick number kill_at.
function M.stand_in(store, kill_at)
  local ticks = 0
  return {
    save = function(dir, state, opts)
      local bad = M.bad_kinds(state)
      assert(#bad == 0, table.concat(bad, "; "))
      local list = store[dir] or {}
      store[dir] = list
      list[#list + 1] = M.through_file(state)
      while #list > opts.keep do table.remove(list, 1) end
    end,
    load = function(dir)
      local list = store[dir]
      return list and M.through_file(list[#list]) or nil
    end,
    tick = function()
      ticks = ticks + 1
      if ticks == kill_at then error("stand-in: killed at step " .. ticks, 0) end
    end,
  }
end

-- "epoch 2/3  train loss 0.5  test accuracy 80.00%" without the timings
function M.results(lines)
  local out = {}
  for _, l in ipairs(lines) do
    local r = l:match("^(epoch %d+/%d+  train loss [%d.]+  test accuracy [%d.]+%%)")
      or l:match("^final test accuracy .*")
    if r then out[#out + 1] = r end
  end
  return out
end

return M
