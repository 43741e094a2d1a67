-- Benchmark of issue 18: GFLOP/s of tide.sparse's S:matmul(X) (CSR times dense, one thread)
-- on an n x n matrix with `per_row` random entries per row, X n x k, at f32 and f64 and a
-- few k; beside its C twin (tests/bench/sparse.c: the textbook CSR row loop at -O3, on a
-- matrix of the same size and structure) and scipy's csr_matrix @ dense on the very same
-- matrix (tests/bench/sparse_scipy.py, /usr/bin/python3 with python3-scipy; skipped, and
-- said so, when scipy is absent), all run in this one session. Medians of several rounds;
-- 2 * nnz * k flops per product. Never asserts a time.
--
--   scripts/bench.sh sparse         TIDE_BENCH_SPARSE="n per_row rounds" to change the sizes
local tide = require "tide"
local bench = require "support.bench"

local root = os.getenv("TIDE_SOURCE_DIR") or "."
local build = os.getenv("TIDE_BUILD_DIR") or (root .. "/build")

local N, PER_ROW, ROUNDS = bench.sizes("TIDE_BENCH_SPARSE", "200000 10 7")

local has_scipy = bench.has_python("scipy", "numpy")
print(("CPU: %s; n = %d, %d entries per row, median of %d rounds; scipy %s"):format(
  bench.cpu_name(), N, PER_ROW, ROUNDS, has_scipy and "found" or
  "NOT found (/usr/bin/python3 -c 'import scipy' failed): no scipy column"))
print(("%-5s %4s %10s %10s %10s %9s %10s %9s"):format("dtype", "k", "nnz", "tide GF/s",
  "C GF/s", "tide/C", "scipy GF/s", "tide/scipy"))

local rows = tide.arange(1, N + 1, "i64"):view({ N, 1 }):expand({ N, PER_ROW }):reshape({ -1 })
local cols = tide.randint(1, N + 1, { N * PER_ROW }, { seed = 1 })
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

for _, dtype in ipairs { "f32", "f64" } do
  local vals = tide.rand({ N * PER_ROW }, { dtype = dtype, seed = 2 }) * 2 - 1
  local S = tide.sparse.coo(rows, cols, vals, { N, N })
  for _, k in ipairs { 16, 64 } do
    local X = tide.rand({ N, k }, { dtype = dtype, seed = 3 }) * 2 - 1
    local secs = {}
    for r = 1, ROUNDS do
      local t0 = tide.now()
      S:matmul(X)
      secs[r] = tide.now() - t0
    end
    local flops = 2 * S:nnz() * k
    local tide_gf = flops / bench.median(secs) * 1e-9
    local c = bench.json_of(("%s/bench/sparse %d %d %d %s %d"):format(build, N, PER_ROW, k,
      dtype, ROUNDS))
    local sp
    if has_scipy then
      tide.save(dir .. "/rowptr.npy", S.rowptr)
      tide.save(dir .. "/col.npy", S.col)
      tide.save(dir .. "/val.npy", S.val)
      tide.save(dir .. "/x.npy", X)
      sp = bench.json_of(("/usr/bin/python3 %s/tests/bench/sparse_scipy.py %s %d"):format(root,
        dir, ROUNDS))
    end
    print(("%-5s %4d %10d %10.2f %10s %9s %10s %9s"):format(dtype, k, S:nnz(), tide_gf,
      c and ("%.2f"):format(c.gflops) or "-", c and ("%.2f"):format(tide_gf / c.gflops) or "-",
      sp and ("%.2f"):format(sp.gflops) or "-",
      sp and ("%.2f"):format(tide_gf / sp.gflops) or "-"))
  end
end
os.execute("rm -rf " .. dir)
