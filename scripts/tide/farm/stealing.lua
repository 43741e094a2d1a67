-- farm policy stealing: tasks are dealt round robin into per-worker queues up front, as a
-- locality-first scheduler would; a worker whose queue runs dry takes the newest task from
-- the longest queue (steal = true tells the farm to allow it).
return function()
  local next_i = 0
  return {
    name = "stealing",
    steal = true,
    pick = function(_, workers)
      next_i = next_i % #workers + 1
      return workers[next_i].rank
    end,
  }
end
