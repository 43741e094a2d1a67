-- tide.compress.quantize: dynamic int8 quantization for inference, as PyTorch's
-- torch.ao.quantization.quantize_dynamic does for Linear layers.
--
-- Each nn.Linear becomes a compress.QuantizedLinear: its weight quantized once to int8 per
-- output channel (symmetric, scale = max|row| / 127), its bias kept in f32. At every forward
-- the input rows are quantized to int8 the same way, the product runs in int8 with int32 sums
-- (core/nn/qgemm.c: AVX-512 VNNI, AVX2 or portable C, the best the CPU has) and is scaled back
-- to f32. Every other module is shared with the original model, unchanged (f32). The quantized
-- model is for inference: its backward is an error, and it has no parameters to train.
local tide = require "tide"
local args = require "tide.args"
local nn = require "tide.nn"

local K = tide._internal.kernels
local M = {}

local QLinear = nn.class("compress.QuantizedLinear")
M.QuantizedLinear_class = QLinear

local function quantized_linear(lin, path)
  local q, scale = K.quantize_rows(lin.weight:to("f32"):contiguous())
  return setmetatable({ n_in = lin.n_in, n_out = lin.n_out, q = q, scale = scale,
    packed = K.qgemm_pack(q),       -- the VNNI path's layout, made once
    bias = lin.bias and lin.bias:to("f32"):contiguous(), path = path, training = false,
    _params = {} }, QLinear)
end

function QLinear:describe()
  return ("compress.QuantizedLinear(%d -> %d, int8)"):format(self.n_in, self.n_out)
end

function QLinear:forward(x)
  if not tide.is_tensor(x) or x:dim() ~= 2 or x:dtype() ~= "f32" then
    error(("compress.QuantizedLinear: expected a batch x %d f32 input, got %s"):format(
      self.n_in, tide.is_tensor(x) and args.tensor_desc(x) or type(x)), 2)
  end
  if x:size(2) ~= self.n_in then
    error(("compress.QuantizedLinear: expected input of width %d, got %d"):format(self.n_in,
      x:size(2)), 2)
  end
  self.output = K.qlinear(x:contiguous(), self.q, self.scale, self.bias, self.packed, self.path)
  return self.output
end

function QLinear:backward()
  error("compress.QuantizedLinear: a quantized model is for inference and has no gradients " ..
    "(train the f32 model, then quantize it again)", 2)
end

-- The quantized twin of module m: containers rebuilt, Linear layers quantized, the rest shared.
local function convert(m, path)
  if getmetatable(m) == nn.Linear_class then return quantized_linear(m, path) end
  if m.modules then
    local copy = {}
    for k, v in pairs(m) do copy[k] = v end
    copy.modules, copy._inputs, copy.output, copy.grad_input = {}, nil, nil, nil
    for i, child in ipairs(m.modules) do copy.modules[i] = convert(child, path) end
    return setmetatable(copy, getmetatable(m))
  end
  return m
end

-- quantize(model, {path = "auto"}) -> a new model for inference. path forces a kernel:
-- "portable", "avx2" or "avx512-vnni" (an error when the CPU lacks it).
function M.quantize(model, opts)
  local where = "compress.quantize"
  opts = args.check_opts(opts, { path = true }, where)
  local paths = K.qgemm_paths()
  local path = opts.path or "auto"
  local ok = path == "auto"
  for _, p in ipairs(paths) do ok = ok or p == path end
  if not ok then
    error(("%s: path must be \"auto\" or one this CPU runs (%s), got %s"):format(where,
      table.concat(paths, ", "), tostring(path)), 2)
  end
  if type(model) ~= "table" or type(model.forward) ~= "function" then
    error(where .. ": expected a module, got " .. type(model), 2)
  end
  local found = false
  for _, m in ipairs(type(model._leaves) == "function" and model:_leaves() or {}) do
    found = found or getmetatable(m) == nn.Linear_class
  end
  if not found then
    error(where .. ": expected a model with nn.Linear layers, got " ..
      tostring(getmetatable(model) and getmetatable(model).__name or type(model)), 2)
  end
  local q = convert(model, path)
  q:evaluate()
  return q
end

-- The kernel paths this CPU runs, and the one "auto" takes.
function M.paths()
  return K.qgemm_paths()
end

return M
