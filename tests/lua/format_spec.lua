-- tostring(t): Torch7's layout, its number formats, elision of large tensors.
local tide = require "tide"

local function lines(...)
  return table.concat({ ... }, "\n")
end

describe("tostring of a tensor", function()
  it("prints a 1-D tensor as a column, then its type and size", function()
    assert.are.equal(lines(" 1", " 2", " 3", "[f32 tensor of size 3]"),
      tostring(tide.tensor { 1, 2, 3 }))
    assert.are.equal(lines(" 0.5000", " 0.2500", "-1.0000", "[f64 tensor of size 3]"),
      tostring(tide.tensor({ 0.5, 0.25, -1 }, "f64")))
  end)

  it("prints a matrix as rows", function()
    assert.are.equal(lines(" 1  2  3", " 4  5  6", "[f32 tensor of size 2x3]"),
      tostring(tide.tensor { { 1, 2, 3 }, { 4, 5, 6 } }))
    assert.are.equal(lines(" 12.5000   1.2500", "  0.0000  -3.7500", "[f32 tensor of size 2x2]"),
      tostring(tide.tensor { { 12.5, 1.25 }, { 0, -3.75 } }))
  end)

  it("prints more dims as Torch7's (i,.,.) slices", function()
    assert.are.equal(lines("(1,.,.) = ", "  1  1", "  1  1", "",
      "(2,.,.) = ", "  1  1", "  1  1", "[f32 tensor of size 2x2x2]"),
      tostring(tide.ones(2, 2, 2)))
    assert.are.equal(lines("(1,1,.,.) = ", "  1  2", "",
      "(1,2,.,.) = ", "  3  4", "[i32 tensor of size 1x2x1x2]"),
      tostring(tide.tensor({ { { { 1, 2 } }, { { 3, 4 } } } }, "i32")))
  end)

  it("prints integer dtypes exactly, aligned", function()
    local big = tide.tensor({ 2 ^ 53, -3 }, "i64")
    big[1] = math.tointeger(2 ^ 53) + 1
    assert.are.equal(lines(" 9007199254740993", "               -3", "[i64 tensor of size 2]"),
      tostring(big))
    assert.are.equal(lines("   0  255", "[u8 tensor of size 1x2]"),
      tostring(tide.tensor({ { 0, 255 } }, "u8")))
    assert.are.equal(lines("   1  -20", "   3    4", "[i32 tensor of size 2x2]"),
      tostring(tide.tensor({ { 1, -20 }, { 3, 4 } }, "i32")))
  end)

  it("chooses a common scale or exponent format for floats", function()
    assert.are.equal(lines("0.001 *", " 1.0000", " 2.5000", "[f64 tensor of size 2]"),
      tostring(tide.tensor({ 0.001, 0.0025 }, "f64")))
    assert.are.equal(lines("0.001 *", "  1.0000  2.5000", "[f64 tensor of size 1x2]"),
      tostring(tide.tensor({ { 0.001, 0.0025 } }, "f64")))
    assert.are.equal(lines("1e+06 *", " 1.2345", " 0.5000", "[f64 tensor of size 2]"),
      tostring(tide.tensor({ 1234500.5, 500000.25 }, "f64")))
    assert.are.equal(lines(" 1.0000e-03", " 1.0050e+02", "[f64 tensor of size 2]"),
      tostring(tide.tensor({ 0.001, 100.5 }, "f64")))
    assert.are.equal(lines(" 1.0000e+10", " 2.0000e+00", "[f64 tensor of size 2]"),
      tostring(tide.tensor({ 1e10, 2 }, "f64")))
    assert.are.equal(lines(" 1.5000", "    nan", "   -inf", "[f64 tensor of size 3]"),
      tostring(tide.tensor({ 1.5, 0 / 0, -1 / 0 }, "f64")))
  end)

  it("prints scalars, empty and closed tensors", function()
    assert.are.equal(lines(" 3.5000", "[f32 scalar tensor]"), tostring(tide.tensor(3.5)))
    assert.are.equal("[f32 tensor of size 0x3]", tostring(tide.zeros { 0, 3 }))
    local t = tide.zeros(2)
    t:close()
    assert.are.equal("[closed tensor]", tostring(t))
  end)

  it("splits wide matrices into column blocks as Torch7 does", function()
    local row26, row4 = string.rep(" 1", 26, " "), string.rep(" 1", 4, " ")
    assert.are.equal(lines("Columns 1 to 26", row26, row26, "", "Columns 27 to 30", row4, row4,
      "[f32 tensor of size 2x30]"), tostring(tide.ones(2, 30)))
  end)

  it("elides the middle of tensors over 1000 elements", function()
    assert.are.equal(lines("    0", "    1", "    2", "  ...", " 1997", " 1998", " 1999",
      "[i64 tensor of size 2000]"), tostring(tide.arange(2000)))
    assert.are.equal(lines(
      "    0     1     2   ...   140   141   142",
      "  143   144   145   ...   283   284   285",
      "  286   287   288   ...   426   427   428",
      "  ...",
      "  572   573   574   ...   712   713   714",
      "  715   716   717   ...   855   856   857",
      "  858   859   860   ...   998   999  1000",
      "[i64 tensor of size 7x143]"), tostring(tide.arange(1001):view(7, 143)))
    local s = tostring(tide.arange(8 * 2 * 70):view(8, 2, 70))
    local heads = {}
    for h in s:gmatch("%((%d+),%.,%.%) = \n") do
      heads[#heads + 1] = tonumber(h)
    end
    assert.are.same({ 1, 2, 3, 6, 7, 8 }, heads)
    assert.is_truthy(s:find("\n\n...\n\n(6,.,.) = \n", 1, true))
    assert.is_truthy(s:find("(8,.,.) = \n   980   981   982   ...  1047  1048  1049\n"
      .. "  1050  1051  1052   ...  1117  1118  1119\n[", 1, true))
    assert.are.equal("[i64 tensor of size 8x2x70]", s:match("[^\n]*$"))
  end)
end)
