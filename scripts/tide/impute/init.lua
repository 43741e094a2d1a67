-- tide.impute: fill missing values (NaN) per column with the column's mean or median over the
-- values present, on a tensor or on a row-sharded dtensor (then collective: every rank gets
-- the same statistics, and an imputed dtensor sharded as the input).
--
--   impute.mean(X)   -> an imputed copy (X is left as it was)
--   impute.median(X) -> the same with the median (the mean of the two middle values when the
--                       count is even, as numpy's nanmedian)
--   impute.statistics(X, "mean" | "median") -> the 1-D f64 tensor of per-column values
--   impute.knn(X, {k = 5}) -> the same with the mean of the k nearest rows having the feature
--                       (scikit-learn's KNNImputer and nan_euclidean distances, impute/knn.lua);
--                       on a dtensor the neighbours come from every rank
--   impute.mask(X, {strategy = "mean", k = 5, features = "missing-only"})
--                    -> imputed, indicator, columns: training with missing features
-- X is 2-D, f32 or f64. A column with no value at all is an error naming it.
local tide = require "tide"
local args = require "tide.args"
local dtensor = require "tide.dtensor"
local knn = require "tide.impute.knn"

local M = {}

local function check(X, op)
  local t = dtensor.is_dtensor(X) and X.shard or X
  if not tide.is_tensor(t) or t:dim() ~= 2 then
    error(("%s: expected a 2-D tensor or dtensor, got %s"):format(op,
      tide.is_tensor(t) and (t:dim() .. "-D tensor") or type(X)), 3)
  end
  if t:dtype() ~= "f32" and t:dtype() ~= "f64" then
    error(("%s: expected f32 or f64 values, got %s"):format(op, t:dtype()), 3)
  end
  return t
end

local function no_values(op, counts)
  for j, c in ipairs(counts:totable()) do
    if c == 0 then
      error(("%s: column %d has no value (every row is NaN)"):format(op, j), 3)
    end
  end
end

local function means(X, t, op)
  local x = t:to("f64")
  local missing = x:ne(x)
  local sums = x:masked_fill(missing, 0):sum(1)
  local counts = (1 - missing:to("f64")):sum(1)
  if dtensor.is_dtensor(X) then
    local both = X:comm():allreduce(tide.tensor({ sums:totable(), counts:totable() }, "f64"))
    sums, counts = both:select(1, 1), both:select(1, 2)
  end
  no_values(op, counts)
  return sums / counts
end

local function medians(X, t, op)
  local x = (dtensor.is_dtensor(X) and X:full() or t):to("f64")
  local out, counts = {}, {}
  for j = 1, x:size(2) do
    local col = x:select(2, j)
    local present = col:masked_select(col:eq(col))
    local n = present:numel()
    counts[j] = n
    if n > 0 then
      local s = present:sort()
      out[j] = n % 2 == 1 and s:get((n + 1) // 2) or (s:get(n // 2) + s:get(n // 2 + 1)) / 2
    end
  end
  no_values(op, tide.tensor(counts, "f64"))
  return tide.tensor(out, "f64")
end

function M.statistics(X, how)
  local op = "impute." .. tostring(how)
  local t = check(X, op)
  if how == "mean" then return means(X, t, op) end
  if how == "median" then return medians(X, t, op) end
  error("impute.statistics: expected \"mean\" or \"median\", got " .. tostring(how), 2)
end

local function impute(X, how)
  local op = "impute." .. how
  local t = check(X, op)
  local stats = M.statistics(X, how):to(t:dtype())
  local filled = tide.where(t:ne(t), stats:unsqueeze(1):expand(t:shape()), t)
  if dtensor.is_dtensor(X) then return dtensor.from_local(filled, X:comm()) end
  return filled
end

function M.mean(X) return impute(X, "mean") end
function M.median(X) return impute(X, "median") end

local function check_k(opts, op)
  opts = args.check_opts(opts, { k = true }, op, 4)
  local k = args.integer(opts.k, "k", op, 1, 5, 4)
  return k
end

local function knn_filled(X, t, k, op)
  local col_means = means(X, t, op):totable()
  local B = (dtensor.is_dtensor(X) and X:full() or t):to("f64")
  local filled = knn.impute_rows(t:to("f64"), B, k, col_means):to(t:dtype())
  if dtensor.is_dtensor(X) then return dtensor.from_local(filled, X:comm()) end
  return filled
end

-- knn(X, {k = 5}): an imputed copy; a dtensor gives a dtensor sharded as X (collective).
function M.knn(X, opts)
  local op = "impute.knn"
  local t = check(X, op)
  return knn_filled(X, t, check_k(opts, op), op)
end

local STRATEGIES = { "mean", "median", "knn" }
local FEATURES = { "missing-only", "all" }

-- mask(X, {strategy = "mean" | "median" | "knn", k = 5, features = "missing-only" | "all"})
--   -> imputed, indicator, columns
-- The answer to training on rows with missing features: impute them, and let the model see
-- where they were. indicator is a 0/1 matrix (X's dtype and rows; a dtensor for a dtensor)
-- with one column per feature listed in columns (1-based): those with a NaN in some row of
-- any rank ("missing-only", scikit-learn's add_indicator), or every feature ("all"). Append it
-- as features: tide.cat({imputed, indicator}, 2). Collective for a dtensor.
function M.mask(X, opts)
  local op = "impute.mask"
  local t = check(X, op)
  opts = args.check_opts(opts, { strategy = true, k = true, features = true }, op, 3)
  local strategy = args.one_of(opts.strategy, "strategy", op, STRATEGIES, "mean", 3)
  local features = args.one_of(opts.features, "features", op, FEATURES, "missing-only", 3)
  if opts.k ~= nil and strategy ~= "knn" then
    error(op .. ': option k needs strategy = "knn", got strategy = "' .. strategy .. '"', 2)
  end
  local imputed
  if strategy == "knn" then
    imputed = knn_filled(X, t, args.integer(opts.k, "k", op, 1, 5, 3), op)
  else
    imputed = impute(X, strategy)
  end
  local holes = t:ne(t)
  local per_column = holes:to("f64"):sum(1)
  if dtensor.is_dtensor(X) then per_column = X:comm():allreduce(per_column) end
  local columns = {}
  for j, n in ipairs(per_column:totable()) do
    if features == "all" or n > 0 then columns[#columns + 1] = j end
  end
  local indicator = #columns > 0
    and holes:index_select(2, tide.tensor(columns, "i64")):to(t:dtype())
    or tide.zeros({ t:size(1), 0 }, t:dtype())
  if dtensor.is_dtensor(X) then indicator = dtensor.from_local(indicator, X:comm()) end
  return imputed, indicator, columns
end

return M
