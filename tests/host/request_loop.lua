-- 200000 non-blocking allreduces, each waited at once (`w:iallreduce(t):wait()`): prints the
-- largest Lua heap seen (KB) and the number of ranks times the last sum's first element.
local w, t = tide.world, tide.ones(16)
local peak = 0
for i = 1, 200000 do
  t:fill_(1)
  w:iallreduce(t):wait()
  if i % 1000 == 0 then
    peak = math.max(peak, collectgarbage("count"))
  end
end
print(("peak_kb=%d sum=%d"):format(math.ceil(peak), math.tointeger(t:get(1))))
