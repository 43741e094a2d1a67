/* runtime.h — MPI's lifetime in a tide process, in one place: start-up, the error handler, the
 * communicator tide's own traffic and the random streams key on, the default watchdog, the
 * end of a rank that failed (a "[rank R]" line, its timeline, MPI_Abort), os.exit and the
 * finalise that waits for every rank.
 *
 * Three kinds of process use it: the tide executable (initialises MPI here, ends through
 * tide_runtime_finalize), a C program embedding a host on its own communicator (owns MPI; the
 * runtime lives from the first host to the last), and a plain lua5.4 that loaded tide.core
 * (tide initialises MPI here and finalises it at process exit).
 *
 * Unlike the rest of the core, tide_runtime_fail and tide_runtime_exit print and end the
 * process: ending the whole job, and saying which rank ended it and why, is what they are for. */
#ifndef TIDE_RUNTIME_H
#define TIDE_RUNTIME_H

#include <mpi.h>

#include "tensor/tide_error.h"

/* The watchdog's default (seconds): PyTorch's NCCL waits 10 minutes before it calls a
 * collective hung. TIDE_WATCHDOG=S changes it; TIDE_TIMEOUT=S sets an explicit timeout, whose
 * waits are polled (watchdog.h); TIDE_TIMEOUT=0 turns the watchdog off. */
#define TIDE_DEFAULT_TIMEOUT 600.0

/* Initialises MPI (MPI_THREAD_FUNNELED) unless it is already; *owned (may be NULL) says whether
 * this call did, so the caller finalises it. Sets MPI_ERRORS_RETURN on MPI_COMM_WORLD (errors
 * of non-blocking collectives are reported there). argc/argv may be NULL. */
tide_status tide_runtime_init_mpi(int *argc, char ***argv, int *owned);
/* MPI initialised and not yet finalised? */
int tide_runtime_mpi_active(void);

/* Once per process, after MPI is up: duplicates base (MPI_COMM_WORLD, or the communicator a
 * host embeds tide on) for tide's own traffic (the watchdog's side channel, the timeline, the
 * random streams' rank), and sets the switches from TIDE_DEBUG, TIDE_TIMEOUT (when unset: the
 * default watchdog, TIDE_WATCHDOG or the default above) and TIDE_TRACE. Later calls only count a user (see release). */
tide_status tide_runtime_init(MPI_Comm base);
int tide_runtime_ready(void);
/* tide's duplicate of base (MPI_COMM_NULL before init), and this process's rank and size in it
 * (0 and 1 before init). */
MPI_Comm tide_runtime_comm(void);
int tide_runtime_rank(void);
int tide_runtime_size(void);

/* Every rank of base meets here (tide_comm_agree on tide's own communicator): for calls that
 * are collective over the whole job, such as tide.trace.start. */
tide_status tide_runtime_agree(const char *name);

/* A blocking wait on req, a call over comm named name, through the watchdog: watched by the
 * sentinel by default; with an explicit timeout, it answers the other ranks' census and
 * reports and aborts after the timeout. A patient wait (for a person, e.g. the REPL's next
 * line) never expires. Returns MPI's code. */
int tide_runtime_wait(MPI_Comm comm, MPI_Request *req, const char *name, int patient);

/* One user of the runtime is done (collective over base): the last one waits (watched) until
 * every rank reached this point, writes a timeline still being recorded, and frees what the
 * runtime holds. Call before MPI_Finalize: Open MPI's mpirun crashes or hangs when some ranks
 * finalise while others later abort, so no rank finalises until all are done. */
void tide_runtime_release(void);
/* release for every user, then MPI_Finalize (when MPI is still active). */
void tide_runtime_finalize(void);

/* This rank failed with what (a message, or NULL when it was already printed): prints
 * "[rank R] what", writes the part of the timeline this rank recorded (see trace.h) and, in a
 * job of several ranks, ends every rank with MPI_Abort(code). Returns only in a job of one rank,
 * where the caller ends the process cleanly itself. rank is MPI_COMM_WORLD's. */
void tide_runtime_fail(int code, const char *what);

/* os.exit(status): 0 ends this rank cleanly (close(arg) when given, e.g. closing the Lua state,
 * then finalize and exit); any other status in a job of several ranks is a failure
 * ("[rank R] os.exit(status)" and MPI_Abort), so no rank is left waiting for this one; alone,
 * close when asked, finalize and exit(status). Never returns. */
_Noreturn void tide_runtime_exit(int status, int close, void (*closer)(void *), void *arg);

/* At process exit with status (a plain lua5.4 that owns MPI): fail when non-zero, then
 * finalize. */
void tide_runtime_at_exit(int status);

#endif
