-- tide.checkpoint: distributed checkpoints that restore on any rank count.
--
--   checkpoint.save(dir, state [, {keep=, async=, step=, comm=, job=, timeout=, check=}])
--       Collective. Writes state (any value tide.save takes, plus dtensors) as dir/step-N/:
--       replicated.safetensors (every non-dtensor value, written once by rank 0),
--       rank-RRRRR.safetensors (each rank's rows of every sharded dtensor) and manifest.json
--       (each file's crc32 and size, each dtensor's global shape and shards; written last).
--       Everything goes to dir/step-N.tmp/ first and is fsynced; rank 0 renames it to step-N
--       and replaces dir/latest. N is opts.step, else the count of tick() calls, else one more
--       than the newest step in dir. keep = K removes the oldest complete steps beyond K.
--       Replicated values must be the same on every rank (checked, unless check = false: a
--       per-rank value belongs in a dtensor). async = true copies the state to memory and
--       writes it on a background thread; the next save, load or wait, or the end of the Lua
--       state, waits for it. Returns N.
--   checkpoint.load(dir [, {comm=, job=, map=, step=}]) -> state, N   (nil when dir has none)
--       Collective. The newest complete step (or opts.step): every file it reads is checked
--       against the manifest (size, crc32, the save's id), dtensors are resharded to the ranks
--       of comm by blocks of rows. A step that fails any check on any rank is reported on
--       stderr, and load falls back to the previous one; none usable is an error listing why.
--       tick()'s count becomes N.
--   With {local_dir = L, partner = true, every = M} (tide.checkpoint.partner): each node's
--   ranks write to L/<node>/ and a copy to a rank of another node; every M-th save also goes to
--   dir. load(dir, {local_dir = L}) rebuilds lost node-local files from the copies. partner =
--   "auto" makes the copies only while the ranks span two nodes or more. async
--   works there too (the files are encoded and exchanged at once, written in the background,
--   by a writer of their own: the every-M-th copy to dir does not wait for them).
--   checkpoint.tick() -> count        one training step; where TIDE_FAULT strikes
--   checkpoint.step() -> count        tick()'s count
--   checkpoint.wait()                 waits for this rank's asynchronous save, raising its error
--
-- TIDE_FAULT="rank=R,step=S,kind=K" (first run only: not when TIDE_RESTART is set above 0):
-- kill (SIGKILL), hang (sleep forever) and exit (leave with status 75, no MPI_Finalize) strike
-- rank R when tick() reaches S; corrupt flips a byte of the first file rank R writes in its
-- first save at step >= S, after its crc32 was taken.
local tide = require "tide"
local value = require "tide.checkpoint.value"
local manifest = require "tide.checkpoint.manifest"

local M = {}

local io_ = tide.io
local REPLICATED = "replicated.safetensors"
local ID_KEY = "tide.ckpt.id"

local function rank_file(r) return ("rank-%05d.safetensors"):format(r) end
local function part_file(r) return ("rank-%05d.part"):format(r) end
local function step_dir(dir, step) return ("%s/step-%d"):format(dir, step) end

local counter = 0
local writer      -- tide.io.ckpt_writer(), made on first save
local local_writer   -- the node-local saves' (tide.checkpoint.partner), so that a copy to the
                     -- shared directory does not wait for the node-local one
local fault       -- the parsed TIDE_FAULT, false when none

-- ---------------------------------------------------------------- options and faults

local check_opts = require("tide.args").check_opts

local FAULT_KINDS = { kill = true, hang = true, exit = true, corrupt = true }

function M.parse_fault(text)
  local f = {}
  local usage = "TIDE_FAULT: expected rank=R,step=S,kind=kill|hang|exit|corrupt, got '"
    .. text .. "'"
  for item in text:gmatch("[^,]+") do
    local k, v = item:match("^%s*(%a+)%s*=%s*([%w]+)%s*$")
    if not k or f[k] ~= nil or not (k == "rank" or k == "step" or k == "kind") then
      error(usage, 0)
    end
    f[k] = v
  end
  f.rank, f.step = math.tointeger(tonumber(f.rank)), math.tointeger(tonumber(f.step))
  if not f.rank or not f.step or f.rank < 0 or not FAULT_KINDS[f.kind] then error(usage, 0) end
  return f
end

local function get_fault()
  if fault == nil then
    local text = os.getenv("TIDE_FAULT")
    local restart = math.tointeger(tonumber(os.getenv("TIDE_RESTART") or "0")) or 0
    fault = text and text ~= "" and restart == 0 and M.parse_fault(text) or false
  end
  return fault
end

function M.tick(comm)
  counter = counter + 1
  local f = get_fault()
  if f and f.kind ~= "corrupt" and f.step == counter then
    local rank = (comm or tide.world).rank
    if rank == f.rank then
      io.stderr:write(("[rank %d] TIDE_FAULT: %s at step %d\n"):format(rank, f.kind, counter))
      io.stderr:flush()
      io_.fault(f.kind)
    end
  end
  return counter
end

function M.step()
  return counter
end

local function wait_shared()
  if writer then writer:wait() end
end

local function wait_local()
  if local_writer then local_writer:wait() end
end

function M.wait()
  local ok, err = pcall(wait_shared)
  wait_local()
  if not ok then error(err, 0) end
end

-- ---------------------------------------------------------------- collective failure

-- Runs fn on every rank; when it fails on any, every rank raises the first failure's message
-- (no rank is left waiting in a later collective). Returns fn's result.
local function together(comm, op, fn, ...)
  local ok, res = pcall(fn, ...)
  local mine = false
  if not ok then mine = tostring(res) end
  local errs = comm:allgather_obj(mine)
  for r, e in ipairs(errs) do
    if e then
      error(("%s: %s%s"):format(op, comm.size > 1 and ("[rank %d] "):format(r - 1) or "",
        e:gsub("^" .. op:gsub("%p", "%%%0") .. ": ", "")), 0)
    end
  end
  return res
end

-- ---------------------------------------------------------------- the steps in a directory

-- complete steps (directories step-N) in dir, newest first
local function complete_steps(dir)
  local names = io_.list_dir(dir) or {}
  local steps = {}
  for _, name in ipairs(names) do
    local n = name:match("^step%-(%d+)$")
    if n then steps[#steps + 1] = math.tointeger(tonumber(n)) end
  end
  table.sort(steps, function(a, b) return a > b end)
  return steps
end

-- rank 0: remove the oldest complete steps beyond keep, and any unfinished step below newest
local function prune(dir, keep, newest)
  local steps = complete_steps(dir)
  if keep then
    for i = keep + 1, #steps do
      if steps[i] ~= newest then io_.remove_tree(step_dir(dir, steps[i])) end
    end
  end
  for _, name in ipairs(io_.list_dir(dir) or {}) do
    local n = math.tointeger(tonumber(name:match("^step%-(%d+)%.tmp$") or ""))
    if n and n < newest then io_.remove_tree(dir .. "/" .. name) end
  end
end

local function new_id()
  return ("%08x%08x-%d"):format(math.random(0, 0xffffffff), math.random(0, 0xffffffff),
    io_.getpid())
end

-- ---------------------------------------------------------------- save

-- The dtensors in state, each named by its key path, and the replicated part's encoding.
local function split_state(state, comm)
  local dts, names, seen, used = {}, {}, {}, {}
  local function custom(v, path)
    if not tide.dtensor.is_dtensor(v) then return nil end
    local name = seen[v]
    if not name then
      if v:comm().size ~= comm.size then
        error(("checkpoint.save: the dtensor at '%s' lives on %d ranks, the checkpoint's"
          .. " communicator has %d"):format(table.concat(path, "."), v:comm().size, comm.size), 0)
      end
      local base = #path == 0 and "dtensor" or table.concat(path, ".")
      name = base
      local k = 1
      while used[name] do
        k = k + 1
        name = base .. "~" .. k
      end
      used[name], seen[v] = true, name
      dts[#dts + 1], names[#names + 1] = v, name
    end
    return "d:" .. name
  end
  local tnames, tensors, meta = value.encode(state, "checkpoint.save", custom)
  return { names = tnames, tensors = tensors, meta = meta, dts = dts, dt_names = names }
end

-- every rank's digest of the replicated values: the skeleton's and each tensor's crc32
local function check_replicated(comm, parts)
  local digest = { io_.crc32(parts.meta["tide.value"]) }
  for i, t in ipairs(parts.tensors) do digest[i + 1] = io_.crc32(t) end
  local all = comm:allgather_obj(digest)
  for r = 2, #all do
    for i = 1, #digest do
      if all[r][i] ~= all[1][i] then
        local what = i == 1 and "the non-tensor values" or ("tensor '" .. parts.names[i - 1] .. "'")
        error(("checkpoint.save: the replicated state differs between ranks: %s on rank %d"
          .. " differ from rank 0's (keep per-rank values in a dtensor, or pass check = false)")
          :format(what, r - 1), 0)
      end
    end
  end
end

local function manifest_info(parts, comm, step, id, job)
  local dtensors = {}
  for i, dt in ipairs(parts.dts) do
    local shape = dt:global_shape()
    local shards = setmetatable({}, manifest.array)
    if dt:is_replicated() then
      shards[1] = { file = rank_file(0), first = 0, count = shape[1] }
    else
      local at = 0
      for r, n in ipairs(dt:row_counts()) do
        shards[r] = { file = rank_file(r - 1), first = at, count = n }
        at = at + n
      end
    end
    dtensors[parts.dt_names[i]] = { dtype = dt:dtype(), shape = shape,
      replicated = dt:is_replicated(), shards = shards }
  end
  return { format = manifest.FORMAT, version = manifest.VERSION, job = job, id = id,
    step = step, world_size = comm.size, replicated = REPLICATED, dtensors = dtensors }
end

-- This rank's files of a step and the writer's job for them (its part, the fault to inject).
local function make_job(parts, rank, tmp, id, step)
  local ckpt_meta = { [ID_KEY] = id, ["tide.ckpt.step"] = tostring(step),
    ["tide.ckpt.rank"] = tostring(rank) }
  local files = {}
  if rank == 0 then
    local meta = { [ID_KEY] = id, ["tide.ckpt.step"] = tostring(step) }
    for k, v in pairs(parts.meta) do meta[k] = v end
    files[1] = { path = tmp .. "/" .. REPLICATED, label = REPLICATED, names = parts.names,
      tensors = parts.tensors, meta = meta }
  end
  if #parts.dts > 0 then
    local names, tensors = {}, {}
    for i, dt in ipairs(parts.dts) do
      if rank == 0 or not dt:is_replicated() then
        names[#names + 1], tensors[#tensors + 1] = parts.dt_names[i], dt.shard
      end
    end
    files[#files + 1] = { path = tmp .. "/" .. rank_file(rank), label = rank_file(rank),
      names = names, tensors = tensors, meta = ckpt_meta }
  end
  local f = get_fault()
  local corrupt = f and f.kind == "corrupt" and f.rank == rank and step >= f.step
  if corrupt then f.kind = "spent" end
  return { files = files, part = tmp .. "/" .. part_file(rank), corrupt = corrupt }
end

local save_opts = { keep = true, async = true, step = true, comm = true, job = true,
  timeout = true, check = true, local_dir = true, partner = true, every = true }

local local_saves = 0   -- saves with local_dir: every M-th also goes to the shared dir

-- what tide.checkpoint.partner uses of this file
local function internals()
  return {
    REPLICATED = REPLICATED, rank_file = rank_file, part_file = part_file, step_dir = step_dir,
    together = together, wait = wait_local, counter = function() return counter end, complete_steps = complete_steps,
    prune = prune, new_id = new_id, split_state = split_state,
    check_replicated = check_replicated, manifest_info = manifest_info, job = make_job,
    writer = function()
      local_writer = local_writer or io_.ckpt_writer()
      return local_writer
    end,
    block = function(...) return M._block(...) end,
  }
end

function M.save(dir, state, opts)
  if type(dir) ~= "string" then
    error("checkpoint.save: expected a directory (a string), got " .. type(dir), 2)
  end
  opts = check_opts(opts, save_opts, "checkpoint.save")
  if opts.keep ~= nil and (math.type(opts.keep) ~= "integer" or opts.keep < 1) then
    error("checkpoint.save: keep must be an integer >= 1, got " .. tostring(opts.keep), 2)
  end
  if opts.step ~= nil and (math.type(opts.step) ~= "integer" or opts.step < 0) then
    error("checkpoint.save: step must be an integer >= 0, got " .. tostring(opts.step), 2)
  end
  local comm = opts.comm or tide.world
  local rank = comm.rank
  local op = "checkpoint.save"
  writer = writer or io_.ckpt_writer()
  if opts.local_dir ~= nil then
    if type(opts.local_dir) ~= "string" then
      error("checkpoint.save: local_dir must be a directory (a string), got "
        .. type(opts.local_dir), 2)
    end
    if opts.every ~= nil and (math.type(opts.every) ~= "integer" or opts.every < 1) then
      error("checkpoint.save: every must be an integer >= 1, got " .. tostring(opts.every), 2)
    end
    local step = require("tide.checkpoint.partner").save(dir, state, opts, comm, internals())
    local_saves = local_saves + 1
    if opts.every and local_saves % opts.every == 0 then
      local shared = {}
      for k, v in pairs(opts) do shared[k] = v end
      shared.local_dir, shared.partner, shared.every, shared.step = nil, nil, nil, step
      M.save(dir, state, shared)
    end
    return step
  elseif opts.partner or opts.every then
    error("checkpoint.save: partner and every go with local_dir", 2)
  end
  -- the previous asynchronous save ends (or fails) here, on every rank
  together(comm, op, wait_shared)
  local info = together(comm, op, function()
    if rank ~= 0 then return nil end
    io_.mkdirs(dir)
    local step = opts.step or (counter > 0 and counter) or ((complete_steps(dir)[1] or 0) + 1)
    prune(dir, opts.keep, step)
    local tmp = step_dir(dir, step) .. ".tmp"
    io_.remove_tree(tmp)
    io_.mkdirs(tmp)
    return { step = step, id = new_id() }
  end)
  info = comm:bcast_obj(info, 0)
  local step, id = info.step, info.id
  local parts = together(comm, op, split_state, state, comm)
  if opts.check ~= false then check_replicated(comm, parts) end

  local tmp = step_dir(dir, step) .. ".tmp"
  local job = make_job(parts, rank, tmp, id, step)
  local final = {
    parts = {}, manifest = tmp .. "/manifest.json", tmp = tmp, final = step_dir(dir, step),
    latest = dir .. "/latest", latest_text = ("step-%d\n"):format(step),
    timeout = opts.timeout or 600,
  }
  if rank == 0 then
    for r = 0, comm.size - 1 do final.parts[r + 1] = tmp .. "/" .. part_file(r) end
    final.prefix, final.suffix =
      manifest.split(manifest_info(parts, comm, step, id, opts.job or os.getenv("TIDE_JOB") or ""))
  end
  if opts.async then
    if rank == 0 then job.finalize = final end
    together(comm, op, writer.start, writer, job, true)
    return step
  end
  together(comm, op, writer.start, writer, job, false)
  together(comm, op, function()
    if rank ~= 0 then return end
    writer:start({ files = {}, finalize = final }, false)
    if opts.keep then prune(dir, opts.keep, step) end
  end)
  return step
end

-- ---------------------------------------------------------------- load

-- this rank's block of n rows among p ranks (0-based first), as tide.dtensor lays them out
local function block(n, p, r)
  local q, rem = n // p, n % p
  return r * q + math.min(r, rem), q + (r < rem and 1 or 0)
end
M._block = block

-- Reads (without any collective) what this rank needs of step: the replicated tensors and
-- metadata, and its rows of every dtensor. Raises on any problem, naming the file.
local function read_step(dir, step, comm, opts)
  local sdir = step_dir(dir, step)
  local mpath = sdir .. "/manifest.json"
  local fh = io.open(mpath, "rb")
  if not fh then
    error(("checkpoint: '%s' is missing (an unfinished or torn checkpoint)"):format(mpath), 0)
  end
  local text = fh:read("a")
  fh:close()
  local m = manifest.parse(text, mpath, io_.crc32)
  if m.step ~= step then
    error(("checkpoint: '%s' is the manifest of step %d, not of step %d (copied from elsewhere?)")
      :format(mpath, m.step, step), 0)
  end
  if opts.job and m.job ~= opts.job then
    error(("checkpoint: '%s' belongs to job '%s', not '%s'"):format(mpath, m.job, opts.job), 0)
  end
  local opened = {}
  local function open(name, map)
    if opened[name] then return opened[name] end
    local path = sdir .. "/" .. name
    local want = m.files[name]
    local ok, crc, size = pcall(io_.crc32_file, path)
    if not ok then
      error(("checkpoint: '%s' is missing or unreadable (%s)"):format(path, crc), 0)
    end
    if size ~= want.size then
      error(("checkpoint: '%s' has %d bytes, the manifest says %d"):format(path, size,
        want.size), 0)
    end
    if crc ~= want.crc32 then
      error(("checkpoint: '%s' is corrupt: its crc32 is %08x, the manifest says %08x")
        :format(path, crc, want.crc32), 0)
    end
    local tensors, meta = io_.st_load(path, map)
    if meta[ID_KEY] ~= m.id then
      error(("checkpoint: '%s' belongs to another save (id %s, the manifest's is %s)")
        :format(path, tostring(meta[ID_KEY]), m.id), 0)
    end
    opened[name] = { tensors = tensors, meta = meta }
    return opened[name]
  end
  local rep = m.replicated and open(m.replicated, opts.map) or { tensors = {}, meta = {} }
  local names = {}
  for name in pairs(m.dtensors) do names[#names + 1] = name end
  table.sort(names)
  local rows = {}
  for _, name in ipairs(names) do
    local d = m.dtensors[name]
    local shape = { table.unpack(d.shape) }
    local first, count = 0, shape[1]
    if not d.replicated then first, count = block(shape[1], comm.size, comm.rank) end
    shape[1] = count
    local t   -- made on the first piece: a view of the file's pages when one shard covers it
    for _, s in ipairs(d.shards) do
      local lo, hi = math.max(first, s.first), math.min(first + count, s.first + s.count)
      if hi > lo then
        local src = open(s.file, true).tensors[name]
        local where = sdir .. "/" .. s.file
        if not src then
          error(("checkpoint: '%s' has no tensor '%s'"):format(where, name), 0)
        end
        local want = { table.unpack(d.shape) }
        want[1] = s.count
        if src:dtype() ~= d.dtype or table.concat(src:shape(), "x") ~= table.concat(want, "x") then
          error(("checkpoint: '%s' holds '%s' as %s %s, the manifest says %s %s"):format(where,
            name, src:dtype(), table.concat(src:shape(), "x"), d.dtype, table.concat(want, "x")), 0)
        end
        local piece = src:narrow(1, lo - s.first + 1, hi - lo)
        if not t and hi - lo == count then
          t = piece   -- (copy-on-write pages: writing to the rows never reaches the file)
        else
          t = t or tide.empty(shape, d.dtype)   -- the shards tile the rows: no fill needed
          t:narrow(1, lo - first + 1, hi - lo):copy_(piece)
        end
      end
    end
    rows[name] = t or tide.empty(shape, d.dtype)   -- no rows here
  end
  return { manifest = m, rep = rep, rows = rows, names = names, where = "'" .. mpath .. "'" }
end

-- The state from what read_step gave; makes the dtensors (collective, in sorted order).
local function build_state(r, comm)
  local dts = {}
  for _, name in ipairs(r.names) do
    local make = r.manifest.dtensors[name].replicated and tide.dtensor.replicated
      or tide.dtensor.from_local
    dts[name] = make(r.rows[name], comm)
  end
  return value.decode(r.rep.tensors, r.rep.meta, r.where, function(kind, body, where)
    if kind ~= "d:" then return nil end
    if dts[body] == nil then
      error(("load: %s: the state refers to dtensor '%s', which the manifest does not list")
        :format(where, body), 0)
    end
    return dts[body]
  end)
end

local load_opts = { comm = true, job = true, map = true, step = true, local_dir = true }

function M.load(dir, opts)
  if type(dir) ~= "string" then
    error("checkpoint.load: expected a directory (a string), got " .. type(dir), 2)
  end
  opts = check_opts(opts, load_opts, "checkpoint.load")
  local comm = opts.comm or tide.world
  local op = "checkpoint.load"
  together(comm, op, M.wait)
  local steps = {}
  if opts.local_dir then   -- the node-local steps first, at equal steps
    steps = require("tide.checkpoint.partner").candidates(opts, comm, internals())
  end
  for _, s in ipairs(comm:bcast_obj(comm.rank == 0 and complete_steps(dir) or nil, 0)) do
    steps[#steps + 1] = { step = s, base = dir }
  end
  table.sort(steps, function(a, b)
    if a.step ~= b.step then return a.step > b.step end
    return a.prepare ~= nil and b.prepare == nil
  end)
  if opts.step then
    local only = {}
    for _, c in ipairs(steps) do
      if c.step == opts.step then only[#only + 1] = c end
    end
    steps = only
  end
  if #steps == 0 then return nil end
  local failures = {}
  for i, c in ipairs(steps) do
    local step = c.step
    local ok, r = pcall(function()
      if c.prepare then c.prepare() end
      return read_step(c.base, step, comm, opts)
    end)
    local mine = false
    if not ok then mine = tostring(r) end
    local errs = comm:allgather_obj(mine)
    local bad
    for rank, e in ipairs(errs) do
      if e then
        bad = (comm.size > 1 and ("[rank %d] "):format(rank - 1) or "") .. e
        break
      end
    end
    if not bad then
      local state = together(comm, op, build_state, r, comm)
      counter = step
      return state, step
    end
    failures[#failures + 1] = bad
    if comm.rank == 0 then
      io.stderr:write(("checkpoint: step %d in '%s' is unusable: %s%s\n"):format(step, c.base,
        bad, steps[i + 1] and ("; falling back to step %d%s"):format(steps[i + 1].step,
          steps[i + 1].prepare and " (node-local)" or "") or ""))
      io.stderr:flush()
    end
  end
  error(("checkpoint.load: no usable checkpoint in '%s':\n  %s"):format(dir,
    table.concat(failures, "\n  ")), 2)
end

return M
