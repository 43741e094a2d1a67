/* watchdog.h — turns a hang into a report and an aborted job.
 *
 * With a timeout set (600 s by default, TIDE_TIMEOUT=S or tide_comm_set_timeout), every tide
 * wait is polled instead of blocking. A wait that lasts S seconds asks the other members of its
 * communicator, over tide's private side channel, where they are; a rank polling in a tide wait answers with
 * the collective it is in. The rank then prints
 *   tide watchdog: rank R waited S s in barrier #N at file.lua:LINE; never arrived: rank 1
 *   (not in a tide collective: computing, blocked elsewhere, or exited)
 * on stderr and ends the job (runtime.h's tide_runtime_fail). Without a timeout, waits are plain MPI_Wait.
 *
 * Why polling rather than a watchdog thread: a thread would need MPI_THREAD_MULTIPLE to talk to
 * the other ranks (and to abort) while the main thread sits in MPI, which costs every MPI call
 * a lock in Open MPI; polling costs nothing when the watchdog is off, and when it is on lets
 * the waiting rank itself run the census and answer its peers' questions. */
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

void tide_wd_set_timeout(double seconds);
double tide_wd_timeout(void);
static inline int tide_wd_active(void)
{
    extern double tide_wd_seconds;
    extern int tide_wd_interruptible;
    return tide_wd_seconds > 0 || tide_wd_interruptible;
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

#endif
