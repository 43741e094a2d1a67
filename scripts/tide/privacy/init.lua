-- tide.privacy: differentially private training (DP-SGD, Abadi et al. 2016) with a Rényi-DP
-- accountant, in the manner of Opacus.
--
--   local model, opt, loader = privacy.make_private(model, optim.SGD(model, {lr = 0.5}),
--     data.DataLoader(train, {batch_size = 64}), {noise = 1.1, clip = 1, delta = 1e-5})
--   for x, y in loader:batches() do            -- Poisson-sampled batches
--     model:zero_grad()
--     local out = model:forward(x)
--     crit:forward(out, y)
--     model:backward(x, crit:backward(out, y))  -- per-sample gradients, clipped to norm clip
--     opt:step()                                -- + N(0, (noise*clip)^2), averaged, stepped
--   end
--   print(opt:epsilon())                        -- epsilon of the run so far, at delta
--
-- One step: every sample's gradient is clipped to norm C (grad_sample.lua); the clipped
-- gradients are summed on each rank; rank 0 alone adds Gaussian noise of standard deviation
-- sigma * C to its sum, once per global batch (drawn from ChaCha20, below); the ranks' sums
-- are added up (allreduce), so every rank holds the same noisy sum, whose noise has exactly
-- the variance (sigma C)^2 the accountant counts; it is divided by the expected global batch
-- size q * n, and the wrapped optimizer steps. (The ranks trust each other: a rank sees the others' un-noised sums inside
-- the allreduce. What is protected is everything the training releases: the parameters.)
local tide = require "tide"
local args = require "tide.args"
local accountant = require "tide.privacy.accountant"
local grad_sample = require "tide.privacy.grad_sample"
local poisson = require "tide.privacy.poisson"

local privacy = {}

-- The noise is drawn from the ChaCha20 stream (libsodium, core/secure) of a key derived from
-- the seed: cryptographically strong, as Opacus's secure_mode, and 3-4 times faster than
-- tide's Philox normal_ (which it would otherwise spend most of a DP step on).
local SECURE = tide._internal.secure_kernels

-- The 32-byte ChaCha20 key of a seed: BLAKE2b of the seed as one i64.
local function noise_key(seed) return SECURE.digest(tide.tensor({ seed }, "i64")) end
privacy.noise_key = noise_key

-- The accountant (accountant.lua): epsilon{noise, sample_rate, steps, delta [, orders]}
-- -> epsilon, best order; rdp{...} -> the RDP curve; noise_for{epsilon, ...} -> sigma.
privacy.epsilon = accountant.epsilon
privacy.rdp = accountant.rdp
privacy.noise_for = accountant.noise_for
privacy.DEFAULT_ORDERS = accountant.DEFAULT_ORDERS

-- per_sample_grads(model, x, grad_out, {loss_reduction = "mean"}) -> one tensor per
-- parameter (model:parameters()'s order), rows x <parameter shape>: sample i's gradient of its
-- own loss in row i. Runs model:forward(x) and its backward.
function privacy.per_sample_grads(model, x, grad_out, opts)
  local where = "privacy.per_sample_grads"
  opts = args.check_opts(opts, { loss_reduction = true }, where)
  local red = args.one_of(opts.loss_reduction, "loss_reduction", where, { "mean", "sum" },
    "mean")
  if not tide.is_tensor(x) or not tide.is_tensor(grad_out) then
    error(where .. ": expected input and grad_out tensors, got " .. type(x) .. " and " ..
      type(grad_out), 2)
  end
  return grad_sample.per_sample(model, x, grad_out, red == "mean" and x:size(1) or 1)
end

-- ------------------------------------------------------------------ the private model

local PrivateModel = {}
PrivateModel.__index = function(self, k)
  local v = PrivateModel[k]
  if v ~= nil then return v end
  v = rawget(self, "module")[k]      -- everything else is the wrapped model's
  if type(v) == "function" then
    return function(s, ...)
      if s == self then s = self.module end
      return v(s, ...)
    end
  end
  return v
end
PrivateModel.__name = "privacy.PrivateModel"

function PrivateModel:forward(x) return self.module:forward(x) end

-- backward(x, grad_out): the model's backward, then its gradients replaced by the sum of the
-- clipped per-sample gradients; self.norms keeps the per-sample norms before clipping.
function PrivateModel:backward(x, grad_out, opts)
  local scale = self.loss_reduction == "mean" and x:size(1) or 1
  if self.path == "layers" then
    local gi = self.module:backward(x, grad_out, opts)
    self.norms = grad_sample.layers_clip_(self.leaves, self.clip, scale)
    return gi
  end
  self.norms = grad_sample.loop_clip_(self.module, x, grad_out, self.clip, scale)
  return nil
end

function PrivateModel:parameters() return self.module:parameters() end

function PrivateModel:zero_grad()
  self.module:zero_grad()
  return self
end

-- ------------------------------------------------------------------ the private optimizer

local PrivateOptimizer = {}
PrivateOptimizer.__index = PrivateOptimizer
PrivateOptimizer.__name = "privacy.PrivateOptimizer"

-- step(): noise once per global batch (rank 0), the sum over the ranks, the average over the
-- expected batch size, then the wrapped optimizer's step.
function PrivateOptimizer:step()
  local _, gs = self.model:parameters()
  local comm = self.comm
  if comm.rank == 0 then
    local noise, std = self._noise, self.noise * self.clip
    for i, g in ipairs(gs) do
      noise[i] = noise[i] or tide.empty(g:shape(), g:dtype())
      local _, block = SECURE.normal_(noise[i], self._key, self._block, std)
      self._block = block
      g:add_(noise[i])
    end
  end
  for _, g in ipairs(gs) do
    if comm.size > 1 then comm:allreduce(g, "sum") end
    g:div_(self.expected_batch)
  end
  self.optimizer:step()
  self.steps = self.steps + 1
end

-- epsilon([delta]) -> epsilon, best order: the privacy spent by the steps taken so far.
function PrivateOptimizer:epsilon(delta)
  return privacy.epsilon { noise = self.noise, sample_rate = self.sample_rate,
    steps = self.steps, delta = delta or self.delta }
end

-- state() -> {optimizer, steps, noise_block}: the wrapped optimizer's state, the steps the
-- accountant counts and the position in the noise stream, so that a resumed run adds the noise
-- and reports the epsilon an uninterrupted one would. load_state(s) takes it back.
function PrivateOptimizer:state()
  return { optimizer = self.optimizer:state(), steps = self.steps, noise_block = self._block }
end

local OPT_STATE = { optimizer = true, steps = true, noise_block = true }

function PrivateOptimizer:load_state(s)
  local where = "privacy.PrivateOptimizer.load_state"
  args.state_keys(s, OPT_STATE, where)
  local steps = args.state_integer(s.steps, where, "steps", 0)
  local block = args.state_integer(s.noise_block, where, "noise_block", 0)
  self.optimizer:load_state(s.optimizer)
  self.steps, self._block = steps, block
  return self
end

-- ------------------------------------------------------------------ make_private

local MAKE_PRIVATE = { noise = true, clip = true, delta = true, epsilon = true, epochs = true,
  comm = true, seed = true, loss_reduction = true }

local function check_model(model, where)
  if type(model) ~= "table" or type(model.parameters) ~= "function"
    or type(model.backward) ~= "function" then
    error(where .. ": expected a module with :parameters() and :backward(), got " ..
      type(model), 3)
  end
  local mt = getmetatable(model)
  if mt and mt.__name == "ddp.DistributedDataParallel" then
    error(where .. ": expected the plain model, got a ddp-wrapped one (the private optimizer " ..
      "adds up the clipped gradients over {comm = ...} itself)", 3)
  end
end

-- make_private(model, optimizer, loader, {noise, clip, delta, comm = tide.world, seed = 0,
-- loss_reduction = "mean"}) -> model, optimizer, loader, their private twins.
-- noise is sigma, the multiplier of clip in the noise's standard deviation; instead of noise,
-- {epsilon = E, epochs = N} picks the smallest sigma whose epsilon after N epochs is E
-- (bisection on the accountant). loader is a data.DataLoader: its data set is resampled by
-- Poisson sampling at rate q = batch_size * ranks / n (its batch size is per rank, as with
-- tide.ddp). model's parameters are broadcast from rank 0. loss_reduction says whether the
-- criterion's loss is the batch's mean (the default) or its sum.
function privacy.make_private(model, optimizer, loader, opts)
  local where = "privacy.make_private"
  check_model(model, where)
  if type(optimizer) ~= "table" or type(optimizer.step) ~= "function" then
    error(where .. ": expected an optimizer (with :step()), got " .. type(optimizer), 2)
  end
  if type(loader) ~= "table" or type(loader.dataset) ~= "table" or loader.batch_size == nil then
    error(where .. ": expected a data.DataLoader, got " .. type(loader), 2)
  end
  opts = args.check_opts(opts, MAKE_PRIVATE, where)
  local clip = args.number(opts.clip, "clip", where, nil, "> 0")
  local delta = opts.delta
  if type(delta) ~= "number" or not (delta > 0 and delta < 1) then
    error(where .. ": delta must be a number in (0, 1), got " .. tostring(delta), 2)
  end
  local comm = opts.comm or tide.world
  local red = args.one_of(opts.loss_reduction, "loss_reduction", where, { "mean", "sum" },
    "mean")
  local seed = args.seed(opts.seed, where)
  local n = loader.dataset.x:size(1)
  local q = math.min(1, loader.batch_size * comm.size / n)
  local noise
  if opts.epsilon ~= nil then
    if opts.noise ~= nil then error(where .. ": give noise or epsilon, not both", 2) end
    local epochs = args.integer(opts.epochs, "epochs", where, 1)
    local steps = epochs * math.max(1, math.floor(1 / q + 0.5))
    noise = accountant.noise_for { epsilon = args.number(opts.epsilon, "epsilon", where, nil,
      "> 0"), sample_rate = q, steps = steps, delta = delta }
  else
    noise = args.number(opts.noise, "noise", where, nil, "> 0")
  end
  for _, p in ipairs((model:parameters())) do
    if comm.size > 1 then comm:broadcast(p, 0) end
  end
  local path, leaves = grad_sample.path(model)
  if path == "layers" then grad_sample.record(leaves) end
  local pmodel = setmetatable({ module = model, clip = clip, path = path, leaves = leaves,
    loss_reduction = red }, PrivateModel)
  local popt = setmetatable({ optimizer = optimizer, model = model, comm = comm, noise = noise,
    clip = clip, delta = delta, sample_rate = q, expected_batch = q * n, steps = 0,
    _noise = {}, _key = noise_key(seed), _block = 0 }, PrivateOptimizer)
  local ploader = poisson.new(loader.dataset, q, comm, seed)
  return pmodel, popt, ploader
end

return privacy
