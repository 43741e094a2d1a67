-- tide.ddp: data-parallel training. Every rank holds the whole model, runs it on its own part
-- of each batch, and the gradients are averaged across ranks before the optimizer step, so
-- the model stays the same on every rank.
--
--   local model = ddp.wrap(nn.Sequential(...), tide.world, {bucket_mb = 1})
--   local opt = optim.SGD(model, {lr = 0.1})
--   model:zero_grad()
--   local out = model:forward(x)                 -- x: this rank's rows of the batch
--   crit:forward(out, y)
--   model:backward(x, crit:backward(out, y))     -- returns with gradients averaged
--   opt:step()
--
-- How: wrap broadcasts rank 0's parameters to every rank. Then the gradients are laid out in
-- buckets: flat buffers of at most bucket_mb megabytes, filled with the parameters in reverse
-- order of the model (the order backward produces them), each gradient tensor becoming a view
-- into its bucket. During backward each module with parameters reports when its gradients
-- are complete; as soon as every gradient of a bucket is, a non-blocking allreduce of the
-- whole bucket starts, so the reduction of the later layers overlaps the backward of the
-- earlier ones; the last bucket is reduced when backward ends. Then backward waits for all of
-- them and divides by the rank count. When the ranks share a node the buckets live in shared
-- memory (comm:shared_zeros), where the last bucket's reduction moves no message.
-- model.comm_wait_s adds up the seconds backward spent waiting for those reductions.
--
-- When the ranks span several nodes (hosts), the reduction is hierarchical, as Horovod's: each
-- bucket is summed within the node through shared memory (comm:split_node(), shared_zeros),
-- the node leaders (node rank 0) allreduce the node sums among themselves (non-blocking, so it
-- overlaps backward as the flat allreduce does), and each leader broadcasts the total within
-- its node. The sum's order is therefore: within a node in node-rank order, then across nodes
-- as MPI adds the leaders' sums. {hierarchical = true | false} overrides the choice;
-- model.hierarchical says which was made.
-- Buckets start in a fixed order on every rank (the collectives must match). Convert the
-- model's dtype (m:to) before wrapping: the gradients then live in the buckets.
--
-- {compress = "fp16" | "bf16" | "int8" | "topk" | "powersgd" | function(bucket, ctx)} replaces
-- each bucket's allreduce by a compression hook (tide.comm_hooks: {ratio = 0.01, momentum = m,
-- warmup = steps} for topk, {rank = 4} for powersgd). The hooks run when backward ends, bucket
-- by bucket, in bucket order (no overlap with backward: a hook's collectives are blocking).
-- Across nodes they are hierarchical too: each bucket is summed within the node through shared
-- memory, the node leaders run the hook among themselves on their node's share (node sum *
-- nodes / ranks, so that the leaders' average is the average over all ranks, whatever the
-- nodes' sizes), and each leader broadcasts the result within its node; only the
-- leaders cross the network, and error feedback is kept per node. {hierarchical = false}:
-- every rank runs the hook over the flat communicator. model.compress_stats adds up, over
-- steps: bytes (what this rank's hook sent: 0 on a node's other ranks),
-- raw_bytes (what ring allreduces of the buckets would send), comm_s and compute_s (the
-- hooks' seconds in and out of their collectives), steps. With tide.trace on, each hook call
-- is a span "compress.<name>".
local tide = require "tide"

local ddp = {}

-- Wall-clock seconds, for comm_wait_s.
local clock = tide.now

local DDP = {}
DDP.__index = DDP
DDP.__name = "ddp.DistributedDataParallel"

local args = require "tide.args"
local check_opts = args.check_opts
local compress = require "tide.comm_hooks"

-- wrap(model, comm = tide.world, {bucket_mb = 1, broadcast = true}) -> a module that runs
-- model data-parallel over comm. model needs :parameters() and :backward(); its leaf modules
-- (model:_leaves()) report ready gradients for the overlap, otherwise buckets start at the
-- end of backward.
function ddp.wrap(model, comm, opts)
  local where = "ddp.wrap"
  if type(model) ~= "table" or type(model.parameters) ~= "function" then
    error(where .. ": expected a module with :parameters(), got " .. type(model), 2)
  end
  comm = comm or tide.world
  if (type(comm) ~= "table" and type(comm) ~= "userdata") or comm.iallreduce == nil then
    error(where .. ": expected a communicator (with :iallreduce), got " .. type(comm), 2)
  end
  opts = check_opts(opts, { bucket_mb = true, broadcast = true, hierarchical = true,
    compress = true, ratio = true, rank = true, momentum = true, warmup = true }, where)
  local mb = args.number(opts.bucket_mb, "bucket_mb", where, 1, "> 0")
  if opts.hierarchical ~= nil and type(opts.hierarchical) ~= "boolean" then
    error(where .. ": hierarchical must be a boolean, got " .. type(opts.hierarchical), 2)
  end
  local self = setmetatable({ module = model, comm = comm, bucket_bytes = mb * 2 ^ 20,
    training = true, comm_wait_s = 0 }, DDP)
  if opts.compress ~= nil then
    self._hook, self.compress = compress.hook(opts.compress, opts, where)
    self.compress_stats = { bytes = 0, raw_bytes = 0, comm_s = 0, compute_s = 0, steps = 0 }
  elseif opts.ratio ~= nil or opts.rank ~= nil or opts.momentum ~= nil or opts.warmup ~= nil then
    error(where .. ": ratio, rank, momentum and warmup are options of compress, which is not given", 2)
  end
  self:_plan_hierarchy(opts.hierarchical)
  -- closed as DDP:backward's scope ends, by a return or by an error passing through
  self._end_backward = setmetatable({}, { __close = function() self._in_backward = false end })
  local params = model:parameters()
  if opts.broadcast ~= false then
    for _, p in ipairs(params) do comm:broadcast(p, 0) end
  end
  self:_build_buckets()
  return self
end

-- A bucket's buffer: when the ranks share one node, in memory they can all read
-- (comm:shared_zeros), so that the blocking allreduce of the last bucket moves no message
-- (core/comm/shared.h: 20 us instead of MPI's 95 for this job's 940 KB); else ordinary memory.
-- comm:shared_zeros fails alike on every rank, so every rank takes the same branch.
local function bucket_buffer(comm, numel, dtype)
  if comm.size > 1 and comm.shared_zeros and (dtype == "f32" or dtype == "f64") then
    local ok, t = pcall(comm.shared_zeros, comm, numel, dtype)
    if ok then return t, true end
  end
  return tide.zeros({ numel }, dtype), false
end

-- The communicators of a hierarchical reduction: node (the ranks sharing this rank's node) and,
-- on node leaders, leaders (one rank per node). Chosen when the ranks span more than one node,
-- unless `forced` says otherwise. Every rank reaches the same answer (the node count is agreed
-- by an allreduce), so every rank takes the same branch.
function DDP:_plan_hierarchy(forced)
  local comm = self.comm
  self.hierarchical = false
  if comm.size == 1 or not comm.split_node or forced == false then return end
  local node = comm:split_node()
  local nodes = comm:allreduce(node.rank == 0 and 1 or 0)
  if forced == nil and (nodes == 1 or nodes == comm.size) then
    node:free()
    return
  end
  self.hierarchical, self.node, self.nodes = true, node, nodes
  self.leaders = comm:split(node.rank == 0 and 0 or nil)
end

-- The reduction's steps for one bucket: the in-node sum (blocking, through shared memory when
-- the bucket is shared), then, on leaders, the start of the leaders' allreduce.
function DDP:_start_hierarchical(b, blocking)
  self.node:allreduce(b.flat, "sum")
  if self.leaders and self.leaders.size > 1 then
    if blocking then
      self.leaders:allreduce(b.flat, "sum")
    else
      b.request = self.leaders:iallreduce(b.flat, "sum")
    end
  end
end

-- Groups gradients into buckets (reverse model order, same dtype, up to bucket_bytes) and
-- makes every gradient a view into its bucket's flat buffer.
function DDP:_build_buckets()
  local leaves = self.module._leaves and self.module:_leaves() or {}
  local entries = {}        -- one per gradient, in reverse model order
  if #leaves > 0 then
    for li = #leaves, 1, -1 do
      local m = leaves[li]
      for pi = #m._params, 1, -1 do
        entries[#entries + 1] = { module = m, name = "grad_" .. m._params[pi] }
      end
    end
  else
    local _, gs = self.module:parameters()
    for i = #gs, 1, -1 do entries[#entries + 1] = { grads = gs, index = i } end
  end
  local buckets, cur = {}, nil
  for _, e in ipairs(entries) do
    local g = e.module and e.module[e.name] or e.grads[e.index]
    e.tensor = g
    local bytes = g:numel() * (g:dtype() == "f64" and 8 or 4)
    if cur == nil or cur.dtype ~= g:dtype() or (cur.bytes > 0 and cur.bytes + bytes > self.bucket_bytes) then
      cur = { entries = {}, numel = 0, bytes = 0, dtype = g:dtype() }
      buckets[#buckets + 1] = cur
    end
    cur.entries[#cur.entries + 1] = e
    e.offset = cur.numel
    cur.numel = cur.numel + g:numel()
    cur.bytes = cur.bytes + bytes
  end
  local owner = {}          -- leaf module -> the buckets its gradients are in
  for bi, b in ipairs(buckets) do
    b.flat, b.shared = bucket_buffer(self.node or self.comm, b.numel, b.dtype)
    for _, e in ipairs(b.entries) do
      local view = b.flat:narrow(1, e.offset + 1, e.tensor:numel()):view(e.tensor:shape())
      view:copy_(e.tensor)
      if e.module then
        e.module[e.name] = view
        local list = owner[e.module] or {}
        owner[e.module] = list
        if list[#list] ~= bi then list[#list + 1] = bi end
      else
        e.grads[e.index] = view
      end
      e.tensor = view
    end
    b.pending = #b.entries
    if self._hook then          -- the hook's view of the bucket, kept across steps
      local entries = {}
      for i, e in ipairs(b.entries) do entries[i] = { offset = e.offset, shape = e.tensor:shape() } end
      local over = self.comm
      if self.hierarchical then over = self.leaders end           -- nil on a node's others
      if over then b.ctx = compress.context(over, entries) end
    end
  end
  self.buckets = buckets
  self._owner = owner
  self._leaves = leaves
  for m, list in pairs(owner) do
    local counts = {}
    for _, bi in ipairs(list) do
      local c = 0
      for _, e in ipairs(buckets[bi].entries) do
        if e.module == m then c = c + 1 end
      end
      counts[#counts + 1] = { bi, c }
    end
    m._grad_hook = function() self:_ready(counts) end
  end
end

-- A module's gradients are complete: count them off their buckets and start every bucket
-- that is complete, in bucket order.
function DDP:_ready(counts)
  if not self._in_backward then return end
  local buckets = self.buckets
  for _, bc in ipairs(counts) do
    local b = buckets[bc[1]]
    b.pending = b.pending - bc[2]
  end
  self:_launch_ready()
end

-- Starts, in bucket order, the buckets whose gradients are all in. The last bucket holds the
-- first layer's gradients, the last ones backward computes: nothing is left to overlap with
-- it, so it waits for _finish, which reduces it with a blocking allreduce (about twice as fast
-- as a non-blocking one for a bucket of a megabyte over shared memory).
function DDP:_launch_ready()
  local buckets, comm = self.buckets, self.comm
  local nxt = self._next
  if self._hook then return end         -- hooks run in _finish
  while nxt < #buckets and buckets[nxt].pending <= 0 do
    local b = buckets[nxt]
    if self.hierarchical then
      self:_start_hierarchical(b, false)
    else
      b.request = comm:iallreduce(b.flat, "sum")
    end
    nxt = nxt + 1
  end
  self._next = nxt
end

function DDP:_begin()
  for _, b in ipairs(self.buckets) do
    if b.request then b.request:wait() end   -- left over from a backward that raised
    b.pending, b.request = #b.entries, nil
  end
  self._next = 1
  self._in_backward = true
end

-- Reduces the buckets not yet started (blocking, in bucket order), waits for the others, and
-- averages.
function DDP:_finish()
  self._in_backward = false
  for _, m in ipairs(self._leaves) do          -- modules backward did not reach: zeros
    if m._grads_stale then m:_zero_own_grads() end
  end
  local buckets, comm = self.buckets, self.comm
  if self._hook then return self:_compress_all() end
  local t0 = clock()
  for i = self._next, #buckets do
    local b = buckets[i]
    if self.hierarchical then
      self:_start_hierarchical(b, true)
    else
      -- a shared bucket is averaged in the reduction's own pass; others are scaled below
      comm:allreduce(b.flat, b.shared and "avg" or "sum")
      b.averaged = b.shared
    end
  end
  for _, b in ipairs(buckets) do
    if b.request then
      b.request:wait()
      b.request = nil
    end
    if self.hierarchical then self.node:broadcast(b.flat, 0) end
  end
  self.comm_wait_s = self.comm_wait_s + (clock() - t0)
  local size = comm.size
  for _, b in ipairs(buckets) do
    if size > 1 and not b.averaged then b.flat:mul_(1 / size) end
    b.averaged = nil
  end
end

-- Runs the compression hook on one bucket (in place) and records what it cost.
function DDP:_run_hook(b, stats)
  local hook, name, ctx = self._hook, "compress." .. self.compress, b.ctx
  local bytes0, comm0, t0 = ctx.bytes, ctx.comm_s, clock()
  local avg
  if tide.trace.enabled() then avg = tide.trace.span(name, hook, b.flat, ctx) else avg = hook(b.flat, ctx) end
  if not tide.is_tensor(avg) or avg:numel() ~= b.flat:numel() then
    error("ddp: the compress hook must return the averaged bucket (a tensor of " ..
      b.flat:numel() .. " elements), got " .. (tide.is_tensor(avg) and avg:numel() ..
      " elements" or type(avg)), 0)
  end
  b.flat:copy_(avg:reshape({ b.flat:numel() }))
  local wall, comm_s = clock() - t0, ctx.comm_s - comm0
  stats.bytes = stats.bytes + (ctx.bytes - bytes0)
  stats.comm_s, stats.compute_s = stats.comm_s + comm_s, stats.compute_s + (wall - comm_s)
end

-- Runs the compression hook on every bucket, in bucket order: on every rank (flat), or on the
-- node leaders between an in-node sum and an in-node broadcast (hierarchical).
function DDP:_compress_all()
  local stats, comm = self.compress_stats, self.comm
  local t0, compute0 = clock(), stats.compute_s
  for _, b in ipairs(self.buckets) do
    if self.hierarchical then
      self.node:allreduce(b.flat, "sum")
      if b.ctx then
        b.flat:mul_(self.nodes / comm.size)     -- the leaders' average is then the ranks'
        self:_run_hook(b, stats)
      end
      self.node:broadcast(b.flat, 0)
    else
      self:_run_hook(b, stats)
    end
    stats.raw_bytes = stats.raw_bytes + compress.allreduce_bytes(b.numel, b.dtype, comm.size)
  end
  self.comm_wait_s = self.comm_wait_s + (clock() - t0) - (stats.compute_s - compute0)
  stats.steps = stats.steps + 1
end

function DDP:forward(x)
  local out = self.module:forward(x)
  self.output = out
  return out
end

-- The wrapped module's backward, with gradients averaged across ranks when it returns.
-- A failing module's error goes through untouched: catching it to reset the flag and raising
-- it again would cut its traceback at the new raise, hiding the frames that failed; the
-- to-be-closed guard resets the flag as the error passes instead.
function DDP:backward(x, grad_out, opts)
  self:_begin()
  local _ <close> = self._end_backward
  local gi = self.module:backward(x, grad_out, opts)
  self:_finish()
  self.grad_input = gi
  return gi
end

-- Averages the gradients across ranks now (after backward calls made on the module itself,
-- for instance to accumulate several batches before one reduction).
function DDP:sync_grads()
  self:_begin()
  self:_finish()
end

function DDP:parameters() return self.module:parameters() end

function DDP:zero_grad()
  self.module:zero_grad()
  return self
end

function DDP:train()
  self.training = true
  self.module:train()
  return self
end

function DDP:evaluate()
  self.training = false
  self.module:evaluate()
  return self
end

function DDP:state() return self.module:state() end

function DDP:load_state(s)
  self.module:load_state(s)
  return self
end

function DDP:num_parameters() return self.module:num_parameters() end

-- The bucket layout: a list of {numel =, bytes =, tensors =} in reduction order.
function DDP:bucket_info()
  local info = {}
  for i, b in ipairs(self.buckets) do
    info[i] = { numel = b.numel, bytes = b.bytes, tensors = #b.entries }
  end
  return info
end

function DDP:__tostring()
  local m = self.module
  local inner = m.describe and m:describe("  ") or tostring(m)
  return ("ddp(%d ranks, %d buckets) %s"):format(self.comm.size, #self.buckets, inner)
end

DDP.describe = DDP.__tostring

return ddp
