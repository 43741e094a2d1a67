-- The reference figures peers computed for the specs (tests/data/*.json, each written by a
-- script in tests/bench/), read from ctest's working directory (build/).
local cjson = require "cjson"

local M = {}

-- The decoded contents of tests/data/<name>.
function M.read(name)
  local f = assert(io.open("../tests/data/" .. name))
  local ref = cjson.decode(f:read("a"))
  f:close()
  return ref
end

return M
