-- Tensor benchmark: tide against its C twin (tests/bench/tensor.c, built beside tide with the
-- same flags) in one run, and the per-call cost of a small op from Lua.
--   lua5.4 tests/bench/tensor.lua            (scripts/bench.sh tensor sets the paths)
-- Prints medians (elementwise) or best times (gemm, as the peers measure it) and tide / C.
-- Ratios are the point: absolute numbers move with the machine and its load.
local tide = require "tide"

local build = os.getenv("TIDE_BUILD_DIR") or "build"
local now = tide.now

local function median(xs)
  table.sort(xs)
  local n = #xs
  return n % 2 == 1 and xs[(n + 1) // 2] or (xs[n // 2] + xs[n // 2 + 1]) / 2
end

-- The C twin's numbers, by name.
local function run_twin()
  local p = assert(io.popen(build .. "/bench/tensor"))
  local out = {}
  for line in p:lines() do
    local name, value = line:match("^(%S+) ([%d.]+)")
    if name then out[name] = tonumber(value) end
  end
  assert(p:close(), "the C twin " .. build .. "/bench/tensor failed")
  return out
end

-- Best seconds of fn after a time-based warm-up (the method of ../shared/peers/gemm_c.c).
local function best_time(fn)
  local start = now()
  while now() - start < 0.2 do fn() end
  local best, calls, t_begin = math.huge, 0, now()
  while calls < 3 or now() - t_begin < 0.3 do
    local t0 = now()
    fn()
    best = math.min(best, now() - t0)
    calls = calls + 1
  end
  return best
end

local function median_time(fn, reps)
  fn()
  local ts = {}
  for i = 1, reps do
    local t0 = now()
    fn()
    ts[i] = now() - t0
  end
  return median(ts)
end

local rows = {}
local function report(name, tide_value, c_value, unit)
  rows[#rows + 1] = string.format("%-28s %10.2f %10.2f %8.3f  %s", name, tide_value, c_value,
    tide_value / c_value, unit)
end

local twin = run_twin()

for _, dt in ipairs { "f32", "f64" } do
  for _, n in ipairs { 256, 1024, 2048 } do
    local a = tide.rand({ n, n }, { dtype = dt, seed = 1 })
    local b = tide.rand({ n, n }, { dtype = dt, seed = 2 })
    local c = tide.empty({ n, n }, dt)
    local flops = 2 * n ^ 3
    local name = (dt == "f32" and "sgemm_" or "dgemm_") .. n
    local t = best_time(function() c:addmm_(a, b, { beta = 0 }) end)
    report(name .. " addmm_", flops / t / 1e9, twin[name], "GFLOP/s")
    t = best_time(function() local _ = a:matmul(b) end)
    report(name .. " matmul", flops / t / 1e9, twin[name], "GFLOP/s")
    if n >= 1024 then
      -- A stored transposed: a view with column-major strides goes to gemm as CblasTrans.
      local at = a:t():contiguous():t()
      assert(not at:is_contiguous())
      t = best_time(function() c:addmm_(at, b, { beta = 0 }) end)
      report(name .. " transposed view", flops / t / 1e9, twin[name], "GFLOP/s")
    end
  end
end

local N = 16 * 1024 * 1024
local a = tide.rand({ N }, { seed = 3 }) - 0.5
local b = tide.rand({ N }, { seed = 4 })
local t = median_time(function() local _ = a + b end, 30)
report("add_16M (c = a + b)", 3 * N * 4 / t / 1e9, twin.add_16M, "GB/s")
local c = tide.empty { N }
t = median_time(function() c:copy_(a):add_(b) end, 30)
report("add_16M (c:copy_(a):add_(b))", 5 * N * 4 / t / 1e9 * 3 / 5, twin.add_16M, "GB/s (3 arrays)")
t = median_time(function() local _ = a:relu() end, 30)
report("relu_16M (a:relu())", 2 * N * 4 / t / 1e9, twin.relu_16M, "GB/s")

-- Per-call cost of a small op from Lua, against NumPy's 0.28 µs and PyTorch's 0.76 µs
-- measured on the peers' machine (../shared/peers/results.jsonl, smallop_py).
local x, y = tide.rand({ 16 }, { seed = 5 }), tide.rand({ 16 }, { seed = 6 })
local per_call = {}
for r = 1, 7 do
  local calls = 200000
  local t0 = now()
  for _ = 1, calls do local _ = x + y end
  per_call[r] = (now() - t0) / calls * 1e6
end
local small = median(per_call)

print(string.format("OpenBLAS threads: %s", os.getenv("OPENBLAS_NUM_THREADS") or "default"))
print(string.format("%-28s %10s %10s %8s", "", "tide", "C", "tide/C"))
for _, line in ipairs(rows) do print(line) end
print(string.format("%-28s %10.3f µs per call (NumPy 0.28, PyTorch 0.76 on the peers' machine)",
  "a + b, 16 f32 elements", small))
