-- tide.progress: a progress bar for training loops, shown by rank 0 only.
--
--   local bar = progress.bar{total = 60000, label = "epoch 1/5"}
--   for x, y in loader:batches() do
--     ...
--     bar:update(global_batch_size, {loss = loss})
--   end
--   bar:close()
--
-- On a terminal the bar is redrawn in place (carriage return) with samples/s, the running
-- mean of every number given to update (loss, ...) and the time left. When stdout is not a
-- terminal (a log file, a pipe, mpirun's forwarding) it prints a plain line every `every`
-- seconds instead, and one at close. TIDE_PROGRESS=bar|lines|off in the environment
-- overrides the choice; so does the mode option.
local tide = require "tide"

local progress = {}

local clock = tide.now

-- Is the user's stdout a terminal? TIDE_TTY=1/0 says so when set (a launcher that knows sets
-- it). Under mpirun a rank's stdout is mpirun's pipe or pseudo-terminal, not the user's
-- terminal, so without TIDE_TTY the answer there is no. Alone, the shell is asked once (it
-- inherits our stdout).
local args = require "tide.args"

local tty
function progress.isatty(...)
  args.at_most("progress.isatty", 0, ...)
  if tty == nil then
    local env = os.getenv("TIDE_TTY")
    if env then
      tty = env == "1"
    elseif os.getenv("OMPI_COMM_WORLD_SIZE") or os.getenv("PMIX_RANK") then
      tty = false
    else
      local ok = os.execute("[ -t 1 ]")
      tty = ok == true or ok == 0
    end
  end
  return tty
end

local check_opts = args.check_opts

local function fmt_time(s)
  if s ~= s or s == math.huge then return "?" end
  if s < 60 then return ("%.1f s"):format(s) end
  if s < 3600 then return ("%d:%02d"):format(s // 60, math.floor(s % 60)) end
  return ("%d:%02d:%02d"):format(s // 3600, (s % 3600) // 60, math.floor(s % 60))
end

local function fmt_rate(r)
  if r >= 1e6 then return ("%.2fM"):format(r / 1e6) end
  if r >= 1e4 then return ("%.1fk"):format(r / 1e3) end
  return ("%.0f"):format(r)
end

local Bar = {}
Bar.__index = Bar

-- bar{total, label = "", comm = tide.world, mode = "auto" | "bar" | "lines" | "off",
--     every = 10, width = 30, out = io.stdout}
-- total counts samples (or any unit update() is given); comm decides who prints (rank 0).
function progress.bar(opts, ...)
  args.at_most("progress.bar", 1, ...)
  local where = "progress.bar"
  opts = check_opts(opts, { total = true, label = true, comm = true, mode = true, every = true,
    width = true, out = true }, where)
  local total = args.number(opts.total, "total", where, nil, "> 0")
  local comm = opts.comm or tide.world
  local rank = comm and comm.rank or 0
  local mode = args.one_of(os.getenv("TIDE_PROGRESS") or opts.mode, "mode", where,
    { "auto", "bar", "lines", "off" }, "auto")
  if mode == "auto" then mode = progress.isatty() and "bar" or "lines" end
  if rank ~= 0 then mode = "off" end
  local now = clock()
  return setmetatable({ total = total, label = opts.label or "", mode = mode,
    every = args.number(opts.every, "every", where, 10),
    width = args.integer(opts.width, "width", where, 1, 30), out = opts.out or io.stdout,
    done = 0, start = now, last_print = now, sums = {}, counts = {}, keys = {} }, Bar)
end

-- Records n more units done, and values to average (a table of numbers, e.g. {loss = l}).
function Bar:update(n, values)
  self.done = self.done + (n or 1)
  if values then
    for k, v in pairs(values) do
      if self.sums[k] == nil then
        self.sums[k], self.counts[k] = 0, 0
        self.keys[#self.keys + 1] = k
        table.sort(self.keys)
      end
      self.sums[k], self.counts[k] = self.sums[k] + v, self.counts[k] + 1
    end
  end
  if self.mode == "off" then return end
  local now = clock()
  if self.mode == "bar" then
    if now - self.last_print >= 0.1 then
      self.last_print = now
      self.out:write("\r", self:line(now), "\27[K")
      self.out:flush()
    end
  elseif now - self.last_print >= self.every then
    self.last_print = now
    self.out:write(self:line(now), "\n")
    self.out:flush()
  end
end

-- The mean of the values given under key so far.
function Bar:mean(key)
  local c = self.counts[key]
  return c and c > 0 and self.sums[key] / c or nil
end

function Bar:elapsed() return clock() - self.start end

function Bar:line(now)
  now = now or clock()
  local el = now - self.start
  local frac = math.min(1, self.done / self.total)
  local rate = el > 0 and self.done / el or 0
  local parts = {}
  if self.label ~= "" then parts[#parts + 1] = self.label end
  if self.mode == "bar" then
    local fill = math.floor(frac * self.width + 0.5)
    parts[#parts + 1] = "[" .. ("#"):rep(fill) .. ("."):rep(self.width - fill) .. "]"
  end
  parts[#parts + 1] = ("%3d%%"):format(math.floor(frac * 100))
  parts[#parts + 1] = ("%s samples/s"):format(fmt_rate(rate))
  for _, k in ipairs(self.keys) do
    parts[#parts + 1] = ("%s %.4f"):format(k, self:mean(k))
  end
  if frac < 1 then
    parts[#parts + 1] = "ETA " .. fmt_time(rate > 0 and (self.total - self.done) / rate or math.huge)
  else
    parts[#parts + 1] = fmt_time(el)
  end
  return table.concat(parts, "  ")
end

-- Prints the final state (ending the bar's line) and returns the elapsed seconds.
function Bar:close()
  local now = clock()
  if self.mode == "bar" then
    self.out:write("\r", self:line(now), "\27[K\n")
  elseif self.mode == "lines" then
    self.out:write(self:line(now), "\n")
  end
  if self.mode ~= "off" then self.out:flush() end
  self.mode = "off"
  return now - self.start
end

return progress
