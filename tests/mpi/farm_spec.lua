-- tide.farm across ranks (1, 2 and 4): every task's result comes back exactly once, in task
-- order, under each policy, from a policy file outside the tree, with tasks that raise (retried,
-- reported with rank and task) and with tensors as tasks; bad policies and options fail with
-- messages that name them, on every rank, and no rank is left waiting.
local tide = require "tide"
local farm = require "tide.farm"

local world = tide.world
local me, P = world.rank, world.size
local ROOT = 0

-- the ranks that run tasks: all but the root, or the root alone in a world of one
local function worker_ranks()
  local out = {}
  for r = 0, P - 1 do
    if r ~= ROOT or P == 1 then out[#out + 1] = r end
  end
  return out
end

local function square_tasks(n)
  local tasks = {}
  for i = 1, n do tasks[i] = { x = i, name = "t" .. i } end
  return tasks
end

local function square(task, i)
  assert(task.x == i)
  return { y = task.x * task.x, name = task.name }
end

local function check_squares(results, report, n)
  assert.equal(n, #results)
  for i = 1, n do
    assert.same({ y = i * i, name = "t" .. i }, results[i])
  end
  local total = 0
  for _, w in ipairs(report.workers) do total = total + w.tasks end
  assert.equal(n, total)   -- no task ran to completion twice
end

-- a policy file written outside the tree (in the system's temporary directory)
local function write_policy_file()
  local path = os.tmpname() .. "_farm_policy_" .. me .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write([[
-- always the highest-ranked worker with the fewest outstanding tasks
return function(opts)
  return {
    name = "highest_idle",
    pick = function(self, workers, task, index)
      local best
      for _, w in ipairs(workers) do
        if not best or w.outstanding <= best.outstanding then best = w end
      end
      return best.rank
    end,
  }
end
]])
  f:close()
  return path
end

describe("farm.run", function()
  for _, policy in ipairs { "round_robin", "least_loaded", "weighted", "stealing" } do
    it("returns every result once, in task order, under " .. policy, function()
      local n = 23
      local results, report = farm.run(world, square_tasks(n), square,
        { policy = policy, weights = { [1] = 2, [2] = 1, [3] = 1 } })
      if me == ROOT then
        check_squares(results, report, n)
        assert.equal(policy, report.policy)
      else
        assert.is_nil(results)
      end
    end)
  end

  it("feeds a policy each worker's rank, load, speed and declared weight", function()
    local picks, bad = 0, nil
    local spy = { name = "spy", pick = function(_, workers)
      picks = picks + 1
      local ranks = worker_ranks()
      if #workers ~= #ranks then bad = "worker count " .. #workers end
      for i, w in ipairs(workers) do
        if w.rank ~= ranks[i] then bad = "rank " .. tostring(w.rank) end
        if math.type(w.outstanding) ~= "integer" or w.outstanding < 0 then bad = "outstanding" end
        if math.type(w.completed) ~= "integer" or w.completed < 0 then bad = "completed" end
        if not (w.speed > 0) then bad = "speed" end
        if w.weight ~= w.rank + 10 then bad = "weight " .. tostring(w.weight) end
      end
      return workers[1].rank
    end }
    local weights = {}
    for r = 0, P - 1 do weights[r] = r + 10 end
    local results = farm.run(world, square_tasks(7), square, { policy = spy, weights = weights })
    if me == ROOT then
      assert.is_nil(bad)
      assert.equal(7, picks)            -- one pick per task: none failed, none was retried
      assert.equal(49, results[7].y)
    end
  end)

  it("gives results in completion order on request", function()
    local results = farm.run(world, square_tasks(9), square, { order = "completion" })
    if me == ROOT then
      local seen = {}
      for _, r in ipairs(results) do
        assert.is_nil(seen[r.index])
        seen[r.index] = true
        assert.equal(r.index * r.index, r.value.y)
      end
      assert.equal(9, #results)
    end
  end)

  it("runs a policy loaded from a file outside the tree", function()
    local path = write_policy_file()
    local policy = farm.load(path)
    local results, report = farm.run(world, square_tasks(11), square, { policy = policy })
    os.remove(path)
    if me == ROOT then
      check_squares(results, report, 11)
      assert.equal("highest_idle", report.policy)
    end
  end)

  it("carries tensors as tasks and results", function()
    local tasks = {}
    for i = 1, 6 do tasks[i] = tide.arange(1, i + 1):to("f64") end
    local results = farm.run(world, tasks, function(t) return t * 2 end, { policy = "least_loaded" })
    if me == ROOT then
      for i = 1, 6 do
        assert.equal(i * (i + 1), results[i]:sum())   -- 2 * (1 + ... + i)
        assert.equal("f64", results[i]:dtype())
      end
    end
  end)

  it("retries a task that raises and reports its rank and the task", function()
    local seen = {}   -- per process: task 4 fails the first time each rank runs it
    local function flaky(task, i)
      if i == 4 and not seen[i] then
        seen[i] = true
        error("flaky task " .. task.name)
      end
      return square(task, i)
    end
    local results, report = farm.run(world, square_tasks(8), flaky,
      { retries = #worker_ranks() + 1 })
    if me == ROOT then
      check_squares(results, report, 8)
      assert.is_true(#report.failures >= 1)
      local f = report.failures[1]
      assert.equal(4, f.index)
      assert.equal("t4", f.task.name)
      assert.truthy(f.message:find("flaky task t4", 1, true))
      local is_worker = false
      for _, r in ipairs(worker_ranks()) do is_worker = is_worker or r == f.rank end
      assert.is_true(is_worker)
    end
  end)

  it("raises naming the task, the rank and the message once retries are spent", function()
    local ok, err = pcall(farm.run, world, square_tasks(5), function(task, i)
      if i == 2 then error("always broken") end
      return i
    end, { retries = 1 })
    if me == ROOT then
      assert.is_false(ok)
      assert.truthy(err:find("farm.run: task 2 failed on rank %d+ after 2 attempts: .*always broken"))
    else
      assert.is_true(ok)
    end
    -- the farm released every worker: a collective still lines up
    assert.equal(P, world:allreduce(1))
  end)

  it("names a policy that picks a rank that is not a worker", function()
    local bad = { name = "off_by_one", pick = function() return P + 6 end }
    local ok, err = pcall(farm.run, world, square_tasks(3), square, { policy = bad })
    if me == ROOT then
      assert.is_false(ok)
      assert.truthy(err:find("farm.run: policy 'off_by_one' picked " .. (P + 6)
        .. ", which is not a worker rank (workers: " .. table.concat(worker_ranks(), ", ")
        .. ")", 1, true))
    else
      assert.is_true(ok)
    end
    assert.equal(P, world:allreduce(1))
  end)

  it("rejects unknown policies and options on every rank", function()
    local ok, err = pcall(farm.run, world, {}, square, { policy = "fastest" })
    assert.is_false(ok)
    assert.truthy(err:find("farm.run: unknown policy 'fastest' (expected one of: least_loaded, "
      .. "round_robin, stealing, weighted)", 1, true))
    ok, err = pcall(farm.run, world, {}, square, { polcy = "round_robin" })
    assert.is_false(ok)
    assert.truthy(err:find("farm.run: unknown option 'polcy'", 1, true))
    ok, err = pcall(farm.run, world, {}, square, { policy = { pick = 3 } })
    assert.is_false(ok)
    assert.truthy(err:find("farm.run: expected a policy (a table with a pick method), got table",
      1, true))
    ok, err = pcall(farm.load, "/nonexistent/policy.lua")
    assert.is_false(ok)
    assert.truthy(err:find("farm.load: cannot open /nonexistent/policy.lua", 1, true))
  end)
end)
