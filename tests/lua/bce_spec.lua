-- nn.BCEWithLogitsLoss and nn.functional.binary_cross_entropy_with_logits: the loss against a
-- plain Lua reference (-(w y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))), the gradient
-- against central finite differences, finite values at logits of +-1000 where the naive
-- formula overflows, pos_weight as a number and per class, both reductions, the functional
-- form under tide.autograd, and the errors (issue 16).
local tide = require "tide"
local nn = require "tide.nn"
local ag = require "tide.autograd"
local err_of = require("support.spec").err_of

local F = nn.functional

local function num(v) return type(v) == "number" and v or v:item() end

-- The loss by its definition, element by element (pw: nil, a number or a list per column).
local function reference(x, y, pw, reduction)
  local total, n = 0, 0
  for i = 1, x:size(1) do
    for j = 1, x:size(2) do
      local xi, yi = x:get(i, j), y:get(i, j)
      local w = pw == nil and 1 or (type(pw) == "table" and pw[j] or pw)
      local s = 1 / (1 + math.exp(-xi))
      total = total - (w * yi * math.log(s) + (1 - yi) * math.log(1 - s))
      n = n + 1
    end
  end
  return reduction == "sum" and total or total / n
end

local function data(rows, cols)
  tide.manual_seed(16)
  local x = tide.empty({ rows, cols }, "f64"):uniform_(-4, 4)
  local y = tide.empty({ rows, cols }, "f64"):uniform_(0, 1):gt(0.5):to("f64")
  y:select(1, 1):fill_(0.3)   -- a row of probabilities, not labels
  return x, y
end

local function close(a, b, tol)
  return math.abs(a - b) <= tol * math.max(1, math.abs(b))
end

-- the module's backward against central differences of its forward
local function fd_check(crit, x, y)
  local g = crit:backward(x, y):clone()
  local h, worst = 1e-6, 0
  local flat = x:view({ x:numel() })
  for i = 1, x:numel() do
    local x0 = flat:get(i)
    flat:set_(i, x0 + h)
    local fp = crit:forward(x, y)
    flat:set_(i, x0 - h)
    local fm = crit:forward(x, y)
    flat:set_(i, x0)
    worst = math.max(worst, math.abs((fp - fm) / (2 * h) - g:view({ g:numel() }):get(i)))
  end
  return worst
end

describe("nn.BCEWithLogitsLoss", function()
  it("equals the definition for both reductions and pos_weight as a number or per class", function()
    local x, y = data(6, 3)
    for _, red in ipairs({ "mean", "sum" }) do
      for _, pw in ipairs({ false, 2.5, { 0.5, 1, 3 } }) do
        local opt = pw and (type(pw) == "table" and tide.tensor(pw, "f64") or pw) or nil
        local want = reference(x, y, pw or nil, red)
        local crit = nn.BCEWithLogitsLoss({ reduction = red, pos_weight = opt })
        assert.is_true(close(crit:forward(x, y), want, 1e-12))
        local f = F.binary_cross_entropy_with_logits(x, y, { reduction = red, pos_weight = opt })
        assert.is_true(close(f, want, 1e-12))
        assert.is_true(fd_check(crit, x, y) <= 1e-8)
      end
    end
  end)

  it("stays finite where sigmoid rounds to 0 or 1, with the closed-form values", function()
    local x = tide.tensor({ { 1000, -1000, 1000, -1000, 0 } }, "f64")
    local y = tide.tensor({ { 0, 1, 1, 0, 1 } }, "f64")
    local crit = nn.BCEWithLogitsLoss({ reduction = "sum", pos_weight = 2 })
    -- x = 1000, y = 0: 1000; x = -1000, y = 1: 2 * 1000; the others 0 but the last 2 log 2
    assert.is_true(close(crit:forward(x, y), 3000 + 2 * math.log(2), 1e-15))
    assert.are.same({ { 1, -2, 0, 0, -1 } }, crit:backward(x, y):totable())
    local f32 = nn.BCEWithLogitsLoss():forward(x:to("f32"), y:to("f32"))
    assert.is_true(close(f32, (2000 + math.log(2)) / 5, 1e-6))   -- no pos_weight
  end)

  it("differentiates under tide.autograd as the module's backward", function()
    local x, y = data(5, 4)
    local pw = tide.tensor({ 1, 2, 0.5, 4 }, "f64")
    local grads, value = ag.grad(function(p)
      return F.binary_cross_entropy_with_logits(p, y, { pos_weight = pw })
    end)(x)
    local crit = nn.BCEWithLogitsLoss({ pos_weight = pw })
    assert.is_true(close(value, crit:forward(x, y), 1e-12))
    local want = crit:backward(x, y)
    assert.is_true((grads - want):abs():max() <= 1e-14)
    -- a logistic model trained by autograd on it: the loss goes down
    local w = tide.zeros({ 4, 1 }, "f64")
    local t = y:select(2, 1):view({ 5, 1 })
    local df = ag.grad(function(p) return F.binary_cross_entropy_with_logits(x:matmul(p), t) end)
    local first
    for step = 1, 20 do
      local g, v = df(w)
      first = first or v
      w:sub_(g * 0.5)
      if step == 20 then assert.is_true(v < first) end
    end
  end)

  it("errors name the loss, the shapes and the option", function()
    local x = tide.zeros({ 2, 3 }, "f64")
    assert.are.equal("nn.BCEWithLogitsLoss: input has shape 2x3 but target has shape 3x2",
      err_of(function() nn.BCEWithLogitsLoss():forward(x, tide.zeros({ 3, 2 }, "f64")) end))
    assert.are.equal("nn.BCEWithLogitsLoss: expected an f32 or f64 input (logits), got i64",
      err_of(function() nn.BCEWithLogitsLoss():forward(x:to("i64"), x) end))
    assert.are.equal('nn.BCEWithLogitsLoss: reduction must be "mean" or "sum", got none',
      err_of(function() nn.BCEWithLogitsLoss({ reduction = "none" }) end))
    assert.are.equal("nn.BCEWithLogitsLoss: pos_weight must be a number or a tensor, got string",
      err_of(function() nn.BCEWithLogitsLoss({ pos_weight = "2" }) end))
    assert.are.equal("nn.functional.binary_cross_entropy_with_logits: unknown option 'weight'"
      .. " (expected one of: pos_weight, reduction)",
      err_of(function() F.binary_cross_entropy_with_logits(x, x, { weight = 1 }) end))
    assert.are.equal("nn.functional.binary_cross_entropy_with_logits: expected a tensor as"
      .. " target, got number", err_of(function() F.binary_cross_entropy_with_logits(x, 1) end))
  end)
end)
