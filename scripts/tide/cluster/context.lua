-- tide.cluster.context: the data a k-means fit runs on, seen from one rank (its rows, every
-- rank's row count, its global offset, the weights) and the few collectives the fits use:
-- allreduce (sum) and broadcast, doing nothing with no communicator or one rank, and the row
-- pickers built on them. Ranks are 0-based; rows are 1-based in tensors, 0-based as global
-- positions (they hash into the random draws). Part of tide.cluster, not an API of its own.
local tide = require "tide"
local args = require "tide.args"

local K = tide._internal.cluster_kernels
local shape_str = args.shape_str

local function is_dtensor(x)
  local core = tide._internal.dtensor
  return core ~= nil and core.is_dtensor(x)
end

-- The communicator of a dtensor (a field, or a method on some versions).
local function dtensor_comm(x)
  local c = x.comm
  if type(c) == "function" then c = x:comm() end
  return c
end

-- ------------------------------------------------------------------ collectives
-- Everything here goes through allreduce (sum) and broadcast; with no communicator, or one
-- rank, they do nothing.

local function multi(ctx)
  return ctx.comm ~= nil and ctx.size > 1
end

local function allreduce(ctx, t)
  if multi(ctx) then ctx.comm:allreduce(t, "sum") end
  return t
end

local function broadcast(ctx, t, root)
  if multi(ctx) then ctx.comm:broadcast(t, root) end
  return t
end

-- One number per rank, summed: slot r + 1 holds rank r's value on every rank.
local function per_rank(ctx, value)
  local buf = tide.zeros(ctx.size, "f64")
  buf[ctx.rank + 1] = value
  allreduce(ctx, buf)
  return buf
end

-- ------------------------------------------------------------------ the data on this rank

-- ctx: x (contiguous local rows), n, d, dtype, comm, rank, size, counts (rows per rank),
-- offset (global index of the first local row, 0-based), N (global rows), weight (f64 or nil).
-- x may be nil: this rank brings no rows (a stream that has ended, or a bad batch, fail
-- saying why) and takes the width and dtype of the others. A failure on any rank is raised
-- on every rank: by it with its message, by the others naming it.
local function local_context(x, opts, where, level, fail)
  level = level + 1
  local xl, comm = nil, opts.comm
  if is_dtensor(x) then
    xl, comm = x.shard, dtensor_comm(x)   -- opts.comm is not needed: the dtensor has one
  elseif tide.is_tensor(x) then
    xl = x
  elseif x ~= nil then
    error(("%s: expected a tensor or a dtensor, got %s"):format(where, type(x)), level)
  end
  if comm ~= nil and (math.type(comm.rank) ~= "integer" or math.type(comm.size) ~= "integer") then
    error(where .. ": comm must be a communicator (with rank and size)", level)
  end
  local ctx = { comm = comm, rank = comm and comm.rank or 0, size = comm and comm.size or 1 }
  local msg = fail
  if not msg and xl and (xl:dim() ~= 2 or (xl:dtype() ~= "f32" and xl:dtype() ~= "f64")) then
    msg = ("%s: expected a 2-D f32 or f64 tensor (rows x features), got %s %s"):format(where,
      xl:dtype(), shape_str(xl))
  end
  local w = opts.sample_weight
  if not msg and xl and w ~= nil then
    if is_dtensor(w) then w = w.shard end
    if not tide.is_tensor(w) then
      msg = ("%s: sample_weight must be a tensor or a dtensor, got %s"):format(where, type(w))
    elseif w:numel() ~= xl:size(1) or w:dim() ~= 1 then
      msg = ("%s: sample_weight has shape %s but this rank has %d rows"):format(where,
        shape_str(w), xl:size(1))
    else
      w = w:to("f64"):contiguous()
      local bad = K.bad_weight(w)
      if bad then
        msg = ("%s: sample_weight %d of rank %d is %s (weights must be finite and >= 0)")
          :format(where, bad, ctx.rank, tostring(w[bad]))
      end
    end
  end
  -- one allreduce tells every rank the row counts, the widths and whether anyone failed
  local present = xl ~= nil and not msg
  local n, d = present and xl:size(1) or 0, present and xl:size(2) or -1
  local dtcode = present and (xl:dtype() == "f32" and 1 or 2) or 0
  local info = tide.zeros({ ctx.size, 4 }, "f64")
  info[ctx.rank + 1] = tide.tensor({ n, d, dtcode, msg and 1 or 0 }, "f64")
  allreduce(ctx, info)
  if msg then error(msg, level) end
  local DT = { "f32", "f64" }
  local ref = present and ctx.rank or nil   -- whose width and dtype the others must match
  ctx.counts, ctx.N, ctx.offset = {}, 0, 0
  for r = 0, ctx.size - 1 do
    local row = info[r + 1]
    if row[4] ~= 0 then error(("%s: rank %d failed (see its error)"):format(where, r), level) end
    if row[3] ~= 0 then
      ref = ref or r
      local want = info[ref + 1]
      if row[2] ~= want[2] or row[3] ~= want[3] then
        error(("%s: rank %d has %s rows of %d features but rank %d has %s rows of %d"):format(
          where, r, DT[math.tointeger(row[3])], math.tointeger(row[2]), ref,
          DT[math.tointeger(want[3])], math.tointeger(want[2])), level)
      end
    end
    ctx.counts[r + 1] = math.tointeger(row[1])
    if r < ctx.rank then ctx.offset = ctx.offset + ctx.counts[r + 1] end
    ctx.N = ctx.N + ctx.counts[r + 1]
  end
  if not present then
    local want = ref and info[ref + 1]
    xl = tide.zeros({ 0, want and math.tointeger(want[2]) or 1 },
      want and DT[math.tointeger(want[3])] or "f32")
    w = nil
  end
  ctx.x, ctx.n, ctx.d, ctx.dtype = xl:contiguous(), n, xl:size(2), xl:dtype()
  ctx.weight = w
  return ctx
end

-- Raises on every rank when any rank's rows hold a NaN or an infinity.
local function check_finite(ctx, where, level)
  local row, kind = K.nonfinite(ctx.x)
  local buf = per_rank(ctx, row and (kind == "NaN" and row or -row) or 0)
  for r = 0, ctx.size - 1 do
    local v = math.tointeger(buf[r + 1])
    if v ~= 0 then
      local lrow = math.abs(v)
      local grow = lrow
      for q = 1, r do grow = grow + ctx.counts[q] end
      error(("%s: %s in the data at row %d (rank %d, local row %d)"):format(where,
        v > 0 and "NaN" or "infinity", grow, r, lrow), level + 1)
    end
  end
end

-- The rows of x named by a 1-based i64 tensor, as a new tensor (rows x d).
local function take(x, rows)
  if rows:numel() == 0 then return tide.zeros({ 0, x:size(2) }, x:dtype()) end
  return x:index_select(1, rows)
end

-- Every rank's local block of rows (m_r x d), stacked in rank order on every rank (f64).
local function gather_rows(ctx, blk)
  local m = blk:size(1)
  if not multi(ctx) then return blk:to("f64") end
  local counts = per_rank(ctx, m)
  local total, off = 0, 0
  for r = 0, ctx.size - 1 do
    local c = math.tointeger(counts[r + 1])
    if r < ctx.rank then off = off + c end
    total = total + c
  end
  local buf = tide.zeros({ total, ctx.d }, "f64")
  if m > 0 then buf:narrow(1, off + 1, m):copy_(blk) end
  return allreduce(ctx, buf)
end

-- The rows of the global data at the given 0-based global indices (a Lua list), on every
-- rank, in the list's order, as an f64 tensor.
local function fetch_rows(ctx, globals)
  local buf = tide.zeros({ #globals, ctx.d }, "f64")
  for i, g in ipairs(globals) do
    local l = g - ctx.offset
    if l >= 0 and l < ctx.n then buf[i]:copy_(ctx.x[l + 1]) end
  end
  return allreduce(ctx, buf)
end

-- `count` global rows, each drawn with probability proportional to v_i · w_i (v: an f64 per
-- local row, or nil for all ones; w: the sample weights, if any); draw t uses counter
-- `counter + t` of stream `stream`. Returns the rows (count x d, f64) on every rank, or nil
-- when every term is 0. Two allreduces whatever count is.
local function pick_rows(ctx, v, seed, stream, counter, count)
  local by_count = v == nil and ctx.weight == nil
  local sums = per_rank(ctx, by_count and ctx.n or K.potential(v, ctx.weight))
  local total = 0
  for r = 1, ctx.size do total = total + sums[r] end
  if not (total > 0) then return nil end
  local rows = tide.zeros({ count, ctx.d }, "f64")
  for t = 1, count do
    local target = K.uniform(seed, stream, counter + t - 1) * total
    -- the owner: the first rank whose running sum passes target (the last with a positive
    -- sum when rounding leaves target past the total)
    local owner, before = nil, 0
    for r = 0, ctx.size - 1 do
      local s = sums[r + 1]
      if s > 0 then
        if owner and target < before then break end
        owner = r
        before = before + s
      end
    end
    before = before - sums[owner + 1]
    if ctx.rank == owner then
      local l
      if by_count then
        l = math.min(math.floor(target - before), ctx.n - 1) + 1
      else
        l = K.pick(v, ctx.weight, target - before)
      end
      rows[t]:copy_(ctx.x[l])
    end
  end
  return allreduce(ctx, rows)
end

return { is_dtensor = is_dtensor, dtensor_comm = dtensor_comm, multi = multi,
  allreduce = allreduce, broadcast = broadcast, per_rank = per_rank,
  local_context = local_context, check_finite = check_finite, take = take,
  gather_rows = gather_rows, fetch_rows = fetch_rows, pick_rows = pick_rows }
