-- Training end to end: a short run on synthetic data, the bad inputs a training script can
-- meet (acceptance 4 of issue 7), and examples/train_mnist.lua on 2 ranks for 15 epochs on
-- the real Fashion-MNIST (acceptance 3; about 10 s on 2 quiet cores).
local tide = require "tide"
local nn, optim, data, metrics = tide.nn, tide.optim, tide.data, tide.metrics

local source = os.getenv("TIDE_SOURCE_DIR") or "."
local exe = os.getenv("TIDE_EXE")

-- A process that loaded tide without mpirun is an MPI singleton, and its OMPI_/PMIX_ variables
-- would make a child mpirun join it instead of starting a job: run children without them.
local SCRUB = require("support.proc").clean_env

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

describe("training on synthetic data", function()
  it("learns a 4-class problem with a loader, SGD and the progress bar and log", function()
    tide.manual_seed(0)
    local train = data.synthetic_classification { n = 2000, d = 10, classes = 4, seed = 1,
      separation = 1 }
    local test = data.synthetic_classification { n = 1000, d = 10, classes = 4, seed = 1,
      separation = 1 }
    local model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 4))
    local crit = nn.CrossEntropyLoss()
    local opt = optim.SGD(model, { lr = 0.05, momentum = 0.9 })
    local sched = optim.StepLR(opt, { step_size = 3, gamma = 0.5 })
    local loader = data.DataLoader(train, { batch_size = 50, shuffle = true, seed = 2 })
    local log_path = os.tmpname()
    local log = metrics.open(log_path)
    local sink = io.open("/dev/null", "w")
    local before = metrics.accuracy(model, test)
    for epoch = 1, 5 do
      loader:set_epoch(epoch)
      local bar = tide.progress.bar { total = train.n, mode = "lines", every = 0, out = sink }
      local sum, steps = 0, 0
      for x, y in loader:batches() do
        model:zero_grad()
        local out = model:forward(x)
        local loss = crit:forward(out, y)
        model:backward(x, crit:backward(out, y), { input_grad = false })
        opt:step()
        sum, steps = sum + loss, steps + 1
        bar:update(x:size(1), { loss = loss })
      end
      bar:close()
      log:write { epoch = epoch, loss = sum / steps, lr = opt.lr }
      sched:step()
    end
    log:close()
    sink:close()
    local acc = metrics.accuracy(model, test, { batch_size = 300 })
    assert.is_true(before < 0.5)
    assert.is_true(acc > 0.8, "accuracy " .. acc)
    local records = metrics.read(log_path)
    os.remove(log_path)
    assert.are.equal(5, #records)
    assert.are.equal(0.05, records[1].lr)
    assert.are.equal(0.025, records[4].lr)
    assert.is_true(records[5].loss < records[1].loss)
  end)
end)

describe("bad input", function()
  local model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
  local crit = nn.CrossEntropyLoss()

  it("a label outside the class range", function()
    local out = model:forward(tide.zeros({ 2, 784 }))
    assert.has_error(function() crit:forward(out, tide.tensor({ 3, 11 }, "i64")) end,
      "nn.CrossEntropyLoss: label 11 of row 2 is outside the class range 1..10")
  end)

  it("an input of the wrong width", function()
    assert.has_error(function() model:forward(tide.zeros({ 2, 100 })) end,
      "nn.Linear: expected input of width 784, got 100")
  end)

  it("a missing data set", function()
    assert.has_error(function() data.fashion_mnist { path = "/no/such/dir", split = "test" } end,
      "data.fashion_mnist: the data set is missing (no /no/such/dir/t10k-images-idx3-ubyte.gz); " ..
      "install the Debian package dataset-fashion-mnist, or pass path= to a folder with its IDX .gz files")
  end)

  it("a non-numeric learning rate", function()
    assert.has_error(function() optim.SGD(model, { lr = "0.1" }) end,
      "optim.SGD: lr must be a number >= 0, got string")
    assert.has_error(function() optim.Adam(model, { lr = true }) end,
      "optim.Adam: lr must be a number >= 0, got boolean")
  end)
end)

describe("metrics and progress", function()
  it("writes JSON lines with sorted keys and reads them back", function()
    assert.are.equal('{"a":1,"b":[1,2],"c":"x"}', metrics.encode { c = "x", a = 1, b = { 1, 2 } })
    assert.has_error(function() metrics.open(42) end, "metrics.open: expected a file path, got number")
    assert.has_error(function() metrics.open("/no/such/dir/m.jsonl") end,
      "metrics.open: cannot open /no/such/dir/m.jsonl: /no/such/dir/m.jsonl: No such file or directory")
  end)

  it("counts correct predictions", function()
    local logits = tide.tensor { { 0, 5, 1 }, { 2, 1, 0 }, { 0, 0, 9 } }
    assert.are.equal(2, metrics.correct(logits, tide.tensor({ 2, 1, 1 }, "i64")))
  end)

  it("prints plain lines off a terminal, with rate, means and the elapsed time", function()
    local path = os.tmpname()
    local out = io.open(path, "w")
    local bar = tide.progress.bar { total = 100, label = "epoch 1/2", mode = "lines", every = 0, out = out }
    bar:update(50, { loss = 1.0 })
    bar:update(50, { loss = 0.5 })
    bar:close()
    out:close()
    local lines = {}
    for l in io.lines(path) do lines[#lines + 1] = l end
    os.remove(path)
    assert.are.equal(3, #lines)
    assert.is_truthy(lines[1]:match("^epoch 1/2   50%%  .* samples/s  loss 1%.0000  ETA "))
    assert.is_truthy(lines[3]:match("^epoch 1/2  100%%  .* samples/s  loss 0%.7500  %d+%.%d s$"))
    assert.has_error(function() tide.progress.bar { total = 0 } end,
      "progress.bar: total must be a number > 0, got 0")
    assert.has_error(function() tide.progress.bar { total = 1, mode = "fancy" } end,
      'progress.bar: mode must be "auto", "bar", "lines" or "off", got fancy')
  end)
end)

-- What the recipe reaches depends on the seed (initial weights and shuffles) and, through
-- OpenBLAS's kernels, on the machine, so the bars below are set under the spread of seeds 0-9,
-- not at one seed's numbers. Seeds 0-9 at 2 ranks, test accuracy:
--   after 5 epochs               85.67-87.06% (mean 86.48); 84.3-86.9% on an earlier machine
--   after 15 epochs              86.64-88.31% (mean 87.66); 86.8-88.6% there (6 seeds)
--   mean of epochs 11-15         87.38-87.76% (mean 87.54)
-- One epoch's accuracy moves by about a point from the next epoch's (no learning-rate
-- schedule), so the last epoch alone is a noisy measure; the mean of the last five is tight
-- (0.4 points over ten seeds) and carries the strict bar.
local BAR_AT_5, BAR_AT_15, BAR_LAST_5 = 84.0, 86.0, 87.0

describe("examples/train_mnist.lua on 2 ranks", function()
  local have_data = file_exists(data.FASHION_MNIST_PATH .. "/train-images-idx3-ubyte.gz")
  local script = source .. "/examples/train_mnist.lua"

  -- One 15-epoch run checks every bar: its epoch 5 is exactly a 5-epoch run's.
  it(("reaches %.1f%% after 5 epochs, %.1f%% after 15 and %.1f%% over epochs 11-15 (acceptance 3)")
    :format(BAR_AT_5, BAR_AT_15, BAR_LAST_5), function()
    if not (exe and file_exists(exe) and have_data) then
      pending("needs the tide executable (TIDE_EXE) and dataset-fashion-mnist")
      return
    end
    if os.getenv("TIDE_SANITIZED") then
      -- 15 epochs under ASan outlast the test's 300 s on a shared machine; this run measures
      -- accuracy, and the synthetic training above runs the same code under the sanitizers
      pending("accuracy is measured in the plain build")
      return
    end
    local log = os.tmpname()
    local cmd = SCRUB .. ("%q run -n 2 %q --epochs 15 --seed 1 --quiet --metrics %q 2>&1"):format(
      exe, script, log)
    local p = io.popen(cmd)
    local output = p:read("a")
    local ok = p:close()
    assert(ok, "train_mnist failed:\n" .. output)
    local final = tonumber(output:match("final test accuracy ([%d.]+)%% after 15 epochs"))
    assert(final, "no final accuracy in the output:\n" .. output)
    local records = metrics.read(log)
    os.remove(log)
    assert.are.equal(15, #records)
    local acc, secs, last5 = {}, {}, 0
    for i, r in ipairs(records) do
      assert.are.equal(i, r.epoch)
      assert.are.equal(2, r.ranks)
      assert.is_true(r.seconds > 0)
      -- cpu_s adds up both ranks' CPU seconds: some, and no more than 2 busy cores could give
      assert.is_true(r.cpu_s > 0 and r.cpu_s <= 2 * r.seconds + 0.5,
        ("cpu_s %s for %s s"):format(r.cpu_s, r.seconds))
      acc[i], secs[i] = 100 * r.accuracy, ("%.2f"):format(r.seconds)
      if i > 10 then last5 = last5 + acc[i] / 5 end
    end
    print(("\ntrain_mnist, 2 ranks: %.2f%% after 5 epochs, %.2f%% after 15, %.2f%% over 11-15; "
      .. "seconds per epoch %s"):format(acc[5], acc[15], last5, table.concat(secs, " ")))
    -- the printed final line is the logged 15th epoch
    assert.is_true(math.abs(acc[15] - final) < 0.01)
    -- it learned: epoch 1 (80.6-84.0% over the seeds) is below every later bar
    assert.is_true(acc[1] < last5)
    assert(acc[5] >= BAR_AT_5, ("test accuracy %.2f%% after 5 epochs < %.1f%%:\n%s")
      :format(acc[5], BAR_AT_5, output))
    assert(acc[15] >= BAR_AT_15, ("test accuracy %.2f%% after 15 epochs < %.1f%%:\n%s")
      :format(acc[15], BAR_AT_15, output))
    assert(last5 >= BAR_LAST_5, ("mean test accuracy %.2f%% over epochs 11-15 < %.1f%%:\n%s")
      :format(last5, BAR_LAST_5, output))
  end)
end)

-- Issue 17, acceptance 3, reduced to fit the suite: the CNN variant at 2 ranks on the first
-- 12,800 training images for 1 epoch (100 steps of the global batch of 128), tested on all
-- 10,000. Seeds 1-6 gave 72.1-77.1% (5 epochs on all 60,000 images, the acceptance run, take
-- minutes: examples/train_mnist.lua lists their figures, scripts/bench.sh cnn repeats seed 1).
local CNN_BAR = 70.0

describe("examples/train_mnist.lua --model cnn on 2 ranks", function()
  it(("reaches %.1f%% after 100 steps on 12,800 images"):format(CNN_BAR), function()
    local have_data = file_exists(data.FASHION_MNIST_PATH .. "/train-images-idx3-ubyte.gz")
    if not (exe and file_exists(exe) and have_data) then
      pending("needs the tide executable (TIDE_EXE) and dataset-fashion-mnist")
      return
    end
    local cmd = SCRUB .. ("%q run -n 2 %q --model cnn --samples 12800 --epochs 1 --seed 1 " ..
      "--quiet --metrics '' 2>&1"):format(exe, source .. "/examples/train_mnist.lua")
    local p = io.popen(cmd)
    local output = p:read("a")
    assert(p:close(), "train_mnist --model cnn failed:\n" .. output)
    local acc = tonumber(output:match("final test accuracy ([%d.]+)%% after 1 epochs"))
    assert(acc, "no final accuracy in the output:\n" .. output)
    assert(output:find("nn.Conv2d(32 -> 64, 3x3", 1, true), "not the CNN:\n" .. output)
    assert(acc >= CNN_BAR, ("test accuracy %.2f%% < %.1f%%:\n%s"):format(acc, CNN_BAR, output))
  end)
end)
