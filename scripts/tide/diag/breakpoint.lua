-- tide.breakpoint([rank]) (module tide.diag.breakpoint): every rank calls it at the same point
-- of the script (it is collective, like the script's collectives); the job stops there and rank
-- 0 reads commands:
--   <statement>          runs on `rank` (default 0) with the locals and upvalues of the
--                        function that called tide.breakpoint readable and assignable (`=x`
--                        and bare expressions print their values)
--   :on RANKS <stmt>     runs on those ranks ("1", "0,2", "1-3"); each prints as [R] values
--   :where               the stopped function's traceback on `rank`
--   :continue (:c, EOF)  resumes every rank
-- Rank 0 reads stdin (under mpirun, only rank 0 has it; under the REPL of `tide run`, the
-- launcher's terminal) and shows every result, so the output is in rank order. Waiting for the next line never trips the watchdog.
local tide = require "tide"

local bcast_line = tide._internal.diag.bcast_line
local M = {}

-- The locals and upvalues of the function at `level` (of the caller of this function).
local function snapshot(level)
  level = level + 1
  local frame = { locals = {}, index = {}, upvalues = {}, upindex = {} }
  for i = 1, math.huge do
    local name, v = debug.getlocal(level, i)
    if not name then break end
    if not name:find("^%(") then   -- "(temporary)", "(for state)"
      frame.locals[name] = v
      frame.index[name] = i        -- the innermost of same-named locals wins
    end
  end
  local info = debug.getinfo(level, "fSl")
  frame.where = ("%s:%d"):format(info.short_src, info.currentline)
  local fn = info.func
  for i = 1, math.huge do
    local name, v = debug.getupvalue(fn, i)
    if not name then break end
    if name ~= "_ENV" then
      frame.upvalues[name] = v
      frame.upindex[name] = i
    else
      frame.env = v
    end
  end
  frame.fn = fn
  frame.globals = frame.env or _G
  frame.dirty = {}
  return frame
end

-- An environment reading the frame's locals, then upvalues, then its globals.
local function env_of(frame)
  return setmetatable({}, {
    __index = function(_, k)
      if frame.index[k] then return frame.locals[k] end
      if frame.upindex[k] then return frame.upvalues[k] end
      return frame.globals[k]
    end,
    __newindex = function(_, k, v)
      if frame.index[k] then
        frame.locals[k] = v
        frame.dirty[k] = true
      elseif frame.upindex[k] then
        frame.upvalues[k] = v
        debug.setupvalue(frame.fn, frame.upindex[k], v)
      else
        frame.globals[k] = v
      end
    end,
  })
end

-- Runs stmt in the frame: true and its results, or false and the message.
local function run(frame, stmt)
  local env = env_of(frame)
  local code = stmt:gsub("^=", "return ")
  local chunk = load("return " .. code, "=breakpoint", "t", env)
  if not chunk then
    local err
    chunk, err = load(code, "=breakpoint", "t", env)
    if not chunk then return false, err end
  end
  return pcall(chunk)
end

local function show(vals, from, to)
  local parts = {}
  for i = from, to do parts[#parts + 1] = tostring(vals[i]) end
  return table.concat(parts, "\t")
end

-- Rank 0 prints one rank's reply to a statement: {ok, values...}.
local function print_reply(prefix, reply)
  if not reply then return end
  if reply[1] then
    if reply.n > 1 then print(prefix .. show(reply, 2, reply.n)) end
  else
    print(prefix .. "error: " .. tostring(reply[2]))
  end
end

local function on(spec, frame, stmt)
  return tide.on(spec, function() return table.pack(run(frame, stmt)) end)
end

-- Called through the module's __call only: the levels below count on it.
local function breakpoint(rank)
  local world = tide.world
  rank = rank or 0
  if math.type(rank) ~= "integer" or rank < 0 or rank >= world.size then
    error(("tide.breakpoint: expected a rank from 0 to %d, got %s"):format(world.size - 1,
      tostring(rank)), 3)
  end
  local frame = snapshot(3)   -- the caller of tide.breakpoint (1: here, 2: __call)
  frame.traceback = debug.traceback("stopped at " .. frame.where, 3)
  if world.rank == 0 then
    print(("[breakpoint] rank %d stopped at %s (:on RANKS stmt, :where, :continue)"):format(
      rank, frame.where))
  end
  while true do
    local line
    if world.rank == 0 then
      local prompt = ("(breakpoint %s) "):format(frame.where)
      local from_launcher = tide._internal.launcher_read   -- under tide run's REPL
      if from_launcher then
        line = from_launcher(prompt)
      else
        io.stdout:write(prompt)
        io.stdout:flush()
        line = io.read("L")
      end
    end
    line = bcast_line(line)
    if not line then break end
    line = line:match("^%s*(.-)%s*$")
    if line == ":continue" or line == ":c" then break end
    if line == ":where" then
      local reply = tide.on(rank, function() return table.pack(true, frame.traceback) end)
      if world.rank == 0 then print_reply("", reply) end
    elseif line:find("^:on%s") then
      local spec, stmt = line:match("^:on%s+(%S+)%s+(.+)$")
      if not spec then
        if world.rank == 0 then
          print("error: expected :on RANKS statement, e.g. :on 1 return i")
        end
      else
        local ok, results = pcall(on, spec, frame, stmt)
        if world.rank == 0 then
          if not ok then
            print("error: " .. tostring(results):gsub("^[^:]*:%d+: ", ""))
          elseif results then
            for _, r in ipairs(results.ranks) do
              print_reply(("[%d] "):format(r), results[r][1])
            end
          end
        end
      end
    elseif line ~= "" then
      local reply = on(rank, frame, line)
      if world.rank == 0 then print_reply("", reply) end
    end
    -- locals assigned by the statements go back into the stopped function
    for name in pairs(frame.dirty) do
      debug.setlocal(3, frame.index[name], frame.locals[name])   -- 1: here, 2: __call
    end
    frame.dirty = {}
  end
  if world.rank == 0 then print("[breakpoint] continuing") end
end

-- not a tail call: the stopped function stays two levels up
return setmetatable(M, { __call = function(_, rank) breakpoint(rank) end })
