-- Communicators in one process (a world of one): argument errors, the timeline, Lua value
-- serialisation; then mpirun jobs (tests/mpi/jobs/) for what only a failing multi-rank job
-- shows: TIDE_DEBUG's mismatch messages, the watchdog, a rank that skips a barrier or fails,
-- and the trace of a 4-rank run. The multi-rank specs of tests/mpi also run here at one rank.
local tide = require "tide"
local proc = require "support.proc"
local jobs = require "support.jobs"
local files = require "support.files"
local cjson = require "cjson"

local world = tide.world
local read = files.read

describe("a world of one", function()
  it("is rank 0 of 1; tide.ANY is -1", function()
    assert.are.same({ 0, 1 }, { world.rank, world.size })
    assert.are.equal(-1, tide.ANY)
  end)

  it("refuses bad ops, ranks, tags and counts with messages naming the call", function()
    local t = tide.zeros(3)
    assert.has_error(function() world:allreduce(t, "mean") end,
      "allreduce: unknown op 'mean' (expected sum, prod, min, max or avg)")
    assert.has_error(function() world:allreduce(t, 3) end,
      "allreduce: expected an op name (sum, prod, min, max or avg), got number")
    assert.has_error(function() world:allreduce("x") end,
      "bad argument #1 to 'allreduce' (tide.tensor expected, got string)")
    assert.has_error(function() world:broadcast(t, 1) end,
      "broadcast: root 1 out of range for a communicator of 1 rank (expected 0..0)")
    assert.has_error(function() world:reduce(t, "sum", -1) end,
      "reduce: root -1 out of range for a communicator of 1 rank (expected 0..0)")
    assert.has_error(function() world:gather(t, 2) end,
      "gather: root 2 out of range for a communicator of 1 rank (expected 0..0)")
    assert.has_error(function() world:send(t, 5) end,
      "send: destination 5 out of range for a communicator of 1 rank (expected 0..0)")
    assert.has_error(function() world:send(t) end, "send: expected a destination rank")
    assert.has_error(function() world:recv(t, 3) end,
      "recv: source 3 out of range for a communicator of 1 rank (expected 0..0 or tide.ANY)")
    local ok, err = pcall(world.send, world, t, 0, -3)
    assert.is_false(ok)
    assert.is_truthy(err:match("^send: tag %-3 out of range %(expected 0%.%.%d+%)$"), err)
    assert.has_error(function() world:bcast_obj(1, 4) end,
      "bcast_obj: root 4 out of range for a communicator of 1 rank (expected 0..0)")
  end)

  it("refuses counts tables of the wrong size or sum", function()
    local t = tide.zeros({ 3, 2 })
    assert.has_error(function() world:scatter(t, 0, { 1, 2 }) end,
      "scatter: counts has 2 entries, expected one per rank (1)")
    assert.has_error(function() world:scatter(t, 0, { "a" }) end,
      "scatter: count 1 must be an integer, got string")
    assert.has_error(function() world:scatter(t, 0, 3) end,
      "scatter: expected a table of counts (one per rank), got number")
    assert.has_error(function() world:scatter(t, 0, { 2 }) end,
      "scatter: counts sum to 2 rows, the tensor has 3")
    assert.has_error(function() world:scatter(t, 0, { -1 }) end,
      "scatter: count -1 for rank 0 is negative")
    assert.has_error(function() world:reduce_scatter(t, "sum", { 4 }) end,
      "reduce_scatter: counts sum to 4 rows, the tensor has 3")
    assert.has_error(function() world:alltoallv(t, { 1 }) end,
      "alltoallv: send counts sum to 1 rows, the tensor has 3")
    assert.has_error(function() world:alltoallv(t, { -3 }) end,
      "alltoallv: send count -3 for rank 0 is negative")
    assert.has_error(function() world:alltoallv(t) end,
      "alltoallv: expected a table of counts (one per rank), got no value")
    assert.has_error(function() world:ialltoallv(t, { 2 }) end,
      "ialltoallv: send counts sum to 2 rows, the tensor has 3")
  end)

  it("refuses 0-dim tensors where rows are needed", function()
    local s = tide.tensor(1)
    assert.has_error(function() world:scatter(s, 0) end,
      "scatter: the root (rank 0) passed a 0-dim tensor; expected rows")
    assert.has_error(function() world:reduce_scatter(s) end,
      "reduce_scatter: expected a tensor with rows, got a 0-dim tensor")
    assert.has_error(function() world:alltoall(s) end,
      "alltoall: expected a tensor with rows, got a 0-dim tensor")
    assert.has_error(function() world:alltoallv(s, { 1 }) end,
      "alltoallv: expected a tensor with rows, got a 0-dim tensor")
  end)

  it("refuses in-place results into expanded or closed tensors", function()
    local e = tide.ones(1):expand({ 3 })
    assert.has_error(function() world:allreduce(e) end,
      "allreduce: cannot write into an expanded tensor (dim 1 has stride 0); pass a contiguous tensor")
    assert.has_error(function() world:broadcast(e) end,
      "broadcast: cannot write into an expanded tensor (dim 1 has stride 0); pass a contiguous tensor")
    assert.has_error(function() world:iallreduce(e) end,
      "iallreduce: cannot write into an expanded tensor (dim 1 has stride 0); pass a contiguous tensor")
    assert.has_error(function() world:recv(e) end,
      "recv: cannot write into an expanded tensor (dim 1 has stride 0); pass a contiguous tensor")
    -- an expanded tensor is fine where it is only read
    assert.are.same({ 1, 1, 1 }, world:allgather(e):totable())
    local c = tide.ones(2)
    c:close()
    assert.has_error(function() world:allreduce(c) end, "attempt to use a closed tensor")
  end)

  it("refuses element counts past the MPI limit where it cannot split them", function()
    tide._set_max_count(7)
    local big = tide.zeros(8)
    local errs = {}
    for _, f in ipairs {
      function() world:allgather(big) end, function() world:send(big, 0) end,
      function() world:iallreduce(big) end, function() world:irecv(big) end,
      function() world:ibroadcast(big) end, function() world:alltoall(big) end,
    } do
      errs[#errs + 1] = select(2, pcall(f))
    end
    world:allreduce(big)   -- split into two calls
    tide._set_max_count(nil)
    for i, op in ipairs { "allgather", "send", "iallreduce", "irecv", "ibroadcast", "alltoall" } do
      assert.are.equal(op .. ": 8 elements exceed what one MPI call can carry (7); split the "
        .. "tensor into smaller pieces", errs[i]:gsub("^.-:%d+: ", ""))
    end
  end)

  it("switches: set_timeout and set_debug return the previous setting", function()
    tide.set_timeout(0)
    assert.are.equal(0, tide.set_timeout(2.5))
    assert.are.equal(2.5, tide.set_timeout(nil))
    assert.has_error(function() tide.set_timeout(-1) end,
      "set_timeout: expected a number of seconds >= 0 (0 or nil: off), got -1")
    assert.is_false(tide.set_debug(true))
    assert.is_true(tide.set_debug(false))
    -- back to the default mode (blocking calls and the sentinel), as benchmarks do
    assert.are.equal(0, tide._internal.set_watchdog(600))
    assert.are.equal(600, tide._internal.set_watchdog(0))
    assert.has_error(function() tide._internal.set_watchdog(-1) end,
      "set_watchdog: expected a number of seconds >= 0 (0 or nil: off), got -1")
  end)

  it("requests describe themselves and return their results again", function()
    local r = world:iallreduce(tide.ones(2))
    assert.are.equal("tide.request (iallreduce, pending)", tostring(r))
    local t = r:wait()
    assert.are.equal("tide.request (iallreduce, complete)", tostring(r))
    assert.are.equal(t, r:wait())
    local done, again = r:test()
    assert.is_true(done)
    assert.are.equal(t, again)
    local s = world:isend(tide.ones(1), 0, 1)
    local got, src, tag = world:irecv(tide.zeros(1), 0, 1):wait()
    assert.are.same({ { 1 }, 0, 1 }, { got:totable(), src, tag })
    assert.are.same({}, { s:wait() })
    -- a pending receive collected unwaited is cancelled
    world:irecv(tide.zeros(1), 0, 99)
    collectgarbage()
    collectgarbage()
  end)
end)

describe("serialising Lua values", function()
  local comm = require "tide.comm"

  it("round-trips numbers exactly, with their subtype", function()
    for _, v in ipairs { 0, -7, 1 << 62, math.mininteger, 0.1, 1 / 3, 2.0, -0.5, 1e300, 5e-324 } do
      local ok, s = comm.encode(v)
      assert.is_true(ok)
      local back = comm.decode(s)
      assert.are.equal(v, back)
      assert.are.equal(math.type(v), math.type(back))
    end
    assert.are.same({ a = { 1, 2.5, "x" }, [3] = true }, comm.decode(select(2, comm.encode(
      { a = { 1, 2.5, "x" }, [3] = true }))))
  end)

  it("says why a value cannot be serialised", function()
    local cyc = {}
    cyc.self = cyc
    assert.are.same({ false, "value nested deeper than 200 tables (a cycle?)" }, { comm.encode(cyc) })
    assert.are.same({ false, "cannot serialise a table key of type float (keys are strings or "
      .. "integers)" }, { comm.encode({ [1.5] = 1 }) })
    assert.are.same({ false, "cannot serialise a function (values are numbers, strings, booleans "
      .. "and tables)" }, { comm.encode({ print }) })
  end)
end)

describe("the timeline in one process", function()
  local path = os.tmpname()
  after_each(function()
    if tide.trace.enabled() then pcall(tide.trace.stop) end
    os.remove(path)
  end)

  it("says when it is off", function()
    assert.is_false(tide.trace.enabled())
    assert.has_error(function() tide.trace.stop() end,
      "trace.stop: not tracing (start with tide.trace.start(file) or TIDE_TRACE=file)")
    assert.has_error(function() tide.trace.summary() end,
      "trace.summary: tracing is off (start it with tide.trace.start(file) or TIDE_TRACE=file)")
    assert.are.same({ 1, 2 }, { tide.trace.span("off", function(a, b) return a, b end, 1, 2) })
  end)

  it("records collectives and spans into Chrome trace JSON", function()
    tide.trace.start(path)
    assert.has_error(function() tide.trace.start(path) end,
      "trace.start: already tracing (to " .. path .. "); call trace.stop() first")
    local a, b = tide.trace.span('say "hi"\n', function(x) world:allreduce(tide.zeros(10)); return x, 2 end, 1)
    assert.are.same({ 1, 2 }, { a, b })
    local long = string.rep("é", 40)   -- cut at a character boundary, not inside one
    tide.trace.span(long, function() end)
    local ok, err = pcall(tide.trace.span, "fails", function() error({ code = 7 }) end)
    assert.is_false(ok)
    assert.are.same({ code = 7 }, err)
    world:iallreduce(tide.zeros(2, "f64")):wait()
    local s = tide.trace.summary()
    assert.are.equal(1, #s)
    assert.is_true(s[1].compute >= 0 and s[1].comm >= 0)
    assert.are.equal(path, tide.trace.stop())
    assert.is_false(tide.trace.enabled())

    local doc = cjson.decode(read(path))
    assert.are.equal(1, doc.otherData.ranks)
    local by = {}
    for _, e in ipairs(doc.traceEvents) do
      assert.are.equal(0, e.pid)
      by[e.name] = e
    end
    assert.are.equal("comm", by.allreduce.cat)
    assert.are.equal(40, by.allreduce.args.bytes)
    assert.are.equal("X", by.allreduce.ph)
    assert.are.equal("user", by['say "hi"\n'].cat)
    assert.is_true(by['say "hi"\n'].dur >= by.allreduce.dur)
    assert.is_not_nil(by[string.rep("é", 23)])
    assert.is_not_nil(by.fails)
    assert.are.equal(16, by["iallreduce (wait)"].args.bytes)
    assert.are.equal("rank 0", by.process_name.args.name)
  end)

  it("reports a file it cannot write", function()
    tide.trace.start("/nonexistent-dir/t.json")
    local ok, err = pcall(tide.trace.stop)
    assert.is_false(ok)
    assert.is_truthy(err:match("trace.stop: cannot write /nonexistent%-dir/t%.json%.tmp%.%d+$"), err)
  end)
end)

-- ------------------------------------------------------------------ multi-rank jobs

-- Jobs run with the watchdog off unless they say (TIDE_TIMEOUT=0).
local function job(np, script, args, env, limit)
  return jobs.run(np, script, args, "TIDE_TIMEOUT=0 " .. (env or ""), limit)
end
local marked, contains = jobs.marked, jobs.contains

describe("the environment", function()
  for _, var in ipairs { "TIDE_TIMEOUT", "TIDE_WATCHDOG" } do
    it("refuses a " .. var .. " that is not a number of seconds", function()
      local out = os.tmpname()
      local p = assert(io.popen(string.format("%s LD_PRELOAD=%q ASAN_OPTIONS=detect_leaks=0 "
        .. "%s=soon lua5.4 -e 'require \"tide\"' > %q 2>&1; echo $?", proc.clean_env,
        os.getenv("LD_PRELOAD") or "", var, out)))
      local rc = tonumber(p:read("a"))
      p:close()
      local text = read(out)
      os.remove(out)
      assert.are.equal(1, rc)
      contains(text, var .. ": expected a number of seconds, got 'soon'")
    end)
  end
end)

describe("a multi-rank job", function()
  it("with TIDE_DEBUG=1 ends on every mismatch with the fingerprint message", function()
    local l = marked("mismatch.lua", "shape")
    local rc, out = job(2, "mismatch.lua", "shape", "TIDE_DEBUG=1")
    assert.are_not.equal(0, rc)
    contains(out, string.format("allreduce #2: rank 1 passed f32 [20] at mismatch.lua:%d, rank 0 "
      .. "passed f32 [10] at mismatch.lua:%d", l, l))
    assert.is_nil(out:find("finished"))

    l = marked("mismatch.lua", "dtype")
    rc, out = job(2, "mismatch.lua", "dtype", "TIDE_DEBUG=1")
    assert.are_not.equal(0, rc)
    contains(out, string.format("allreduce #2: rank 1 passed f64 [10] at mismatch.lua:%d, rank 0 "
      .. "passed f32 [10] at mismatch.lua:%d", l, l))

    l = marked("mismatch.lua", "collective")
    rc, out = job(2, "mismatch.lua", "collective", "TIDE_DEBUG=1")
    assert.are_not.equal(0, rc)
    contains(out, string.format("allreduce #2: rank 1 called barrier at mismatch.lua:%d, rank 0 "
      .. "called allreduce on f32 [10] at mismatch.lua:%d", l, l))
  end)

  it("without TIDE_DEBUG ends on a first mismatch with the light check's message", function()
    local want = {
      shape = "allreduce #2: rank 1 passed f32 [20] at mismatch.lua:%d, rank 0 passed f32 [10] "
        .. "at mismatch.lua:%d",
      dtype = "allreduce #2: rank 1 passed f64 [10] at mismatch.lua:%d, rank 0 passed f32 [10] "
        .. "at mismatch.lua:%d",
      collective = "allreduce #2: rank 1 called barrier at mismatch.lua:%d, rank 0 called "
        .. "allreduce on f32 [10] at mismatch.lua:%d",
    }
    for kind, text in pairs(want) do
      local l = marked("mismatch.lua", kind)
      local rc, out, secs = job(2, "mismatch.lua", kind, nil, 60)
      assert.are_not.equal(0, rc)
      assert.is_true(secs < 20, kind .. " took " .. secs .. " s")
      contains(out, string.format(text, l, l))
      assert.is_nil(out:find("finished"))
    end
  end)

  it("with TIDE_CHECK=0 and without TIDE_DEBUG never hangs on a mismatch under TIDE_TIMEOUT=10",
    function()
    -- The watchdog ends the job with its message: after 10 s of waiting, or at once when MPI
    -- itself fails the collective first (the ranks' messages do not match: a truncation).
    for _, kind in ipairs { "shape", "dtype", "collective" } do
      local l = marked("mismatch.lua", kind)
      local rc, out, secs = job(2, "mismatch.lua", kind, "TIDE_CHECK=0 TIDE_TIMEOUT=10", 60)
      assert.are_not.equal(0, rc)
      assert.is_true(secs < 30, kind .. " took " .. secs .. " s")
      local site = "%a+ #2 at mismatch%.lua:" .. l
      assert(out:find("tide watchdog: rank %d waited 10 s in " .. site)
        or out:find("tide watchdog: rank %d: " .. site .. " failed after [%d.]+ s: MPI_ERR_%u+"),
        out)
      assert.is_nil(out:find("finished"))
    end
  end)

  it("ends within 15 s when a rank skips a barrier under TIDE_TIMEOUT=5", function()
    local l = marked("skip_barrier.lua", "barrier")
    local rc, out, secs = job(2, "skip_barrier.lua", "exit", "TIDE_TIMEOUT=5", 40)
    assert.are_not.equal(0, rc)
    assert.is_true(secs < 15, "took " .. secs .. " s")
    -- rank 0 names the barrier and where rank 1 is; rank 1 (waiting to exit) names rank 0's
    -- barrier: whichever aborts the job first prints
    assert(out:find(string.format("tide watchdog: rank 0 waited 5 s in barrier #1 at "
      .. "skip_barrier.lua:%d; never arrived: rank 1 (in finalize at exit)", l), 1, true)
      or out:find(string.format("tide watchdog: rank 1 waited 5 s in finalize at exit; never "
        .. "arrived: rank 0 (in barrier #1 at skip_barrier.lua:%d)", l), 1, true), out)
  end)

  it("names a rank that is busy outside any collective", function()
    local l = marked("skip_barrier.lua", "barrier")
    local rc, out, secs = job(3, "skip_barrier.lua", "busy", "TIDE_TIMEOUT=3", 40)
    assert.are_not.equal(0, rc)
    assert.is_true(secs < 15, "took " .. secs .. " s")
    assert(out:find(string.format("waited 3 s in barrier #1 at skip_barrier.lua:%d; never arrived: "
      .. "rank 1 (no answer: computing outside a tide collective, blocked, or exited)", l), 1,
      true), out)
  end)

  it("ends at once when a rank fails while the others wait", function()
    local l = marked("fail_rank.lua", "error")
    local rc, out, secs = job(2, "fail_rank.lua", "error", nil, 40)
    assert.are.equal(1, rc)
    assert.is_true(secs < 10, "took " .. secs .. " s")
    contains(out, string.format("fail_rank.lua:%d: boom", l))
    -- mpirun passes on the aborting rank's code (3, 4) in a plain build
    rc, out, secs = job(2, "fail_rank.lua", "exit", nil, 40)
    assert.are_not.equal(0, rc)
    assert.is_true(secs < 10, "took " .. secs .. " s")
    rc, out, secs = job(3, "fail_rank.lua", "abort", nil, 40)
    assert.are_not.equal(0, rc)
    assert.is_true(secs < 10, "took " .. secs .. " s")
    assert.is_nil(out:find("finished"))
  end)

  it("writes one valid trace with events from all four ranks", function()
    local path = os.tmpname()
    local rc, out = job(4, "traced.lua", "", "TIDE_TRACE=" .. path, 60)
    assert.are.equal(0, rc, out)
    local doc = cjson.decode(read(path))
    os.remove(path)
    local seen = {}
    for _, e in ipairs(doc.traceEvents) do
      seen[e.pid] = seen[e.pid] or {}
      seen[e.pid][e.name] = true
    end
    for r = 0, 3 do
      assert.is_truthy(seen[r], "no events from rank " .. r)
      for _, name in ipairs { "allreduce", "step 1", "step 3", "iallreduce (wait)", "allgather_obj" } do
        assert.is_true(seen[r][name], name .. " missing on rank " .. r)
      end
    end
    for r = 0, 3 do
      assert.is_truthy(out:find("summary " .. r .. " %d+%.%d+ %d+%.%d+"), out)
    end
    -- and through tide.trace.start/stop
    local path2 = os.tmpname()
    rc, out = job(2, "traced.lua", path2, nil, 60)
    assert.are.equal(0, rc, out)
    contains(out, "wrote " .. path2)
    local doc2 = cjson.decode(read(path2))
    os.remove(path2)
    assert.are.equal(2, doc2.otherData.ranks)
  end)
end)
