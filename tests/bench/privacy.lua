-- Benchmark of issue 20 (DP-SGD): a training step of the main job's MLP (784-256-128-10, f32,
-- batch 128) with tide.privacy's per-sample clipping and noise, against the same step without
-- (measured in the same run, batch by batch in turn); goal: DP <= 2x. Then a small CNN's step
-- (batch 64, 28x28): non-private, DP-SGD with the Conv2d fast path (per-sample gradients by
-- im2col products from one batched backward) and DP-SGD one sample at a time (the path of any
-- other module), in turn. Then secure_sum of TIDE_BENCH_SECURE_N f32 values (1M) over
-- TIDE_BENCH_SECURE_CLIENTS clients (100) simulated in this process against a plain sum of the
-- same tensors, and the same over 2 ranks (tests/bench/privacy_secure.lua, unless
-- TIDE_BENCH_MPI=0) against an allreduce of plain sums. Then, unless
-- TIDE_BENCH_FULL=0, acceptance 2 in full: examples/train_mnist.lua on 2 ranks for 5 epochs,
-- with --dp-epsilon 3 and without, and their test accuracies.
--
--   scripts/bench.sh privacy            (TIDE_BENCH_STEPS=200, TIDE_BENCH_REPEATS=5)
-- Times are printed, never asserted.
local tide = require "tide"
local bench = require "support.bench"
local nn, optim, data, privacy = tide.nn, tide.optim, tide.data, tide.privacy

local STEPS = math.tointeger(tonumber(os.getenv("TIDE_BENCH_STEPS") or "200")) or 200
local REPEATS = math.tointeger(tonumber(os.getenv("TIDE_BENCH_REPEATS") or "5")) or 5
local BATCH = 128

local function mlp()
  tide.manual_seed(1)
  return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
    nn.Linear(128, 10))
end

local X = tide.empty({ BATCH * STEPS, 784 }):uniform_(0, 1)
local Y = tide.randint(1, 11, { BATCH * STEPS })
local set = { x = X, y = Y }
local crit = nn.CrossEntropyLoss()
local plain = mlp()
local plain_opt = optim.SGD(plain, { lr = 0.1, momentum = 0.9 })
local inner = mlp()
local pm, po = privacy.make_private(inner, optim.SGD(inner, { lr = 0.1, momentum = 0.9 }),
  data.DataLoader(set, { batch_size = BATCH }),
  { noise = 1, clip = 1, delta = 1e-5, comm = { rank = 0, size = 1 } })
local NO_INPUT_GRAD = { input_grad = false }

local function step(model, opt, x, y)
  model:zero_grad()
  local out = model:forward(x)
  crit:forward(out, y)
  model:backward(x, crit:backward(out, y), NO_INPUT_GRAD)
  opt:step()
end

local clock = tide.now
local function round()
  local a, b = 0, 0
  for s = 1, STEPS do
    local x, y = X:narrow(1, (s - 1) * BATCH + 1, BATCH), Y:narrow(1, (s - 1) * BATCH + 1, BATCH)
    local t0 = clock()
    step(plain, plain_opt, x, y)
    local t1 = clock()
    step(pm, po, x, y)
    a, b = a + (t1 - t0), b + (clock() - t1)
  end
  return a / STEPS, b / STEPS
end

print("CPU: " .. bench.cpu_name())
round()                                           -- warm-up
local tp, td = {}, {}
for r = 1, REPEATS do tp[r], td[r] = round() end
local mp, md = bench.median(tp), bench.median(td)
print(("MLP step (batch %d, f32), median of %d rounds of %d steps"):format(BATCH, REPEATS, STEPS))
print(("  non-private SGD step        %8.3f ms"):format(mp * 1e3))
print(("  DP-SGD step (clip + noise)  %8.3f ms   ratio %.2fx (goal <= 2x)"):format(md * 1e3,
  md / mp))

-- ------------------------------------------------------------------ a CNN's DP-SGD step
local CNN_BATCH, CNN_STEPS = 64, math.max(1, STEPS // 10)
local function cnn()
  tide.manual_seed(2)
  return nn.Sequential(nn.Conv2d(1, 8, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(16 * 7 * 7, 10))
end
local CX = tide.empty({ CNN_BATCH * CNN_STEPS, 1, 28, 28 }):uniform_(0, 1)
local CY = tide.randint(1, 11, { CNN_BATCH * CNN_STEPS })
local function private_cnn()
  local m = cnn()
  local pm, po = privacy.make_private(m, optim.SGD(m, { lr = 0.05 }),
    data.DataLoader({ x = CX, y = CY }, { batch_size = CNN_BATCH }),
    { noise = 1, clip = 1, delta = 1e-5, comm = { rank = 0, size = 1 } })
  return pm, po
end
local cnn_plain = cnn()
local cnn_plain_opt = optim.SGD(cnn_plain, { lr = 0.05 })
local fast_m, fast_o = private_cnn()
local loop_m, loop_o = private_cnn()
-- the one-at-a-time path, as a model with any other module gets it
require("tide.privacy.grad_sample").unrecord(loop_m.leaves)
loop_m.path = "loop"

local function cnn_round()
  local t = { 0, 0, 0 }
  local runs = { { cnn_plain, cnn_plain_opt }, { fast_m, fast_o }, { loop_m, loop_o } }
  for s = 1, CNN_STEPS do
    local x = CX:narrow(1, (s - 1) * CNN_BATCH + 1, CNN_BATCH)
    local y = CY:narrow(1, (s - 1) * CNN_BATCH + 1, CNN_BATCH)
    for i, r in ipairs(runs) do
      local t0 = clock()
      step(r[1], r[2], x, y)
      t[i] = t[i] + (clock() - t0)
    end
  end
  return t[1] / CNN_STEPS, t[2] / CNN_STEPS, t[3] / CNN_STEPS
end
cnn_round()                                       -- warm-up
local cp, cf, cl = {}, {}, {}
for r = 1, REPEATS do cp[r], cf[r], cl[r] = cnn_round() end
local mcp, mcf, mcl = bench.median(cp), bench.median(cf), bench.median(cl)
print(("CNN step (conv 1-8-16 3x3, batch %d, 28x28, f32), median of %d rounds of %d steps")
  :format(CNN_BATCH, REPEATS, CNN_STEPS))
print(("  non-private SGD step        %8.3f ms"):format(mcp * 1e3))
print(("  DP-SGD, Conv2d fast path    %8.3f ms   ratio %.2fx to non-private"):format(mcf * 1e3,
  mcf / mcp))
print(("  DP-SGD, one sample a time   %8.3f ms   ratio %.2fx to non-private, fast path %.1fx "
  .. "faster"):format(mcl * 1e3, mcl / mcp, mcl / mcf))

-- ------------------------------------------------------------------ secure_sum
local SN = math.tointeger(tonumber(os.getenv("TIDE_BENCH_SECURE_N") or "1000000")) or 1000000
local SC = math.tointeger(tonumber(os.getenv("TIDE_BENCH_SECURE_CLIENTS") or "100")) or 100
local xs = {}
for id = 1, SC do xs[id] = tide.empty({ SN }):uniform_(-1, 1) end
local t0 = clock()
local plain = tide.zeros({ SN }, "f64")
for id = 1, SC do plain:add_(xs[id]) end
local t_plain = clock() - t0
t0 = clock()
local secure = tide.federated.secure_sum(xs, { comm = { rank = 0, size = 1 }, clients = SC })
local t_secure = clock() - t0
print(("secure_sum of %d f32 over %d clients (one process; every pair's masks: %d streams)")
  :format(SN, SC, SC * (SC - 1)))
print(("  plain sum                   %8.3f s"):format(t_plain))
print(("  secure_sum                  %8.3f s   ratio %.0fx, max error %.2g (bound %.2g)")
  :format(t_secure, t_secure / t_plain, (secure - plain):abs():max(), SC / 2 ^ 17))

local exe = (os.getenv("TIDE_BUILD_DIR") or "build") .. "/tide"
local source = os.getenv("TIDE_SOURCE_DIR") or "."
local proc = require "support.proc"
xs, secure, plain = nil, nil, nil
collectgarbage()
if os.getenv("TIDE_BENCH_MPI") ~= "0" then
  local out, code = proc.run(("%s run -n 2 %s"):format(proc.quote(exe),
    proc.quote(source .. "/tests/bench/privacy_secure.lua")))
  io.write(code == 0 and out or ("  (the 2-rank run failed, exit " .. tostring(code) .. ")\n" ..
    out))
end

if os.getenv("TIDE_BENCH_FULL") == "0" then return end
local script = source .. "/examples/train_mnist.lua"
print("examples/train_mnist.lua on 2 ranks, 5 epochs, Fashion-MNIST (acceptance 2: DP >= 80%)")
for _, flags in ipairs { "--dp-epsilon 3", "" } do
  local out, code = proc.run(("%s run -n 2 %s --epochs 5 --quiet --metrics '' %s"):format(
    proc.quote(exe), proc.quote(script), flags))
  local acc = out:match("final test accuracy ([%d.]+)%%")
  local eps = out:match("epsilon ([%d.]+)\n[^\n]*final")
  print(("  %-16s test accuracy %s%%%s"):format(flags == "" and "non-private" or flags,
    acc or ("? (exit " .. tostring(code) .. ")"), eps and ("  epsilon " .. eps) or ""))
end
