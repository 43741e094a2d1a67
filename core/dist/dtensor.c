/* dtensor.c — row-sharded tensors: layouts, creation, gathering and redistribution. */
#include "dist/dtensor.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ops/random.h"
#include "tensor/size.h"

/* ---------------------------------------------------------------- small helpers */

void tide_dtensor_release(tide_dtensor *dt)
{
    tide_tensor_release(&dt->local);
    free(dt->counts);
    memset(dt, 0, sizeof *dt);
}

void tide_dtensor_block_rows(int64_t n, int p, int r, int64_t *start, int64_t *count)
{
    int64_t q = n / p, rem = n % p;
    *count = q + (r < rem);
    *start = r * q + (r < rem ? r : rem);
}

/* Bytes of one row of t (the product of its dims after the first). */
static int64_t row_bytes(const tide_tensor *t)
{
    int64_t b = (int64_t)tide_dtype_size(t->dtype);
    for (int d = 1; d < t->ndim; d++)
        if (!tide_mul_fits(b, t->shape[d], &b))
            return -1;   /* an expanded view's row can be any size: redistribute refuses it */
    return b;
}

/* Fills dt's bookkeeping (comm, counts, offset, global rows) from every rank's row count. */
static tide_status set_layout(tide_dtensor *dt, tide_comm *comm, const int64_t *counts,
                              int replicated, const char *op)
{
    int P = comm->size;
    dt->counts = malloc(sizeof(int64_t) * (size_t)P);
    if (!dt->counts)
        return tide_fail("%s: out of memory for %d row counts", op, P);
    memcpy(dt->counts, counts, sizeof(int64_t) * (size_t)P);
    dt->comm = comm;
    dt->rank = comm->rank;
    dt->nranks = P;
    dt->replicated = replicated;
    dt->offset = 0;
    dt->global_rows = replicated ? counts[0] : 0;
    for (int r = 0; r < P && !replicated; r++) {
        if (r < comm->rank)
            dt->offset += counts[r];
        dt->global_rows += counts[r];
    }
    dt->moved_rows = dt->moved_bytes = 0;
    return TIDE_OK;
}
/* The last step of making a dtensor from its local rows: st (the steps so far) then the layout
 * from counts; on failure dt is released. Frees counts either way. */
static tide_status finish_layout(tide_dtensor *dt, tide_comm *comm, int64_t *counts,
                                 tide_status st, const char *op)
{
    if (st == TIDE_OK)
        st = set_layout(dt, comm, counts, 0, op);
    if (st != TIDE_OK)
        tide_dtensor_release(dt);
    free(counts);
    return st;
}

static tide_status check_comm(const tide_comm *comm, const char *op)
{
    if (!comm || comm->comm == MPI_COMM_NULL)
        return tide_fail("%s: the communicator is freed or not a member's", op);
    return TIDE_OK;
}

/* A 1-D or 2-D i64 tensor over the caller's array (no copy). */
static void wrap_i64(tide_tensor *t, int64_t *data, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    tide_tensor_wrap(t, data, TIDE_I64, cols ? 2 : 1, shape, NULL, NULL);
}

/* The block counts of n rows over P ranks, in a new array. */
static int64_t *block_counts(int64_t n, int P)
{
    int64_t *counts = malloc(sizeof(int64_t) * (size_t)P);
    for (int r = 0; counts && r < P; r++) {
        int64_t start;
        tide_dtensor_block_rows(n, P, r, &start, &counts[r]);
    }
    return counts;
}

/* Every rank learns whether some rank failed its local checks (st): the highest such rank,
 * or -1. One allreduce, so that a bad argument on one rank fails every rank instead of
 * leaving the others waiting in the next collective. */
static tide_status agree_ok(tide_comm *comm, tide_status st, int *bad_rank, const char *op)
{
    int64_t v = st == TIDE_OK ? 0 : comm->rank + 1;
    tide_tensor t = TIDE_TENSOR_EMPTY;
    wrap_i64(&t, &v, 1, 0);
    char saved[512];
    snprintf(saved, sizeof saved, "%s", tide_error());
    tide_status rc = tide_comm_allreduce(comm, &t, TIDE_OP_MAX);
    tide_tensor_release(&t);
    if (rc != TIDE_OK)
        return rc;
    *bad_rank = (int)v - 1;
    if (st != TIDE_OK) {
        tide_fail("%s", saved);
        return TIDE_FAIL;
    }
    if (v)
        return tide_fail("%s: rank %d passed bad arguments", op, (int)v - 1);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- descriptors */

/* What a rank says about a tensor: dtype, ndim, shape. */
enum { D_DTYPE, D_NDIM, D_SHAPE, D_LEN = D_SHAPE + TIDE_MAX_DIMS };

static void describe(int64_t *d, const tide_tensor *t)
{
    memset(d, 0, sizeof(int64_t) * D_LEN);
    d[D_DTYPE] = t->dtype;
    d[D_NDIM] = t->ndim;
    for (int k = 0; k < t->ndim; k++)
        d[D_SHAPE + k] = t->shape[k];
}

/* "5x3 f32" of a descriptor's shape from dim `from` on. */
static const char *desc_str(const int64_t *d, int from, char *buf, size_t size)
{
    char s[TIDE_SHAPE_BUF];
    int64_t shape[TIDE_MAX_DIMS];
    int n = (int)d[D_NDIM] - from;
    for (int k = 0; k < n; k++)
        shape[k] = d[D_SHAPE + k + from];
    snprintf(buf, size, "%s %s", tide_shape_str_n(n, shape, s, sizeof s),
             tide_dtype_name((tide_dtype)d[D_DTYPE]));
    return buf;
}

/* Allgathers every rank's descriptor of t into all (P x D_LEN) and checks they agree from dim
 * `from` on. */
static tide_status agree_shapes(int64_t *all, tide_comm *comm, const tide_tensor *t, int from,
                                const char *op)
{
    int bad;
    tide_status st = t->ndim >= 1 ? TIDE_OK
                     : tide_fail("%s: expected a tensor of at least 1 dim (rows), got a scalar",
                                 op);
    TIDE_TRY(agree_ok(comm, st, &bad, op));
    int64_t mine[D_LEN];
    describe(mine, t);
    tide_tensor in = TIDE_TENSOR_EMPTY, out = TIDE_TENSOR_EMPTY;
    wrap_i64(&in, mine, 1, D_LEN);
    st = tide_comm_allgather(comm, &out, &in);
    tide_tensor_release(&in);
    if (st != TIDE_OK)
        return st;
    memcpy(all, tide_data(&out), sizeof(int64_t) * D_LEN * (size_t)comm->size);
    tide_tensor_release(&out);
    const int64_t *d0 = all;
    for (int r = 1; r < comm->size; r++) {
        const int64_t *dr = all + r * D_LEN;
        int same = dr[D_DTYPE] == d0[D_DTYPE] && dr[D_NDIM] == d0[D_NDIM];
        for (int k = from; same && k < d0[D_NDIM]; k++)
            same = dr[D_SHAPE + k] == d0[D_SHAPE + k];
        if (!same) {
            char a[TIDE_SHAPE_BUF + 8], b[TIDE_SHAPE_BUF + 8];
            return tide_fail("%s: rank %d holds %s%s, rank 0 %s", op, r, from ? "rows of " : "",
                             desc_str(dr, from, a, sizeof a), desc_str(d0, from, b, sizeof b));
        }
    }
    return TIDE_OK;
}

/* ---------------------------------------------------------------- creation */

static tide_status from_tensor(tide_dtensor *dt, tide_comm *comm, const tide_tensor *t,
                               int replicated, const char *op)
{
    TIDE_TRY(check_comm(comm, op));
    int P = comm->size;
    int64_t *all = malloc(sizeof(int64_t) * D_LEN * (size_t)P);
    int64_t *counts = malloc(sizeof(int64_t) * (size_t)P);
    tide_status st = all && counts ? TIDE_OK : tide_fail("%s: out of memory", op);
    if (st == TIDE_OK)
        st = agree_shapes(all, comm, t, replicated ? 0 : 1, op);
    if (st == TIDE_OK) {
        for (int r = 0; r < P; r++)
            counts[r] = all[r * D_LEN + D_SHAPE];
        st = set_layout(dt, comm, counts, replicated, op);
    }
    if (st == TIDE_OK)
        tide_tensor_share(&dt->local, t);
    free(all);
    free(counts);
    return st;
}

tide_status tide_dtensor_from_local(tide_dtensor *dt, tide_comm *comm, const tide_tensor *local)
{
    return from_tensor(dt, comm, local, 0, "dtensor.from_local");
}

tide_status tide_dtensor_replicated(tide_dtensor *dt, tide_comm *comm, const tide_tensor *t)
{
    return from_tensor(dt, comm, t, 1, "dtensor.replicated");
}

tide_status tide_dtensor_scatter(tide_dtensor *dt, tide_comm *comm, const tide_tensor *t, int root)
{
    static const char op[] = "dtensor.scatter";
    TIDE_TRY(check_comm(comm, op));
    if (root < 0 || root >= comm->size)
        return tide_fail("%s: root %d out of range for %d ranks", op, root, comm->size);
    /* root says how many rows there are, or -1 when it has no rows to give */
    int64_t rows = comm->rank == root && t && t->ndim >= 1 ? t->shape[0] : -1;
    tide_tensor n = TIDE_TENSOR_EMPTY;
    wrap_i64(&n, &rows, 1, 0);
    tide_status st = tide_comm_broadcast(comm, &n, root);
    tide_tensor_release(&n);
    TIDE_TRY(st);
    if (rows < 0)
        return comm->rank == root ? tide_fail("%s: expected a tensor of at least 1 dim on the "
                                              "root, got %s", op, t ? "a scalar" : "nothing")
                                  : tide_fail("%s: the root (rank %d) passed no rows", op, root);
    int64_t *counts = block_counts(rows, comm->size);
    if (!counts)
        return tide_fail("%s: out of memory", op);
    tide_tensor none = TIDE_TENSOR_EMPTY;
    st = tide_comm_scatter(comm, &dt->local, comm->rank == root ? t : &none, root, counts);
    return finish_layout(dt, comm, counts, st, op);
}

tide_status tide_dtensor_fill(tide_dtensor *dt, tide_comm *comm, int ndim, const int64_t *shape,
                              tide_dtype dtype, tide_dt_fill kind, uint64_t key, uint64_t first,
                              double a, double b)
{
    const char *op = kind == TIDE_DT_ZEROS ? "dtensor.zeros"
                     : kind == TIDE_DT_UNIFORM ? "dtensor.rand" : "dtensor.randn";
    TIDE_TRY(check_comm(comm, op));
    if (ndim < 1)
        return tide_fail("%s: expected a global shape of at least 1 dim (rows), got a scalar", op);
    if (kind != TIDE_DT_ZEROS && !tide_dtype_is_float(dtype))
        return tide_fail("%s: expected a float dtype (f32 or f64), got %s", op,
                         tide_dtype_name(dtype));
    /* the global shape must have representable sizes, so that no rank's row offsets wrap */
    TIDE_TRY(tide_shape_check(ndim, shape, dtype, op, NULL));
    int64_t lshape[TIDE_MAX_DIMS], row_elems = 1;
    memcpy(lshape, shape, sizeof(int64_t) * (size_t)ndim);
    for (int k = 1; k < ndim; k++)
        row_elems *= shape[k];
    int64_t start;
    tide_dtensor_block_rows(shape[0], comm->size, comm->rank, &start, &lshape[0]);
    int64_t *counts = block_counts(shape[0], comm->size);
    tide_status st = counts ? TIDE_OK : tide_fail("%s: out of memory", op);
    if (st == TIDE_OK)
        st = tide_tensor_alloc(&dt->local, dtype, ndim, lshape);
    if (st == TIDE_OK) {
        uint64_t at = first + (uint64_t)(start * row_elems);
        st = kind == TIDE_DT_ZEROS     ? tide_fill(&dt->local, 0)
             : kind == TIDE_DT_UNIFORM ? tide_random_uniform(&dt->local, key, at, a, b)
                                       : tide_random_normal(&dt->local, key, at, a, b);
    }
    return finish_layout(dt, comm, counts, st, op);
}

/* ---------------------------------------------------------------- gathering */

tide_status tide_dtensor_gather(tide_tensor *out, const tide_dtensor *dt, int root)
{
    if (root < 0 || root >= dt->nranks)
        return tide_fail("gather: root %d out of range for %d ranks", root, dt->nranks);
    TIDE_TRY(check_comm(dt->comm, "gather"));
    if (dt->replicated)
        return dt->rank == root ? tide_clone(out, &dt->local) : TIDE_OK;
    return tide_comm_gather(dt->comm, out, &dt->local, root);
}

tide_status tide_dtensor_allgather(tide_tensor *out, const tide_dtensor *dt)
{
    TIDE_TRY(check_comm(dt->comm, "full"));
    if (dt->replicated)
        return tide_clone(out, &dt->local);
    return tide_comm_allgather(dt->comm, out, &dt->local);
}

/* ---------------------------------------------------------------- redistribute */

/* Checks the arguments on this rank, reads dest into d_of (contiguous i32, malloc'd) and counts
 * the rows for each destination. */
static tide_status plan_sends(const tide_dtensor *const *in, int n, const tide_tensor *dest,
                              int64_t *send, int32_t **d_of, const char *op)
{
    const tide_dtensor *a = in[0];
    int64_t rows = a->local.shape[0];
    for (int k = 0; k < n; k++) {
        if (in[k]->replicated)
            return tide_fail("%s: tensor %d is replicated, expected a sharded dtensor", op, k + 1);
        if (in[k]->comm != a->comm)
            return tide_fail("%s: tensor %d lives on another communicator than tensor 1", op,
                             k + 1);
        if (in[k]->local.shape[0] != rows)
            return tide_fail("%s: tensor %d has %lld local rows, tensor 1 has %lld", op, k + 1,
                             (long long)in[k]->local.shape[0], (long long)rows);
    }
    char s[TIDE_SHAPE_BUF];
    if (dest->ndim != 1 || (dest->dtype != TIDE_I32 && dest->dtype != TIDE_I64) ||
        dest->shape[0] != rows)
        return tide_fail("%s: expected dest as an i32 or i64 vector of %lld ranks (one per "
                         "local row), got %s %s", op, (long long)rows,
                         tide_shape_str(dest, s, sizeof s), tide_dtype_name(dest->dtype));
    int32_t *d = *d_of = malloc(sizeof(int32_t) * (size_t)(rows > 0 ? rows : 1));
    if (!d)
        return tide_fail("%s: out of memory for %lld destinations", op, (long long)rows);
    int64_t stride = dest->stride[0];
    if (dest->dtype == TIDE_I32) {
        const int32_t *src = tide_data(dest);
        for (int64_t i = 0; i < rows; i++)
            d[i] = src[i * stride];
    } else {
        const int64_t *src = tide_data(dest);
        for (int64_t i = 0; i < rows; i++) {
            int64_t v = src[i * stride];
            d[i] = v < 0 || v > INT32_MAX ? -1 : (int32_t)v;
            if (d[i] < 0)
                return tide_fail("%s: dest %lld of row %lld is not a rank (expected 0..%d)", op,
                                 (long long)v, (long long)i + 1, a->nranks - 1);
        }
    }
    memset(send, 0, sizeof(int64_t) * (size_t)a->nranks);
    for (int64_t i = 0; i < rows; i++) {
        if (d[i] < 0 || d[i] >= a->nranks)
            return tide_fail("%s: dest %d of row %lld is not a rank (expected 0..%d)", op,
                             (int)d[i], (long long)i + 1, a->nranks - 1);
        send[d[i]]++;
    }
    return TIDE_OK;
}

/* Appends each row (rb bytes) of src to its destination's run; base[d] moves past what it
 * received. Runs of several tensors need not be aligned, so rows go by memcpy; a constant size
 * (4- and 8-byte rows: keys, ranks, labels) compiles to a single move. */
#define PACK_LOOP(RB)                                                                      \
    for (int64_t i = 0; i < rows; i++) {                                                   \
        memcpy(base[d_of[i]], src + i * (RB), (size_t)(RB));                               \
        base[d_of[i]] += (RB);                                                             \
    }

static void pack_tensor(const char *src, int64_t rb, int64_t rows, const int32_t *d_of,
                        char **base)
{
    if (rb == 4)
        PACK_LOOP(4)
    else if (rb == 8)
        PACK_LOOP(8)
    else
        PACK_LOOP(rb)
}

/* The send buffer lives on between calls (per thread, grown to the largest send so far): a
 * fresh buffer of a large move costs a page fault per 4 KB, as much as the copy into it.
 * tide_dtensor_trim frees it. */
static _Thread_local void *scratch;
static _Thread_local size_t scratch_bytes;

void tide_dtensor_trim(void)
{
    free(scratch);
    scratch = NULL;
    scratch_bytes = 0;
}

static void *send_scratch(size_t n)
{
    if (n == 0)
        n = 1;   /* a rank with nothing to send still needs a buffer (NULL means failure) */
    if (n > scratch_bytes) {
        tide_dtensor_trim();
        size_t size = (n + (1u << 21) - 1) & ~(size_t)((1u << 21) - 1);   /* whole 2 MB pages */
        scratch = aligned_alloc(1u << 21, size);
        if (!scratch)
            return NULL;
#ifdef MADV_HUGEPAGE
        madvise(scratch, size, MADV_HUGEPAGE);
#endif
        scratch_bytes = size;
    }
    return scratch;
}

/* Packs the send buffer: a segment per destination rank (in rank order), each holding tensor
 * 1's rows for that rank, then tensor 2's, ... One tensor packs in its own dtype and shape
 * (so what arrives is already the output); several pack as u8 rows of all their bytes. */
static tide_status pack_all(tide_tensor *sendbuf, const tide_dtensor *const *in, int n,
                            const int32_t *d_of, const int64_t *send, int64_t rb_all,
                            const char *op)
{
    int P = in[0]->nranks;
    int64_t rows = in[0]->local.shape[0];
    char **base = malloc(sizeof(char *) * (size_t)P);
    if (!base)
        return tide_fail("%s: out of memory packing %lld rows", op, (long long)rows);
    int64_t shape[TIDE_MAX_DIMS] = {rows, rb_all};
    if (n == 1)
        memcpy(shape, in[0]->local.shape, sizeof shape);
    /* a tensor riding along may be an expanded view: its rows need not fit in memory */
    int64_t bytes = 0;
    if (!tide_mul_fits(rows, rb_all, &bytes)) {
        free(base);
        return tide_fail("%s: %lld rows of %lld bytes do not fit in 64 bits", op,
                         (long long)rows, (long long)rb_all);
    }
    void *buf = tide_bytes_possible((size_t)bytes) ? send_scratch((size_t)bytes) : NULL;
    tide_status st = !buf ? tide_fail("%s: out of memory for %lld bytes of rows to send", op,
                                      (long long)bytes)
                     : n == 1 ? tide_tensor_wrap(sendbuf, buf, in[0]->local.dtype,
                                                 in[0]->local.ndim, shape, NULL, NULL)
                              : tide_tensor_wrap(sendbuf, buf, TIDE_U8, 2, shape, NULL, NULL);
    int64_t within = 0;   /* bytes into each segment where tensor k's rows start */
    for (int k = 0; k < n && st == TIDE_OK; k++) {
        tide_tensor src = TIDE_TENSOR_EMPTY;
        int64_t rb = row_bytes(&in[k]->local), at = 0;
        for (int d = 0; d < P; d++) {
            base[d] = (char *)tide_data(sendbuf) + at + within * send[d];
            at += send[d] * rb_all;
        }
        st = tide_contiguous(&src, &in[k]->local);
        if (st == TIDE_OK)
            pack_tensor(tide_data(&src), rb, rows, d_of, base);
        tide_tensor_release(&src);
        within += rb;
    }
    free(base);
    return st;
}

/* The receive side of several tensors: each source's segment holds tensor 1's rows, then
 * tensor 2's, ... */
static tide_status unpack_all(tide_dtensor *out, const tide_dtensor *const *in, int n,
                              const tide_tensor *recv, const int64_t *recv_counts, int P)
{
    int64_t new_rows = recv->shape[0];
    for (int k = 0; k < n; k++) {
        int64_t shape[TIDE_MAX_DIMS];
        memcpy(shape, in[k]->local.shape, sizeof shape);
        shape[0] = new_rows;
        TIDE_TRY(tide_tensor_alloc(&out[k].local, in[k]->local.dtype, in[k]->local.ndim, shape));
    }
    const char *seg = tide_data(recv);
    int64_t row_at = 0;
    for (int s = 0; s < P; s++) {
        for (int k = 0; k < n; k++) {
            int64_t rb = row_bytes(&out[k].local);
            memcpy((char *)tide_data(&out[k].local) + row_at * rb, seg,
                   (size_t)(recv_counts[s] * rb));
            seg += recv_counts[s] * rb;
        }
        row_at += recv_counts[s];
    }
    return TIDE_OK;
}

/* After the move, every rank learns every rank's new row count and rows sent away, and
 * whether unpacking failed somewhere (st: this rank's outcome so far). */
static tide_status share_layout(tide_dtensor *out, int n, tide_comm *comm, tide_status st,
                                int64_t new_rows, int64_t moved_here, int64_t rb_all,
                                const char *op)
{
    int P = comm->size;
    char saved[512];
    snprintf(saved, sizeof saved, "%s", tide_error());
    int64_t mine[3] = {new_rows, moved_here, st != TIDE_OK};
    tide_tensor in = TIDE_TENSOR_EMPTY, all = TIDE_TENSOR_EMPTY;
    wrap_i64(&in, mine, 1, 3);
    tide_status rc = tide_comm_allgather(comm, &all, &in);
    tide_tensor_release(&in);
    TIDE_TRY(rc);
    if (st != TIDE_OK) {
        tide_tensor_release(&all);
        tide_fail("%s", saved);
        return TIDE_FAIL;
    }
    int64_t *counts = malloc(sizeof(int64_t) * (size_t)P);
    const int64_t *l = tide_data(&all);
    int64_t moved = 0;
    for (int r = 0; r < P && st == TIDE_OK; r++) {
        if (l[3 * r + 2])
            st = tide_fail("%s: rank %d failed to unpack its rows", op, r);
        else if (counts)
            counts[r] = l[3 * r];
        moved += l[3 * r + 1];
    }
    tide_tensor_release(&all);
    if (st == TIDE_OK && !counts)
        st = tide_fail("%s: out of memory", op);
    for (int k = 0; k < n && st == TIDE_OK; k++) {
        st = set_layout(&out[k], comm, counts, 0, op);
        out[k].moved_rows = moved;
        out[k].moved_bytes = moved * rb_all;
    }
    free(counts);
    return st;
}

tide_status tide_dtensor_redistribute(tide_dtensor *out, const tide_dtensor *const *in, int n,
                                      const tide_tensor *dest)
{
    static const char op[] = "redistribute";
    if (n < 1)
        return tide_fail("%s: expected at least one dtensor", op);
    tide_comm *comm = in[0]->comm;
    TIDE_TRY(check_comm(comm, op));
    int P = comm->size, bad = 0;
    int64_t *send = malloc(sizeof(int64_t) * 2 * (size_t)P);
    if (!send)
        return tide_fail("%s: out of memory", op);
    int64_t *recv_counts = send + P;
    int64_t rb_all = 0;
    int too_big = 0;
    for (int k = 0; k < n && !too_big; k++) {
        int64_t rb = row_bytes(&in[k]->local);
        too_big = rb < 0 || !tide_add_fits(rb_all, rb, &rb_all) ? k + 1 : 0;
    }
    tide_tensor sendbuf = TIDE_TENSOR_EMPTY, recv = TIDE_TENSOR_EMPTY;
    int32_t *d_of = NULL;
    char s1[TIDE_SHAPE_BUF];
    tide_status st = too_big ? tide_fail("%s: a row of tensor %d (%s) is more bytes than fit in"
                                         " 64 bits", op, too_big,
                                         tide_shape_str(&in[too_big - 1]->local, s1, sizeof s1))
                             : plan_sends(in, n, dest, send, &d_of, op);
    if (st == TIDE_OK)
        st = pack_all(&sendbuf, in, n, d_of, send, rb_all, op);
    free(d_of);
    /* a bad argument (or no memory) on one rank fails every rank, none is left waiting */
    st = agree_ok(comm, st, &bad, op);
    int exchanged = 0;   /* every rank got here: the rest must run its collective too */
    if (st == TIDE_OK)
        exchanged = (st = tide_comm_alltoallv(comm, &recv, &sendbuf, send, recv_counts)) == TIDE_OK;
    tide_tensor_release(&sendbuf);
    if (st == TIDE_OK && n == 1)
        tide_tensor_share(&out[0].local, &recv);
    else if (st == TIDE_OK)
        st = unpack_all(out, in, n, &recv, recv_counts, P);
    int64_t new_rows = exchanged ? recv.shape[0] : 0;
    tide_tensor_release(&recv);
    if (exchanged)
        st = share_layout(out, n, comm, st, new_rows, in[0]->local.shape[0] - send[comm->rank],
                          rb_all, op);
    if (st != TIDE_OK)
        for (int k = 0; k < n; k++)
            tide_dtensor_release(&out[k]);
    free(send);
    return st;
}
