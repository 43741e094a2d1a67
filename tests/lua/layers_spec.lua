-- tide.nn's layers (nn/conv.lua, nn/layers.lua, nn/norm.lua): forward against plain-Lua
-- nested loops or closed forms, backward (input and parameter gradients) against central
-- finite differences at f64, f32 against f64, and every error path with its message.
local tide = require "tide"
local nn = require "tide.nn"

local H = 1e-6

local function num(v) return type(v) == "number" and v or v:item() end

local function rand(shape, dtype) return tide.empty(shape, dtype or "f64"):uniform_(-1, 1) end

local function flat(t) return t:contiguous():view({ t:numel() }):totable() end

local function assert_close(want, got, tol, what)
  assert.are.equal(#want, #got, what)
  for i = 1, #want do
    local err = math.abs(want[i] - got[i]) / math.max(1, math.abs(want[i]))
    if err > tol then
      error(("%s: element %d: want %.10g, got %.10g"):format(what or "", i, want[i], got[i]), 2)
    end
  end
end

-- Central differences of loss() with respect to every element of p.
local function numeric_grad(loss, p)
  local v, g = p:view({ p:numel() }), {}
  for i = 1, p:numel() do
    local x0 = v:get(i)
    v:set_(i, x0 + H)
    local fp = loss()
    v:set_(i, x0 - H)
    local fm = loss()
    v:set_(i, x0)
    g[i] = (fp - fm) / (2 * H)
  end
  return g
end

-- Checks m's input gradient and parameter gradients for loss = sum(m(x) * r), r random.
local function gradcheck(m, x, tol)
  tol = tol or 1e-6
  local out = m:forward(x)
  local r = rand(out:shape())
  local function loss() return num((m:forward(x) * r):sum()) end
  m:zero_grad()
  m:forward(x)
  local gi = m:backward(x, r)
  assert_close(numeric_grad(loss, x), flat(gi), tol, "input gradient")
  local ps, gs = m:parameters()
  for k, p in ipairs(ps) do
    assert_close(numeric_grad(loss, p), flat(gs[k]), tol, "parameter " .. k)
  end
end

-- The direct definition: out[n][o][i][j] = b[o] + sum over c in o's group, ki, kj of
-- w[o][c][ki][kj] x[n][g*Cg + c][i*s - p + ki*d][j*s - p + kj*d].
local function naive_conv(x, w, b, s, p, d, groups)
  local X, W = x:totable(), w:totable()
  local N, C, Hh, Ww = table.unpack(x:shape())
  local O, Cg, kh, kw = table.unpack(w:shape())
  local OH = (Hh + 2 * p - d * (kh - 1) - 1) // s + 1
  local OW = (Ww + 2 * p - d * (kw - 1) - 1) // s + 1
  local Og, out = O // groups, {}
  for n = 1, N do
    for o = 1, O do
      local g = (o - 1) // Og
      for i = 1, OH do
        for j = 1, OW do
          local acc = b and b:get(o) or 0
          for c = 1, Cg do
            for ki = 1, kh do
              for kj = 1, kw do
                local ii = (i - 1) * s - p + (ki - 1) * d + 1
                local jj = (j - 1) * s - p + (kj - 1) * d + 1
                if ii >= 1 and ii <= Hh and jj >= 1 and jj <= Ww then
                  acc = acc + W[o][c][ki][kj] * X[n][g * Cg + c][ii][jj]
                end
              end
            end
          end
          out[#out + 1] = acc
        end
      end
    end
  end
  return out, { N, O, OH, OW }
end

describe("nn.Conv2d", function()
  it("matches a nested-loop convolution for stride 2, padding 1, dilation 2, groups 2", function()
    for _, dt in ipairs({ "f64", "f32" }) do
      tide.manual_seed(7)
      local m = nn.Conv2d(4, 6, 3, { stride = 2, padding = 1, dilation = 2, groups = 2,
        dtype = dt })
      local x = rand({ 2, 4, 9, 8 }, dt)
      local want, shape = naive_conv(x, m.weight, m.bias, 2, 1, 2, 2)
      local y = m:forward(x)
      assert.are.same(shape, y:shape())
      assert_close(want, flat(y), dt == "f64" and 1e-12 or 1e-5, dt)
    end
  end)

  it("matches nested loops: rectangular kernel, no bias, non-contiguous input", function()
    local m = nn.Conv2d(3, 2, { 2, 3 }, { stride = { 1, 2 }, padding = { 0, 1 }, bias = false,
      dtype = "f64" })
    local x = rand({ 2, 3, 6, 5 }):transpose(3, 4):contiguous():transpose(3, 4)
    assert.is_false(x:is_contiguous())
    -- stride and padding differ per axis: the loop below spells out each axis
    local y = m:forward(x)
    assert.are.same({ 2, 2, 5, 3 }, y:shape())
    local wt, X = m.weight:totable(), x:totable()
    local got = flat(y)
    local k = 0
    for n = 1, 2 do for o = 1, 2 do for i = 1, 5 do for j = 1, 3 do
      local acc = 0
      for c = 1, 3 do for ki = 1, 2 do for kj = 1, 3 do
        local ii, jj = i + ki - 1, (j - 1) * 2 - 1 + kj
        if jj >= 1 and jj <= 5 then acc = acc + wt[o][c][ki][kj] * X[n][c][ii][jj] end
      end end end
      k = k + 1
      assert.is_true(math.abs(acc - got[k]) < 1e-12, ("%g vs %g"):format(acc, got[k]))
    end end end end
  end)

  it("gives the same results by im2col over chunks of samples and by the direct kernel", function()
    -- (m.p.algo picks the kernel, as tests/bench/conv.lua does; auto is im2col)
    tide.manual_seed(3)
    local small = nn.Conv2d(4, 6, 3, { padding = 1, dilation = 2, groups = 2, dtype = "f64" })
    local xs = rand({ 2, 4, 9, 8 })
    local want = naive_conv(xs, small.weight, small.bias, 1, 1, 2, 2)
    for _, algo in ipairs({ "im2col", "direct" }) do
      small.p.algo = algo
      assert_close(want, flat(small:forward(xs)), 1e-12, algo)
    end
    -- 5 samples of 103 kB of lowering each: im2col runs chunks of 2, 2 and 1 samples
    local m = nn.Conv2d(8, 8, 3, { padding = 1, groups = 2, dtype = "f64" })
    local x = rand({ 5, 8, 18, 18 })
    local r = rand({ 5, 8, 18, 18 })
    local got = {}
    for _, algo in ipairs({ "im2col", "direct" }) do
      m.p.algo = algo
      m:zero_grad()
      local y = flat(m:forward(x))
      local gi = flat(m:backward(x, r))
      got[algo] = { y, gi, flat(m.grad_weight), flat(m.grad_bias) }
    end
    for k, what in ipairs({ "output", "grad_input", "grad_weight", "grad_bias" }) do
      assert_close(got.direct[k], got.im2col[k], 1e-10, what)
    end
    local strided = nn.Conv2d(1, 1, 3, { stride = 2 })
    strided.p.algo = "direct"
    assert.has_error(function() strided:forward(tide.zeros({ 1, 1, 5, 5 })) end,
      "nn.Conv2d: the direct kernel needs stride 1, got 2x2")
  end)

  it("lowers unit-stride taps (whole rows, rows cut by padding, odd widths) as the others do",
    function()
    -- im2col copies and col2im adds a tap's rows as contiguous runs when the width stride is
    -- 1; the direct kernel and nested loops reach the same numbers another way
    local cases = {   -- C, O, kernel, input HxW, options
      { 3, 4, 3, { 7, 13 }, {} },
      { 2, 3, 3, { 6, 9 }, { padding = 1 } },
      { 2, 2, 5, { 5, 11 }, { padding = 2 } },
      { 4, 2, { 3, 1 }, { 8, 5 }, { padding = { 0, 1 } } },
      { 2, 4, 3, { 9, 7 }, { padding = 1, dilation = 2, groups = 2 } },
    }
    for k, c in ipairs(cases) do
      local o = c[5]
      tide.manual_seed(10 + k)
      local m = nn.Conv2d(c[1], c[2], c[3], { padding = o.padding, dilation = o.dilation,
        groups = o.groups, dtype = "f64" })
      local x = rand({ 3, c[1], c[4][1], c[4][2] })
      local r = rand(m:forward(x):shape())
      local got = {}
      for _, algo in ipairs({ "im2col", "direct" }) do
        m.p.algo = algo
        m:zero_grad()
        local y = m:forward(x)
        got[algo] = { flat(y), flat(m:backward(x, r)), flat(m.grad_weight) }
      end
      for i, what in ipairs({ "output", "grad_input", "grad_weight" }) do
        assert_close(got.direct[i], got.im2col[i], 1e-10, ("case %d %s"):format(k, what))
      end
      if type(c[3]) == "number" and type(o.padding or 0) == "number" then
        local want = naive_conv(x, m.weight, m.bias, 1, o.padding or 0, o.dilation or 1,
          o.groups or 1)
        assert_close(want, got.im2col[1], 1e-12, ("case %d nested loops"):format(k))
      end
    end
    -- stride 2 down, 1 across: grad_input and grad_weight are the adjoints of the (bias-free,
    -- linear) map, sum(conv(x) r) = sum(x grad_input) = sum(w grad_weight)
    local m = nn.Conv2d(3, 5, 3, { stride = { 2, 1 }, padding = { 1, 0 }, bias = false,
      dtype = "f64" })
    local x = rand({ 2, 3, 9, 10 })
    local y = m:forward(x)
    local r = rand(y:shape())
    m:zero_grad()
    local gi = m:backward(x, r)
    local yr = num((y * r):sum())
    assert.is_true(math.abs(yr - num((x * gi):sum())) < 1e-10 * math.max(1, math.abs(yr)))
    assert.is_true(math.abs(yr - num((m.weight * m.grad_weight):sum())) <
      1e-10 * math.max(1, math.abs(yr)))
  end)

  it("has input, weight and bias gradients matching finite differences", function()
    gradcheck(nn.Conv2d(4, 4, 3, { stride = 2, padding = 1, dilation = 2, groups = 2,
      dtype = "f64" }), rand({ 2, 4, 7, 6 }))
    gradcheck(nn.Conv2d(2, 3, 2, { dtype = "f64" }), rand({ 1, 2, 4, 5 }))
  end)

  it("gives f32 gradients close to f64's", function()
    local m64 = nn.Conv2d(2, 4, 3, { padding = 1, groups = 2, dtype = "f64" })
    local m32 = nn.Conv2d(2, 4, 3, { padding = 1, groups = 2 })
    m32.weight:copy_(m64.weight); m32.bias:copy_(m64.bias)
    local x = rand({ 2, 2, 5, 5 })
    local r = rand({ 2, 4, 5, 5 })
    m64:forward(x); m32:forward(x:to("f32"))
    local g64, g32 = m64:backward(x, r), m32:backward(x:to("f32"), r:to("f32"))
    assert_close(flat(g64), flat(g32), 1e-5, "input")
    assert_close(flat(m64.grad_weight), flat(m32.grad_weight), 1e-5, "weight")
    assert_close(flat(m64.grad_bias), flat(m32.grad_bias), 1e-5, "bias")
  end)

  it("names the layer and the shapes in its errors", function()
    local m = nn.Conv2d(3, 4, 3)
    assert.has_error(function() m:forward(tide.zeros({ 3, 5, 5 })) end,
      "nn.Conv2d: expected a 4-D input (batch x channels x height x width), got 3x5x5")
    assert.has_error(function() m:forward(tide.zeros({ 1, 2, 5, 5 })) end,
      "nn.Conv2d: expected 3 input channels, got 1x2x5x5")
    assert.has_error(function() m:forward(tide.zeros({ 1, 3, 5, 5 }, "f64")) end,
      "nn.Conv2d: expected f32 input (the module's dtype), got f64")
    assert.has_error(function() m:forward(tide.zeros({ 1, 3, 2, 5 })) end,
      "nn.Conv2d: input 1x3x2x5 (padded by 0) is smaller than the dilated kernel of weight 4x3x3x3")
    assert.has_error(function() nn.Conv2d(3, 4, 3, { groups = 2 }) end,
      "nn.Conv2d: in_channels 3 and out_channels 4 must be divisible by groups 2")
    assert.has_error(function() nn.Conv2d(3, 4, 0) end,
      "nn.Conv2d: kernel_size must be an integer >= 1 or a pair of them, got 0")
    assert.has_error(function() nn.Conv2d(3, 4, 3, { stride = { 1, 2, 3 } }) end,
      "nn.Conv2d: stride must be an integer >= 1 or a pair of them, got a table of 3")
    assert.has_error(function() nn.Conv2d(3, 4, 3, { pad = 1 }) end)
    m:forward(tide.zeros({ 1, 3, 5, 5 }))
    assert.has_error(
      function() m:backward(tide.zeros({ 1, 3, 5, 5 }), tide.zeros({ 1, 4, 2, 3 })) end,
      "nn.Conv2d.backward: expected grad_out of shape 1x4x3x3, got 1x4x2x3")
  end)
end)

-- Plain-Lua pools over a 4-D table: max, or average counting padding as zeros.
local function naive_pool(x, k, s, p, kind)
  local X = x:totable()
  local N, C, Hh, Ww = table.unpack(x:shape())
  local OH, OW = (Hh + 2 * p - k) // s + 1, (Ww + 2 * p - k) // s + 1
  local out = {}
  for n = 1, N do for c = 1, C do for i = 1, OH do for j = 1, OW do
    local best, sum = -math.huge, 0
    for ki = 1, k do for kj = 1, k do
      local ii, jj = (i - 1) * s - p + ki, (j - 1) * s - p + kj
      if ii >= 1 and ii <= Hh and jj >= 1 and jj <= Ww then
        best = math.max(best, X[n][c][ii][jj])
        sum = sum + X[n][c][ii][jj]
      end
    end end
    out[#out + 1] = kind == "max" and best or sum / (k * k)
  end end end end
  return out
end

describe("pooling", function()
  it("MaxPool2d and AvgPool2d match nested loops at f64 and f32", function()
    for _, dt in ipairs({ "f64", "f32" }) do
      local x = rand({ 2, 3, 7, 6 }, dt)
      for _, c in ipairs({ { 2, 2, 0 }, { 3, 2, 1 }, { 3, 1, 1 } }) do
        local mp = nn.MaxPool2d(c[1], { stride = c[2], padding = c[3] })
        local ap = nn.AvgPool2d(c[1], { stride = c[2], padding = c[3] })
        local tol = dt == "f64" and 1e-12 or 1e-6
        assert_close(naive_pool(x, c[1], c[2], c[3], "max"), flat(mp:forward(x)), tol, "max")
        assert_close(naive_pool(x, c[1], c[2], c[3], "avg"), flat(ap:forward(x)), tol, "avg")
      end
    end
  end)

  it("MaxPool2d propagates NaN and sends a tie's gradient to its first element, as torch", function()
    for _, dt in ipairs({ "f64", "f32" }) do
      -- one 4x4 plane, 2x2 windows: a NaN after the maximum in the first, a tie of 5s in
      -- the second, -inf everywhere in the third, a NaN first in the fourth
      local x = tide.tensor({ { { { 1, 2, 5, 5 }, { 0 / 0, 3, 4, 5 },
        { -math.huge, -math.huge, 0 / 0, 9 }, { -math.huge, -math.huge, 7, 8 } } } }, dt)
      local m = nn.MaxPool2d(2)
      local y = flat(m:forward(x))
      assert.is_true(y[1] ~= y[1], dt .. ": NaN wins the first window")
      assert.are.same({ 5, -math.huge }, { y[2], y[3] })
      assert.is_true(y[4] ~= y[4], dt .. ": NaN wins the fourth window")
      local g = flat(m:backward(x, tide.tensor({ { { { 10, 20 }, { 30, 40 } } } }, dt)))
      assert.are.same({ 0, 0, 20, 0, 10, 0, 0, 0, 30, 0, 40, 0, 0, 0, 0, 0 }, g)
    end
  end)

  it("AdaptiveAvgPool2d averages torch's windows, and to 1x1 is the mean of each plane", function()
    local x = rand({ 2, 3, 5, 7 })
    local y = nn.AdaptiveAvgPool2d(1):forward(x)
    assert.are.same({ 2, 3, 1, 1 }, y:shape())
    assert_close(flat(x:mean(4):mean(3)), flat(y), 1e-12, "global")
    -- 5 -> 3 rows: windows [1,2], [2,4], [4,5]; 7 -> 2 columns: [1,4], [4,7]
    local z = nn.AdaptiveAvgPool2d({ 3, 2 }):forward(x)
    local X, want = x:totable(), {}
    for n = 1, 2 do for c = 1, 3 do
      for _, r in ipairs({ { 1, 2 }, { 2, 4 }, { 4, 5 } }) do
        for _, q in ipairs({ { 1, 4 }, { 4, 7 } }) do
          local s, cnt = 0, 0
          for i = r[1], r[2] do for j = q[1], q[2] do s, cnt = s + X[n][c][i][j], cnt + 1 end end
          want[#want + 1] = s / cnt
        end
      end
    end end
    assert_close(want, flat(z), 1e-12, "3x2")
  end)

  it("have gradients matching finite differences", function()
    gradcheck(nn.MaxPool2d(2), rand({ 2, 2, 4, 6 }))
    gradcheck(nn.MaxPool2d(3, { stride = 2, padding = 1 }), rand({ 1, 2, 5, 5 }))
    gradcheck(nn.AvgPool2d(3, { stride = 2, padding = 1 }), rand({ 1, 2, 5, 6 }))
    gradcheck(nn.AdaptiveAvgPool2d({ 3, 2 }), rand({ 2, 1, 5, 7 }))
  end)

  it("name the layer and the shapes in their errors", function()
    assert.has_error(function() nn.MaxPool2d(2):forward(tide.zeros({ 4, 4 })) end,
      "nn.MaxPool2d: expected a 4-D input (batch x channels x height x width), got 4x4")
    assert.has_error(function() nn.AvgPool2d(3):forward(tide.zeros({ 1, 1, 2, 2 })) end,
      "nn.AvgPool2d: input 1x1x2x2 is smaller than the 3x3 window")
    assert.has_error(function() nn.MaxPool2d(2, { padding = 2 }) end,
      "nn.MaxPool2d: padding 2 must be at most half the kernel size 2")
    assert.has_error(function() nn.AdaptiveAvgPool2d(0) end,
      "nn.AdaptiveAvgPool2d: output_size must be an integer >= 1 or a pair of them, got 0")
  end)
end)

describe("activations and shape layers", function()
  it("GELU is x Phi(x) and LeakyReLU is max(x, slope x), at f64 and f32", function()
    local function erf(x)      -- Abramowitz-Stegun 7.1.26 is too coarse: integrate instead
      local n, s = 2000, 0
      for i = 0, n do
        local t = x * i / n
        local w = (i == 0 or i == n) and 1 or (i % 2 == 1 and 4 or 2)
        s = s + w * math.exp(-t * t)
      end
      return 2 / math.sqrt(math.pi) * s * x / n / 3
    end
    for _, dt in ipairs({ "f64", "f32" }) do
      local x = rand({ 3, 5 }, dt) * 3
      local g, l = flat(nn.GELU():forward(x)), flat(nn.LeakyReLU(0.2):forward(x))
      local xs = flat(x)
      for i, v in ipairs(xs) do
        assert.is_true(math.abs(g[i] - 0.5 * v * (1 + erf(v / math.sqrt(2)))) < 1e-6)
        assert.is_true(math.abs(l[i] - (v > 0 and v or 0.2 * v)) < 1e-6)
      end
    end
    assert.are.equal(0.01, nn.LeakyReLU().slope)
  end)

  it("GELU, LeakyReLU, SoftMax and Flatten have gradients matching finite differences", function()
    gradcheck(nn.GELU(), rand({ 3, 4 }) * 2)
    gradcheck(nn.LeakyReLU(0.3), rand({ 3, 4 }))
    gradcheck(nn.SoftMax(1), rand({ 3, 4 }))
    gradcheck(nn.SoftMax(2), rand({ 2, 3, 4 }))
    gradcheck(nn.Flatten(), rand({ 2, 3, 2 }))
    gradcheck(nn.Identity(), rand({ 2, 3 }))
    gradcheck(nn.Unflatten(2, { 2, 2 }), rand({ 3, 4 }))
  end)

  it("SoftMax(dim) normalises along dim; Flatten keeps the batch dim", function()
    local x = rand({ 2, 3, 4 })
    local y = nn.SoftMax(2):forward(x)
    local X, Y = x:totable(), y:totable()
    for a = 1, 2 do for c = 1, 4 do
      local z = 0
      for b = 1, 3 do z = z + math.exp(X[a][b][c]) end
      for b = 1, 3 do assert.is_true(math.abs(Y[a][b][c] - math.exp(X[a][b][c]) / z) < 1e-12) end
    end end
    assert.are.same({ 2, 12 }, nn.Flatten():forward(x):shape())
    assert.are.same({ 6, 4 }, nn.Flatten({ start_dim = 1, end_dim = 2 }):forward(x):shape())
    local u = nn.Unflatten(2, { 3, 4 }):forward(nn.Flatten():forward(x))
    assert_close(flat(x), flat(u), 0, "Unflatten undoes Flatten")
    assert.are.same({ 2, 3, 4 }, u:shape())
    assert.has_error(function() nn.Unflatten(2, { 5, 2 }):forward(x) end,
      "nn.Unflatten: expected dim 2 of size 10, got 2x3x4")
    assert.has_error(function() nn.Flatten({ start_dim = 3, end_dim = 2 }):forward(x) end,
      "nn.Flatten: dims 3..2 do not fit a 3-D input 2x3x4")
    assert.has_error(function() nn.SoftMax(4):forward(x) end,
      "nn.SoftMax: dim must be in [-3, 3] for a 3-D tensor, got 4")
  end)
end)

describe("t:softmax(dim) and t:log_softmax(dim)", function()
  it("take the dim as PyTorch does, negative from the end, and out as an option", function()
    local x = rand({ 3, 4 })
    local X = x:totable()
    local s1, l2 = x:softmax(1):totable(), x:log_softmax(-1)
    for j = 1, 4 do
      local z = 0
      for i = 1, 3 do z = z + math.exp(X[i][j]) end
      for i = 1, 3 do assert.is_true(math.abs(s1[i][j] - math.exp(X[i][j]) / z) < 1e-12) end
    end
    assert_close(flat(x:log_softmax()), flat(x:log_softmax(2)), 0, "last dim by default")
    assert_close(flat(x:softmax(2):log()), flat(l2), 1e-12, "log_softmax(-1)")
    local out = tide.empty({ 3, 4 }, "f64")
    assert.are.equal(out, x:log_softmax(1, { out = out }))
    assert_close(flat(x:softmax(1):log()), flat(out), 1e-12, "into out")
    assert.has_error(function() x:log_softmax(1, { bogus = 1 }) end)
    assert.has_error(function() x:softmax(1.5) end, "softmax: dim must be an integer, got number")
    assert.has_error(function() x:log_softmax(3) end,
      "log_softmax: dim must be in [-2, 2] for a 2-D tensor, got 3")
  end)
end)

describe("nn.Embedding", function()
  it("looks up rows and accumulates their gradient, dense or sparse", function()
    local e = nn.Embedding(5, 3, { dtype = "f64" })
    local idx = tide.tensor({ { 2, 5 }, { 2, 1 } }, "i64")
    local y = e:forward(idx)
    assert.are.same({ 2, 2, 3 }, y:shape())
    local W = e.weight:totable()
    assert.are.same({ W[2], W[5] }, y:totable()[1])
    e:zero_grad()
    local g = rand({ 2, 2, 3 })
    assert.is_nil(e:backward(idx, g))
    local G, gw = g:totable(), e.grad_weight:totable()
    for k = 1, 3 do
      assert.is_true(math.abs(gw[2][k] - (G[1][1][k] + G[2][1][k])) < 1e-12)
      assert.are.equal(0, gw[3][k])
    end
    local s = nn.Embedding(5, 3, { sparse = true, dtype = "f64" })
    s.weight:copy_(e.weight)
    s:forward(idx)
    s:backward(idx, g)
    assert.are.same({ 2, 5, 2, 1 }, s.sparse_grad[1].indices:totable())
    local dense = tide.zeros({ 5, 3 }, "f64"):index_add_(1, s.sparse_grad[1].indices,
      s.sparse_grad[1].values)
    assert_close(flat(e.grad_weight), flat(dense), 1e-12, "sparse = dense")
    s:zero_grad()
    assert.is_nil(s.sparse_grad)
  end)

  it("names the layer and the shapes in its errors", function()
    local e = nn.Embedding(10, 3)
    assert.has_error(function() e:forward(tide.tensor({ { 1, 11 } }, "i64")) end,
      "nn.Embedding: index 11 out of range 1..10 (weight 10x3, indices 1x2)")
    assert.has_error(function() e:forward(tide.tensor({ 0 }, "i32")) end,
      "nn.Embedding: index 0 out of range 1..10 (weight 10x3, indices 1)")
    assert.has_error(function() e:forward(tide.tensor({ 1 })) end,
      "nn.Embedding: expected i32 or i64 indices, got f32[1]")
  end)
end)

describe("normalisation", function()
  -- Per-channel mean and biased variance of a N x C x ... table, by plain loops.
  local function channel_stats(x)
    local C, v = x:size(2), flat(x:transpose(1, 2):contiguous())
    local per = #v // C
    local means, vars = {}, {}
    for c = 1, C do
      local s, ss = 0, 0
      for i = 1, per do s = s + v[(c - 1) * per + i] end
      local m = s / per
      for i = 1, per do ss = ss + (v[(c - 1) * per + i] - m) ^ 2 end
      means[c], vars[c] = m, ss / per
    end
    return means, vars, per
  end

  it("BatchNorm2d normalises each channel; running statistics follow the closed form", function()
    local bn = nn.BatchNorm2d(3, { dtype = "f64", momentum = 0.2 })
    bn.weight:copy_(tide.tensor({ 1, 2, 3 }, "f64"))
    bn.bias:copy_(tide.tensor({ 0, 1, -1 }, "f64"))
    local rm, rv = { 0, 0, 0 }, { 1, 1, 1 }
    for step = 1, 3 do
      local x = rand({ 4, 3, 2, 3 }) * step + step
      local y = bn:forward(x)
      local means, vars, n = channel_stats(x)
      local ys, Y = channel_stats(y), y:transpose(1, 2):contiguous():view({ 3, n }):totable()
      for c = 1, 3 do
        rm[c] = 0.8 * rm[c] + 0.2 * means[c]
        rv[c] = 0.8 * rv[c] + 0.2 * vars[c] * n / (n - 1)
        assert.is_true(math.abs(ys[c] - ({ 0, 1, -1 })[c]) < 1e-12)
        local xc = x:transpose(1, 2):contiguous():view({ 3, n }):totable()[c]
        for i = 1, n do
          local want = (xc[i] - means[c]) / math.sqrt(vars[c] + 1e-5) * c + ({ 0, 1, -1 })[c]
          assert.is_true(math.abs(Y[c][i] - want) < 1e-12)
        end
      end
      assert_close(rm, bn.running_mean:totable(), 1e-12, "running_mean")
      assert_close(rv, bn.running_var:totable(), 1e-12, "running_var")
    end
    bn:eval()
    local x = rand({ 2, 3, 2, 2 })
    local want = {}
    local X = x:totable()
    for n = 1, 2 do for c = 1, 3 do for i = 1, 2 do for j = 1, 2 do
      want[#want + 1] = (X[n][c][i][j] - rm[c]) / math.sqrt(rv[c] + 1e-5) * c + ({ 0, 1, -1 })[c]
    end end end end
    assert_close(want, flat(bn:forward(x)), 1e-12, "eval")
    local s = bn:state()
    assert_close(rm, s.running_mean:totable(), 1e-12, "state")
  end)

  it("BatchNorm1d, BatchNorm2d and LayerNorm have gradients matching finite differences", function()
    local bn = nn.BatchNorm2d(2, { dtype = "f64" })
    bn.weight:uniform_(0.5, 2); bn.bias:uniform_(-1, 1)
    gradcheck(bn, rand({ 3, 2, 2, 2 }))
    gradcheck(bn:eval(), rand({ 3, 2, 2, 2 }))
    gradcheck(nn.BatchNorm1d(3, { dtype = "f64" }), rand({ 4, 3 }))
    gradcheck(nn.BatchNorm1d(2, { dtype = "f64", affine = false }), rand({ 2, 2, 3 }))
    local ln = nn.LayerNorm({ 2, 3 }, { dtype = "f64" })
    ln.weight:uniform_(0.5, 2); ln.bias:uniform_(-1, 1)
    gradcheck(ln, rand({ 2, 2, 3 }))
  end)

  it("LayerNorm normalises over the trailing dims", function()
    local ln = nn.LayerNorm(4, { dtype = "f64" })
    local x = rand({ 3, 4 }) * 3
    local Y, X = ln:forward(x):totable(), x:totable()
    for r = 1, 3 do
      local m, v = 0, 0
      for j = 1, 4 do m = m + X[r][j] / 4 end
      for j = 1, 4 do v = v + (X[r][j] - m) ^ 2 / 4 end
      for j = 1, 4 do
        assert.is_true(math.abs(Y[r][j] - (X[r][j] - m) / math.sqrt(v + 1e-5)) < 1e-12)
      end
    end
  end)

  it("name the layer and the shapes in their errors", function()
    assert.has_error(function() nn.BatchNorm2d(3):forward(tide.zeros({ 2, 3 })) end,
      "nn.BatchNorm2d: expected a 4-D (batch x channels x height x width) input, got 2x3")
    assert.has_error(function() nn.BatchNorm1d(3):forward(tide.zeros({ 2, 4 })) end,
      "nn.BatchNorm1d: expected 3 channels, got 2x4")
    assert.has_error(function() nn.BatchNorm1d(3):forward(tide.zeros({ 1, 3 })) end,
      "nn.BatchNorm1d: expected more than 1 value per channel when training, got input 1x3")
    assert.has_error(function() nn.LayerNorm({ 3, 2 }):forward(tide.zeros({ 2, 3 })) end,
      "nn.LayerNorm: expected f32 input ending in 3x2, got f32 2x3")
    assert.has_error(function() nn.BatchNorm2d(3, { momentum = 2 }) end)
  end)
end)

describe("nn.Linear on N-D input", function()
  it("applies to the last dim, as rows of the flattened leading dims", function()
    local m = nn.Linear(4, 3, { dtype = "f64" })
    local x = rand({ 2, 5, 4 })
    local y = m:forward(x)
    assert.are.same({ 2, 5, 3 }, y:shape())
    local y2 = m:forward(x:reshape({ 10, 4 })):clone()
    assert_close(flat(y2), flat(m:forward(x)), 0, "same as 2-D")
    gradcheck(m, rand({ 2, 3, 4 }))
    assert.has_error(function() m:forward(tide.zeros({ 2, 3, 5 }, "f64")) end,
      "nn.Linear: expected input of width 4, got 2x3x5")
    m:forward(x)
    assert.has_error(function() m:backward(x, tide.zeros({ 2, 5, 4 }, "f64")) end,
      "nn.Linear.backward: expected grad_out of shape 2x5x3, got 2x5x4")
  end)
end)

describe("autograd through the layers", function()
  local ag = require "tide.autograd"

  -- grads of f(p) (p a table of f64 tensors) against central differences.
  local function ag_check(f, p)
    local grads = ag.grad(f)(p)
    for k, t in pairs(p) do
      assert_close(numeric_grad(function() return num(f(p)) end, t), flat(grads[k]), 1e-6, k)
    end
  end

  it("differentiates Conv2d, the pools, GELU and LeakyReLU by their C kernels", function()
    local conv = nn.Conv2d(2, 4, 3, { stride = 2, padding = 1, dilation = 2, groups = 2,
      dtype = "f64" })
    local mp, ap, aap = nn.MaxPool2d(2), nn.AvgPool2d(2, { stride = 1 }), nn.AdaptiveAvgPool2d(2)
    local gelu, leaky = nn.GELU(), nn.LeakyReLU(0.1)
    local r = rand({ 2, 4, 2, 2 })
    ag_check(function(p)
      conv.weight, conv.bias = p.w, p.b
      local h = gelu:forward(conv:forward(p.x))
      local a = aap:forward(leaky:forward(ap:forward(h)))
      return (a * r):sum() + mp:forward(h):sum()
    end, { x = rand({ 2, 2, 9, 8 }), w = rand({ 4, 1, 3, 3 }), b = rand({ 4 }) })
  end)
end)

describe("modules", function()
  it("eval() is evaluate()", function()
    local m = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Dropout(0.5))
    assert.are.equal(m, m:eval())
    assert.is_false(m.training)
    assert.is_false(m.modules[2].training)
    m:train()
    assert.is_true(m.modules[1].training)
  end)
end)
