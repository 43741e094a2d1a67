-- A tour of tide's communicators and collectives. Every rank runs this script (SPMD):
--
--   mpirun -np 4 lua5.4 examples/collectives.lua        (or: tide run -n 4 examples/collectives.lua)
--   TIDE_DEBUG=1 ...      compare every collective's arguments across ranks first
--   TIDE_TIMEOUT=30 ...   end the job, saying where, if a collective waits over 30 s
--   TIDE_TRACE=t.json ... write a timeline of the run (open it in Perfetto)
--
-- Flags: --rows N (rows per rank in the data-moving part, default 4).
local tide = require "tide"

local rows = 4
for i = 1, #arg do
  if arg[i] == "--rows" then rows = math.tointeger(tonumber(arg[i + 1])) end
end

local world = tide.world
local me, n = world.rank, world.size   -- ranks are 0-based, as in MPI

-- Only rank 0 prints; `say` keeps the output readable at any size.
local function say(fmt, ...)
  if me == 0 then print(string.format(fmt, ...)) end
end
say("%d ranks", n)

-- Reductions work in place on tensors of any dtype; on a Lua number they return a number.
local t = tide.full({ 3 }, me + 1, "f32")
world:allreduce(t)                                   -- sum: 1 + 2 + ... + n everywhere
say("allreduce sum  -> %s", table.concat(t:totable(), " "))
say("allreduce max  -> %d", world:allreduce(me, "max"))
say("allreduce avg  -> %g", world:allreduce(me + 1, "avg"))

-- Broadcast root's tensor; reduce onto one root.
local seed = tide.tensor({ me * 100 }, "i64")
world:broadcast(seed, 0)
local total = world:reduce(tide.tensor({ me }, "i64"), "sum", 0)
say("broadcast      -> %d, reduce on rank 0 -> %d", seed[1], total[1])

-- Rows move with gather/scatter and their v-forms: ranks may hold different row counts.
local mine = tide.full({ me + 1, 2 }, me, "i32")     -- rank r holds r + 1 rows
local all = world:allgather(mine)                    -- stacked along dim 1, in rank order
say("allgather      -> %d rows from ranks holding 1..%d rows", all:size(1), n)
local parts = world:scatter(me == 0 and tide.tensor({ { 1 }, { 2 }, { 3 }, { 4 }, { 5 } }) or nil, 0)
say("scatter 5 rows -> rank 0 got %d", parts:size(1))
local block = world:reduce_scatter(tide.ones({ 2 * n, 3 }))   -- each rank: 2 summed rows
say("reduce_scatter -> %dx%d of %g", block:size(1), block:size(2), block:get(1, 1))

-- alltoallv: send_counts[d + 1] rows go to rank d; returns what arrived and from whom.
local send, data = {}, {}
for d = 0, n - 1 do
  send[d + 1] = (me + d) % 2 + 1
  for _ = 1, send[d + 1] do data[#data + 1] = { me, d } end
end
local got, counts = world:alltoallv(tide.tensor(data, "i32"), send)
say("alltoallv      -> rank 0 received %d rows (%s per rank)", got:size(1), table.concat(counts, ","))

-- Point to point around a ring; recv_new allocates what the header says came.
if n > 1 then
  local right, left = (me + 1) % n, (me - 1) % n
  local req = world:isend(tide.full({ rows, 2 }, me, "f64"), right, 7)
  local msg, from, tag = world:recv_new(tide.ANY, 7)
  req:wait()
  say("ring           -> rank 0 got %dx%d from rank %d (tag %d)", msg:size(1), msg:size(2), from, tag)
  assert(from == left)
end

-- Non-blocking collectives overlap with work; the tensor stays alive until the request is done.
local pending = world:iallreduce(tide.ones(1000), "sum")
local busy = 0
for i = 1, 1000 do busy = busy + i end               -- work while the reduction runs
say("iallreduce     -> %g (busy work %d)", pending:wait()[1], busy)

-- Lua values travel too (numbers, strings, booleans, tables; serialised with lua-cjson).
local config = world:bcast_obj(me == 0 and { lr = 0.01, layers = { 64, 32 } } or nil, 0)
local names = world:allgather_obj("rank-" .. me)
say("bcast_obj      -> lr %g, %d layers; allgather_obj -> %s", config.lr, #config.layers,
  table.concat(names, " "))

-- Communicators: split by color, ranks of this node, duplicates.
local half = world:split(me % 2)                     -- evens and odds
local node = world:split_node()
say("split          -> rank 0 is rank %d of %d evens; %d ranks on this node", half.rank, half.size, node.size)
half:free()

-- The timeline: spans of your own next to the collectives.
tide.trace.span("final barrier", function() world:barrier() end)
if tide.trace.enabled() then
  local s = tide.trace.summary()
  say("trace          -> rank 0 spent %.3f s computing, %.3f s communicating", s[1].compute, s[1].comm)
end
