/* fingerprint.h — the debug-mode check that every rank calls the same collective with
 * matching arguments.
 *
 * Before each collective (TIDE_DEBUG=1) the ranks allgather a fixed-size fingerprint: the
 * collective's name and sequence number, dtype, shape, op, root and the Lua call site. The
 * exchange is the same MPI call whatever the collective, so it cannot itself mismatch. When
 * fingerprints differ every rank fails with the same message, naming rank 0 and the ranks that
 * differ from it, e.g.
 *   allreduce #12: rank 1 passed f32 [20] at train.lua:40, rank 0 passed f32 [10] at train.lua:37
 *   barrier #3: rank 1 called allreduce on f32 [10] at job.lua:9, rank 0 called barrier at job.lua:7 */
#ifndef TIDE_FINGERPRINT_H
#define TIDE_FINGERPRINT_H

#include <mpi.h>
#include <stdint.h>

#include "tensor/tensor.h"
#include "comm/watchdog.h"

typedef struct tide_fp {
    char name[16];
    uint64_t seq;
    int32_t dtype;      /* -1: no tensor */
    int32_t ndim;
    int32_t op;         /* -1: none */
    int32_t root;       /* -1: none */
    int32_t flags;      /* FP_* of comm_impl.h: which dims must agree */
    int32_t pad;
    int64_t shape[TIDE_MAX_DIMS];
    char site[88];
} tide_fp;   /* 208 bytes, the same on every rank */

void tide_fp_fill(tide_fp *fp, const char *name, uint64_t seq, const tide_tensor *t, int op,
                  int root, int flags, const char *site);
/* Exchanges fingerprints over comm (polled under the watchdog when wd is active) and fails,
 * on every rank alike, when they differ. */
tide_status tide_fp_check(MPI_Comm comm, int rank, int size, const tide_fp *mine,
                          const tide_wd_op *wd);

#endif
