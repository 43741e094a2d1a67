/* fingerprint.h — the checks that every rank calls the same collective with matching
 * arguments: a light one on by default, and the full one of debug mode.
 *
 * A fingerprint is what the ranks must agree on: the collective's name and sequence number,
 * dtype, shape, op, root and, for a blocking allreduce, which shared tensor it runs in (see
 * shared.h), plus the Lua call site for the message.
 *   - Debug (TIDE_DEBUG=1): before each collective the ranks allgather their fingerprints.
 *   - Light (the default; TIDE_CHECK=0 or tide_fp_set_light(0) turns it off): each
 *     communicator remembers the signatures (a fingerprint without its sequence number, shared
 *     tensor and site) of its recent calls; the first LIGHT_FIRST calls of each signature and every
 *     LIGHT_EVERY-th collective are checked by one allreduce of a 64-bit hash of the
 *     fingerprint on a shadow duplicate of the communicator. Only when the hashes differ do
 *     the ranks exchange whole fingerprints, to say how.
 * The signature stands in for "the call site": file:line differs between ranks in correct
 * programs (`if rank == 0 then ... else ... end`), so ranks counting executions per line
 * could disagree about whether to check, and a rank waiting in a check that its peers skip
 * waits forever. Signatures agree on every rank of a correct program, so the decision does
 * too. A mismatch where one side's call is new and the other's is not makes the first side
 * wait in its check (on the shadow communicator, so nothing is mixed up with the other
 * side's data): a hang, not garbage, that TIDE_TIMEOUT reports and TIDE_DEBUG=1 names.
 *
 * When fingerprints differ every rank fails with the same message, naming rank 0 and the
 * ranks that differ from it, e.g.
 *   allreduce #12: rank 1 passed f32 [20] at train.lua:40, rank 0 passed f32 [10] at train.lua:37
 *   barrier #3: rank 1 called allreduce on f32 [10] at job.lua:9, rank 0 called barrier at job.lua:7 */
#ifndef TIDE_FINGERPRINT_H
#define TIDE_FINGERPRINT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"
#include "comm/comm.h"
#include "comm/watchdog.h"

typedef struct tide_fp {
    char name[16];
    uint64_t seq;
    int32_t dtype;      /* -1: no tensor */
    int32_t ndim;
    int32_t op;         /* -1: none */
    int32_t root;       /* -1: none */
    int32_t flags;      /* FP_* of comm_impl.h: which dims must agree */
    int32_t win;        /* the shared tensor's id (shared.h); -1: not one */
    int64_t shape[TIDE_MAX_DIMS];
    char site[88];
} tide_fp;   /* 208 bytes, the same on every rank */

void tide_fp_fill(tide_fp *fp, const char *name, uint64_t seq, const tide_tensor *t, int op,
                  int root, int flags, const char *site);
/* Exchanges fingerprints over comm (polled under the watchdog when wd is active) and fails,
 * on every rank alike, when they differ. */
tide_status tide_fp_check(MPI_Comm comm, int rank, int size, const tide_fp *mine,
                          const tide_wd_op *wd);

/* The light check's switch (process-wide; set it on every rank alike, as a collective). */
void tide_fp_set_light(int on);
static inline int tide_fp_light_on(void)
{
    extern int tide_fp_light;
    return tide_fp_light;
}
#define LIGHT_FIRST 3    /* checked calls of each new signature on a communicator */
#define LIGHT_EVERY 128  /* and every 128th collective of a communicator */

/* Frees what the checks keep for c (its shadow communicator, its signatures). */
void tide_fp_forget(tide_comm *c);

/* The call site, computed only when a message needs it: fn(ctx, level, buf, n) writes
 * "file.lua:40" into buf. The bindings set it before each collective (cheap: three stores);
 * ctx must stay valid until the next call sets it again (a lua_State inside the C function
 * that runs the collective). */
typedef void (*tide_site_fn)(void *ctx, int level, char *buf, size_t n);
void tide_fp_defer_site(tide_site_fn fn, void *ctx, int level);

#endif
