-- A distributed matrix product: A (m x k) and B (k x n) cut block-cyclically over a pr x pc
-- grid of ranks, C = A @ B by SUMMA (panels broadcast along grid rows and columns while the
-- previous panel is multiplied), then checked two ways.
--
--   tide examples/summa.lua                                   one rank, 1000 x 777 @ 777 x 513
--   tide run -n 4 examples/summa.lua --pr 2 --pc 2 --mb 64 --nb 64
--
-- Flags: --m M --k K --n N (sizes), --pr R --pc C (the grid; default the most square one),
-- --mb B --nb B (block sizes; default plain block distribution), --seed S.
local tide = require "tide"
local dmatrix = require "tide.dmatrix"

local args = { m = 1000, k = 777, n = 513, seed = 1 }
local flags = { m = 1, k = 1, n = 1, pr = 1, pc = 1, mb = 1, nb = 1, seed = 1 }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = (argv[i]:match("^%-%-(.+)$") or "")
  if not flags[key] or argv[i + 1] == nil then
    error(("summa.lua: bad flag %s (usage: --flag value ..., see the header)"):format(argv[i]))
  end
  args[key] = math.tointeger(tonumber(argv[i + 1]))
end

local world = tide.world
local grid = args.pr and { args.pr, args.pc or world.size // args.pr } or nil
local block = args.mb and { args.mb, args.nb or args.mb } or nil

-- every rank makes the same global matrices and keeps only its blocks
local A = tide.randn({ args.m, args.k }, { dtype = "f64", seed = args.seed, same_on_all_ranks = true })
local B = tide.randn({ args.k, args.n }, { dtype = "f64", seed = args.seed + 1, same_on_all_ranks = true })
local D = dmatrix.from_global(A, { grid = grid, block = block })
local E = dmatrix.from_global(B, { grid = D:grid(), block = block })

local t0 = tide.now()
local C = D:matmul(E, { algorithm = "summa" })
local seconds = tide.now() - t0
local full = C:to_global()

if world.rank == 0 then
  local g, b = D:grid(), C:block()
  print(("summa %dx%d @ %dx%d on a %dx%d grid, blocks %dx%d: %.3f s"):format(args.m, args.k,
    args.k, args.n, g[1], g[2], b[1], b[2], seconds))
  -- sum(C) = (1' A)(B 1): the column sums of A dotted with the row sums of B
  print(("sum(C) = %.15g, (1'A)(B1) = %.15g"):format(full:sum(),
    (A:sum(1) * B:sum(2)):sum()))
  print(("max |C - A@B| = %.3g"):format((full - tide.matmul(A, B)):abs():max()))
end
