-- examples/ps_logreg.lua and examples/farm.lua at 4 ranks with small sizes: the parameter
-- server in BSP gives the allreduce version's weights bit for bit (the example compares every
-- element), async ends within 1% of BSP's loss and both learn (below ln 2, the loss of w = 0);
-- the farm's adaptive policies beat round robin's makespan on the skewed workload, and every
-- task's cost is counted once.
local proc = require "support.proc"

local source = os.getenv("TIDE_SOURCE_DIR") or "."
local exe = os.getenv("TIDE_EXE") or "build/tide"

local function run(script, flags)
  local out, code = proc.run(("%s run -n 4 %s %s"):format(proc.quote(exe),
    proc.quote(source .. "/examples/" .. script), flags))
  assert(code == 0, out)
  return out
end

local function number_after(out, pattern)
  local v = out:match(pattern)
  assert(v, ("no match for %q in:\n%s"):format(pattern, out))
  return tonumber(v)
end

describe("examples/ps_logreg.lua", function()
  it("BSP equals allreduce bit for bit; async within 1% of BSP", function()
    local out = run("ps_logreg.lua", "--features 65536 --steps 60 --lr 4")
    assert.truthy(out:find("bsp equals allreduce bit for bit: yes", 1, true), out)
    local ar = number_after(out, "\nallreduce%s+loss ([%d.]+)")
    local bsp = number_after(out, "\nbsp%s+loss ([%d.]+)")
    local async = number_after(out, "\nasync%s+loss ([%d.]+)")
    assert.equal(ar, bsp)
    assert.equal(0, number_after(out, "\nbsp%s+loss [%d.]+%s+[%d.]+ s%s+max |w %- w_allreduce| (%S+)"))
    assert.is_true(bsp < math.log(2) - 0.02, out)
    assert.is_true(math.abs(async - bsp) / bsp < 0.01, out)
  end)
end)

describe("examples/farm.lua", function()
  it("least_loaded and weighted beat round_robin on a skewed workload", function()
    local out = run("farm.lua", "--tasks 120 --unit 0.002")
    local total = number_after(out, "(%d+) units of work")
    local span = {}
    for _, policy in ipairs { "round_robin", "least_loaded", "weighted", "stealing" } do
      local line = out:match("\n" .. policy .. "%s+makespan [^\n]+")
      assert(line, out)
      span[policy] = number_after(line, "makespan ([%d.]+)")
      local tasks = 0
      for n in line:gmatch("r%d+ (%d+)/") do tasks = tasks + tonumber(n) end
      assert.equal(120, tasks)
    end
    assert.is_true(total >= 120)
    assert.is_true(span.least_loaded < span.round_robin, out)
    assert.is_true(span.weighted < span.round_robin, out)
  end)
end)
