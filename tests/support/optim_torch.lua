-- torch.optim's numbers for the optimizer and schedule specs: tests/data/optim_torch.json,
-- written by tests/bench/optim_torch.py (torch is not needed to read it).
local dir = os.getenv("TIDE_SOURCE_DIR") or ".."     -- ctest runs in build/
local f = assert(io.open(dir .. "/tests/data/optim_torch.json"))
local t = require("cjson").decode(f:read("a"))
f:close()
return t
