-- A job that checkpoints every step into node-local directories with partner copies, for
-- hosts_spec's lost-host case: rows of a dtensor to which step s adds s, so that after step s
-- row i (0-based) holds 3 i + j + s (s + 1) / 2 in column j. The first attempt goes on until it
-- is ended (rank 0 touches `mark` once step 3 is saved); a relaunched one (TIDE_RESTART) loads
-- the newest checkpoint, does 3 steps more, and says how far every element is from that closed
-- form.
--   tide run ... lose_host.lua SHARED_DIR LOCAL_DIR MARK
local tide = require "tide"
local ck, world = tide.checkpoint, tide.world
local dir, ldir, mark = arg[1], arg[2], arg[3]
local restarted = (os.getenv("TIDE_RESTART") or "0") ~= "0"
-- partner copies need a second host: "auto" saves without them on the host left
local host = io.open("/proc/sys/kernel/hostname"):read("l")
local opts = { local_dir = ldir, partner = "auto", every = 1000000, keep = 2 }

-- rows first .. first + n - 1 of the closed form after step s
local function expected(first, n, s)
  return tide.arange(3 * first, 3 * (first + n), "f64"):view(n, 3):add(s * (s + 1) / 2)
end

local st, at = ck.load(dir, { local_dir = ldir })
if not st then
  local rows = tide.dtensor.zeros({ 40, 3 }, { dtype = "f64" })
  rows.shard:copy_(expected(rows:row_offset(), rows.shard:shape()[1], 0))
  st = { rows = rows, step = 0 }
end
local last = restarted and (at or 0) + 3 or math.maxinteger
while ck.step() < last do
  local s = ck.tick()
  st.rows.shard:add_(s)
  st.step = s
  ck.save(dir, st, opts)
  if s == 3 and world.rank == 0 and mark ~= "" then io.open(mark, "w"):close() end
  tide.io.sleep(0.05)
end
local shard = st.rows.shard
local err = (shard - expected(st.rows:row_offset(), shard:shape()[1], st.step)):abs():max()
err = math.max(table.unpack(world:allgather_obj(err)))
if world.rank == 0 then
  print(("step %d on %d ranks (rank 0 on %s), loaded step %s, max error %g"):format(st.step,
    world.size, host, tostring(at), err))
end
