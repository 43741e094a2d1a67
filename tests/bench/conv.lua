-- Benchmark of issue 17: nn.Conv2d forward + backward (f32, input and weight gradients) in
-- GFLOP/s, against its C twin (tests/bench/conv.c: im2col + cblas_sgemm by hand, one sample at
-- a time) on the same shapes: the two layers of examples/train_mnist.lua's CNN at 64 samples
-- (a rank's half of the batch of 128) and ResNet-style 3x3 blocks. Goal: tide / C >= 0.95.
-- Each shape runs with the kernel tide picks (auto) and, forced, with each of its two kernels:
-- im2col + GEMM over chunks of samples, and the direct kernel (stride 1 only). The rule in
-- core/nn/conv.c (direct when an output has few taps) comes from these columns.
-- The FLOP count is 3 GEMMs of 2 N O OH OW C k^2 each (forward, dW, dX).
--
--   OPENBLAS_NUM_THREADS=1 scripts/bench.sh conv     (TIDE_BENCH_REPS=10 by default; the twin
--   runs with 1 BLAS thread, so give tide one too)
-- Both sides time CPU seconds of their process (os.clock, CLOCK_PROCESS_CPUTIME_ID), which other
-- jobs on a shared machine do not inflate as they inflate wall time; with 1 BLAS thread that is
-- the computation's time. Times are printed, never asserted.
local tide = require "tide"
local nn = require "tide.nn"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local reps = math.tointeger(tonumber(os.getenv("TIDE_BENCH_REPS") or "10")) or 10
local SCRUB = require("support.proc").clean_env

local shapes = {       -- N, C, H, W, O, k, stride, padding
  { 64, 1, 28, 28, 32, 3, 1, 0 },
  { 64, 32, 13, 13, 64, 3, 1, 0 },
  { 64, 8, 28, 28, 16, 3, 1, 1 },
  { 16, 64, 32, 32, 64, 3, 1, 1 },
  { 16, 64, 32, 32, 128, 3, 2, 1 },
}

local bench = require "support.bench"
local median = bench.median

-- The median seconds of forward + backward of m on x with the kernel algo.
local function time_conv(m, x, gy, algo)
  m.p.algo = algo
  local times = {}
  for _ = 1, reps do
    local t0 = os.clock()
    m:forward(x)
    m:backward(x, gy)
    times[#times + 1] = os.clock() - t0
  end
  return median(times)
end

print("CPU: " .. bench.cpu_name())
print(("%-26s %10s %10s %10s %10s %8s"):format("shape (N C H W -> O k s p)", "auto GF/s",
  "im2col", "direct", "C GF/s", "auto/C"))
for _, s in ipairs(shapes) do
  local N, C, H, W, O, k, st, p = table.unpack(s)
  local m = nn.Conv2d(C, O, k, { stride = st, padding = p, bias = false })
  local x = tide.empty({ N, C, H, W }):uniform_(-0.5, 0.5)
  local y = m:forward(x)
  local gy = tide.empty(y:shape()):uniform_(0, 1)
  local OH, OW = y:size(3), y:size(4)
  local flops = 3 * 2 * N * O * OH * OW * C * k * k
  local im2col_s = time_conv(m, x, gy, "im2col")
  local direct_s = st == 1 and time_conv(m, x, gy, "direct") or nil
  local tide_s = time_conv(m, x, gy, "auto")
  local cmd = SCRUB .. ("OPENBLAS_NUM_THREADS=1 %q %d %d %d %d %d %d %d %d %d"):format(
    build .. "/bench/conv", N, C, H, W, O, k, st, p, reps)
  local out = io.popen(cmd):read("a")
  local c_s = tonumber(out:match('"seconds": ([%d.e+-]+)'))
  local label = ("%d %d %d %d -> %d %d %d %d"):format(N, C, H, W, O, k, st, p)
  local direct = direct_s and ("%10.2f"):format(flops / direct_s / 1e9) or ("%10s"):format("-")
  if c_s then
    print(("%-26s %10.2f %10.2f %s %10.2f %8.3f"):format(label, flops / tide_s / 1e9,
      flops / im2col_s / 1e9, direct, flops / c_s / 1e9, c_s / tide_s))
  else
    print(("%-26s %10.2f %10.2f %s  (twin failed: %s)"):format(label, flops / tide_s / 1e9,
      flops / im2col_s / 1e9, direct, out))
  end
end
