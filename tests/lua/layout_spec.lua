-- The tree keeps the layout README.md ("How the code is laid out") describes: core/ folders
-- depend one way (tensor <- ops <- linalg <- comm <- dist; io on tensor and ops, algo also on
-- linalg), core/ knows nothing of Lua, no file grows past 700 lines and no folder past 12
-- source files.
local source = os.getenv("TIDE_SOURCE_DIR") or "."

local function lines_of(cmd)
  local p = assert(io.popen(cmd))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

local function files(dir, pattern)
  return lines_of(("cd %s && find %s -type f -name '%s' | sort"):format(source, dir, pattern))
end

local function read(path)
  local f = assert(io.open(source .. "/" .. path))
  local text = f:read("a")
  f:close()
  return text
end

-- Which core folders a file in each core folder may include from.
local allowed = {
  tensor = {tensor = true},
  ops = {tensor = true, ops = true},
  linalg = {tensor = true, ops = true, linalg = true},
  nn = {tensor = true, ops = true, linalg = true, nn = true},
  comm = {tensor = true, ops = true, linalg = true, comm = true},
  dist = {tensor = true, ops = true, linalg = true, nn = true, comm = true, dist = true},
  io = {tensor = true, ops = true, io = true},
  algo = {tensor = true, ops = true, linalg = true, nn = true, algo = true},
  -- secure aggregation's cryptography (libsodium), on tensors only: no MPI, no model
  secure = {tensor = true, ops = true, secure = true},
}

describe("the layout", function()
  it("has exactly the core folders the dependency order names", function()
    local dirs = lines_of(("cd %s/core && find . -mindepth 1 -maxdepth 1 -type d | sort"):format(source))
    local seen = {}
    for _, d in ipairs(dirs) do
      local name = d:sub(3)
      assert.is_not_nil(allowed[name], "core/" .. name .. " is not in the dependency order")
      seen[name] = true
    end
    for name in pairs(allowed) do assert.is_true(seen[name], "core/" .. name .. " is missing") end
    assert.same({}, lines_of(("cd %s && find core -maxdepth 1 -type f"):format(source)))
  end)

  it("never includes a higher core folder from a lower one, nor Lua from core", function()
    local violations = {}
    for _, path in ipairs(files("core", "*.[ch]")) do
      local folder = path:match("^core/([^/]+)/")
      for include in read(path):gmatch('#include%s+"([^"]+)"') do
        local target = include:match("^([^/]+)/")
        if not target or not allowed[folder][target] then
          violations[#violations + 1] = path .. " includes " .. include
        end
      end
      for include in read(path):gmatch("#include%s+<([^>]+)>") do
        if include:match("^l[a-z]*%.h$") and include:match("lua") then
          violations[#violations + 1] = path .. " includes <" .. include .. ">"
        end
      end
    end
    assert.same({}, violations)
  end)

  it("keeps every file of core/, bindings/ and scripts/tide/ within 700 lines", function()
    local long = {}
    for _, dir in ipairs {"core", "bindings", "scripts/tide"} do
      for _, path in ipairs(files(dir, "*.[chl]*")) do
        local n = select(2, read(path):gsub("\n", ""))
        if n > 700 then long[#long + 1] = ("%s: %d lines"):format(path, n) end
      end
    end
    assert.same({}, long)
  end)

  it("keeps every folder within 12 source files", function()
    local count, big = {}, {}
    for _, dir in ipairs {"core", "bindings", "scripts/tide"} do
      for _, path in ipairs(files(dir, "*")) do
        if path:match("%.c$") or path:match("%.lua$") then
          local folder = path:match("^(.*)/[^/]+$")
          count[folder] = (count[folder] or 0) + 1
        end
      end
    end
    for folder, n in pairs(count) do
      if n > 12 then big[#big + 1] = ("%s: %d source files"):format(folder, n) end
    end
    table.sort(big)
    assert.same({}, big)
  end)

  it("gives specs their shared header from tests/support/spec.lua, not a copy of err_of", function()
    local copies = {}
    for _, dir in ipairs {"tests/lua", "tests/mpi"} do
      for _, path in ipairs(files(dir, "*_spec.lua")) do
        if read(path):find("\nlocal function err_of%(") then copies[#copies + 1] = path end
      end
    end
    assert.same({}, copies)
  end)
end)
