-- tide.comm_hooks: gradient compression hooks for tide.ddp, as PyTorch's communication hooks.
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
--   fp16, bf16  MPI cannot add halves, so the reduction is done by hand and stays 16-bit on
--               the wire: the bucket in N chunks of halves, chunk r to rank r (alltoall), which
--               adds its N copies in f32, averages, rounds to 16 bits again and allgathers:
--               half the bytes of a ring allreduce.
--   int8        the same route with bytes: q = round(x / scale), scale = max|x| / 127 per
--               bucket (and per averaged chunk on the way back), one f32 scale per rank
--               allgathered beside: error <= scale / 2 per element and rank, plus the
--               average's own rounding; a quarter of the bytes.
--   topk        the k = ceil(ratio * n) largest |x| of (bucket + last step's residual), with
--               error feedback: what was not sent is added to the next step's bucket; indices
--               (i32) and values allgathered and added up.
--   powersgd    Vogels et al. 2019, rank r with error feedback and warm start: for each matrix
--               gradient M (+ its error) whose rank-r factors are smaller than it, P = M Q,
--               allreduce P, orthonormalise P (Gram-Schmidt), Q = M^T P, allreduce Q, M ~ P Q^T;
--               the other gradients are allreduced uncompressed, as PyTorch's hook does. One
--               allreduce for all P, one for all Q, one for the rest.
--
-- Bytes on the wire are what a rank sends, counted as the bandwidth-optimal algorithms send
-- them (Ctx below), against a ring allreduce of the bucket (M.allreduce_bytes).
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

-- The bytes a rank sends in each collective, as the bandwidth-optimal algorithms send them
-- (ring allreduce: 2 (N - 1) / N of the tensor; allgather: N - 1 copies of its part; alltoall:
-- the N - 1 blocks for the others).
local function sent(t, factor)
  return t:numel() * SIZE[t:dtype()] * factor
end

local function timed(self, bytes, fn, ...)
  self.bytes = self.bytes + bytes
  local t0 = tide.now()
  local out = fn(...)
  self.comm_s = self.comm_s + (tide.now() - t0)
  return out
end

function Ctx:allgather(t)
  return timed(self, sent(t, self.size - 1), self.comm.allgather, self.comm, t)
end

function Ctx:alltoall(t)
  return timed(self, sent(t, (self.size - 1) / self.size), self.comm.alltoall,
    self.comm, t)
end

function Ctx:allreduce(t)
  timed(self, sent(t, 2 * (self.size - 1) / self.size), self.comm.allreduce,
    self.comm, t, "sum")
  return t
end

-- Bytes an uncompressed (ring) allreduce of n elements of dtype sends: what hooks are
-- measured against.
function M.allreduce_bytes(n, dtype, size)
  return n * SIZE[dtype] * (2 * (size - 1) / size)   -- as Ctx:allreduce counts it
end

-- A reduce-scatter and an allgather done by hand, so that what travels stays compressed: the
-- bucket, padded to N equal chunks of whole blocks (block elements each) and encoded by
-- encode(t) -> parts, goes chunk r to rank r (alltoall, every part split alike: the encoded
-- elements, then any per-block side data such as scales); each rank decodes the N copies of its
-- chunk with decode(parts, rows, chunk) -> {N, chunk} tensor in the bucket's dtype, averages
-- them, encodes the average and allgathers it.
local function reduce_compressed(bucket, ctx, encode, decode, block)
  local n, size, dtype = bucket:numel(), ctx.size, bucket:dtype()
  block = block or 1
  local chunk = -(-n // (size * block)) * block
  local padded = tide.zeros({ chunk * size }, dtype)
  padded:narrow(1, 1, n):copy_(bucket)
  local parts, got = encode(padded), {}
  for i, part in ipairs(parts) do got[i] = ctx:alltoall(part) end
  local mean = decode(got, size, chunk):sum(1):mul_(1 / size)
  parts = encode(mean)
  for i, part in ipairs(parts) do got[i] = ctx:allgather(part) end
  return decode(got, size, chunk):reshape({ chunk * size }):narrow(1, 1, n)
end

-- fp16, bf16: the average of the 16-bit roundings, added in the bucket's dtype, rounded again.
local function half(dtype)
  local function encode(t) return { t:to(dtype) } end
  return function(bucket, ctx)
    local function decode(parts, rows, chunk)
      return parts[1]:to(bucket:dtype()):view({ rows, chunk })
    end
    return reduce_compressed(bucket, ctx, encode, decode)
  end
end

M.fp16 = half("f16")
M.bf16 = half("bf16")

-- int8 with one scale per block of INT8_BLOCK elements: q = round(x / scale), scale =
-- max|x| / 127 of the block. One scale per bucket lets the largest gradient (often a bias or
-- the last layer's) set the step for all, and the small ones round to 0; per block, each
-- neighbourhood keeps its own range, for 4 bytes per 256 (1.6%) more. A bucket too small to
-- give every rank a whole block gets blocks of a rank's share (no padding beyond the ranks').
-- tide has no signed byte: q + 128 travels as u8 (1..255).
local INT8_BLOCK = 256
M.INT8_BLOCK = INT8_BLOCK

function M.int8(bucket, ctx)
  local dtype = bucket:dtype()
  local block = math.min(INT8_BLOCK, -(-bucket:numel() // ctx.size))
  local function encode(t)
    local blocks = t:view({ t:numel() // block, block })
    local scale = blocks:abs():max(2):reshape({ t:numel() // block }):mul_(1 / 127)
    scale:clamp_(1e-30, nil)                    -- an all-zero block: any scale will do
    scale = scale:to("f32")
    local q = (blocks / scale:to(dtype):view({ scale:numel(), 1 })):round():add_(128):to("u8")
    return { q:reshape({ t:numel() }), scale }
  end
  local function decode(parts, rows, chunk)
    local nb = rows * chunk // block
    return parts[1]:to(dtype):view({ nb, block }):sub_(128)
      :mul_(parts[2]:to(dtype):view({ nb, 1 })):view({ rows, chunk })
  end
  return reduce_compressed(bucket, ctx, encode, decode, block)
end

-- The ratio top-k sends at its step-th call: with warmup = W steps, it falls geometrically
-- from min(0.25, ...) to ratio over the first W steps (Lin et al. 2018's warm-up, which starts at
-- 25% and divides by 4 an epoch), so that the early steps, where gradients change fastest,
-- carry more of them; ratio from step W on.
function M.topk_ratio(ratio, warmup, step)
  local start = math.max(ratio, 0.25)
  if not warmup or warmup <= 0 or step >= warmup then return ratio end
  return start * (ratio / start) ^ (step / warmup)
end

-- Top-k with error feedback; ratio in (0, 1]. opts.momentum = m applies Deep Gradient
-- Compression's momentum correction (Lin et al. 2018): each rank keeps its velocity u = m u + g
-- and accumulates velocity, not gradient, in the residual v = v + u; the top-k of v travel and
-- both u and v are cleared where they did (momentum factor masking). The average returned is
-- then an update that already holds the momentum: the optimizer must run without momentum
-- (optim.SGD{momentum = 0}). Plain error feedback under a momentum optimizer lets a residual
-- that waited many steps be amplified again by the momentum when it finally travels, which is
-- what costs top-k at 1% about two points of accuracy. opts.warmup = W steps: see topk_ratio.
function M.topk(ratio, opts)
  opts = opts or {}
  local momentum, warmup = opts.momentum or 0, opts.warmup
  return function(bucket, ctx)
    local st = ctx.state
    local n = bucket:numel()
    st.step = (st.step or 0) + 1
    local g = bucket
    if momentum > 0 then
      st.velocity = st.velocity and st.velocity:mul_(momentum):add_(bucket) or bucket:clone()
      g = st.velocity
    end
    local acc = st.residual and st.residual:add_(g) or g:clone()
    local k = math.max(1, math.ceil(M.topk_ratio(ratio, warmup, st.step - 1) * n))
    local _, idx = acc:abs():topk(k)
    local vals = acc:index_select(1, idx)
    acc:index_add_(1, idx, vals:neg())          -- exactly 0 where sent: the rest is carried
    if momentum > 0 then
      st.velocity:index_add_(1, idx, st.velocity:index_select(1, idx):neg())
    end
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
-- name with its options (ratio, momentum and warmup for topk, rank for powersgd).
local OWNER = { ratio = "topk", momentum = "topk", warmup = "topk", rank = "powersgd" }

function M.hook(spec, opts, where)
  where = where or "compress"
  if type(spec) == "function" then return spec, "custom" end
  for _, key in ipairs { "ratio", "momentum", "warmup", "rank" } do
    if opts[key] ~= nil and spec ~= OWNER[key] then
      error(("%s: %s is an option of %s, not of %s"):format(where, key, OWNER[key],
        tostring(spec)), 3)
    end
  end
  local name = args.one_of(spec, "compress", where,
    { "fp16", "bf16", "int8", "topk", "powersgd" }, nil, 4)
  if name == "topk" then
    local ratio = args.number(opts.ratio, "ratio", where, 0.01, "> 0", 4)
    if ratio > 1 then error(where .. ": ratio must be in (0, 1], got " .. ratio, 3) end
    local momentum = args.number(opts.momentum, "momentum", where, 0, ">= 0", 4)
    if momentum >= 1 then error(where .. ": momentum must be in [0, 1), got " .. momentum, 3) end
    return M.topk(ratio, { momentum = momentum,
      warmup = args.integer(opts.warmup, "warmup", where, 0, 0, 4) }), name
  elseif name == "powersgd" then
    return M.powersgd(args.integer(opts.rank, "rank", where, 1, 4, 4)), name
  end
  return M[name], name
end

return M
