-- tide.data: data sets as whole tensors (Fashion-MNIST, synthetic classes, Gaussian blobs),
-- samplers that split them across ranks, and a loader that cuts them into contiguous batches.
--
--   local train = data.fashion_mnist{split = "train"}      -- train.x: 60000x784 f32 in [0,1]
--                                                          -- train.y: 60000 i64, labels 1..10
--   local sampler = data.DistributedSampler{n = train.n, comm = tide.world, seed = 0}
--   local loader = data.DataLoader(train, {batch_size = 64, sampler = sampler})
--   for epoch = 1, 5 do
--     sampler:set_epoch(epoch)
--     for x, y in loader:batches() do ... end
--   end
--   local s = loader:state()    -- {step, ..., sampler = {epoch, ...}}: resume with load_state
--
-- A data set is a table {x = inputs (n x d), y = targets (n, or n x k), n = n, classes = c}.
-- Class labels are 1-based (1..classes), as everywhere in tide's Lua API; Fashion-MNIST's
-- labels 0..9 in the files become 1..10. Sample indices are 1-based too. Ranks are 0-based.
local tide = require "tide"

local data = {}

local args = require "tide.args"
local check_opts = args.check_opts

-- ------------------------------------------------------------------ Fashion-MNIST

data.FASHION_MNIST_PATH = "/usr/share/datasets/fashion-mnist"
data.FASHION_MNIST_CLASSES = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
  "Shirt", "Sneaker", "Bag", "Ankle boot" }

-- fashion_mnist{split = "train" | "test", path = folder}: the Fashion-MNIST images as an
-- n x 784 f32 tensor scaled to [0, 1] (pixel / 255) and their labels as i64 1..10 (the
-- files' 0..9 plus one; data.FASHION_MNIST_CLASSES names them). The folder holds the four
-- IDX .gz files of Debian's package dataset-fashion-mnist (its default location unless path
-- or the TIDE_FASHION_MNIST environment variable says otherwise).
function data.fashion_mnist(opts, ...)
  args.at_most("data.fashion_mnist", 1, ...)
  local where = "data.fashion_mnist"
  opts = check_opts(opts, { split = true, path = true }, where)
  local split = opts.split or "train"
  if split ~= "train" and split ~= "test" then
    error(where .. ': split must be "train" or "test", got ' .. tostring(split), 2)
  end
  local dir = opts.path or os.getenv("TIDE_FASHION_MNIST") or data.FASHION_MNIST_PATH
  local prefix = split == "train" and "train" or "t10k"
  local files = { dir .. "/" .. prefix .. "-images-idx3-ubyte.gz",
    dir .. "/" .. prefix .. "-labels-idx1-ubyte.gz" }
  for _, f in ipairs(files) do
    local fh = io.open(f, "rb")
    if not fh then
      error(("%s: the data set is missing (no %s); install the Debian package " ..
        "dataset-fashion-mnist, or pass path= to a folder with its IDX .gz files"):format(where, f), 2)
    end
    fh:close()
  end
  local images = tide.io.read_idx(files[1])
  local labels = tide.io.read_idx(files[2])
  local n = images:size(1)
  if labels:dim() ~= 1 or labels:size(1) ~= n then
    error(("%s: %s has %d images but %s has %s labels"):format(where, files[1], n, files[2],
      table.concat(labels:shape(), "x")), 2)
  end
  local x = images:reshape({ n, images:numel() // n }):to("f32")
  x:div_(255)
  local y = labels:to("i64")
  y:add_(1)
  return { x = x, y = y, n = n, classes = 10, name = "fashion-mnist " .. split }
end

-- ------------------------------------------------------------------ synthetic data

-- synthetic_classification{n, d, classes, seed = 0, separation = 3, dtype = "f32"}:
-- n points in d dims, labels uniform over 1..classes, each point its class centre plus
-- standard normal noise; centres are N(0, separation^2) in every coordinate. Same seed, same
-- data on every rank.
function data.synthetic_classification(opts, ...)
  args.at_most("data.synthetic_classification", 1, ...)
  local where = "data.synthetic_classification"
  opts = check_opts(opts, { n = true, d = true, classes = true, seed = true, separation = true,
    dtype = true }, where)
  local n = args.integer(opts.n, "n", where, 1)
  local d = args.integer(opts.d, "d", where, 1)
  local classes = args.integer(opts.classes, "classes", where, 2)
  local seed = args.integer(opts.seed, "seed", where, 0, 0)
  local sep = args.number(opts.separation, "separation", where, 3)
  local dtype = opts.dtype or "f32"
  local same = true         -- one data set, whatever the rank
  local centres = tide.randn({ classes, d }, { seed = seed, dtype = dtype, same_on_all_ranks = same })
  centres:mul_(sep)
  local y = tide.randint(1, classes + 1, { n }, { seed = seed + 1, dtype = "i64",
    same_on_all_ranks = same })
  local x = centres:index_select(1, y)
  x:add_(tide.randn({ n, d }, { seed = seed + 2, dtype = dtype, same_on_all_ranks = same }))
  return { x = x, y = y, n = n, classes = classes, name = "synthetic" }
end

-- Rows first .. first + count − 1 (0-based) of a global data set of n rows, under the block
-- layout of `size` ranks (rank r gets ⌊n/size⌋ rows, one more for the first n mod size ranks).
local function block_rows(n, size, rank)
  local base, extra = n // size, n % size
  return rank * base + math.min(rank, extra), base + (rank < extra and 1 or 0)
end

-- blobs{n, d, k, std = 1, box = 5, seed = 0, dtype = "f32", comm = nil}
--   -> x, centres, labels
-- Seeded isotropic Gaussian blobs: k centres uniform in [−box, box)^d, every row a centre
-- picked uniformly plus std · N(0, I). With comm, x holds only this rank's block of rows (the
-- block layout of dtensors) and labels (i64, 1..k) their true clusters; each rank generates
-- only its own rows, and they are the same rows for any number of ranks (counter-based
-- random numbers: row i uses the same counters wherever it lives). centres is k x d.
function data.blobs(opts, ...)
  args.at_most("data.blobs", 1, ...)
  local where = "data.blobs"
  opts = check_opts(opts, { n = true, d = true, k = true, std = true, box = true, seed = true,
    dtype = true, comm = true }, where)
  local n = args.integer(opts.n, "n", where, 1)
  local d = args.integer(opts.d, "d", where, 1)
  local k = args.integer(opts.k, "k", where, 1)
  local std = args.number(opts.std, "std", where, 1)
  local box = args.number(opts.box, "box", where, 5)
  local seed = args.seed(opts.seed, where)
  local dtype = opts.dtype or "f32"
  local comm = opts.comm
  local first, count = 0, n
  if comm ~= nil then first, count = block_rows(n, comm.size, comm.rank) end
  local g = tide.rng(seed, { same_on_all_ranks = true })
  local centres = tide.rand({ k, d }, { generator = g, dtype = dtype })
  centres:mul_(2 * box):add_(-box)
  g:set_counter(k * d + first)
  local labels = tide.randint(1, k + 1, { count }, { generator = g, dtype = "i64" })
  g:set_counter(k * d + n + first * d)
  local x = tide.randn({ count, d }, { generator = g, dtype = dtype })
  x:mul_(std):add_(centres:index_select(1, labels))
  return x, centres, labels
end

-- ------------------------------------------------------------------ samplers

local Sampler = {}
Sampler.__index = Sampler

-- DistributedSampler{n, comm = tide.world, shuffle = true, seed = 0, drop_last = false}:
-- splits sample indices 1..n among comm.size ranks as torch's DistributedSampler does. Every
-- rank draws the same permutation (from seed + epoch); it is cut to a multiple of the rank
-- count (drop_last) or padded with its own first indices, and rank r takes entries
-- r+1, r+1+size, r+1+2*size, ... So batch k of every rank together make batch k of one
-- process with a batch size size times larger. comm is anything with .rank (0-based) and
-- .size.
function data.DistributedSampler(opts, ...)
  args.at_most("data.DistributedSampler", 1, ...)
  local where = "data.DistributedSampler"
  opts = check_opts(opts, { n = true, comm = true, shuffle = true, seed = true,
    drop_last = true }, where)
  local n = args.integer(opts.n, "n", where, 1)
  local comm = opts.comm or tide.world
  if type(comm) ~= "table" and type(comm) ~= "userdata" then
    error(where .. ": comm must be a communicator, got " .. type(comm), 2)
  end
  local rank, size = comm.rank, comm.size
  if math.type(rank) ~= "integer" or math.type(size) ~= "integer" or rank < 0 or rank >= size then
    error(where .. ": comm must have an integer rank in 0..size-1 and size", 2)
  end
  local seed = args.integer(opts.seed, "seed", where, 0, 0)
  local drop_last = opts.drop_last == true
  if drop_last and n < size then
    error(("%s: drop_last with %d samples leaves nothing for %d ranks"):format(where, n, size), 2)
  end
  local total = drop_last and (n // size) * size or -(-n // size) * size
  return setmetatable({ n = n, rank = rank, size = size, seed = seed,
    shuffle = opts.shuffle ~= false, drop_last = drop_last, epoch = 0, total = total,
    num_samples = total // size }, Sampler)
end

-- A sampler over 1..n for one process: DistributedSampler with a world of one.
function data.Sampler(opts, ...)
  args.at_most("data.Sampler", 1, ...)
  opts = check_opts(opts, { n = true, shuffle = true, seed = true }, "data.Sampler")
  return data.DistributedSampler { n = opts.n, shuffle = opts.shuffle, seed = opts.seed,
    comm = { rank = 0, size = 1 } }
end

-- The permutation of the next indices() call is drawn from seed + epoch.
function Sampler:set_epoch(e)
  args.integer(e, "epoch", "DistributedSampler.set_epoch", 0)
  self.epoch = e
end

-- This rank's sample indices for the current epoch: a 1-D i64 tensor of num_samples entries
-- (1-based).
function Sampler:indices()
  local order
  if self.shuffle then
    order = tide.randperm(self.n, { seed = self.seed + self.epoch, dtype = "i64",
      same_on_all_ranks = true })
  else
    order = tide.arange(1, self.n + 1, 1, "i64")
  end
  local total = self.total
  local all
  if total <= self.n then
    all = order:narrow(1, 1, total)
  else
    all = tide.empty({ total }, "i64")
    all:narrow(1, 1, self.n):copy_(order)
    local filled = self.n
    while filled < total do                 -- at most size - 1 indices: few rounds
      local k = math.min(self.n, total - filled)
      all:narrow(1, filled + 1, k):copy_(order:narrow(1, 1, k))
      filled = filled + k
    end
  end
  if self.size == 1 then return all:contiguous() end
  return all:view({ total // self.size, self.size }):select(2, self.rank + 1):contiguous()
end

function Sampler:__len() return self.num_samples end

-- sampler:state() -> {epoch, n, seed, shuffle, ranks}: the epoch is the position; the rest
-- says which order it is a position in. load_state takes the epoch after checking that n, seed
-- and shuffle match (another order would not continue the run), and returns the sampler. The
-- rank count may differ: an epoch starts the same on any number of ranks.
local SAMPLER_STATE = { epoch = true, n = true, seed = true, shuffle = true, ranks = true }

function Sampler:state()
  return { epoch = self.epoch, n = self.n, seed = self.seed, shuffle = self.shuffle,
    ranks = self.size }
end

function Sampler:load_state(s)
  local where = "DistributedSampler.load_state"
  args.state_keys(s, SAMPLER_STATE, where)
  local epoch = args.state_integer(s.epoch, where, "epoch", 0)
  args.state_integer(s.ranks, where, "ranks", 1)
  for _, k in ipairs { "n", "seed", "shuffle" } do
    if s[k] ~= self[k] or math.type(s[k]) ~= math.type(self[k]) then
      error(("%s: %s expected %s (this sampler's), got %s"):format(where, k, tostring(self[k]),
        tostring(s[k])), 2)
    end
  end
  self.epoch = epoch
  return self
end

-- ------------------------------------------------------------------ loader

local Loader = {}
Loader.__index = Loader

-- DataLoader(dataset, {batch_size, sampler = nil, shuffle = false, seed = 0,
--                      drop_last = false})
-- Without a sampler it walks the whole set (shuffled when asked; call loader:set_epoch(e) for
-- a new order each epoch). drop_last drops a final batch smaller than batch_size.
function data.DataLoader(dataset, opts, ...)
  args.at_most("data.DataLoader", 2, ...)
  local where = "data.DataLoader"
  if type(dataset) ~= "table" or not tide.is_tensor(dataset.x) or not tide.is_tensor(dataset.y) then
    error(where .. ": expected a data set {x = tensor, y = tensor}, got " .. type(dataset), 2)
  end
  local n = dataset.x:size(1)
  if dataset.y:size(1) ~= n then
    error(("%s: the data set has %d inputs but %d targets"):format(where, n,
      dataset.y:size(1)), 2)
  end
  opts = check_opts(opts, { batch_size = true, sampler = true, shuffle = true, seed = true,
    drop_last = true }, where)
  local bs = args.integer(opts.batch_size, "batch_size", where, 1)
  local sampler = opts.sampler
  if sampler == nil then
    sampler = data.Sampler { n = n, shuffle = opts.shuffle == true, seed = opts.seed or 0 }
  elseif type(sampler) ~= "table" or type(sampler.indices) ~= "function" then
    error(where .. ": sampler must have an :indices() method", 2)
  elseif sampler.n and sampler.n ~= n then
    error(("%s: the sampler covers %d samples but the data set has %d"):format(where, sampler.n,
      n), 2)
  end
  return setmetatable({ dataset = dataset, batch_size = bs, sampler = sampler,
    drop_last = opts.drop_last == true, x = dataset.x:contiguous(), y = dataset.y:contiguous(),
    step = 0 }, Loader)
end

function Loader:set_epoch(e)
  if self.sampler.set_epoch then self.sampler:set_epoch(e) end
end

-- loader:state() -> {step, batch_size, drop_last, sampler = sampler:state()}: step is how many
-- batches batches() has yielded in the sampler's current epoch (sampler.epoch). After
-- loader:load_state(s), the next batches() of that same epoch skips the first s.step batches,
-- so a resumed epoch yields the remaining batches in the same order (and counts k from
-- s.step + 1); a batches() of another epoch starts at its beginning. The sampler needs state
-- and load_state (tide's have them). A state taken after an epoch's last batch is that of the
-- next epoch at step 0. A mid-epoch step only means the same thing for the same
-- batch size and rank count: another is an error, unless step is 0.
local LOADER_STATE = { step = true, batch_size = true, drop_last = true, sampler = true }

local function sampler_of(self, where)
  local sampler = self.sampler
  if type(sampler.state) ~= "function" or type(sampler.load_state) ~= "function" then
    error(where .. ": the sampler has no state/load_state methods", 3)
  end
  return sampler
end

function Loader:state()
  local sampler = sampler_of(self, "DataLoader.state")
  local s = { step = self.step, batch_size = self.batch_size, drop_last = self.drop_last,
    sampler = sampler:state() }
  -- A finished epoch is the next one's boundary: saved so, it resumes on any rank count and
  -- batch split (a run saved at 4 ranks goes on at 2), as a mid-epoch step cannot.
  if s.step > 0 and s.step >= self:num_batches() then
    s.step, s.sampler.epoch = 0, s.sampler.epoch + 1
  end
  return s
end

function Loader:load_state(s)
  local where = "DataLoader.load_state"
  local sampler = sampler_of(self, where)
  args.state_keys(s, LOADER_STATE, where)
  local step = args.state_integer(s.step, where, "step", 0)
  args.state_integer(s.batch_size, where, "batch_size", 1)
  if type(s.sampler) ~= "table" then
    error(where .. ": sampler expected a table from sampler:state(), got " .. type(s.sampler), 2)
  end
  if step > 0 then
    if s.batch_size ~= self.batch_size or s.drop_last ~= self.drop_last then
      error(("%s: step %d was counted in batches of %d%s; this loader makes batches of %d%s " ..
        "(resume at an epoch boundary to change them)"):format(where, step, s.batch_size,
        s.drop_last and " (drop_last)" or "", self.batch_size,
        self.drop_last and " (drop_last)" or ""), 2)
    end
    local ranks = sampler.size or 1
    if s.sampler.ranks ~= nil and s.sampler.ranks ~= ranks then
      error(("%s: step %d was counted at %s ranks, this loader runs at %d (resume at an " ..
        "epoch boundary to change the rank count)"):format(where, step,
        tostring(s.sampler.ranks), ranks), 2)
    end
    if step > self:num_batches() then
      error(("%s: step expected at most %d (the batches of an epoch), got %d"):format(where,
        self:num_batches(), step), 2)
    end
  end
  local ok, err = pcall(sampler.load_state, sampler, s.sampler)
  if not ok then
    error(("%s: sampler: %s"):format(where, (tostring(err):gsub("^.-load_state: ", ""))), 2)
  end
  self.step = step
  self._resume = { epoch = sampler.epoch, step = step }
  return self
end

-- How many batches batches() yields.
function Loader:num_batches()
  local m = self.sampler.num_samples or self.sampler:indices():size(1)
  return self.drop_last and m // self.batch_size or -(-m // self.batch_size)
end

-- An iterator over (x, y, k): batch k's inputs and targets as contiguous tensors, gathered
-- row by row (one memcpy per sample, no per-sample Lua). The loader reuses these two tensors
-- for every batch of the same size, so the next batch overwrites them: clone what you keep.
function Loader:batches()
  local resume, skip = self._resume, 0
  self._resume = nil
  if resume and resume.epoch == self.sampler.epoch then skip = resume.step end
  local idx = self.sampler:indices()
  local m, bs = idx:size(1), self.batch_size
  local x, y = self.x, self.y
  local take = tide._internal.kernels.take_rows
  local bufs = self._bufs
  if bufs == nil then
    bufs = {}
    self._bufs = bufs
  end
  local start, k = 1 + skip * bs, skip
  local stop = self.drop_last and (m // bs) * bs or m
  self.step = k
  return function()
    if start > stop then return nil end
    local len = math.min(bs, stop - start + 1)
    local rows = idx:narrow(1, start, len)
    start, k = start + len, k + 1
    self.step = k
    local b = bufs[len]
    if b == nil then
      local xs, ys = x:shape(), y:shape()
      xs[1], ys[1] = len, len
      b = { tide.empty(xs, x:dtype()), tide.empty(ys, y:dtype()) }
      bufs[len] = b
    end
    return take(x, rows, b[1]), take(y, rows, b[2]), k
  end
end

return data
