-- tide.linear: linear models fitted on row-sharded data.
--
--   local m = linear.logistic_regression{C = 1.0, solver = "lbfgs" | "gd" | "sgd", tol = 1e-8,
--     max_iter = 500, fit_intercept = true, memory = 10, batch_size = 64, lr = 0.1, seed = 0}
--   m:fit(X, y)   X: an n x d f64/f32 tensor (one process) or dtensor (each rank its rows, then
--                 collective); y: the labels of those rows (a tensor, or a dtensor sharded as X),
--                 0/1 (binary) or 1..K (K > 2: multinomial; K = 2: binary with class 2 positive)
--   m.coef (K' x d, K' = 1 when binary, as scikit-learn's coef_), m.intercept (K'), m.classes
--   m:predict(X) -> labels of X's rows (this rank's rows for a dtensor), in y's convention
--   m:predict_proba(X) -> n x K probabilities (n x 2 when binary: class 0/1, or 1/2)
--   m:loss(X, y) -> the objective: mean log-loss + ||coef||^2 / (2 C n), scikit-learn's
--                 C * sum(log-loss) + ||coef||^2 / 2 divided by C n (the intercept is not
--                 penalised); m:score(X, y) -> accuracy. Both collective for a dtensor.
-- Solvers: "lbfgs" (two-loop recursion, a strong Wolfe line search on the global loss,
-- tide/linear/wolfe.lua, the same for binary and multinomial), "gd" (full
-- batch, backtracking), "sgd" (mini-batches drawn by each rank from its rows, the gradients
-- summed over ranks every step; lr / sqrt(epoch) in epoch 1, 2, ...). Every sum over rows is a local sum
-- then an allgather added in rank order, so every rank takes the same steps bit for bit.
-- Iteration stops when max |gradient| <= tol or after max_iter iterations (epochs for sgd);
-- m.n_iter says how many ran.
local tide = require "tide"
local args = require "tide.args"
local dtensor = require "tide.dtensor"
local wolfe = require "tide.linear.wolfe"

local K = tide._internal.kernels
local M = {}
local LR = {}
LR.__index = LR

local lr_opts = { C = true, solver = true, tol = true, max_iter = true, fit_intercept = true,
  memory = true, batch_size = true, lr = true, seed = true }

function M.logistic_regression(opts, ...)
  args.at_most("linear.logistic_regression", 1, ...)
  local op = "linear.logistic_regression"
  opts = args.check_opts(opts, lr_opts, op, 3)
  local m = setmetatable({ C = opts.C or 1.0, solver = opts.solver or "lbfgs",
    tol = opts.tol or 1e-8, max_iter = opts.max_iter or 500,
    fit_intercept = opts.fit_intercept ~= false, memory = opts.memory or 10,
    batch_size = opts.batch_size or 64, lr = opts.lr or 0.1, seed = opts.seed or 0 }, LR)
  if type(m.C) ~= "number" or m.C <= 0 then
    error(op .. ": expected C > 0, got " .. tostring(m.C), 2)
  end
  if m.solver ~= "lbfgs" and m.solver ~= "gd" and m.solver ~= "sgd" then
    error(op .. ': expected solver "lbfgs", "gd" or "sgd", got ' .. tostring(m.solver), 2)
  end
  if math.type(m.max_iter) ~= "integer" or m.max_iter < 1 then
    error(op .. ": expected max_iter as a positive integer, got " .. tostring(m.max_iter), 2)
  end
  return m
end

-- ---------------------------------------------------------------- data

-- t itself when it is contiguous f64 already (never written to), else an f64 copy: a fit
-- should not begin by copying all of its data
local function as_f64(t)
  if t:dtype() == "f64" and t:is_contiguous() then return t end
  return t:to("f64"):contiguous()
end

-- this rank's rows (f64), labels (f64 1-D) and the communicator (nil for a plain tensor)
local function local_data(X, y, op)
  local comm
  if dtensor.is_dtensor(X) then
    comm = X:comm()
    X = X.shard
  end
  if dtensor.is_dtensor(y) then y = y.shard end
  if not tide.is_tensor(X) or X:dim() ~= 2 then
    error(op .. ": expected X as a 2-D tensor or dtensor, got " ..
      (tide.is_tensor(X) and (X:dim() .. "-D tensor") or type(X)), 3)
  end
  local bad = false
  if y ~= nil and (not tide.is_tensor(y) or y:dim() ~= 1 or y:size(1) ~= X:size(1)) then
    bad = ("%s: expected y as a 1-D tensor of %d labels (X's rows), got %s"):format(op,
      X:size(1), tide.is_tensor(y) and ("shape {" .. table.concat(y:shape(), ", ") .. "}")
        or type(y))
  end
  -- on a dtensor every rank learns of a rank whose labels do not match its rows, and raises
  -- naming it, rather than waiting for it in the next collective
  if comm and y ~= nil then
    for r, msg in ipairs(comm:allgather_obj(bad)) do
      if msg then error(("%s on rank %d"):format(msg, r - 1), 3) end
    end
  elseif bad then
    error(bad, 3)
  end
  return as_f64(X), y and as_f64(y), comm
end

-- the sum over every rank of a local 1-D f64 tensor, added in rank order (the same bits on
-- every rank, whatever MPI's reduction order)
local function global_sum(v, comm)
  if not comm or comm.size == 1 then return v end
  return comm:allgather(v:unsqueeze(1)):sum(1)
end

-- rank and 1-based row of the first NaN in X (nil when none)
local function first_nan(X)
  if not X:isnan():any() then return nil end
  local bad = X:ne(X):sum(2)
  if bad:sum() == 0 then return nil end
  return bad:gt(0):to("f64"):argmax()
end

local function check_finite(X, comm, op)
  local row = first_nan(X)
  local all = comm and comm:allgather_obj(row or false) or { row or false }
  for r, at in ipairs(all) do
    if at then
      error(("%s: X holds NaN at row %d on rank %d (impute it first, tide.impute)"):format(op,
        at, r - 1), 3)
    end
  end
end

-- the classes of y over every rank: {0, 1}, {1, 2} (binary) or {1 .. K}
local function classes_of(y, comm, op)
  local bad_row = y:ne(y:floor()):to("f64"):argmax()
  local info = { y:numel() > 0 and y:min() or math.huge, y:numel() > 0 and y:max() or -math.huge,
    y:ne(y:floor()):sum() > 0 and bad_row or false }
  local all = comm and comm:allgather_obj(info) or { info }
  local lo, hi = math.huge, -math.huge
  for r, i in ipairs(all) do
    if i[3] then
      error(("%s: expected integer labels, got %s at row %d on rank %d"):format(op,
        tostring(y:get(i[3])), i[3], r - 1), 3)
    end
    lo, hi = math.min(lo, i[1]), math.max(hi, i[2])
  end
  if lo >= 0 and hi <= 1 then return { 0, 1 } end
  if lo < 1 then
    error(("%s: expected labels 0/1 or 1..K, got %s"):format(op, tostring(math.tointeger(lo) or lo)), 3)
  end
  local c = {}
  for k = 1, math.tointeger(hi) do c[k] = k end
  if #c < 2 then error(op .. ": expected at least two classes, got labels all 1", 3) end
  return c
end

-- ---------------------------------------------------------------- the objective

-- W (d x K') and b (K') as views of the flat parameter vector
local function unpack_theta(m, theta)
  local d, K = m.d, m.k
  local W = theta:narrow(1, 1, d * K):view({ d, K })
  local b = m.fit_intercept and theta:narrow(1, d * K + 1, K) or nil
  return W, b
end

local function scores(m, theta, X)
  local W, b = unpack_theta(m, theta)
  local Z = tide.matmul(X, W)
  if b then Z = Z + b end
  return Z
end

-- the targets of this rank's rows: n x 1 (1 for the positive class) or n x K one-hot
local function targets(m, y)
  if m.k == 1 then return y:eq(m.classes[2]):to("f64"):unsqueeze(2):contiguous() end
  local ks = tide.tensor(m.classes, "f64")
  return y:unsqueeze(2):eq(ks:unsqueeze(1)):to("f64")
end

-- the sum over rows of the log-loss and its gradient, as one flat vector [loss, gW, gb]: one
-- C kernel reading the rows once (core/algo/logistic.h)
local function local_loss_grad(m, theta, X, T)
  local W, b = unpack_theta(m, theta)
  local l, gW, gb = K.logistic_loss_grad(X, W, b, T)
  local v = tide.empty({ 1 + m.nparams }, "f64")
  v:set_(1, l)
  v:narrow(1, 2, m.d * m.k):copy_(gW:view({ m.d * m.k }))
  if gb then v:narrow(1, 2 + m.d * m.k, m.k):copy_(gb) end
  return v
end

-- the global objective and gradient from the summed vector; n: rows over every rank
local function finish(m, theta, v, n)
  local W = unpack_theta(m, theta)
  local f = v:get(1) / n + (W * W):sum() / (2 * m.C * n)
  local g = v:narrow(1, 2, m.nparams) / n
  g:narrow(1, 1, m.d * m.k):add_(W:reshape({ m.d * m.k }) / (m.C * n))
  return f, g
end

local function dot(a, b) return (a * b):sum() end

-- Armijo's sufficient decrease; near the optimum the loss stops changing at f64 precision
-- while the gradient still shrinks, so a step that keeps the loss within rounding and
-- lowers the largest gradient entry is taken too (else tol below ~1e-9 could not be met)
local function accept(f, fn, t, slope, g, gn)
  if fn <= f + 1e-4 * t * slope then return true end
  return math.abs(fn - f) <= 1e-14 * math.abs(f) and gn:abs():max() < g:abs():max()
end

-- ---------------------------------------------------------------- solvers

local function lbfgs(m, fg, theta)
  local f, g = fg(theta)
  local S, Y, RHO = {}, {}, {}
  local it = 0
  while it < m.max_iter and g:abs():max() > m.tol do
    it = it + 1
    local q, alpha = g:clone(), {}
    for i = #S, 1, -1 do
      alpha[i] = RHO[i] * dot(S[i], q)
      q:sub_(Y[i] * alpha[i])
    end
    local gamma = #S > 0 and dot(S[#S], Y[#S]) / dot(Y[#S], Y[#S]) or 1 / math.max(1, g:abs():max())
    local r = q * gamma
    for i = 1, #S do
      r:add_(S[i] * (alpha[i] - RHO[i] * dot(Y[i], r)))
    end
    local d = -r
    local gd = dot(g, d)
    if gd >= 0 then   -- not a descent direction: forget the curvature pairs
      S, Y, RHO = {}, {}, {}
      d, gd = -g, -dot(g, g)
    end
    -- the loss, its slope along d and the point with its gradient, at step t
    local function phi(t)
      local x = theta + d * t
      local fx, gx = fg(x)
      return fx, dot(gx, d), { x, gx }
    end
    local t, fn, at = wolfe.search(phi, f, gd, 1)
    local tn, gn
    if t then
      tn, gn = at[1], at[2]
    else   -- no step lowers the loss by Wolfe's margin in f64: accept's rounding rule decides
      t = 1
      for _ = 1, 60 do
        tn = theta + d * t
        fn, gn = fg(tn)
        if accept(f, fn, t, gd, g, gn) then break end
        t = t / 2
      end
      if not accept(f, fn, t, gd, g, gn) then break end   -- nothing left to gain in f64
    end
    local s, yv = tn - theta, gn - g
    local sy = dot(s, yv)
    if sy > 1e-300 then
      S[#S + 1], Y[#Y + 1], RHO[#RHO + 1] = s, yv, 1 / sy
      if #S > m.memory then
        table.remove(S, 1); table.remove(Y, 1); table.remove(RHO, 1)
      end
    end
    theta, f, g = tn, fn, gn
  end
  return theta, it
end

local function gd(m, fg, theta)
  local f, g = fg(theta)
  local t, it = 1, 0
  while it < m.max_iter and g:abs():max() > m.tol do
    it = it + 1
    local gg = dot(g, g)
    local tn, fn, gn
    t = t * 2
    for _ = 1, 60 do
      tn = theta - g * t
      fn, gn = fg(tn)
      if accept(f, fn, t, -gg, g, gn) then break end
      t = t / 2
    end
    if not accept(f, fn, t, -gg, g, gn) then break end
    theta, f, g = tn, fn, gn
  end
  return theta, it
end

local function sgd(m, X, T, comm, n, theta)
  local nl = X:size(1)
  local P = comm and comm.size or 1
  local per = math.max(1, m.batch_size // P)
  -- every rank takes the same number of steps: enough for the largest shard
  local most = comm and 0 or nl
  if comm then
    for _, c in ipairs(comm:allgather_obj(nl)) do most = math.max(most, c) end
  end
  local steps = math.max(1, (most + per - 1) // per)
  local rank = comm and comm.rank or 0
  for epoch = 1, m.max_iter do
    local order = nl > 0 and tide.randperm(nl, { seed = m.seed * 1000003 + epoch * 7919 + rank,
      same_on_all_ranks = true }) or nil
    local lr = m.lr / math.sqrt(epoch)
    for s = 1, steps do
      local first = (s - 1) * per
      local count = math.max(0, math.min(per, nl - first))
      local v
      if count > 0 then
        local idx = order:narrow(1, first + 1, count)
        v = local_loss_grad(m, theta, X:index_select(1, idx), T:index_select(1, idx))
      else
        v = tide.zeros({ 1 + m.nparams }, "f64")
      end
      local both = tide.zeros({ 2 + m.nparams }, "f64")
      both:narrow(1, 1, 1 + m.nparams):copy_(v)
      both:set_(2 + m.nparams, count)
      both = global_sum(both, comm)
      local rows = both:get(2 + m.nparams)
      if rows > 0 then
        local W = unpack_theta(m, theta)
        local g = both:narrow(1, 2, m.nparams) / rows
        g:narrow(1, 1, m.d * m.k):add_(W:reshape({ m.d * m.k }) / (m.C * n))
        theta = theta - g * lr
      end
    end
  end
  return theta, m.max_iter
end

-- ---------------------------------------------------------------- the model

function LR:fit(X, y)
  local op = "logistic_regression.fit"
  local Xl, yl, comm = local_data(X, y, op)
  if yl == nil then error(op .. ": expected labels y, got nil", 2) end
  check_finite(Xl, comm, op)
  self.classes = classes_of(yl, comm, op)
  self.k = #self.classes == 2 and 1 or #self.classes
  self.d = Xl:size(2)
  self.nparams = self.d * self.k + (self.fit_intercept and self.k or 0)
  local n = comm and global_sum(tide.tensor({ Xl:size(1) }, "f64"), comm):get(1) or Xl:size(1)
  self.n_seen = n
  local T = targets(self, yl)
  local function fg(theta)
    return finish(self, theta, global_sum(local_loss_grad(self, theta, Xl, T), comm), n)
  end
  local theta = tide.zeros({ self.nparams }, "f64")
  local it
  if self.solver == "lbfgs" then
    theta, it = lbfgs(self, fg, theta)
  elseif self.solver == "gd" then
    theta, it = gd(self, fg, theta)
  else
    theta, it = sgd(self, Xl, T, comm, n, theta)
  end
  self.theta, self.n_iter = theta, it
  local W, b = unpack_theta(self, theta)
  self.coef = W:t():contiguous()
  self.intercept = b and b:clone() or tide.zeros({ self.k }, "f64")
  return self
end

local function check_fitted(m, op)
  if not m.theta then error(op .. ": the model is not fitted (call m:fit(X, y) first)", 3) end
end

function LR:predict_proba(X)
  local op = "logistic_regression.predict_proba"
  check_fitted(self, op)
  local Xl = local_data(X, nil, op)
  if Xl:size(2) ~= self.d then
    error(("%s: expected %d features, got %d"):format(op, self.d, Xl:size(2)), 2)
  end
  local Z = scores(self, self.theta, Xl)
  if self.k > 1 then return tide.softmax(Z) end
  local p = Z:sigmoid()
  local out = tide.zeros({ Xl:size(1), 2 }, "f64")
  out:select(2, 2):copy_(p:select(2, 1))
  out:select(2, 1):copy_(1 - p:select(2, 1))
  return out
end

function LR:predict(X)
  local p = self:predict_proba(X)
  local idx = p:argmax(2)   -- 1-based column
  return idx + (self.classes[1] - 1)
end

function LR:loss(X, y)
  local op = "logistic_regression.loss"
  check_fitted(self, op)
  local Xl, yl, comm = local_data(X, y, op)
  local n = comm and global_sum(tide.tensor({ Xl:size(1) }, "f64"), comm):get(1) or Xl:size(1)
  local v = global_sum(local_loss_grad(self, self.theta, Xl, targets(self, yl)), comm)
  return (finish(self, self.theta, v, n))
end

function LR:score(X, y)
  local op = "logistic_regression.score"
  check_fitted(self, op)
  local Xl, yl, comm = local_data(X, y, op)
  local hits = self:predict(Xl):to("f64"):eq(yl):to("f64"):sum()
  local v = global_sum(tide.tensor({ hits, Xl:size(1) }, "f64"), comm)
  return v:get(1) / v:get(2)
end

return M
