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

return M
