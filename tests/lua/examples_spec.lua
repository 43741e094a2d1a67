-- The example job scripts keep working: each runs on 2 ranks with small sizes and ends well.
-- (train_mnist.lua is run by train_spec, hello.lua by host_spec, the embedding example by its
-- own ctest.)
local proc = require "support.proc"

local source = os.getenv("TIDE_SOURCE_DIR") or "."
local exe = os.getenv("TIDE_EXE") or "build/tide"

local function run(script, flags)
  return proc.run(("%s run -n 2 %s %s"):format(proc.quote(exe),
    proc.quote(source .. "/examples/" .. script), flags))
end

describe("examples", function()
  it("collectives.lua tours the collectives", function()
    local out, code = run("collectives.lua", "--rows 3")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("allreduce", 1, true), out)
  end)

  it("placement.lua compares the policies and the growth from 4 to 5 ranks", function()
    local out, code = run("placement.lua", "--keys 20000 --domain 5000 --cols 4")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("consistent", 1, true), out)
  end)

  it("kmeans.lua clusters generated blobs", function()
    local out, code = run("kmeans.lua", "--n 20000 --d 8 --k 4 --iters 10")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("final inertia", 1, true), out)
  end)
end)
