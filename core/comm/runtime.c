/* runtime.c — MPI's lifetime in a tide process (see runtime.h). */
#include "comm/runtime.h"
#include "comm/comm_impl.h"
#include "comm/fingerprint.h"
#include "comm/shared.h"
#include "comm/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MPI_Comm base_comm = MPI_COMM_NULL;   /* tide's private duplicate of the base */
static int base_rank, base_size = 1;
static int users;                            /* runtime_init calls not yet released */
static tide_comm own;                        /* base_comm as a communicator, for agree */

int tide_runtime_mpi_active(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

tide_status tide_runtime_init_mpi(int *argc, char ***argv, int *owned)
{
    int init = 0, fin = 0;
    if (owned)
        *owned = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (fin)
        return tide_fail("tide: MPI was already finalised in this process");
    if (!init) {
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return tide_fail("tide: MPI_Init_thread failed");
        if (owned)
            *owned = 1;
    }
    /* errors of collectives come back as statuses (non-blocking ones report on the world) */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return TIDE_OK;
}

static int world_rank(void)
{
    int r = 0;
    if (tide_runtime_mpi_active())
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

static int world_size(void)
{
    int n = 1;
    if (tide_runtime_mpi_active())
        MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

/* A number of seconds >= 0 from the variable var (*seconds unchanged when unset or empty). */
static tide_status env_seconds(const char *var, double *seconds, int *set)
{
    const char *s = getenv(var);
    *set = s && s[0];
    if (!*set)
        return TIDE_OK;
    char *end;
    double v = strtod(s, &end);
    if (*end || v < 0 || v != v)
        return tide_fail("%s: expected a number of seconds, got '%s'", var, s);
    *seconds = v;
    return TIDE_OK;
}

/* TIDE_DEBUG, TIDE_CHECK, TIDE_TIMEOUT (an explicit timeout: polled waits) or else
 * TIDE_WATCHDOG (the default mode's timeout, TIDE_DEFAULT_TIMEOUT when unset), TIDE_TRACE. */
static tide_status read_env(void)
{
    const char *dbg = getenv("TIDE_DEBUG");
    if (dbg && dbg[0] && strcmp(dbg, "0") != 0)
        tide_comm_set_debug(1);
    const char *chk = getenv("TIDE_CHECK");
    if (chk && strcmp(chk, "0") == 0)
        tide_fp_set_light(0);
    double timeout = TIDE_DEFAULT_TIMEOUT, watchdog = TIDE_DEFAULT_TIMEOUT;
    int explicit = 0, shortened = 0;
    TIDE_TRY(env_seconds("TIDE_TIMEOUT", &timeout, &explicit));
    TIDE_TRY(env_seconds("TIDE_WATCHDOG", &watchdog, &shortened));
    if (explicit)
        tide_comm_set_timeout(timeout);
    else
        tide_comm_set_watchdog(watchdog);
    const char *tr = getenv("TIDE_TRACE");
    if (tr && tr[0] && !tide_trace_on())
        TIDE_TRY(tide_trace_start(tr));
    return TIDE_OK;
}

tide_status tide_runtime_init(MPI_Comm base)
{
    if (base_comm != MPI_COMM_NULL) {
        users++;
        return TIDE_OK;
    }
    if (!tide_runtime_mpi_active())
        return tide_fail("tide: MPI is not initialised");
    TIDE_TRY(read_env());
    MPI_Comm dup;
    MPI_TRY("tide", MPI_Comm_dup(base, &dup));
    MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    tide_status st = tide_comm_types_init();
    if (st != TIDE_OK) {
        MPI_Comm_free(&dup);
        return st;
    }
    base_comm = dup;
    MPI_Comm_rank(dup, &base_rank);
    MPI_Comm_size(dup, &base_size);
    tide_wd_set_channel(base_comm);
    own.comm = base_comm;
    own.rank = base_rank;
    own.size = base_size;
    own.cid = -2;   /* the same on every rank, and no script communicator's */
    own.is_world = 1;
    users = 1;
    return TIDE_OK;
}

int tide_runtime_ready(void) { return base_comm != MPI_COMM_NULL; }
MPI_Comm tide_runtime_comm(void) { return base_comm; }
int tide_runtime_rank(void) { return base_comm != MPI_COMM_NULL ? base_rank : 0; }
int tide_runtime_size(void) { return base_comm != MPI_COMM_NULL ? base_size : 1; }

/* comm.h's older names for the same things */
int tide_comm_runtime_ready(void) { return tide_runtime_ready(); }
MPI_Comm tide_comm_base(void) { return base_comm; }

tide_status tide_runtime_agree(const char *name)
{
    if (base_comm == MPI_COMM_NULL)
        return tide_fail("%s: MPI is not initialised", name);
    return tide_comm_agree(&own, name);
}

int tide_runtime_wait(MPI_Comm comm, MPI_Request *req, const char *name, int patient)
{
    tide_wd_op op = {comm, -1, name, 0, tide_comm_site(), patient};
    return tide_wd_wait(req, MPI_STATUS_IGNORE, &op);
}

/* ------------------------------------------------------------------ the end */

static void flush_all(void)
{
    fflush(stdout);
    fflush(stderr);
}

/* Writes a timeline still being recorded (collective over base). */
static void write_trace(void)
{
    if (!tide_trace_on() || base_comm == MPI_COMM_NULL)
        return;
    if (tide_trace_stop(base_comm, NULL, 0) != TIDE_OK) {
        fprintf(stderr, "[rank %d] tide: %s\n", world_rank(), tide_error());
        fflush(stderr);
    }
}

static void shutdown_runtime(void)
{
    if (base_comm == MPI_COMM_NULL || !tide_runtime_mpi_active())
        return;
    if (base_size > 1) {
        tide_wd_op op = {base_comm, -1, "finalize", 0, "exit", 0};
        MPI_Request req;
        if (MPI_Ibarrier(base_comm, &req) == MPI_SUCCESS)
            tide_wd_wait(&req, MPI_STATUS_IGNORE, &op);
    }
    write_trace();
    tide_comm_shared_shutdown();
    tide_wd_stop();
    tide_wd_set_channel(MPI_COMM_NULL);
    tide_comm_types_free();
    MPI_Comm_free(&base_comm);
    base_comm = own.comm = MPI_COMM_NULL;
    users = 0;
}

void tide_runtime_release(void)
{
    if (users > 1) {
        users--;
        return;
    }
    shutdown_runtime();
}

void tide_runtime_finalize(void)
{
    flush_all();
    shutdown_runtime();
    if (tide_runtime_mpi_active())
        MPI_Finalize();
}

void tide_runtime_fail(int code, const char *what)
{
    flush_all();
    if (what)
        fprintf(stderr, "[rank %d] %s\n", world_rank(), what);
    fflush(stderr);
    if (world_size() > 1) {
        /* the job ends before the ranks could gather their events: each keeps its own */
        if (tide_trace_on() && tide_trace_write_rank(world_rank()) != TIDE_OK)
            fprintf(stderr, "[rank %d] tide: %s\n", world_rank(), tide_error());
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
        exit(code ? code : 1);   /* MPI_Abort does not return; this is for the compiler */
    }
}

_Noreturn void tide_runtime_exit(int status, int close, void (*closer)(void *), void *arg)
{
    flush_all();
    if (status != EXIT_SUCCESS && world_size() > 1) {
        char what[64];
        snprintf(what, sizeof what, "os.exit(%d) ends the job", status);
        tide_runtime_fail(status, what);
    }
    if ((close || status == EXIT_SUCCESS) && closer)
        closer(arg);
    tide_runtime_finalize();
    exit(status);
}

void tide_runtime_at_exit(int status)
{
    if (!tide_runtime_mpi_active())
        return;
    if (status != 0) {
        char what[64];
        snprintf(what, sizeof what, "exited with status %d", status);
        tide_runtime_fail(status, world_size() > 1 ? what : NULL);
    }
    tide_runtime_finalize();
}
