-- Benchmark of issue 20 (compact inference): the main job's MLP (784-256-128-10) at batch
-- 256, f32 against compress.quantize's int8 on every kernel path this CPU runs (medians of
-- rounds taken in turn, in the same run), and PyTorch's dynamic int8 quantization of the same
-- network (tests/bench/compress_torch.py, /usr/bin/python3, one thread) when torch is there.
-- Goals: int8 >= 1.5x faster than f32 tide, and no slower than PyTorch's int8.
--
-- Everything runs on one thread, like with like: the int8 kernel and PyTorch use one, and
-- OpenBLAS (f32) is held to one by running this script again with OPENBLAS_NUM_THREADS=1
-- when it is not set so. PyTorch runs half its rounds before tide's and half after, so that
-- a change in the machine's load during the run weighs on both sides alike.
--
--   scripts/bench.sh compress          (TIDE_BENCH_REPEATS=7, TIDE_BENCH_REPS=50)
-- Times are printed, never asserted.
if os.getenv("OPENBLAS_NUM_THREADS") ~= "1" then   -- OpenBLAS reads it once, at load
  local again = io.popen(("OPENBLAS_NUM_THREADS=1 lua5.4 %q"):format(arg[0]))
  io.write(again:read("a"))
  os.exit(again:close() and 0 or 1)
end

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

-- PyTorch's medians (f32, int8) over `rounds` rounds; nil and why when it cannot run
local function torch_peer(rounds)
  local script = (os.getenv("TIDE_SOURCE_DIR") or ".") .. "/tests/bench/compress_torch.py"
  local p = io.popen(("OMP_NUM_THREADS=1 /usr/bin/python3 %q %d %d 2>&1"):format(script, rounds,
    REPS))
  local out = p and p:read("a") or ""
  if p then p:close() end
  local tf32, tint8 = out:match("f32 ([%d.]+)"), out:match("int8 ([%d.]+)")
  if tf32 and tint8 then return { tonumber(tf32), tonumber(tint8) } end
  return nil, out:match("absent") and "python3-torch is absent"
    or "compress_torch.py failed: " .. out:sub(1, 200)
end

local half = (REPEATS + 1) // 2
local torch_before, torch_why = torch_peer(half)

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

local torch_after = torch_before and torch_peer(half)

print("CPU: " .. bench.cpu_name())
print(("MLP forward at batch 256, one thread, ms, median of %d rounds of %d"):format(REPEATS, REPS))
local f32 = bench.median(times[1])
for i, v in ipairs(variants) do
  local m = bench.median(times[i])
  print(("  %-28s %8.3f ms   f32 / this %.2fx"):format(v[1], m, f32 / m))
end

if torch_before and torch_after then
  local ours = bench.median(times[#variants])
  local tf32 = (torch_before[1] + torch_after[1]) / 2
  local tint8 = (torch_before[2] + torch_after[2]) / 2
  print(("  PyTorch f32 (1 thread)       %8.3f ms   f32 / this %.2fx"):format(tf32, f32 / tf32))
  print(("  PyTorch dynamic int8         %8.3f ms   f32 / this %.2fx   PyTorch int8 / tide int8 "
    .. "%.2fx"):format(tint8, f32 / tint8, tint8 / ours))
  print(("  (PyTorch: the mean of its medians before and after tide's rounds: int8 %.3f, %.3f ms)")
    :format(torch_before[2], torch_after[2]))
else
  print("  PyTorch: not measured (" .. (torch_why or "its second run failed") .. ")")
end
