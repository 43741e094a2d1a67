-- farm policy least_loaded: the worker with the fewest outstanding tasks (the seeds' "least
-- connections"); ties go to the one measured fastest, then to the lowest rank.
return function()
  return {
    name = "least_loaded",
    pick = function(_, workers)
      local best
      for _, w in ipairs(workers) do
        if not best or w.outstanding < best.outstanding
            or (w.outstanding == best.outstanding and w.speed > best.speed) then
          best = w
        end
      end
      return best.rank
    end,
  }
end
