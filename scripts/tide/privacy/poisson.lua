-- tide.privacy.poisson: Poisson sampling of batches, the sampling the accountant assumes.
--
-- Every training sample joins each batch on its own with probability q, so batch sizes vary
-- (around q * n). The ranks split the sample indices 1..n by stride (rank r holds r+1,
-- r+1+size, ...: no index twice, unlike a padded DistributedSampler, which would give the
-- padded samples twice the rate) and each rank draws its part of the batch from a generator of
-- its own, so the union over the ranks is one Poisson batch of the whole set. An epoch is
-- round(1/q) batches.
local tide = require "tide"

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
    generator = tide.rng(seed * 65537 + 1), epoch = 0 }, Loader)
end

function Loader:set_epoch(e) self.epoch = e end

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
  local k = 0
  return function()
    if k >= self.steps_per_epoch then return nil end
    k = k + 1
    local rows = self:draw()
    local xs, ys = self.x:shape(), self.y:shape()
    xs[1], ys[1] = rows:size(1), rows:size(1)
    return take(self.x, rows, tide.empty(xs, self.x:dtype())),
      take(self.y, rows, tide.empty(ys, self.y:dtype())), k
  end
end

return M
