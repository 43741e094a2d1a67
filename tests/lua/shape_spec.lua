-- tide.cat, tide.stack, split, chunk, flip, tile, tril/triu, nonzero and one_hot, each checked
-- against a plain Lua loop over nested tables for every dtype, and every error they raise.
local tide = require "tide"

local DTYPES = { "f32", "f64", "i32", "i64", "u8" }

-- an r x c table of distinct small values (exact in every dtype)
local function grid(r, c, base)
  local t = {}
  for i = 1, r do
    t[i] = {}
    for j = 1, c do t[i][j] = (base or 0) + (i - 1) * c + j end
  end
  return t
end

describe("cat and stack", function()
  it("join along each dim as a loop over the inputs does", function()
    for _, dt in ipairs(DTYPES) do
      local ta, tb = grid(2, 3), grid(4, 3, 50)
      local a, b = tide.tensor(ta, dt), tide.tensor(tb, dt)
      local rows = {}
      for _, t in ipairs { ta, tb } do
        for _, row in ipairs(t) do rows[#rows + 1] = row end
      end
      assert.are.same(rows, tide.cat({ a, b }):totable())
      assert.are.equal(dt, tide.cat({ a, b }):dtype())
      local tc = grid(2, 5, 100)
      local cols = {}
      for i = 1, 2 do
        cols[i] = {}
        for _, src in ipairs { ta[i], tc[i] } do
          for _, v in ipairs(src) do cols[i][#cols[i] + 1] = v end
        end
      end
      assert.are.same(cols, tide.cat({ a, tide.tensor(tc, dt) }, 2):totable())
      assert.are.same(cols, tide.cat({ a, tide.tensor(tc, dt) }, -1):totable())
      -- stack = a new dim: stack(ts, 1)[k] = ts[k]; stack(ts, 3)[i][j][k] = ts[k][i][j]
      local c = tide.tensor(grid(2, 3, 20), dt)
      local s1, s3 = tide.stack({ a, c }, 1), tide.stack({ a, c }, 3)
      assert.are.same({ 2, 2, 3 }, s1:shape())
      assert.are.same({ ta, grid(2, 3, 20) }, s1:totable())
      assert.are.same({ 2, 3, 2 }, s3:shape())
      for i = 1, 2 do
        for j = 1, 3 do
          assert.are.same({ ta[i][j], grid(2, 3, 20)[i][j] }, s3:totable()[i][j])
        end
      end
    end
  end)

  it("promotes dtypes and copies from views", function()
    local a = tide.tensor({ { 1, 2 }, { 3, 4 } }, "i32")
    local b = tide.tensor({ { 0.5, 1.5 } }, "f64")
    local c = tide.cat({ a:t(), b })
    assert.are.equal("f64", c:dtype())
    assert.are.same({ { 1, 3 }, { 2, 4 }, { 0.5, 1.5 } }, c:totable())
  end)

  it("raises clear errors", function()
    local a = tide.zeros { 2, 3 }
    assert.has_error(function() tide.cat({ a, tide.zeros { 2, 4 } }) end,
      "cat: tensor 2 is 2x4, tensor 1 is 2x3 (shapes must agree except in dim 1)")
    assert.has_error(function() tide.cat({}) end, "cat: expected a list of 1 to 1048576 tensors, got 0")
    assert.has_error(function() tide.cat({ a, 3 }) end, "cat: element 2 of the list is a number, expected a tensor")
    assert.has_error(function() tide.cat(a) end, "cat: expected a list of tensors, got userdata")
    assert.has_error(function() tide.cat({ a }, 3) end, "cat: dim 3 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() tide.cat({ a }, 1, 2) end, "cat: too many arguments (expected at most 2, got 3)")
    assert.has_error(function() tide.stack({ a, tide.zeros { 3, 2 } }) end,
      "stack: tensor 2 is 3x2, tensor 1 is 2x3 (expected one shape)")
    assert.has_error(function() tide.stack({ a }, 4) end, "stack: dim 4 out of range (expected 1..3 or -3..-1)")
  end)
end)

describe("split and chunk", function()
  it("give views that cat back to the tensor", function()
    for _, dt in ipairs(DTYPES) do
      local t = tide.tensor(grid(7, 4), dt)
      local parts = t:split(3)
      assert.are.equal(3, #parts)
      assert.are.same({ 3, 3, 1 }, { parts[1]:shape()[1], parts[2]:shape()[1], parts[3]:shape()[1] })
      assert.are.same(t:totable(), tide.cat(parts):totable())
      local secs = t:split({ 1, 0, 3 }, 2)
      assert.are.same({ 1, 0, 3 }, { secs[1]:shape()[2], secs[2]:shape()[2], secs[3]:shape()[2] })
      assert.are.same(t:totable(), tide.cat(secs, 2):totable())
      -- views: writing through a part writes the tensor
      parts[2]:fill_(0)
      for i = 4, 6 do assert.are.same({ 0, 0, 0, 0 }, t:totable()[i]) end
      -- chunk: ceil(7 / 3) = 3 rows each, as torch.chunk
      local ch = tide.tensor(grid(7, 4), dt):chunk(3)
      assert.are.equal(3, #ch)
      assert.are.same(grid(7, 4), tide.cat(ch):totable())
      assert.are.equal(2, #tide.zeros({ 4, 6 }, dt):chunk(2, 2))
      -- torch.chunk(6 rows, 4) gives 3 chunks of 2
      assert.are.equal(3, #tide.zeros({ 6 }, dt):chunk(4))
    end
  end)

  it("raises clear errors", function()
    local t = tide.zeros { 4, 2 }
    assert.has_error(function() t:split({ 1, 2 }) end, "split: sections sum to 3, dim 1 has size 4")
    assert.has_error(function() t:split(0) end, "split: size 0 must be positive")
    assert.has_error(function() t:chunk(0) end, "chunk: chunks must be positive, got 0")
    assert.has_error(function() t:split(1, 3) end, "split: dim 3 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() t:chunk(2, 1, 1) end, "chunk: too many arguments (expected at most 3, got 4)")
  end)
end)

describe("flip and tile", function()
  it("flip reverses the dims given, as index arithmetic does", function()
    for _, dt in ipairs(DTYPES) do
      local g = grid(3, 4)
      local t = tide.tensor(g, dt)
      local f1, f2, f12 = t:flip(1):totable(), t:flip(2):totable(), t:flip({ 1, -1 }):totable()
      for i = 1, 3 do
        for j = 1, 4 do
          assert.are.equal(g[4 - i][j], f1[i][j])
          assert.are.equal(g[i][5 - j], f2[i][j])
          assert.are.equal(g[4 - i][5 - j], f12[i][j])
        end
      end
      -- a transposed view flips as its copy does
      assert.are.same(t:t():contiguous():flip(1):totable(), t:t():flip(1):totable())
    end
  end)

  it("tile repeats as torch.tile: padded reps, extra reps add dims", function()
    for _, dt in ipairs(DTYPES) do
      local g = grid(2, 3)
      local t = tide.tensor(g, dt)
      local r = t:tile({ 2, 3 }):totable()
      assert.are.equal(4, #r)
      for i = 1, 4 do
        assert.are.equal(9, #r[i])
        for j = 1, 9 do assert.are.equal(g[(i - 1) % 2 + 1][(j - 1) % 3 + 1], r[i][j]) end
      end
      assert.are.same(t:tile(1, 2):totable(), t:tile({ 2 }):totable())
      local r3 = t:tile(2, 1, 1)
      assert.are.same({ 2, 2, 3 }, r3:shape())
      assert.are.same({ g, g }, r3:totable())
      assert.are.same({ 0, 3 }, t:tile(0, 1):shape())
    end
  end)

  it("raise clear errors", function()
    local t = tide.zeros { 2, 3 }
    assert.has_error(function() t:flip(3) end, "flip: dim 3 out of range (expected 1..2 or -2..-1)")
    assert.has_error(function() t:flip({ 1, -2 }) end, "flip: dim 1 given twice for 2x3")
    assert.has_error(function() t:tile({ 2, -1 }) end, "tile: repetition 2 is negative (-1)")
    assert.has_error(function() t:tile({ 1, 1, 1, 1, 1 }) end, "tile: 5 dims exceed tile's limit of 4")
    assert.has_error(function() t:flip({ 1 }, 2) end, "flip: too many arguments (expected at most 2, got 3)")
  end)
end)

describe("tril and triu", function()
  it("keep the elements on the right side of the k-th diagonal, for batches too", function()
    for _, dt in ipairs(DTYPES) do
      local g = grid(4, 5)
      local t = tide.tensor({ g, g }, dt)
      for _, k in ipairs { -2, -1, 0, 1, 3 } do
        local lo, up = t:tril(k):totable(), t:triu(k):totable()
        for b = 1, 2 do
          for i = 1, 4 do
            for j = 1, 5 do
              assert.are.equal(j - i <= k and g[i][j] or 0, lo[b][i][j])
              assert.are.equal(j - i >= k and g[i][j] or 0, up[b][i][j])
            end
          end
        end
      end
    end
    assert.has_error(function() tide.zeros { 3 }:tril() end, "tril: expected a matrix (or a batch of them), got 3")
    assert.has_error(function() tide.zeros { 3, 3 }:triu(0.5) end)
  end)
end)

describe("nonzero and one_hot", function()
  it("nonzero lists the 1-based indices of nonzero elements in row-major order", function()
    local g = { { 0, 3, 0 }, { 1, 0, 2 } }
    for _, dt in ipairs(DTYPES) do
      local want = {}
      for i = 1, 2 do
        for j = 1, 3 do
          if g[i][j] ~= 0 then want[#want + 1] = { i, j } end
        end
      end
      local nz = tide.tensor(g, dt):nonzero()
      assert.are.equal("i64", nz:dtype())
      assert.are.same(want, nz:totable())
    end
    assert.are.same({ 0, 1 }, tide.zeros { 4 }:nonzero():shape())
    assert.are.same({ { 2 } }, tide.tensor({ 0, 0 / 0 }, "f64"):nonzero():totable())
  end)

  it("one_hot puts a 1 at each 1-based class", function()
    for _, dt in ipairs { "i32", "i64", "u8" } do
      local labels = { { 1, 3 }, { 2, 2 } }
      local oh = tide.tensor(labels, dt):one_hot(4)
      assert.are.same({ 2, 2, 4 }, oh:shape())
      for i = 1, 2 do
        for j = 1, 2 do
          for c = 1, 4 do
            assert.are.equal(labels[i][j] == c and 1 or 0, oh:totable()[i][j][c])
          end
        end
      end
      assert.are.same({ 2, 2, 3 }, tide.tensor(labels, dt):one_hot():shape())
      assert.are.same(oh:totable(), tide.one_hot(tide.tensor(labels, dt), 4):totable())
    end
    assert.has_error(function() tide.tensor({ 1, 5 }, "i64"):one_hot(4) end,
      "one_hot: class 5 out of range (expected 1..4)")
    assert.has_error(function() tide.tensor({ 0, 1 }, "i64"):one_hot() end,
      "one_hot: class 0 out of range (expected 1..1)")
    assert.has_error(function() tide.tensor({ 1 }, "f32"):one_hot() end,
      "one_hot: expected an integer tensor of class indices, got f32")
    assert.has_error(function() tide.tensor({ 1 }, "i64"):one_hot(2, 3) end,
      "one_hot: too many arguments (expected at most 2, got 3)")
  end)
end)
