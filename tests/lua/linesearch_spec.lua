-- tide.linear.wolfe, the strong Wolfe line search L-BFGS uses (Nocedal and Wright, algorithms
-- 3.5 and 3.6): every step it returns is checked against the two conditions computed here, on
-- functions that need the step grown, zoomed into, or refused.
local wolfe = require "tide.linear.wolfe"

-- phi(t) for f(t): f, f' (by the formula given), and t itself as the caller's value
local function line(f, df)
  local calls = 0
  return function(t)
    calls = calls + 1
    return f(t), df(t), t
  end, function() return calls end
end

local function assert_wolfe(f, df, t)
  local f0, s0 = f(0), df(0)
  assert.is_true(t > 0)
  assert.is_true(f(t) <= f0 + wolfe.c1 * t * s0, "sufficient decrease at " .. t)
  assert.is_true(math.abs(df(t)) <= wolfe.c2 * math.abs(s0), "curvature at " .. t)
end

describe("the strong Wolfe line search", function()
  it("takes the first step when it satisfies both conditions", function()
    local f = function(t) return (t - 1.2) ^ 2 end
    local df = function(t) return 2 * (t - 1.2) end
    local phi, calls = line(f, df)
    local t, ft, x = wolfe.search(phi, f(0), df(0), 1)
    assert.are.same({ 1, f(1), 1, 1 }, { t, ft, x, calls() })
  end)

  it("grows a step that is too short, and zooms into one that is too long", function()
    local cases = {
      { function(t) return (t - 100) ^ 2 end, function(t) return 2 * (t - 100) end, 1 },
      { function(t) return (t - 0.01) ^ 2 end, function(t) return 2 * (t - 0.01) end, 1 },
      -- steep walls, a slope that changes sign twice
      { function(t) return -t * math.exp(-t) end,
        function(t) return (t - 1) * math.exp(-t) end, 30 },
      { function(t) return t ^ 4 - 4 * t ^ 2 - t end,
        function(t) return 4 * t ^ 3 - 8 * t - 1 end, 5 },
    }
    for i, c in ipairs(cases) do
      local phi = line(c[1], c[2])
      local t, ft = wolfe.search(phi, c[1](0), c[2](0), c[3])
      assert.is_not_nil(t, "case " .. i)
      assert.are.equal(c[1](t), ft)
      assert_wolfe(c[1], c[2], t)
    end
  end)

  it("steps back from a NaN, and gives up on a function that no step decreases", function()
    local f = function(t) return t > 2 and 0 / 0 or (t - 1.5) ^ 2 end
    local df = function(t) return t > 2 and 0 / 0 or 2 * (t - 1.5) end
    local t = wolfe.search(line(f, df), f(0), df(0), 8)
    assert_wolfe(f, df, t)
    -- f flat at a double's precision while its slope says it falls: nil within 30 calls
    local phi, calls = line(function() return 1 end, function() return -1e-30 end)
    assert.is_nil(wolfe.search(phi, 1, -1e-30, 1))
    assert.is_true(calls() <= 30)
  end)
end)
