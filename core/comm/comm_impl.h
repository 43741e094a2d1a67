/* comm_impl.h — what the comm_*.c files share and nothing else includes: the prologue and
 * epilogue every collective runs (sequence number, fingerprint, watchdog, timeline), MPI error
 * conversion, the dtype and op maps, and the checks on ranks and counts. */
#ifndef TIDE_COMM_IMPL_H
#define TIDE_COMM_IMPL_H

#include "comm/comm.h"
#include "comm/watchdog.h"

/* One collective call in progress. */
typedef struct coll {
    tide_comm *c;
    const char *name;
    int polled;         /* a timeout is set: wait through the watchdog */
    int traced;         /* record the call on the timeline */
    double t0;
    uint64_t rec;       /* the flight recorder's id (recorder.h); 0: not recorded */
    tide_wd_op wd;
} coll;

/* Fingerprint flags: which parts of the tensor must agree across ranks. */
#define FP_ROWS_VARY 1  /* every dim but the first (v-forms) */
#define FP_NO_TENSOR 2  /* the tensor is not compared (scatter: only root's counts) */

/* Checks the communicator, numbers the call and runs the enabled hooks (fingerprint exchange,
 * watchdog registration, timeline). t may be NULL; op and root are -1 when not used. */
tide_status tide_coll_begin(coll *x, tide_comm *c, const char *name, const tide_tensor *t,
                            int op, int root, int flags);
/* Records the call on the timeline (bytes: this rank's payload) and leaves the watchdog. */
void tide_coll_end(coll *x, int64_t bytes);
/* Ends the call as st says: done (tide_coll_end), or failed with tide_error()'s message in
 * the flight recorder. Returns st, so every exit after tide_coll_begin can read
 * `return tide_coll_close(&x, bytes, st);`. */
tide_status tide_coll_close(coll *x, int64_t bytes, tide_status st);
/* TIDE_TRY for the steps between tide_coll_begin and the end: a failure ends the call. */
#define COLL_TRY(x, expr) \
    do { if ((expr) != TIDE_OK) return tide_coll_close((x), 0, TIDE_FAIL); } while (0)
/* Completes req: MPI_Wait, or polled under the watchdog. Returns MPI's code. */
int tide_coll_wait(coll *x, MPI_Request *req, MPI_Status *st);

/* "name: MPI_ERR_...: text" for a failed MPI call. */
tide_status tide_mpi_fail(int rc, const char *name);
#define MPI_TRY(name, call) do { int rc_ = (call); if (rc_ != MPI_SUCCESS) return tide_mpi_fail(rc_, name); } while (0)

MPI_Datatype tide_mpi_type(tide_dtype dt);
MPI_Op tide_mpi_op(tide_op op);

tide_status tide_check_rank(const tide_comm *c, int r, const char *name, const char *what,
                            int allow_any);
tide_status tide_check_tag(int tag, const char *name, int allow_any);
/* n elements in one MPI call: refuses counts over tide_comm_max_count(). */
tide_status tide_check_count(int64_t n, const char *name);

/* Rows of t (dim 0; a 0-dim tensor is one row) and elements per row. */
int64_t tide_rows(const tide_tensor *t);
int64_t tide_row_elems(const tide_tensor *t);

/* For an operation that writes into t: *work is t itself when contiguous (*temp = 0), else a
 * contiguous copy (*temp = 1) to be copied back with tide_inplace_finish. Refuses expanded
 * tensors (stride 0), whose elements alias. */
tide_status tide_inplace_begin(tide_tensor *work, int *temp, const tide_tensor *t, const char *name);
tide_status tide_inplace_finish(tide_tensor *t, tide_tensor *work, int temp);

/* x[i] /= k for n elements (integers: truncating). */
void tide_divide(void *p, tide_dtype dt, int64_t n, int64_t k);
/* Rows per rank: counts (size entries, checked against rows) or as even as possible. */
tide_status tide_split_rows(const tide_comm *c, int64_t rows, const int64_t *counts,
                            int64_t *out, const char *name);

/* Starts a point-to-point call: no sequence number or fingerprint; name (which may say the
 * peer and tag) is what the watchdog and the timeline report. */
tide_status tide_p2p_begin(coll *x, tide_comm *c, const char *name);

/* --- row headers (comm_coll.c), shared with the non-blocking forms --- */

/* dtype, ndim, rows, then dims 2.. of a tensor: what the v-forms exchange */
#define TIDE_ROW_HDR 10
/* alltoallv: a row header plus the rows sent to that rank */
#define TIDE_A2AV_HDR (TIDE_ROW_HDR + 1)
void tide_row_header(int64_t *h, const tide_tensor *t);
tide_status tide_rows_mismatch(const char *name, int ra, const int64_t *ha, int rb,
                               const int64_t *hb);
tide_status tide_check_headers(const char *name, const int64_t *all, int size);
/* counts/displs in elements from rows per rank; total_rows (may be NULL) their sum. */
tide_status tide_v_layout(const char *name, const int64_t *rows, int size, int64_t row_elems,
                          int *counts, int *displs, int64_t *total_rows);
/* out: `rows` rows shaped like like's rows (a 0-dim like gives a 1-D result). */
tide_status tide_alloc_rows(tide_tensor *out, const tide_tensor *like, int64_t rows,
                            const char *name);
tide_status tide_a2av_headers(tide_comm *c, const tide_tensor *t, const int64_t *send_counts,
                              int64_t *sh, const char *name);
tide_status tide_a2av_plan(tide_comm *c, const tide_tensor *t, const int64_t *send_counts,
                           const int64_t *rh, int64_t *recv_counts, int *sc, int *sd, int *rc,
                           int *rd, int64_t *total, const char *name);

/* --- the point-to-point wire format (comm_p2p.c), shared with isend/irecv --- */

#define TIDE_WIRE_BYTES 128
#define TIDE_WIRE_TENSOR 1
#define TIDE_WIRE_BYTES_KIND 2
void tide_wire_fill(unsigned char *wire, int kind, const tide_tensor *t, int64_t nbytes);
/* Checks a received header against t (kind tensor, same dtype and element count). */
tide_status tide_wire_check(const unsigned char *wire, const tide_tensor *t, int src, int tag,
                            const char *name);
/* A datatype covering the header at wire and nbytes at data (absolute addresses: use with
 * MPI_BOTTOM). */
int tide_wire_type(unsigned char *wire, void *data, int64_t nbytes, MPI_Datatype *type);
tide_status tide_wire_size_check(int64_t nbytes, const char *name);

/* A blocking allreduce (sum or avg) of the whole shared tensor in window slot (see
 * shared.h), without messages. Fails on every rank when the ranks passed different shared
 * tensors or ops. */
tide_status tide_comm_shared_allreduce(coll *x, int slot, tide_op op);
/* Before a blocking allreduce of an ordinary tensor t: on a communicator with shared tensors,
 * the shared path's first exchange, so that a rank passing a shared tensor fails with this
 * one instead of both waiting. Nothing (no message) on other communicators. */
tide_status tide_comm_shared_plain(coll *x, const tide_tensor *t, tide_op op);

/* The fingerprint checks of a collective (fingerprint.h): debug's exchange on every call, or
 * the light check. */
tide_status tide_fp_hook(coll *x, const tide_tensor *t, int op, int root, int flags, int debug);
/* For ranks that all know their calls differ: exchanges whole fingerprints over comm and fails
 * with the message naming them. win: the shared tensor's id or -1. */
tide_status tide_fp_explain(coll *x, MPI_Comm comm, const tide_tensor *t, int op, int root,
                            int flags, int win);

/* The scalar allreduce's MPI datatype and ops, made and freed by the runtime (runtime.c). */
tide_status tide_comm_types_init(void);
void tide_comm_types_free(void);

/* The site most recently set by tide_comm_set_site ("?" when none). */
const char *tide_comm_site(void);

#endif
