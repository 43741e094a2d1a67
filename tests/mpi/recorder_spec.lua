-- The flight recorder (issue 14): every rank's ring holds its last N collectives with what
-- the script passed, in order; tide.dump writes the ring and the Lua tracebacks (the main
-- thread and the coroutine it runs) as JSON. Checked against the calls the spec makes.
local tide = require "tide"
local cjson = require "cjson"

local world = tide.world
local me, P = world.rank, world.size

local function here() return debug.getinfo(2, "l").currentline end
local function site(line) return "recorder_spec.lua:" .. line end

local read = require("support.files").read

-- The ring's entries past id `after`.
local function since(after)
  local out = {}
  for _, e in ipairs(tide.recorder()) do
    if e.id > after then out[#out + 1] = e end
  end
  return out
end

local function last_id()
  local r = tide.recorder()
  return #r > 0 and r[#r].id or 0
end

describe("the flight recorder", function()
  it("records each collective's name, dtype, shape, op, root, site and state", function()
    local t = tide.ones(3, 5)
    local start = last_id()
    local seq0 = since(0)
    seq0 = #seq0 > 0 and seq0[#seq0].comm == 0 and seq0[#seq0].seq or nil
    local l1 = here(); world:allreduce(t, "max")
    local l2 = here(); world:broadcast(t, P - 1)
    local l3 = here(); world:barrier()
    local l4 = here(); local r = world:iallreduce(tide.zeros(7, "f64"))
    local queued = since(start)[4].state
    r:wait()
    local got = since(start)
    assert.are.equal(4, #got)
    local want = {
      { "allreduce", "f32", { 3, 5 }, "max", nil, site(l1) },
      { "broadcast", "f32", { 3, 5 }, nil, P - 1, site(l2) },
      { "barrier", nil, nil, nil, nil, site(l3) },
      { "iallreduce", "f64", { 7 }, "sum", nil, site(l4) },
    }
    for i, e in ipairs(got) do
      assert.are.same(want[i], { e.name, e.dtype, e.shape, e.op, e.root, e.site })
      assert.are.equal(start + i, e.id)
      assert.are.equal(got[1].seq + i - 1, e.seq)   -- consecutive on the world
      assert.are.equal("done", e.state)
      assert.is_true(e.finish >= e.start)
    end
    assert.are.equal("queued", queued)   -- posted, not yet waited for
    -- every rank numbered the same calls alike
    local seqs = world:allgather_obj(got[1].seq)
    for k = 1, P do assert.are.equal(seqs[1], seqs[k]) end
  end)

  it("keeps only the last N after set_recorder(N), and nothing when 0", function()
    local old = tide.set_recorder(4)
    assert.are.equal(256, old)   -- TIDE_RECORDER's default
    local t = tide.ones(1)
    for i = 1, 10 do t:fill_(i); world:allreduce(t) end
    local r = tide.recorder()
    assert.are.equal(4, #r)
    for i, e in ipairs(r) do assert.are.equal(6 + i, e.id) end   -- ids 7..10 of the new ring
    assert.are.equal(4, tide.set_recorder(0))
    world:barrier()
    assert.are.same({}, tide.recorder())
    assert.are.equal(0, tide.set_recorder(256))
  end)

  it("ends a collective that fails as failed, with its message, in ring and dump", function()
    local wide = tide.ones(1, 3):expand(4, 3)   -- no rank may write into it: refused before MPI
    local calls = {
      { "allreduce", function() world:allreduce(wide) end },
      { "broadcast", function() world:broadcast(wide, 0) end },
      { "iallreduce", function() world:iallreduce(wide) end },
      { "allgather", function() world:allgather(tide.ones(2, me % 2 + 1)) end },   -- rows differ
    }
    local start = last_id()
    local errs = {}
    for i, c in ipairs(calls) do
      local ok, e = pcall(c[2])
      assert.are.equal(P == 1 and i == 4, ok)   -- one rank's rows always agree with themselves
      errs[i] = e
    end
    local got = since(start)
    assert.are.equal(#calls, #got)
    for i, e in ipairs(got) do
      assert.are.equal(calls[i][1], e.name)
      if errs[i] then
        assert.are.equal("failed", e.state)
        assert.is_true(e.finish >= e.start)
        assert.is_truthy(tostring(errs[i]):find(e.error, 1, true),
          e.error .. " | " .. tostring(errs[i]))
      else
        assert.are.equal("done", e.state)
        assert.is_nil(e.error)
      end
    end
    assert.matches("cannot write into an expanded tensor", got[1].error, 1, true)
    local dir = world:bcast_obj(me == 0 and os.tmpname() .. ".d" or nil, 0)
    local d = cjson.decode(read(tide.dump(dir)))
    local j
    for _, x in ipairs(d.collectives) do if x.id == got[1].id then j = x end end
    assert.are.same({ "allreduce", "failed", got[1].error }, { j.name, j.state, j.error })
    world:barrier()   -- the ranks still agree on the collectives that follow
    os.remove(("%s/rank-%d.json"):format(dir, me))
    world:barrier()
    if me == 0 then os.remove(dir) end
  end)

  it("refuses a size that is not a count of collectives", function()
    local ok, e = pcall(tide.set_recorder, -1)
    assert.is_false(ok)
    assert.matches("set_recorder: expected a number of collectives from 0 %(off%) to 1048576, got %-1", e)
  end)

  it("dumps the ring and the tracebacks of the main thread and the running coroutine", function()
    local dir = world:bcast_obj(me == 0 and os.tmpname() .. ".d" or nil, 0)
    world:barrier()
    local line
    local co = coroutine.wrap(function()
      line = here(); return tide.dump(dir)
    end)
    local path = co()
    assert.are.equal(("%s/rank-%d.json"):format(dir, me), path)
    local d = cjson.decode(read(path))
    assert.are.same({ me, P, "tide.dump" }, { d.rank, d.size, d.reason })
    local ring = tide.recorder()
    assert.are.equal(#ring, #d.collectives)
    for i, e in ipairs(ring) do
      local j = d.collectives[i]
      assert.are.same({ e.id, e.seq, e.name, e.site, e.state }, { j.id, j.seq, j.name, j.site, j.state })
    end
    assert.are.equal("main", d.traceback[1].thread)
    assert.are.equal("coroutine 1", d.traceback[2].thread)
    local inner = d.traceback[2].frames
    assert.are.equal("dump", inner[1].name)
    assert.matches("recorder_spec%.lua:" .. line .. "$", inner[2].site)
    world:barrier()
    os.remove(path)
    world:barrier()
    if me == 0 then os.remove(dir) end
  end)

  it("refuses a directory it cannot create", function()
    local ok, e = pcall(tide.dump, "/proc/no/such")
    assert.is_false(ok)
    assert.matches("tide.dump: cannot create the directory '/proc/no/such': ", e, 1, true)
  end)
end)

describe("tide.health", function()
  it("hears every rank while it runs, and says goodbye when stopped", function()
    tide.health.start { interval = 0.1, timeout = 5 }
    local t0 = tide.now()
    while tide.now() - t0 < 0.5 do end   -- computing: the helper thread still sends
    local ages = tide.health.ages()
    assert.are.equal(P, #ages)
    assert.are.equal(0, ages[me + 1])
    for r = 1, P do assert.is_true(ages[r] >= 0 and ages[r] < 5, "rank " .. (r - 1) .. ": " .. ages[r]) end
    world:barrier()
    tide.health.stop()
    assert.are.same({}, tide.health.ages())
    world:barrier()
  end)

  it("refuses bad options with a message", function()
    local function err(f, ...)
      local ok, e = pcall(f, ...)
      assert.is_false(ok)
      return (tostring(e):gsub("^[^:]*:%d+: ", ""))
    end
    assert.are.equal("health.start: unknown option 'every' (expected interval, timeout)",
      err(tide.health.start, { every = 1 }))
    assert.are.equal("health.start: expected interval > 0 and timeout >= 2 * interval, got "
      .. "interval 1, timeout 1", err(tide.health.start, { interval = 1, timeout = 1 }))
    assert.are.equal("health.start: expected numbers of seconds for interval and timeout, got "
      .. "number and string", err(tide.health.start, { timeout = "2" }))
  end)
end)

describe("tide.breakpoint", function()
  it("refuses a rank outside the world", function()
    local ok, e = pcall(tide.breakpoint, P)
    assert.is_false(ok)
    assert.matches(("tide.breakpoint: expected a rank from 0 to %d, got %d"):format(P - 1, P), e, 1, true)
  end)
end)
