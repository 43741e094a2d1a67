-- Collectives on tensors of every dtype, checked on every rank against closed forms of the
-- rank-dependent values each rank filled in. Runs at any size (1, 2, 4 ranks; TIDE_TEST_RANKS),
-- three times: with MPI's blocking calls watched by the sentinel (the default watchdog), polled
-- under the watchdog (TIDE_TIMEOUT's path), and with the debug fingerprints compared before
-- every call (TIDE_DEBUG's path).
local tide = require "tide"

local world = tide.world
local N, me = world.size, world.rank
local DTYPES = { "f32", "f64", "i32", "i64", "u8" }

if os.getenv("TIDE_TEST_RANKS") then
  assert(N == tonumber(os.getenv("TIDE_TEST_RANKS")), "world size differs from TIDE_TEST_RANKS")
end

-- a tensor of dtype dt from a nested table
local function T(tbl, dt) return tide.tensor(tbl, dt or "f32") end

-- 1-D table of n values f(i), i = 0..n-1
local function list(n, f)
  local t = {}
  for i = 0, n - 1 do t[i + 1] = f(i) end
  return t
end

local function flat(t) return t:reshape({ t:numel() }):totable() end

local modes = {
  { name = "blocking", watchdog = 120, debug = false },
  { name = "polled", timeout = 120, debug = false },
  { name = "debug", timeout = 120, debug = true },
}

for _, mode in ipairs(modes) do
  describe("collectives (" .. mode.name .. ")", function()
    before_each(function()
      if mode.watchdog then
        tide._internal.set_watchdog(mode.watchdog)
      else
        tide.set_timeout(mode.timeout)
      end
      tide.set_debug(mode.debug)
    end)
    after_each(function()
      tide.set_timeout(120)
      tide.set_debug(false)
    end)

    -- A barrier's one promise: no rank leaves it before the last rank has entered it. Each
    -- rank in turn arrives late (it spins for DELAY seconds first); every rank's exit time
    -- must then follow the late rank's entry time. tide.now() is one clock for the ranks of a
    -- node, and the times travel as f64, so only the clock's reading (microseconds) stands
    -- between them: a barrier that let a rank through early would show it DELAY too soon.
    it("barrier: a rank that enters late delays every rank's exit", function()
      local DELAY, SLACK = 0.1, 1e-3
      for late = 0, N - 1 do
        world:barrier()                     -- start together
        if me == late then
          local t0 = tide.now()
          while tide.now() - t0 < DELAY do end
        end
        local entered = tide.now()
        world:barrier()
        local left = tide.now()
        local times = world:allgather(T({ { entered, left } }, "f64")):totable()
        local late_entry = times[late + 1][1]
        for r = 0, N - 1 do
          assert(times[r + 1][2] >= late_entry - SLACK,
            ("rank %d left the barrier %.4f s before rank %d entered it"):format(r,
              late_entry - times[r + 1][2], late))
        end
      end
    end)

    it("broadcast from every root, every dtype, in place", function()
      for _, dt in ipairs(DTYPES) do
        for root = 0, N - 1 do
          local t = T({ { me, me + 1 }, { me + 2, 7 } }, dt)
          local same = world:broadcast(t, root)
          assert.are.equal(t, same)
          assert.are.same({ { root, root + 1 }, { root + 2, 7 } }, t:totable())
        end
      end
      local t = T({ me + 1 })
      world:broadcast(t)   -- root defaults to 0
      assert.are.same({ 1 }, t:totable())
    end)

    it("allreduce sum, min, max, avg of every dtype against closed forms", function()
      local n = 6
      for _, dt in ipairs(DTYPES) do
        local function mine() return T(list(n, function(i) return me + 1 + i end), dt) end
        local sum = world:allreduce(mine())
        assert.are.same(list(n, function(i) return N * (N + 1) // 2 + N * i end), sum:totable())
        assert.are.same(list(n, function(i) return 1 + i end), world:allreduce(mine(), "min"):totable())
        assert.are.same(list(n, function(i) return N + i end), world:allreduce(mine(), "max"):totable())
        local avg = world:allreduce(mine(), "avg"):totable()
        for i = 0, n - 1 do
          local exact = (N * (N + 1) / 2 + N * i) / N
          if dt == "f32" or dt == "f64" then
            assert.are.equal(exact, avg[i + 1])
          else
            assert.are.equal(math.floor(exact), avg[i + 1])   -- positive: truncation = floor
          end
        end
      end
    end)

    it("allreduce prod of every dtype", function()
      for _, dt in ipairs(DTYPES) do
        -- rank r contributes 2 where (r + i) is odd, else 1
        local t = T(list(5, function(i) return 1 + (me + i) % 2 end), dt)
        world:allreduce(t, "prod")
        assert.are.same(list(5, function(i)
          local k = 0
          for r = 0, N - 1 do k = k + (r + i) % 2 end
          return 2 ^ k // 1
        end), t:totable())
      end
    end)

    it("integer avg truncates toward zero, and u8/i32 sums do not wrap", function()
      for _, dt in ipairs { "i32", "i64" } do
        local t = T(list(4, function(i) return -(me + 1) - i end), dt)
        world:allreduce(t, "avg")
        assert.are.same(list(4, function(i)
          local s = -(N * (N + 1) // 2 + N * i)
          return -((-s) // N)
        end), t:totable())
      end
      local u = T({ 200, 255 }, "u8")
      world:allreduce(u, "avg")
      assert.are.same({ 200, 255 }, u:totable())
    end)

    it("allreduce of a Lua number returns a number", function()
      local s = world:allreduce(me + 1)
      assert.are.equal(N * (N + 1) // 2, s)
      assert.are.equal("integer", math.type(s))
      local f = world:allreduce(0.5 * (me + 1), "max")
      assert.are.equal(0.5 * N, f)
      assert.are.equal("float", math.type(f))
      -- one float anywhere makes the result a float
      local mixed = world:allreduce(me == 0 and 1.5 or 2)
      assert.are.equal(1.5 + 2 * (N - 1), mixed)
      assert.are.equal("float", math.type(mixed))
      assert.are.equal((N + 1) / 2, world:allreduce(me + 1, "avg"))
      assert.are.equal(1, world:allreduce(me + 1, "min"))
      assert.are.equal(N, world:allreduce(me + 1, "max"))
      assert.are.equal(1, world:allreduce(1, "prod"))
    end)

    it("allreduce writes through a non-contiguous view", function()
      local base = T({ { 1, 2, 3 }, { 4, 5, 6 } }, "f64")
      local col = base:narrow(2, 2, 1)   -- column 2: not contiguous
      world:allreduce(col)
      assert.are.same({ { 1, 2 * N, 3 }, { 4, 5 * N, 6 } }, base:totable())
      local tr = T({ { 1, 2 }, { 3, 4 } }, "i32"):t()
      world:allreduce(tr, "max")
      assert.are.same({ { 1, 3 }, { 2, 4 } }, tr:totable())
    end)

    it("reduce to every root leaves the others' tensors unchanged", function()
      for _, dt in ipairs(DTYPES) do
        for root = 0, N - 1 do
          local t = T(list(3, function(i) return me + i end), dt)
          world:reduce(t, "sum", root)
          if me == root then
            assert.are.same(list(3, function(i) return N * (N - 1) // 2 + N * i end), t:totable())
          else
            assert.are.same(list(3, function(i) return me + i end), t:totable())
          end
        end
      end
      local t = T({ me + 1, 10 }, "i32")
      world:reduce(t, "avg", 0)
      if me == 0 then assert.are.same({ (N + 1) // 2, 10 }, t:totable()) end
    end)

    it("allgather stacks uneven row counts in rank order, every dtype", function()
      for _, dt in ipairs(DTYPES) do
        -- rank r passes r + 1 rows {r, k}
        local rows = {}
        for k = 0, me do rows[k + 1] = { me, k } end
        local g = world:allgather(T(rows, dt))
        assert.are.equal(dt, g:dtype())
        assert.are.same({ N * (N + 1) // 2, 2 }, g:shape())
        local want = {}
        for r = 0, N - 1 do
          for k = 0, r do want[#want + 1] = { r, k } end
        end
        assert.are.same(want, g:totable())
      end
    end)

    it("allgather of 0-dim tensors and of ranks with no rows", function()
      local s = world:allgather(tide.tensor(me * 2, "i64"))
      assert.are.same(list(N, function(r) return 2 * r end), s:totable())
      local rows = me % 2 == 1 and tide.zeros({ 0, 3 }) or tide.ones({ 1, 3 })
      local g = world:allgather(rows)
      assert.are.same({ (N + 1) // 2, 3 }, g:shape())
    end)

    it("gather to every root; nil elsewhere", function()
      for root = 0, N - 1 do
        local g = world:gather(T(list(me + 1, function() return me end), "i32"), root)
        if me == root then
          local want = {}
          for r = 0, N - 1 do
            for _ = 0, r do want[#want + 1] = r end
          end
          assert.are.same(want, g:totable())
        else
          assert.is_nil(g)
        end
      end
    end)

    it("scatter splits rows evenly or by counts; non-roots pass nil", function()
      for _, dt in ipairs(DTYPES) do
        local rows = 2 * N + 1
        local src = me == 0 and T(list(rows, function(i) return { i, 2 * i } end), dt) or nil
        local part = world:scatter(src, 0)
        -- the first rows % N ranks get one extra row
        local q, extra = rows // N, rows % N
        local start = me * q + math.min(me, extra)
        local n = q + (me < extra and 1 or 0)
        assert.are.same(list(n, function(k) return { start + k, 2 * (start + k) } end), part:totable())
      end
      local root = N - 1
      local counts = list(N, function(r) return r end)   -- rank r gets r rows
      local total = N * (N - 1) // 2
      local src = me == root and T(list(total, function(i) return i end), "i64") or nil
      local part = world:scatter(src, root, counts)
      local start = me * (me - 1) // 2
      assert.are.same({ me }, part:shape())
      assert.are.same(list(me, function(k) return start + k end), part:totable())
    end)

    it("scatter: the root's bad counts fail on every rank", function()
      local src = me == 0 and tide.zeros({ 3 }) or nil
      local bad = list(N, function() return 0 end)
      assert.has_error(function() world:scatter(src, 0, bad) end,
        "scatter: counts sum to 0 rows, the tensor has 3")
      world:barrier()
    end)

    it("reduce_scatter leaves each rank its block of the reduced rows", function()
      for _, dt in ipairs(DTYPES) do
        local rows = N + 2
        local t = T(list(rows, function(i) return { me + i, 1 } end), dt)
        local part = world:reduce_scatter(t, "sum")
        local q, extra = rows // N, rows % N
        local start = me * q + math.min(me, extra)
        local n = q + (me < extra and 1 or 0)
        assert.are.same(list(n, function(k)
          return { N * (N - 1) // 2 + N * (start + k), N }
        end), part:totable())
      end
      local counts = list(N, function(r) return r == 0 and 2 or 0 end)
      local part = world:reduce_scatter(T({ { me }, { 1 } }, "f64"), "max", counts)
      assert.are.same(me == 0 and { { N - 1 }, { 1 } } or {}, me == 0 and part:totable() or flat(part))
      local avg = world:reduce_scatter(T(list(N, function() return me + 1 end), "u8"), "avg")
      assert.are.same({ (N + 1) // 2 }, avg:totable())
    end)

    it("alltoall sends block d to rank d", function()
      for _, dt in ipairs(DTYPES) do
        -- two rows per destination: value r*16 + d*4 + k
        local t = T(list(2 * N, function(i)
          local d, k = i // 2, i % 2
          return me * 16 + d * 4 + k
        end), dt)
        local got = world:alltoall(t)
        assert.are.same(list(2 * N, function(i)
          local s, k = i // 2, i % 2
          return s * 16 + me * 4 + k
        end), got:totable())
      end
    end)

    it("alltoallv with uneven counts returns rows and counts", function()
      for _, dt in ipairs(DTYPES) do
        -- rank r sends (r + d) % 3 rows to d, each row {r, d, k}
        local send, rows = {}, {}
        for d = 0, N - 1 do
          send[d + 1] = (me + d) % 3
          for k = 0, send[d + 1] - 1 do rows[#rows + 1] = { me, d, k } end
        end
        local t = #rows > 0 and T(rows, dt) or tide.zeros({ 0, 3 }, dt)
        local got, counts = world:alltoallv(t, send)
        local want, want_counts = {}, {}
        for s = 0, N - 1 do
          want_counts[s + 1] = (s + me) % 3
          for k = 0, want_counts[s + 1] - 1 do want[#want + 1] = { s, me, k } end
        end
        assert.are.same(want_counts, counts)
        assert.are.same({ #want, 3 }, got:shape())
        if #want > 0 then assert.are.same(want, got:totable()) end
      end
    end)

    it("send, recv and recv_new around a ring, every dtype, with tide.ANY", function()
      local nxt, prev = (me + 1) % N, (me - 1) % N
      for _, dt in ipairs(DTYPES) do
        world:send(T({ { me, 1 }, { 2, 3 } }, dt), nxt, 5)
        local buf = tide.zeros({ 4 }, dt)   -- same count, another shape
        local got, src, tag = world:recv(buf, prev, 5)
        assert.are.equal(buf, got)
        assert.are.same({ prev, 1, 2, 3 }, got:totable())
        assert.are.same({ prev, 5 }, { src, tag })

        world:send(T({ me + 10 }, dt), nxt, 7)
        local any, asrc, atag = world:recv(tide.zeros({ 1 }, dt), tide.ANY, tide.ANY)
        assert.are.same({ prev + 10 }, any:totable())
        assert.are.same({ prev, 7 }, { asrc, atag })

        world:send(T({ { { me } }, { { 4 } } }, dt), nxt)
        local new, nsrc, ntag = world:recv_new()
        assert.are.equal(dt, new:dtype())
        assert.are.same({ 2, 1, 1 }, new:shape())
        assert.are.same({ { { prev } }, { { 4 } } }, new:totable())
        assert.are.same({ prev, 0 }, { nsrc, ntag })
      end
      world:send(tide.tensor(3.5, "f64"), nxt, 1)
      local s = world:recv_new(prev, 1)
      assert.are.same({}, s:shape())
      assert.are.equal(3.5, s:item())
      world:send(tide.zeros({ 0, 2 }), nxt, 2)
      assert.are.same({ 0, 2 }, world:recv_new(prev, 2):shape())
    end)

    it("large messages go without the small-message copy", function()
      local n = 100000
      local nxt, prev = (me + 1) % N, (me - 1) % N
      local t = tide.full({ n }, me, "f64")
      if N == 1 then
        local r = world:irecv(tide.zeros({ n }, "f64"), 0, 3)
        world:send(t, 0, 3)
        assert.are.equal(0, r:wait():get(n))
      else
        local r = world:irecv(tide.zeros({ n }, "f64"), prev, 3)
        world:send(t, nxt, 3)
        local got = r:wait()
        assert.are.same({ prev, prev }, { got:get(1), got:get(n) })
        -- a ring of large blocking sends would wait on each other: send without blocking
        local s = world:isend(t, nxt, 4)
        local new = world:recv_new(prev, 4)
        s:wait()
        assert.are.same({ prev, prev }, { new:get(1), new:get(n) })
      end
    end)

    it("recv reports what came when it does not fit", function()
      local nxt, prev = (me + 1) % N, (me - 1) % N
      world:send(tide.zeros({ 3 }, "i32"), nxt, 9)
      assert.has_error(function() world:recv(tide.zeros({ 2 }, "i32"), prev, 9) end,
        string.format("recv: rank %d sent i32 [3] with tag 9, expected i32 [2] (the dtype and "
          .. "the element count must match)", prev))
      world:send(tide.zeros({ 2 }, "f32"), nxt, 9)
      assert.has_error(function() world:recv(tide.zeros({ 2 }, "i32"), prev, 9) end,
        string.format("recv: rank %d sent f32 [2] with tag 9, expected i32 [2] (the dtype and "
          .. "the element count must match)", prev))
      world:send_obj({ 1 }, nxt, 9)
      assert.has_error(function() world:recv_new(prev, 9) end,
        string.format("recv_new: rank %d (tag 9) sent a Lua value (send_obj), expected a tensor "
          .. "(send)", prev))
      world:barrier()
    end)

    it("non-blocking allreduce, broadcast, allgather, alltoallv, isend/irecv", function()
      for _, dt in ipairs(DTYPES) do
        local a = world:iallreduce(T({ me + 1, 1 }, dt))
        local b = world:ibroadcast(T({ me, me }, dt), N - 1)
        local c = world:iallgather(T(list(me + 1, function() return me end), dt))
        local send = list(N, function(d) return d % 2 + 1 end)
        local rows = {}
        for d = 0, N - 1 do
          for _ = 1, send[d + 1] do rows[#rows + 1] = me * 10 + d end
        end
        local d = world:ialltoallv(T(rows, dt), send)
        local r = world:irecv(tide.zeros({ 2 }, dt), tide.ANY, 11)
        local s = world:isend(T({ me, 5 }, dt), (me + 1) % N, 11)
        assert.are.same({ N * (N + 1) // 2, N }, a:wait():totable())
        assert.are.same({ N - 1, N - 1 }, b:wait():totable())
        local g = c:wait()
        assert.are.equal(N * (N + 1) // 2, g:numel())
        local got, counts = d:wait()
        assert.are.same(list(N, function() return me % 2 + 1 end), counts)
        local want = {}
        for src = 0, N - 1 do
          for _ = 1, me % 2 + 1 do want[#want + 1] = src * 10 + me end
        end
        assert.are.same(want, got:totable())
        local t, src, tag = r:wait()
        assert.are.same({ (me - 1) % N, 5 }, t:totable())
        assert.are.same({ (me - 1) % N, 11 }, { src, tag })
        s:wait()
        assert.is_true(s:test())
      end
    end)

    it("test() polls to completion; wait_all returns first results", function()
      local req = world:iallreduce(T({ 1, 2, 3 }, "f64"), "avg")
      local done, res = req:test()
      while not done do done, res = req:test() end
      assert.are.same({ 1, 2, 3 }, res:totable())
      local reqs = { world:iallreduce(T({ 1 }, "i64")), world:iallgather(T({ me }, "i32")),
        world:ibroadcast(T({ me }, "u8"), 0) }
      local out = tide.wait_all(reqs)
      assert.are.same({ N }, out[1]:totable())
      assert.are.same(list(N, function(r) return r end), out[2]:totable())
      assert.are.same({ 0 }, out[3]:totable())
      assert.has_error(function() tide.wait_all({ 1 }) end,
        "wait_all: entry 1 is a number, expected a request")
    end)

    it("keeps a tensor in flight alive when the script drops it", function()
      local req = world:iallreduce(tide.full({ 1000 }, me + 1, "f64"))
      local g = world:iallgather(tide.full({ 500 }, me, "i32"))
      collectgarbage()
      collectgarbage()
      local t = req:wait()
      assert.are.equal(N * (N + 1) / 2, t:get(1000))
      assert.are.equal(N - 1, g:wait():get(N * 500))
      -- closing the tensor while in flight: the request holds its own reference
      local x = tide.full({ 100 }, 1, "f32")
      local r = world:iallreduce(x)
      x:close()
      r:wait()
      -- a request dropped unwaited completes when collected
      world:iallreduce(tide.ones(10))
      world:iallgather(tide.ones(3))
      collectgarbage()
      collectgarbage()
      world:barrier()
    end)

    it("splits element-wise collectives into several MPI calls past the count limit", function()
      tide._set_max_count(7)
      local ok, err = pcall(function()
        for _, dt in ipairs { "f32", "i64", "u8", "i32" } do
          local t = T(list(20, function(i) return me + i % 5 end), dt)
          world:allreduce(t)
          assert.are.same(list(20, function(i) return N * (N - 1) // 2 + N * (i % 5) end), t:totable())
          local a = T(list(15, function(i) return me + 1 + i end), dt)
          world:allreduce(a, "avg")   -- i32 and u8 go through a 64-bit copy
          assert.are.same(list(15, function(i)
            local avg = (N * (N + 1) / 2 + N * i) / N
            return dt == "f32" and avg or math.floor(avg)
          end), a:totable())
          local b = T(list(16, function(i) return me * 100 + i end), dt == "u8" and "i32" or dt)
          world:broadcast(b, N - 1)
          assert.are.same(list(16, function(i) return (N - 1) * 100 + i end), b:totable())
          local r = T(list(9, function(i) return me + i end), dt)
          world:reduce(r, "max", 0)
          if me == 0 then assert.are.same(list(9, function(i) return N - 1 + i end), r:totable()) end
        end
        assert.has_error(function() world:allgather(tide.zeros(8)) end,
          "allgather: 8 elements exceed what one MPI call can carry (7); split the tensor into "
          .. "smaller pieces")
      end)
      tide._set_max_count(nil)
      assert(ok, err)
    end)

    it("non-blocking on a non-contiguous tensor copies the result back", function()
      local base = T({ { 1, 2 }, { 3, 4 } }, "f64")
      world:iallreduce(base:t(), "sum"):wait()
      assert.are.same({ { N, 2 * N }, { 3 * N, 4 * N } }, base:totable())
      local col = T({ { me, 9 }, { me, 9 } }, "i32"):narrow(2, 1, 1)
      world:ibroadcast(col, 0):wait()
      assert.are.same({ { 0 }, { 0 } }, col:totable())
    end)
  end)
end
