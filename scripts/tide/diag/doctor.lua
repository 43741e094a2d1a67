-- tide.doctor (module tide.diag.doctor): reads the dumps of a job (DIR/rank-R.json, written by
-- tide.dump, SIGUSR1 or the watchdog; see core/comm/recorder.h) and says in one summary which
-- rank diverged:
--   - the last collective each rank completed (its number on its communicator, #seq);
--   - the first collective not every rank completed, the ranks missing from it (not started,
--     or in another collective) and where each of those is (its innermost Lua frame);
--   - the first point where the ranks' sequences of collectives differ (name, dtype, shape,
--     op, root or call site).
-- `tide doctor DIR` prints it; after a watchdog timeout one rank prints it on stderr. Needs no
-- MPI: only the files. Ranks are 0-based (MPI's).
local cjson = require "cjson"

local M = {}

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The dumps in dir: a table rank -> dump, and the job's size (nil when there is none).
function M.load(dir)
  local dumps, size = {}, nil
  local r, limit = 0, 4096
  while r < (size or limit) do
    local text = read(("%s/rank-%d.json"):format(dir, r))
    if text then
      local ok, d = pcall(cjson.decode, text)
      if not ok then
        error(("tide doctor: %s/rank-%d.json is not JSON: %s"):format(dir, r, d), 0)
      end
      dumps[r] = d
      size = size or math.tointeger(d.size)
    end
    r = r + 1
  end
  return dumps, size
end

-- "0, 2-3"
local function ranks_str(list)
  table.sort(list)
  local out, i = {}, 1
  while i <= #list do
    local j = i
    while j < #list and list[j + 1] == list[j] + 1 do j = j + 1 end
    out[#out + 1] = i == j and tostring(list[i]) or (list[i] .. "-" .. list[j])
    i = j + 1
  end
  return (#list == 1 and "rank " or "ranks ") .. table.concat(out, ", ")
end

-- "allreduce f32 [4] op sum" and with its site.
local function what(e)
  local s = e.name
  if e.dtype then
    local dims = {}
    for i, d in ipairs(e.shape or {}) do dims[i] = tostring(math.tointeger(d) or d) end
    s = s .. " " .. e.dtype .. " [" .. table.concat(dims, ", ") .. "]"
  end
  if e.op then s = s .. " op " .. e.op end
  if e.root then s = s .. " root " .. math.tointeger(e.root) end
  return s
end
local function where(e) return what(e) .. " at " .. e.site end

-- The innermost frame of a rank's tracebacks with a line (the last coroutine's first).
local function lua_frame(d)
  local tb = d.traceback or {}
  for t = #tb, 1, -1 do
    for _, f in ipairs(tb[t].frames or {}) do
      if f.what ~= "C" and f.site:find(":%d+$") then return f.site end
    end
  end
  return nil
end

-- Per rank and communicator: entries by seq, the last done seq, the last started entry.
local function index(d)
  local by = {}
  for _, e in ipairs(d.collectives or {}) do
    local c = by[e.comm]
    if not c then
      c = { seq = {}, done = nil, last = nil, first = e.seq }
      by[e.comm] = c
    end
    c.seq[e.seq] = e
    if e.state == "done" and (not c.done or e.seq > c.done.seq) then c.done = e end
    if not c.last or e.seq > c.last.seq then c.last = e end
  end
  return by
end

-- The communicator to look at: the one of the most recent unfinished call of the lowest rank
-- that has one, else the world (0).
local function focus(ranks)
  for _, r in ipairs(ranks) do
    local best
    for _, e in ipairs(ranks.dumps[r].collectives or {}) do
      if e.state ~= "done" and (not best or e.id > best.id) then best = e end
    end
    if best then return best.comm end
  end
  return 0
end

-- Groups ranks by a description: "rank 0: x; ranks 1-3: y".
local function grouped(ranks, describe)
  local order, groups = {}, {}
  for _, r in ipairs(ranks) do
    local s = describe(r)
    if not groups[s] then
      groups[s] = {}
      order[#order + 1] = s
    end
    table.insert(groups[s], r)
  end
  local out = {}
  for _, s in ipairs(order) do out[#out + 1] = ranks_str(groups[s]) .. ": " .. s end
  return out
end

-- The summary as a list of lines.
function M.analyse(dumps, size)
  local lines = {}
  local ranks = { dumps = dumps }
  for r = 0, size - 1 do if dumps[r] then ranks[#ranks + 1] = r end end
  local missing_dumps = {}
  for r = 0, size - 1 do if not dumps[r] then missing_dumps[#missing_dumps + 1] = r end end
  local first = dumps[ranks[1]]
  lines[#lines + 1] = ("tide doctor: %d of %d ranks dumped (%s)"):format(#ranks, size, first.reason)
  if #missing_dumps > 0 then
    lines[#lines + 1] = "  no dump from " .. ranks_str(missing_dumps)
      .. " (computing outside a tide collective, stopped, or exited)"
  end
  local idx = {}
  for _, r in ipairs(ranks) do idx[r] = index(dumps[r]) end
  local cid = focus(ranks)
  local function on(r) return idx[r][cid] or { seq = {} } end
  -- the ranks that called collectives on cid (every rank is in the world, 0)
  local members = {}
  for _, r in ipairs(ranks) do
    if cid == 0 or idx[r][cid] then members[#members + 1] = r end
  end
  members.dumps = dumps

  local which = cid ~= 0 and (" (communicator " .. cid .. ")") or ""
  lines[#lines + 1] = "last completed" .. which .. ":"
  for _, s in ipairs(grouped(members, function(r)
    local d = on(r).done
    return d and ("#%d %s"):format(d.seq, where(d)) or "none recorded"
  end)) do lines[#lines + 1] = "  " .. s end

  -- the first collective not every rank completed
  local low
  for _, r in ipairs(members) do
    local d = on(r).done
    local s = d and d.seq or 0
    if not low or s < low then low = s end
  end
  local s = (low or 0) + 1
  local expected, votes = nil, {}
  for _, r in ipairs(members) do
    local e = on(r).seq[s]
    if e then
      local k = e.name
      votes[k] = (votes[k] or 0) + 1
      if not expected or votes[k] > votes[expected.name] then expected = e end
    end
  end
  if not expected then
    lines[#lines + 1] = ("first incomplete: none (every rank completed #%d)"):format(s - 1)
  else
    local missing = {}
    for _, r in ipairs(members) do
      local e = on(r).seq[s]
      if not e or e.name ~= expected.name then missing[#missing + 1] = r end
    end
    for _, r in ipairs(missing_dumps) do missing[#missing + 1] = r end
    table.sort(missing)
    lines[#lines + 1] = ("first incomplete: %s #%d at %s; missing: %s"):format(expected.name, s,
      expected.site, #missing > 0 and ranks_str(missing) or "none")
    for _, r in ipairs(missing) do
      local d = dumps[r]
      if not d then
        lines[#lines + 1] = ("  rank %d: no dump"):format(r)
      else
        local e = d.collectives and d.collectives[#d.collectives]   -- its latest, on any comm
        local now = ""
        if e and e.state ~= "done" then
          local comm = e.comm ~= cid and (" of communicator " .. e.comm) or ""
          -- a failed call returned its error: the rank has left it
          now = e.state == "failed"
            and (", after %s #%d%s failed: %s"):format(e.name, e.seq, comm, e.error or "?")
            or (", in %s #%d%s (%s)"):format(e.name, e.seq, comm, e.state)
        end
        lines[#lines + 1] = ("  rank %d is at %s%s"):format(r, lua_frame(d) or "? (no Lua frame)",
          now)
      end
    end
  end

  -- the first seq where the ranks' records differ
  local from, to = nil, 0
  for _, r in ipairs(members) do
    local c = on(r)
    if c.first and (not from or c.first > from) then from = c.first end
    if c.last and c.last.seq > to then to = c.last.seq end
  end
  local diff
  for q = from or 1, to do
    local descs, seen, n = {}, {}, 0
    for _, r in ipairs(members) do
      local e = on(r).seq[q]
      local k = e and where(e) or "nothing"
      descs[r] = k
      if not seen[k] then seen[k] = true; n = n + 1 end
    end
    if n > 1 then
      diff = ("first difference: #%d: "):format(q) .. table.concat(grouped(members, function(r)
        return descs[r] end), "; ")
      break
    end
  end
  lines[#lines + 1] = diff
    or ("no difference in the recorded collectives (#%d to #%d)"):format(from or 0, to)
  return lines
end

-- Prints the summary of dir's dumps on out (default io.stdout); returns true when there were
-- dumps, else nil and a message.
function M.report(dir, out)
  out = out or io.stdout
  local dumps, size = M.load(dir)
  if not size then return nil, "tide doctor: no dumps (rank-R.json) in " .. dir end
  out:write(table.concat(M.analyse(dumps, size), "\n"), "\n")
  out:flush()
  return true
end

-- `tide doctor [DIR]` (DIR: TIDE_DUMP_DIR or tide-dump); returns the exit code.
function M.main(args)
  if #args > 1 then
    io.stderr:write("tide doctor: expected at most one directory, got " .. #args .. " arguments\n")
    return 2
  end
  local dir = args[1] or os.getenv("TIDE_DUMP_DIR") or "tide-dump"
  local ok, done, err = pcall(M.report, dir)
  if not ok or not done then
    io.stderr:write(tostring(ok and err or done), "\n")
    return 1
  end
  return 0
end

return M
