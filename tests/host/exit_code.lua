-- os.exit with a non-zero code ends the job with that code; with 0 it ends cleanly.
local code = tonumber(arg[1])
print("exiting with " .. code)
os.exit(code)
print("not reached")
