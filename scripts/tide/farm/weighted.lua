-- farm policy weighted: smooth weighted round robin (as nginx does it) over each worker's
-- declared weight (opts.weights), or its measured speed when no weight was declared: a worker
-- of weight 2 gets two tasks for every one a worker of weight 1 gets, interleaved. Each pick
-- adds every worker's weight to its credit and charges the total to the one picked.
return function()
  local credit = {}
  return {
    name = "weighted",
    pick = function(_, workers)
      local total, best = 0, nil
      for _, w in ipairs(workers) do
        local wt = w.weight or w.speed
        credit[w.rank] = (credit[w.rank] or 0) + wt
        total = total + wt
        if not best or credit[w.rank] > credit[best.rank] then best = w end
      end
      credit[best.rank] = credit[best.rank] - total
      return best.rank
    end,
  }
end
