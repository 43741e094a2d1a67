-- Acceptance 4 of issue 20 in full: FedAvg over 100 simulated clients of Fashion-MNIST
-- (Dirichlet alpha 0.5 label splits), 10% of the clients a round, 5 local epochs of SGD
-- (batch 32, lr 0.05) of a 784-200-10 MLP, on 2 ranks: the first round at 80% test accuracy
-- and the accuracy after 50 (goal: 80% within 50 rounds); then FedAvg and FedProx (mu 0.01)
-- on alpha 0.1 (goal: FedProx no worse), and the seconds a round takes (under whatever load
-- the machine has). Never asserted.
--
--   scripts/bench.sh federated       (runs examples of this file under `tide run -n 2`)
local tide = require "tide"
local bench = require "support.bench"

if tide.world.size == 1 and not os.getenv("TIDE_FEDERATED_CHILD") then
  -- started by scripts/bench.sh in one process: run this file on 2 ranks
  local exe = (os.getenv("TIDE_BUILD_DIR") or "build") .. "/tide"
  local proc = require "support.proc"
  print("CPU: " .. bench.cpu_name())
  local out = proc.run(("TIDE_FEDERATED_CHILD=1 %s run -n 2 %s"):format(proc.quote(exe),
    proc.quote(arg and arg[0] or "tests/bench/federated.lua")))
  io.write(out)
  return
end

local nn, data, federated = tide.nn, tide.data, tide.federated
local train = data.fashion_mnist { split = "train" }
local test = data.fashion_mnist { split = "test" }

local function run(alpha, mu)
  local split = federated.dirichlet { labels = train.y, clients = 100, alpha = alpha, seed = 1 }
  tide.manual_seed(1, { same_on_all_ranks = true })
  local model = nn.Sequential { nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 10) }
  local first, times, last = nil, {}, nil
  local t0 = tide.now()
  local go = mu and federated.fedprox or federated.fedavg
  go { model = model, data = train, split = split, rounds = 50, fraction = 0.1,
    local_epochs = 5, batch_size = 32, lr = 0.05, mu = mu, test = test, seed = 1,
    on_round = function(e)
      times[#times + 1] = tide.now() - t0
      t0 = tide.now()
      if not first and e.accuracy >= 0.8 then first = e.round end
      last = e.accuracy
    end }
  return first, last, bench.median(times)
end

local function report(name, first, last, sec)
  if tide.world.rank == 0 then
    print(("  %-28s 80%% at round %s, %.2f%% after 50 rounds, %.2f s a round (median)"):format(
      name, first and tostring(first) or "never", 100 * last, sec))
  end
end

if tide.world.rank == 0 then
  print("FedAvg, 100 clients, 10% a round, 5 local epochs, 2 ranks (acceptance 4)")
end
report("FedAvg alpha 0.5", run(0.5))
report("FedAvg alpha 0.1", run(0.1))
report("FedProx alpha 0.1, mu 0.01", run(0.1, 0.01))
