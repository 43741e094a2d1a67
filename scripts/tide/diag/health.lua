-- tide.health (module tide.diag.health): heartbeats between the ranks (core/comm/heartbeat.h).
-- A helper thread per rank sends one every `interval` seconds; a rank silent for `timeout`
-- seconds (SIGSTOP, a frozen node) is named on every other rank's stderr, the ranks that can
-- answer dump (tide.dump's files, see tide.doctor) and the job ends with a non-zero code.
-- TIDE_HEARTBEAT=S starts them when tide loads, with timeout S and interval S / 4.
--
--   tide.health.start{interval = 0.5, timeout = 2}   collective: every rank calls it
--   tide.health.stop()                                this rank stops (saying goodbye)
--   tide.health.ages() -> list                        seconds since each rank was heard from
--                                                     (entry r + 1 is rank r; -1: stopped)
local tide = require "tide"

local core = tide._internal.diag
local M = {}

local OPTIONS = { interval = true, timeout = true }

function M.start(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("health.start: expected an options table, got " .. type(opts), 2)
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      error("health.start: unknown option '" .. tostring(k) .. "' (expected interval, timeout)", 2)
    end
  end
  local timeout = opts.timeout or 10
  local interval = opts.interval or timeout / 4
  if type(timeout) ~= "number" or type(interval) ~= "number" then
    error("health.start: expected numbers of seconds for interval and timeout, got "
      .. type(interval) .. " and " .. type(timeout), 2)
  end
  core.health_start(interval, timeout)
end

M.stop = core.health_stop
M.ages = core.health_ages

return M
