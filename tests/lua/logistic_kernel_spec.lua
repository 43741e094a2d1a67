-- The fused logistic-regression kernel (core/algo/logistic.c, kernels.logistic_loss_grad)
-- against the same loss and gradient written with tensor operations (log-softmax, sigmoid and
-- two matrix products): binary and multinomial, one-hot and soft targets, with and without an
-- intercept, more rows than one block, an empty shard, reused output buffers, extreme scores,
-- and the errors.
local tide = require "tide"

local K = tide._internal.kernels

-- the loss and gradients by tensor operations
local function reference(x, w, b, t)
  local z = tide.matmul(x, w)
  if b then z = z + b end
  local loss, g
  if w:size(2) == 1 then
    loss = (z:relu() + (-z:abs()):exp():add(1):log() - t * z):sum()
    g = z:sigmoid() - t
  else
    local ls = tide.log_softmax(z, 2)
    loss = -(ls * t):sum()
    g = ls:exp() * t:sum(2, { keepdim = true }) - t
  end
  return loss, tide.matmul(x:t(), g), b and g:sum(1) or nil
end

local function close(a, b, tol)
  return math.abs(a - b) <= tol * math.max(1, math.abs(b))
end

local function max_diff(a, b) return (a - b):abs():max() end

local function case(n, d, k, soft, intercept)
  tide.manual_seed(n + d + k)
  local x = tide.randn({ n, d }, { dtype = "f64" })
  local w = tide.randn({ d, k }, { dtype = "f64" })
  local b = intercept and tide.randn({ k }, { dtype = "f64" }) or nil
  local t
  if k == 1 then
    t = soft and tide.rand({ n, 1 }, { dtype = "f64" }) or tide.rand({ n, 1 }, { dtype = "f64" }):gt(0.5):to("f64")
  else
    local labels = tide.randint(1, k + 1, { n }, { dtype = "i64" })
    t = labels:one_hot(k):to("f64")
    if soft then t = t * 0.7 + tide.rand({ n, k }, { dtype = "f64" }) * 0.1 end
  end
  return x, w, b, t
end

describe("kernels.logistic_loss_grad", function()
  it("equals the tensor formulation, binary and multinomial, over several blocks", function()
    for _, c in ipairs({ { 5000, 7, 1 }, { 5000, 7, 4 }, { 300, 40, 3 }, { 1, 3, 1 } }) do
      for _, soft in ipairs({ false, true }) do
        for _, intercept in ipairs({ true, false }) do
          local x, w, b, t = case(c[1], c[2], c[3], soft, intercept)
          local loss, gw, gb = K.logistic_loss_grad(x, w, b, t)
          local rl, rgw, rgb = reference(x, w, b, t)
          assert.is_true(close(loss, rl, 1e-12))
          assert.is_true(max_diff(gw, rgw) <= 1e-9 * math.max(1, rgw:abs():max()))
          if intercept then
            assert.is_true(max_diff(gb, rgb) <= 1e-9 * math.max(1, rgb:abs():max()))
          else
            assert.is_nil(gb)
          end
        end
      end
    end
  end)

  it("fills given buffers, gives zeros for no rows, and stays finite at extreme scores", function()
    local x, w, b, t = case(100, 4, 3, false, true)
    local gw, gb = tide.full({ 4, 3 }, 7, "f64"), tide.full({ 3 }, 7, "f64")
    local loss, gw2, gb2 = K.logistic_loss_grad(x, w, b, t, gw, gb)
    assert.are.equal(gw, gw2)
    assert.are.equal(gb, gb2)
    local rl, rgw = reference(x, w, b, t)
    assert.is_true(close(loss, rl, 1e-12) and max_diff(gw, rgw) <= 1e-9)
    local l0, g0 = K.logistic_loss_grad(tide.zeros({ 0, 4 }, "f64"), w, b, tide.zeros({ 0, 3 }, "f64"))
    assert.are.equal(0, l0)
    assert.are.equal(0, g0:abs():max())
    local big = tide.tensor({ { 1000 }, { -1000 } }, "f64")
    local l, g = K.logistic_loss_grad(big, tide.ones({ 1, 1 }, "f64"), nil,
      tide.tensor({ { 0 }, { 1 } }, "f64"))
    assert.are.equal(2000, l)                  -- 1000 for each row, exactly
    assert.are.equal(2000, g:get(1, 1))        -- 1000 * (1 - 0) + (-1000) * (0 - 1)
  end)

  it("errors name the argument, its expected shape and what came", function()
    local x, w, b, t = case(10, 3, 2, false, true)
    assert.has_error(function() K.logistic_loss_grad(x:to("f32"), w, b, t) end,
      "logistic_loss_grad: expected x as a contiguous f64 10x3 tensor, got f32 10x3")
    assert.has_error(function() K.logistic_loss_grad(x, w:t(), b, t) end,
      "logistic_loss_grad: expected w as a contiguous f64 3x2 tensor, got f64 2x3 (not contiguous)")
    assert.has_error(function() K.logistic_loss_grad(x, w, b, t:narrow(1, 1, 9)) end,
      "logistic_loss_grad: expected t as a contiguous f64 10x2 tensor, got f64 9x2")
    assert.has_error(function() K.logistic_loss_grad(x, w, b, t, nil, nil, 1) end,
      "logistic_loss_grad: too many arguments (expected at most 6, got 7)")
  end)
end)
