-- A locality-aware policy: keys stay on the rank that holds them (nothing moves) unless that
-- rank holds more than `slack` times its fair share; only the surplus moves, to the ranks with
-- room, in proportion to their room. Given a rank count instead of a communicator, the keys
-- are taken as held in the block layout.   placement.load("locality.lua", {slack = 1.1})
local tide = require "tide"
local placement = require "tide.placement"

return function(opts)
  local slack = opts.slack or 1.1
  local policy = placement.class("locality", {})

  function policy:assign(keys, comm)
    local P, c = placement.world(comm, "locality")
    local held = c and placement.counts(#keys, c) or placement.block_counts(#keys, P)
    local total, surplus, room = 0, 0, {}
    for _, n in ipairs(held) do total = total + n end
    local cap = math.ceil(slack * total / P)
    for r, n in ipairs(held) do
      surplus, room[r] = surplus + math.max(0, n - cap), math.max(0, cap - n)
    end
    local extra, targets = placement.apportion(surplus, room), {}
    for r, n in ipairs(held) do targets[r] = math.min(n, cap) + (surplus > 0 and extra[r] or 0) end
    local out, at = tide.empty({ #keys }, "i32"), 1
    for r = c and c.rank or 0, c and c.rank or P - 1 do   -- this rank's keys, or every block
      local dest = out:narrow(1, at, held[r + 1]):fill_(r)
      for _, m in ipairs(placement.moves(held, targets, r)) do
        dest:narrow(1, m[2], m[3]):fill_(m[1])
      end
      at = at + held[r + 1]
    end
    return out
  end

  return setmetatable({}, policy)
end
