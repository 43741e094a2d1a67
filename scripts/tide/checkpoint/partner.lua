-- tide.checkpoint.partner: node-local checkpoints with a partner copy (as SCR does).
--
-- save(dir, state, {local_dir = L, partner = true, every = M}) writes the step into
-- L/<node>/step-N/ on every node instead of dir: each rank its own files, and, with partner,
-- also a copy of the files of one rank of another node (the rank with the same index within the
-- next node, in sorted node order), sent to it over MPI; the first rank of each node writes the
-- manifest there. Every M-th such save (M = every) also goes to the shared dir as usual.
-- load(dir, {local_dir = L}) considers the steps of the node-local directories (newest first,
-- then the shared dir's): the files a rank needs that its node no longer holds (a lost node,
-- a wiped disk) are sent back by a rank whose node holds them, its partner's copy, and written
-- into its own node's directory before the step is read as usual; the time this took is printed.
-- A node is named by TIDE_NODE when set (to emulate nodes on one machine: give each group of
-- ranks its own TIDE_NODE, or list every rank's node: TIDE_NODE=a,a,b,b), else by the host
-- name.
local tide = require "tide"
local manifest = require "tide.checkpoint.manifest"

local P = {}
local io_ = tide.io
local TAG = 7311   -- the tag of checkpoint file transfers

local function host_name()
  local f = io.open("/proc/sys/kernel/hostname")
  local name = f and f:read("l")
  if f then f:close() end
  return name or "localhost"
end

-- The node of the process that is rank `rank` of the world, from TIDE_NODE (text, maybe nil):
-- one name for the process, or a comma-separated list of every world rank's node (so that one
-- `tide run` emulates several nodes: TIDE_NODE=a,a,b,b); else the host name.
function P.node_name(text, rank)
  if not text or text == "" then return host_name() end
  if not text:find(",", 1, true) then return text end
  local list = {}
  for name in (text .. ","):gmatch("([^,]*),") do list[#list + 1] = name end
  local name = list[rank + 1]
  if not name or name == "" then
    error(("TIDE_NODE: expected a node name for every rank (comma-separated, rank 0's first),"
      .. " got %s for rank %d in '%s'"):format(name and "an empty one" or "none", rank, text), 0)
  end
  return name
end

-- nodes and partners of comm's ranks (0-based ranks throughout)
function P.layout(comm)
  local node = P.node_name(os.getenv("TIDE_NODE"), tide.world.rank)
  local of = comm:allgather_obj(node)
  local names, members = {}, {}
  for r, n in ipairs(of) do
    if not members[n] then
      members[n] = {}
      names[#names + 1] = n
    end
    table.insert(members[n], r - 1)
  end
  table.sort(names)
  local partner, index = {}, {}
  for k, n in ipairs(names) do
    local next_members = members[names[k % #names + 1]]
    for i, r in ipairs(members[n]) do
      index[r] = i
      partner[r] = next_members[(i - 1) % #next_members + 1]
    end
  end
  -- the rank whose copy this rank keeps: the one that has it as partner (several when nodes
  -- differ in size)
  local keeps = {}
  for r = 0, comm.size - 1 do
    local p = partner[r]
    keeps[p] = keeps[p] or {}
    table.insert(keeps[p], r)
  end
  return { node = node, of = of, names = names, members = members, partner = partner,
    keeps = keeps, leader = members[node][1] == comm.rank }
end

function P.local_dir(base, node)
  return base .. "/" .. node:gsub("[^%w%._%-]", function(c) return ("%%%02x"):format(c:byte()) end)
end

-- the files each rank writes in a step (as init.lua's save makes them)
local function files_of(r, has_dtensors, I)
  local list = {}
  if r == 0 then list[#list + 1] = I.REPLICATED end
  if has_dtensors then list[#list + 1] = I.rank_file(r) end
  return list
end

-- With async, what needs the other ranks happens now, on the calling thread, and only the
-- writing waits for the background: every rank encodes its files into memory (the copy of the
-- state an asynchronous save takes anyway), sends them to its partner and gathers every file's
-- crc32 for the manifest, then hands its own files and the copies it received to the writer
-- thread. MPI stays on the calling thread (the ranks need not run MPI with thread support, and
-- the transfer is a memory copy's time); the disk, the slow part, is the thread's.
function P.save(dir, state, opts, comm, I)
  local op = "checkpoint.save"
  local L = P.layout(comm)
  local partner = opts.partner
  if partner ~= nil and partner ~= true and partner ~= false and partner ~= "auto" then
    error(("checkpoint.save: partner: expected true, false or 'auto', got %s"):format(
      type(partner) == "string" and ("'" .. partner .. "'") or type(partner)), 0)
  end
  -- "auto": copies while the ranks span two nodes or more, none once they are on one (a job
  -- relaunched with tide run --elastic on the host left goes on saving)
  if partner == "auto" then partner = #L.names >= 2 end
  if partner and #L.names < 2 then
    error(("checkpoint.save: partner copies need ranks on two nodes or more, but all %d ranks"
      .. " are on node '%s' (TIDE_NODE names emulated nodes; partner = 'auto' saves without"
      .. " copies then)"):format(comm.size, L.node), 0)
  end
  local ldir = P.local_dir(opts.local_dir, L.node)
  local rank = comm.rank
  I.together(comm, op, I.wait)
  local info = I.together(comm, op, function()
    if rank ~= 0 then return nil end
    io_.mkdirs(ldir)
    local step = opts.step or (I.counter() > 0 and I.counter()) or
      ((I.complete_steps(ldir)[1] or 0) + 1)
    return { step = step, id = I.new_id() }
  end)
  info = comm:bcast_obj(info, 0)
  local step = info.step
  local tmp = I.step_dir(ldir, step) .. ".tmp"
  I.together(comm, op, function()
    if L.leader then
      io_.mkdirs(ldir)
      I.prune(ldir, opts.keep, step)
      io_.remove_tree(tmp)
      io_.mkdirs(tmp)
    end
  end)
  local parts = I.together(comm, op, I.split_state, state, comm)
  if opts.check ~= false then I.check_replicated(comm, parts) end
  local job = I.job(parts, rank, tmp, info.id, step)
  -- this rank's files as bytes, each with its crc32 and size
  local files, mine = {}, {}
  I.together(comm, op, function()
    for i, f in ipairs(job.files) do
      local bytes = io_.st_encode(f.path, f.names, f.tensors, f.meta)
      mine[f.label] = { crc32 = io_.crc32(bytes), size = bytes:numel() }
      files[i] = { path = f.path, label = f.label, bytes = bytes }
    end
  end)
  if partner then   -- the copies to and from partners
    I.together(comm, op, function()
      local reqs = {}
      for _, f in ipairs(files) do reqs[#reqs + 1] = comm:isend(f.bytes, L.partner[rank], TAG) end
      for _, src in ipairs(L.keeps[rank] or {}) do
        for _, label in ipairs(files_of(src, #parts.dts > 0, I)) do
          files[#files + 1] = { path = tmp .. "/" .. label, label = label,
            bytes = (comm:recv_new(src, TAG)) }
        end
      end
      for _, req in ipairs(reqs) do req:wait() end
    end)
  end
  local all = {}
  for _, f in ipairs(comm:allgather_obj(mine)) do
    for label, e in pairs(f) do all[label] = e end
  end
  -- the writer's job: the files, then this rank's part; a node's first rank then waits for the
  -- parts of the node's ranks and completes the step (the manifest, the rename, latest)
  local wjob = { files = files, part = tmp .. "/" .. I.part_file(rank), corrupt = job.corrupt }
  local final
  if L.leader then
    local m = I.manifest_info(parts, comm, step, info.id, opts.job or os.getenv("TIDE_JOB") or "")
    m.files = all
    local node_parts = {}
    for i, r in ipairs(L.members[L.node]) do node_parts[i] = tmp .. "/" .. I.part_file(r) end
    final = { parts = node_parts, manifest = tmp .. "/manifest.json",
      prefix = manifest.encode(m):sub(1, -2), suffix = "", tmp = tmp,
      final = I.step_dir(ldir, step), latest = ldir .. "/latest",
      latest_text = ("step-%d\n"):format(step), timeout = opts.timeout or 600 }
  end
  files = nil   -- the writer takes the bytes over
  if opts.async then
    wjob.finalize = final
    I.together(comm, op, function() I.writer():start(wjob, true) end)
    return step
  end
  -- now: every rank's files first (a failure reaches every rank), then the steps' completion
  I.together(comm, op, function() I.writer():start(wjob, false) end)
  I.together(comm, op, function()
    if not final then return end
    I.writer():start({ files = {}, finalize = final }, false)
    if opts.keep then I.prune(ldir, opts.keep, step) end
  end)
  return step
end

-- which files of step m a rank of comm reads when it loads (init.lua's read_step)
local function needed(m, comm, r, block)
  local need = {}
  if m.replicated then need[m.replicated] = true end
  for _, d in pairs(m.dtensors) do
    local first, count = 0, d.shape[1]
    if not d.replicated then first, count = block(d.shape[1], comm.size, r) end
    for _, s in ipairs(d.shards) do
      if math.max(first, s.first) < math.min(first + count, s.first + s.count) then
        need[s.file] = true
      end
    end
  end
  return need
end

-- The candidate steps in the node-local directories, newest first, each with a function that
-- makes this rank's node directory hold what it needs of the step (collective).
function P.candidates(opts, comm, I)
  local L = P.layout(comm)
  local ldir = P.local_dir(opts.local_dir, L.node)
  local all = comm:allgather_obj(I.complete_steps(ldir))
  local seen, steps = {}, {}
  for _, list in ipairs(all) do
    for _, s in ipairs(list) do
      if not seen[s] then seen[s] = true; steps[#steps + 1] = s end
    end
  end
  table.sort(steps, function(a, b) return a > b end)
  local out = {}
  for _, step in ipairs(steps) do
    out[#out + 1] = { step = step, base = ldir, prepare = function()
      return P.restore(ldir, step, comm, L, I)
    end }
  end
  return out
end

-- Collective: brings every file this rank's step needs into its node directory, from the
-- ranks whose nodes still hold them. Raises (on every rank alike) when a file is gone everywhere.
function P.restore(ldir, step, comm, L, I)
  local t0 = tide.now()
  local sdir = I.step_dir(ldir, step)
  local held = {}
  for _, name in ipairs(io_.list_dir(sdir) or {}) do held[name] = true end
  local holdings = comm:allgather_obj(held)
  local holder = nil
  for r = 0, comm.size - 1 do
    if holdings[r + 1]["manifest.json"] then holder = r; break end
  end
  if holder == nil then
    error(("checkpoint: no node holds '%s/manifest.json' any more"):format(
      I.step_dir("<local_dir>/<node>", step)), 0)
  end
  local text = comm:bcast_obj(comm.rank == holder and
    (function() local f = assert(io.open(sdir .. "/manifest.json", "rb"))
      local s = f:read("a"); f:close(); return s end)() or nil, holder)
  local m = manifest.parse(text, sdir .. "/manifest.json", io_.crc32)
  -- the transfers, the same list on every rank: (from, to, file), one per node and file
  local plan, planned = {}, {}
  for r = 0, comm.size - 1 do
    local need = needed(m, comm, r, I.block)
    need["manifest.json"] = true
    local names = {}
    for f in pairs(need) do names[#names + 1] = f end
    table.sort(names, function(a, b)   -- the manifest last: it marks the step complete
      if (a == "manifest.json") ~= (b == "manifest.json") then return b == "manifest.json" end
      return a < b
    end)
    for _, f in ipairs(names) do
      local key = L.of[r + 1] .. "\0" .. f
      if not holdings[r + 1][f] and not planned[key] then
        local from
        for h = 0, comm.size - 1 do
          if holdings[h + 1][f] then from = h; break end
        end
        if from == nil then
          error(("checkpoint: step %d: no node holds '%s' any more (lost with its partner?)")
            :format(step, f), 0)
        end
        planned[key] = true
        plan[#plan + 1] = { from = from, to = r, file = f }
      end
    end
  end
  for _, t in ipairs(plan) do   -- in the same order everywhere: no rank waits in a cycle
    if comm.rank == t.from then
      comm:send(io_.read_file(sdir .. "/" .. t.file), t.to, TAG)
    elseif comm.rank == t.to then
      io_.mkdirs(sdir)
      io_.write_file(sdir .. "/" .. t.file, (comm:recv_new(t.from, TAG)))
    end
  end
  -- A file comes once per node, to one of its ranks: the node's other ranks read it only once
  -- every transfer has landed.
  comm:barrier()
  if #plan > 0 and comm.rank == 0 then
    io.stderr:write(("checkpoint: restored %d file(s) of step %d from partner copies in %.3f s\n")
      :format(#plan, step, tide.now() - t0))
    io.stderr:flush()
  end
  return #plan
end

return P
