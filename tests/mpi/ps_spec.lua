-- tide.ps across ranks (1, 2 and 4). Every layout the rank count allows is tried: S = 1 server
-- and P - 1 workers (from 2 ranks), S = P with every rank serving and working (1 rank
-- included), and at 4 ranks 2 servers + 2 workers. Values are checked against closed forms
-- (sums of known pushes), plain-Lua copies of the rules, and a data-parallel loop (bit for bit
-- in BSP); SSP's bound is checked with version counters; bad input fails naming the key.
local tide = require "tide"

local world = tide.world
local P, me = world.size, world.rank

local LAYOUTS = { P }
if P >= 2 then table.insert(LAYOUTS, 1, 1) end
if P >= 4 then LAYOUTS[#LAYOUTS + 1] = 2 end

local MODES = { "bsp", "async", { ssp = 2 } }
local function mode_name(m) return type(m) == "table" and "ssp " .. m.ssp or m end

-- 1-based index among the workers of a layout with S servers, or nil.
local function worker_index(S, rank)
  if S == P then return rank + 1 end
  if rank >= S then return rank - S + 1 end
end
local function n_workers(S) return S == P and P or P - S end

describe("ps values", function()
  for _, S in ipairs(LAYOUTS) do
    for _, mode in ipairs(MODES) do
      it(("equal the sum of every push (S = %d, %s)"):format(S, mode_name(mode)), function()
        -- async sends every push alone; the others coalesce the small keys (not "big")
        local ps = tide.ps.new(world, { servers = S, consistency = mode,
          coalesce = mode == "async" and 0 or nil })
        local W, T = n_workers(S), 5
        ps:init("big", tide.zeros({ 1000 }, "f64"), { lr = 1 })
        ps:init("dense", tide.full({ 3, 2 }, 10, "f64"), { lr = 0.5 })
        ps:init("emb", tide.zeros({ 6, 2 }, "f64"), { lr = 1 })
        ps:init(7, tide.zeros({ 4 }, "f32"), { lr = 1 })
        local w = worker_index(S, me)
        for t = 1, T do
          if w then
            ps:push("dense", tide.full({ 3, 2 }, w, "f64"))
            -- row 2 twice (the two add up), row 5 once: each worth -w per push
            ps:push_rows("emb", tide.tensor({ 2, 5, 2 }, "i64"), tide.full({ 3, 2 }, -w, "f64"))
            ps:push(7, tide.full({ 4 }, -1, "f32"))
            ps:push("big", tide.full({ 1000 }, -t, "f64"))
          end
          ps:clock()
          if w and mode == "bsp" then
            -- every worker's clock-t pushes are in: 10 - 0.5 t (1 + ... + W)
            local sum_w = W * (W + 1) // 2
            assert.equal(10 - 0.5 * t * sum_w, ps:pull("dense"):get(3, 2))
            local rows = ps:pull_rows("emb", tide.tensor({ 5, 1, 2 }, "i32"))
            assert.same({ { t * sum_w, t * sum_w }, { 0, 0 }, { 2 * t * sum_w, 2 * t * sum_w } },
              rows:totable())
            assert.equal(t * W, ps:pull(7, tide.zeros({ 4 }, "f32")):get(4))
          end
        end
        ps:close()
        -- after close the owning server holds every push, whatever the consistency
        local sum_w = W * (W + 1) // 2
        local v, version = ps:server_value("dense")
        if v then
          assert.equal(10 - 0.5 * T * sum_w, v:get(1, 1))
          assert.equal(mode == "bsp" and T or T * W, version)
        end
        v = ps:server_value("emb")
        if v then
          assert.same({ 0, 0 }, v[1]:totable())
          assert.same({ 2 * T * sum_w, 2 * T * sum_w }, v[2]:totable())
          assert.same({ T * sum_w, T * sum_w }, v[5]:totable())
        end
        v = ps:server_value(7)
        if v then assert.equal(T * W, v:get(1)) end
        v = ps:server_value("big")
        if v then assert.equal(W * T * (T + 1) / 2, v:get(1000)) end
      end)
    end
  end
end)

-- Plain-Lua copies of the rules on one number, as the server applies them once per clock in
-- BSP to the sum of the clock's gradients.
local function reference(rule, init, grads, hp)
  local x, v, h = init, nil, 0
  for _, g in ipairs(grads) do
    if rule == "momentum" then
      v = v and hp.momentum * v + g or g
      x = x + (-hp.lr * v)
    elseif rule == "adagrad" then
      h = h + g * g
      x = x + (g / (math.sqrt(h) + hp.eps)) * -hp.lr
    else
      x = x + (-hp.lr * g)
    end
  end
  return x
end

describe("ps rules", function()
  local S = LAYOUTS[1]
  for _, rule in ipairs { "sgd", "momentum", "adagrad" } do
    it(rule .. " matches a plain-Lua copy, dense and by rows", function()
      local ps = tide.ps.new(world, { servers = S })
      local hp = { lr = 0.1, momentum = 0.8, eps = 1e-10 }
      ps:init("x", tide.full({ 4 }, 1, "f64"), { rule = rule, lr = hp.lr, momentum = hp.momentum })
      ps:init("r", tide.full({ 3, 2 }, 1, "f64"), { rule = rule, lr = hp.lr, momentum = hp.momentum })
      local W, w = n_workers(S), worker_index(S, me)
      local grads = {}
      for t = 1, 4 do
        -- worker w pushes t * w; the clock's sum is t * W (W + 1) / 2
        grads[t] = t * W * (W + 1) / 2
        if w then
          ps:push("x", tide.full({ 4 }, t * w, "f64"))
          ps:push_rows("r", tide.tensor({ 3 }, "i64"), tide.full({ 1, 2 }, t * w, "f64"))
        end
        ps:clock()
      end
      if w then
        local want = reference(rule, 1, grads, hp)
        assert.near(want, ps:pull("x"):get(2), 1e-12)
        local r = ps:pull("r")
        assert.near(want, r:get(3, 1), 1e-12)
        assert.equal(1, r:get(1, 1))   -- rows not pushed keep their value and state
      end
      ps:close()
    end)
  end

  for _, coalesce in ipairs { 4096, 0 } do
    it("takes non-contiguous gradients (coalesce = " .. coalesce .. ")", function()
      local ps = tide.ps.new(world, { servers = S, consistency = "async", coalesce = coalesce })
      ps:init("t", tide.zeros({ 3, 2 }, "f64"), { lr = 1 })
      local g = tide.arange(1, 7):to("f64"):reshape({ 2, 3 }):t()   -- g[i][j] = 3 (j - 1) + i
      assert.is_false(g:is_contiguous())
      if worker_index(S, me) then ps:push("t", g) end
      ps:close()
      local v = ps:server_value("t")
      if v then
        local W = n_workers(S)
        assert.same({ { -W, -4 * W }, { -2 * W, -5 * W }, { -3 * W, -6 * W } }, v:totable())
      end
    end)
  end

  it("applies a user's rule", function()
    local ps = tide.ps.new(world, { servers = S, consistency = "async" })
    ps:init("m", tide.zeros({ 2 }, "f64"), { rule = function(value, grad, state)
      state.n = (state.n or 0) + 1
      value:copy_(grad:mul(state.n))   -- the latest gradient times how many came
    end })
    local w = worker_index(S, me)
    if w then ps:push("m", tide.full({ 2 }, 3, "f64")) end
    ps:close()
    local v = ps:server_value("m")
    if v then assert.same({ 3 * n_workers(S), 3 * n_workers(S) }, v:totable()) end
  end)
end)

describe("ps consistency", function()
  it("BSP equals a data-parallel loop bit for bit; SSP(0) equals BSP", function()
    local S = LAYOUTS[1]
    local W, w = n_workers(S), worker_index(S, me)
    local D, T, lr = 257, 6, 0.37
    local function grad(t, k)   -- worker k's gradient at step t: any numbers, the same everywhere
      return tide.randn({ D }, { dtype = "f64", seed = 100 * t + k, stream = 0 })
    end
    local finals = {}
    for _, mode in ipairs { "bsp", { ssp = 0 } } do
      local ps = tide.ps.new(world, { servers = S, consistency = mode })
      ps:init("w", tide.zeros({ D }, "f64"), { lr = lr })
      for t = 1, T do
        if w then ps:push("w", grad(t, w):mul(ps:pull("w"):add(1))) end
        ps:clock()
      end
      finals[#finals + 1] = w and ps:pull("w")
      ps:close()
    end
    if w then
      -- the loop: every worker's gradient from the same w, summed in worker order
      local x = tide.zeros({ D }, "f64")
      for t = 1, T do
        local total = grad(t, 1):mul(x:add(1))
        for k = 2, W do total:add_(grad(t, k):mul(x:add(1))) end
        tide.ps.rules.sgd(x, total, nil, { lr = lr })
      end
      assert.equal(D, finals[1]:eq(x):to("i64"):sum())
      assert.equal(D, finals[2]:eq(finals[1]):to("i64"):sum())
    end
  end)

  for _, s in ipairs { 0, 3 } do
    it(("SSP(%d): no pull older than the bound, and fast workers run ahead"):format(s), function()
      local S = P == 1 and 1 or P - 1 == 1 and 2 or 1
      if n_workers(S) < 2 then
        print("# skipped at " .. P .. " rank(s): SSP needs two workers")
        return
      end
      local ps = tide.ps.new(world, { servers = S, consistency = { ssp = s } })
      local W, w = n_workers(S), worker_index(S, me)
      -- counter[k] = the clocks of worker k applied: each pushes -1 at its own entry per clock
      ps:init("counter", tide.zeros({ W }, "f64"), { lr = 1 })
      local T, lead = 12, 0
      for c = 1, T do
        if w then
          tide.io.sleep(w == W and 0.01 or 0.005)     -- the last worker is 2x slower
          local g = tide.zeros({ W }, "f64")
          g:set_(w, -1)
          ps:push("counter", g)
        end
        ps:clock()
        if w then
          local seen = ps:pull("counter")
          for k = 1, W do
            assert.is_true(seen:get(k) >= c - s,
              ("worker %d at clock %d saw worker %d at %d"):format(w, c, k, seen:get(k)))
            lead = math.max(lead, c - seen:get(k))
          end
        end
      end
      ps:close()
      -- the fast workers ran ahead (one of them at least: the machine is shared), BSP never
      local most = world:allreduce(lead, "max")
      if s > 0 then
        assert.is_true(most >= 1, "no fast worker ever ran ahead of the slow one")
      else
        assert.equal(0, most)
      end
    end)
  end
end)

describe("ps state", function()
  it("is saved and restored by the servers; a changed shape is named", function()
    local S = LAYOUTS[1]
    local dir = world:bcast_obj(me == 0 and os.tmpname() or nil, 0) .. ".ps"
    local ps = tide.ps.new(world, { servers = S })
    ps:init("m", tide.zeros({ 3 }, "f64"), { rule = "momentum", lr = 0.1, momentum = 0.5 })
    ps:init("e", tide.zeros({ 5, 2 }, "f32"), { lr = 1 })
    local function step()
      if ps:is_worker() then
        ps:push("m", tide.ones({ 3 }, "f64"))
        ps:push_rows("e", tide.tensor({ 4 }, "i64"), tide.ones({ 1, 2 }, "f32"))
      end
      ps:clock()
    end
    step()
    step()
    ps:save(dir)
    step()   -- the momentum buffer must come back too for this step to repeat
    local want_m = ps:is_worker() and ps:pull("m") or nil
    local want_e = ps:is_worker() and ps:pull("e") or nil
    ps:close()

    local again = tide.ps.new(world, { servers = S })
    again:init("m", tide.zeros({ 3 }, "f64"), { rule = "momentum", lr = 0.1, momentum = 0.5 })
    again:init("e", tide.zeros({ 5, 2 }, "f32"), { lr = 1 })
    again:load(dir)
    ps = again
    step()
    if ps:is_worker() then
      assert.same(want_m:totable(), ps:pull("m"):totable())
      assert.same(want_e:totable(), ps:pull("e"):totable())
      -- a closed form: -1 per worker and step on row 4, three steps
      assert.equal(-3 * n_workers(S), ps:pull("e"):get(4, 1))
    end
    ps:close()

    local other = tide.ps.new(world, { servers = S })
    other:init("m", tide.zeros({ 4 }, "f64"))
    other:init("e", tide.zeros({ 5, 2 }, "f32"))
    local ok, err = pcall(other.load, other, dir)
    assert.is_false(ok)
    assert.truthy(err:find("ps:load: key 'm' was saved as f64 [3], declared as f64 [4]", 1, true))
    other:close()
    world:barrier()
    if me == 0 then tide.io.remove_tree(dir) end
  end)
end)

describe("ps errors", function()
  local S = LAYOUTS[1]
  it("name the key, the shape and the dtype", function()
    local ps = tide.ps.new(world, { servers = S })
    ps:init("w", tide.zeros({ 4, 3 }, "f64"))
    if ps:is_worker() then
      local ok, err = pcall(ps.push, ps, "w", tide.zeros({ 4, 2 }, "f64"))
      assert.is_false(ok)
      assert.truthy(err:find("ps:push: key 'w' expects a gradient f64 [4, 3], got f64 [4, 2]", 1, true))
      ok, err = pcall(ps.push, ps, "w", tide.zeros({ 4, 3 }, "f32"))
      assert.truthy(err:find("ps:push: key 'w' expects a gradient f64 [4, 3], got f32 [4, 3]", 1, true))
      ok, err = pcall(ps.pull, ps, "v")
      assert.truthy(err:find("ps:pull: unknown key 'v' (declared: w)", 1, true))
      ok, err = pcall(ps.pull, ps, "w", tide.zeros({ 3 }, "f64"))
      assert.truthy(err:find("ps:pull: key 'w' expects out f64 [4, 3], got f64 [3]", 1, true))
      ok, err = pcall(ps.pull_rows, ps, "w", tide.tensor({ 1, 5 }, "i64"))
      assert.truthy(err:find("ps:pull_rows: key 'w' has rows 1..4, got row 5", 1, true))
      ok, err = pcall(ps.push_rows, ps, "w", tide.tensor({ 1 }, "i64"), tide.zeros({ 2, 3 }, "f64"))
      assert.truthy(err:find("ps:push_rows: key 'w' expects gradients f64 [1, 3], got f64 [2, 3]",
        1, true))
      ok, err = pcall(ps.push_rows, ps, "w", tide.tensor({ 1.5 }, "f64"), tide.zeros({ 1, 3 }, "f64"))
      assert.truthy(err:find("ps:push_rows: key 'w': expected the rows as a 1-D integer tensor, "
        .. "got f64 [1]", 1, true))
    else
      local ok, err = pcall(ps.push, ps, "w", tide.zeros({ 4, 3 }, "f64"))
      assert.is_false(ok)
      assert.truthy(err:find("ps:push: rank " .. me .. " is a server only", 1, true))
    end
    local ok, err = pcall(ps.init, ps, "w", tide.zeros({ 1 }))
    assert.truthy(err:find("ps:init: key 'w' is already declared", 1, true))
    ok, err = pcall(ps.init, ps, "u", tide.zeros({ 1 }), { rule = "rmsprop" })
    assert.truthy(err:find('ps:init: rule must be "sgd", "momentum", "adagrad" or a function, '
      .. 'got "rmsprop"', 1, true))
    ok, err = pcall(ps.init, ps, "u", tide.zeros({ 1 }), { lr = -1 })
    assert.truthy(err:find("ps:init: lr must be a number >= 0, got -1", 1, true))
    ps:close()
    ok, err = pcall(ps.clock, ps)
    assert.truthy(err:find("ps:clock: this parameter server is closed", 1, true))
  end)

  it("name bad options of ps.new", function()
    local ok, err = pcall(tide.ps.new, world, { servers = P + 1 })
    assert.is_false(ok)
    assert.truthy(err:find(("ps.new: servers = %d, but the communicator has %d ranks"):format(P + 1, P),
      1, true))
    ok, err = pcall(tide.ps.new, world, { consistency = "eventual" })
    assert.truthy(err:find('ps.new: consistency must be "bsp", "async" or {ssp = s}, got eventual',
      1, true))
    ok, err = pcall(tide.ps.new, world, { consistency = { ssp = -1 } })
    assert.truthy(err:find("ps.new: consistency.ssp must be an integer of at least 0, got -1", 1, true))
    ok, err = pcall(tide.ps.new, world, { server = 1 })
    assert.truthy(err:find("ps.new: unknown option 'server'", 1, true))
  end)
end)
