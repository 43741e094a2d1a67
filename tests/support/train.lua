-- The training step the specs repeat: zero the gradients, forward, loss, backward, step.
local M = {}

-- step(model, crit, opt, x, y) -> the loss
function M.step(model, crit, opt, x, y)
  model:zero_grad()
  local out = model:forward(x)
  local loss = crit:forward(out, y)
  model:backward(x, crit:backward(out, y))
  opt:step()
  return loss
end

return M
