-- tide.nn.GCNConv: the graph convolution of Kipf and Welling (ICLR 2017) on a tide.graph.
--
--   local conv = nn.GCNConv(in, out, {bias = true, dtype = "f32"})
--   local y = conv:forward(x, g)        -- x: this rank's rows (g.nlocal x in), y: g.nlocal x out
--   local gx = conv:backward(x, gy)     -- on the graph of the last forward
--
-- y = Â (x W^T) + b with Â = D^-1/2 (A + I) D^-1/2 (g:propagate): the product by W runs first,
-- so the halo exchange carries `out` columns, not `in`. W (out x in) is a bias-free nn.Linear
-- (a child module, so parameters() gives W, then b) drawn Glorot-uniform as PyTorch
-- Geometric does; b starts at zero. backward sends the halo rows' gradients back to their
-- owners (g:propagate_backward) and accumulates this rank's share of dW and db: a
-- distributed model sums them over the ranks (an allreduce, or tide.ddp).
local tide = require "tide"
local base = require "tide.nn.base"
local args = require "tide.args"

local K = tide._internal.kernels
local nn = base.nn

local GCNConv = nn.class("nn.GCNConv")
nn.GCNConv_class = GCNConv

function nn.GCNConv(n_in, n_out, opts, ...)
  args.at_most("nn.GCNConv", 3, ...)
  local where = "nn.GCNConv"
  opts = args.check_opts(opts, { bias = true, dtype = true }, where)
  args.integer(n_in, "in", where, 1)
  args.integer(n_out, "out", where, 1)
  local dtype = args.one_of(opts.dtype, "dtype", where, { "f32", "f64" }, "f32")
  local lin = nn.Linear(n_in, n_out, { bias = false, dtype = dtype })
  local bound = math.sqrt(6 / (n_in + n_out))
  lin.weight:uniform_(-bound, bound)
  local self = setmetatable({ n_in = n_in, n_out = n_out, dtype = dtype, training = true,
    lin = lin, modules = { lin }, weight = lin.weight, _params = {} }, GCNConv)
  if opts.bias ~= false then
    self.bias = tide.zeros({ n_out }, dtype)
    self.grad_bias = tide.zeros({ n_out }, dtype)
    self._params = { "bias" }
  end
  return self
end

function GCNConv:describe()
  return ("nn.GCNConv(%d -> %d%s)"):format(self.n_in, self.n_out,
    self.bias and "" or ", without bias")
end

function GCNConv:forward(x, g)
  if not require("tide.graph").is_graph(g) then
    error("nn.GCNConv: expected a tide.graph as the second argument, got " .. type(g), 2)
  end
  if not tide.is_tensor(x) or x:dim() ~= 2 or x:size(1) ~= g.nlocal then
    error(("nn.GCNConv: expected this rank's %d rows of features, got %s"):format(g.nlocal,
      tide.is_tensor(x) and args.shape_str(x) or type(x)), 2)
  end
  local y = g:propagate(self.lin:forward(x))
  if self.bias then y:add_(self.bias) end
  self.output, self._graph = y, g
  return y
end

function GCNConv:backward(x, grad_out, opts)
  local g = self._graph
  if not g then error("nn.GCNConv.backward: no forward to go back through", 2) end
  if self.bias then K.add_colsum_(self.grad_bias, grad_out, false) end
  self.grad_input = self.lin:backward(x, g:propagate_backward(grad_out), opts)
  self:_grads_ready()
  return self.grad_input
end

return nn
