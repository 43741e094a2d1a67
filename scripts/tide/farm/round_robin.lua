-- farm policy round_robin: worker after worker, whatever each is doing (the seeds' round
-- robin). Cheap and fair in counts, blind to task costs and worker speeds.
return function()
  local next_i = 0
  return {
    name = "round_robin",
    pick = function(_, workers)
      next_i = next_i % #workers + 1
      return workers[next_i].rank
    end,
  }
end
