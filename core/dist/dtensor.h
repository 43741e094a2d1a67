/* dtensor.h — a tensor sharded by rows (dim 0) across a communicator, or replicated on it.
 *
 * Each rank holds a local block of whole rows; the dtensor knows every rank's row count, so
 * the global shape and each block's offset are known without communicating. Ranks are 0-based.
 *
 * Promises:
 * - every function named collective here must be called by every rank of the communicator in
 *   the same order. A bad argument on one rank makes every rank fail (the check travels with
 *   the first collective), so no rank is ever left waiting in a collective the others skipped.
 * - the block layout (tide_dtensor_block_rows) gives rank r floor(N/P) rows, plus one for the
 *   first N mod P ranks, in rank order; scatter and the random fills use it.
 * - random fills are counter-based (random.h): element (i, j...) of the global tensor is the
 *   same for any rank count, since each rank fills its rows from the counter of their global
 *   position.
 * - redistribute moves the rows of any number of tensors aligned row by row with ONE
 *   MPI_Alltoallv (rows are packed per destination, tensor after tensor), so keys, labels and
 *   payloads stay aligned; received rows are ordered by source rank, then by source order.
 *   It also records the rows and bytes moved between ranks (all ranks together).
 * - all traffic goes through comm.h's collectives (so the debug fingerprints, the watchdog and
 *   the timeline see it). The communicator is borrowed: the caller keeps it alive while the
 *   dtensor lives (the Lua bindings hold a reference). */
#ifndef TIDE_DTENSOR_H
#define TIDE_DTENSOR_H

#include <stdint.h>

#include "comm/comm.h"
#include "tensor/tensor.h"

typedef struct tide_dtensor {
    tide_tensor local;        /* this rank's rows (the whole tensor when replicated) */
    tide_comm *comm;          /* borrowed */
    int rank, nranks;
    int replicated;
    int64_t *counts;          /* rows held by each rank; all the global rows when replicated */
    int64_t offset;           /* global index of this rank's first row (0 when replicated) */
    int64_t global_rows;
    int64_t moved_rows;       /* rows this rank sent to other ranks in the redistribute that */
    int64_t moved_bytes;      /* made this dtensor (0 otherwise) */
} tide_dtensor;

#define TIDE_DTENSOR_EMPTY {0}

/* Frees what dt holds and makes it empty. Idempotent. */
void tide_dtensor_release(tide_dtensor *dt);

/* Rows of rank r under the block layout of n rows over p ranks: *start and *count. */
void tide_dtensor_block_rows(int64_t n, int p, int r, int64_t *start, int64_t *count);

/* Collective. dt (empty) shards over comm with local (>= 1 dim) as this rank's rows; dt.local
 * shares local's storage. Every rank's rows must have the same shape after dim 0 and the same
 * dtype. */
tide_status tide_dtensor_from_local(tide_dtensor *dt, tide_comm *comm, const tide_tensor *local);
/* Collective. dt (empty) is t replicated on every rank (shared storage); the shapes and
 * dtypes must agree on every rank. */
tide_status tide_dtensor_replicated(tide_dtensor *dt, tide_comm *comm, const tide_tensor *t);
/* Collective. dt (empty) gets root's t (ignored elsewhere, may be NULL) split into blocks. */
tide_status tide_dtensor_scatter(tide_dtensor *dt, tide_comm *comm, const tide_tensor *t, int root);

typedef enum { TIDE_DT_ZEROS, TIDE_DT_UNIFORM, TIDE_DT_NORMAL } tide_dt_fill;
/* Not collective (the block layout needs no messages). dt (empty) holds this rank's block of a
 * global tensor of shape (ndim >= 1) and dtype, zeros or drawn from (key, first): uniform in
 * [a, b) or normal with mean a and std b, element k of the global tensor (row-major) using
 * counter first + k, exactly as a one-process fill of the whole tensor. */
tide_status tide_dtensor_fill(tide_dtensor *dt, tide_comm *comm, int ndim, const int64_t *shape,
                              tide_dtype dtype, tide_dt_fill kind, uint64_t key, uint64_t first,
                              double a, double b);

/* Collective. The whole tensor on root (out empty there; left empty on the other ranks). */
tide_status tide_dtensor_gather(tide_tensor *out, const tide_dtensor *dt, int root);
/* Collective. The whole tensor on every rank (out empty). */
tide_status tide_dtensor_allgather(tide_tensor *out, const tide_dtensor *dt);

/* Collective. Sends local row i of every in[k] to rank dest[i] (i32 or i64, 1-D, one entry per
 * local row, 0-based ranks). in[k] are sharded dtensors on the same communicator with the same
 * local row count; out[k] (empty) become sharded dtensors holding the rows this rank received,
 * ordered by source rank then source order. */
tide_status tide_dtensor_redistribute(tide_dtensor *out, const tide_dtensor *const *in, int n,
                                      const tide_tensor *dest);

/* redistribute keeps its send buffer between calls (per thread, as large as the largest send
 * so far), so that a large move does not pay for fresh pages each time; this frees it. */
void tide_dtensor_trim(void);

#endif
