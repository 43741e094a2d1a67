-- Benchmark of issue 18: the median epoch (forward, backward, gradient allreduce, Adam step)
-- of examples/gcn.lua's 2-layer GCN on a 200,000-vertex SBM graph (16 features, 16 hidden,
-- 4 classes, about 2.4M directed edges) at 1 and 2 ranks, hash and edge-cut partitions,
-- beside PyTorch's sparse GCN on the same graph (tests/bench/gcn_torch.py --bench: the same
-- generator, torch.sparse.mm, 1 process, 2 threads; /usr/bin/python3 with python3-torch,
-- skipped, and said so, when torch is absent), all in this one session. Never asserts a time.
--
--   scripts/bench.sh gcn            TIDE_BENCH_GCN="n epochs" to change the sizes
local bench = require "support.bench"
local proc = require "support.proc"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")

local N, EPOCHS = bench.sizes("TIDE_BENCH_GCN", "200000 7")

local function tide_epoch(np, policy)
  local out = proc.run(("%s run -n %d %s/examples/gcn.lua --n %d --features 16 --epochs %d"
    .. " --policy %s"):format(build .. "/tide", np, root, N, EPOCHS, policy))
  local s = tonumber(out:match("median epoch ([%d.]+) s"))
  if not s then io.stderr:write("gcn bench: tide failed:\n" .. out .. "\n") end
  return s, out:match("(%d+ edges cut %([%d.]+%%%))")
end

local has_torch = bench.has_python("torch")
print(("CPU: %s; SBM graph of %d vertices, median of %d epochs; torch %s"):format(
  bench.cpu_name(), N, EPOCHS, has_torch and "found" or
  "NOT found (/usr/bin/python3 -c 'import torch' failed): no PyTorch line"))
local torch_s
if has_torch then
  local rec, out = bench.json_of(("/usr/bin/python3 %s/tests/bench/gcn_torch.py --bench %d")
    :format(root, N))
  if rec then
    torch_s = rec.epoch_median_s
    print(("PyTorch %s sparse GCN, 1 process, %d threads: %.4f s per epoch (%d edges)"):format(
      rec.torch, rec.threads, torch_s, rec.edges))
  else
    io.stderr:write("gcn bench: the PyTorch twin failed:\n" .. tostring(out) .. "\n")
  end
end
print(("%-6s %-8s %12s %12s  %s"):format("ranks", "policy", "epoch s", "torch/tide",
  "edges cut"))
for _, run in ipairs { { 1, "hash" }, { 2, "hash" }, { 2, "edgecut" } } do
  local s, cut = tide_epoch(run[1], run[2])
  print(("%-6d %-8s %12s %12s  %s"):format(run[1], run[2], s and ("%.4f"):format(s) or "-",
    (s and torch_s) and ("%.2f"):format(torch_s / s) or "-", cut or "-"))
end
