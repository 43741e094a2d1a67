-- Extra arguments are an error, not silently ignored (issue 16), across the bindings that
-- check them since: tensors (creation, shape, views, elements), indexing and ordering, the
-- nn kernels, the layer kernels, the communicator (collectives, requests, splits), the
-- trace, .npy and safetensors I/O and dtensors. Each message names the function and the
-- count, a method's receiver counted as Lua's ':' passes it; the same calls with the right
-- count still work.
local tide = require "tide"
local dtensor = require "tide.dtensor"

local K = tide._internal.kernels

local function msg(name, max, got)
  return ("%s: too many arguments (expected at most %d, got %d)"):format(name, max, got)
end

describe("extra arguments", function()
  local t = tide.zeros({ 2, 3 }, "f64")
  local idx = tide.tensor({ 2, 1 }, "i64")

  it("are refused by tensor creation, shape and element methods", function()
    assert.has_error(function() t:sum(1, 2, 3) end, msg("sum", 3, 4))
    assert.has_error(function() tide.zeros({ 2 }, "f64", 1) end, msg("zeros", 2, 3))
    assert.has_error(function() tide.ones(2, 3, "f32", true) end, msg("ones", 3, 4))
    assert.has_error(function() tide.full({ 2 }, 1, "f64", 0) end, msg("full", 3, 4))
    assert.has_error(function() tide.tensor({ 1 }, "f64", 2) end, msg("tensor", 2, 3))
    assert.has_error(function() t:clone(1) end, msg("clone", 1, 2))
    assert.has_error(function() t:size(1, 2) end, msg("size", 2, 3))
    assert.has_error(function() t:narrow(1, 1, 1, 1) end, msg("narrow", 4, 5))
    assert.has_error(function() t:view({ 3, 2 }, 1) end, msg("view", 2, 3))
    assert.has_error(function() t:reshape(3, 2, "x") end, msg("reshape", 3, 4))
    assert.has_error(function() t:permute(2, 1, 1) end, "permute: expected 2 dims, got 3")
    assert.has_error(function() t:permute({ 2, 1 }, 1) end, msg("permute", 2, 3))
    assert.has_error(function() t:to("f32", true) end, msg("to", 2, 3))
    assert.has_error(function() t:fill_(1, 2) end, msg("fill_", 2, 3))
    assert.has_error(function() t:item(1) end, msg("item", 1, 2))
    assert.has_error(function() t:get(1, 2, 3) end, "get: expected 2 indices for a 2-dim tensor, got 3")
    -- the right counts, in both shape spellings, still work
    assert.are.same({ 3, 2 }, t:reshape(3, 2):shape())
    assert.are.same({ 3, 2 }, tide.ones(3, 2, "f32"):shape())
    assert.are.same({ 3, 2 }, t:permute({ 2, 1 }):shape())
  end)

  it("are refused by indexing and ordering, with their options still taken", function()
    assert.has_error(function() t:index_select(1, idx, 1) end, msg("index_select", 3, 4))
    assert.has_error(function() t:gather(1, idx:view({ 2, 1 }), 0) end, msg("gather", 3, 4))
    assert.has_error(function() t:sort(1, {}, 3) end, msg("sort", 3, 4))
    assert.has_error(function() t:sort({}, 1) end, msg("sort", 2, 3))
    assert.has_error(function() t:topk(1, 2, {}, true) end, msg("topk", 4, 5))
    assert.has_error(function() t:cumsum(1, 1) end, msg("cumsum", 2, 3))
    assert.has_error(function() tide.unique(idx, {}, 1) end, msg("unique", 2, 3))
    local v = tide.tensor({ 3, 1, 2 }, "f64")
    local sorted = v:sort(1, { descending = true })
    assert.are.same({ 3, 2, 1 }, sorted:totable())
    local top, at = v:topk(2, 1, { largest = false })
    assert.are.same({ 1, 2 }, top:totable())
    assert.are.same({ 2, 3 }, at:totable())
  end)

  it("are refused by the nn and layer kernels", function()
    assert.has_error(function() K.relu(t, nil, 1) end, msg("relu", 2, 3))
    assert.has_error(function() K.sigmoid_backward(t, t, nil, 1) end, msg("sigmoid_backward", 3, 4))
    assert.has_error(function() t:softmax(1, {}, 2) end, msg("softmax", 3, 4))
    assert.has_error(function() t:log_softmax({}, 2) end, msg("log_softmax", 2, 3))
    assert.has_error(function() K.gelu(t, nil, 1) end, msg("gelu", 2, 3))
    assert.has_error(function() K.leaky_relu(t, 0.1, nil, 1) end, msg("leaky_relu", 3, 4))
  end)

  it("are refused by the communicator, the trace, I/O and dtensors", function()
    local w = tide.world
    assert.has_error(function() w:barrier(1) end, msg("barrier", 1, 2))
    assert.has_error(function() w:allreduce(t, "sum", 0) end, msg("allreduce", 3, 4))
    assert.has_error(function() w:allgather(t, 0) end, msg("allgather", 2, 3))
    assert.has_error(function() w:iallreduce(t, "sum", 0) end, msg("iallreduce", 3, 4))
    assert.has_error(function() w:dup(1) end, msg("dup", 1, 2))
    assert.has_error(function() tide.now(1) end, msg("now", 0, 1))
    assert.has_error(function() tide.save("/nonexistent/x.npy", t, { x = 1 }) end,
      "save: unknown option 'x' (expected none)")
    assert.has_error(function() require("tide.core").save("x.npy", t, 1) end, msg("save", 2, 3))
    assert.has_error(function() require("tide.core").load("x.npy", {}, 1) end, msg("load", 2, 3))
    local d = dtensor.from_local(t, w)
    assert.has_error(function() d:full(1) end, msg("full", 1, 2))
    assert.has_error(function() d:row_counts(1) end, msg("row_counts", 1, 2))
    -- and with the right counts
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, w:allreduce(t:clone(), "sum"):totable())
    assert.are.same({ 2 }, d:row_counts())
  end)
end)

-- The Lua library's public functions say the same (tide.args.at_most), at the caller's line.
describe("extra arguments to the Lua library", function()
  local nn, optim, data = tide.nn, tide.optim, tide.data

  it("are refused by tide.*, nn constructors, optimisers and schedules", function()
    local model = nn.Linear(2, 2)
    local opt = optim.SGD(model, { lr = 0.1 })
    local cases = {
      { "load", 2, function() tide.load("x.npy", {}, 1) end },
      { "save", 3, function() tide.save("x.npy", 1, {}, 1) end },
      { "nn.Linear", 3, function() nn.Linear(2, 2, {}, 1) end },
      { "nn.ReLU", 1, function() nn.ReLU({}, 1) end },
      { "nn.MaxPool2d", 2, function() nn.MaxPool2d(2, {}, 1) end },
      { "nn.BatchNorm1d", 2, function() nn.BatchNorm1d(3, {}, 1) end },
      { "nn.CrossEntropyLoss", 1, function() nn.CrossEntropyLoss({}, 1) end },
      { "optim.SGD", 2, function() optim.SGD(model, { lr = 0.1 }, 1) end },
      { "optim.Adam", 2, function() optim.Adam(model, {}, 1) end },
      { "optim.StepLR", 2, function() optim.StepLR(opt, { step_size = 1 }, 1) end },
      { "optim.clip_grad_norm", 3, function() optim.clip_grad_norm({}, 1, {}, 1) end },
    }
    for _, c in ipairs(cases) do
      local ok, e = pcall(c[3])
      assert.is_false(ok, c[1])
      assert.are.equal("nargs_spec.lua:" .. debug.getinfo(c[3], "S").linedefined .. ": "
        .. msg(c[1], c[2], c[2] + 1), tostring(e):match("[^/]*$"))
    end
    -- the right counts still work
    assert.are.same({ 3, 2 }, nn.Linear(2, 3, {}).weight:shape())
    assert.are.equal(0.1, optim.SGD(model, { lr = 0.1 }).lr)
  end)

  it("are refused by data, placement, the farm, the parameter server and the models", function()
    local w, t = tide.world, tide.zeros({ 2, 3 }, "f64")
    assert.has_error(function() data.blobs({ n = 4 }, 1) end, msg("data.blobs", 1, 2))
    assert.has_error(function() data.DataLoader({}, {}, 1) end, msg("data.DataLoader", 2, 3))
    assert.has_error(function() tide.placement.block({}, 1) end, msg("placement.block", 1, 2))
    assert.has_error(function() tide.placement.consistent_hash({}, 1) end,
      msg("placement.consistent_hash", 1, 2))
    assert.has_error(function() tide.farm.run(w, {}, print, {}, 1) end, msg("farm.run", 4, 5))
    assert.has_error(function() tide.ps.new(w, {}, 1) end, msg("ps.new", 2, 3))
    assert.has_error(function() tide.cluster.kmeans(t, 2, {}, 1) end, msg("cluster.kmeans", 3, 4))
    assert.has_error(function() tide.linear.logistic_regression({}, 1) end,
      msg("linear.logistic_regression", 1, 2))
    assert.has_error(function() tide.model_selection.kfold(4, 2, {}, 1) end,
      msg("model_selection.kfold", 3, 4))
    assert.has_error(function() dtensor.from_local(t, w, 1) end, msg("dtensor.from_local", 2, 3))
    assert.are.same({ 2 }, dtensor.from_local(t, w):row_counts())
  end)
end)
