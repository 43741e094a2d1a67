-- tide: tensors, distributed tensors and MPI collectives for Lua.
--
-- `local tide = require "tide"` gives the C core's functions (tide.zeros, tide.matmul, ...)
-- and the Lua library's modules, loaded on first use (tide.nn, tide.placement, ...).
local core = require "tide.core"
local args = require "tide.args"

-- What the core exports for the Lua library's own use (kernels, method tables, the dtensor
-- type, the deprecation notice) sits under one hidden name, tide._internal, apart from the API.
local INTERNAL = { methods = true, kernels = true, cluster_kernels = true, als_kernels = true,
  bayes_kernels = true, secure_kernels = true, _dtensor = true, comm_methods = true,
  deprecated = true, _diag = true, _set_watchdog = true }

local tide = { _internal = {} }
for name, fn in pairs(core) do
  if INTERNAL[name] then
    tide._internal[(name:gsub("^_", ""))] = fn
  else
    tide[name] = fn
  end
end

-- tide.on(ranks, fn, ...): every rank calls it, fn(...) runs on the ranks named (a 0-based rank,
-- a list, or "1-3"), and rank 0 gets the results (tide/comm.lua).
function tide.on(...)
  return require("tide.comm").on(...)
end

-- tide.save / tide.load: a .npy path (or, for load, a file that starts as .npy does) is one
-- tensor in NumPy's format, as core.save/core.load write and read it; any other path holds any
-- value of tables, tensors, numbers, strings and booleans as safetensors (tide.checkpoint.value).
local function is_npy_path(path)
  return type(path) == "string" and path:sub(-4):lower() == ".npy"
end

local function starts_as_npy(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local magic = f:read(6)
  f:close()
  return magic == "\x93NUMPY"
end

function tide.save(path, value, opts, ...)
  args.at_most("save", 3, ...)
  if type(path) ~= "string" then
    error("save: expected a path (a string), got " .. type(path), 2)
  end
  if is_npy_path(path) then
    require("tide.args").check_opts(opts, {}, "save")   -- NumPy's format has nothing to choose
    return core.save(path, value)
  end
  return require("tide.checkpoint.value").save(path, value, opts)
end

function tide.load(path, opts, ...)
  args.at_most("load", 2, ...)
  if type(path) ~= "string" then
    error("load: expected a path (a string), got " .. type(path), 2)
  end
  if is_npy_path(path) or starts_as_npy(path) then return core.load(path, opts) end
  return require("tide.checkpoint.value").load(path, opts)
end

-- Diagnosis (issue 14) lives in tide/diag/: tide.breakpoint, tide.health, tide.doctor.
local DIAG = { breakpoint = true, health = true, doctor = true }
-- tide.infer (issue 20) lives with the compression it serves, in tide/compress/.
local COMPRESS = { infer = true }

-- Submodules written in Lua load lazily, so `require "tide"` stays cheap.
setmetatable(tide, {
  __index = function(t, name)
    local modname = (DIAG[name] and "tide.diag." or COMPRESS[name] and "tide.compress."
      or "tide.") .. tostring(name)
    local ok, mod = pcall(require, modname)
    if ok then
      rawset(t, name, mod)
      return mod
    end
    if not tostring(mod):find("module '" .. modname .. "' not found", 1, true) then
      error(mod, 2)
    end
    return nil
  end,
})

return tide
