-- tide.metrics: a JSON-lines log of a training run (one JSON object per line, written with
-- lua-cjson), and the usual classification figures.
--
--   local log = metrics.open("metrics.jsonl")           -- rank 0 writes, the others do not
--   log:write{epoch = 1, loss = 0.59, accuracy = 0.84, seconds = 0.41,
--             compute_s = ..., comm_s = ...}
--   log:close()
--
-- Every line is a complete JSON object, flushed as it is written, so a crashed run leaves a
-- readable log; keys are written in sorted order.
local cjson = require "cjson"
local tide = require "tide"

local metrics = {}

local args = require "tide.args"
local check_opts = args.check_opts

-- One JSON object with its keys in sorted order (cjson's own order follows the hash table).
local function encode_sorted(record)
  local keys = {}
  for k in pairs(record) do
    if type(k) ~= "string" then
      error("metrics: record keys must be strings, got " .. type(k), 3)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    parts[i] = cjson.encode(k) .. ":" .. cjson.encode(record[k])
  end
  return "{" .. table.concat(parts, ",") .. "}"
end
metrics.encode = encode_sorted

local Log = {}
Log.__index = Log

-- open(path, {comm = tide.world, rank = 0, append = false}): a log written by one rank
-- (rank, 0-based; the others' writes do nothing). The file is truncated unless append.
function metrics.open(path, opts, ...)
  args.at_most("metrics.open", 2, ...)
  local where = "metrics.open"
  if type(path) ~= "string" then
    error(where .. ": expected a file path, got " .. type(path), 2)
  end
  opts = check_opts(opts, { comm = true, rank = true, append = true }, where)
  local comm = opts.comm or tide.world
  local me = comm and comm.rank or 0
  local writer = args.integer(opts.rank, "rank", where, 0, 0)
  local self = setmetatable({ path = path }, Log)
  if me == writer then
    local fh, err = io.open(path, opts.append and "a" or "w")
    if not fh then error(where .. ": cannot open " .. path .. ": " .. tostring(err), 2) end
    self.fh = fh
  end
  return self
end

-- Appends one record (a table of strings, numbers, booleans, nested tables) as a line.
function Log:write(record)
  if type(record) ~= "table" then
    error("metrics.write: expected a table, got " .. type(record), 2)
  end
  if not self.fh then return self end
  self.fh:write(encode_sorted(record), "\n")
  self.fh:flush()
  return self
end

function Log:close()
  if self.fh then self.fh:close() end
  self.fh = nil
end

Log.__close = Log.close
Log.__gc = Log.close

-- Reads a JSON-lines file back into a list of tables.
function metrics.read(path, ...)
  args.at_most("metrics.read", 1, ...)
  local fh, err = io.open(path, "r")
  if not fh then error("metrics.read: cannot open " .. path .. ": " .. tostring(err), 2) end
  local out = {}
  for line in fh:lines() do
    if line:match("%S") then out[#out + 1] = cjson.decode(line) end
  end
  fh:close()
  return out
end

-- ------------------------------------------------------------------ figures

-- The number of rows of logits (batch x classes) whose largest entry is at the label (1-based
-- i32/i64 labels): a Lua integer.
function metrics.correct(logits, labels, ...)
  args.at_most("metrics.correct", 2, ...)
  local pred = logits:argmax(2)
  local hits = pred:eq(labels):sum()
  if tide.is_tensor(hits) then hits = hits:item() end
  return math.tointeger(hits) or hits
end

-- Accuracy of a model over a data set {x, y}, evaluated in batches (no gradient work); with
-- comm, each rank takes a contiguous share of the rows and the counts are summed, so every
-- rank gets the accuracy of the whole set.
function metrics.accuracy(model, dataset, opts, ...)
  args.at_most("metrics.accuracy", 3, ...)
  opts = check_opts(opts, { batch_size = true, comm = true }, "metrics.accuracy")
  local bs = args.integer(opts.batch_size, "batch_size", "metrics.accuracy", 1, 1000)
  local comm = opts.comm
  local n = dataset.x:size(1)
  local lo, hi = 1, n
  if comm and comm.size > 1 then
    lo = comm.rank * n // comm.size + 1
    hi = (comm.rank + 1) * n // comm.size
  end
  local was_training = model.training
  model:evaluate()
  local correct = 0
  local start = lo
  while start <= hi do
    local len = math.min(bs, hi - start + 1)
    local out = model:forward(dataset.x:narrow(1, start, len))
    correct = correct + metrics.correct(out, dataset.y:narrow(1, start, len))
    start = start + len
  end
  if was_training ~= false then model:train() end
  if comm and comm.size > 1 then correct = comm:allreduce(correct, "sum") end
  return correct / n
end

-- Seconds of compute and of communication that tide.trace recorded on this rank since it
-- started, as {compute_s =, comm_s =}; zeros when tracing is off. Collective over the
-- world while tracing (every rank must call it).
function metrics.trace_seconds(...)
  args.at_most("metrics.trace_seconds", 0, ...)
  local tr = tide.trace
  if not (tr and tr.enabled and tr.enabled()) then return { compute_s = 0, comm_s = 0 } end
  local mine = tr.summary()[(tide.world and tide.world.rank or 0) + 1] or {}
  return { compute_s = mine.compute or 0, comm_s = mine.comm or 0 }
end

return metrics
