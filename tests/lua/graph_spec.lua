-- tide.graph, placement.edgecut and examples/gcn.lua in one process: the edge-cut policy
-- against hash on an SBM graph at 4 parts, graph_stats against a plain loop, the example's
-- accuracy against the PyTorch twin's committed figures (tests/data/gcn_torch.json and, for
-- Zachary's karate club, gcn_karate.json, written by tests/bench/gcn_torch.py from the same
-- graph, split and initial weights), and every error.
local tide = require "tide"
local cjson = require "cjson"
local proc = require "support.proc"

local source = os.getenv("TIDE_SOURCE_DIR") or "."
local exe = os.getenv("TIDE_EXE") or "build/tide"

local function err(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok)
  return tostring(e)
end

describe("placement.edgecut", function()
  local d = tide.graph.sbm { n = 2000, seed = 3 }
  local src, dst = d.src, d.dst

  -- edges whose ends are on two parts, and vertices per part, counted edge by edge
  local function naive_stats(parts, P)
    local p, s, t = parts:totable(), src:totable(), dst:totable()
    local cut, counts = 0, {}
    for q = 1, P do counts[q] = 0 end
    for e = 1, #s do
      if p[s[e]] ~= p[t[e]] then cut = cut + 1 end
    end
    for v = 1, #p do counts[p[v] + 1] = counts[p[v] + 1] + 1 end
    return cut, counts
  end

  it("cuts fewer edges than hash at 4 parts, within its balance slack", function()
    local hash = tide.placement.hash():assign(tide.arange(1, 2001, "i64"), 4)
    local policy = tide.placement.edgecut()
    local parts = policy:partition(src, dst, 2000, 4)
    local hs = tide.placement.graph_stats(src, dst, hash, 4)
    local es = policy:stats()
    print(("\nSBM 2000 vertices, %d edges, 4 parts: hash cuts %d, edgecut %d (ratio %.2f);"
      .. " imbalance %.3f"):format(es.edges, hs.edge_cut, es.edge_cut,
      es.edge_cut / hs.edge_cut, es.imbalance))
    assert.is_true(es.edge_cut < hs.edge_cut)
    assert.is_true(es.imbalance <= 1.05 + 1e-9)
    local cut, counts = naive_stats(parts, 4)
    assert.are.equal(cut, es.edge_cut)
    assert.are.same(counts, es.counts)
    assert.are.equal(naive_stats(hash, 4), hs.edge_cut)
    -- afterwards it is a placement policy of the vertices
    assert.are.same(parts:narrow(1, 5, 3):totable(),
      policy:assign(tide.tensor({ 5, 6, 7 }, "i64")):totable())
  end)

  it("is deterministic and keeps its options in its state", function()
    local a = tide.placement.edgecut { seed = 4, passes = 2 }
    local b = tide.placement.edgecut():load_state(a:state())
    assert.are.same(a:partition(src, dst, 2000, 3):totable(),
      b:partition(src, dst, 2000, 3):totable())
    assert.are.equal(2, b.passes)
  end)

  it("refuses bad options and an assign before a partition", function()
    assert.matches("passes must be an integer of at least 1, got 0",
      err(tide.placement.edgecut, { passes = 0 }))
    assert.matches("slack must be a number >= 1, got 0.5",
      err(tide.placement.edgecut, { slack = 0.5 }))
    assert.matches("assign needs a graph first",
      err(function() tide.placement.edgecut():assign(tide.tensor({ 1 }, "i64")) end))
  end)
end)

describe("tide.graph in one process", function()
  local d = tide.graph.sbm { n = 200, features = 3 }

  it("owns every vertex with no halo, and propagates as the dense product", function()
    local g = tide.graph.partition(d.src, d.dst, 200, { policy = tide.placement.block() })
    assert.are.equal(200, g.nlocal)
    assert.are.equal(0, g.nhalo)
    local A = tide.sparse.coo(d.dst, d.src, tide.ones({ d.src:numel() }), { 200, 200 })
    local y = g:propagate(g:features(d.x))
    assert.is_true((y - A:normalize_gcn():to_dense():matmul(d.x)):abs():max() < 1e-5)
    assert.matches("0 halo rows", tostring(g))
  end)

  it("names the bad edge, length, dtype and option", function()
    local s, t = tide.tensor({ 1, 2, 3 }, "i64"), tide.tensor({ 2, 3, 1 }, "i64")
    assert.matches("edge 3 %(0 %-> 1%) names a vertex outside 1..3",
      err(tide.graph.partition, tide.tensor({ 1, 2, 0 }, "i64"), t, 3))
    assert.matches("edge 2 %(2 %-> 7%) names a vertex outside 1..3",
      err(tide.graph.partition, s, tide.tensor({ 2, 7, 1 }, "i32"), 3))
    assert.matches("src and dst must have one length, got 3 and 2",
      err(tide.graph.partition, s, tide.tensor({ 1, 2 }, "i64"), 3))
    assert.matches("dst must be a 1%-D i32 or i64 tensor of vertex ids, got 3 f32",
      err(tide.graph.partition, s, tide.tensor({ 1, 2, 3 }, "f32"), 3))
    assert.matches("nvertices must be a positive integer, got 2.5",
      err(tide.graph.partition, s, t, 2.5))
    assert.matches("unknown option 'policies'",
      err(tide.graph.partition, s, t, 3, { policies = "hash" }))
    assert.matches("policy must be \"hash\", \"edgecut\" or a placement policy, got metis",
      err(tide.graph.partition, s, t, 3, { policy = "metis" }))
    local bad = { assign = function() return tide.tensor({ 0, 5, 0 }, "i32") end }
    assert.matches("the policy placed a vertex on rank 5, outside 0..0",
      err(tide.graph.partition, s, t, 3, { policy = bad }))
  end)

  it("refuses features and layers that do not fit the graph", function()
    local g = tide.graph.partition(d.src, d.dst, 200)
    assert.matches("expected a tensor with one row per vertex %(200%), got 5x3",
      err(function() g:features(tide.zeros({ 5, 3 })) end))
    assert.matches("expected f32 rows %(the graph's dtype%), got f64",
      err(function() g:propagate(tide.zeros({ 200, 3 }, "f64")) end))
    local conv = tide.nn.GCNConv(3, 2)
    assert.matches("expected a tide.graph as the second argument, got nil",
      err(function() conv:forward(d.x) end))
    assert.matches("expected this rank's 200 rows of features, got 10x3",
      err(function() conv:forward(tide.zeros({ 10, 3 }), g) end))
  end)
end)

-- The example's accuracy within 1 point of the twin's, and its last loss within 1e-3 (the
-- same training from the same weights, in float32 both).
local function check_against(out, twin, what)
  local acc = tonumber(out:match("test accuracy ([%d.]+)%%"))
  local loss = tonumber(out:match("epoch 200%s+loss ([%d.]+)"))
  assert.is_not_nil(acc, out)
  assert.is_not_nil(loss, out)
  print(("\ngcn.lua on the %s: test accuracy %.1f%%, last loss %.4f; PyTorch twin %.2f%%,"
    .. " %.4f"):format(what, acc, loss, twin.test_accuracy, twin.final_loss))
  assert.is_true(math.abs(acc - twin.test_accuracy) <= 1)
  assert.is_true(math.abs(loss - twin.final_loss) < 1e-3)
end

describe("examples/gcn.lua", function()
  it("reaches the PyTorch twin's accuracy within 1 point, on 2 ranks", function()
    local f = assert(io.open(source .. "/tests/data/gcn_torch.json"))
    local twin = cjson.decode(f:read("a"))
    f:close()
    -- the twin's graph is the example's: the same edges from the same generator
    local gp, int = twin.graph, math.tointeger   -- (JSON numbers come back as floats)
    local d = tide.graph.sbm { n = int(gp.n), classes = int(gp.classes),
      degree_in = int(gp.degree_in), degree_out = int(gp.degree_out),
      features = int(gp.features), signal = gp.signal, train = gp.train, seed = int(gp.seed) }
    assert.are.equal(twin.edges, d.src:numel())
    local out, code = proc.run(("%s run -n 2 %s --policy edgecut"):format(proc.quote(exe),
      proc.quote(source .. "/examples/gcn.lua")))
    assert.are.equal(0, code, out)
    check_against(out, twin, "SBM")
  end)

  it("trains on Zachary's karate club (python3-networkx's) as PyTorch does", function()
    local f = assert(io.open(source .. "/tests/data/gcn_karate.json"))
    local twin = cjson.decode(f:read("a"))
    f:close()
    -- the graph comes from Debian's networkx when it is there (the tree keeps no copy)
    local path = os.tmpname()
    local _, code = proc.run(("/usr/bin/python3 %s %s"):format(
      proc.quote(source .. "/tests/bench/karate_graph.py"), proc.quote(path)))
    if code ~= 0 then
      os.remove(path)
      pending("python3-networkx is not installed: no karate-club graph to train on")
      return
    end
    local out
    out, code = proc.run(("%s %s --graph %s"):format(proc.quote(exe),
      proc.quote(source .. "/examples/gcn.lua"), proc.quote(path)))
    os.remove(path)
    assert.are.equal(0, code, out)
    assert.is_not_nil(out:find(math.tointeger(twin.edges) .. " edges", 1, true), out)
    check_against(out, twin, "karate club")
  end)
end)
