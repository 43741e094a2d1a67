-- tide.privacy.poisson: Poisson sampling of batches, the sampling the accountant assumes.
--
-- Every training sample joins each batch on its own with probability q, so batch sizes vary
-- (around q * n). The ranks split the sample indices 1..n by stride (rank r holds r+1,
-- r+1+size, ...: no index twice, unlike a padded DistributedSampler, which would give the
-- padded samples twice the rate) and each rank draws its part of the batch from a generator of
-- its own, so the union over the ranks is one Poisson batch of the whole set. An epoch is
-- round(1/q) batches.
--
-- loader:state() -> {epoch, step, ranks, n, sample_rate, generators = {rank 0's, ...}}, the
-- same on every rank (collective over the loader's comm): step is how many batches batches()
-- has yielded in the epoch, and each rank's generator state is where its draws go on. After
-- loader:load_state(s), the next batches() of that epoch yields the batches an uninterrupted
-- run would have drawn after step s.step (and counts k from s.step + 1). A state taken after
-- an epoch's last batch is the next epoch's at step 0. The rank count, n and the sample rate
-- must be the loader's own: the batches are draws of each rank's own stream.
local tide = require "tide"
local args = require "tide.args"

local M = {}

local Loader = {}
Loader.__index = Loader
Loader.__name = "privacy.PoissonLoader"

-- new(dataset, {sample_rate, comm, seed}) -> a loader with :batches() and :set_epoch(e).
function M.new(dataset, sample_rate, comm, seed)
  local n = dataset.x:size(1)
  -- this rank's indices r+1, r+1+size, ... up to n
  local count = (n - comm.rank + comm.size - 1) // comm.size
  local mine = tide.arange(count, "i64"):mul_(comm.size):add_(comm.rank + 1)
  return setmetatable({ dataset = dataset, x = dataset.x:contiguous(),
    y = dataset.y:contiguous(), n = n, sample_rate = sample_rate, comm = comm,
    indices = mine, steps_per_epoch = math.max(1, math.floor(1 / sample_rate + 0.5)),
    -- tide.rng gives every rank a stream of its own, so no two shards share a mask
    generator = tide.rng(seed * 65537 + 1), epoch = 0, step = 0 }, Loader)
end

function Loader:set_epoch(e) self.epoch = e end

local STATE = { epoch = true, step = true, ranks = true, n = true, sample_rate = true,
  generators = true }

function Loader:state()
  local comm, g = self.comm, self.generator:state()
  local s = { epoch = self.epoch, step = self.step, ranks = comm.size, n = self.n,
    sample_rate = self.sample_rate, generators = comm.size > 1 and comm:allgather_obj(g) or { g } }
  if s.step >= self.steps_per_epoch then s.epoch, s.step = s.epoch + 1, 0 end
  return s
end

function Loader:load_state(s)
  local where = "privacy.PoissonLoader.load_state"
  args.state_keys(s, STATE, where)
  local epoch = args.state_integer(s.epoch, where, "epoch", 0)
  local step = args.state_integer(s.step, where, "step", 0)
  for _, k in ipairs { "ranks", "n", "sample_rate" } do
    local mine = k == "ranks" and self.comm.size or self[k]
    if s[k] ~= mine then
      error(("%s: %s expected %s (this loader's), got %s"):format(where, k, tostring(mine),
        tostring(s[k])), 2)
    end
  end
  if step >= self.steps_per_epoch then
    error(("%s: step expected below %d (the batches of an epoch), got %d"):format(where,
      self.steps_per_epoch, step), 2)
  end
  if type(s.generators) ~= "table" or #s.generators ~= s.ranks then
    error(("%s: generators expected a list of %d generator states, got %s"):format(where,
      s.ranks, type(s.generators)), 2)
  end
  self.generator:load_state(s.generators[self.comm.rank + 1])
  self.epoch, self.step = epoch, step
  self._resume = { epoch = epoch, step = step }
  return self
end

function Loader:__len() return self.steps_per_epoch end

-- This rank's sample indices (1-based) of one Poisson batch.
function Loader:draw()
  local m = self.indices:size(1)
  local keep = tide.empty({ m }):uniform_(0, 1, { generator = self.generator }):lt(
    self.sample_rate)
  local picked = keep:nonzero():view({ -1 })
  return self.indices:index_select(1, picked)
end

-- An iterator over (x, y, k) for the epoch's steps_per_epoch batches; x and y are new tensors
-- each time (their row counts vary). A batch may be empty on a rank (0 rows).
function Loader:batches()
  local take = tide._internal.kernels.take_rows
  local r = self._resume
  self._resume = nil
  local k = r and r.epoch == self.epoch and r.step or 0
  self.step = k
  return function()
    if k >= self.steps_per_epoch then return nil end
    k = k + 1
    self.step = k
    local rows = self:draw()
    local xs, ys = self.x:shape(), self.y:shape()
    xs[1], ys[1] = rows:size(1), rows:size(1)
    return take(self.x, rows, tide.empty(xs, self.x:dtype())),
      take(self.y, rows, tide.empty(ys, self.y:dtype())), k
  end
end

return M
