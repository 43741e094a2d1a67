-- policy.lua: a placement policy (which rank owns each key) that a C program calls through
-- the embedded host (see embed.c). Edit it and rerun: nothing is recompiled.
--
-- The host runs this file once; embed.c then calls the global functions by name.

-- assign(keys, nranks) -> ranks: keys is a 1-D integer tensor, nranks the number of ranks;
-- returns a new 1-D i64 tensor holding each key's owner, a 0-based rank (cyclic: key mod
-- nranks).
function assign(keys, nranks)
  if not tide.is_tensor(keys) then
    error("assign: expected a tensor of keys, got " .. type(keys), 2)
  end
  if math.type(nranks) ~= "integer" or nranks < 1 then
    error("assign: expected a positive integer number of ranks, got " .. tostring(nranks), 2)
  end
  local n = keys:numel()
  local ranks = tide.zeros({ n }, "i64")
  for i = 1, n do
    ranks[i] = keys[i] % nranks
  end
  return ranks
end

-- shift_(keys, by): adds by to every key in place and returns keys. The tensor is the C
-- program's own memory, shared with Lua, so the program sees the change without a copy.
function shift_(keys, by)
  for i = 1, keys:numel() do
    keys[i] = keys[i] + by
  end
  return keys
end
