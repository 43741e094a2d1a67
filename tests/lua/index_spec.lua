-- Indexing and ordering kernels from Lua: hand-checked cases, naive loops and table.sort on
-- random data, the 1-based index convention both ways, and every error.
local tide = require "tide"

math.randomseed(42)

local function rand_ints(n, lo, hi)
  local t = {}
  for i = 1, n do
    t[i] = math.random(lo, hi)
  end
  return t
end

local function rand_floats(n)
  local t = {}
  for i = 1, n do
    t[i] = math.random() - 0.5
  end
  return t
end

describe("index_select", function()
  local t = tide.tensor { { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } }

  it("picks rows and columns by 1-based index, from a list or an index tensor", function()
    assert.are.same({ { 7, 8, 9 }, { 1, 2, 3 } }, t:index_select(1, { 3, 1 }):totable())
    assert.are.same({ { 2, 2 }, { 5, 5 }, { 8, 8 } }, t:index_select(2, tide.tensor({ 2, 2 }, "i64")):totable())
    assert.are.same({ { 3, 1 }, { 6, 4 }, { 9, 7 } }, t:index_select(-1, tide.tensor({ 3, 1 }, "i32")):totable())
    assert.are.same({ { 7, 8, 9 } }, t:index_select(1, { -1 }):totable())
    assert.are.same({ 0, 3 }, t:index_select(1, {}):shape())
    assert.are.equal("f32", t:index_select(1, { 1 }):dtype())
  end)

  it("reads strided views and leaves the index alone", function()
    local idx = tide.tensor({ 3, 1 }, "i64")
    assert.are.same({ { 7, 8, 9 }, { 1, 2, 3 } }, t:t():index_select(2, idx):t():totable())
    assert.are.same({ 3, 1 }, idx:totable())
    local big = tide.tensor({ rand_ints(50, -1000, 1000) }, "i64"):t()   -- 50x1, strided
    local pick = rand_ints(200, 1, 50)
    local got = big:index_select(1, pick):totable()
    for i, p in ipairs(pick) do
      assert.are.equal(big[p][1], got[i][1])
    end
  end)

  it("raises clear errors", function()
    assert.has_error(function() t:index_select(1, { 1, 7 }) end,
      "index_select: index 7 out of range for size 3 in dim 1")
    assert.has_error(function() t:index_select(2, tide.tensor({ 0 }, "i64")) end,
      "index_select: index 0 out of range for size 3 in dim 2")
    assert.has_error(function() t:index_select(1, { -4 }) end,
      "index_select: index -4 out of range for size 3 in dim 1")
    assert.has_error(function() t:index_select(1, tide.tensor { 1 }) end,
      "index_select: expected an i32 or i64 index tensor, got f32")
    assert.has_error(function() t:index_select(1, tide.tensor({ { 1 } }, "i64")) end,
      "index_select: expected a 1-D index, got 1x1")
    assert.has_error(function() t:index_select(1, { 1, "x" }) end,
      "index_select: index entry 2 must be an integer, got string")
    assert.has_error(function() t:index_select(1, "x") end,
      "index_select: expected an index tensor or a list of indices, got string")
    assert.has_error(function() t:index_select(3, { 1 }) end,
      "index_select: dim 3 out of range (expected 1..2 or -2..-1)")
  end)
end)

describe("gather, scatter_add_ and index_add_", function()
  it("gathers along a dim by hand", function()
    local t = tide.tensor { { 1, 2 }, { 3, 4 } }
    assert.are.same({ { 1, 1 }, { 4, 3 } }, t:gather(2, tide.tensor({ { 1, 1 }, { 2, 1 } }, "i64")):totable())
    assert.are.same({ { 3, 2 } }, t:gather(1, tide.tensor({ { 2, 1 } }, "i32")):totable())
    assert.are.same({ 30, 10 }, tide.tensor({ 10, 20, 30 }, "i64"):gather(1, { 3, 1 }):totable())
  end)

  it("is undone by scatter_add_ on a permutation, and matches a naive loop", function()
    local rows, cols = 6, 5
    local src, idx = {}, {}
    for i = 1, rows do
      src[i] = rand_floats(cols)
      idx[i] = rand_ints(cols, 1, 4)            -- duplicates accumulate
    end
    local self = tide.zeros({ rows, 4 }, "f64")
    local r = self:scatter_add_(2, tide.tensor(idx, "i64"), tide.tensor(src, "f64"))
    assert.are.equal(self, r)
    local want = {}
    for i = 1, rows do
      want[i] = { 0, 0, 0, 0 }
      for j = 1, cols do
        want[i][idx[i][j]] = want[i][idx[i][j]] + src[i][j]
      end
    end
    local got = self:totable()
    for i = 1, rows do
      for j = 1, 4 do
        assert(math.abs(want[i][j] - got[i][j]) < 1e-12)
      end
    end
    -- along dim 1 with a transposed self: the same sums, transposed
    local selft = tide.zeros({ 4, rows }, "f64")
    selft:t():scatter_add_(2, tide.tensor(idx, "i64"), tide.tensor(src, "f64"))
    assert.are.same(got, selft:t():totable())
    -- gather of a permutation undoes its scatter
    local perm = tide.tensor({ { 3, 1, 2 } }, "i64")
    local v = tide.tensor({ { 10, 20, 30 } }, "f64")
    local s = tide.zeros({ 1, 3 }, "f64"):scatter_add_(2, perm, v)
    assert.are.same({ { 20, 30, 10 } }, s:totable())
    assert.are.same(v:totable(), s:gather(2, perm):totable())
  end)

  it("adds slices by index with index_add_", function()
    local self = tide.zeros({ 3, 2 }, "i32")
    local src = tide.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 }, { 7, 8 } }, "i32")
    assert.are.equal(self, self:index_add_(1, { 1, 3, 1, -1 }, src))
    assert.are.same({ { 6, 8 }, { 0, 0 }, { 10, 12 } }, self:totable())
    -- a naive loop on random data, along dim 2
    local n, m = 5, 7
    local idx = rand_ints(m, 1, 3)
    local s = {}
    for i = 1, n do s[i] = rand_floats(m) end
    local acc = tide.zeros({ n, 3 }, "f64"):index_add_(2, tide.tensor(idx, "i64"), tide.tensor(s, "f64")):totable()
    for i = 1, n do
      local want = { 0, 0, 0 }
      for j = 1, m do
        want[idx[j]] = want[idx[j]] + s[i][j]
      end
      for j = 1, 3 do
        assert(math.abs(want[j] - acc[i][j]) < 1e-12)
      end
    end
  end)

  it("raises clear errors", function()
    local t = tide.zeros { 2, 3 }
    assert.has_error(function() t:gather(2, tide.tensor({ { 4 } }, "i64")) end,
      "gather: index 4 out of range for size 3 in dim 2")
    assert.has_error(function() t:gather(2, tide.tensor({ 1 }, "i64")) end,
      "gather: index has 1 dims, expected 2 (the input's)")
    assert.has_error(function() t:gather(2, tide.ones({ 3, 1 }, "i64")) end,
      "gather: index is 3x1, larger than the input 2x3 in dim 1")
    assert.has_error(function() t:gather(1, tide.ones({ 1, 1 }, "u8")) end,
      "gather: expected an i32 or i64 index tensor, got u8")
    assert.has_error(function() t:scatter_add_(1, tide.ones({ 1, 3 }, "i64"), tide.zeros({ 1, 3 }, "f64")) end,
      "scatter_add_: dtype mismatch, self is f32, src is f64")
    assert.has_error(function() t:scatter_add_(1, tide.ones({ 1, 3 }, "i64"), tide.zeros({ 1, 2 })) end,
      "scatter_add_: index is 1x3, larger than the src 1x2 in dim 2")
    assert.has_error(function() t:scatter_add_(1, tide.ones({ 1, 4 }, "i64"), tide.zeros({ 1, 4 })) end,
      "scatter_add_: index is 1x4, larger than the self 2x3 in dim 2")
    assert.has_error(function() t:scatter_add_(1, tide.full({ 1, 3 }, 3, "i64"), tide.zeros({ 1, 3 })) end,
      "scatter_add_: index 3 out of range for size 2 in dim 1")
    assert.has_error(function() t:scatter_add_(1, tide.ones({ 1, 3 }, "i64"), t:narrow(1, 2, 1)) end,
      "scatter_add_: src overlaps self (pass src:clone())")
    local before = t:totable()
    assert.has_error(function() t:scatter_add_(2, tide.tensor({ { 1, 2, 1 }, { 1, 9, 1 } }, "i64"), tide.ones { 2, 3 }) end,
      "scatter_add_: index 9 out of range for size 3 in dim 2")
    assert.are.same(before, t:totable())    -- nothing half-written
    assert.has_error(function() t:index_add_(1, { 1 }, tide.zeros { 2, 3 }) end,
      "index_add_: src is 2x3, expected self's shape 2x3 with 1 (the index size) in dim 1")
    assert.has_error(function() t:index_add_(1, { 3 }, tide.zeros { 1, 3 }) end,
      "index_add_: index 3 out of range for size 2 in dim 1")
    assert.has_error(function() t:index_add_(1, tide.ones({ 1, 1 }, "i64"), tide.zeros { 1, 3 }) end,
      "index_add_: expected a 1-D index, got 1x1")
    assert.has_error(function() t:index_add_(1, { 1 }, tide.zeros({ 1, 3 }, "i32")) end,
      "index_add_: dtype mismatch, self is f32, src is i32")
  end)
end)

describe("masked_select", function()
  it("selects in row-major order, broadcasting the mask", function()
    local t = tide.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    local m = tide.tensor({ { 1, 0, 1 }, { 0, 1, 0 } }, "u8")
    assert.are.same({ 1, 3, 5 }, t:masked_select(m):totable())
    assert.are.same({ 2, 5 }, t:masked_select(tide.tensor({ 0, 1, 0 }, "u8")):totable())
    assert.are.same({ 1, 4 }, t:t():masked_select(tide.tensor({ { 1, 1 }, { 0, 0 }, { 0, 0 } }, "u8")):totable())
    assert.are.same({ 0 }, t:masked_select(tide.zeros({ 2, 3 }, "u8")):shape())
  end)

  it("raises clear errors", function()
    local t = tide.zeros { 2, 3 }
    assert.has_error(function() t:masked_select(tide.ones { 2, 3 }) end,
      "masked_select: expected a u8 mask, got f32")
    assert.has_error(function() t:masked_select(tide.ones({ 2 }, "u8")) end,
      "masked_select: shapes 2x3 and 2 cannot be broadcast (dim 2: 3 vs 2)")
  end)
end)

describe("sort, argsort and topk", function()
  it("sorts by hand, stably, returning 1-based indices", function()
    local v, i = tide.tensor { 3, 1, 2, 1 }:sort()
    assert.are.same({ 1, 1, 2, 3 }, v:totable())
    assert.are.same({ 2, 4, 3, 1 }, i:totable())
    assert.are.equal("i64", i:dtype())
    v, i = tide.tensor { 3, 1, 2, 1, 3 }:sort({ descending = true })
    assert.are.same({ 3, 3, 2, 1, 1 }, v:totable())
    assert.are.same({ 1, 5, 3, 2, 4 }, i:totable())   -- ties keep their order
    assert.are.same({ 2, 4, 3, 1 }, tide.tensor { 3, 1, 2, 1 }:argsort():totable())
  end)

  it("sorts along any dim of a matrix", function()
    local t = tide.tensor { { 3, 1, 2 }, { 0, 5, -1 } }
    local v, i = t:sort(1)
    assert.are.same({ { 0, 1, -1 }, { 3, 5, 2 } }, v:totable())
    assert.are.same({ { 2, 1, 2 }, { 1, 2, 1 } }, i:totable())
    v, i = t:sort(2, { descending = true })
    assert.are.same({ { 3, 2, 1 }, { 5, 0, -1 } }, v:totable())
    assert.are.same({ { 1, 3, 2 }, { 2, 1, 3 } }, i:totable())
    assert.are.same(t:t():sort(1):t():totable(), t:sort(2):totable())
  end)

  it("agrees with table.sort on random data of every dtype", function()
    for _, case in ipairs {
      { "f64", rand_floats(3000) }, { "f32", rand_floats(3000) },
      { "i64", rand_ints(3000, -2 ^ 40, 2 ^ 40) }, { "i32", rand_ints(3000, -50, 50) },
      { "u8", rand_ints(3000, 0, 255) },
    } do
      local dt, data = case[1], case[2]
      local t = tide.tensor(data, dt)
      local vals = t:totable()
      local want = t:totable()
      table.sort(want)
      local v, i = t:sort()
      assert.are.same(want, v:totable())
      -- the indices point at the values, and ties come in input order
      local got_i = i:totable()
      for k = 1, #vals do
        assert.are.equal(v[k], vals[got_i[k]])
        if k > 1 and v[k] == v[k - 1] then
          assert(got_i[k] > got_i[k - 1])
        end
      end
      table.sort(want, function(a, b) return a > b end)
      assert.are.same(want, t:sort({ descending = true }):totable())
    end
  end)

  it("puts NaN last and treats -0.0 as 0.0", function()
    local v, i = tide.tensor({ 0 / 0, 1, -math.huge, -0.0, 0.0 }, "f64"):sort()
    local tv = v:totable()
    assert.are.equal(-math.huge, tv[1])
    assert.are.same({ 4, 5, 2, 1 }, { i[2], i[3], i[4], i[5] })
    assert(tv[5] ~= tv[5])
  end)

  it("gives sort's head from topk, ties included", function()
    for _, n in ipairs { 10, 1000 } do              -- 1000: the heap path
      local t = tide.tensor(rand_ints(n, 1, 20), "i64")
      for _, k in ipairs { 1, 5, n } do
        local v, i = t:topk(k)
        local sv, si = t:sort({ descending = true })
        assert.are.same(sv:narrow(1, 1, k):totable(), v:totable())
        assert.are.same(si:narrow(1, 1, k):totable(), i:totable())
        v, i = t:topk(k, { largest = false })
        sv, si = t:sort()
        assert.are.same(sv:narrow(1, 1, k):totable(), v:totable())
        assert.are.same(si:narrow(1, 1, k):totable(), i:totable())
      end
    end
    local m = tide.tensor { { 1, 9, 3 }, { 7, 2, 8 } }
    local v, i = m:topk(1, 2)
    assert.are.same({ { 9 }, { 8 } }, v:totable())
    assert.are.same({ { 2 }, { 3 } }, i:totable())
    v, i = m:topk(1, 1, { largest = false })
    assert.are.same({ { 1, 2, 3 } }, v:totable())
    assert.are.same({ { 1, 2, 1 } }, i:totable())
    assert.are.same({ 0 }, tide.tensor { 1, 2 }:topk(0):shape())
  end)

  it("raises clear errors", function()
    local t = tide.tensor { 1, 2, 3 }
    assert.has_error(function() t:topk(4) end, "topk: k 4 out of range for size 3 in dim 1")
    assert.has_error(function() t:topk(-1) end, "topk: k -1 out of range for size 3 in dim 1")
    assert.has_error(function() t:topk(1, { biggest = true }) end,
      "topk: unknown option 'biggest' (expected one of: largest)")
    assert.has_error(function() t:sort({ descending = 1 }) end,
      "sort: option 'descending' must be a boolean, got number")
    assert.has_error(function() t:sort({ reverse = true }) end,
      "sort: unknown option 'reverse' (expected one of: descending)")
    assert.has_error(function() t:sort(2) end, "sort: dim 2 out of range (expected 1..1 or -1..-1)")
    assert.has_error(function() tide.tensor(1):sort() end,
      "sort: expected a tensor of at least 1 dim, got a scalar")
    assert.has_error(function() tide.tensor(1):argsort() end,
      "argsort: expected a tensor of at least 1 dim, got a scalar")
    assert.has_error(function() tide.tensor(1):topk(1) end,
      "topk: expected a tensor of at least 1 dim, got a scalar")
  end)
end)

describe("searchsorted", function()
  local sorted = tide.tensor({ 1, 3, 5, 7 }, "f64")

  it("returns 1-based insertion positions (torch's plus one)", function()
    local v = tide.tensor({ 0, 1, 2, 7, 8 }, "f64")
    assert.are.same({ 1, 1, 2, 4, 5 }, tide.searchsorted(sorted, v):totable())
    assert.are.same({ 1, 2, 2, 5, 5 }, sorted:searchsorted(v, { right = true }):totable())
    assert.are.equal(2, tide.searchsorted(sorted, 3))
    assert.are.equal(3, tide.searchsorted(sorted, 3, { right = true }))
    assert.are.equal(math.type(1), math.type(tide.searchsorted(sorted, 3)))
    assert.are.same({ { 1, 5 } }, tide.searchsorted(sorted, tide.tensor({ { -1, 9 } }, "f64")):totable())
    -- a number beyond an integer dtype's range is placed past an end, not wrapped
    local bytes = tide.tensor({ 10, 20 }, "u8")
    assert.are.equal(3, tide.searchsorted(bytes, 300))
    assert.are.equal(1, tide.searchsorted(bytes, -5))
    assert.are.equal(2, tide.searchsorted(bytes, 20))
  end)

  it("satisfies sorted[p-1] < v <= sorted[p] on random data", function()
    local s = rand_ints(200, -100, 100)
    table.sort(s)
    local st = tide.tensor(s, "i64")
    local vals = rand_ints(500, -110, 110)
    local left = tide.searchsorted(st, tide.tensor(vals, "i64")):totable()
    local right = tide.searchsorted(st, tide.tensor(vals, "i64"), { right = true }):totable()
    for k, v in ipairs(vals) do
      local p, q = left[k], right[k]
      assert(p == 1 or s[p - 1] < v)
      assert(p == #s + 1 or v <= s[p])
      assert(q == 1 or s[q - 1] <= v)
      assert(q == #s + 1 or v < s[q])
    end
  end)

  it("raises clear errors", function()
    assert.has_error(function() tide.searchsorted(sorted, tide.tensor { 1 }) end,
      "searchsorted: dtype mismatch, sorted is f64, values are f32")
    assert.has_error(function() tide.searchsorted(tide.zeros { 2, 2 }, tide.zeros { 1 }) end,
      "searchsorted: expected a 1-D sorted tensor, got 2x2")
    assert.has_error(function() tide.searchsorted(tide.tensor({ 1, 2 }, "i64"), 1.5) end,
      "searchsorted: expected an integer to search a i64 tensor, got 1.5")
    assert.has_error(function() tide.searchsorted(sorted, 1, { left = true }) end,
      "searchsorted: unknown option 'left' (expected one of: right)")
  end)
end)

describe("unique", function()
  it("gives sorted distinct values, inverse and counts by hand", function()
    local t = tide.tensor({ 3, 1, 3, 2, 1, 3 }, "i64")
    assert.are.same({ 1, 2, 3 }, tide.unique(t):totable())
    local u, c = t:unique({ counts = true })
    assert.are.same({ 1, 2, 3 }, u:totable())
    assert.are.same({ 2, 1, 3 }, c:totable())
    local u2, inv, c2 = tide.unique(t, { inverse = true, counts = true })
    assert.are.same(u:totable(), u2:totable())
    assert.are.same({ 3, 1, 3, 2, 1, 3 }, inv:totable())
    assert.are.same(c:totable(), c2:totable())
    local m = tide.tensor { { 2.5, -1 }, { 2.5, 0 } }
    assert.are.same({ -1, 0, 2.5 }, tide.unique(m):totable())
    local _, minv = tide.unique(m, { inverse = true })
    assert.are.same({ { 3, 1 }, { 3, 2 } }, minv:totable())
  end)

  it("reconstructs the input through inverse on random data", function()
    local data = rand_ints(1000, -30, 30)
    local t = tide.tensor(data, "i32")
    local u, inv, c = tide.unique(t, { inverse = true, counts = true })
    local total, uu, ii, cc = 0, u:totable(), inv:totable(), c:totable()
    for k = 1, #cc do
      total = total + cc[k]
      if k > 1 then assert(uu[k] > uu[k - 1]) end
    end
    assert.are.equal(1000, total)
    for k, v in ipairs(data) do
      assert.are.equal(v, uu[ii[k]])
    end
  end)

  it("raises clear errors", function()
    assert.has_error(function() tide.unique(tide.zeros { 2 }, { count = true }) end,
      "unique: unknown option 'count' (expected one of: counts, inverse)")
  end)
end)

describe("bincount", function()
  it("counts values 0..max, not indices", function()
    local t = tide.tensor({ 0, 2, 2, 5 }, "i64")
    assert.are.same({ 1, 0, 2, 0, 0, 1 }, tide.bincount(t):totable())
    assert.are.equal("i64", tide.bincount(t):dtype())
    assert.are.same({ 1, 0, 2, 0, 0, 1, 0, 0 }, t:bincount({ minlength = 8 }):totable())
    assert.are.same({ 0, 0 }, tide.bincount(tide.zeros({ 0 }, "i32"), { minlength = 2 }):totable())
    local w = tide.tensor({ 0.5, 1, 2, 4 }, "f64")
    local wc = tide.bincount(t, { weights = w })
    assert.are.equal("f64", wc:dtype())
    assert.are.same({ 0.5, 0, 3, 0, 0, 4 }, wc:totable())
    assert.are.equal("f32", tide.bincount(t, { weights = w:to("f32") }):dtype())
    assert.are.same({ 1, 0, 5, 0, 0, 7 }, tide.bincount(t, { weights = tide.tensor({ 1, 2, 3, 7 }, "i32") }):totable())
  end)

  it("matches a naive count on random data", function()
    local data = rand_ints(2000, 0, 40)
    local want = {}
    for v = 0, 40 do want[v + 1] = 0 end
    for _, v in ipairs(data) do want[v + 1] = want[v + 1] + 1 end
    assert.are.same(want, tide.bincount(tide.tensor(data, "u8")):totable())
  end)

  it("raises clear errors", function()
    assert.has_error(function() tide.bincount(tide.tensor({ 1, -3 }, "i64")) end,
      "bincount: negative value -3 at position 2")
    assert.has_error(function() tide.bincount(tide.tensor { 1 }) end,
      "bincount: expected an integer tensor (i32, i64 or u8), got f32")
    assert.has_error(function() tide.bincount(tide.zeros({ 2, 2 }, "i64")) end,
      "bincount: expected a 1-D tensor, got 2x2")
    assert.has_error(function() tide.bincount(tide.zeros({ 3 }, "i64"), { weights = tide.zeros { 2 } }) end,
      "bincount: weights have shape 2, expected 3 (the input's)")
    assert.has_error(function() tide.bincount(tide.zeros({ 3 }, "i64"), { weights = {} }) end,
      "bincount: option 'weights' must be a tensor, got table")
    assert.has_error(function() tide.bincount(tide.zeros({ 3 }, "i64"), { minlength = -1 }) end,
      "bincount: minlength must be non-negative, got -1")
    assert.has_error(function() tide.bincount(tide.zeros({ 3 }, "i64"), { minlength = 1.5 }) end,
      "bincount: option 'minlength' must be an integer, got number")
    assert.has_error(function() tide.bincount(tide.zeros({ 3 }, "i64"), { size = 1 }) end,
      "bincount: unknown option 'size' (expected one of: minlength, weights)")
  end)
end)

describe("cumsum", function()
  it("runs sums along a dim", function()
    assert.are.same({ 1, 3, 6 }, tide.tensor { 1, 2, 3 }:cumsum():totable())
    local t = tide.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    assert.are.same({ { 1, 2, 3 }, { 5, 7, 9 } }, t:cumsum(1):totable())
    assert.are.same({ { 1, 3, 6 }, { 4, 9, 15 } }, t:cumsum(-1):totable())
    assert.are.same({ { 1, 4 }, { 3, 9 }, { 6, 15 } }, t:t():cumsum(1):totable())
    assert.are.equal("f32", t:cumsum(1):dtype())
    local i = tide.tensor({ 2 ^ 31 - 1, 1 }, "i32"):cumsum()
    assert.are.equal("i64", i:dtype())
    assert.are.same({ 2 ^ 31 - 1, 2 ^ 31 }, i:totable())
    assert.are.same({ 255, 510 }, tide.tensor({ 255, 255 }, "u8"):cumsum():totable())
  end)

  it("accumulates f32 in double and matches a naive loop", function()
    local f = tide.tensor { 1e8, 1, -1e8 }
    assert.are.equal(1, f:cumsum()[3])
    local data = {}
    for i = 1, 4 do data[i] = rand_floats(6) end
    local got = tide.tensor(data, "f64"):cumsum(1):totable()
    for j = 1, 6 do
      local s = 0
      for i = 1, 4 do
        s = s + data[i][j]
        assert(math.abs(s - got[i][j]) < 1e-12)
      end
    end
  end)

  it("raises clear errors", function()
    assert.has_error(function() tide.zeros { 2, 2 }:cumsum() end,
      "cumsum: expected a dim for a 2-dim tensor")
    assert.has_error(function() tide.zeros { 2, 2 }:cumsum(3) end,
      "cumsum: dim 3 out of range (expected 1..2 or -2..-1)")
  end)
end)
