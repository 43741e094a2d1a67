-- tide.comm_hooks (ddp's compression hooks) under mpirun (1, 2 and 4 ranks), each on small crafted buckets
-- whose every rank's contents every rank can build (bucket_of(r)), so each rank checks the
-- hook's result against a reference computed another way: numpy-free rounding bounds for
-- fp16/bf16/int8, a sort for top-k and its error feedback, and a plain-Lua PowerSGD. Then the
-- bytes counted, f16 collectives, the options' errors, and a short training run per hook.
local tide = require "tide"
local compress = require "tide.comm_hooks"
local nn, optim, data, ddp = tide.nn, tide.optim, tide.data, tide.ddp

local world = tide.world
local N, me = world.size, world.rank

-- Rank r's bucket of n values: distinct magnitudes, mixed signs, deterministic.
local function values_of(r, n, step)
  local v = {}
  for i = 1, n do
    v[i] = math.sin(i * 1.7 + r * 0.37 + (step or 0) * 0.11) * (1 + (i * 7 + r * 3) % 11)
  end
  return v
end

local function mean_of(n, step)
  local m = {}
  for i = 1, n do m[i] = 0 end
  for r = 0, N - 1 do
    for i, x in ipairs(values_of(r, n, step)) do m[i] = m[i] + x / N end
  end
  return m
end

local function run(hook, n, step, ctx, entries)
  ctx = ctx or compress.context(world, entries)
  local out = hook(tide.tensor(values_of(me, n, step)), ctx)
  return out:totable(), ctx
end

describe("compression hooks at " .. N .. " ranks", function()
  local n = 37

  it("fp16 and bf16 average the 16-bit roundings, with half the bytes of an allreduce", function()
    for _, case in ipairs { { "fp16", "f16", 2 ^ -11 }, { "bf16", "bf16", 2 ^ -8 } } do
      local got, ctx = run(compress[case[1]], n)
      local want, exact = {}, mean_of(n)
      for i = 1, n do want[i] = 0 end
      for r = 0, N - 1 do
        local h = tide.tensor(values_of(r, n)):to(case[2]):to("f64"):totable()
        for i = 1, n do want[i] = want[i] + h[i] / N end
      end
      -- the average is rounded to 16 bits once more, on its way back
      for i = 1, n do
        assert(math.abs(got[i] - want[i]) <= case[3] * math.abs(want[i]) * (1 + 1e-5) + 1e-6,
          case[1] .. " sum")
        assert(math.abs(got[i] - exact[i]) <= 24 * case[3], case[1] .. " rounding bound")
      end
      local chunk = -(-n // N)     -- alltoall of N chunks of halves, allgather of one
      assert.are.equal(4 * (N - 1) * chunk, ctx.bytes)
      assert.are.equal(ctx.bytes, 0.5 * compress.allreduce_bytes(chunk * N, "f32", N))
    end
  end)

  it("int8 errs by at most its block's scale / 2 per element and rank (and the average's own rounding)", function()
    -- two halves of whole blocks, the first a hundred times the second: one scale for the
    -- whole bucket would round the second half to nothing, a scale per block keeps it
    local B = compress.INT8_BLOCK
    local m = 2 * B * N           -- N chunks of whole blocks: no padding
    local function block_values(r)
      local v = values_of(r, m)
      for i = 1, m // 2 do v[i] = v[i] * 100 end
      return v
    end
    local exact, amax = {}, { 0, 0 }
    for i = 1, m do exact[i] = 0 end
    local bound = { 0, 0 }
    for r = 0, N - 1 do
      local top = { 0, 0 }
      for i, x in ipairs(block_values(r)) do
        local b = (i - 1) // (m // 2) + 1
        top[b] = math.max(top[b], math.abs(x))
        exact[i] = exact[i] + x / N
      end
      for b = 1, 2 do bound[b] = bound[b] + (top[b] / 127) / 2 / N end
    end
    for i = 1, m do
      local b = (i - 1) // (m // 2) + 1
      amax[b] = math.max(amax[b], math.abs(exact[i]))
    end
    -- the averaged blocks are quantized again, each with its own scale
    for b = 1, 2 do bound[b] = bound[b] + (amax[b] + bound[b]) / 127 / 2 end
    local ctx = compress.context(world)
    local got = compress.int8(tide.tensor(block_values(me)), ctx):totable()
    local small_err = 0
    for i = 1, m do
      local b = (i - 1) // (m // 2) + 1
      assert(math.abs(got[i] - exact[i]) <= bound[b] * (1 + 1e-5), "int8 bound at " .. i)
      if b == 2 then small_err = math.max(small_err, math.abs(got[i] - exact[i])) end
    end
    assert(small_err < amax[1] / 127 / 4, "the small block keeps its own scale")
    local chunk = m // N                -- bytes and a scale per block, each way
    assert.are.equal(2 * (N - 1) * (chunk + 4 * chunk // B), ctx.bytes)
  end)

  it("topk keeps the k largest and carries the rest to the next step", function()
    local ratio = 0.1
    local k = math.ceil(ratio * n)
    local hook, ctx = compress.topk(ratio), compress.context(world)
    -- the reference: each rank's residual, sparsified by a sort
    local residual = {}
    for r = 0, N - 1 do residual[r] = {} for i = 1, n do residual[r][i] = 0 end end
    for step = 1, 3 do
      local got = run(hook, n, step, ctx)
      local want = {}
      for i = 1, n do want[i] = 0 end
      for r = 0, N - 1 do
        local acc, order = {}, {}
        for i, x in ipairs(values_of(r, n, step)) do
          acc[i] = tide.tensor({ x + residual[r][i] }):get(1)    -- f32, as the bucket
          order[i] = i
        end
        table.sort(order, function(a, b) return math.abs(acc[a]) > math.abs(acc[b]) end)
        for j = 1, k do
          want[order[j]] = want[order[j]] + acc[order[j]] / N
          acc[order[j]] = 0
        end
        residual[r] = acc
      end
      for i = 1, n do
        assert(math.abs(got[i] - want[i]) <= 1e-5, ("step %d element %d"):format(step, i))
      end
    end
    assert.are.equal(3 * (N - 1) * 8 * k, ctx.bytes)   -- indices and values, allgathered
  end)

  it("topk with momentum correction and warm-up equals a plain-Lua DGC over four steps", function()
    local ratio, m, warmup = 0.05, 0.9, 3
    local hook = compress.topk(ratio, { momentum = m, warmup = warmup })
    local ctx = compress.context(world)
    -- the reference (Lin et al. 2018): u = m u + g, v = v + u, send the top-k of v, clear u
    -- and v where sent; k from a ratio falling geometrically from 25% to 5% over 3 steps
    local u, v = {}, {}
    for r = 0, N - 1 do
      u[r], v[r] = {}, {}
      for i = 1, n do u[r][i], v[r][i] = 0, 0 end
    end
    local f32 = function(x) return tide.tensor({ x }):get(1) end
    for step = 1, 4 do
      local now = step - 1 >= warmup and ratio or 0.25 * (ratio / 0.25) ^ ((step - 1) / warmup)
      local k = math.ceil(now * n)
      local got = run(hook, n, step, ctx)
      local want = {}
      for i = 1, n do want[i] = 0 end
      for r = 0, N - 1 do
        local order = {}
        for i, g in ipairs(values_of(r, n, step)) do
          u[r][i] = f32(m * u[r][i] + f32(g))
          v[r][i] = f32(v[r][i] + u[r][i])
          order[i] = i
        end
        table.sort(order, function(a, b) return math.abs(v[r][a]) > math.abs(v[r][b]) end)
        for j = 1, k do
          local i = order[j]
          want[i] = want[i] + v[r][i] / N
          u[r][i], v[r][i] = 0, 0
        end
      end
      for i = 1, n do
        assert(math.abs(got[i] - want[i]) <= 1e-4 * (1 + math.abs(want[i])),
          ("step %d element %d: %g, want %g"):format(step, i, got[i], want[i]))
      end
    end
    assert.are.equal(compress.topk_ratio(ratio, warmup, 0), 0.25)
    assert.are.equal(compress.topk_ratio(ratio, warmup, warmup), ratio)
  end)

  it("powersgd equals a plain-Lua PowerSGD over three steps (error feedback, warm start)", function()
    local R, rows, cols = 2, 6, 5
    local entries = { { offset = 0, shape = { rows, cols } }, { offset = 30, shape = { 3 } } }
    local n2 = 33
    local hook, ctx = compress.powersgd(R, 7), compress.context(world, entries)
    -- the reference, on tables: matrices as rows of numbers
    local function matmul(a, b)
      local c = {}
      for i = 1, #a do
        c[i] = {}
        for j = 1, #b[1] do
          local s = 0
          for l = 1, #b do s = s + a[i][l] * b[l][j] end
          c[i][j] = s
        end
      end
      return c
    end
    local function transpose(a)
      local t = {}
      for j = 1, #a[1] do t[j] = {} for i = 1, #a do t[j][i] = a[i][j] end end
      return t
    end
    local q = tide.randn({ cols, R }, { seed = 7 + 1, same_on_all_ranks = true }):totable()
    local err = {}
    for r = 0, N - 1 do
      err[r] = {}
      for i = 1, rows do err[r][i] = {} for j = 1, cols do err[r][i][j] = 0 end end
    end
    for step = 1, 3 do
      local got = run(hook, n2, step, ctx)
      local ms, psum = {}, {}
      for i = 1, rows do psum[i] = {} for j = 1, R do psum[i][j] = 0 end end
      for r = 0, N - 1 do
        local v, m = values_of(r, n2, step), {}
        for i = 1, rows do
          m[i] = {}
          for j = 1, cols do m[i][j] = v[(i - 1) * cols + j] + err[r][i][j] end
        end
        ms[r] = m
        local p = matmul(m, q)
        for i = 1, rows do for j = 1, R do psum[i][j] = psum[i][j] + p[i][j] end end
      end
      for j = 1, R do                                   -- Gram-Schmidt on the columns
        for l = 1, j - 1 do
          local dot = 0
          for i = 1, rows do dot = dot + psum[i][l] * psum[i][j] end
          for i = 1, rows do psum[i][j] = psum[i][j] - dot * psum[i][l] end
        end
        local norm = 0
        for i = 1, rows do norm = norm + psum[i][j] ^ 2 end
        for i = 1, rows do psum[i][j] = psum[i][j] / math.sqrt(norm) end
      end
      local qavg = {}
      for i = 1, cols do qavg[i] = {} for j = 1, R do qavg[i][j] = 0 end end
      for r = 0, N - 1 do
        local qr = matmul(transpose(ms[r]), psum)
        for i = 1, cols do for j = 1, R do qavg[i][j] = qavg[i][j] + qr[i][j] / N end end
      end
      local approx = matmul(psum, transpose(qavg))
      for r = 0, N - 1 do
        for i = 1, rows do for j = 1, cols do err[r][i][j] = ms[r][i][j] - approx[i][j] end end
      end
      q = qavg
      local mean = mean_of(n2, step)
      for i = 1, rows do
        for j = 1, cols do
          local g = got[(i - 1) * cols + j]
          assert(math.abs(g - approx[i][j]) <= 1e-3 * (1 + math.abs(approx[i][j])),
            ("step %d M[%d][%d]: %g, reference %g"):format(step, i, j, g, approx[i][j]))
        end
      end
      for i = 31, 33 do assert(math.abs(got[i] - mean[i]) <= 1e-5, "uncompressed tail") end
    end
    local want = 3 * compress.allreduce_bytes((rows + cols) * R + 3, "f32", N)
    assert(math.abs(want - ctx.bytes) < 1e-9, ("bytes %g, expected %g"):format(ctx.bytes, want))
  end)

  it("f16 tensors move through collectives; reductions on them are refused", function()
    local h = tide.tensor({ me + 0.5, -1e-7, 65504 }):to("f16")
    local all = world:allgather(h)
    assert.are.equal("f16", all:dtype())
    for r = 0, N - 1 do assert.are.equal(r + 0.5, all:get(3 * r + 1)) end
    assert.are.equal(h:get(2), all:get(2))
    local b = world:broadcast(h:clone(), 0)
    assert.are.equal(0.5, b:get(1))
    local ok, err = pcall(world.allreduce, world, h, "sum")
    assert.is_false(ok)
    assert.truthy(err:find("allreduce: f16 is a storage dtype: convert with :to('f32') first",
      1, true))
  end)
end)

describe("ddp.wrap with compress", function()
  local function net() return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)) end

  it("refuses bad options with clear messages", function()
    assert.has_error(function() ddp.wrap(net(), world, { compress = "zip" }) end,
      'ddp.wrap: compress must be "fp16", "bf16", "int8", "topk" or "powersgd", got zip')
    assert.has_error(function() ddp.wrap(net(), world, { compress = "topk", ratio = 2 }) end,
      "ddp.wrap: ratio must be in (0, 1], got 2")
    assert.has_error(function() ddp.wrap(net(), world, { compress = "fp16", rank = 4 }) end,
      "ddp.wrap: rank is an option of powersgd, not of fp16")
    assert.has_error(function() ddp.wrap(net(), world, { compress = "fp16", momentum = 0.9 }) end,
      "ddp.wrap: momentum is an option of topk, not of fp16")
    assert.has_error(function() ddp.wrap(net(), world, { compress = "topk", momentum = 1 }) end,
      "ddp.wrap: momentum must be in [0, 1), got 1")
    assert.has_error(function() ddp.wrap(net(), world, { compress = "topk", warmup = -1 }) end,
      "ddp.wrap: warmup must be an integer of at least 0, got -1")
    assert.has_error(function() ddp.wrap(net(), world, { ratio = 0.1 }) end,
      "ddp.wrap: ratio, rank, momentum and warmup are options of compress, which is not given")
    local m = ddp.wrap(net(), world, { compress = function() return 1 end })
    local x = tide.ones({ 2, 8 })
    m:zero_grad()
    local out = m:forward(x)
    assert.has_error(function() m:backward(x, out) end,
      "ddp: the compress hook must return the averaged bucket (a tensor of 195 elements), " ..
      "got number")
  end)

  it("train_mnist refuses --dgc without topk, or other than on or off, and --checkpoint with a "
    .. "hook that keeps state", function()
    if me ~= 0 then return end                 -- one process is enough: the flags fail first
    local proc = require "support.proc"
    local exe = os.getenv("TIDE_EXE") or "tide"
    local script = (os.getenv("TIDE_SOURCE_DIR") or ".") .. "/examples/train_mnist.lua"
    for _, c in ipairs { { "--compress fp16 --dgc on", "with --compress topk, got 'on'" },
                         { "--compress topk --dgc yes", "with --compress topk, got 'yes'" } } do
      local out, code = proc.run(("%s %s %s"):format(exe, proc.quote(script), c[1]))
      assert.are_not.equal(0, code)
      assert.truthy(out:find("train_mnist: --dgc expects on or off, " .. c[2], 1, true), out)
    end
    for _, hook in ipairs { "topk", "powersgd" } do
      local out, code = proc.run(("%s %s --compress %s --checkpoint /nonexistent"):format(exe,
        proc.quote(script), hook))
      assert.are_not.equal(0, code)
      assert.truthy(out:find(("train_mnist: --checkpoint does not go with --compress %s (its "
        .. "per-rank residuals are not saved)"):format(hook), 1, true), out)
    end
  end)

  it("runs the hook among node leaders on their node's share when hierarchical", function()
    local node = world:split_node()
    local nodes = world:allreduce(node.rank == 0 and 1 or 0)
    local sizes = {}
    local function mean_hook(bucket, ctx)
      sizes[#sizes + 1] = ctx.size
      return ctx:allreduce(bucket:clone()):mul_(1 / ctx.size)
    end
    local flat = ddp.wrap(net(), world, { hierarchical = false })
    local hier = ddp.wrap(net(), world, { hierarchical = true, compress = mean_hook })
    hier:load_state(flat:state())
    local x = tide.tensor(values_of(me, 32)):view({ 4, 8 })
    for _, m in ipairs { flat, hier } do
      m:zero_grad()
      m:backward(x, m:forward(x))
    end
    local _, gf = flat:parameters()
    local _, gh = hier:parameters()
    for i = 1, #gf do
      local d = (gf[i] - gh[i]):abs():max()
      assert(d < 1e-6, "gradient " .. i .. " differs from the flat mean by " .. d)
    end
    -- only the leaders run the hook, over one rank a node; the others send nothing
    assert.are.same(node.rank == 0 and { nodes } or {}, sizes)
    if node.rank ~= 0 then assert.are.equal(0, hier.compress_stats.bytes) end
  end)

  it("records each hook call as a tide.trace span", function()
    local path = world:bcast_obj(me == 0 and os.tmpname() or nil, 0)
    tide.trace.start(path)
    local m = ddp.wrap(net(), world, { compress = "int8" })
    local x = tide.ones({ 2, 8 })
    m:zero_grad()
    m:backward(x, m:forward(x))
    tide.trace.stop()
    if me == 0 then
      local f = assert(io.open(path))
      local text = f:read("a")
      f:close()
      os.remove(path)
      local _, spans = text:gsub('"compress%.int8"', "")
      assert.are.equal(N, spans)             -- one bucket, one span per rank
    end
  end)

  -- A short run of each hook against uncompressed training on a synthetic task hard enough to
  -- stay below 100% (0.865 uncompressed). Measured at 1, 2 and 4 ranks: fp16, bf16 and int8
  -- within 0.002 of uncompressed, topk (10%) within 0.004, powersgd (rank 2) within 0.006; the
  -- bars are four to five times that.
  it("each hook trains a small MLP to the accuracy of uncompressed training", function()
    local set = data.synthetic_classification { n = 512, d = 8, classes = 3, seed = 5,
      separation = 0.7 }
    local function train(opts)
      tide.manual_seed(2)
      local model = ddp.wrap(net(), world, opts)
      local opt, crit = optim.SGD(model, { lr = 0.1, momentum = 0.9 }), nn.CrossEntropyLoss()
      local B = 32
      for _ = 1, 3 do
        for k = 0, 512 // B - 1 do
          local b = B // N
          local x = set.x:narrow(1, k * B + me * b + 1, b)
          local y = set.y:narrow(1, k * B + me * b + 1, b)
          model:zero_grad()
          local out = model:forward(x)
          crit:forward(out, y)
          model:backward(x, crit:backward(out, y), { input_grad = false })
          opt:step()
        end
      end
      local pred = model:forward(set.x):argmax(2)
      return pred:eq(set.y):to("f64"):mean(), model
    end
    local base = train(nil)
    assert(base > 0.8 and base < 0.95, "uncompressed accuracy " .. base)
    for _, c in ipairs { { "fp16", bar = 0.01 }, { "bf16", bar = 0.01 }, { "int8", bar = 0.01 },
                         { "topk", ratio = 0.1, bar = 0.02 }, { "powersgd", rank = 2, bar = 0.025 } } do
      local acc, model = train { compress = c[1], ratio = c.ratio, rank = c.rank }
      assert(math.abs(acc - base) <= c.bar, ("%s: accuracy %.3f, uncompressed %.3f"):format(
        c[1], acc, base))
      local s = model.compress_stats
      assert.are.equal(3 * 16, s.steps)
      assert.is_true((N == 1 or s.bytes < s.raw_bytes) and s.compute_s >= 0)
    end
  end)
end)
