-- `tide run` on many hosts: the mpirun (or srun) command lines it builds for a hostfile, a host
-- list and a Slurm allocation (a fake one: the SLURM_* variables Slurm sets), printed with
-- --dry-run (issue 19, acceptance 5), and the errors.
local proc = require "support.proc"

local TIDE = os.getenv("TIDE_EXE") or "build/tide"
local SRC = os.getenv("TIDE_SOURCE_DIR") or "."
local MPIRUN = os.getenv("MPIRUN") or "mpirun"
local q = proc.quote
local hello = SRC .. "/examples/hello.lua"
local self = io.popen("readlink -f " .. q(TIDE)):read("l")
local root = io.popen("id -u"):read("l") == "0" and " --allow-run-as-root" or ""

-- Runs `tide run ...` with the environment variables given (and no Slurm ones inherited).
local function tide_run(args, env)
  local prefix = "env -u SLURM_JOB_ID -u SLURM_JOB_NODELIST -u SLURM_NODELIST " ..
    "-u SLURM_NTASKS -u SLURM_TASKS_PER_NODE "
  for k, v in pairs(env or {}) do prefix = prefix .. k .. "=" .. q(v) .. " " end
  return proc.run(prefix .. q(TIDE) .. " run " .. args)
end

local function tmpfile(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

describe("tide run on many hosts", function()
  it("passes a hostfile to mpirun, without oversubscribing for this machine's cores", function()
    local hosts = tmpfile("a slots=2\nb slots=2\n")
    local out, code = tide_run("-n 4 --hostfile " .. q(hosts) .. " --dry-run " .. q(hello))
    os.remove(hosts)
    assert.are.equal(0, code, out)
    assert.are.equal(("%s -np 4%s --hostfile %s %s %s\n"):format(MPIRUN, root, hosts, self,
      hello), out)
  end)

  it("passes a host list, with --tcp", function()
    local out, code = tide_run("-n 4 --host a:2,b:2 --tcp --dry-run " .. q(hello))
    assert.are.equal(0, code, out)
    assert.are.equal(("%s -np 4%s --host a:2,b:2 --mca btl tcp,self %s %s\n"):format(MPIRUN,
      root, self, hello), out)
  end)

  it("builds --host from a Slurm allocation, and -n from SLURM_NTASKS", function()
    local out, code = tide_run("--dry-run " .. q(hello) .. " x", {
      SLURM_JOB_ID = "42", SLURM_JOB_NODELIST = "node[01-03,7],login", SLURM_NTASKS = "9",
      SLURM_TASKS_PER_NODE = "2(x3),1,2" })
    assert.are.equal(0, code, out)
    assert.are.equal(("%s -np 9%s --host node01:2,node02:2,node03:2,node7:1,login:2 %s %s x\n")
      :format(MPIRUN, root, self, hello), out)
  end)

  it("starts the ranks with srun when asked, inside an allocation", function()
    local out, code = tide_run("-n 8 --launcher srun --dry-run " .. q(hello), {
      SLURM_JOB_ID = "42", SLURM_JOB_NODELIST = "n[1-4]" })
    assert.are.equal(0, code, out)
    assert.are.equal(("srun --mpi=pmix -n 8 %s %s\n"):format(self, hello), out)
  end)

  it("says what is wrong with a bad hostfile, host list, launcher or node list", function()
    local out, code = tide_run("-n 2 --hostfile /nonexistent/hosts " .. q(hello))
    assert.are.equal(1, code)
    assert.matches("tide: run: --hostfile: cannot read /nonexistent/hosts: No such file", out, 1, true)
    out, code = tide_run("-n 2 --host 'a b' " .. q(hello))
    assert.are.equal(1, code)
    assert.matches("--host expects host[:slots],... (e.g. a:2,b:2), got 'a b'", out, 1, true)
    out, code = tide_run("-n 2 --launcher ssh " .. q(hello))
    assert.are.equal(1, code)
    assert.matches("--launcher expects mpirun or srun, got 'ssh'", out, 1, true)
    out, code = tide_run("-n 2 --launcher srun " .. q(hello))
    assert.are.equal(1, code)
    assert.matches("--launcher srun works inside a Slurm allocation", out, 1, true)
    out, code = tide_run("-n 2 --dry-run " .. q(hello), { SLURM_JOB_ID = "1",
      SLURM_JOB_NODELIST = "n[3-1]" })
    assert.are.equal(1, code)
    assert.matches("cannot read Slurm's node list 'n[3-1]'", out, 1, true)
    out, code = tide_run("--launcher srun --tcp -n 2 " .. q(hello), { SLURM_JOB_ID = "1" })
    assert.are.equal(1, code)
    assert.matches("--tcp sets mpirun's transport", out, 1, true)
    out, code = tide_run("--hostfile")
    assert.are.equal(1, code)
    assert.matches("--hostfile needs a value", out, 1, true)
  end)
end)
