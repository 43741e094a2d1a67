-- tide.federated under mpirun: clients spread over the ranks give the rounds one process
-- gives with every client at home (each rank computes that reference itself).
local tide = require "tide"
local nn, data, federated = tide.nn, tide.data, tide.federated

describe("federated.fedavg over the ranks", function()
  it("ends where one process ends, with dropouts and FedProx", function()
    local set = data.synthetic_classification { n = 200, d = 5, classes = 3, seed = 8,
      dtype = "f64" }
    local split = federated.dirichlet { labels = set.y, clients = 9, alpha = 0.5, seed = 1 }
    local function run(comm)
      tide.manual_seed(4, { same_on_all_ranks = true })
      local model = nn.Sequential { nn.Linear(5, 6, { dtype = "f64" }), nn.ReLU(),
        nn.Linear(6, 3, { dtype = "f64" }) }
      local hist = federated.fedprox { model = model, data = set, split = split, rounds = 4,
        fraction = 0.5, dropout = 0.2, local_epochs = 2, batch_size = 8, mu = 0.1, seed = 2,
        comm = comm }
      return model, hist
    end
    local model, hist = run(tide.world)
    local ref, ref_hist = run({ rank = 0, size = 1 })
    local ps, rs = model:parameters(), ref:parameters()
    for i = 1, #ps do assert.is_true((ps[i] - rs[i]):abs():max() < 1e-12) end
    for r = 1, 4 do
      assert.are.same(ref_hist[r].clients, hist[r].clients)
      assert.are.equal(ref_hist[r].samples, hist[r].samples)
    end
  end)
end)
