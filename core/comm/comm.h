/* comm.h — communicators and collectives on tensors.
 *
 * A tide_comm wraps an MPI communicator (a dup of the world, or a split) with MPI_ERRORS_RETURN
 * set, so every MPI failure comes back as a tide_status whose message carries MPI's error
 * string. Every collective on a communicator gets a sequence number (#1, #2, ... per
 * communicator); four process-wide switches hook into all of them:
 *   - the light check (on unless TIDE_CHECK=0): the ranks compare a hash of their arguments
 *     on each kind of call's first calls and on every 128th collective (fingerprint.h);
 *   - debug (TIDE_DEBUG=1): the ranks compare fingerprints before each collective and fail
 *     on every rank, naming the ranks that differ (fingerprint.h);
 *   - the watchdog (watchdog.h): by default (600 s, TIDE_WATCHDOG=S) calls block and a
 *     sentinel thread ends a process whose call runs longer, naming the call and its site;
 *     with an explicit timeout (TIDE_TIMEOUT=S, tide.set_timeout; 0: off) waits are polled
 *     and a wait longer than S seconds also names the ranks that never arrived;
 *   - tracing (TIDE_TRACE=file): every collective is recorded for the timeline (trace.h).
 * With all four off, a collective on a contiguous tensor is one MPI call: no allocation, no
 * extra message; by default (the sentinel and the light check) it is the same blocking call
 * between two stores to the sentinel's slot, plus the light check's small allreduce on the
 * calls it samples; under TIDE_TIMEOUT it is the non-blocking form of that call, polled.
 *
 * Conventions: ranks are 0-based; row counts refer to dim 0 (the first dim); a 0-dim tensor
 * counts as one row of one element. Results that a collective allocates go into an empty
 * `out`, as everywhere in the core. Element counts above the MPI int limit are split into
 * several calls by the element-wise collectives (allreduce, reduce, broadcast) and refused by
 * the others. */
#ifndef TIDE_COMM_H
#define TIDE_COMM_H

#include <mpi.h>
#include <stdint.h>

#include "tensor/tensor.h"

typedef enum { TIDE_OP_SUM, TIDE_OP_PROD, TIDE_OP_MIN, TIDE_OP_MAX, TIDE_OP_AVG } tide_op;
#define TIDE_NOPS 5

/* Any source, or any tag, in receives. */
#define TIDE_ANY (-1)

const char *tide_op_name(tide_op op);
/* "sum", "prod", "min", "max", "avg"; the message names op_name (the calling operation). */
tide_status tide_op_parse(const char *name, tide_op *op, const char *op_name);

typedef struct tide_comm {
    MPI_Comm comm;      /* MPI_COMM_NULL once freed */
    int rank, size;
    int cid;            /* the same on every member (0: the world), for the watchdog's census */
    int is_world;       /* the world cannot be freed by a script */
    uint64_t seq;       /* collectives issued on this communicator so far */
    struct tide_fp_state *fp;   /* the light mismatch check's memory (fingerprint.c) */
} tide_comm;

/* ------------------------------------------------------------------ the runtime */

/* MPI's lifetime (start-up, finalise, abort, os.exit) is runtime.h's; these two older names
 * stay for the code that only needs tide's private communicator. */
int tide_comm_runtime_ready(void);
/* tide's private duplicate of the base communicator (MPI_COMM_NULL before init). */
MPI_Comm tide_comm_base(void);

void tide_comm_set_debug(int on);
int tide_comm_debug(void);
/* An explicit timeout (TIDE_TIMEOUT's): waits are polled and report the ranks that never
 * arrived (watchdog.h); seconds <= 0 turns the watchdog off. */
void tide_comm_set_timeout(double seconds);
/* The default mode (TIDE_WATCHDOG's): blocking calls, a sentinel thread ends a process whose
 * call runs past seconds (watchdog.h); seconds <= 0 turns the watchdog off. */
void tide_comm_set_watchdog(double seconds);
double tide_comm_timeout(void);
/* Does the next collective want its call site (debug or timeout on)? */
int tide_comm_wants_site(void);
/* The call site ("train.lua:40") that the next collective reports; copied. */
void tide_comm_set_site(const char *site);
/* The largest element count one MPI call may carry (INT_MAX; lowered by tests to exercise
 * the splitting and refusing paths with small tensors). */
void tide_comm_set_max_count(int64_t n);
int64_t tide_comm_max_count(void);

/* While who (e.g. "tide.on") runs code on some ranks only, every collective fails at once,
 * naming who, instead of waiting for ranks that will never join. NULL ends it; returns the
 * previous setting. */
const char *tide_comm_set_solo(const char *who);

/* ------------------------------------------------------------------ communicators */

/* c becomes a duplicate of base, with MPI_ERRORS_RETURN. Collective over base. */
tide_status tide_comm_wrap(tide_comm *c, MPI_Comm base, int is_world);
/* Calls that cannot be polled (MPI_Comm_split, MPI_Comm_dup, window allocation) start with
 * this: with the watchdog on, the ranks first meet in a watched barrier named name, so one that
 * never comes is reported instead of hanging the job. Nothing is sent with the watchdog off. */
tide_status tide_comm_agree(tide_comm *c, const char *name);
/* MPI_Comm_split; a negative color leaves out->comm == MPI_COMM_NULL (not a member). */
tide_status tide_comm_split(tide_comm *out, tide_comm *c, int color, int key);
/* The ranks of c that share a node (MPI_COMM_TYPE_SHARED). */
tide_status tide_comm_split_node(tide_comm *out, tide_comm *c);
tide_status tide_comm_dup(tide_comm *out, tide_comm *c);
/* Replaces the MPI communicator inside every open tide_comm of this process (tide.world and
 * every split or dup) by a fresh one with the same group, made from clean (a communicator of
 * every rank with nothing pending), and restarts its collective numbering: after an interrupt
 * left a collective pending (watchdog.h), the next statement's collectives must not match it.
 * Collective over clean: every rank calls it at the same point. */
tide_status tide_comm_renew_all(MPI_Comm clean);
/* Was comm replaced by tide_comm_renew_all? A request started on it may never complete. */
int tide_comm_abandoned(MPI_Comm comm);
/* Frees the MPI communicator (nothing after MPI_Finalize). Idempotent. */
void tide_comm_free(tide_comm *c);

/* ------------------------------------------------------------------ collectives on tensors */

tide_status tide_comm_barrier(tide_comm *c);
/* In place: every rank's t becomes root's t. */
tide_status tide_comm_broadcast(tide_comm *c, tide_tensor *t, int root);
/* In place. avg: the sum divided by the size; integer dtypes sum in 64 bits and divide with
 * truncation toward zero, as C does. */
tide_status tide_comm_allreduce(tide_comm *c, tide_tensor *t, tide_op op);
/* In place on root; the other ranks' t are left as they were. */
tide_status tide_comm_reduce(tide_comm *c, tide_tensor *t, tide_op op, int root);
/* out: every rank's t stacked along dim 0, in rank order; ranks may pass different row
 * counts, the other dims and the dtype must match (checked on every call). */
tide_status tide_comm_allgather(tide_comm *c, tide_tensor *out, const tide_tensor *t);
/* As allgather, with the result only on root (out stays empty elsewhere). */
tide_status tide_comm_gather(tide_comm *c, tide_tensor *out, const tide_tensor *t, int root);
/* Root's t is split by rows: counts[r] rows to rank r (counts: c->size entries, read on
 * root only), or as evenly as possible (the first rows % size ranks get one more) when
 * counts is NULL. t is read on root only. out: this rank's rows. */
tide_status tide_comm_scatter(tide_comm *c, tide_tensor *out, const tide_tensor *t, int root,
                              const int64_t *counts);
/* Reduces t across ranks (same shape everywhere) and leaves rank r the r-th block of rows of
 * the result, split as scatter does. */
tide_status tide_comm_reduce_scatter(tide_comm *c, tide_tensor *out, const tide_tensor *t,
                                     tide_op op, const int64_t *counts);
/* t's rows (a multiple of size) in size equal blocks: block r goes to rank r; out[block s] is
 * what rank s sent here. Every rank passes the same shape. */
tide_status tide_comm_alltoall(tide_comm *c, tide_tensor *out, const tide_tensor *t);
/* send_counts[r] rows of t (in order) go to rank r; out stacks what each rank sent here, in
 * rank order, and recv_counts[r] (size entries) says how many rows came from rank r. */
tide_status tide_comm_alltoallv(tide_comm *c, tide_tensor *out, const tide_tensor *t,
                                const int64_t *send_counts, int64_t *recv_counts);

/* A number allreduced across ranks as Lua sees numbers: stays an integer (64-bit, wrapping)
 * when every rank passed an integer, else becomes a double. avg always gives a double. */
typedef struct tide_scalar {
    double f;
    int64_t i;
    int64_t is_float;
} tide_scalar;
tide_status tide_comm_allreduce_scalar(tide_comm *c, tide_scalar *v, tide_op op);

/* ------------------------------------------------------------------ point to point */

/* Where a receive's message came from. */
typedef struct tide_recv_info {
    int source, tag;
} tide_recv_info;

/* Every message carries a small header (dtype, shape), so a receive can check what came and
 * recv_new can allocate it. tag >= 0. */
tide_status tide_comm_send(tide_comm *c, const tide_tensor *t, int dst, int tag);
/* Into t (same dtype and element count as what was sent; the shape may differ). src and tag
 * may be TIDE_ANY. */
tide_status tide_comm_recv(tide_comm *c, tide_tensor *t, int src, int tag, tide_recv_info *info);
/* Allocates out with the dtype and shape the sender's tensor had. */
tide_status tide_comm_recv_new(tide_comm *c, tide_tensor *out, int src, int tag,
                               tide_recv_info *info);

/* ------------------------------------------------------------------ bytes (Lua values)
 * send_obj/recv_obj's messages: a serialised value (the collectives are in objects.h).
 * Results are malloc'd; free them with free(). */
typedef struct tide_bytes {
    char *data;
    int64_t len;
} tide_bytes;

tide_status tide_comm_send_bytes(tide_comm *c, const char *buf, int64_t len, int dst, int tag);
tide_status tide_comm_recv_bytes(tide_comm *c, int src, int tag, tide_bytes *out,
                                 tide_recv_info *info);

/* ------------------------------------------------------------------ non-blocking */

typedef enum {
    TIDE_REQ_NONE, TIDE_REQ_ALLREDUCE, TIDE_REQ_BROADCAST, TIDE_REQ_ALLGATHER,
    TIDE_REQ_ALLTOALLV, TIDE_REQ_SEND, TIDE_REQ_RECV
} tide_req_kind;

/* A started operation. It holds its own references to the tensors it reads and writes, so
 * they outlive it even when the caller drops its own. The caller provides the memory (the
 * bindings put it inside a userdata) and calls tide_request_release when done with it. */
typedef struct tide_request {
    tide_req_kind kind;
    int active;              /* started, not yet completed */
    MPI_Request req;
    tide_comm *comm;         /* the caller keeps it alive while the request is */
    MPI_Comm mpi;
    tide_op op;
    int root, peer, tag;
    uint64_t seq;
    uint64_t rec;            /* the flight recorder's id (0: not recorded) */
    char site[80];
    double t0;
    int64_t bytes;
    tide_tensor buf;         /* what MPI reads or writes */
    tide_tensor dst;         /* the caller's tensor, when buf is a temporary copy of it */
    tide_tensor *out;        /* the allgather/alltoallv result (the caller's box, filled at start) */
    tide_tensor result;      /* our own reference to *out's storage, which MPI writes into */
    int64_t *hdr;            /* the row headers exchanged at start, then counts */
    int *counts, *displs, *scounts, *sdispls;
    int64_t *recv_counts;    /* alltoallv: rows from each rank */
    MPI_Datatype type;       /* send/recv: header + data */
    unsigned char wire[128]; /* send/recv: the message header */
    tide_recv_info info;
} tide_request;

tide_status tide_comm_iallreduce(tide_comm *c, tide_request *r, tide_tensor *t, tide_op op);
tide_status tide_comm_ibroadcast(tide_comm *c, tide_request *r, tide_tensor *t, int root);
/* The v-forms agree on row counts first (a short exchange that waits for every rank), then
 * start the data exchange; out is allocated at once and filled by completion. */
tide_status tide_comm_iallgather(tide_comm *c, tide_request *r, tide_tensor *out,
                                 const tide_tensor *t);
/* recv_counts is filled on completion (c->size entries, owned by the request). */
tide_status tide_comm_ialltoallv(tide_comm *c, tide_request *r, tide_tensor *out,
                                 const tide_tensor *t, const int64_t *send_counts);
tide_status tide_comm_isend(tide_comm *c, tide_request *r, const tide_tensor *t, int dst, int tag);
tide_status tide_comm_irecv(tide_comm *c, tide_request *r, tide_tensor *t, int src, int tag);

const char *tide_request_name(const tide_request *r);
/* *done = 1 once complete. */
tide_status tide_request_test(tide_request *r, int *done);
tide_status tide_request_wait(tide_request *r);
/* Completes (waits for, or cancels an unmatched receive) an active request and drops its
 * references. Idempotent. */
void tide_request_release(tide_request *r);

#endif
