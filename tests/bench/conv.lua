-- Benchmark of issue 17: nn.Conv2d forward + backward (f32, input and weight gradients) in
-- GFLOP/s, against its C twin (tests/bench/conv.c: im2col + cblas_sgemm by hand) on the same
-- shapes: the layers of a small MNIST CNN and a ResNet-style 3x3 block. Goal: tide / C >= 0.95.
-- The FLOP count is 3 GEMMs of 2 N O OH OW C k^2 each (forward, dW, dX).
--
--   OPENBLAS_NUM_THREADS=1 scripts/bench.sh conv     (TIDE_BENCH_REPS=10 by default; the twin
--   runs with 1 BLAS thread, so give tide one too)
-- Times are printed, never asserted.
local tide = require "tide"
local nn = require "tide.nn"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")
local reps = math.tointeger(tonumber(os.getenv("TIDE_BENCH_REPS") or "10")) or 10
local SCRUB = require("support.proc").clean_env

local shapes = {       -- N, C, H, W, O, k, stride, padding
  { 64, 1, 28, 28, 32, 3, 1, 1 },
  { 64, 32, 14, 14, 64, 3, 1, 1 },
  { 16, 64, 32, 32, 64, 3, 1, 1 },
  { 16, 64, 32, 32, 128, 3, 2, 1 },
}

local median = require("support.bench").median

print(("%-26s %10s %10s %8s"):format("shape (N C H W -> O k s p)", "tide GF/s", "C GF/s",
  "tide/C"))
for _, s in ipairs(shapes) do
  local N, C, H, W, O, k, st, p = table.unpack(s)
  local m = nn.Conv2d(C, O, k, { stride = st, padding = p, bias = false })
  local x = tide.empty({ N, C, H, W }):uniform_(-0.5, 0.5)
  local y = m:forward(x)
  local gy = tide.empty(y:shape()):uniform_(0, 1)
  local times = {}
  for _ = 1, reps do
    local t0 = tide.now()
    m:forward(x)
    m:backward(x, gy)
    times[#times + 1] = tide.now() - t0
  end
  local OH, OW = y:size(3), y:size(4)
  local flops = 3 * 2 * N * O * OH * OW * C * k * k
  local tide_s = median(times)
  local cmd = SCRUB .. ("OPENBLAS_NUM_THREADS=1 %q %d %d %d %d %d %d %d %d %d"):format(
    build .. "/bench/conv", N, C, H, W, O, k, st, p, reps)
  local out = io.popen(cmd):read("a")
  local c_s = tonumber(out:match('"seconds": ([%d.e+-]+)'))
  local label = ("%d %d %d %d -> %d %d %d %d"):format(N, C, H, W, O, k, st, p)
  if c_s then
    print(("%-26s %10.2f %10.2f %8.3f"):format(label, flops / tide_s / 1e9, flops / c_s / 1e9,
      c_s / tide_s))
  else
    print(("%-26s %10.2f %10s  (twin failed: %s)"):format(label, flops / tide_s / 1e9, "-", out))
  end
end
