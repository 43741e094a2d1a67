-- Files for specs: whole-file reads and writes, and scratch directories.
local M = {}

-- The bytes of the file at path; an error when it cannot be opened.
function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- The bytes of the file at path, or nil when there is none.
function M.try_read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Writes bytes to path, replacing what was there.
function M.write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- A new empty directory under the system's temporary directory.
function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir '" .. dir .. "'"))
  return dir
end

-- Removes dir and everything in it.
function M.remove_tree(dir)
  os.execute("rm -rf '" .. dir .. "'")
end

-- The contents of path once it exists (a path ending in .rc: once it is not empty, as a
-- background job's `echo $? > out.rc` leaves it); an error after `seconds`.
function M.wait_for(path, seconds)
  local tide = require "tide"
  local t0 = tide.now()
  while tide.now() - t0 < seconds do
    local text = M.try_read(path)
    if text and (text ~= "" or not path:find("%.rc$")) then return text end
    tide.io.sleep(0.05)
  end
  error("timed out waiting for " .. path)
end

return M
