/* shared.c — shared-memory windows and the copy-free allreduce (see shared.h). */
#include "comm/shared.h"

#include <string.h>

#include "comm/comm_impl.h"
#include "tensor/size.h"

#define MAX_WINDOWS 64
#define MAX_RANKS 256

typedef struct shared_window {
    MPI_Win win;
    MPI_Comm comm;           /* the communicator the window was made on (c->comm) */
    int cid;                 /* and its id: handles are reused after MPI_Comm_free, ids not */
    int live;                /* 0 once that communicator was freed */
    int id;                  /* agreed by the window's ranks (next_id's maximum) */
    int rank, size;
    tide_dtype dtype;
    int64_t n;               /* elements per rank */
    void *seg[MAX_RANKS];    /* every rank's segment, as this process sees it */
} shared_window;

static shared_window windows[MAX_WINDOWS];
static int nwindows;
static int next_id = 1;

static tide_status same_node(const tide_comm *c, const char *name)
{
    MPI_Comm node;
    MPI_TRY(name, MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    int node_size = 0;
    MPI_Comm_size(node, &node_size);
    MPI_Comm_free(&node);
    if (node_size != c->size)
        return tide_fail("%s: the %d ranks do not share one node (%d of them share this one)",
                         name, c->size, node_size);
    if (c->size > MAX_RANKS)
        return tide_fail("%s: at most %d ranks, got %d", name, MAX_RANKS, c->size);
    return TIDE_OK;
}

tide_status tide_comm_shared_zeros(tide_comm *c, tide_tensor *out, tide_dtype dt, int64_t n)
{
    const char *name = "shared_zeros";
    if (c->comm == MPI_COMM_NULL)
        return tide_fail("%s: the communicator is freed", name);
    if (n < 0)
        return tide_fail("%s: negative size %lld", name, (long long)n);
    if (nwindows == MAX_WINDOWS)
        return tide_fail("%s: at most %d shared tensors per process", name, MAX_WINDOWS);
    TIDE_TRY(tide_comm_agree(c, name));   /* a rank that never comes is reported, not waited for */
    TIDE_TRY(same_node(c, name));
    shared_window *w = &windows[nwindows];
    memset(w, 0, sizeof *w);
    size_t es = tide_dtype_size(dt), nbytes;
    TIDE_TRY(tide_shape_check(1, &n, dt, name, NULL));
    TIDE_TRY(tide_array_bytes(n, es, name, &nbytes));
    if (!tide_bytes_possible(nbytes))
        return tide_fail("%s: out of memory allocating %zu bytes for %lld %s elements", name,
                         nbytes, (long long)n, tide_dtype_name(dt));
    /* segments padded to 64 bytes keep each rank's tensor aligned (nbytes < 2^63: no wrap) */
    MPI_Aint bytes = (MPI_Aint)((nbytes + 63) / 64 * 64);
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");   /* each segment near its rank */
    void *mine = NULL;
    int rc = MPI_Win_allocate_shared(bytes ? bytes : 64, (int)es, info, c->comm, &mine, &w->win);
    MPI_Info_free(&info);
    if (rc != MPI_SUCCESS)
        return tide_mpi_fail(rc, name);
    w->comm = c->comm;
    w->cid = c->cid;
    w->live = 1;
    w->rank = c->rank;
    w->size = c->size;
    w->dtype = dt;
    w->n = n;
    for (int r = 0; r < c->size; r++) {
        MPI_Aint sz;
        int disp;
        MPI_Win_shared_query(w->win, r, &sz, &disp, &w->seg[r]);
    }
    MPI_Win_lock_all(MPI_MODE_NOCHECK, w->win);    /* held for the window's life */
    memset(mine, 0, nbytes);
    tide_status st = tide_tensor_wrap(out, mine, dt, 1, &n, NULL, NULL);
    if (st != TIDE_OK) {
        MPI_Win_unlock_all(w->win);
        MPI_Win_free(&w->win);
        return st;
    }
    nwindows++;
    MPI_Win_sync(w->win);
    /* also a barrier: every segment is zero before anyone reads one */
    rc = MPI_Allreduce(&next_id, &w->id, 1, MPI_INT, MPI_MAX, c->comm);
    if (rc != MPI_SUCCESS)
        return tide_mpi_fail(rc, name);
    next_id = w->id + 1;
    return TIDE_OK;
}

int tide_comm_shared_slot(const tide_comm *c, const tide_tensor *t)
{
    if (!t->storage || t->offset != 0 || t->ndim != 1)
        return -1;
    for (int i = 0; i < nwindows; i++) {
        const shared_window *w = &windows[i];
        if (w->live && w->comm == c->comm && w->cid == c->cid && w->seg[w->rank] == t->storage->data && w->dtype == t->dtype &&
            t->shape[0] == w->n && (t->stride[0] == 1 || w->n <= 1))
            return i;
    }
    return -1;
}

int tide_comm_shared_id(const tide_comm *c, const tide_tensor *t)
{
    int slot = tide_comm_shared_slot(c, t);
    return slot < 0 ? -1 : windows[slot].id;
}

void tide_comm_shared_forget(const tide_comm *c)
{
    for (int i = 0; i < nwindows; i++)
        if (windows[i].comm == c->comm && windows[i].cid == c->cid)
            windows[i].live = 0;
}

/* A barrier that the watchdog can watch. */
static int watched_barrier(coll *x)
{
    if (!x->polled)
        return TIDE_WD_WATCHED(&x->wd, MPI_Barrier(x->c->comm));
    MPI_Request req;
    int rc = MPI_Ibarrier(x->c->comm, &req);
    return rc == MPI_SUCCESS ? tide_coll_wait(x, &req, NULL) : rc;
}

/* Rank r's slice [lo, hi) of every segment becomes the sum (or mean) of the slices. */
#define SUM_SLICE(E, name, T)                                                            \
    static void sum_slice_##name(shared_window *w, int64_t lo, int64_t hi, int avg)      \
    {                                                                                    \
        T *const *seg = (T *const *)w->seg;                                              \
        const T scale = (T)(1.0 / w->size);                                              \
        if (w->size == 2) {                                                              \
            T *restrict a = seg[0], *restrict b = seg[1];                                \
            for (int64_t i = lo; i < hi; i++) {                                          \
                T s = a[i] + b[i];                                                       \
                s = avg ? s * scale : s;                                                 \
                a[i] = s;                                                                \
                b[i] = s;                                                                \
            }                                                                            \
            return;                                                                      \
        }                                                                                \
        for (int64_t i = lo; i < hi; i++) {                                              \
            T s = seg[0][i];                                                             \
            for (int r = 1; r < w->size; r++)                                            \
                s += seg[r][i];                                                          \
            s = avg ? s * scale : s;                                                     \
            for (int r = 0; r < w->size; r++)                                            \
                seg[r][i] = s;                                                           \
        }                                                                                \
    }
TIDE_FOREACH_FLOAT_DTYPE(SUM_SLICE)

/* The first barrier, which also checks that every rank passed the same window (id; -1: an
 * ordinary tensor) and op. An allgather, so that it meets no MPI allreduce of the ordinary path
 * but only this same exchange, which the ordinary path runs too on communicators with shared
 * tensors. t: what the message shows of this rank's tensor. */
static tide_status same_window(coll *x, int id, tide_op op, const tide_tensor *t)
{
    int64_t mine = (int64_t)id * TIDE_NOPS + op, all[MAX_RANKS];
    int rc;
    if (!x->polled) {
        rc = TIDE_WD_WATCHED(&x->wd, MPI_Allgather(&mine, 1, MPI_INT64_T, all, 1, MPI_INT64_T,
                                                   x->c->comm));
    } else {
        MPI_Request req;
        rc = MPI_Iallgather(&mine, 1, MPI_INT64_T, all, 1, MPI_INT64_T, x->c->comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(x, &req, NULL);
    }
    if (rc != MPI_SUCCESS)
        return tide_mpi_fail(rc, x->name);
    for (int r = 0; r < x->c->size; r++)
        if (all[r] != mine)
            return tide_fp_explain(x, x->c->comm, t, (int)op, -1, 0, id);
    return TIDE_OK;
}

tide_status tide_comm_shared_plain(coll *x, const tide_tensor *t, tide_op op)
{
    for (int i = 0; i < nwindows; i++)
        if (windows[i].live && windows[i].comm == x->c->comm && windows[i].cid == x->c->cid)
            return same_window(x, -1, op, t);
    return TIDE_OK;
}

tide_status tide_comm_shared_allreduce(coll *x, int slot, tide_op op)
{
    shared_window *w = &windows[slot];
    tide_tensor t = TIDE_TENSOR_EMPTY;        /* what a message shows of it */
    t.dtype = w->dtype;
    t.ndim = 1;
    t.shape[0] = w->n;
    MPI_Win_sync(w->win);
    TIDE_TRY(same_window(x, w->id, op, &t));  /* every rank's values are in */
    MPI_Win_sync(w->win);
    /* slices of whole cache lines, so that no two ranks write one line */
    int64_t per_line = 64 / (int64_t)tide_dtype_size(w->dtype);
    int64_t lines = (w->n + per_line - 1) / per_line;
    int64_t lo = lines * w->rank / w->size * per_line;
    int64_t hi = lines * (w->rank + 1) / w->size * per_line;
    hi = hi < w->n ? hi : w->n;
    lo = lo < hi ? lo : hi;
    switch (w->dtype) {
#define SLICE_CASE(E, name, T) case E: sum_slice_##name(w, lo, hi, op == TIDE_OP_AVG); break;
        TIDE_FOREACH_FLOAT_DTYPE(SLICE_CASE)
#undef SLICE_CASE
    default: break;   /* never: allreduce takes this path for float dtypes only */
    }
    MPI_Win_sync(w->win);
    int rc = watched_barrier(x);              /* every slice is written everywhere */
    MPI_Win_sync(w->win);
    return rc == MPI_SUCCESS ? TIDE_OK : tide_mpi_fail(rc, x->name);
}

void tide_comm_shared_shutdown(void)
{
    for (int i = 0; i < nwindows; i++) {
        MPI_Win_unlock_all(windows[i].win);
        MPI_Win_free(&windows[i].win);
    }
    nwindows = 0;
}
