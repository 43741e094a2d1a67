-- Benchmark of issue 17: an epoch of the main job's MLP (784-256-128-10, batch 128, f32) with
-- gradients from tide.autograd against the same epoch with nn's hand-written backward (the
-- twin, measured in the same run); goal: autograd <= 1.15x the time. Then the cost of a small
-- op (x:add(y) on 16 elements) outside a df call, inside one on untracked tensors (hooks
-- installed), and inside one on a tracked tensor (recorded).
--
--   scripts/bench.sh autograd          (TIDE_BENCH_SAMPLES=60000, TIDE_BENCH_REPEATS=3)
-- Synthetic data of Fashion-MNIST's shape; times are printed, never asserted.
local tide = require "tide"
local nn = require "tide.nn"
local ag = require "tide.autograd"

local SAMPLES = math.tointeger(tonumber(os.getenv("TIDE_BENCH_SAMPLES") or "60000")) or 60000
local REPEATS = math.tointeger(tonumber(os.getenv("TIDE_BENCH_REPEATS") or "3")) or 3
local BATCH, LR = 128, 0.01

local function median(xs)
  local s = { table.unpack(xs) }
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local clock = tide.now

tide.manual_seed(1)
local X = tide.empty({ SAMPLES, 784 }, "f32"):uniform_(0, 1)
local Y = tide.randint(1, 11, { SAMPLES })

local model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
  nn.Linear(128, 10))
local crit = nn.CrossEntropyLoss()
local params = {}
for i, k in ipairs({ 1, 3, 5 }) do
  params["W" .. i] = model.modules[k].weight:clone()
  params["b" .. i] = model.modules[k].bias:clone()
end

local function loss_fn(p, x, y)
  local h = ag.addmm(p.b1, x, p.W1:t()):relu()
  h = ag.addmm(p.b2, h, p.W2:t()):relu()
  return ag.cross_entropy(ag.addmm(p.b3, h, p.W3:t()), y)
end
local df = ag.grad(loss_fn)

local function nn_step(x, y)
  crit:forward(model:forward(x), y)
  model:zero_grad()
  model:backward(x, crit:backward(model.output, y), { input_grad = false })
  local ps, gs = model:parameters()
  for i = 1, #ps do ps[i]:add_(gs[i] * -LR) end
end

local NAMES = { "W1", "b1", "W2", "b2", "W3", "b3" }
local function ag_step(x, y)
  local grads = df(params, x, y)
  for _, k in ipairs(NAMES) do params[k]:add_(grads[k] * -LR) end
end

-- The two steps alternate batch by batch, so that load from other processes on the machine
-- falls on both alike.
local function epoch()
  local a, b = 0, 0
  for s = 1, SAMPLES - BATCH + 1, BATCH do
    local x, y = X:narrow(1, s, BATCH), Y:narrow(1, s, BATCH)
    local t0 = clock()
    nn_step(x, y)
    local t1 = clock()
    ag_step(x, y)
    a, b = a + (t1 - t0), b + (clock() - t1)
  end
  return a, b
end

local t_nn, t_ag = {}, {}
epoch()                                                   -- warm-up: buffers, BLAS threads
for r = 1, REPEATS do t_nn[r], t_ag[r] = epoch() end
local m_nn, m_ag = median(t_nn), median(t_ag)
print(("CPU: %s"):format(require("support.bench").cpu()))
print(("MLP epoch (%d samples, batch %d, f32), median of %d"):format(SAMPLES, BATCH, REPEATS))
print(("  nn hand-written backward   %8.3f s"):format(m_nn))
print(("  tide.autograd              %8.3f s   ratio %.3fx (goal <= 1.15x)"):format(m_ag,
  m_ag / m_nn))

-- ------------------------------------------------------------------ a small op's cost

local N = 200000
local a, b = tide.ones({ 16 }), tide.ones({ 16 })
local function loop(x, y)
  local t0 = clock()
  for _ = 1, N do x:add(y) end
  return (clock() - t0) / N * 1e9
end
local outside = {}
for r = 1, 3 do outside[r] = loop(a, b) end
local inside, tracked = {}, {}
for r = 1, 3 do
  ag.grad(function(p)
    inside[r] = loop(a, b)
    return p:sum()
  end)(tide.ones({ 1 }))
  ag.grad(function(p)
    local t0 = clock()
    for _ = 1, N // 10 do p:add(b) end
    tracked[r] = (clock() - t0) / (N // 10) * 1e9
    return p:sum()
  end)(tide.ones({ 16 }))
end
print("x:add(y) on 16 f32 elements, ns per call (median of 3)")
print(("  outside grad               %8.1f"):format(median(outside)))
print(("  inside grad, untracked     %8.1f   ratio %.2fx"):format(median(inside),
  median(inside) / median(outside)))
print(("  inside grad, recorded      %8.1f   ratio %.2fx"):format(median(tracked),
  median(tracked) / median(outside)))
