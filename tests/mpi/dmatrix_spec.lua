-- 2-D distributed matrices under mpirun (1, 2 or 4 ranks): the block-cyclic layout against a
-- plain Lua index map, to_global/from_global/load/redistribute as identities, and SUMMA (and
-- the row-block product) against the single-process matmul on odd, non-divisible sizes, on
-- every grid the rank count allows (issue 16, acceptance 1), plus the errors.
local tide = require "tide"
local dmatrix = require "tide.dmatrix"

local S = require "support.spec"
local world, P, me, err_of = S.world, S.P, S.me, S.err_of

local function max_abs_diff(a, b)
  return (a - b):abs():max()
end

local function global(m, n, seed)
  return tide.randn({ m, n }, { dtype = "f64", seed = seed, same_on_all_ranks = true })
end

-- every pr x pc = P
local function grids()
  local out = {}
  for pr = 1, P do
    if P % pr == 0 then out[#out + 1] = { pr, P // pr } end
  end
  return out
end

describe("dmatrix layout", function()
  it("keeps block (I, J) at grid position (I % pr, J % pc), in order, as a naive map says", function()
    local m, n = 23, 17
    local g = global(m, n, 1)
    for _, grid in ipairs(grids()) do
      local D = dmatrix.from_global(g, { grid = grid, block = { 3, 4 } })
      local prow, pcol = D:position()
      assert.are.equal(me // grid[2], prow)
      assert.are.equal(me % grid[2], pcol)
      -- the rows and columns this position owns, walking the global indices in order
      local rows, cols = {}, {}
      for i = 0, m - 1 do
        if (i // 3) % grid[1] == prow then rows[#rows + 1] = i end
      end
      for j = 0, n - 1 do
        if (j // 4) % grid[2] == pcol then cols[#cols + 1] = j end
      end
      assert.are.same({ #rows, #cols }, D.shard:shape())
      for a, i in ipairs(rows) do
        for b, j in ipairs(cols) do
          assert.are.equal(g:get(i + 1, j + 1), D.shard:get(a, b))
        end
      end
    end
  end)

  it("to_global gives back the global tensor exactly, for block and block-cyclic layouts", function()
    local g = global(31, 12, 2)
    for _, grid in ipairs(grids()) do
      for _, block in ipairs({ false, { 1, 1 }, { 5, 7 }, { 40, 40 } }) do
        local D = dmatrix.from_global(g, { grid = grid, block = block or nil })
        assert.are.equal(0, max_abs_diff(g, D:to_global()))
        assert.are.same({ 31, 12 }, D:shape())
        assert.are.same(grid, D:grid())
      end
    end
  end)

  it("the default block is ceil(m / pr) x ceil(n / pc) on the most square grid", function()
    local D = dmatrix.from_global(global(10, 9, 3))
    local pr, pc = D:grid()[1], D:grid()[2]
    assert.are.equal(P, pr * pc)
    assert.is_true(pr <= pc and pc / pr <= 4)
    assert.are.same({ (10 + pr - 1) // pr, (9 + pc - 1) // pc }, D:block())
  end)

  it("redistribute moves between layouts and keeps every element", function()
    local g = global(19, 14, 4)
    local D = dmatrix.from_global(g, { block = { 2, 3 } })
    for _, grid in ipairs(grids()) do
      local E = D:redistribute({ grid = grid, block = { 5, 1 } })
      assert.are.same({ 5, 1 }, E:block())
      assert.are.equal(0, max_abs_diff(g, E:to_global()))
    end
  end)

  it("load reads each rank's blocks from a .npy file as from_global cuts them", function()
    local g = global(27, 11, 5)
    local path = world:bcast_obj(me == 0 and (os.tmpname() .. ".npy") or nil, 0)
    if me == 0 then tide.save(path, g) end
    world:barrier()
    for _, grid in ipairs(grids()) do
      local opts = { grid = grid, block = { 4, 3 } }
      local L, D = dmatrix.load(path, opts), dmatrix.from_global(g, opts)
      assert.are.same(D.shard:shape(), L.shard:shape())
      assert.are.equal(0, max_abs_diff(D.shard, L.shard))
    end
    world:barrier()
    if me == 0 then os.remove(path) end
  end)
end)

describe("dmatrix matmul", function()
  local A, B = global(1000, 777, 11), global(777, 513, 12)
  local want = tide.matmul(A, B)

  local function check(C, tol)
    assert.are.same({ 1000, 513 }, C:shape())
    assert.is_true(max_abs_diff(want, C:to_global()) <= (tol or 1e-11))
  end

  it("SUMMA equals the single-process matmul on 1000 x 777 @ 777 x 513, every grid", function()
    for _, grid in ipairs(grids()) do
      local D = dmatrix.from_global(A, { grid = grid })
      local E = dmatrix.from_global(B, { grid = grid, block = { D:block()[2], 100 } })
      check(D:matmul(E, { algorithm = "summa" }))
    end
  end)

  it("SUMMA on block-cyclic layouts, E's blocks redistributed when they do not conform", function()
    for _, grid in ipairs(grids()) do
      local D = dmatrix.from_global(A, { grid = grid, block = { 37, 29 } })
      local E = dmatrix.from_global(B, { grid = grid, block = { 29, 41 } })
      local C = D:matmul(E)
      assert.are.same({ 37, 41 }, C:block())
      check(C)
      -- E in a block layout that does not match D's column blocks
      check(D:matmul(dmatrix.from_global(B, { grid = grid })))
    end
  end)

  it("f32 SUMMA equals the f32 matmul to f32 rounding", function()
    local a, b = A:narrow(1, 1, 61):narrow(2, 1, 45):to("f32"), B:narrow(1, 1, 45):narrow(2, 1, 33):to("f32")
    local D = dmatrix.from_global(a, { block = { 4, 6 } })
    local C = D:matmul(dmatrix.from_global(b, { block = { 6, 5 } }))
    assert.are.equal("f32", C:dtype())
    assert.is_true(max_abs_diff(tide.matmul(a, b), C:to_global()) <= 1e-4)
  end)

  it("the row-block algorithm serves tall-skinny shapes, and auto picks it", function()
    local a, b = global(2001, 7, 13), global(7, 5, 14)
    local D = dmatrix.from_global(a, { grid = grids()[#grids()] })
    local E = dmatrix.from_global(b, { grid = grids()[#grids()] })
    local C = D:matmul(E)
    assert.are.same({ P, 1 }, C:grid())
    assert.is_true(max_abs_diff(tide.matmul(a, b), C:to_global()) <= 1e-12)
    local S = D:matmul(E, { algorithm = "summa" })
    assert.are.same(D:grid(), S:grid())
    assert.is_true(max_abs_diff(tide.matmul(a, b), S:to_global()) <= 1e-12)
  end)

  it("a 0-column product and a single element work", function()
    local a = global(1, 1, 15)
    local C = dmatrix.from_global(a):matmul(dmatrix.from_global(a))
    assert.are.equal(a:get(1, 1) ^ 2, C:to_global():get(1, 1))
  end)
end)

describe("dmatrix errors", function()
  local g = global(6, 4, 20)

  it("name the grid that does not fit the communicator", function()
    assert.are.equal(("dmatrix.from_global: grid %dx%d needs %d ranks, the communicator has %d")
      :format(P + 1, 1, P + 1, P), err_of(function()
        dmatrix.from_global(g, { grid = { P + 1, 1 } })
      end))
    assert.are.equal("dmatrix.from_global: expected grid as a pair of positive integers {a, b}, got {0, 1}",
      err_of(function() dmatrix.from_global(g, { grid = { 0, 1 } }) end))
    assert.are.equal("dmatrix.from_global: expected block as a pair of positive integers {a, b}, got number",
      err_of(function() dmatrix.from_global(g, { block = 3 }) end))
  end)

  it("name wrong shapes, kinds and options", function()
    assert.are.equal("dmatrix.from_global: expected a 2-D tensor, got 1-D",
      err_of(function() dmatrix.from_global(tide.zeros({ 3 }, "f64")) end))
    assert.are.equal("dmatrix.from_global: expected a 2-D tensor, got string",
      err_of(function() dmatrix.from_global("x") end))
    assert.truthy(err_of(function() dmatrix.from_global(g, { grdi = { 1, P } }) end)
      :find("grdi", 1, true))
    local D = dmatrix.from_global(g)
    assert.are.equal("dmatrix.matmul: size mismatch, 6x4 @ 6x4",
      err_of(function() D:matmul(D) end))
    assert.are.equal("dmatrix.matmul: expected a dmatrix, got a tensor",
      err_of(function() D:matmul(g) end))
    local Dt = dmatrix.from_global(g:t():contiguous())
    assert.are.equal('dmatrix.matmul: algorithm must be "auto", "summa" or "rows", got fast',
      err_of(function() D:matmul(Dt, { algorithm = "fast" }) end))
    assert.are.equal("dmatrix.matmul: dtype mismatch, f64 @ f32",
      err_of(function() D:matmul(dmatrix.from_global(g:t():to("f32"))) end))
    local other = world:dup()
    assert.are.equal("dmatrix.matmul: expected operands on one communicator",
      err_of(function() D:matmul(dmatrix.from_global(g:t():contiguous(), { comm = other })) end))
    other:free()
    local path = world:bcast_obj(me == 0 and (os.tmpname() .. ".npy") or nil, 0)
    if me == 0 then tide.save(path, tide.zeros({ 5 }, "f64")) end
    world:barrier()
    assert.are.equal(("dmatrix.load: '%s' holds a 1-D array, expected a matrix"):format(path),
      err_of(function() dmatrix.load(path) end))
    world:barrier()
    if me == 0 then os.remove(path) end
  end)

  it("the core refuses a local block of the wrong shape", function()
    local core = require("tide.core")._dmatrix
    local lay = { m = 6, n = 4, mb = 2, nb = 2, pr = 1, pc = 1 }
    assert.are.equal("dmatrix.to_global: expected a local matrix of shape 6x4, got a 2-D tensor 3x4",
      err_of(function() core.unpack_(tide.zeros({ 6, 4 }, "f64"), tide.zeros({ 3, 4 }, "f64"), lay, 0, 0) end))
    assert.are.equal("dmatrix.from_global: expected positive block sizes, got 0x2",
      err_of(function() core.pack(g, { m = 6, n = 4, mb = 0, nb = 2, pr = 1, pc = 1 }, 0, 0) end))
  end)
end)
