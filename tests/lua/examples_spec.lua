-- The example job scripts keep working and print what they compute: each runs on 2 ranks with
-- small sizes, and its output lines are checked against closed forms for those sizes.
-- (train_mnist.lua is run by train_spec, hello.lua by host_spec, the embedding example by its
-- own ctest.)
local proc = require "support.proc"

local source = os.getenv("TIDE_SOURCE_DIR") or "."
local exe = os.getenv("TIDE_EXE") or "build/tide"
local P = 2

local function run(script, flags)
  return proc.run(("%s run -n %d %s %s"):format(proc.quote(exe), P,
    proc.quote(source .. "/examples/" .. script), flags))
end

local function lines_of(out)
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

-- The line that starts with prefix (after trimming its padding), or an error naming it.
local function line_starting(out, prefix)
  for _, line in ipairs(lines_of(out)) do
    if line:sub(1, #prefix) == prefix then return line end
  end
  error(("no line starting %q in:\n%s"):format(prefix, out), 2)
end

-- The numbers of every table row named name (placement.lua pads names to 24 columns; numbers
-- may end in %), in output order.
local function rows_named(out, name)
  local found = {}
  for _, line in ipairs(lines_of(out)) do
    if line:sub(1, 24):match("^(.-)%s*$") == name and #line > 24 then
      local nums = {}
      for v in line:sub(25):gmatch("[%d.]+") do nums[#nums + 1] = tonumber(v) end
      found[#found + 1] = nums
    end
  end
  assert(#found > 0, ("no row named %q in:\n%s"):format(name, out))
  return found
end
local function row(out, name) return rows_named(out, name)[1] end
local function last_row(out, name) local r = rows_named(out, name) return r[#r] end

-- Block layout of n rows over p ranks: the 0-based owner of global row i.
local function block_owner(i, n, p)
  local q, rem = n // p, n % p
  local cut = rem * (q + 1)
  return i < cut and i // (q + 1) or rem + (i - cut) // q
end

describe("examples", function()
  it("collectives.lua prints each collective's closed form", function()
    local rows = 3
    local out, code = run("collectives.lua", "--rows " .. rows)
    assert.are.equal(0, code, out)
    local sum = P * (P + 1) // 2                         -- rank r contributes r + 1
    local evens = (P + 1) // 2
    local from_rank0 = {}                                -- alltoallv: rank s sends (s % 2) + 1 to rank 0
    local received = 0
    for s = 0, P - 1 do
      from_rank0[#from_rank0 + 1] = s % 2 + 1
      received = received + s % 2 + 1
    end
    local want = {
      ("%d ranks"):format(P),
      ("allreduce sum  -> %s"):format(table.concat({ sum .. ".0", sum .. ".0", sum .. ".0" }, " ")),
      ("allreduce max  -> %d"):format(P - 1),
      ("allreduce avg  -> %g"):format((P + 1) / 2),
      ("broadcast      -> 0, reduce on rank 0 -> %d"):format(P * (P - 1) // 2),
      ("allgather      -> %d rows from ranks holding 1..%d rows"):format(sum, P),
      ("scatter 5 rows -> rank 0 got %d"):format(5 // P + (5 % P > 0 and 1 or 0)),
      ("reduce_scatter -> 2x3 of %d"):format(P),
      ("alltoallv      -> rank 0 received %d rows (%s per rank)"):format(received,
        table.concat(from_rank0, ",")),
      ("ring           -> rank 0 got %dx2 from rank %d (tag 7)"):format(rows, P - 1),
      ("iallreduce     -> %d (busy work %d)"):format(P, 1000 * 1001 // 2),
      "bcast_obj      -> lr 0.01, 2 layers; allgather_obj -> rank-0 rank-1",
      ("split          -> rank 0 is rank 0 of %d evens; %d ranks on this node"):format(evens, P),
    }
    local got = lines_of(out)
    for i, line in ipairs(want) do
      assert.are.equal(line, got[i], out)
    end
  end)

  it("placement.lua: block stays, cyclic and growth move what the layouts say, bounds hold", function()
    local keys = 20000
    local out, code = run("placement.lua", ("--keys %d --domain 5000 --cols 4"):format(keys))
    assert.are.equal(0, code, out)
    assert.truthy(line_starting(out, ("%d Zipf(1.10) keys over 5000 distinct values"):format(keys)))
    -- part 1: rows start in the block layout; block keeps them, cyclic sends row i to i % P
    local cyclic_moves = 0
    for i = 0, keys - 1 do
      if block_owner(i, keys, P) ~= i % P then cyclic_moves = cyclic_moves + 1 end
    end
    assert.are.same({ 1.0, 0, 0.0 }, { table.unpack(row(out, "block"), 1, 3) })
    local cyc = row(out, "cyclic")
    assert.are.equal(1.0, cyc[1])
    assert.are.equal(cyclic_moves, cyc[2])
    local bounded = row(out, "consistent_hash c=1.25")
    assert.is_true(bounded[1] >= 1 and bounded[1] <= 1.25, "imbalance " .. bounded[1])
    -- part 2: from 4 to 5 ranks over all the keys, by position for block and cyclic
    assert.truthy(line_starting(out, "growing from 4 to 5 ranks: keys that change rank (ideal: 1/5 = 20.0%)"))
    local block_moves, cyclic_grow = 0, 0
    for i = 0, keys - 1 do
      if block_owner(i, keys, 4) ~= block_owner(i, keys, 5) then block_moves = block_moves + 1 end
      if i % 4 ~= i % 5 then cyclic_grow = cyclic_grow + 1 end
    end
    -- the growth table follows part 1's: its rows are the last ones of each name
    local gb, gc = last_row(out, "block"), last_row(out, "cyclic")
    assert.are.equal(block_moves, gb[1])              -- 10000 of 20000
    assert.are.equal(100 * block_moves / keys, gb[2])
    assert.are.equal(cyclic_grow, gc[1])              -- i % 4 = i % 5 for 4 residues of 20
    assert.are.equal(keys - keys * 4 // 20, gc[1])
    -- consistent hashing moves few keys where hash-mod moves most
    local ch, hm = last_row(out, "consistent_hash"), last_row(out, "hash")
    assert.is_true(ch[2] < 35 and hm[2] > 60, ("consistent %.1f%%, hash %.1f%%"):format(ch[2], hm[2]))
    local gbounded = last_row(out, "consistent_hash c=1.25")
    assert.is_true(gbounded[3] <= 1.25, "imbalance@5 " .. gbounded[3])
  end)

  it("kmeans.lua finds the blobs: inertia near sigma^2 d (n - k), centres near the truth", function()
    local n, d, k = 20000, 8, 4
    local out, code = run("kmeans.lua", ("--n %d --d %d --k %d --iters 10"):format(n, d, k))
    assert.are.equal(0, code, out)
    -- std 1 blobs, each found by one centre: E[inertia] = d (n - k), relative spread
    -- sqrt(2 / (n d)) = 0.35%
    local inertia = tonumber(line_starting(out, "final inertia "):match("([%d.e+-]+)$"))
    assert(math.abs(inertia / (d * (n - k)) - 1) < 0.02,
      ("inertia %g, expected %g within 2%%"):format(inertia, d * (n - k)))
    -- a centre found from n / k = 5000 points of std 1 in 8 dims is off by about
    -- sqrt(d k / n) = 0.04
    local worst = tonumber(line_starting(out, "true centres: the farthest is "):match("is ([%d.]+)"))
    assert(worst < 0.2, ("a true centre is %g from every centre found"):format(worst))
  end)

  it("summa.lua multiplies by SUMMA: sum(C) = (1'A)(B1), C = A@B to f64 rounding", function()
    local out, code = run("summa.lua", "--m 301 --k 211 --n 97 --mb 16 --nb 24")
    assert.are.equal(0, code, out)
    assert.truthy(line_starting(out, "summa 301x211 @ 211x97 on a 1x2 grid, blocks 16x24: "))
    local s, want = line_starting(out, "sum(C) = "):match("sum%(C%) = (%S+), %(1'A%)%(B1%) = (%S+)")
    assert.is_true(math.abs(tonumber(s) - tonumber(want)) <= 1e-11 * math.abs(tonumber(want)) + 1e-9)
    local diff = tonumber(line_starting(out, "max |C - A@B| = "):match("= (%S+)$"))
    assert.is_true(diff <= 1e-11, out)
  end)

  it("logreg.lua reaches the optimum: mean probabilities equal the label shares", function()
    for _, classes in ipairs({ 2, 3 }) do
      local out, code = run("logreg.lua", "--n 6000 --d 6 --classes " .. classes)
      assert.are.equal(0, code, out)
      assert.truthy(line_starting(out, ("logreg 6000 x 6, %d classes, lbfgs on 2 ranks: "):format(classes)))
      local acc = tonumber(line_starting(out, "loss "):match("accuracy (%S+)$"))
      assert.is_true(acc > 0.6 and acc <= 1, out)
      -- the intercept's gradient is the difference; tol 1e-8 on the gradient bounds it
      local worst = tonumber(line_starting(out, "mean predicted probability vs label share"):match(": (%S+)$"))
      assert.is_true(worst <= 1e-7, out)
    end
  end)

  it("als.lua lowers the held-out RMSE and recommends only unrated items", function()
    local out, code = run("als.lua", "--users 200 --items 120 --density 0.2 --true_rank 3 "
      .. "--rank 3 --iters 6 --top 4")
    assert.are.equal(0, code, out)
    assert.truthy(line_starting(out, "als 200 users x 120 items, "):find("rank 3, explicit, on 2 ranks", 1, true))
    local first = tonumber(line_starting(out, "iteration  1"):match("RMSE (%S+)"))
    local last = tonumber(line_starting(out, "iteration  6"):match("RMSE (%S+)"))
    assert.is_true(last < first and last < 0.2, out)
    local ids = {}
    for id in line_starting(out, "top 4 for user 1"):match(": (.*)$"):gmatch("%d+") do
      ids[#ids + 1] = tonumber(id)
    end
    assert.are.equal(4, #ids)
    -- user 1's rated items, from the same draws
    local train = require("tide.recommend").synthetic { n_users = 200, n_items = 120,
      density = 0.2, rank = 3, seed = 1 }
    local rated = train.items:masked_select(train.users:eq(1)):totable()
    for _, id in ipairs(ids) do
      for _, r in ipairs(rated) do assert.are_not.equal(r, id) end
    end
  end)

  it("cross_validation.lua imputes every hole and spreads its folds over the ranks", function()
    local n, k = 1000, 4
    local out, code = run("cross_validation.lua", ("--n %d --k %d"):format(n, k))
    assert.are.equal(0, code, out)
    assert.truthy(line_starting(out, "imputed "):find("(0 left)", 1, true))
    for f = 1, k do
      local rank, rows = line_starting(out, ("fold %d on rank "):format(f)):match("rank (%d+): (%d+) test rows")
      assert.are.equal((f - 1) % P, tonumber(rank))
      assert.are.equal(n // k, tonumber(rows))
    end
    assert.truthy(line_starting(out, ("folds test %d rows in all (n = %d)"):format(n, n)))
  end)
end)
