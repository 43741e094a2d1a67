-- tide.compress: gradient compression hooks for tide.ddp, as PyTorch's communication hooks.
--
--   local model = ddp.wrap(net, tide.world, {compress = "powersgd", rank = 4})
--   local model = ddp.wrap(net, tide.world, {compress = "topk", ratio = 0.01})
--   local model = ddp.wrap(net, tide.world, {compress = function(bucket, ctx) ... end})
--
-- A hook gets a bucket (the flat f32 or f64 gradient buffer of this rank) and a context, and
-- returns the bucket averaged over ranks (a tensor of the bucket's size and dtype). It talks
-- to the other ranks through ctx:allgather(t) and ctx:allreduce(t) (a sum), which count the
-- bytes this rank puts on the wire and the seconds spent in them; ctx.state is a table kept
-- per bucket from one step to the next (error feedback lives there); ctx.size, ctx.rank and
-- ctx.entries (the gradients in the bucket: {offset = o, shape = s}, offset 0-based) describe
-- the rest. The built-in hooks:
--
--   fp16, bf16  the bucket converted to 16 bits and allgathered (MPI cannot add halves), each
--               rank adding the N halves in f32: half the bytes of an f32 allreduce's payload.
--   int8        per-bucket scale max|x| / 127, nearest rounding (error <= scale / 2 per element
--               and rank), allgathered as bytes plus one f32 scale per rank: a quarter.
--   topk        the k = ceil(ratio * n) largest |x| of (bucket + last step's residual), with
--               error feedback: what was not sent is added to the next step's bucket; indices
--               (i32) and values allgathered and added up.
--   powersgd    Vogels et al. 2019, rank r with error feedback and warm start: for each matrix
--               gradient M (+ its error) whose rank-r factors are smaller than it, P = M Q,
--               allreduce P, orthonormalise P (Gram-Schmidt), Q = M^T P, allreduce Q, M ~ P Q^T;
--               the other gradients are allreduced uncompressed, as PyTorch's hook does. One
--               allreduce for all P, one for all Q, one for the rest.
--
-- Bytes on the wire are counted as the payload a rank contributes to each collective (an f32
-- allreduce of n elements: 4n), so ratios compare with an uncompressed allreduce directly.
local tide = require "tide"
local args = require "tide.args"

local M = {}

local SIZE = { f32 = 4, f64 = 8, i32 = 4, i64 = 8, u8 = 1, f16 = 2, bf16 = 2 }

local Ctx = {}
Ctx.__index = Ctx

-- A context for one bucket: comm, the bucket's entries and its state across steps.
function M.context(comm, entries)
  return setmetatable({ comm = comm, size = comm.size, rank = comm.rank, entries = entries or {},
    state = {}, bytes = 0, comm_s = 0 }, Ctx)
end

function Ctx:allgather(t)
  self.bytes = self.bytes + t:numel() * SIZE[t:dtype()]
  local t0 = tide.now()
  local out = self.comm:allgather(t)
  self.comm_s = self.comm_s + (tide.now() - t0)
  return out
end

function Ctx:allreduce(t)
  self.bytes = self.bytes + t:numel() * SIZE[t:dtype()]
  local t0 = tide.now()
  self.comm:allreduce(t, "sum")
  self.comm_s = self.comm_s + (tide.now() - t0)
  return t
end

-- The N gathered rows {N * n} added up and averaged, in the bucket's dtype.
local function average_rows(all, n, size, dtype)
  return all:to(dtype):view({ size, n }):sum(1):mul_(1 / size)
end

local function half(dtype)
  return function(bucket, ctx)
    local all = ctx:allgather(bucket:to(dtype))
    return average_rows(all, bucket:numel(), ctx.size, bucket:dtype())
  end
end

M.fp16 = half("f16")
M.bf16 = half("bf16")

-- int8 with one scale per bucket. tide has no signed byte: q + 128 travels as u8 (1..255).
function M.int8(bucket, ctx)
  local amax = bucket:abs():max()
  local scale = amax > 0 and amax / 127 or 1
  local q = (bucket / scale):round():add_(128):to("u8")
  local qs = ctx:allgather(q)
  local scales = ctx:allgather(tide.tensor({ scale }, "f64"):to("f32"))
  local n = bucket:numel()
  local deq = qs:to(bucket:dtype()):view({ ctx.size, n }):sub_(128)
  return deq:mul_(scales:to(bucket:dtype()):view({ ctx.size, 1 })):sum(1):mul_(1 / ctx.size)
end

-- Top-k with error feedback; ratio in (0, 1].
function M.topk(ratio)
  return function(bucket, ctx)
    local st = ctx.state
    local n = bucket:numel()
    local acc = st.residual and bucket + st.residual or bucket:clone()
    local k = math.max(1, math.ceil(ratio * n))
    local _, idx = acc:abs():topk(k)
    local vals = acc:index_select(1, idx)
    acc:index_add_(1, idx, vals:neg())          -- exactly 0 where sent: the rest is carried
    st.residual = acc
    local all_idx = ctx:allgather(idx:to("i32"))
    local all_vals = ctx:allgather(vals)
    return tide.zeros({ n }, bucket:dtype()):index_add_(1, all_idx, all_vals):mul_(1 / ctx.size)
  end
end

-- Orthonormalises the columns of p in place, left to right (classical Gram-Schmidt against
-- the columns already done, as PyTorch's PowerSGD hook).
local function orthonormalise_(p)
  local r = p:shape()[2]
  for j = 1, r do
    local col = p:narrow(2, j, 1)
    for i = 1, j - 1 do
      local prev = p:narrow(2, i, 1)
      col:sub_(prev * (prev * col):sum())
    end
    col:mul_(1 / math.max(col:norm(), 1e-8))
  end
  return p
end

-- Lays tensors end to end in one flat buffer (one collective for all), and back.
local function concat(list, dtype)
  local n = 0
  for _, t in ipairs(list) do n = n + t:numel() end
  local flat, at = tide.zeros({ n }, dtype), 0
  for _, t in ipairs(list) do
    flat:narrow(1, at + 1, t:numel()):copy_(t:reshape({ t:numel() }))
    at = at + t:numel()
  end
  return flat
end

local function split_into(flat, list)
  local at = 0
  for _, t in ipairs(list) do
    t:copy_(flat:narrow(1, at + 1, t:numel()):view(t:shape()))
    at = at + t:numel()
  end
end

-- PowerSGD of rank r; seed makes the first Q the same on every rank.
function M.powersgd(r, seed)
  seed = seed or 0
  return function(bucket, ctx)
    local st, size = ctx.state, ctx.size
    local out = tide.zeros({ bucket:numel() }, bucket:dtype())
    local mats, rest = {}, {}
    for i, e in ipairs(ctx.entries) do
      local numel = 1
      for _, d in ipairs(e.shape) do numel = numel * d end
      local view = bucket:narrow(1, e.offset + 1, numel)
      local slot = out:narrow(1, e.offset + 1, numel)
      local rows, cols = e.shape[1], e.shape[2]
      if #e.shape == 2 and (rows + cols) * r < rows * cols then
        mats[#mats + 1] = { i = i, m = view:view(e.shape), out = slot:view(e.shape) }
      else
        rest[#rest + 1] = { v = view, out = slot }
      end
    end
    local ps, qs = {}, {}
    for _, x in ipairs(mats) do
      local err = st["err" .. x.i]
      x.m = err and x.m + err or x.m:clone()
      local q = st["q" .. x.i]
      if not q then
        q = tide.randn({ x.m:shape()[2], r }, { seed = seed + x.i, same_on_all_ranks = true })
          :to(bucket:dtype())
        st["q" .. x.i] = q
      end
      x.p = tide.matmul(x.m, q)
      ps[#ps + 1], qs[#qs + 1] = x.p, q
    end
    if #mats > 0 then
      split_into(ctx:allreduce(concat(ps, bucket:dtype())), ps)
      for _, x in ipairs(mats) do
        orthonormalise_(x.p)
        st["q" .. x.i]:copy_(tide.matmul(x.m:t(), x.p))
      end
      split_into(ctx:allreduce(concat(qs, bucket:dtype())):mul_(1 / size), qs)
      for _, x in ipairs(mats) do
        local approx = tide.matmul(x.p, st["q" .. x.i]:t())
        x.out:copy_(approx)
        st["err" .. x.i] = x.m:sub_(approx)    -- this rank's part the factors did not carry
      end
    end
    if #rest > 0 then
      local vs = {}
      for i, x in ipairs(rest) do vs[i] = x.v end
      local outs = {}
      for i, x in ipairs(rest) do outs[i] = x.out end
      split_into(ctx:allreduce(concat(vs, bucket:dtype())):mul_(1 / size), outs)
    end
    return out
  end
end

-- The hook ddp.wrap's {compress = ...} names: a function (used as it is) or a built-in's
-- name with its options (ratio for topk, rank for powersgd).
function M.hook(spec, opts, where)
  where = where or "compress"
  if type(spec) == "function" then return spec, "custom" end
  if opts.ratio ~= nil and spec ~= "topk" or opts.rank ~= nil and spec ~= "powersgd" then
    error(where .. ": " .. (opts.ratio ~= nil and "ratio is an option of topk" or
      "rank is an option of powersgd") .. ", not of " .. tostring(spec), 3)
  end
  local name = args.one_of(spec, "compress", where,
    { "fp16", "bf16", "int8", "topk", "powersgd" }, nil, 4)
  if name == "topk" then
    local ratio = args.number(opts.ratio, "ratio", where, 0.01, "> 0", 4)
    if ratio > 1 then error(where .. ": ratio must be in (0, 1], got " .. ratio, 3) end
    return M.topk(ratio), name
  elseif name == "powersgd" then
    return M.powersgd(args.integer(opts.rank, "rank", where, 1, 4, 4)), name
  end
  return M[name], name
end

return M
