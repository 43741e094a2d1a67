-- tide.farm: a task farm. One rank schedules, the others run fn(task) and send results back.
--
--   local results, report = tide.farm.run(comm, tasks, fn, opts)   -- every rank of comm calls it
--
-- tasks is a list of Lua values (numbers, strings, tables, tensors: whatever comm:send_obj
-- carries, tensors included). On the scheduling rank run returns the results in task order
-- (results[i] = fn(tasks[i], i)) and a report; the other ranks return nil. opts:
--   policy   "round_robin" (default) | "least_loaded" | "weighted" | "stealing" | a policy object
--   root     the scheduling rank (0-based, default 0); with one rank it also runs the tasks
--   weights  {[rank] = w}: declared worker weights (0-based ranks), for the weighted policy
--   window   tasks in flight per worker (default 2: one running, one waiting in its inbox)
--   retries  how many times a task whose fn raised is sent again (default 2)
--   order    "task" (default): results[i] is task i's; "completion": results is the list of
--            {index = i, value = v} in the order results came back
-- A policy is an object with pick(self, workers, task, index) -> the 0-based rank of the worker
-- that takes the task; workers lists, per worker, rank, outstanding (queued and running),
-- completed, speed (tasks per second of its own measured time, 1 before any) and weight (declared
-- or nil). A policy with steal = true lets an idle worker take the newest task queued for
-- another. Policies are re-made for every run, so they may keep state in their closures.
-- The report: makespan (seconds), per worker {rank, tasks, busy} and failures, each
-- {index, rank, task, message, attempt}. A task that still raises after `retries` more attempts
-- stops the farm: every worker is released, then run raises naming the task, the rank and the
-- message.
local tide = require "tide"
local args = require "tide.args"
local objects = require "tide.comm"

local M = {}

local TAG_TASK, TAG_RESULT = 31001, 31002
local POLICIES = { round_robin = true, least_loaded = true, weighted = true, stealing = true }
local KNOWN = { policy = true, root = true, weights = true, window = true, retries = true,
  order = true }

local function send(comm, v, dst, tag)
  local ok, s = objects.encode(v, true)
  if not ok then
    error("farm.run: " .. s, 0)
  end
  comm:_send_bytes(s, dst, tag)
end

local function recv(comm, src, tag)
  local s, source = comm:_recv_bytes(src, tag)
  return objects.decode(s), source
end

local function check_policy(p, where)
  if type(p) ~= "table" or type(p.pick) ~= "function" then
    error(("%s: expected a policy (a table with a pick method), got %s"):format(where, type(p)), 3)
  end
  p.name = p.name or "custom"
  return p
end

--- A policy from a Lua file that returns a policy object or a function(opts) making one.
function M.load(path, opts, ...)
  args.at_most("farm.load", 2, ...)
  if type(path) ~= "string" then
    error("farm.load: expected a file path, got " .. type(path), 2)
  end
  local chunk, err = loadfile(path, "t")
  if not chunk then
    error("farm.load: " .. err, 2)
  end
  local ok, policy = pcall(chunk)
  if not ok then
    error("farm.load: " .. path .. ": " .. tostring(policy), 2)
  end
  local make = policy
  if type(policy) ~= "function" then
    make = function() return policy end
  end
  return { name = path, make = function(o) return check_policy(make(o or opts or {}), "farm.load") end }
end

--- The policy of that name (round_robin, least_loaded, weighted, stealing), freshly made.
function M.policy(name, opts, ...)
  args.at_most("farm.policy", 2, ...)
  if not POLICIES[name] then
    local names = {}
    for n in pairs(POLICIES) do names[#names + 1] = n end
    table.sort(names)
    error(("farm.policy: unknown policy '%s' (expected one of: %s)"):format(tostring(name),
      table.concat(names, ", ")), 2)
  end
  return require("tide.farm." .. name)(opts or {})
end

local function make_policy(p)
  if p == nil then p = "round_robin" end
  if type(p) == "string" then
    if not POLICIES[p] then
      local ok, e = pcall(M.policy, p)
      error((tostring(e):gsub("^farm%.policy", "farm.run")), 0)
    end
    return M.policy(p)
  elseif type(p) == "table" and p.make then   -- from farm.load
    return p.make()
  end
  return check_policy(p, "farm.run")
end

-- ---------------------------------------------------------------- the worker side

local function work(comm, root, fn)
  while true do
    local msg = recv(comm, root, TAG_TASK)
    if msg.stop then return end
    local t0 = tide.now()
    local ok, v = pcall(fn, msg.task, msg.index)
    local reply = { index = msg.index, ok = ok, seconds = tide.now() - t0 }
    if ok then reply.value = v else reply.message = tostring(v) end
    local sent, e = pcall(send, comm, reply, root, TAG_RESULT)
    if not sent then   -- an unsendable result is that task's failure, not the job's
      reply.ok, reply.value, reply.message = false, nil, tostring(e)
      send(comm, reply, root, TAG_RESULT)
    end
  end
end

-- ---------------------------------------------------------------- the scheduler

local Sched = {}
Sched.__index = Sched

local function new_sched(comm, tasks, fn, cfg, root)
  local s = setmetatable({ comm = comm, tasks = tasks, fn = fn, root = root,
    policy = cfg.policy, window = cfg.window, retries = cfg.retries, order = cfg.order,
    pending = {}, attempts = {}, results = {}, done = 0, by_rank = {}, workers = {},
    failures = {}, completion = {} }, Sched)
  local weights = cfg.weights
  for r = 0, comm.size - 1 do
    if r ~= root or comm.size == 1 then
      local w = { rank = r, outstanding = 0, completed = 0, speed = 1, weight = weights[r],
        queue = {}, inflight = 0, busy = 0 }
      s.workers[#s.workers + 1] = w
      s.by_rank[r] = w
    end
  end
  for i = 1, #tasks do s.pending[i] = i end
  return s
end

-- Stops every worker, then raises msg: no rank is left waiting for a task.
function Sched:fail(msg)
  self:stop()
  error(msg, 0)
end

function Sched:stop()
  if self.stopped then return end
  self.stopped = true
  for _, w in ipairs(self.workers) do
    if w.rank ~= self.root then send(self.comm, { stop = true }, w.rank, TAG_TASK) end
  end
  -- results still in flight are drained, so no message outlives the farm
  for _, w in ipairs(self.workers) do
    for _ = 1, w.inflight do recv(self.comm, w.rank, TAG_RESULT) end
    w.inflight = 0
  end
end

function Sched:pick(index)
  local ok, r = pcall(self.policy.pick, self.policy, self.workers, self.tasks[index], index)
  if not ok then
    self:fail(("farm.run: policy '%s' raised: %s"):format(self.policy.name, tostring(r)))
  end
  local w = self.by_rank[r]
  if not w then
    local ranks = {}
    for _, x in ipairs(self.workers) do ranks[#ranks + 1] = x.rank end
    self:fail(("farm.run: policy '%s' picked %s, which is not a worker rank (workers: %s)"):format(
      self.policy.name, tostring(r), table.concat(ranks, ", ")))
  end
  w.queue[#w.queue + 1] = index
  w.outstanding = w.outstanding + 1
end

-- Picks workers for pending tasks: all at once for a stealing policy (tasks wait in the
-- workers' queues), else one at a time while some worker has room and nothing queued, so a
-- policy sees loads as they are.
function Sched:assign()
  local function idle()
    for _, w in ipairs(self.workers) do
      if w.inflight < self.window and #w.queue == 0 then return true end
    end
  end
  while #self.pending > 0 and (self.policy.steal or idle()) do
    self:pick(table.remove(self.pending, 1))
  end
end

function Sched:longest_other(w)
  local best
  for _, x in ipairs(self.workers) do
    if x ~= w and #x.queue > 0 and (not best or #x.queue > #best.queue) then best = x end
  end
  return best
end

function Sched:send_task(w, index)
  self.attempts[index] = (self.attempts[index] or 0) + 1
  w.inflight = w.inflight + 1
  if w.rank == self.root then   -- a world of one: the scheduler runs it
    local t0 = tide.now()
    local ok, v = pcall(self.fn, self.tasks[index], index)
    self.local_reply = { index = index, ok = ok, value = ok and v or nil,
      message = not ok and tostring(v) or nil, seconds = tide.now() - t0 }
    return
  end
  send(self.comm, { index = index, task = self.tasks[index] }, w.rank, TAG_TASK)
end

function Sched:dispatch()
  for _, w in ipairs(self.workers) do
    while w.inflight < self.window do
      local index = table.remove(w.queue, 1)
      if not index and self.policy.steal then
        local victim = self:longest_other(w)
        if victim then
          index = table.remove(victim.queue)
          victim.outstanding = victim.outstanding - 1
          w.outstanding = w.outstanding + 1
        end
      end
      if not index then break end
      self:send_task(w, index)
      if self.local_reply then return end
    end
  end
end

function Sched:receive()
  local reply, source = self.local_reply, self.root
  self.local_reply = nil
  if not reply then
    reply, source = recv(self.comm, tide.ANY, TAG_RESULT)
  end
  local w = self.by_rank[source]
  w.inflight, w.outstanding = w.inflight - 1, w.outstanding - 1
  w.busy = w.busy + reply.seconds
  local i = reply.index
  if reply.ok then
    w.completed = w.completed + 1
    w.speed = w.completed / math.max(w.busy, 1e-9)
    self.results[i] = reply.value
    self.completion[#self.completion + 1] = { index = i, value = reply.value }
    self.done = self.done + 1
    return
  end
  local f = { index = i, rank = source, task = self.tasks[i], message = reply.message,
    attempt = self.attempts[i] }
  self.failures[#self.failures + 1] = f
  if self.attempts[i] > self.retries then
    self:fail(("farm.run: task %d failed on rank %d after %d attempts: %s"):format(i, source,
      self.attempts[i], reply.message))
  end
  table.insert(self.pending, 1, i)
end

function Sched:run()
  local t0 = tide.now()
  while self.done < #self.tasks do
    self:assign()
    self:dispatch()
    self:receive()
  end
  self:stop()
  local per = {}
  for _, w in ipairs(self.workers) do
    per[#per + 1] = { rank = w.rank, tasks = w.completed, busy = w.busy }
  end
  local report = { makespan = tide.now() - t0, workers = per, failures = self.failures,
    policy = self.policy.name }
  if self.order == "completion" then return self.completion, report end
  return self.results, report
end

--- Runs fn(tasks[i], i) for every task on the workers of comm; collective over comm.
function M.run(comm, tasks, fn, opts, ...)
  args.at_most("farm.run", 4, ...)
  local where = "farm.run"
  if type(comm) ~= "userdata" or comm.size == nil then
    error(where .. ": expected a communicator, got " .. type(comm), 2)
  end
  if type(tasks) ~= "table" then
    error(where .. ": expected a list of tasks, got " .. type(tasks), 2)
  end
  args.func(fn, "fn", where)
  -- every rank checks the options, so a bad one fails everywhere and no rank waits
  opts = args.check_opts(opts, KNOWN, where)
  local root = args.integer(opts.root, "root", where, 0, 0)
  if root >= comm.size then
    error(("%s: root %d out of range (expected 0..%d)"):format(where, root, comm.size - 1), 2)
  end
  local cfg = { policy = make_policy(opts.policy),
    window = args.integer(opts.window, "window", where, 1, 2),
    retries = args.integer(opts.retries, "retries", where, 0, 2),
    order = args.one_of(opts.order, "order", where, { "task", "completion" }, "task"),
    weights = opts.weights or {} }
  if type(cfg.weights) ~= "table" then
    error(where .. ": weights must be a table {[rank] = weight}, got " .. type(cfg.weights), 2)
  end
  if comm.rank ~= root then
    work(comm, root, fn)
    return nil
  end
  return new_sched(comm, tasks, fn, cfg, root):run()
end

return M
