-- Benchmark of issue 20 (compact inference): the main job's MLP (784-256-128-10) at batch
-- 256, f32 against compress.quantize's int8 on every kernel path this CPU runs (medians of
-- rounds taken in turn, in the same run), and PyTorch's dynamic int8 quantization of the same
-- network (tests/bench/compress_torch.py, /usr/bin/python3, one thread) when torch is there.
-- Goals: int8 >= 1.5x faster than f32 tide, and no slower than PyTorch's int8.
--
--   scripts/bench.sh compress          (TIDE_BENCH_REPEATS=7, TIDE_BENCH_REPS=50)
-- Times are printed, never asserted.
local tide = require "tide"
local bench = require "support.bench"
local nn, compress = tide.nn, tide.compress

local REPEATS = math.tointeger(tonumber(os.getenv("TIDE_BENCH_REPEATS") or "7")) or 7
local REPS = math.tointeger(tonumber(os.getenv("TIDE_BENCH_REPS") or "50")) or 50

tide.manual_seed(1)
local model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
  nn.Linear(128, 10))
model:evaluate()
local x = tide.empty({ 256, 784 }):uniform_(0, 1)
local paths, best = compress.paths()
local variants = { { "f32 (BLAS sgemm)", model } }
for _, p in ipairs(paths) do
  variants[#variants + 1] = { "int8 " .. p .. (p == best and " (auto)" or ""),
    compress.quantize(model, { path = p }) }
end

local clock = tide.now
local times = {}
for i = 1, #variants do times[i] = {} end
for r = 0, REPEATS do                    -- round 0 warms up
  for i, v in ipairs(variants) do
    local t0 = clock()
    for _ = 1, REPS do v[2]:forward(x) end
    if r > 0 then times[i][r] = (clock() - t0) / REPS * 1e3 end
  end
end

print("CPU: " .. bench.cpu_name())
print(("MLP forward at batch 256, ms, median of %d rounds of %d"):format(REPEATS, REPS))
local f32 = bench.median(times[1])
for i, v in ipairs(variants) do
  local m = bench.median(times[i])
  print(("  %-28s %8.3f ms   f32 / this %.2fx"):format(v[1], m, f32 / m))
end

local script = (os.getenv("TIDE_SOURCE_DIR") or ".") .. "/tests/bench/compress_torch.py"
local p = io.popen(("OMP_NUM_THREADS=1 /usr/bin/python3 %q %d %d 2>&1"):format(script, REPEATS,
  REPS))
local out = p and p:read("a") or ""
if p then p:close() end
local tf32, tint8 = out:match("f32 ([%d.]+)"), out:match("int8 ([%d.]+)")
if tf32 and tint8 then
  local ours = bench.median(times[#variants])
  print(("  PyTorch f32 (1 thread)       %8.3f ms"):format(tonumber(tf32)))
  print(("  PyTorch dynamic int8         %8.3f ms   PyTorch int8 / tide int8 %.2fx"):format(
    tonumber(tint8), tonumber(tint8) / ours))
else
  print("  PyTorch: not measured (" .. (out:match("absent") and "python3-torch is absent"
    or "compress_torch.py failed: " .. out:sub(1, 200)) .. ")")
end
