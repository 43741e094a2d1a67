/* watchdog.h — turns a hang into a report and an aborted job.
 *
 * Two modes, by who set the timeout:
 *
 * The default (600 s, or TIDE_WATCHDOG=S): collectives are MPI's blocking calls, which Open
 * MPI runs faster than its non-blocking ones (libnbc). Before each call the calling thread
 * publishes {ticket, name, call site, start} in one slot and clears it after; a sentinel
 * thread (one per process of a job of several ranks, started at the first watched call) looks
 * at the slot about once a second and, when the same call (same ticket) has run past the
 * timeout, prints
 *   tide watchdog: rank R: allreduce #12 at job.lua:7 has not finished after 600.0 s ...
 * on stderr, writes this rank's flight-recorder dump and ends its process with exit code 1,
 * which makes mpirun end the job. It cannot ask the other ranks where they are: the sentinel
 * may not call MPI (below).
 *
 * An explicit timeout (TIDE_TIMEOUT=S, tide.set_timeout, tide_wd_set_timeout): every tide wait
 * is polled instead of blocking. A wait that lasts S seconds asks the other members of its
 * communicator, over tide's private side channel, where they are; a rank polling in a tide
 * wait answers with the collective it is in. The rank then prints
 *   tide watchdog: rank R waited S s in barrier #N at file.lua:LINE; never arrived: rank 1
 *   (not in a tide collective: computing, blocked elsewhere, or exited)
 * on stderr and ends the job (runtime.h's tide_runtime_fail). With the timeout 0 (TIDE_TIMEOUT=0)
 * nothing is watched: waits are plain MPI_Wait.
 *
 * Why polling rather than a thread for the census: a thread would need MPI_THREAD_MULTIPLE to
 * talk to the other ranks (and to abort) while the main thread sits in MPI, which costs every
 * MPI call a lock in Open MPI; polling lets the waiting rank itself run the census and answer
 * its peers' questions. The sentinel only reads memory, writes files and exits. */
#ifndef TIDE_WATCHDOG_H
#define TIDE_WATCHDOG_H

#include <mpi.h>
#include <stdint.h>

/* The operation a rank waits in. */
typedef struct tide_wd_op {
    MPI_Comm comm;      /* whose members are asked */
    int cid;            /* identifies the communicator across ranks */
    const char *name;   /* "barrier" */
    uint64_t seq;
    const char *site;   /* "job.lua:12" */
    int patient;        /* waits for a person (the REPL's next line): answers, never expires */
} tide_wd_op;

/* An explicit timeout: polled waits and the census (0: off). */
void tide_wd_set_timeout(double seconds);
/* The default mode's timeout: blocking calls watched by the sentinel (0: off). */
void tide_wd_set_default(double seconds);
double tide_wd_timeout(void);
/* Are waits polled (an explicit timeout is set, or the REPL of `tide run` may interrupt)? */
static inline int tide_wd_polled(void)
{
    extern int tide_wd_polling, tide_wd_interruptible;
    return tide_wd_polling || tide_wd_interruptible;
}

/* Interrupts, for the REPL of `tide run` (bindings/host/host_repl.c): a person's Ctrl-C must
 * release a rank blocked in a collective that the other ranks never entered. With
 * interruptible on, every wait polls (even without a timeout), and once tide_wd_interrupt()
 * was called (from a signal handler) a polled wait returns TIDE_WD_INTERRUPTED at once,
 * leaving its request pending: MPI has no way to cancel a started collective, so that
 * communicator is spoilt for good, and tide_wd_stranded() tells the REPL to replace it
 * (comm.h's tide_comm_renew_all). */
#define TIDE_WD_INTERRUPTED (-7303)   /* not an MPI code: tide_mpi_fail says "interrupted" */
void tide_wd_set_interruptible(int on);
void tide_wd_interrupt(void);         /* async-signal-safe */
void tide_wd_clear_interrupt(void);
/* How many waits an interrupt abandoned since the last call (and resets the count). */
int tide_wd_stranded(void);

/* The side channel: a communicator containing every rank (tide's duplicate of the base). */
void tide_wd_set_channel(MPI_Comm side);

/* Waits for req; with a timeout set, polls and after the timeout reports and aborts (never
 * returns then). Returns MPI's code. */
int tide_wd_wait(MPI_Request *req, MPI_Status *st, const tide_wd_op *op);
/* Answers the other ranks' questions of where this rank is (and takes the dumps they ask
 * for): for a rank that waits outside tide_wd_poll, e.g. for the others' dumps. */
void tide_wd_serve(void);
/* The same for any condition: test(arg, &done) returns an MPI code. */
int tide_wd_poll(int (*test)(void *arg, int *done), void *arg, const tide_wd_op *op);

/* The sentinel's slot, around a blocking call in the default mode (nothing in the others,
 * for a patient op, or in a job of one rank): rc = TIDE_WD_WATCHED(&x->wd, MPI_Barrier(comm)).
 * The comma operator makes the call start after tide_wd_enter. */
void tide_wd_enter(const tide_wd_op *op);
int tide_wd_leave(int rc);   /* returns rc */
#define TIDE_WD_WATCHED(op, call) (tide_wd_enter(op), tide_wd_leave(call))
/* Stops the sentinel thread, if it runs (the runtime's shutdown). */
void tide_wd_stop(void);

#endif
