/* watchdog.c — polled waits, the census of where the other ranks are, and the abort. */
#define _POSIX_C_SOURCE 200809L
#include "comm/watchdog.h"
#include "comm/recorder.h"
#include "comm/runtime.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double tide_wd_seconds;                         /* 0: off */
int tide_wd_interruptible;                      /* poll every wait, for interrupts */
static volatile sig_atomic_t interrupt_pending;
static int stranded;                            /* waits abandoned by an interrupt */
static MPI_Comm side = MPI_COMM_NULL;           /* every rank, tide's traffic only */
static const tide_wd_op *current;               /* what this rank is polling in, for peers */

#define TAG_QUERY 7301
#define TAG_ANSWER 7302
#define GRACE_SECONDS 1.0                        /* how long the census waits for answers */

/* What a rank tells a peer that asks where it is. */
typedef struct wd_msg {
    int32_t in_call;
    int32_t cid;
    uint64_t seq;
    char name[48];
    char site[80];
} wd_msg;

void tide_wd_set_timeout(double seconds) { tide_wd_seconds = seconds > 0 ? seconds : 0; }
double tide_wd_timeout(void) { return tide_wd_seconds; }
void tide_wd_set_channel(MPI_Comm c) { side = c; }
void tide_wd_set_interruptible(int on) { tide_wd_interruptible = on != 0; }
void tide_wd_interrupt(void) { interrupt_pending = 1; }
void tide_wd_clear_interrupt(void) { interrupt_pending = 0; }

int tide_wd_stranded(void)
{
    int n = stranded;
    stranded = 0;
    return n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill_state(wd_msg *m, const tide_wd_op *op)
{
    memset(m, 0, sizeof *m);
    if (!op)
        return;
    m->in_call = 1;
    m->cid = op->cid;
    m->seq = op->seq;
    snprintf(m->name, sizeof m->name, "%s", op->name);
    snprintf(m->site, sizeof m->site, "%s", op->site ? op->site : "?");
}

/* " #12" for a collective, "" for a point-to-point call (no sequence number). */
static const char *seq_str(uint64_t seq)
{
    static char buf[4][24];
    static int next;
    char *b = buf[next++ % 4];
    if (seq)
        snprintf(b, sizeof buf[0], " #%llu", (unsigned long long)seq);
    else
        b[0] = '\0';
    return b;
}

/* Answers every peer that asked where this rank is. */
static void serve_queries(void)
{
    tide_rec_serve();   /* dumps asked for by a signal or another rank's watchdog */
    if (side == MPI_COMM_NULL)
        return;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_QUERY, side, &flag, &st) != MPI_SUCCESS || !flag)
            return;
        wd_msg q, a;
        MPI_Recv(&q, (int)sizeof q, MPI_BYTE, st.MPI_SOURCE, TAG_QUERY, side, MPI_STATUS_IGNORE);
        fill_state(&a, current);
        MPI_Send(&a, (int)sizeof a, MPI_BYTE, st.MPI_SOURCE, TAG_ANSWER, side);
    }
}

void tide_wd_serve(void) { serve_queries(); }

/* Asks the other members of op->comm where they are; appends to buf the ranks that are not in
 * this very collective. */
static void census(const tide_wd_op *op, char *buf, size_t n)
{
    int size = 0, me = 0;
    MPI_Comm_size(op->comm, &size);
    MPI_Comm_rank(op->comm, &me);
    if (side == MPI_COMM_NULL || size <= 1)
        return;
    int *ranks = malloc(sizeof(int) * 2 * (size_t)size);
    wd_msg *answers = calloc((size_t)size, sizeof *answers);
    MPI_Request *reqs = malloc(sizeof(MPI_Request) * 2 * (size_t)size);
    int *got = calloc((size_t)size, sizeof *got);
    if (!ranks || !answers || !reqs || !got)
        goto out;
    MPI_Group g, sg;
    MPI_Comm_group(op->comm, &g);
    MPI_Comm_group(side, &sg);
    for (int r = 0; r < size; r++)
        ranks[r] = r;
    MPI_Group_translate_ranks(g, size, ranks, sg, ranks + size);
    MPI_Group_free(&g);
    MPI_Group_free(&sg);
    const int *world = ranks + size;

    wd_msg q;
    fill_state(&q, op);
    for (int r = 0; r < size; r++) {
        reqs[2 * r] = reqs[2 * r + 1] = MPI_REQUEST_NULL;
        if (r == me || world[r] == MPI_UNDEFINED)
            continue;
        MPI_Isend(&q, (int)sizeof q, MPI_BYTE, world[r], TAG_QUERY, side, &reqs[2 * r]);
        MPI_Irecv(&answers[r], (int)sizeof answers[r], MPI_BYTE, world[r], TAG_ANSWER, side,
                  &reqs[2 * r + 1]);
    }
    double start = now();
    int pending = size - 1;
    while (pending > 0 && now() - start < GRACE_SECONDS) {
        serve_queries();
        for (int r = 0; r < size; r++) {
            if (r == me || got[r] || reqs[2 * r + 1] == MPI_REQUEST_NULL)
                continue;
            int flag = 0;
            MPI_Test(&reqs[2 * r + 1], &flag, MPI_STATUS_IGNORE);
            if (flag) {
                got[r] = 1;
                pending--;
            }
        }
        sched_yield();
    }
    size_t used = strlen(buf);
    int missing = 0;
    for (int r = 0; r < size && used < n; r++) {
        if (r == me)
            continue;
        const wd_msg *a = &answers[r];
        if (got[r] && a->in_call && a->cid == op->cid && a->seq == op->seq &&
            strcmp(a->name, op->name) == 0)
            continue;   /* arrived */
        used += (size_t)snprintf(buf + used, n - used, "%s", missing ? ", " : "; never arrived: ");
        if (got[r] && a->in_call)
            used += (size_t)snprintf(buf + used, n - used, "rank %d (in %s%s at %s)", r,
                                     a->name, seq_str(a->seq), a->site);
        else
            used += (size_t)snprintf(buf + used, n - used,
                                     "rank %d (no answer: computing outside a tide collective,"
                                     " blocked, or exited)", r);
        missing++;
    }
    if (!missing && used < n)
        snprintf(buf + used, n - used, "; every rank is in this collective");
out:
    free(ranks);
    free(answers);
    free(reqs);
    free(got);
}

/* A watched wait that MPI ended with an error (ranks that disagree on a collective usually end
 * here, as a truncated message, before any timeout): say which collective and call site, as a
 * timeout would, then let the error reach the script, which ends the job. */
static void report_failure(const tide_wd_op *op, int rc, double waited)
{
    int me = 0, len = 0;
    char err[MPI_MAX_ERROR_STRING];
    MPI_Comm_rank(op->comm, &me);
    if (MPI_Error_string(rc, err, &len) != MPI_SUCCESS)
        snprintf(err, sizeof err, "MPI error %d", rc);
    fflush(stdout);
    fprintf(stderr, "tide watchdog: rank %d: %s%s at %s failed after %.1f s: %s (the ranks do not"
            " agree on this collective; TIDE_DEBUG=1 names what each passed)\n", me, op->name,
            seq_str(op->seq), op->site ? op->site : "?", waited, err);
    fflush(stderr);
}

static void expire(const tide_wd_op *op)
{
    int me = 0;
    MPI_Comm_rank(op->comm, &me);
    char msg[1536];
    snprintf(msg, sizeof msg, "tide watchdog: rank %d waited %g s in %s%s at %s", me,
             tide_wd_seconds, op->name, seq_str(op->seq), op->site ? op->site : "?");
    census(op, msg, sizeof msg);
    fflush(stdout);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
    tide_rec_expired(msg);   /* every rank's dump, and the doctor's summary */
    tide_runtime_fail(1, NULL);
    exit(1);   /* a job of one rank has nobody to wait for: never here */
}

int tide_wd_poll(int (*test)(void *arg, int *done), void *arg, const tide_wd_op *op)
{
    const tide_wd_op *saved = current;
    current = op;
    double start = now();
    for (long spins = 1;; spins++) {
        int done = 0;
        int rc = test(arg, &done);
        if (rc != MPI_SUCCESS && tide_wd_seconds > 0)
            report_failure(op, rc, now() - start);
        if (rc != MPI_SUCCESS || done) {
            current = saved;
            return rc;
        }
        /* only a wait on a tide_comm (cid >= 0), which can be renewed: tide's own
         * communicators (cid -1) must stay usable */
        if (interrupt_pending && !op->patient && op->cid >= 0) {
            stranded++;
            current = saved;
            return TIDE_WD_INTERRUPTED;
        }
        if (spins % 64 == 0) {
            serve_queries();
            if (tide_wd_seconds > 0 && !op->patient && now() - start >= tide_wd_seconds)
                expire(op);
            if (spins > 4096)
                sched_yield();   /* a long wait: let an oversubscribed peer run */
        }
    }
}

static int test_request(void *arg, int *done)
{
    void **a = arg;
    return MPI_Test((MPI_Request *)a[0], done, (MPI_Status *)a[1]);
}

int tide_wd_wait(MPI_Request *req, MPI_Status *st, const tide_wd_op *op)
{
    if (!tide_wd_active())
        return MPI_Wait(req, st);
    void *arg[2] = {req, st};
    return tide_wd_poll(test_request, arg, op);
}
