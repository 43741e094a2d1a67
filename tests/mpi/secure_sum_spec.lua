-- federated.secure_sum under mpirun: 12 clients spread over the ranks, rank 0 the server;
-- every rank gets the survivors' sum (checked against a plain sum each rank computes).
local tide = require "tide"
local federated = tide.federated

local world = tide.world

describe("federated.secure_sum over the ranks", function()
  local function value(id)
    return tide.randn({ 7 }, { seed = id, dtype = "f64", same_on_all_ranks = true })
  end

  for _, drop in ipairs { {}, { 4, 9, 10, 12 } } do
    it(("sums with %d of 12 clients dropping"):format(#drop), function()
      local mine, want, dropped = {}, tide.zeros({ 7 }, "f64"), {}
      for _, id in ipairs(drop) do dropped[id] = true end
      for id = 1, 12 do
        if (id - 1) % world.size == world.rank then mine[id] = value(id) end
        if not dropped[id] then want:add_(value(id)) end
      end
      local sum = federated.secure_sum(mine, { clients = 12, drop = drop })
      assert.is_true((sum - want):abs():max() <= 12 / 2 ^ 17)
    end)
  end

  it("takes one tensor a rank as client rank + 1", function()
    local sum = federated.secure_sum(tide.full({ 3 }, world.rank + 1, "f64"))
    local n = world.size
    assert.are.same({ n * (n + 1) / 2, n * (n + 1) / 2, n * (n + 1) / 2 }, sum:totable())
  end)
end)
