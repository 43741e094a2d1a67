-- tide.graph and nn.GCNConv under mpirun (1, 2 and 4 ranks): a 2-layer GCN on a partitioned
-- SBM graph against the single-process GCN every rank computes by itself from a dense
-- adjacency built edge by edge (no tide.sparse, no communication), for hash and edge-cut
-- partitions: outputs, parameter gradients (summed over the ranks) and input gradients, by
-- the hand-written backward of nn.GCNConv and by tide.autograd through g:propagate. The
-- halo exchange moves exactly the halo rows, counted against the halos found from the edges.
local tide = require "tide"
local nn = tide.nn
local ag = tide.autograd

local world = tide.world
local N, HIDDEN, F, C = 240, 5, 6, 4
local d = tide.graph.sbm { n = N, classes = C, features = F, seed = 7 }
local src, dst = d.src:totable(), d.dst:totable()

local function max_diff(a, b)
  assert.are.same(a:shape(), b:shape())
  return (a:to("f64") - b:to("f64")):abs():max()
end

-- D^-1/2 (A + I) D^-1/2 from the edge list, in f64, with plain loops.
local function dense_propagation()
  local a = {}
  for i = 1, N do
    a[i] = {}
    for j = 1, N do a[i][j] = i == j and 1 or 0 end
  end
  for e = 1, #src do a[dst[e]][src[e]] = a[dst[e]][src[e]] + 1 end
  local s = {}
  for i = 1, N do
    s[i] = 0
    for j = 1, N do s[i] = s[i] + a[i][j] end
  end
  for i = 1, N do
    for j = 1, N do a[i][j] = a[i][j] / math.sqrt(s[i] * s[j]) end
  end
  return tide.tensor(a, "f32")
end

local Ahat = dense_propagation()
local params = { W1 = d.init(F, HIDDEN, 11), b1 = tide.full({ HIDDEN }, 0.1, "f32"),
  W2 = d.init(HIDDEN, C, 12), b2 = tide.full({ C }, -0.2, "f32") }
local R = d.init(N, C, 13)    -- the loss is sum(out * R): its gradient in out is R

-- The 2-layer GCN; prop(h) is Â h (dense, or a graph's), x and R the rows it works on.
local function gcn(p, x, prop, r)
  local h = (prop(x:matmul(p.W1)) + p.b1):relu()
  local out = prop(h:matmul(p.W2)) + p.b2
  return (out * r):sum(), out
end

local ref_grads, ref_loss = ag.grad(function(p)
  return gcn(p, d.x, function(h) return Ahat:matmul(h) end, R)
end)(params)
local _, ref_out = gcn(params, d.x, function(h) return Ahat:matmul(h) end, R)

-- Halo of every rank found from the edge list: remote sources of edges into owned vertices.
local function halo_sizes(owner)
  local own, halo = owner:totable(), {}
  for q = 0, world.size - 1 do halo[q] = {} end
  for e = 1, #src do
    local u, v = src[e], dst[e]
    if own[u] ~= own[v] then halo[own[v]][u] = true end
  end
  local sizes = {}
  for q = 0, world.size - 1 do
    local k = 0
    for _ in pairs(halo[q]) do k = k + 1 end
    sizes[q + 1] = k
  end
  return sizes
end

for _, policy in ipairs { "hash", "edgecut" } do
  describe("a GCN on a " .. policy .. " partition at " .. world.size .. " ranks", function()
    local g = tide.graph.partition(d.src, d.dst, N, { policy = policy })
    local x, r = g:features(d.x), g:features(R)

    it("knows its halo and moves only halo rows", function()
      local want = halo_sizes(g.owner)
      assert.are.equal(want[world.rank + 1], g.nhalo)
      local sent = world:allreduce(tide.tensor({ g.send_index:numel(), g.nhalo }, "i64"))
      assert.are.equal(sent:get(1), sent:get(2))   -- rows sent = halo rows, over the ranks
      local y = g:propagate(x)
      assert.are.equal(g.send_index:numel(), g.moved.rows)
      assert.are.equal(g.send_index:numel() * F * 4, g.moved.bytes)
      assert.is_true(max_diff(g:gather(y), Ahat:matmul(d.x)) < 1e-5)
    end)

    it("matches the single-process GCN through nn.GCNConv", function()
      local c1, c2 = nn.GCNConv(F, HIDDEN), nn.GCNConv(HIDDEN, C)
      c1.weight:copy_(params.W1:t())
      c1.bias:copy_(params.b1)
      c2.weight:copy_(params.W2:t())
      c2.bias:copy_(params.b2)
      local relu = nn.ReLU()
      local h = relu:forward(c1:forward(x, g)):clone()
      local out = c2:forward(h, g)
      assert.is_true(max_diff(g:gather(out), ref_out) < 1e-5)
      local gh = c2:backward(h, r)
      local gx = c1:backward(x, relu:backward(c1.output, gh))
      local mine = { W1 = c1.lin.grad_weight:t(), b1 = c1.grad_bias,
        W2 = c2.lin.grad_weight:t(), b2 = c2.grad_bias }
      for _, name in ipairs { "W1", "b1", "W2", "b2" } do   -- one order on every rank
        local sum = world:allreduce(mine[name]:contiguous())
        assert.is_true(max_diff(sum, ref_grads[name]) < 1e-5, name)
      end
      -- the input gradient: rows of Â^T (...) W1^T, checked with the dense twin
      local ref_gx = ag.grad(function(p)
        return gcn(params, p.x, function(t) return Ahat:matmul(t) end, R)
      end)({ x = d.x }).x
      assert.is_true(max_diff(g:gather(gx), ref_gx) < 1e-5)
    end)

    it("matches it through tide.autograd and g:propagate", function()
      local grads, loss = ag.grad(function(p)
        return gcn(p, x, function(t) return g:propagate(t) end, r)
      end)(params)
      for _, name in ipairs { "W1", "b1", "W2", "b2" } do
        local sum = world:allreduce(grads[name]:contiguous())
        assert.is_true(max_diff(sum, ref_grads[name]) < 1e-5, name)
      end
      assert.is_true(math.abs(world:allreduce(loss) - ref_loss) < 1e-4)
    end)
  end)
end

describe("tide.graph errors", function()
  it("names the edge to a vertex out of range", function()
    local ok, e = pcall(tide.graph.partition, tide.tensor({ 1, 2, 3 }, "i64"),
      tide.tensor({ 2, 9, 1 }, "i64"), 4)
    assert.is_false(ok)
    assert.matches("graph.partition: edge 2 %(2 %-> 9%) names a vertex outside 1..4", e)
  end)
end)
