-- README.md stays true: every ```lua block of its tour runs on 2 ranks without an error.
local proc = require "support.proc"

local source = os.getenv("TIDE_SOURCE_DIR") or "."
local exe = os.getenv("TIDE_EXE") or "build/tide"
local mpirun = os.getenv("MPIRUN") or "mpirun"

local function lua_blocks()
  local f = assert(io.open(source .. "/README.md"))
  local text = f:read("a")
  f:close()
  local blocks = {}
  for block in text:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = block end
  return blocks
end

describe("README.md", function()
  local blocks = lua_blocks()

  it("has a tour in Lua", function()
    assert.is_true(#blocks >= 3)
  end)

  for i, block in ipairs(blocks) do
    it("runs its Lua block " .. i .. " on 2 ranks", function()
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write('local tide = require "tide"\n', block:gsub('local tide = require "tide"[^\n]*', ""),
        '\nio.write("block done on rank ", tide.world.rank, "\\n")\n')
      f:close()
      local out, code = proc.run(("%s --oversubscribe -np 2 %s %s"):format(proc.quote(mpirun),
        proc.quote(exe), proc.quote(path)))
      os.remove(path)
      assert.are.equal(0, code, out)
      assert.truthy(out:find("block done on rank 0", 1, true), out)
      assert.truthy(out:find("block done on rank 1", 1, true), out)
    end)
  end
end)
