/* tide_main.c — the tide executable: `tide [options] [script [args]]` runs Lua on every MPI
 * rank (alone: a world of one), `tide -i` is the REPL, `tide run -n N script` launches mpirun.
 * Options and the arg table follow lua.c. A script's error on any rank ends the whole job. */
#define _GNU_SOURCE
#include <cblas.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef TIDE_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#include "comm/runtime.h"
#include "host_doctor.h"
#include "launch_hosts.h"
#include "repl_client.h"
#include "repl_launcher.h"
#include "supervise.h"
#include "tide_host.h"

#ifndef TIDE_MPIRUN
#define TIDE_MPIRUN "mpirun"
#endif

static const char usage_text[] =
    "usage: tide [options] [script [args]]\n"
    "       tide run -n N [--tcp] [--dry-run] [-i] [script [args]]\n"
    "       tide doctor [DIR]   summarise a job's dumps (default TIDE_DUMP_DIR or tide-dump)\n"
    "Runs a Lua script on every MPI rank (under mpirun, or alone as a world of one).\n"
    "Options:\n"
    "  -e code   run code on every rank\n"
    "  -l name   require library 'name' into global 'name'\n"
    "  -i        enter the REPL after running the script\n"
    "  -v        show version information\n"
    "  -h        show this help\n"
    "  --        stop handling options\n"
    "  -         run stdin (rank 0 reads it, every rank runs it)\n"
    "With no script and no -e: the REPL when the input is a terminal, else stdin as a script.\n"
    "REPL: rank 0 reads, every rank runs each statement, rank 0 prints the results, errors show\n"
    "as [rank R] message; tide.on(r, fn) runs fn on rank r (or on {1, 3}, \"1-3\") and shows\n"
    "its results.\n"
    "tide run options (no script, or -i: the REPL of every rank, after the script):\n"
    "  -n N      number of ranks (adds --oversubscribe when N exceeds the cores)\n"
    "  -i        enter the REPL after running the script; the launcher owns the terminal:\n"
    "            line editing, history (~/.tide_history), completion, Ctrl-C stops the\n"
    "            statement on every rank, each rank's output in rank order, :ranks all|0\n"
    "  --tcp     ranks talk over TCP (--mca btl tcp,self)\n"
    "  --hostfile F, --host a:2,b:2   run on those hosts (same tide path on each)\n"
    "  --launcher srun   in a Slurm allocation, srun instead of mpirun (which otherwise\n"
    "                gets the allocation's nodes; -n defaults to SLURM_NTASKS there)\n"
    "  --dry-run print the mpirun command line instead of running it\n"
    "  --restarts K  relaunch up to K times when a rank dies (TIDE_RESTART=count), not after\n"
    "                a script error\n"
    "  --elastic MIN relaunch with the ranks left, down to MIN\n";

static void print_version(void)
{
    printf("tide %s (%s, Open MPI %d.%d.%d)\n", TIDE_VERSION, LUA_VERSION, OMPI_MAJOR_VERSION,
           OMPI_MINOR_VERSION, OMPI_RELEASE_VERSION);
    fflush(stdout);
}

static int bad_usage(const char *fmt, const char *what)
{
    fprintf(stderr, "tide: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, " (tide -h shows the usage)\n");
    return 1;
}

/* ------------------------------------------------------------------ tide run */

/* Appends s to the line, single-quoted when the shell would read it differently. */
static void print_quoted(const char *s)
{
    if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-") ==
                  strlen(s)) {
        fputs(s, stdout);
        return;
    }
    putchar('\'');
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*s);
    }
    putchar('\'');
}

/* A process that loaded tide without mpirun is an MPI singleton, and Open MPI left variables
 * in its environment that would make a child mpirun think it belongs to that one-process job.
 * Remove them (and only them: a user's OMPI_MCA_btl and the like stay). */
static int is_singleton_variable(const char *name)
{
    static const char *const prefixes[] = {
        "PMIX_", "ORTE_", "OPAL_", "OMPI_MCA_ess=", "OMPI_MCA_pmix=", "OMPI_MCA_orte_",
        "OMPI_COMM_WORLD_", "OMPI_APP_CTX_", "OMPI_UNIVERSE_SIZE=", "OMPI_FILE_LOCATION=",
    };
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++)
        if (strncmp(name, prefixes[k], strlen(prefixes[k])) == 0)
            return 1;
    return 0;
}

static void scrub_singleton_environment(void)
{
    extern char **environ;
    char name[256];
    for (int k = 0; environ[k];) {
        const char *eq = strchr(environ[k], '=');
        size_t len = eq ? (size_t)(eq - environ[k]) : strlen(environ[k]);
        if (is_singleton_variable(environ[k]) && len < sizeof name) {
            memcpy(name, environ[k], len);
            name[len] = '\0';
            unsetenv(name);       /* shifts environ: look at index k again */
        } else {
            k++;
        }
    }
}

static int run_command(int argc, char **argv)
{
    long np = 0;
    int tcp = 0, dry = 0, interactive = 0, i;
    tide_hosts hosts = {0};
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-n") == 0 || strcmp(a, "-np") == 0) {
            if (i + 1 >= argc)
                return bad_usage("run: '%s' needs a number of ranks", a);
            char *end;
            errno = 0;
            np = strtol(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || np < 1 || np > 1000000)
                return bad_usage("run: -n expects a positive number of ranks, got '%s'", argv[i]);
        } else if (strcmp(a, "--tcp") == 0) {
            tcp = 1;
        } else if (strcmp(a, "--dry-run") == 0) {
            dry = 1;
        } else if (strcmp(a, "-i") == 0) {
            interactive = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else {
            int taken = tide_hosts_option(&hosts, argc, argv, &i);
            if (taken < 0)
                return 1;
            if (taken == 0)
                return bad_usage("run: unknown option '%s'", a);
        }
    }
    if (!tide_hosts_resolve(&hosts, &np))
        return 1;
    int repl = interactive || i >= argc;   /* the launcher's REPL (repl_launcher.h) */
    const char *problem = NULL;
    if (hosts.srun && tcp)
        problem = "--tcp sets mpirun's transport; under srun export OMPI_MCA_btl=tcp,self instead";
    else if (np == 0)
        problem = "missing -n N (the number of ranks)";
    else if (repl && tide_hosts_remote(&hosts))
        problem = "the launcher's REPL keeps its ranks on this machine (its side channel is a "
                  "Unix socket): give a script to run on other hosts";
    if (problem) {
        tide_hosts_free(&hosts);
        return bad_usage("run: %s", problem);
    }
    char self[4096];
    int ready = i >= argc || access(argv[i], R_OK) == 0;
    if (!ready)
        fprintf(stderr, "tide: run: cannot open %s: %s\n", argv[i], strerror(errno));
    else
        ready = tide_self_path(self, sizeof self);   /* prints its own error */
    if (!ready) {
        tide_hosts_free(&hosts);
        return 1;
    }
    const char *mpirun = getenv("TIDE_MPIRUN");
    if (!mpirun || !*mpirun)
        mpirun = TIDE_MPIRUN;
    char npbuf[32];
    snprintf(npbuf, sizeof npbuf, "%ld", np);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    const char **cmd = calloc((size_t)(argc - i) + 24, sizeof *cmd);
    if (!cmd) {
        tide_hosts_free(&hosts);
        return 1;
    }
    int c = 0;
    if (hosts.srun) {        /* Slurm starts the ranks; Open MPI wires them up through PMIx */
        mpirun = "srun";
        cmd[c++] = mpirun;
        cmd[c++] = "--mpi=pmix";
        cmd[c++] = "-n";
        cmd[c++] = npbuf;
    } else {
        cmd[c++] = mpirun;
        cmd[c++] = "-np";
        cmd[c++] = npbuf;
        if (np > cores && !tide_hosts_remote(&hosts))
            cmd[c++] = "--oversubscribe";
        if (geteuid() == 0)
            cmd[c++] = "--allow-run-as-root";
        tide_hosts_args(&hosts, cmd, &c);
        /* ranks on other hosts get only what mpirun exports: the heartbeats, and where the
         * supervisor of --restarts listens to them (supervise.h) */
        static const char *const passed[] = {"TIDE_HEARTBEAT", "TIDE_HB_SUPERVISOR"};
        for (size_t k = 0; k < 2 && tide_hosts_remote(&hosts); k++)
            if (getenv(passed[k])) {
                cmd[c++] = "-x";
                cmd[c++] = passed[k];
            }
    }
    if (tcp) {
        cmd[c++] = "--mca";
        cmd[c++] = "btl";
        cmd[c++] = "tcp,self";
    }
    cmd[c++] = self;
    if (repl)
        cmd[c++] = "-i";
    if (repl && i < argc && argv[i][0] == '-')
        cmd[c++] = "--";   /* a script named like an option */
    for (; i < argc; i++)
        cmd[c++] = argv[i];
    cmd[c] = NULL;
    if (dry) {
        for (int k = 0; k < c; k++) {
            if (k)
                putchar(' ');
            print_quoted(cmd[k]);
        }
        putchar('\n');
        free(cmd);
        tide_hosts_free(&hosts);
        return 0;
    }
    fflush(stdout);
    scrub_singleton_environment();
    /* Under mpirun no rank can see whether the user's stdout is a terminal: say it for them
     * (tide.progress redraws its bar in place only on a terminal). */
    if (isatty(STDOUT_FILENO))
        setenv("TIDE_TTY", "1", 1);
    if (repl) {
        int status = tide_repl_launch((char *const *)cmd, (int)np);
        free(cmd);
        tide_hosts_free(&hosts);
        return status;
    }
    execvp(mpirun, (char *const *)cmd);
    fprintf(stderr, "tide: run: cannot run %s: %s\n", mpirun, strerror(errno));
    free(cmd);
    tide_hosts_free(&hosts);
    return 1;
}

/* ------------------------------------------------------------------ options (as lua.c) */

enum { HAS_E = 1, HAS_I = 2, HAS_V = 4, HAS_H = 8 };

/* Sets *script to the index of the script (argc when none); returns the flags, or -1 after
 * reporting a bad option. */
static int collect_args(int argc, char **argv, int *script)
{
    int flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        *script = i;
        if (a[0] != '-' || strcmp(a, "-") == 0)
            return flags;
        if (strcmp(a, "--") == 0) {
            *script = i + 1;
            return flags;
        }
        if (strcmp(a, "-i") == 0) {
            flags |= HAS_I;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            flags |= HAS_V;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            flags |= HAS_H;
        } else if (a[1] == 'e' || a[1] == 'l') {
            if (a[2] == '\0' && (i + 1 >= argc || argv[i + 1][0] == '-')) {
                bad_usage("'%s' needs an argument", a);
                return -1;
            }
            if (a[2] == '\0')
                i++;
            if (a[1] == 'e')
                flags |= HAS_E;
        } else {
            bad_usage("unrecognized option '%s'", a);
            return -1;
        }
    }
    *script = argc;
    return flags;
}

/* ------------------------------------------------------------------ ending a job */

static int world_rank, world_size;

static void finish(tide_host *h, int status)
{
    /* closing the host's state is the last use of the runtime: every rank waits there for the
     * others before any finalises (runtime.h says why) */
    tide_host_free(h);
    tide_runtime_finalize();
    exit(status);
}

/* A script failed on this rank: say where, and end every rank now (others may be waiting for
 * this one in a collective). */
static void die(tide_host *h)
{
    tide_runtime_fail(1, tide_host_error(h));
    finish(h, 1);
}

/* Every rank loaded its chunk (status from lua_load)? Loading runs no user code, so every rank
 * gets here: when any failed, the failing ranks say why and every rank ends with status 1. */
static void check_loaded(tide_host *h, int status)
{
    int ok = status == LUA_OK, all = 0;
    MPI_Request req;
    if (MPI_Iallreduce(&ok, &all, 1, MPI_INT, MPI_MIN, tide_host_comm(h), &req) == MPI_SUCCESS)
        tide_runtime_wait(tide_host_comm(h), &req, "tide: loading the script", 0);
    if (all)
        return;
    if (!ok)
        fprintf(stderr, "[rank %d] tide: %s\n", world_rank, lua_tostring(tide_host_lua(h), -1));
    finish(h, 1);
}

/* ------------------------------------------------------------------ running */

struct argtable {
    char **argv;
    int argc, script;
};

/* lua.c's createargtable: arg[0] is the script, arg[1..] its arguments, negative indices the
 * interpreter and its options. */
static int create_arg_table(lua_State *L)
{
    const struct argtable *a = lua_touserdata(L, 1);
    int script = a->script == a->argc ? 0 : a->script;
    lua_createtable(L, a->argc - (script + 1), script + 1);
    for (int i = 0; i < a->argc; i++) {
        lua_pushstring(L, a->argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
    return 0;
}

/* Rank 0 reads all of stdin and sends it to every rank; every rank loads it. */
static int load_stdin(tide_host *h)
{
    lua_State *L = tide_host_lua(h);
    char *buf = NULL;
    long long len = 0;
    if (world_rank == 0) {
        size_t cap = 0, n = 0, got;
        char chunk[65536];
        while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
            if (n + got > cap) {
                cap = (n + got) * 2;
                char *grown = realloc(buf, cap);
                if (!grown) {
                    free(buf);
                    buf = NULL;
                    n = 0;
                    break;
                }
                buf = grown;
            }
            memcpy(buf + n, chunk, got);
            n += got;
        }
        len = (long long)n;
    }
    /* the others wait while rank 0 reads: however long someone takes to type the script */
    MPI_Comm comm = tide_host_comm(h);
    MPI_Request req;
    if (MPI_Ibcast(&len, 1, MPI_LONG_LONG, 0, comm, &req) == MPI_SUCCESS)
        tide_runtime_wait(comm, &req, "tide: reading stdin", 1);
    if (world_rank != 0)
        buf = malloc((size_t)len + 1);
    if (!buf)
        buf = malloc(1);
    if (MPI_Ibcast(buf, (int)len, MPI_CHAR, 0, comm, &req) == MPI_SUCCESS)
        tide_runtime_wait(comm, &req, "tide: reading stdin", 0);
    /* like luaL_loadfile, skip a first line starting with # (a #! line) */
    size_t skip = 0;
    if (len > 0 && buf[0] == '#') {
        while (skip < (size_t)len && buf[skip] != '\n')
            skip++;
    }
    int status = luaL_loadbuffer(L, buf + skip, (size_t)len - skip, "=stdin");
    free(buf);
    return status;
}

/* -e and -l, in the order given. */
static void run_options(tide_host *h, char **argv, int script)
{
    lua_State *L = tide_host_lua(h);
    for (int i = 1; i < script; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || (a[1] != 'e' && a[1] != 'l'))
            continue;
        const char *value = a[2] ? a + 2 : argv[++i];
        if (a[1] == 'e') {
            check_loaded(h, luaL_loadbuffer(L, value, strlen(value), "=(command line)"));
            if (tide_host_pcall(h, 0, 0) != TIDE_OK)
                die(h);
        } else {
            lua_getglobal(L, "require");
            lua_pushstring(L, value);
            if (tide_host_pcall(h, 1, 1) != TIDE_OK)
                die(h);
            lua_setglobal(L, value);
        }
    }
}

static void run_script(tide_host *h, int argc, char **argv, int script)
{
    lua_State *L = tide_host_lua(h);
    const char *name = argv[script];
    int status = strcmp(name, "-") == 0 ? load_stdin(h) : luaL_loadfile(L, name);
    check_loaded(h, status);
    int n = argc - script - 1;
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = script + 1; i < argc; i++)
        lua_pushstring(L, argv[i]);
    if (tide_host_pcall(h, n, 0) != TIDE_OK)
        die(h);
}

/* ------------------------------------------------------------------ the REPL's input */

struct input {
    int interactive;   /* prompts and a banner */
    int readline;      /* line editing and history (stdin is a terminal) */
};

/* Is someone typing? Under mpirun our stdin is a pipe from mpirun, so look at mpirun's.
 * TIDE_INTERACTIVE=1/0 decides when set. */
static int interactive_input(void)
{
    const char *force = getenv("TIDE_INTERACTIVE");
    if (force && *force)
        return strcmp(force, "0") != 0;
    if (isatty(STDIN_FILENO))
        return 1;
    if (!getenv("OMPI_COMM_WORLD_SIZE"))
        return 0;
    char path[64], target[256];
    snprintf(path, sizeof path, "/proc/%d/fd/0", (int)getppid());
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return strncmp(target, "/dev/pts/", 9) == 0 || strncmp(target, "/dev/tty", 8) == 0;
}

static char *read_line(void *ctx, const char *prompt)
{
    struct input *in = ctx;
#ifdef TIDE_HAVE_READLINE
    if (in->readline)
        return readline(prompt);
#endif
    if (in->interactive) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    char *line = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, stdin) < 0) {
        free(line);
        return NULL;
    }
    return line;
}

static void save_line(void *ctx, const char *chunk)
{
    struct input *in = ctx;
#ifdef TIDE_HAVE_READLINE
    if (in->readline && *chunk)
        add_history(chunk);
#else
    (void)in;
    (void)chunk;
#endif
}

static void banner(void)
{
    print_version();
    printf("%d rank%s: each statement runs on every rank, rank 0 shows the results; "
           "tide.on(r, fn) runs fn on rank r; :help lists the commands.\n", world_size,
           world_size == 1 ? "" : "s");
    fflush(stdout);
}

static void repl(tide_host *h, int interactive, int launched)
{
    struct input in = {interactive, 0};
#ifdef TIDE_HAVE_READLINE
    in.readline = interactive && isatty(STDIN_FILENO);
    rl_readline_name = "tide";
#endif
    if (interactive && world_rank == 0 && !launched)
        banner();
    tide_status st = launched ? tide_repl_run(h) : tide_host_repl(h, read_line, save_line, &in);
    if (st != TIDE_OK) {
        char what[1100];
        snprintf(what, sizeof what, "tide: %s", tide_host_error(h));
        tide_runtime_fail(1, what);
        finish(h, 1);
    }
    if (interactive && world_rank == 0 && !launched) {
        putchar('\n');
        fflush(stdout);
    }
}

/* ------------------------------------------------------------------ main */

/* OpenBLAS threads: the node's cores shared among the ranks on the node. */
static void set_blas_threads(void)
{
    if (getenv("OPENBLAS_NUM_THREADS"))
        return;
    MPI_Comm node;
    int local = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long threads = cores / (local > 0 ? local : 1);
    openblas_set_num_threads(threads > 0 ? (int)threads : 1);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "run") == 0) {
        int status;   /* --restarts/--elastic: supervise.c relaunches `tide run` as a child */
        if (tide_supervise(argc - 1, argv + 1, &status))
            return status;
        return run_command(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "doctor") == 0)
        return tide_host_doctor(argc - 1, argv + 1);

    int script;
    int flags = collect_args(argc, argv, &script);
    if (flags < 0)
        return 1;
    if (flags & HAS_H) {
        fputs(usage_text, stdout);
        return 0;
    }
    const char *launched_rank = getenv("OMPI_COMM_WORLD_RANK");
    if ((flags & HAS_V) && (!launched_rank || strcmp(launched_rank, "0") == 0))
        print_version();
    /* lua.c: -v alone only shows the version */
    int has_l = 0;
    for (int i = 1; i < script; i++)
        has_l |= strncmp(argv[i], "-l", 2) == 0;
    if ((flags & HAS_V) && script == argc && !(flags & (HAS_E | HAS_I)) && !has_l)
        return 0;

    if (tide_runtime_init_mpi(&argc, &argv, NULL) != TIDE_OK) {
        fprintf(stderr, "tide: %s\n", tide_error());
        return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    set_blas_threads();

    char err[1024];
    tide_host *h = tide_host_new(MPI_COMM_WORLD, err, sizeof err);
    if (!h) {
        char what[1100];
        snprintf(what, sizeof what, "tide: %s", err);
        tide_runtime_fail(1, what);
        tide_runtime_finalize();
        return 1;
    }
    /* under the launcher of `tide run`, everything this rank writes goes to it (repl_proto.h) */
    int launched = tide_repl_launched();
    if (launched && tide_repl_connect(h) != 0) {
        tide_runtime_fail(1, NULL);   /* connect said why */
        finish(h, 1);
    }
    unsetenv("TIDE_REPL");   /* not for a tide this job starts itself */
    if (launched && world_rank == 0 && interactive_input())
        banner();   /* before the script's output, as lua -i shows it */
    lua_State *L = tide_host_lua(h);
    struct argtable at = {argv, argc, script};
    lua_pushcfunction(L, create_arg_table);
    lua_pushlightuserdata(L, &at);
    if (tide_host_pcall(h, 1, 0) != TIDE_OK)
        die(h);

    run_options(h, argv, script);
    if (script < argc)
        run_script(h, argc, argv, script);
    if (flags & HAS_I) {
        repl(h, world_rank == 0 && interactive_input(), launched);
    } else if (script == argc && !(flags & (HAS_E | HAS_V))) {
        /* no script: the REPL for someone typing, else stdin is the script (rank 0 decides) */
        int interactive = world_rank == 0 && interactive_input();
        MPI_Request req;
        if (MPI_Ibcast(&interactive, 1, MPI_INT, 0, MPI_COMM_WORLD, &req) == MPI_SUCCESS)
            tide_runtime_wait(MPI_COMM_WORLD, &req, "tide: starting", 0);
        if (interactive) {
            repl(h, 1, 0);
        } else {
            check_loaded(h, load_stdin(h));
            if (tide_host_pcall(h, 0, 0) != TIDE_OK)
                die(h);
        }
    }
    finish(h, 0);
    return 0;
}
