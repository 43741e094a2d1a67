-- farm.lua: a skewed workload under each scheduling policy of tide.farm.
--   tide run -n 4 examples/farm.lua        (rank 0 schedules, ranks 1..3 work)
--   flags: --tasks 240  --unit 0.002 (seconds per unit of cost)  --max_cost 40  --exponent 1.1
--          --seed 1
--
-- Task costs follow a Zipf law (most tasks cost 1 unit, a few cost up to max_cost units), and
-- the last worker is slowed 2x (it takes twice as long for the same task). A task sleeps for
-- its cost, so the example measures scheduling, not a shared CPU. round_robin deals tasks in
-- turn and waits for the slow worker's share; least_loaded gives each task to the worker with
-- the fewest outstanding, so the slow worker simply takes fewer; weighted deals 2:1 by the
-- weights declared below; stealing deals round robin into queues, then idle workers take
-- queued tasks from the busiest. Printed per policy: the makespan (seconds from the first task
-- sent to the last result) and each worker's load (tasks, busy seconds).
local tide = require "tide"
local farm = require "tide.farm"
local placement = require "tide.placement"

local args = { tasks = 240, unit = 0.002, max_cost = 40, exponent = 1.1, seed = 1 }
local argv = arg or { ... }
for i = 1, #argv, 2 do
  local key = argv[i]:match("^%-%-(.+)$")
  if not key or args[key] == nil or tonumber(argv[i + 1]) == nil then
    error("usage: farm.lua [--tasks N] [--unit S] [--max_cost K] [--exponent E] [--seed S]")
  end
  args[key] = math.tointeger(tonumber(argv[i + 1])) or tonumber(argv[i + 1])
end

local world = tide.world
local P, me = world.size, world.rank
local slow = P - 1                              -- the slowed worker (rank 0 alone: itself)

-- the same tasks on every rank: {cost = units}
local costs = placement.zipf(args.tasks, { exponent = args.exponent, domain = args.max_cost,
  seed = args.seed }):totable()
local tasks, total = {}, 0
for i, c in ipairs(costs) do
  tasks[i] = { cost = c }
  total = total + c
end

local function run_task(task)
  local seconds = task.cost * args.unit * (me == slow and 2 or 1)
  tide.io.sleep(seconds)
  return task.cost
end

local weights = {}
for r = 0, P - 1 do weights[r] = r == slow and 1 or 2 end

if me == 0 then
  print(("farm: %d tasks, %d units of work (Zipf %.2g, max %d), %d worker(s), rank %d slowed 2x")
    :format(args.tasks, total, args.exponent, args.max_cost, P > 1 and P - 1 or 1, slow))
end
for _, policy in ipairs { "round_robin", "least_loaded", "weighted", "stealing" } do
  world:barrier()
  local results, report = farm.run(world, tasks, run_task, { policy = policy, weights = weights })
  if me == 0 then
    local sum = 0
    for i = 1, #tasks do sum = sum + results[i] end
    assert(sum == total, "a task's result is missing or doubled")
    local loads = {}
    for _, w in ipairs(report.workers) do
      loads[#loads + 1] = ("r%d %d/%.2fs"):format(w.rank, w.tasks, w.busy)
    end
    print(("%-13s makespan %.3f s   load (tasks/busy): %s"):format(policy, report.makespan,
      table.concat(loads, "  ")))
  end
end
