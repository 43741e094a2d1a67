-- tide.linear.wolfe: a line search for the strong Wolfe conditions (Nocedal and Wright,
-- Numerical Optimization, 2nd ed., algorithms 3.5 and 3.6), what L-BFGS needs for its
-- curvature pairs to be positive and its unit step to be taken most of the time.
--
--   local t, f, x = wolfe.search(phi, f0, slope0, t1)
--
-- phi(t) returns f(t), f'(t) and one more value of the caller's (say the point and its
-- gradient), handed back with the step found. f0 and slope0 (< 0) are f(0) and f'(0); t1 the
-- first step tried. A step t satisfies
--   f(t) <= f0 + c1 t slope0   (sufficient decrease)   and   |f'(t)| <= c2 |slope0|
-- with c1 = 1e-4 and c2 = 0.9 (scipy's and scikit-learn's L-BFGS use the same). Returns t, f(t)
-- and phi's third value, or nil after max_evals (30) evaluations of phi without such a step:
-- near an optimum f stops changing at the precision of a double and no step can decrease it
-- by c1 t |slope0|; the caller then falls back on what f64 still allows.
local M = {}

local C1, C2 = 1e-4, 0.9

M.c1, M.c2 = C1, C2

-- The minimiser of the cubic through (a, fa) and (b, fb) with slopes da and db (N&W eq. 3.59),
-- or nil when the cubic has none.
local function cubic_min(a, fa, da, b, fb, db)
  local d1 = da + db - 3 * (fa - fb) / (a - b)
  local disc = d1 * d1 - da * db
  if not (disc >= 0) then return nil end
  local d2 = math.sqrt(disc) * (b > a and 1 or -1)
  local t = b - (b - a) * (db + d2 - d1) / (db - da + 2 * d2)
  if t ~= t then return nil end
  return t
end

-- A step in [lo, hi] (either order): the cubic's minimiser kept a tenth of the interval away
-- from its ends, else the midpoint, so that every try shrinks the interval.
local function interpolate(lo, flo, dlo, hi, fhi, dhi)
  local a, b = math.min(lo, hi), math.max(lo, hi)
  local t = cubic_min(lo, flo, dlo, hi, fhi, dhi)
  local margin = 0.1 * (b - a)
  if not t or t < a + margin or t > b - margin then t = (lo + hi) / 2 end
  return t
end

function M.search(phi, f0, slope0, t1, max_evals)
  max_evals = max_evals or 30
  local bound = -C1 * slope0   -- sufficient decrease per unit step
  local flat = -C2 * slope0    -- the largest |f'(t)| accepted
  local evals = 0

  -- algorithm 3.6: lo satisfies sufficient decrease and has the lowest f so far; the
  -- interval [lo, hi] holds a step satisfying both conditions
  local function zoom(lo, flo, dlo, hi, fhi, dhi)
    while evals < max_evals and lo ~= hi do
      local t = interpolate(lo, flo, dlo, hi, fhi, dhi)
      if t == lo or t == hi then return nil end   -- the interval is down to one double
      evals = evals + 1
      local f, dt, x = phi(t)
      if not (f <= f0 - bound * t) or f >= flo then   -- (a NaN fails too)
        hi, fhi, dhi = t, f, dt
      else
        if math.abs(dt) <= flat then return t, f, x end
        if dt * (hi - lo) >= 0 then hi, fhi, dhi = lo, flo, dlo end
        lo, flo, dlo = t, f, dt
      end
    end
    return nil
  end

  -- algorithm 3.5: grow the step until it brackets an acceptable one
  local prev, fprev, dprev = 0, f0, slope0
  local t = t1
  while evals < max_evals do
    evals = evals + 1
    local f, dt, x = phi(t)
    if not (f <= f0 - bound * t) or (prev > 0 and f >= fprev) then
      return zoom(prev, fprev, dprev, t, f, dt)
    end
    if math.abs(dt) <= flat then return t, f, x end
    if dt >= 0 then return zoom(t, f, dt, prev, fprev, dprev) end
    prev, fprev, dprev = t, f, dt
    t = t * 2
  end
  return nil
end

return M
