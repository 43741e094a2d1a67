-- tide.impute.knn: fill each missing value with the mean of that feature over the k nearest
-- rows that have it, as scikit-learn's KNNImputer (weights = "uniform").
--
-- Distances are scikit-learn's nan_euclidean: between rows a and b, over the features both
-- have, sqrt(d / common * sum (a_f - b_f)^2); rows sharing no feature have no distance and
-- never count as neighbours (a row with no neighbour at all takes the column's mean). A row
-- never lends to itself: it lacks the feature it asks for. On a row-sharded dtensor every
-- rank gathers all rows as donors and imputes its own rows, so neighbours come from every
-- rank; memory per rank is the whole n x d matrix plus (rows with a NaN here) x n distances.
local tide = require "tide"

-- Squared nan_euclidean distances from the rows of A (r x d) to those of B (n x d), f64,
-- scaled by d / common; NaN where a pair has no feature in common. By three products, as
-- scikit-learn computes them.
local function nan_sq_distances(A, B)
  local ma, mb = A:eq(A):to("f64"), B:eq(B):to("f64")
  local a0, b0 = A:masked_fill(A:ne(A), 0), B:masked_fill(B:ne(B), 0)
  local sq = tide.matmul(a0 * a0, mb:t()) + tide.matmul(ma, (b0 * b0):t())
    - tide.matmul(a0, b0:t()) * 2
  local common = tide.matmul(ma, mb:t())
  return sq:clamp(0, nil) * A:size(2) / common     -- 0 / 0 = NaN where nothing is shared
end

-- The 1-based i64 positions where the 1-D mask m is nonzero.
local function where_set(m)
  return m:nonzero():select(2, 1)
end

-- The value for each receiver of column c: the mean over its k nearest donors (the rows of
-- B having column c), or the column's mean when no donor is at a finite distance.
local function column_values(dist, B, c, k, col_mean)
  local present = B:select(2, c):eq(B:select(2, c))
  local donors = where_set(present)
  local sub = dist:index_select(2, donors)
  sub = sub:masked_fill(sub:ne(sub), math.huge)
  local kk = math.min(k, donors:numel())
  local near, pos = sub:topk(kk, 2, { largest = false })
  local values = B:select(2, c):index_select(1, donors)
  local picked = values:index_select(1, pos:reshape({ -1 })):reshape(pos:shape())
  local counted = near:lt(math.huge):to("f64")
  local count = counted:sum(2)
  local mean = (picked * counted):sum(2) / count:clamp(1, nil)
  return tide.where(count:eq(0), tide.full(mean:shape(), col_mean, "f64"), mean)
end

-- X (this rank's rows, f64 r x d) with its holes filled from the donors B (all rows, n x d).
-- col_means: the per-column means of B, for receivers without a neighbour.
local function impute_rows(X, B, k, col_means)
  local out = X:clone()
  local holes = X:ne(X)
  local receivers = where_set(holes:to("f64"):sum(2):gt(0))
  if receivers:numel() == 0 then return out end
  local R = X:index_select(1, receivers)
  local dist = nan_sq_distances(R, B)
  local rholes = R:ne(R)
  for c = 1, X:size(2) do
    local rows = where_set(rholes:select(2, c))
    if rows:numel() > 0 then
      local v = column_values(dist:index_select(1, rows), B, c, k, col_means[c])
      local targets = receivers:index_select(1, rows)
      local col = tide.zeros({ X:size(1) }, "f64"):scatter_add_(1, targets, v)
      out:select(2, c):copy_(tide.where(holes:select(2, c), col, out:select(2, c)))
    end
  end
  return out
end

return {
  nan_sq_distances = nan_sq_distances,
  impute_rows = impute_rows,
}
