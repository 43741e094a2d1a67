-- tide.diag.repl.complete, which rank 0 answers for the Tab of `tide run`'s REPL: the globals,
-- the fields of a table, what a metatable's __index chain adds (a class's methods), a tensor's
-- and a communicator's methods after `:`; nothing for a path that does not resolve.
local tide = require "tide"
local repl = require "tide.diag.repl"

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

describe("tide.diag.repl.complete", function()
  it("completes a global and a field of a table", function()
    _G.tide = tide
    assert.are.equal("tide.world", repl.complete("tide.wo"))
    assert.are.same({ "print", "pcall" }, { repl.complete("pri"), repl.complete("pca") })
    assert.are.equal("string.format", repl.complete("string.form"))
  end)

  it("adds what the __index chain of a table's metatable offers, sorted, once each", function()
    local Base = { greet = function() end, size = 1 }
    Base.__index = Base
    local Derived = setmetatable({ grow = function() end }, Base)
    Derived.__index = Derived
    _G.obj = setmetatable({ gold = 3 }, Derived)
    assert.are.same({ "obj.gold", "obj.greet", "obj.grow" }, lines(repl.complete("obj.g")))
    assert.are.same({ "obj:greet", "obj:grow" }, lines(repl.complete("obj:g")))   -- methods only
    _G.obj = nil
  end)

  it("lists a tensor's and a communicator's methods after ':'", function()
    _G.t = tide.tensor { 1, 2 }
    assert.are.equal("t:fill_", repl.complete("t:fil"))
    assert.are.same({ "t:add", "t:add_", "t:addmm_", "t:addmv_" }, lines(repl.complete("t:add")))
    _G.t = nil
    assert.is_truthy(repl.complete("tide.world:all"):find("tide.world:allreduce", 1, true))
  end)

  it("gives nothing for a path that does not resolve or is not a name", function()
    assert.are.equal("", repl.complete("nosuch.x"))
    assert.are.equal("", repl.complete("tide.world.rank.x"))
    assert.are.equal("", repl.complete("1 +"))
  end)
end)
