/* comm_coll.c — the collectives that move rows: allgather, gather, scatter, reduce_scatter,
 * alltoall, alltoallv. The v-forms exchange a small header first (dtype and shape of each
 * rank's tensor), which both sizes the result and checks, on every call, that the ranks' rows
 * agree in dtype and shape. */
#include "comm/comm_impl.h"
#include "tensor/half.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ row headers */

void tide_row_header(int64_t *h, const tide_tensor *t)
{
    memset(h, 0, sizeof(int64_t) * TIDE_ROW_HDR);
    h[0] = t->dtype;
    h[1] = t->ndim;
    h[2] = tide_rows(t);
    for (int d = 1; d < t->ndim; d++)
        h[2 + d] = t->shape[d];
}

static int rows_compatible(const int64_t *a, const int64_t *b)
{
    if (a[0] != b[0] || a[1] != b[1])
        return 0;
    for (int k = 3; k < TIDE_ROW_HDR; k++)
        if (a[k] != b[k])
            return 0;
    return 1;
}

static void header_str(char *buf, size_t n, const int64_t *h)
{
    size_t used = (size_t)snprintf(buf, n, "%s [", tide_dtype_name((tide_dtype)h[0]));
    if (h[1] == 0) {
        snprintf(buf + used, n - used, "scalar]");
        return;
    }
    for (int d = 0; d < h[1] && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, d ? "x%lld" : "%lld",
                                 (long long)(d ? h[2 + d] : h[2]));
    if (used < n)
        snprintf(buf + used, n - used, "]");
}

/* "allgather: rank 1 passed f32 [3x5], rank 0 passed f32 [2x4] (...)" — the higher rank
 * first, so that both sides of a pair word it alike. */
tide_status tide_rows_mismatch(const char *name, int ra, const int64_t *ha, int rb,
                               const int64_t *hb)
{
    if (ra < rb) {
        int tr = ra; ra = rb; rb = tr;
        const int64_t *th = ha; ha = hb; hb = th;
    }
    char a[TIDE_SHAPE_BUF + 8], b[TIDE_SHAPE_BUF + 8];
    header_str(a, sizeof a, ha);
    header_str(b, sizeof b, hb);
    return tide_fail("%s: rank %d passed %s, rank %d passed %s (row counts may differ; the "
                     "dtype and the other dims must match)", name, ra, a, rb, b);
}

/* all: size headers of stride TIDE_ROW_HDR. The first rank whose rows differ from rank 0's. */
tide_status tide_check_headers(const char *name, const int64_t *all, int size)
{
    for (int r = 1; r < size; r++)
        if (!rows_compatible(&all[r * TIDE_ROW_HDR], all))
            return tide_rows_mismatch(name, r, &all[r * TIDE_ROW_HDR], 0, all);
    return TIDE_OK;
}

tide_status tide_v_layout(const char *name, const int64_t *rows, int size, int64_t row_elems,
                          int *counts, int *displs, int64_t *total_rows)
{
    int64_t total = 0;
    for (int r = 0; r < size; r++) {
        int64_t n = rows[r] * row_elems;
        TIDE_TRY(tide_check_count(total + n, name));
        counts[r] = (int)n;
        displs[r] = (int)total;
        total += n;
    }
    if (total_rows) {
        *total_rows = 0;
        for (int r = 0; r < size; r++)
            *total_rows += rows[r];
    }
    return TIDE_OK;
}

tide_status tide_alloc_rows(tide_tensor *out, const tide_tensor *like, int64_t rows,
                            const char *name)
{
    int64_t shape[TIDE_MAX_DIMS];
    int ndim = like->ndim ? like->ndim : 1;
    shape[0] = rows;
    for (int d = 1; d < like->ndim; d++)
        shape[d] = like->shape[d];
    tide_status st = tide_prepare_out(out, like->dtype, ndim, shape, name);
    return st;
}

/* Contiguous source: t itself (shared) or a copy. */
static tide_status source(tide_tensor *src, const tide_tensor *t)
{
    memset(src, 0, sizeof *src);
    return tide_contiguous(src, t);
}

/* ------------------------------------------------------------------ allgather and gather */

static int run_allgather(coll *x, void *sbuf, int scount, MPI_Datatype st, void *rbuf,
                         int rcount, MPI_Datatype rt)
{
    if (!x->polled)
        return TIDE_WD_WATCHED(&x->wd, MPI_Allgather(sbuf, scount, st, rbuf, rcount, rt,
                                                     x->c->comm));
    MPI_Request req;
    int rc = MPI_Iallgather(sbuf, scount, st, rbuf, rcount, rt, x->c->comm, &req);
    return rc == MPI_SUCCESS ? tide_coll_wait(x, &req, NULL) : rc;
}

/* The shared part of allgather and gather (root < 0: allgather). */
static tide_status gather_common(tide_comm *c, tide_tensor *out, const tide_tensor *t, int root,
                                 const char *name)
{
    if (c->comm == MPI_COMM_NULL)
        return tide_fail("%s: the communicator was freed", name);
    if (root >= 0)
        TIDE_TRY(tide_check_rank(c, root, name, "root", 0));
    coll x;
    TIDE_TRY(tide_coll_begin(&x, c, name, t, -1, root, FP_ROWS_VARY));
    int size = c->size;
    int64_t *hdr = malloc(sizeof(int64_t) * TIDE_ROW_HDR * (size_t)(size + 1));
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)size);
    int *counts = malloc(sizeof(int) * 2 * (size_t)size);
    tide_tensor src = TIDE_TENSOR_EMPTY;
    tide_status st = TIDE_OK;
    if (!hdr || !rows || !counts) {
        st = tide_fail("%s: out of memory", name);
        goto out;
    }
    tide_row_header(hdr + TIDE_ROW_HDR * size, t);
    int rc = run_allgather(&x, hdr + TIDE_ROW_HDR * size, TIDE_ROW_HDR, MPI_INT64_T, hdr,
                           TIDE_ROW_HDR, MPI_INT64_T);
    if (rc != MPI_SUCCESS) {
        st = tide_mpi_fail(rc, name);
        goto out;
    }
    if ((st = tide_check_headers(name, hdr, size)) != TIDE_OK)
        goto out;
    for (int r = 0; r < size; r++)
        rows[r] = hdr[r * TIDE_ROW_HDR + 2];
    int64_t total;
    int *displs = counts + size;
    if ((st = tide_v_layout(name, rows, size, tide_row_elems(t), counts, displs, &total)) != TIDE_OK)
        goto out;
    if ((st = source(&src, t)) != TIDE_OK)
        goto out;
    int gets = root < 0 || c->rank == root;
    if (gets && (st = tide_alloc_rows(out, t, total, name)) != TIDE_OK)
        goto out;
    MPI_Datatype mt = tide_mpi_type(t->dtype);
    void *rbuf = gets ? tide_data(out) : NULL;
    int n = counts[c->rank];
    if (!x.polled) {
        tide_wd_enter(&x.wd);
        rc = root < 0 ? MPI_Allgatherv(tide_data(&src), n, mt, rbuf, counts, displs, mt, c->comm)
                      : MPI_Gatherv(tide_data(&src), n, mt, rbuf, counts, displs, mt, root, c->comm);
        tide_wd_leave(rc);
    } else {
        MPI_Request req;
        rc = root < 0 ? MPI_Iallgatherv(tide_data(&src), n, mt, rbuf, counts, displs, mt, c->comm, &req)
                      : MPI_Igatherv(tide_data(&src), n, mt, rbuf, counts, displs, mt, root,
                                     c->comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(&x, &req, NULL);
    }
    if (rc != MPI_SUCCESS) {
        st = tide_mpi_fail(rc, name);
        if (gets)
            tide_tensor_release(out);
    }
out:
    tide_coll_close(&x, tide_numel(t) * (int64_t)tide_dtype_size(t->dtype), st);
    tide_tensor_release(&src);
    free(hdr);
    free(rows);
    free(counts);
    return st;
}

tide_status tide_comm_allgather(tide_comm *c, tide_tensor *out, const tide_tensor *t)
{
    return gather_common(c, out, t, -1, "allgather");
}

tide_status tide_comm_gather(tide_comm *c, tide_tensor *out, const tide_tensor *t, int root)
{
    if (root < 0)
        return tide_check_rank(c, root, "gather", "root", 0);
    return gather_common(c, out, t, root, "gather");
}

/* ------------------------------------------------------------------ scatter */

/* What root tells everyone before a scatter: the tensor's dtype and row shape, the rows for
 * each rank, or why root refused its arguments. */
typedef struct scatter_hdr {
    int64_t failed;
    int64_t row[TIDE_ROW_HDR];
    char msg[400];
} scatter_hdr;

static void scatter_prepare(tide_comm *c, const tide_tensor *t, const int64_t *counts,
                            scatter_hdr *h, int64_t *rows)
{
    memset(h, 0, sizeof *h);
    if (!t) {
        h->failed = tide_fail("scatter: the root (rank %d) passed no tensor", c->rank) != TIDE_OK;
    } else if (t->ndim == 0) {
        h->failed = tide_fail("scatter: the root (rank %d) passed a 0-dim tensor; expected rows",
                              c->rank) != TIDE_OK;
    } else {
        tide_row_header(h->row, t);
        h->failed = tide_split_rows(c, t->shape[0], counts, rows, "scatter") != TIDE_OK;
    }
    if (h->failed)
        snprintf(h->msg, sizeof h->msg, "%s", tide_error());
}

tide_status tide_comm_scatter(tide_comm *c, tide_tensor *out, const tide_tensor *t, int root,
                              const int64_t *counts)
{
    if (c->comm == MPI_COMM_NULL)
        return tide_fail("scatter: the communicator was freed");
    TIDE_TRY(tide_check_rank(c, root, "scatter", "root", 0));
    coll x;
    TIDE_TRY(tide_coll_begin(&x, c, "scatter", NULL, -1, root, FP_NO_TENSOR));
    int size = c->size;
    size_t hbytes = sizeof(scatter_hdr) + sizeof(int64_t) * (size_t)size;
    char *msgbuf = malloc(hbytes);
    int *cnt = malloc(sizeof(int) * 2 * (size_t)size);
    tide_tensor src = TIDE_TENSOR_EMPTY;
    tide_status st = TIDE_OK;
    int64_t moved = 0;
    if (!msgbuf || !cnt) {
        st = tide_fail("scatter: out of memory");
        goto out;
    }
    scatter_hdr *h = (scatter_hdr *)msgbuf;
    int64_t *rows = (int64_t *)(msgbuf + sizeof(scatter_hdr));
    if (c->rank == root)
        scatter_prepare(c, t, counts, h, rows);
    int rc;
    if (!x.polled) {
        rc = TIDE_WD_WATCHED(&x.wd, MPI_Bcast(msgbuf, (int)hbytes, MPI_BYTE, root, c->comm));
    } else {
        MPI_Request req;
        rc = MPI_Ibcast(msgbuf, (int)hbytes, MPI_BYTE, root, c->comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(&x, &req, NULL);
    }
    if (rc != MPI_SUCCESS) {
        st = tide_mpi_fail(rc, "scatter");
        goto out;
    }
    if (h->failed) {
        st = tide_fail("%s", h->msg);
        goto out;
    }
    tide_tensor like = TIDE_TENSOR_EMPTY;   /* the row shape root announced */
    like.dtype = (tide_dtype)h->row[0];
    like.ndim = (int)h->row[1];
    for (int d = 1; d < like.ndim; d++)
        like.shape[d] = h->row[2 + d];
    int64_t row_elems = 1;
    for (int d = 1; d < like.ndim; d++)
        row_elems *= like.shape[d];
    int *displs = cnt + size;
    if ((st = tide_v_layout("scatter", rows, size, row_elems, cnt, displs, NULL)) != TIDE_OK)
        goto out;
    if (c->rank == root && (st = source(&src, t)) != TIDE_OK)
        goto out;
    if ((st = tide_alloc_rows(out, &like, rows[c->rank], "scatter")) != TIDE_OK)
        goto out;
    MPI_Datatype mt = tide_mpi_type(like.dtype);
    void *sbuf = c->rank == root ? tide_data(&src) : NULL;
    if (!x.polled) {
        rc = TIDE_WD_WATCHED(&x.wd, MPI_Scatterv(sbuf, cnt, displs, mt, tide_data(out),
                                                 cnt[c->rank], mt, root, c->comm));
    } else {
        MPI_Request req;
        rc = MPI_Iscatterv(sbuf, cnt, displs, mt, tide_data(out), cnt[c->rank], mt, root,
                           c->comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(&x, &req, NULL);
    }
    if (rc != MPI_SUCCESS) {
        st = tide_mpi_fail(rc, "scatter");
        tide_tensor_release(out);
    }
    moved = (int64_t)cnt[c->rank] * (int64_t)tide_dtype_size(like.dtype);
out:
    tide_coll_close(&x, moved, st);
    tide_tensor_release(&src);
    free(msgbuf);
    free(cnt);
    return st;
}

/* ------------------------------------------------------------------ reduce_scatter */

tide_status tide_comm_reduce_scatter(tide_comm *c, tide_tensor *out, const tide_tensor *t,
                                     tide_op op, const int64_t *counts)
{
    const char *name = "reduce_scatter";
    if (c->comm == MPI_COMM_NULL)
        return tide_fail("%s: the communicator was freed", name);
    if ((unsigned)op >= TIDE_NOPS)
        return tide_fail("%s: invalid op %d", name, (int)op);
    TIDE_TRY(tide_dtype_computes(t->dtype, name));
    if (t->ndim == 0)
        return tide_fail("%s: expected a tensor with rows, got a 0-dim tensor", name);
    int size = c->size;
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)size);
    int *cnt = malloc(sizeof(int) * 2 * (size_t)size);
    if (!rows || !cnt) {
        free(rows);
        free(cnt);
        return tide_fail("%s: out of memory", name);
    }
    tide_status st = tide_split_rows(c, t->shape[0], counts, rows, name);
    if (st == TIDE_OK)
        st = tide_v_layout(name, rows, size, tide_row_elems(t), cnt, cnt + size, NULL);
    coll x;
    x.traced = 0;
    if (st == TIDE_OK)
        st = tide_coll_begin(&x, c, name, t, (int)op, -1, 0);
    if (st != TIDE_OK) {
        free(rows);
        free(cnt);
        return st;
    }
    int widen = op == TIDE_OP_AVG && !tide_dtype_is_float(t->dtype) &&
                tide_dtype_size(t->dtype) < sizeof(int64_t);
    tide_tensor src = TIDE_TENSOR_EMPTY, res = TIDE_TENSOR_EMPTY;
    st = widen ? tide_cast(&src, t, TIDE_I64) : source(&src, t);
    if (st == TIDE_OK)
        st = tide_alloc_rows(out, t, rows[c->rank], name);
    tide_tensor *dst = out;
    if (st == TIDE_OK && widen) {
        st = tide_alloc_rows(&res, &src, rows[c->rank], name);
        dst = &res;
    }
    if (st == TIDE_OK) {
        MPI_Datatype mt = tide_mpi_type(src.dtype);
        MPI_Op mop = tide_mpi_op(op);
        int rc;
        if (!x.polled) {
            rc = TIDE_WD_WATCHED(&x.wd, MPI_Reduce_scatter(tide_data(&src), tide_data(dst), cnt,
                                                           mt, mop, c->comm));
        } else {
            MPI_Request req;
            rc = MPI_Ireduce_scatter(tide_data(&src), tide_data(dst), cnt, mt, mop, c->comm, &req);
            if (rc == MPI_SUCCESS)
                rc = tide_coll_wait(&x, &req, NULL);
        }
        if (rc != MPI_SUCCESS) {
            st = tide_mpi_fail(rc, name);
        } else {
            if (op == TIDE_OP_AVG)
                tide_divide(tide_data(dst), dst->dtype, tide_numel(dst), size);
            if (widen)
                st = tide_copy(out, &res);
        }
        if (st != TIDE_OK)
            tide_tensor_release(out);
    }
    tide_coll_close(&x, tide_numel(t) * (int64_t)tide_dtype_size(t->dtype), st);
    tide_tensor_release(&src);
    tide_tensor_release(&res);
    free(rows);
    free(cnt);
    return st;
}

/* ------------------------------------------------------------------ alltoall(v) */

tide_status tide_comm_alltoall(tide_comm *c, tide_tensor *out, const tide_tensor *t)
{
    const char *name = "alltoall";
    if (c->comm == MPI_COMM_NULL)
        return tide_fail("%s: the communicator was freed", name);
    if (t->ndim == 0)
        return tide_fail("%s: expected a tensor with rows, got a 0-dim tensor", name);
    int64_t rows = tide_rows(t);
    if (rows % c->size != 0)
        return tide_fail("%s: %lld rows do not split into %d equal blocks (one per rank)", name,
                         (long long)rows, c->size);
    int64_t block = rows / c->size * tide_row_elems(t);
    TIDE_TRY(tide_check_count(block, name));
    coll x;
    TIDE_TRY(tide_coll_begin(&x, c, name, t, -1, -1, 0));
    tide_tensor src = TIDE_TENSOR_EMPTY;
    tide_status st = source(&src, t);
    if (st == TIDE_OK)
        st = tide_prepare_out(out, t->dtype, t->ndim, t->shape, name);
    if (st == TIDE_OK) {
        MPI_Datatype mt = tide_mpi_type(t->dtype);
        int n = (int)block, rc;
        if (!x.polled) {
            rc = TIDE_WD_WATCHED(&x.wd, MPI_Alltoall(tide_data(&src), n, mt, tide_data(out), n,
                                                     mt, c->comm));
        } else {
            MPI_Request req;
            rc = MPI_Ialltoall(tide_data(&src), n, mt, tide_data(out), n, mt, c->comm, &req);
            if (rc == MPI_SUCCESS)
                rc = tide_coll_wait(&x, &req, NULL);
        }
        if (rc != MPI_SUCCESS) {
            st = tide_mpi_fail(rc, name);
            tide_tensor_release(out);
        }
    }
    tide_coll_close(&x, tide_numel(t) * (int64_t)tide_dtype_size(t->dtype), st);
    tide_tensor_release(&src);
    return st;
}

tide_status tide_a2av_headers(tide_comm *c, const tide_tensor *t, const int64_t *send_counts,
                              int64_t *sh, const char *name)
{
    if (t->ndim == 0)
        return tide_fail("%s: expected a tensor with rows, got a 0-dim tensor", name);
    int64_t sum = 0;
    for (int r = 0; r < c->size; r++) {
        if (send_counts[r] < 0)
            return tide_fail("%s: send count %lld for rank %d is negative", name,
                             (long long)send_counts[r], r);
        sum += send_counts[r];
    }
    if (sum != t->shape[0])
        return tide_fail("%s: send counts sum to %lld rows, the tensor has %lld", name,
                         (long long)sum, (long long)t->shape[0]);
    for (int r = 0; r < c->size; r++) {
        tide_row_header(sh + r * TIDE_A2AV_HDR, t);
        sh[r * TIDE_A2AV_HDR + TIDE_ROW_HDR] = send_counts[r];
    }
    return TIDE_OK;
}

tide_status tide_a2av_plan(tide_comm *c, const tide_tensor *t, const int64_t *send_counts,
                           const int64_t *rh, int64_t *recv_counts, int *sc, int *sd, int *rc,
                           int *rd, int64_t *total, const char *name)
{
    int64_t mine[TIDE_ROW_HDR];
    tide_row_header(mine, t);
    for (int r = 0; r < c->size; r++) {
        if (!rows_compatible(&rh[r * TIDE_A2AV_HDR], mine))
            return tide_rows_mismatch(name, r, &rh[r * TIDE_A2AV_HDR], c->rank, mine);
        recv_counts[r] = rh[r * TIDE_A2AV_HDR + TIDE_ROW_HDR];
    }
    int64_t row_elems = tide_row_elems(t);
    TIDE_TRY(tide_v_layout(name, send_counts, c->size, row_elems, sc, sd, NULL));
    return tide_v_layout(name, recv_counts, c->size, row_elems, rc, rd, total);
}

tide_status tide_comm_alltoallv(tide_comm *c, tide_tensor *out, const tide_tensor *t,
                                const int64_t *send_counts, int64_t *recv_counts)
{
    const char *name = "alltoallv";
    if (c->comm == MPI_COMM_NULL)
        return tide_fail("%s: the communicator was freed", name);
    int size = c->size;
    size_t hb = sizeof(int64_t) * TIDE_A2AV_HDR * (size_t)size;
    int64_t *sh = malloc(2 * hb);
    int *ints = malloc(sizeof(int) * 4 * (size_t)size);
    if (!sh || !ints) {
        free(sh);
        free(ints);
        return tide_fail("%s: out of memory", name);
    }
    int64_t *rh = sh + TIDE_A2AV_HDR * size;
    tide_status st = tide_a2av_headers(c, t, send_counts, sh, name);
    coll x;
    x.traced = 0;
    if (st == TIDE_OK)
        st = tide_coll_begin(&x, c, name, t, -1, -1, FP_ROWS_VARY);
    if (st != TIDE_OK) {
        free(sh);
        free(ints);
        return st;
    }
    int rcode;
    if (!x.polled) {
        rcode = TIDE_WD_WATCHED(&x.wd, MPI_Alltoall(sh, TIDE_A2AV_HDR, MPI_INT64_T, rh,
                                                    TIDE_A2AV_HDR, MPI_INT64_T, c->comm));
    } else {
        MPI_Request req;
        rcode = MPI_Ialltoall(sh, TIDE_A2AV_HDR, MPI_INT64_T, rh, TIDE_A2AV_HDR, MPI_INT64_T,
                              c->comm, &req);
        if (rcode == MPI_SUCCESS)
            rcode = tide_coll_wait(&x, &req, NULL);
    }
    int *sc = ints, *sd = ints + size, *rc = ints + 2 * size, *rd = ints + 3 * size;
    int64_t total = 0;
    tide_tensor src = TIDE_TENSOR_EMPTY;
    st = rcode == MPI_SUCCESS ? TIDE_OK : tide_mpi_fail(rcode, name);
    if (st == TIDE_OK)
        st = tide_a2av_plan(c, t, send_counts, rh, recv_counts, sc, sd, rc, rd, &total, name);
    if (st == TIDE_OK)
        st = source(&src, t);
    if (st == TIDE_OK)
        st = tide_alloc_rows(out, t, total, name);
    if (st == TIDE_OK) {
        MPI_Datatype mt = tide_mpi_type(t->dtype);
        if (!x.polled) {
            rcode = TIDE_WD_WATCHED(&x.wd, MPI_Alltoallv(tide_data(&src), sc, sd, mt,
                                                         tide_data(out), rc, rd, mt, c->comm));
        } else {
            MPI_Request req;
            rcode = MPI_Ialltoallv(tide_data(&src), sc, sd, mt, tide_data(out), rc, rd, mt,
                                   c->comm, &req);
            if (rcode == MPI_SUCCESS)
                rcode = tide_coll_wait(&x, &req, NULL);
        }
        if (rcode != MPI_SUCCESS) {
            st = tide_mpi_fail(rcode, name);
            tide_tensor_release(out);
        }
    }
    tide_coll_close(&x, tide_numel(t) * (int64_t)tide_dtype_size(t->dtype), st);
    tide_tensor_release(&src);
    free(sh);
    free(ints);
    return st;
}
