-- tide.privacy.accountant: the Rényi-DP accountant of the sampled Gaussian mechanism
-- (Mironov, Talwar and Zhang, "Rényi Differential Privacy of the Sampled Gaussian Mechanism",
-- 2019), as Opacus and TensorFlow Privacy compute it.
--
-- One step adds N(0, sigma^2 C^2) noise to a sum of per-sample gradients clipped to norm C,
-- over a batch where every sample was taken with probability q (Poisson sampling). At order a
-- its RDP is log(A_a) / (a - 1), where A_a is the a-th moment of the likelihood ratio of the
-- mixture (1 - q) N(0, sigma^2) + q N(1, sigma^2) against N(0, sigma^2); T steps compose to
-- T times that. An (epsilon, delta) guarantee follows from the best order (Balle et al. 2020,
-- the conversion Opacus uses):
--   eps = min over a of rdp(a) + log1p(-1/a) - (log(delta) + log(a)) / (a - 1)
local args = require "tide.args"

local M = {}

local log, exp, sqrt, abs, huge = math.log, math.exp, math.sqrt, math.abs, math.huge

-- Opacus's default orders: 1.1 to 10.9 by 0.1, then 12 to 63.
local function default_orders()
  local orders = {}
  for i = 11, 109 do orders[#orders + 1] = i / 10 end
  for a = 12, 63 do orders[#orders + 1] = a end
  return orders
end
M.DEFAULT_ORDERS = default_orders()

-- log(exp(a) + exp(b)) and log(exp(a) - exp(b)) for a >= b, without overflow.
local function log_add(a, b)
  local hi, lo = math.max(a, b), math.min(a, b)
  if lo == -huge then return hi end
  return hi + log(1 + exp(lo - hi))
end

local function log_sub(a, b)
  if b == -huge then return a end
  if a == b then return -huge end
  return a + log(1 - exp(b - a))
end

-- log(erfc(x)). Below 2.5, erfc = 1 - erf with erf from its series of positive terms
-- erf(x) = 2x/sqrt(pi) e^(-x^2) sum (2x^2)^n / (1*3*...*(2n+1)), which loses no digits to
-- cancellation; above, the continued fraction erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x +
-- 1/(x + (3/2)/(x + ...)))) evaluated bottom-up, in logs so that large x does not underflow.
local LOG_SQRT_PI = 0.5 * log(math.pi)

local function erf_series(x)
  local x2 = x * x
  local term, sum, n = 1, 1, 0
  repeat
    n = n + 1
    term = term * 2 * x2 / (2 * n + 1)
    sum = sum + term
  until term < 1e-17 * sum
  return 2 * x / sqrt(math.pi) * exp(-x2) * sum
end

local function log_erfc_cf(x)   -- x >= 2.5
  local f = x
  for k = 80, 1, -1 do f = x + (k / 2) / f end
  return -x * x - LOG_SQRT_PI - log(f)
end

local function log_erfc(x)
  if x >= 2.5 then return log_erfc_cf(x) end
  if x >= 0 then return log(1 - erf_series(x)) end
  if x > -2.5 then return log(1 + erf_series(-x)) end
  return log(2 - exp(log_erfc_cf(-x)))
end
M.log_erfc = log_erfc

-- log(A_a) for an integer order: the binomial expansion
-- A_a = sum_k C(a, k) (1-q)^(a-k) q^k exp((k^2 - k) / (2 sigma^2)).
local function log_a_int(q, sigma, a)
  local acc = -huge
  local lq, l1q, s2 = log(q), log(1 - q), 2 * sigma * sigma
  local lc = 0
  for k = 0, a do
    if k > 0 then lc = lc + log((a - k + 1) / k) end
    acc = log_add(acc, lc + k * lq + (a - k) * l1q + (k * k - k) / s2)
  end
  return acc
end

-- log(A_a) for a fractional order: the integral split at z0, where the two Gaussians'
-- weighted densities cross, and each half expanded in a binomial series (Mironov et al.,
-- section 3.3; Opacus's _compute_log_a_frac), summed until both terms fall below e^-30.
-- The binomial coefficient C(a, i) is carried from one term to the next, C(a, i) = C(a, i-1)
-- (a - i + 1) / i, as the log of its absolute value and its sign (for fractional a the
-- coefficients alternate once i > a).
local function log_a_frac(q, sigma, a)
  local a0, a1 = -huge, -huge
  local z0 = sigma * sigma * log(1 / q - 1) + 0.5
  local lq, l1q, s2 = log(q), log(1 - q), 2 * sigma * sigma
  local rt = sqrt(2) * sigma
  local i, lc, sign = 0, 0, 1
  while true do
    if i > 0 then
      local f = (a - i + 1) / i
      if f < 0 then sign = -sign end
      lc = lc + log(abs(f))
    end
    local j = a - i
    local s0 = lc + i * lq + j * l1q + (i * i - i) / s2 + log(0.5) + log_erfc((i - z0) / rt)
    local s1 = lc + j * lq + i * l1q + (j * j - j) / s2 + log(0.5) + log_erfc((z0 - j) / rt)
    if sign > 0 then
      a0, a1 = log_add(a0, s0), log_add(a1, s1)
    else
      a0, a1 = log_sub(a0, s0), log_sub(a1, s1)
    end
    i = i + 1
    if math.max(s0, s1) < -30 then break end
  end
  return log_add(a0, a1)
end

-- The RDP of one step at order a.
local function rdp_step(q, sigma, a)
  if q == 0 then return 0 end
  if q == 1 then return a / (2 * sigma * sigma) end
  local la = (a == math.floor(a)) and log_a_int(q, sigma, math.tointeger(a))
    or log_a_frac(q, sigma, a)
  return la / (a - 1)
end

local function check_orders(orders, where)
  if orders == nil then return M.DEFAULT_ORDERS end
  if type(orders) ~= "table" or #orders == 0 then
    error(where .. ": orders expected a non-empty list of numbers > 1, got " .. type(orders), 4)
  end
  for i, a in ipairs(orders) do
    if type(a) ~= "number" or not (a > 1) or a == huge then
      error(("%s: orders[%d] expected a finite number > 1, got %s"):format(where, i,
        tostring(a)), 4)
    end
  end
  return orders
end

-- The options common to rdp and epsilon, checked.
local function mechanism(opts, where, known)
  opts = args.check_opts(opts, known, where, 4)
  local sigma = args.number(opts.noise, "noise", where, nil, "> 0", 4)
  local q = args.number(opts.sample_rate, "sample_rate", where, nil, "in [0, 1]", 4)
  local steps = args.integer(opts.steps, "steps", where, 0, nil, 4)
  return sigma, q, steps, check_orders(opts.orders, where)
end

-- rdp{noise, sample_rate, steps [, orders]} -> list of RDP values, one per order, and the
-- orders.
function M.rdp(opts)
  local sigma, q, steps, orders = mechanism(opts, "privacy.rdp",
    { noise = true, sample_rate = true, steps = true, orders = true })
  local out = {}
  for i, a in ipairs(orders) do out[i] = steps * rdp_step(q, sigma, a) end
  return out, orders
end

-- The (epsilon, order) of an RDP curve at delta.
function M.rdp_to_epsilon(rdp, orders, delta)
  local best, best_a = huge, nil
  for i, a in ipairs(orders) do
    local eps = rdp[i] + log(1 - 1 / a) - (log(delta) + log(a)) / (a - 1)
    if eps < best then best, best_a = eps, a end
  end
  return math.max(best, 0), best_a
end

local function check_delta(delta, where)
  if type(delta) ~= "number" or not (delta > 0 and delta < 1) then
    error(where .. ": delta expected a number in (0, 1), got " .. tostring(delta), 3)
  end
  return delta
end
M.check_delta = check_delta

-- epsilon{noise, sample_rate, steps, delta [, orders]} -> epsilon, best order.
function M.epsilon(opts)
  local where = "privacy.epsilon"
  local sigma, q, steps, orders = mechanism(opts, where,
    { noise = true, sample_rate = true, steps = true, delta = true, orders = true })
  local delta = check_delta(opts.delta, where)
  local rdp = {}
  for i, a in ipairs(orders) do rdp[i] = steps * rdp_step(q, sigma, a) end
  return M.rdp_to_epsilon(rdp, orders, delta)
end

-- noise_for{epsilon, sample_rate, steps, delta [, orders]} -> the smallest noise multiplier
-- whose epsilon is at most the target, by bisection (epsilon falls as the noise grows), to a
-- relative precision of 1e-4.
function M.noise_for(opts)
  local where = "privacy.noise_for"
  opts = args.check_opts(opts, { epsilon = true, sample_rate = true, steps = true,
    delta = true, orders = true }, where)
  local target = opts.epsilon
  if type(target) ~= "number" or not (target > 0) or target == huge then
    error(where .. ": epsilon expected a finite number > 0, got " .. tostring(target), 2)
  end
  local function eps_at(sigma)
    return (M.epsilon { noise = sigma, sample_rate = opts.sample_rate, steps = opts.steps,
      delta = opts.delta, orders = opts.orders })
  end
  local lo, hi = 0.1, 1
  while eps_at(hi) > target do
    lo, hi = hi, hi * 2
    if hi > 1e6 then error(where .. ": no noise multiplier reaches epsilon " .. target, 2) end
  end
  while (hi - lo) > 1e-4 * hi do
    local mid = (lo + hi) / 2
    if eps_at(mid) > target then lo = mid else hi = mid end
  end
  return hi
end

return M
