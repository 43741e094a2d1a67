-- Prints what a script sees of its command line: `...` and the arg table (as lua.c sets it).
local n = select("#", ...)
print("n=" .. n, "dots=" .. table.concat({ ... }, ","))
print("arg0=" .. tostring(arg[0]), "arg1=" .. tostring(arg[1]), "arg2=" .. tostring(arg[2]),
      "len=" .. #arg, "argm1=" .. tostring(arg[-1]))
print("global tide: " .. type(tide), "same as require: " .. tostring(tide == require "tide"))
