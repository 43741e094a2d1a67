/* recorder.h — the flight recorder: every rank's last N collectives, for the post-mortem.
 *
 * Each collective a rank starts takes the next slot of a ring of N entries (N = 256 by
 * default, TIDE_RECORDER=N, 0 turns it off): its number in the job's order of collectives on
 * this rank, the communicator and its sequence number there, name, dtype and shape, op and
 * root, the Lua call site, start and end times and its state (queued: a non-blocking call not
 * yet waited for; started; done; failed: the call returned an error, whose message the entry
 * keeps, so a dump never says a rank is still in a call it has left). A dump writes the ring,
 * with what the bindings add (the Lua tracebacks), as JSON to DIR/rank-R.json; `tide doctor
 * DIR` (scripts/tide/diag/doctor.lua) reads every rank's file and says which rank diverged
 * first.
 *
 * The ring is process-wide and written only by the thread that calls collectives (MPI runs
 * FUNNELED). A signal handler may only ask for a dump (tide_rec_request_dump): it is taken at
 * the next safe point, a Lua hook set by the bindings or the watchdog's poll loop. */
#ifndef TIDE_RECORDER_H
#define TIDE_RECORDER_H

#include <signal.h>
#include <stdint.h>

#include "tensor/tensor.h"
#include "tensor/tide_error.h"

#define TIDE_RECORDER_DEFAULT 256

typedef enum { TIDE_REC_QUEUED, TIDE_REC_STARTED, TIDE_REC_DONE, TIDE_REC_FAILED } tide_rec_state;

typedef struct tide_rec_entry {
    uint64_t id;            /* 1, 2, ...: this rank's collectives in order (0: an empty slot) */
    uint64_t seq;           /* the communicator's sequence number (what the watchdog says) */
    const char *name;       /* a static string ("allreduce") */
    int32_t cid, dtype, ndim, op, root;   /* dtype, op, root: -1 when not used */
    int32_t state;
    int64_t shape[TIDE_MAX_DIMS];
    double t_start, t_end;  /* CLOCK_MONOTONIC_COARSE seconds (ms resolution); t_end 0 until done */
    char site[64];
    char error[128];        /* state failed: the start of the error's message */
} tide_rec_entry;

extern int tide_rec_slots;   /* 0: off */
static inline int tide_rec_on(void) { return tide_rec_slots > 0; }

/* Sets the ring's size (0: off), dropping what it held; returns the previous size. Refuses
 * (returns -1) sizes over 1 << 20. */
int tide_rec_set_size(int n);
/* TIDE_RECORDER (default TIDE_RECORDER_DEFAULT); the error names the variable. */
tide_status tide_rec_configure(void);

/* A collective starts (state started): returns its id for tide_rec_end. t may be NULL. */
uint64_t tide_rec_begin(const char *name, int cid, uint64_t seq, const tide_tensor *t, int op,
                        int root, const char *site);
/* The call with this id is a posted non-blocking one (state queued). */
void tide_rec_queued(uint64_t id);
/* The call is done (nothing when its slot was reused since). */
void tide_rec_end(uint64_t id);
/* The call returned an error (state failed, keeping msg); nothing when its slot was reused. */
void tide_rec_fail(uint64_t id, const char *msg);
/* The non-blocking call (cid, seq) completed. */
void tide_rec_end_seq(int cid, uint64_t seq);

/* Entries from the oldest: *n of them (at most the ring's size) at out (NULL: only count). */
int tide_rec_entries(tide_rec_entry *out, int max);
const char *tide_rec_state_name(int state);

/* ---- dumps ---- */

/* The directory dumps go to: dir when given, else TIDE_DUMP_DIR, else "tide-dump". */
const char *tide_rec_dir(const char *dir);
/* Writes DIR/rank-R.json (through a temporary file renamed into place, creating DIR): the
 * ring, reason, rank and size, clocks, and extra (JSON members to add, "" or NULL for none,
 * e.g. "\"traceback\": [...]"). path_out (may be NULL) receives the file's name. */
tide_status tide_rec_write(const char *dir, const char *reason, const char *extra,
                           char *path_out, size_t n);
/* s as a JSON string (quotes included) into buf; returns the length it needs. */
size_t tide_rec_json_string(char *buf, size_t n, const char *s);

/* What a dump runs: the bindings' (which add the Lua tracebacks) or tide_rec_write alone. */
typedef tide_status (*tide_rec_dumper)(const char *dir, const char *reason);
void tide_rec_set_dumper(tide_rec_dumper fn);
tide_status tide_rec_dump(const char *dir, const char *reason);
/* What rank 0 (or the rank whose watchdog expired) runs on the dumps: `tide doctor` (may be
 * NULL: nothing). Returns nothing; prints on stderr. */
typedef void (*tide_rec_reporter)(const char *dir);
void tide_rec_set_reporter(tide_rec_reporter fn);
void tide_rec_report(const char *dir);

/* Async-signal-safe: asks for a dump at the next safe point. */
extern volatile sig_atomic_t tide_rec_dump_wanted;
static inline void tide_rec_request_dump(void) { tide_rec_dump_wanted = 1; }
/* The reason a dump asked for that way gives (a string that outlives the dump; NULL:
 * "signal"); set it before asking. */
extern const char *volatile tide_rec_dump_why;
/* At a safe point: takes a dump that was asked for. */
void tide_rec_poll(void);

/* ---- every rank's dump, over tide's own communicator (runtime.h) ---- */

/* Takes a dump asked for by a signal or by another rank (tide_rec_dump_all), and acknowledges
 * the latter: the watchdog's poll loop calls it. */
void tide_rec_serve(void);
/* Dumps this rank and asks every other rank for its dump, waiting up to 2 s for them (ranks
 * computing outside a tide wait cannot answer: the doctor says their dump is missing). */
void tide_rec_dump_all(const char *reason);
/* This rank's watchdog expired: dumps everywhere, then one rank, the lowest that expired,
 * runs the reporter. Returns 1 when this rank reported, 0 when it left that to a lower rank
 * (after waiting for it to end the job). */
int tide_rec_expired(const char *reason);

#endif
