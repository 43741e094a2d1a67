-- tide.cluster.model: what a fit returns: centroids (k x d), labels, inertia, history, and
-- predict/transform for new rows (collective for a dtensor). Labels are 1-based (1..k) i32.
local tide = require "tide"
local args = require "tide.args"
local C = require "tide.cluster.context"

local K = tide._internal.cluster_kernels
local shape_str = args.shape_str
local is_dtensor, dtensor_comm, per_rank, check_finite = C.is_dtensor, C.dtensor_comm,
  C.per_rank, C.check_finite

local Model = {}
Model.__index = Model

local function check_rows_for_model(self, x, where)
  local xl = is_dtensor(x) and x.shard or x
  if not tide.is_tensor(xl) then
    error(("%s: expected a tensor or a dtensor, got %s"):format(where, type(x)), 3)
  end
  if xl:dim() ~= 2 or (xl:dtype() ~= "f32" and xl:dtype() ~= "f64") then
    error(("%s: expected a 2-D f32 or f64 tensor (rows x features), got %s %s"):format(where,
      xl:dtype(), shape_str(xl)), 3)
  end
  if xl:size(2) ~= self.n_features then
    error(("%s: expected %d features, got %d"):format(where, self.n_features, xl:size(2)), 3)
  end
  local ctx = { x = xl:contiguous(), n = xl:size(1), d = xl:size(2), rank = 0, size = 1,
    counts = { xl:size(1) } }
  if is_dtensor(x) then
    ctx.comm = dtensor_comm(x)
    ctx.rank, ctx.size = ctx.comm.rank, ctx.comm.size
    local counts = per_rank(ctx, ctx.n)
    for r = 1, ctx.size do ctx.counts[r] = math.tointeger(counts[r]) end
  end
  check_finite(ctx, where, 2)
  return ctx, self.centroids:to(xl:dtype())
end

local function wrap_like(x, ctx, t)
  if is_dtensor(x) then return tide.dtensor.from_local(t, ctx.comm) end
  return t
end

-- model:predict(x) -> the nearest centre (1-based, i32) of every row: a dtensor for a dtensor
-- (collective), else a tensor.
function Model:predict(x)
  local ctx, c = check_rows_for_model(self, x, "kmeans.predict")
  local labels = tide.zeros(ctx.n, "i32")
  K.assign(ctx.x, c, { labels = labels })
  return wrap_like(x, ctx, labels)
end

-- model:transform(x) -> the Euclidean distance of every row to every centre (rows x k, the
-- data's dtype): a dtensor for a dtensor (collective), else a tensor.
function Model:transform(x)
  local ctx, c = check_rows_for_model(self, x, "kmeans.transform")
  return wrap_like(x, ctx, K.distances(ctx.x, c))
end

function Model:__tostring()
  return ("tide.cluster model: k = %d, %d features, inertia %.6g after %d iterations"):format(
    self.k, self.n_features, self.inertia or 0 / 0, self.iterations)
end

-- model:state() -> {centroids (a copy), k, n_features, inertia, iterations, converged,
-- history}: what predict and transform need and what the fit reported. The labels are left
-- out: they belong to the training rows (model:predict(x) gives them again; a distributed
-- model's are a dtensor, which a checkpoint saves on its own). model:load_state(s) checks and
-- takes a state, and returns the model; cluster.model_from_state(s) makes a model from one.
local STATE = { centroids = true, k = true, n_features = true, inertia = true,
  iterations = true, converged = true, history = true }

local copy = args.copy_value

function Model:state()
  return { centroids = self.centroids:clone(), k = self.k, n_features = self.n_features,
    inertia = self.inertia, iterations = self.iterations, converged = self.converged,
    history = copy(self.history) }
end

function Model:load_state(s)
  local where = "kmeans.load_state"
  args.state_keys(s, STATE, where)
  local k = args.state_integer(s.k, where, "k", 1)
  local d = args.state_integer(s.n_features, where, "n_features", 1)
  args.state_integer(s.iterations, where, "iterations", 0)
  if self.centroids then
    args.state_tensor(s.centroids, self.centroids, where, "centroids")
  else
    local c = s.centroids
    local ok = tide.is_tensor(c) and (c:dtype() == "f32" or c:dtype() == "f64")
    args.state_tensor(c, ok and tide.empty({ k, d }, c:dtype()) or tide.empty({ k, d }),
      where, "centroids")
  end
  if s.inertia ~= nil and type(s.inertia) ~= "number" then
    error(where .. ": inertia expected a number, got " .. type(s.inertia), 2)
  end
  if type(s.converged) ~= "boolean" then
    error(where .. ": converged expected a boolean, got " .. type(s.converged), 2)
  end
  if s.history ~= nil and type(s.history) ~= "table" then
    error(where .. ": history expected a list of records, got " .. type(s.history), 2)
  end
  self.centroids, self.k, self.n_features = s.centroids:clone(), k, d
  self.inertia, self.iterations, self.converged = s.inertia, s.iterations, s.converged
  self.history = copy(s.history or {})
  return self
end

local function labels_out(ctx, labels)
  if ctx.comm ~= nil and tide.dtensor and tide.dtensor.from_local then
    return tide.dtensor.from_local(labels, ctx.comm)
  end
  return labels
end

Model.labels_out = labels_out

return Model
