-- tide.optim.base: what the optimizers and schedules of tide.optim share: the module table,
-- where an optimizer finds its parameters, and the checks of a state table.
local args = require "tide.args"
local number = args.number

local M = { optim = {} }

function M.param_source(model, where)
  if type(model) == "table" and type(model.parameters) == "function" then
    return function() return model:parameters() end
  end
  if type(model) == "table" and type(model[1]) == "table" and type(model[2]) == "table" then
    local ps, gs = model[1], model[2]
    if #ps ~= #gs then
      error(("%s: %d parameters but %d gradients"):format(where, #ps, #gs), 3)
    end
    return function() return ps, gs end
  end
  error(("%s: expected a module (with :parameters()) or {params, grads}, got %s"):format(where,
    type(model)), 3)
end

-- An optimizer class: its methods look themselves up in it; its name is in error messages.
function M.class(name)
  local c = { __name = name }
  c.__index = c
  return c
end

-- ------------------------------------------------------------------ state
--
-- opt:state() is {step_count = n, lr = x, <buffers>} with copies of the per-parameter tensors
-- (SGD's momentum buffers; Adam's m and v), listed by parameter position; opt:load_state(s)
-- checks every field against the parameters it updates, then takes them, and returns opt.

function M.copy_list(list)
  local out = {}
  for i, b in pairs(list) do out[i] = b:clone() end
  return out
end

-- Checks list (state field `field`) holds, at parameter positions only, tensors shaped as the
-- parameters.
function M.check_list(list, ps, where, field)
  if type(list) ~= "table" then
    error(("%s: %s expected a table of tensors, got %s"):format(where, field, type(list)), 3)
  end
  for i, b in pairs(list) do
    if math.type(i) ~= "integer" or ps[i] == nil then
      error(("%s: %s has an entry at %s, but the optimizer has %d parameters"):format(where,
        field, tostring(i), #ps), 3)
    end
    args.state_tensor(b, ps[i], where, ("%s[%d]"):format(field, i), 4)
  end
end

function M.check_common(self, s, known, where)
  args.state_keys(s, known, where, 4)
  args.state_integer(s.step_count, where, "step_count", 0, 4)
  number(s.lr, "lr", where, nil, ">= 0", 4)
  return (self._params())
end

-- Raises unless the lists s[a] and s[b] have entries at the same positions (Adam's m and v).
function M.check_paired(s, where, a, b)
  for i in pairs(s[a]) do
    if s[b][i] == nil then
      error(("%s: %s[%d] has no %s[%d] beside it"):format(where, a, i, b, i), 3)
    end
  end
end

return M
