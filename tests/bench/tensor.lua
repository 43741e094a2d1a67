-- Tensor benchmark (issue 4): tide against its C twin (tests/bench/tensor.c, built beside tide
-- with the same flags and loaded into this process as the tensor_twin module), C and tide
-- calls alternating so that both see the same machine. Prints per line tide, C and tide / C:
--   gemm (sgemm, dgemm at n = 256, 1024, 2048; addmm_ into a preallocated C, matmul allocating
--   its result, and A given as a transposed view, which goes to gemm as CblasTrans, no copy):
--   GFLOP/s of the best call, as the peers measure it;
--   c = a + b and a:relu() on 16M f32 (a new result each call, as scripts write them) against
--   plain C loops writing into an existing array: GB/s of the median call;
--   the per-call cost of a + b on 16-element tensors from Lua, with NumPy's and PyTorch's.
-- Never asserts a time.   scripts/bench.sh tensor   (OPENBLAS_NUM_THREADS is honoured)
local tide = require "tide"

local build = os.getenv("TIDE_BUILD_DIR") or "build"
package.cpath = build .. "/bench/?.so;" .. package.cpath
local twin = require "tensor_twin"
local now = tide.now

local median = require("support.bench").median

-- Seconds of one tide call, timed around fn.
local function timed(fn)
  local t0 = now()
  fn()
  return now() - t0
end

-- Alternates C and tide calls: a warm-up of ~0.2 s, then pairs until at least `pairs` of them
-- and 0.5 s; returns the best (or median) seconds of each side.
local function alternate(c_call, tide_call, pairs, pick)
  local t_begin = now()
  while now() - t_begin < 0.2 do c_call() tide_call() end
  local cs, ts = {}, {}
  t_begin = now()
  while #cs < pairs or now() - t_begin < 0.5 do
    cs[#cs + 1] = c_call()
    ts[#ts + 1] = timed(tide_call)
  end
  if pick == "best" then
    return math.min(table.unpack(ts)), math.min(table.unpack(cs))
  end
  return median(ts), median(cs)
end

local rows = {}
local function report(name, tide_value, c_value, unit)
  rows[#rows + 1] = string.format("%-30s %9.2f %9.2f %7.3f  %s", name, tide_value, c_value,
    tide_value / c_value, unit)
end

for _, dt in ipairs { "f32", "f64" } do
  for _, n in ipairs { 256, 1024, 2048 } do
    local a = tide.rand({ n, n }, { dtype = dt, seed = 1 })
    local b = tide.rand({ n, n }, { dtype = dt, seed = 2 })
    local c = tide.empty({ n, n }, dt)
    local flops = 2 * n ^ 3
    local name = (dt == "f32" and "sgemm " or "dgemm ") .. n
    local c_gemm = function() return twin.gemm(n, dt == "f64") end
    local pairs = n <= 256 and 50 or 5
    local t, tc = alternate(c_gemm, function() c:addmm_(a, b, { beta = 0 }) end, pairs, "best")
    report(name .. " addmm_", flops / t / 1e9, flops / tc / 1e9, "GFLOP/s")
    t, tc = alternate(c_gemm, function() local _ = a:matmul(b) end, pairs, "best")
    report(name .. " matmul", flops / t / 1e9, flops / tc / 1e9, "GFLOP/s")
    local at = a:t():contiguous():t()      -- A stored transposed: a column-major view
    assert(not at:is_contiguous())
    t, tc = alternate(c_gemm, function() c:addmm_(at, b, { beta = 0 }) end, pairs, "best")
    report(name .. " transposed view", flops / t / 1e9, flops / tc / 1e9, "GFLOP/s")
  end
end

local N = twin.n_elem
local a = tide.rand({ N }, { seed = 3 }) - 0.5
local b = tide.rand({ N }, { seed = 4 })
local t, tc = alternate(twin.add, function() local _ = a + b end, 20, "median")
report("add 16M f32 (a + b)", 3 * N * 4 / t / 1e9, 3 * N * 4 / tc / 1e9, "GB/s")
t, tc = alternate(twin.relu, function() local _ = a:relu() end, 20, "median")
report("relu 16M f32 (a:relu())", 2 * N * 4 / t / 1e9, 2 * N * 4 / tc / 1e9, "GB/s")

-- Per-call cost of a small op from Lua (the loop's own cost included, as NumPy's figure does).
local x, y = tide.rand({ 16 }, { seed = 5 }), tide.rand({ 16 }, { seed = 6 })
local per_call = {}
for r = 1, 7 do
  local calls = 200000
  local t0 = now()
  for _ = 1, calls do local _ = x + y end
  per_call[r] = (now() - t0) / calls * 1e6
end

print(("OpenBLAS threads: %s"):format(os.getenv("OPENBLAS_NUM_THREADS") or "OpenBLAS's default"))
print(("%-30s %9s %9s %7s"):format("", "tide", "C", "tide/C"))
for _, line in ipairs(rows) do print(line) end
print(("%-30s %9.3f µs per call (median of 7; NumPy 0.28 µs, PyTorch 0.76 µs in ../shared/peers)")
  :format("a + b, 16 f32 elements", median(per_call)))
