-- The shape of the Lua library: what `tide` exposes, the internal tables kept under one
-- hidden name, and the deprecated names that still work and warn once.
local tide = require "tide"
local proc = require "support.proc"

describe("the tide table", function()
  it("keeps the core's internal tables under tide._internal only", function()
    for _, name in ipairs { "kernels", "cluster_kernels", "_dtensor", "comm_methods",
                            "methods", "deprecated" } do
      assert.is_nil(rawget(tide, name), name)
    end
    local internal = tide._internal
    for _, name in ipairs { "kernels", "cluster_kernels", "dtensor", "comm_methods", "methods" } do
      assert.are.equal("table", type(internal[name]), name)
    end
    -- the internal tables are the ones the library runs on: the tensor methods table is the
    -- one every tensor looks its methods up in
    assert.are.equal(internal.methods.sum, tide.zeros(1).sum)
    assert.is_function(internal.kernels.sgd_step)
  end)
end)
