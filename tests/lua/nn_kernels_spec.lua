-- The C kernels under tide.nn and tide.optim, checked against plain Lua arithmetic.
local tide = require "tide"
local K = tide._internal.kernels

local function close(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-6) * math.max(1, math.abs(b))
end

local function assert_table_close(want, got, tol)
  assert.are.equal(#want, #got)
  for i = 1, #want do
    if type(want[i]) == "table" then
      assert_table_close(want[i], got[i], tol)
    else
      assert(close(got[i], want[i], tol), ("entry %d: want %g, got %g"):format(i, want[i], got[i]))
    end
  end
end

local function lua_softmax(row)
  local mx, s, out = -math.huge, 0, {}
  for _, v in ipairs(row) do mx = math.max(mx, v) end
  for _, v in ipairs(row) do s = s + math.exp(v - mx) end
  for i, v in ipairs(row) do out[i] = math.exp(v - mx) / s end
  return out
end

local rows = { { 1, 2, 3 }, { -1, 0.5, 4 } }

describe("softmax family", function()
  it("matches the definition row by row", function()
    for _, dt in ipairs { "f32", "f64" } do
      local x = tide.tensor(rows, dt)
      local sm = x:softmax():totable()
      local lsm = tide.log_softmax(x):totable()
      for r = 1, 2 do
        local want = lua_softmax(rows[r])
        assert_table_close(want, sm[r], 1e-6)
        for j = 1, 3 do
          assert(close(lsm[r][j], math.log(want[j]), 1e-5))
        end
      end
    end
  end)

  it("works on transposed views and 1-D tensors", function()
    local x = tide.tensor({ { 1, -1 }, { 2, 0.5 }, { 3, 4 } }, "f64"):t()
    assert_table_close(x:contiguous():softmax():totable(), x:softmax():totable(), 1e-12)
    assert_table_close(lua_softmax { 1, 2, 3 }, tide.tensor({ 1, 2, 3 }, "f64"):softmax():totable())
  end)

  it("refuses integer input and a dim out of range", function()
    assert.has_error(function() tide.tensor({ 1, 2 }, "i32"):softmax() end,
      "softmax: expected an f32 or f64 tensor, got i32")
    assert.has_error(function() tide.zeros({ 2, 2, 2 }):log_softmax(4) end,
      "log_softmax: dim must be in [-3, 3] for a 3-D tensor, got 4")
  end)
end)

describe("cross_entropy", function()
  it("gives the mean negative log-likelihood and its gradient", function()
    local x = tide.tensor(rows, "f64")
    local labels = tide.tensor({ 3, 1 }, "i64")
    local loss, grad = K.cross_entropy(x, labels, { grad = true })
    local p1, p2 = lua_softmax(rows[1]), lua_softmax(rows[2])
    assert(close(loss, -(math.log(p1[3]) + math.log(p2[1])) / 2, 1e-12))
    local g = grad:totable()
    assert(close(g[1][3], (p1[3] - 1) / 2, 1e-12))
    assert(close(g[2][2], p2[2] / 2, 1e-12))
    local sum = K.cross_entropy(x, labels, { reduction = "sum" })
    assert(close(sum, 2 * loss, 1e-12))
  end)

  it("names a label outside the class range, and bad shapes", function()
    local x = tide.zeros({ 2, 3 })
    assert.has_error(function() K.cross_entropy(x, tide.tensor({ 1, 4 }, "i64")) end,
      "cross_entropy: label 4 of row 2 is outside the class range 1..3")
    assert.has_error(function() K.cross_entropy(x, tide.tensor({ 0, 1 }, "i32")) end,
      "cross_entropy: label 0 of row 1 is outside the class range 1..3")
    assert.has_error(function() K.cross_entropy(x, tide.tensor({ 1, 2, 3 }, "i64")) end,
      "cross_entropy: expected 2 labels (one per row), got a 3 tensor")
    assert.has_error(function() K.cross_entropy(x, tide.tensor { 1, 2 }) end,
      "cross_entropy: expected i32 or i64 labels, got f32")
    assert.has_error(function() K.cross_entropy(x, tide.tensor({ 1, 2 }, "i64"), { reduction = "max" }) end,
      'cross_entropy: reduction must be "mean" or "sum", got "max"')
    assert.has_error(function() K.cross_entropy(x, tide.tensor({ 1, 2 }, "i64"), { reductio = "sum" }) end,
      "cross_entropy: unknown option 'reductio' (expected one of: reduction, grad, out)")
  end)
end)

describe("activation backwards", function()
  it("follow the derivatives", function()
    local go = tide.tensor({ 1, 2, 3, 4 }, "f64")
    local x = tide.tensor({ -1, 0, 0.5, 2 }, "f64")
    assert.are.same({ 0, 0, 3, 4 }, K.relu_backward(go, x):totable())
    local y = tide.tensor({ 0.1, 0.2, 0.3, 0.4 }, "f64")
    local t = K.tanh_backward(go, y):totable()
    local s = K.sigmoid_backward(go, y):totable()
    for i, v in ipairs { 0.1, 0.2, 0.3, 0.4 } do
      assert(close(t[i], i * (1 - v * v), 1e-12))
      assert(close(s[i], i * v * (1 - v), 1e-12))
    end
    assert.has_error(function() K.relu_backward(go, tide.zeros(3, "f64")) end,
      "relu_backward: grad_output has shape 4 but input has shape 3")
  end)
end)

describe("optimizer steps", function()
  it("sgd with momentum follows torch's update rule", function()
    local p = tide.tensor({ 1, 2 }, "f64")
    local g = tide.tensor({ 0.5, -1 }, "f64")
    local buf = tide.zeros(2, "f64")
    local cfg = { lr = 0.1, momentum = 0.9, weight_decay = 0.01 }
    K.sgd_step(p, g, buf, cfg, true)
    -- d = g + wd p; buf = d; p = p - lr buf
    local d1 = { 0.5 + 0.01, -1 + 0.02 }
    local p1 = { 1 - 0.1 * d1[1], 2 - 0.1 * d1[2] }
    assert_table_close(p1, p:totable(), 1e-12)
    K.sgd_step(p, g, buf, cfg, false)
    local d2 = { 0.5 + 0.01 * p1[1], -1 + 0.01 * p1[2] }
    local b2 = { 0.9 * d1[1] + d2[1], 0.9 * d1[2] + d2[2] }
    assert_table_close({ p1[1] - 0.1 * b2[1], p1[2] - 0.1 * b2[2] }, p:totable(), 1e-12)
  end)

  it("adam's first step moves each weight by about lr", function()
    local p = tide.tensor({ 1, -1 }, "f64")
    local g = tide.tensor({ 3, -0.001 }, "f64")
    local m, v = tide.zeros(2, "f64"), tide.zeros(2, "f64")
    K.adam_step(p, g, m, v, { lr = 0.01 }, 1)
    local t = p:totable()
    assert(close(t[1], 1 - 0.01, 1e-6))
    assert(close(t[2], -1 + 0.01, 1e-4))
    assert.has_error(function() K.adam_step(p, g, m, v, { lr = 0.01 }, 0) end,
      "adam: step must be at least 1, got 0")
    assert.has_error(function() K.sgd_step(p, tide.zeros(3, "f64"), nil, { lr = 1 }, true) end,
      "sgd: parameter has shape 2 but gradient has shape 3")
    assert.has_error(function() K.sgd_step(p, g, nil, { lr = "fast" }, true) end,
      "optimizer: lr must be a number, got string")
  end)
end)

describe("subnormals", function()
  it("are flushed to zero in the f32 cross-entropy gradient and optimizer state", function()
    -- exp(-100) / 1 ~ 3.7e-44 is subnormal in f32: it becomes exactly 0
    local _, g = K.cross_entropy(tide.tensor { { 0, 100 } }, tide.tensor({ 2 }, "i64"), { grad = true })
    assert.are.equal(0, g[1][1])
    assert.are.equal(0, g[1][2])                         -- 1 - 1
    local p = tide.tensor { 1 }
    local buf = tide.tensor { 1e-38 }                    -- FLT_MIN is 1.18e-38
    K.sgd_step(p, tide.tensor { 0 }, buf, { lr = 0.1, momentum = 0.5 }, false)
    assert.are.equal(0, buf[1])
    assert.are.equal(1, p[1])
    -- f64 keeps what f32 would flush
    local b64 = tide.tensor({ 1e-38 }, "f64")
    K.sgd_step(tide.tensor({ 1 }, "f64"), tide.tensor({ 0 }, "f64"), b64, { lr = 0.1, momentum = 0.5 }, false)
    assert.are.equal(0.5e-38, b64[1])
  end)
end)

describe("helper kernels", function()
  it("write into a given out and return it", function()
    local x = tide.tensor({ { 1, -2 }, { -3, 4 } }, "f64")
    local out = tide.empty({ 2, 2 }, "f64")
    assert.are.equal(out, K.relu(x, out))
    assert.are.same({ { 1, 0 }, { 0, 4 } }, out:totable())
    local sm = tide.empty({ 2, 2 }, "f64")
    assert.are.equal(sm, x:log_softmax(sm))
    local gi = tide.empty({ 2, 2 }, "f64")
    assert.are.equal(gi, K.relu_backward(tide.ones({ 2, 2 }, "f64"), x, gi))
    assert.are.same({ { 1, 0 }, { 0, 1 } }, gi:totable())
    local g = tide.empty({ 2, 2 }, "f64")
    local loss, g2 = K.cross_entropy(x, tide.tensor({ 1, 2 }, "i64"), { out = g })
    assert.are.equal(g, g2)
    assert.is_true(loss > 0)
    assert.has_error(function() K.relu(x, tide.empty({ 3 }, "f64")) end)
  end)

  it("add_colsum_ adds (or sets) the column sums", function()
    local acc = tide.tensor({ 10, 20 }, "f64")
    K.add_colsum_(acc, tide.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, "f64"))
    assert.are.same({ 19, 32 }, acc:totable())
    K.add_colsum_(acc, tide.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, "f64"):t():t(), true)
    assert.are.same({ 9, 12 }, acc:totable())
    assert.has_error(function() K.add_colsum_(acc, tide.zeros({ 3, 3 }, "f64")) end,
      "add_colsum_: expected a 2-D input and a 1-D receiver of its width, got 3x3 and 2")
    assert.has_error(function() K.add_colsum_(tide.zeros(2), tide.zeros({ 3, 2 }, "f64")) end,
      "add_colsum_: the receiver is f32 but the input is f64")
  end)

  it("take_rows gathers whole rows by 1-based index", function()
    local src = tide.tensor { { 1, 2 }, { 3, 4 }, { 5, 6 } }
    local out = tide.empty({ 4, 2 })
    assert.are.equal(out, K.take_rows(src, tide.tensor({ 3, 1, 3, 2 }, "i64"), out))
    assert.are.same({ { 5, 6 }, { 1, 2 }, { 5, 6 }, { 3, 4 } }, out:totable())
    assert.are.same({ 30, 10 }, K.take_rows(tide.tensor({ 10, 20, 30 }, "i64"), tide.tensor({ 3, 1 }, "i32")):totable())
    assert.has_error(function() K.take_rows(src, tide.tensor({ 1, 4 }, "i64")) end,
      "take_rows: index 4 (entry 2) out of range 1..3")
    assert.has_error(function() K.take_rows(src:t(), tide.tensor({ 1 }, "i64")) end,
      "take_rows: the source must be contiguous")
    assert.has_error(function() K.take_rows(src, tide.tensor({ 1 }, "i64"), tide.empty({ 2, 2 })) end,
      "take_rows: output has shape 2x2, expected 1x2")
  end)

  it("dropout_mask_, sq_dist and scaled_diff", function()
    local u = tide.tensor({ 0.1, 0.5, 0.29, 0.31 }, "f64")
    K.dropout_mask_(u, 0.3)
    assert.are.same({ 0, 1 / 0.7, 0, 1 / 0.7 }, u:totable())
    assert.has_error(function() K.dropout_mask_(u, 2) end, "dropout_mask_: p must be in [0, 1], got 2")
    local a, b = tide.tensor({ 1, 2, 3 }, "f64"), tide.tensor({ 0, 4, 3 }, "f64")
    assert.are.equal(5, K.sq_dist(a, b))
    assert.are.same({ 2, -4, 0 }, K.scaled_diff(a, b, 2):totable())
    assert.has_error(function() K.sq_dist(a, tide.zeros(2, "f64")) end,
      "sq_dist: input has shape 3 but target has shape 2")
  end)
end)
