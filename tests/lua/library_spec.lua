-- The shape of the Lua library: what `tide` exposes, the internal tables kept under one
-- hidden name, and the deprecated names that still work and warn once.
local tide = require "tide"
local proc = require "support.proc"

describe("the tide table", function()
  it("keeps the core's internal tables under tide._internal only", function()
    for _, name in ipairs { "kernels", "cluster_kernels", "als_kernels", "_dtensor",
                            "comm_methods", "methods", "deprecated" } do
      assert.is_nil(rawget(tide, name), name)
    end
    local internal = tide._internal
    for _, name in ipairs { "kernels", "cluster_kernels", "als_kernels", "dtensor", "comm_methods",
                            "methods" } do
      assert.are.equal("table", type(internal[name]), name)
    end
    -- the internal tables are the ones the library runs on: the tensor methods table is the
    -- one every tensor looks its methods up in
    assert.are.equal(internal.methods.sum, tide.zeros(1).sum)
    assert.is_function(internal.kernels.sgd_step)
  end)
end)

describe("numeric options that cannot be right", function()
  local sink = { write = function() end }

  it("are refused by progress bars and metrics", function()
    assert.has_error(function() tide.progress.bar { total = 0 / 0, out = sink } end,
      "progress.bar: total must be a number > 0, got NaN")
    assert.has_error(function() tide.progress.bar { total = 0, out = sink } end,
      "progress.bar: total must be a number > 0, got 0")
    assert.has_error(function() tide.progress.bar { total = 5, every = -1, out = sink } end,
      "progress.bar: every must be a number >= 0, got -1")
    assert.has_error(function() tide.progress.bar { total = 5, width = 0, out = sink } end,
      "progress.bar: width must be an integer of at least 1, got 0")
    assert.has_error(function() tide.progress.bar { total = 5, mode = "fancy", out = sink } end,
      'progress.bar: mode must be "auto", "bar", "lines" or "off", got fancy')
    assert.has_error(function() tide.metrics.open(os.tmpname(), { rank = -1 }) end,
      "metrics.open: rank must be an integer of at least 0, got -1")
    local model = tide.nn.Linear(2, 2)
    assert.has_error(function()
      tide.metrics.accuracy(model, { x = tide.zeros({ 2, 2 }), y = tide.ones(2, "i64") },
        { batch_size = 0 })
    end, "metrics.accuracy: batch_size must be an integer of at least 1, got 0")
  end)

  it("are reported by tide.args in one form", function()
    local args = require "tide.args"
    for _, c in ipairs {
      { 0 / 0, ">= 0", "x must be a number >= 0, got NaN" },
      { -1, ">= 0", "x must be a number >= 0, got -1" },
      { math.huge, "> 0", "x must be a number > 0, got inf" },
      { 0, "> 0", "x must be a number > 0, got 0" },
      { 0.5, ">= 1", "x must be a number >= 1, got 0.5" },
      { 1, "in [0, 1)", "x must be a number in [0, 1), got 1" },
      { -math.huge, "finite", "x must be a finite number, got -inf" },
      { 0 / 0, "any", "x must be a number, got NaN" },
      { "1", "any", "x must be a number, got string" },
    } do
      assert.has_error(function() args.number(c[1], "x", "f", nil, c[2]) end, "f: " .. c[3])
    end
    -- what each range accepts, at its edges
    assert.are.equal(0, args.number(0, "x", "f", nil, ">= 0"))
    assert.are.equal(1, args.number(1, "x", "f", nil, "in [0, 1]"))
    assert.are.equal(-math.huge, args.number(-math.huge, "x", "f", nil, "any"))
    assert.are.equal(3, args.number(nil, "x", "f", 3))
    assert.has_error(function() args.number(nil, "x", "f") end, "f: x is required")
    assert.has_error(function() args.integer(2.0, "n", "f", 1) end,
      "f: n must be an integer of at least 1, got 2.0")
    assert.has_error(function() args.seed(1.5, "f") end, "f: seed must be an integer, got 1.5")
    assert.has_error(function() args.boolean(1, "b", "f") end, "f: b must be a boolean, got number")
    assert.has_error(function() args.func(1, "cb", "f") end, "f: cb must be a function, got number")
    assert.has_error(function() args.one_of("c", "m", "f", { "a", "b" }) end,
      'f: m must be "a" or "b", got c')
  end)

  it("raise at the caller of the public function", function()
    local ok, err = pcall(function() tide.optim.SGD({ {}, {} }, { lr = -1 }) end)
    assert.is_false(ok)
    assert.is_truthy(err:find("library_spec.lua:%d+: optim.SGD: lr must be"), err)
    ok, err = pcall(function() tide.cluster.kmeans(tide.zeros({ 4, 2 }), 2, { tol = -1 }) end)
    assert.is_truthy(err:find("library_spec.lua:%d+: kmeans: tol must be"), err)
    ok, err = pcall(function() tide.nn.MSELoss { reduction = "max" } end)
    assert.is_truthy(err:find("library_spec.lua:%d+: nn.MSELoss: reduction must be"), err)
    ok, err = pcall(function() tide.optim.StepLR(tide.optim.SGD({ {}, {} }, { lr = 1 }),
      { step_size = 0 }) end)
    assert.is_truthy(err:find("library_spec.lua:%d+: optim.StepLR: step_size must be"), err)
    ok, err = pcall(function() tide.placement.hash { seed = 1.5 } end)
    assert.is_truthy(err:find("library_spec.lua:%d+: placement.hash: seed must be"), err)
    ok, err = pcall(function() tide.placement.weighted { weights = { 1, -1 } } end)
    assert.is_truthy(err:find("library_spec.lua:%d+: placement.weighted: weight 2 must be"), err)
    ok, err = pcall(function() tide.data.blobs { n = 2, d = 1, k = 1, seed = "x" } end)
    assert.is_truthy(err:find("library_spec.lua:%d+: data.blobs: seed must be"), err)
    ok, err = pcall(function() tide.dtensor.rand({ 2 }, { seed = 0.5 }) end)
    assert.is_truthy(err:find("library_spec.lua:%d+: dtensor.rand: seed must be"), err)
  end)
end)

describe("deprecated names", function()
  local TIDE = os.getenv("TIDE_EXE")

  it("work and warn once each on stderr", function()
    if not TIDE then pending("TIDE_EXE is not set") return end
    local script = [[
      local t = tide.zeros(3, "i64")
      t:set(1, 4); t:set(2, 5)
      local m = tide.nn.Linear(2, 2)
      m:to("f64"); m:to("f32")
      local dt = tide.dtensor.from_local(tide.ones({ 2, 2 }), tide.world)
      local a, b = dt.local_, dt.local_
      io.write(("sum=%d dtype=%s rows=%d\n"):format(t:sum(), m.weight:dtype(), a:size(1) + b:size(1)))
    ]]
    local out, code = proc.run(proc.quote(TIDE) .. " -e " .. proc.quote(script))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("sum=9 dtype=f32 rows=4", 1, true), out)
    for _, pair in ipairs { { "t:set", "t:set_" }, { "module:to", "module:to_" },
                            { "dt.local_", "dt.shard" } } do
      local line = ("tide: %s is deprecated, use %s (this warning is shown once)"):format(
        pair[1], pair[2])
      local _, n = out:gsub(line:gsub("%p", "%%%0"), "")
      assert.are.equal(1, n, out)
    end
  end)

  it("are used nowhere else: scripts, examples and specs say dt.shard", function()
    local source = assert(os.getenv("TIDE_SOURCE_DIR"), "TIDE_SOURCE_DIR is not set")
    local p = assert(io.popen(("grep -rlE '\\.local_([^[:alnum:]_]|$)' %s/scripts %s/examples "
      .. "%s/tests"):format(source, source, source)))
    local users = {}
    for path in p:lines() do
      -- the two specs that check the alias itself (here and dtensor_spec) may name it
      if not (path:find("/tests/lua/library_spec%.lua$")
          or path:find("/tests/mpi/dtensor_spec%.lua$")) then
        users[#users + 1] = path
      end
    end
    p:close()
    assert.are.same({}, users)
  end)
end)
