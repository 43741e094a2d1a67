-- tide.placement.adaptive: shares in proportion to each rank's measured throughput, and a
-- rebalance that moves only each rank's surplus.
local tide = require "tide"
local args = require "tide.args"
local U = require "tide.placement.util"
local window_of = args.integer

local M = {}

local Adaptive = U.class("adaptive", {})
-- the learned weights: the measurements of the window, and the last rebalance's targets
Adaptive.state_fields = { window = "integer", history = "pairs", targets = "integers?" }

--- Records one step of this rank: rows processed in seconds.
function Adaptive:observe(rows, seconds)
  local function ok(v) return type(v) == "number" and v >= 0 and v < math.huge end  -- not NaN
  if not ok(rows) or not ok(seconds) then
    error(string.format("adaptive:observe: expected rows >= 0 and seconds >= 0, got %s, %s",
      tostring(rows), tostring(seconds)), 2)
  end
  local h = self.history
  h[#h + 1] = { rows, seconds }
  if #h > self.window then
    table.remove(h, 1)
  end
end

--- This rank's measured rows per second over the window (nil before any observation).
function Adaptive:throughput()
  local rows, secs = 0, 0
  for _, o in ipairs(self.history) do
    rows, secs = rows + o[1], secs + o[2]
  end
  if secs <= 0 then
    return nil
  end
  return rows / secs
end

--- Every rank's throughput (a list); ranks that measured nothing count as the mean of the
--- others (all equal when nobody measured).
function Adaptive:shares(comm)
  local P, c = U.world(comm, "adaptive:shares")
  local mine = self:throughput() or -1
  local all = {}
  if c then
    all = c:allgather(tide.tensor({ mine }, "f64")):totable()
  else
    for r = 1, P do
      all[r] = mine
    end
  end
  local sum, known = 0, 0
  for _, v in ipairs(all) do
    if v > 0 then
      sum, known = sum + v, known + 1
    end
  end
  for r = 1, P do
    if all[r] <= 0 then
      all[r] = known > 0 and sum / known or 1
    end
  end
  return all
end

function Adaptive:assign(keys, comm)
  U.check_keys(keys, "placement.adaptive")
  local _, c = U.world(comm, "placement.adaptive")
  local pos, total = U.positions(#keys, c)
  return U.split(pos, U.apportion(total, self:shares(comm)))
end

--- Moves rows of dt (a dtensor, or a table of aligned dtensors and tensors as
--- dtensor.redistribute takes) from slow to fast ranks so that each holds rows in proportion
--- to its throughput, moving only each rank's surplus. Collective. Returns the new dtensor
--- (or table).
function Adaptive:rebalance(dt)
  local dtensor = require "tide.dtensor"
  local first = dt
  if not dtensor.is_dtensor(dt) then
    first = dtensor.first(dt, "adaptive:rebalance")
  end
  local comm = first:comm()
  local counts = first:row_counts()
  local total = 0
  for _, n in ipairs(counts) do
    total = total + n
  end
  local targets = U.apportion(total, self:shares(comm))
  local me = comm.rank
  local dest = tide.full({ counts[me + 1] }, me, "i32")
  for _, m in ipairs(U.moves(counts, targets, me)) do
    dest:narrow(1, m[2], m[3]):fill_(m[1])
  end
  self.targets = targets
  if dtensor.is_dtensor(dt) then
    return dt:redistribute(dest)
  end
  return dtensor.redistribute(dt, dest)
end

function M.adaptive(opts, ...)
  args.at_most("placement.adaptive", 1, ...)
  opts = U.check_opts(opts, U.set("window"), "placement.adaptive")
  local window = window_of(opts.window, "window", "placement.adaptive", 1, 4)
  return setmetatable({ window = window, history = {} }, Adaptive)
end

return M
