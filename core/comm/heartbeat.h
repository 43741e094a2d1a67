/* heartbeat.h — finds a rank that stopped between collectives (SIGSTOP, a frozen node), which
 * the watchdog cannot: it sees only ranks that never arrive in a collective another waits in.
 *
 * A helper thread per rank sends a datagram to every other rank each `interval` seconds and
 * listens for theirs. A rank heard from no longer than `timeout` seconds ago is alive; past it,
 * every rank that notices prints
 *   tide heartbeat: rank R: no heartbeat from rank S for T s (on HOST: stopped, frozen, or its
 *   host is down)
 * on stderr (HOST: S's host name, exchanged with the addresses at start), tells the others (each then reports too once it has itself missed a beat from
 * that rank, so every rank names it even when its own thread runs late), asks for its own dump
 * (recorder.h: taken at the next safe point), waits up to 2 s for it, lingers 1 s more for the
 * others' reports, and ends its process with exit code 75, which makes mpirun end the job.
 *
 * Why UDP datagrams rather than MPI: MPI runs FUNNELED here (the watchdog explains why), so the
 * helper thread may not call it; the addresses are exchanged once over MPI at start (the
 * node's address as gethostname resolves it, else loopback). Datagrams need no connection per
 * pair and a lost one only delays a verdict by one interval. A rank that ends normally says
 * goodbye first, so ranks leaving at different times are not reported.
 *
 * Under `tide run --restarts/--elastic` the supervisor listens too (TIDE_HB_SUPERVISOR, set by
 * bindings/host/supervise.c): every beat and goodbye also goes to it, carrying the sender's
 * host name, so that it can name a lost host's ranks even when mpirun ends the job before any
 * rank's timeout, and end a job whose mpirun waits for a host it cannot reach. */
#ifndef TIDE_HEARTBEAT_H
#define TIDE_HEARTBEAT_H

#include "tensor/tide_error.h"

#include <stdint.h>

/* A datagram on the wire, as the ranks send it to each other and to the supervisor. */
#define TIDE_HB_MAGIC 0x74696465u   /* "tide" */
#define TIDE_HB_HOST_LEN 48
enum { TIDE_HB_BEAT = 1, TIDE_HB_BYE = 2, TIDE_HB_LOST = 3 /* "I lost rank `about`" */ };
typedef struct tide_hb_beat {
    uint32_t magic, kind;
    int32_t rank, about;          /* about: the silent rank, for TIDE_HB_LOST */
    char host[TIDE_HB_HOST_LEN];  /* the sender's host name */
} tide_hb_beat;

/* Collective over tide's own communicator (runtime.h). interval > 0, timeout >= 2 * interval;
 * fails when already started. */
tide_status tide_hb_start(double interval, double timeout);
/* Stops the thread (saying goodbye to the others); nothing when not started. Not collective. */
void tide_hb_stop(void);
int tide_hb_running(void);
/* Seconds since each rank was last heard from (size entries; this rank: 0; a rank that said
 * goodbye: -1). Returns the number of entries written. */
int tide_hb_ages(double *ages, int size);
/* TIDE_HEARTBEAT's timeout into *timeout (0 when unset); returns 0 when it is not a number of
 * seconds >= 0. */
int tide_hb_env_timeout(double *timeout);
/* TIDE_HEARTBEAT=S: start with timeout S and interval S/4 (nothing when unset or 0). */
tide_status tide_hb_configure(void);

/* What the helper thread calls when it asks for a dump, to wake the main thread at a safe
 * point (the bindings set a Lua hook). Called from the helper thread: must be
 * async-signal-safe in spirit (set flags only). */
void tide_hb_set_waker(void (*fn)(void));

#endif
