-- tide.model_selection: k-fold splits, train/test splits and cross-validation spread over ranks.
--
-- Indices are 1-based i64 tensors (Lua's convention), ready for t:index_select(1, idx). Every
-- rank computes the same splits (the shuffles draw from {seed =, same_on_all_ranks = true}), so
-- no message is needed to agree on them.
--
--   kfold(n, k, {seed =, stratify = labels})  -> list of k {train = idx, test = idx}
--       without seed the rows stay in order and fold f tests a contiguous run (the first n % k
--       folds one row longer), as scikit-learn's KFold; with seed they are shuffled first.
--       stratify (a 1-D tensor of n labels) deals each class's rows round-robin over the folds,
--       continuing where the previous class stopped, so every fold holds floor or ceil of
--       (class rows / k) of each class.
--   train_test_split(n, {test_size = 0.25, seed =, stratify =}) -> train idx, test idx
--   cross_validate(fit_fn, data, k, {seed =, stratify =, comm =}) -> list of k results
--       data: a table of tensors with the same rows (e.g. {X = X, y = y}); fold f runs on rank
--       (f - 1) % comm.size as fit_fn(train_data, test_data, f), each a table of the same keys
--       holding the fold's rows; every rank gets every fold's result (any value comm:
--       allgather_obj carries), in fold order. Collective.
local tide = require "tide"
local args = require "tide.args"

local M = {}

local function check_count(n, what, op)
  if math.type(n) ~= "integer" or n < 0 then
    error(("%s: expected %s as a non-negative integer, got %s"):format(op, what, tostring(n)), 3)
  end
end

local function order(n, seed)
  if seed == nil then
    local t = {}
    for i = 1, n do t[i] = i end
    return t
  end
  return tide.randperm(n, { seed = seed, same_on_all_ranks = true }):totable()
end

local function as_index(list)
  table.sort(list)
  return tide.tensor(list, "i64")
end

-- per fold, the list of its rows (1-based)
local function fold_rows(n, k, opts, op)
  local rows = order(n, opts.seed)
  local folds = {}
  for f = 1, k do folds[f] = {} end
  if opts.stratify == nil then
    local q, r, at = n // k, n % k, 0
    for f = 1, k do
      for _ = 1, q + (f <= r and 1 or 0) do
        at = at + 1
        folds[f][#folds[f] + 1] = rows[at]
      end
    end
    return folds
  end
  local labels = opts.stratify
  if not tide.is_tensor(labels) or labels:dim() ~= 1 or labels:size(1) ~= n then
    error(("%s: expected stratify as a 1-D tensor of %d labels, got %s"):format(op, n,
      tide.is_tensor(labels) and ("a tensor of shape {" .. table.concat(labels:shape(), ", ")
        .. "}") or type(labels)), 3)
  end
  local lab = labels:totable()
  local classes, members = {}, {}
  for _, i in ipairs(rows) do
    local c = lab[i]
    if not members[c] then
      members[c] = {}
      classes[#classes + 1] = c
    end
    members[c][#members[c] + 1] = i
  end
  table.sort(classes)
  local f = 0
  for _, c in ipairs(classes) do
    for _, i in ipairs(members[c]) do
      folds[f + 1][#folds[f + 1] + 1] = i
      f = (f + 1) % k
    end
  end
  return folds
end

local split_opts = { seed = true, stratify = true }

function M.kfold(n, k, opts, ...)
  args.at_most("model_selection.kfold", 3, ...)
  local op = "model_selection.kfold"
  check_count(n, "n", op)
  if math.type(k) ~= "integer" or k < 2 or k > n then
    error(("%s: expected k as an integer in 2..n (n = %d), got %s"):format(op, n, tostring(k)), 2)
  end
  opts = args.check_opts(opts, split_opts, op, 3)
  local folds = fold_rows(n, k, opts, op)
  local out = {}
  for f = 1, k do
    local train = {}
    for g = 1, k do
      if g ~= f then
        for _, i in ipairs(folds[g]) do train[#train + 1] = i end
      end
    end
    out[f] = { train = as_index(train), test = as_index(folds[f]) }
  end
  return out
end

function M.train_test_split(n, opts, ...)
  args.at_most("model_selection.train_test_split", 2, ...)
  local op = "model_selection.train_test_split"
  check_count(n, "n", op)
  opts = args.check_opts(opts, { test_size = true, seed = true, stratify = true }, op, 3)
  local size = opts.test_size or 0.25
  if type(size) ~= "number" or size <= 0 or size >= 1 then
    error(op .. ": expected test_size in (0, 1), got " .. tostring(size), 2)
  end
  -- the test rows are the first fold of a round(1 / size) split when stratified, else the
  -- first ceil(n * size) rows of the (shuffled) order
  if opts.stratify ~= nil then
    local k = math.max(2, math.floor(1 / size + 0.5))
    local f = M.kfold(n, k, { seed = opts.seed, stratify = opts.stratify })[1]
    return f.train, f.test
  end
  local rows, ntest = order(n, opts.seed), math.ceil(n * size)
  local train, test = {}, {}
  for i, r in ipairs(rows) do
    if i <= ntest then test[#test + 1] = r else train[#train + 1] = r end
  end
  return as_index(train), as_index(test)
end

local function subset(data, keys, idx)
  local out = {}
  for _, key in ipairs(keys) do out[key] = data[key]:index_select(1, idx) end
  return out
end

function M.cross_validate(fit_fn, data, k, opts, ...)
  args.at_most("model_selection.cross_validate", 4, ...)
  local op = "model_selection.cross_validate"
  if type(fit_fn) ~= "function" then
    error(op .. ": expected fit_fn as a function, got " .. type(fit_fn), 2)
  end
  if type(data) ~= "table" then
    error(op .. ": expected data as a table of tensors, got " .. type(data), 2)
  end
  opts = args.check_opts(opts, { seed = true, stratify = true, comm = true }, op, 3)
  local keys, n = {}, nil
  for key in pairs(data) do keys[#keys + 1] = key end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, key in ipairs(keys) do
    local t = data[key]
    if not tide.is_tensor(t) or t:dim() < 1 then
      error(("%s: expected data.%s as a tensor of rows, got %s"):format(op, tostring(key),
        type(t)), 2)
    end
    if n and t:size(1) ~= n then
      error(("%s: data.%s has %d rows, the others %d"):format(op, tostring(key), t:size(1), n), 2)
    end
    n = t:size(1)
  end
  if not n then error(op .. ": data holds no tensor", 2) end
  local comm = opts.comm or tide.world
  local folds = M.kfold(n, k, { seed = opts.seed, stratify = opts.stratify })
  local mine = {}
  for f = 1, k do
    if (f - 1) % comm.size == comm.rank then
      mine[#mine + 1] = { f, fit_fn(subset(data, keys, folds[f].train),
        subset(data, keys, folds[f].test), f) }
    end
  end
  local results = {}
  for _, list in ipairs(comm:allgather_obj(mine)) do
    for _, pair in ipairs(list) do results[pair[1]] = pair[2] end
  end
  return results
end

return M
