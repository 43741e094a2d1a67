/* comm.c — communicators, the hooks every collective runs, and the element-wise collectives
 * (barrier, broadcast, allreduce, reduce, and the scalar allreduce). */
#include "comm/comm_impl.h"
#include "tensor/half.h"
#include "comm/shared.h"
#include "comm/fingerprint.h"
#include "comm/recorder.h"
#include "comm/trace.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ process-wide state */

static int debug_on;
static const char *solo;                      /* set while tide.on runs a function on some ranks */
static int64_t max_count = INT_MAX;
static int next_cid = 1;                      /* 0 is the world */
static _Thread_local char site_buf[80] = "?";
static MPI_Op scalar_ops[TIDE_NOPS];
static MPI_Datatype scalar_type = MPI_DATATYPE_NULL;

tide_status tide_mpi_fail(int rc, const char *name)
{
    if (rc == TIDE_WD_INTERRUPTED)
        return tide_fail("%s: interrupted", name);
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0, cls = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    MPI_Error_class(rc, &cls);
    if ((cls == MPI_ERR_TRUNCATE || cls == MPI_ERR_OTHER) && !debug_on)
        return tide_fail("%s: %s (did the ranks pass different sizes? TIDE_DEBUG=1 compares "
                         "them before each collective)", name, msg);
    return tide_fail("%s: %s", name, msg);
}

/* The MPI column of dtype.h's table, which only comm/ expands (tensor/ knows nothing of MPI). */
MPI_Datatype tide_mpi_type(tide_dtype dt)
{
    switch (dt) {
#define TYPE_CASE(E, n, T, is_float, rank, digits, tmin, lo, hi, npy, mpi, ...) case E: return mpi;
        TIDE_DTYPE_TABLE(TYPE_CASE)
#undef TYPE_CASE
    }
    return MPI_DATATYPE_NULL;
}

MPI_Op tide_mpi_op(tide_op op)
{
    switch (op) {
    case TIDE_OP_SUM: case TIDE_OP_AVG: return MPI_SUM;
    case TIDE_OP_PROD: return MPI_PROD;
    case TIDE_OP_MIN: return MPI_MIN;
    case TIDE_OP_MAX: return MPI_MAX;
    }
    return MPI_OP_NULL;
}

static const char *const op_names[TIDE_NOPS] = {"sum", "prod", "min", "max", "avg"};

const char *tide_op_name(tide_op op)
{
    return (unsigned)op < TIDE_NOPS ? op_names[op] : "?";
}

tide_status tide_op_parse(const char *name, tide_op *op, const char *op_name)
{
    for (int i = 0; i < TIDE_NOPS; i++)
        if (strcmp(name, op_names[i]) == 0) {
            *op = (tide_op)i;
            return TIDE_OK;
        }
    return tide_fail("%s: unknown op '%s' (expected sum, prod, min, max or avg)", op_name, name);
}

/* ------------------------------------------------------------------ settings */

void tide_comm_set_debug(int on) { debug_on = on != 0; }
int tide_comm_debug(void) { return debug_on; }
void tide_comm_set_timeout(double seconds) { tide_wd_set_timeout(seconds); }
void tide_comm_set_watchdog(double seconds) { tide_wd_set_default(seconds); }
double tide_comm_timeout(void) { return tide_wd_timeout(); }
int tide_comm_wants_site(void) { return debug_on || tide_wd_timeout() > 0 || tide_rec_on(); }
void tide_comm_set_max_count(int64_t n) { max_count = n > 0 && n <= INT_MAX ? n : INT_MAX; }
int64_t tide_comm_max_count(void) { return max_count; }
const char *tide_comm_site(void) { return site_buf; }

void tide_comm_set_site(const char *site)
{
    snprintf(site_buf, sizeof site_buf, "%s", site ? site : "?");
}

/* ------------------------------------------------------------------ the scalar allreduce's types */

/* The number Lua's allreduce(x) combines: integer and double parts reduced side by side, so the
 * result can stay an integer when every rank passed one. */
#define SCALAR_OP(NAME, FEXPR, IEXPR)                                                   \
    static void NAME(void *in, void *inout, int *len, MPI_Datatype *dt)                 \
    {                                                                                   \
        (void)dt;                                                                       \
        tide_scalar *a = in, *b = inout;                                                \
        for (int k = 0; k < *len; k++) {                                                \
            double fa = a[k].f, fb = b[k].f;                                            \
            uint64_t ia = (uint64_t)a[k].i, ib = (uint64_t)b[k].i;                      \
            b[k].f = (FEXPR);                                                           \
            b[k].i = (int64_t)(IEXPR);                                                  \
            b[k].is_float |= a[k].is_float;                                             \
        }                                                                               \
    }
SCALAR_OP(scalar_sum, fa + fb, ia + ib)
SCALAR_OP(scalar_prod, fa * fb, ia * ib)
SCALAR_OP(scalar_min, fa < fb ? fa : fb, (int64_t)ia < (int64_t)ib ? ia : ib)
SCALAR_OP(scalar_max, fa > fb ? fa : fb, (int64_t)ia > (int64_t)ib ? ia : ib)

tide_status tide_comm_types_init(void)
{
    if (scalar_type != MPI_DATATYPE_NULL)
        return TIDE_OK;
    MPI_TRY("tide", MPI_Type_contiguous((int)sizeof(tide_scalar), MPI_BYTE, &scalar_type));
    MPI_Type_commit(&scalar_type);
    MPI_User_function *fns[TIDE_NOPS] = {scalar_sum, scalar_prod, scalar_min, scalar_max,
                                         scalar_sum};
    for (int i = 0; i < TIDE_NOPS; i++)
        MPI_Op_create(fns[i], 1, &scalar_ops[i]);
    return TIDE_OK;
}

void tide_comm_types_free(void)
{
    if (scalar_type == MPI_DATATYPE_NULL)
        return;
    for (int i = 0; i < TIDE_NOPS; i++)
        MPI_Op_free(&scalar_ops[i]);
    MPI_Type_free(&scalar_type);
    scalar_type = MPI_DATATYPE_NULL;
}

/* ------------------------------------------------------------------ communicators */

/* -- the live ones, and their renewal after an interrupt -- */

/* Every open tide_comm of this process, in creation order (so in cid order), for
 * tide_comm_renew_all. A tide_comm lives in a Lua userdata, which never moves. */
static tide_comm **live;
static int nlive, live_cap;

static void remember(tide_comm *c)
{
    if (nlive == live_cap) {
        int cap = live_cap ? 2 * live_cap : 16;
        tide_comm **grown = realloc(live, (size_t)cap * sizeof *grown);
        if (!grown)
            return;   /* out of memory: this one is only left out of a renewal */
        live = grown;
        live_cap = cap;
    }
    live[nlive++] = c;
}

static void forget(tide_comm *c)
{
    for (int i = 0; i < nlive; i++)
        if (live[i] == c) {
            memmove(live + i, live + i + 1, (size_t)(nlive - i - 1) * sizeof *live);
            nlive--;
            return;
        }
}

/* The MPI communicators tide_comm_renew_all replaced: never freed, since a request may still be
 * pending on them. */
static MPI_Comm *abandoned;
static int nabandoned;

int tide_comm_abandoned(MPI_Comm comm)
{
    for (int i = 0; i < nabandoned; i++)
        if (abandoned[i] == comm)
            return 1;
    return 0;
}

tide_status tide_comm_renew_all(MPI_Comm clean)
{
    MPI_Comm *grown = realloc(abandoned, (size_t)(nabandoned + nlive) * sizeof *grown);
    if (!grown)
        return tide_fail("renew: out of memory");
    abandoned = grown;
    /* Each member goes through its communicators in cid order, a single order over the whole
     * job, and the cid tags the new one: members of overlapping groups meet in the same order
     * and MPI_Comm_create_group (collective over the group only) can never deadlock. */
    for (int i = 0; i < nlive; i++) {
        tide_comm *c = live[i];
        MPI_Group group;
        MPI_Comm fresh;
        MPI_TRY("renew", MPI_Comm_group(c->comm, &group));
        int rc = MPI_Comm_create_group(clean, group, c->cid, &fresh);
        MPI_Group_free(&group);
        if (rc != MPI_SUCCESS)
            return tide_mpi_fail(rc, "renew");
        MPI_Comm_set_errhandler(fresh, MPI_ERRORS_RETURN);
        tide_comm_shared_forget(c);
        tide_fp_forget(c);
        /* the old handle is left allocated: a request still pending on it may never end */
        abandoned[nabandoned++] = c->comm;
        c->comm = fresh;
        c->seq = 0;
    }
    return TIDE_OK;
}

/* Fills rank/size and agrees on an id across the new communicator's members. */
static tide_status adopt(tide_comm *c, MPI_Comm comm, int is_world, const char *name)
{
    memset(c, 0, sizeof *c);
    c->comm = comm;
    if (comm == MPI_COMM_NULL)
        return TIDE_OK;
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    c->is_world = is_world;
    if (is_world) {
        remember(c);
        return TIDE_OK;
    }
    int cid = 0;
    int rc = MPI_Allreduce(&next_cid, &cid, 1, MPI_INT, MPI_MAX, comm);
    if (rc != MPI_SUCCESS) {
        MPI_Comm_free(&c->comm);
        return tide_mpi_fail(rc, name);
    }
    c->cid = cid;
    next_cid = cid + 1;
    remember(c);
    return TIDE_OK;
}

static tide_status check_open(const tide_comm *c, const char *name)
{
    if (c->comm == MPI_COMM_NULL)
        return tide_fail("%s: the communicator was freed", name);
    return TIDE_OK;
}

tide_status tide_comm_wrap(tide_comm *c, MPI_Comm base, int is_world)
{
    MPI_Comm dup;
    MPI_TRY("comm", MPI_Comm_dup(base, &dup));
    return adopt(c, dup, is_world, "comm");
}

tide_status tide_comm_split(tide_comm *out, tide_comm *c, int color, int key)
{
    TIDE_TRY(check_open(c, "split"));
    TIDE_TRY(tide_comm_agree(c, "split"));
    MPI_Comm comm;
    MPI_TRY("split", MPI_Comm_split(c->comm, color < 0 ? MPI_UNDEFINED : color, key, &comm));
    return adopt(out, comm, 0, "split");
}

tide_status tide_comm_split_node(tide_comm *out, tide_comm *c)
{
    TIDE_TRY(check_open(c, "split_node"));
    TIDE_TRY(tide_comm_agree(c, "split_node"));
    MPI_Comm comm;
    MPI_TRY("split_node",
            MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &comm));
    return adopt(out, comm, 0, "split_node");
}

tide_status tide_comm_dup(tide_comm *out, tide_comm *c)
{
    TIDE_TRY(check_open(c, "dup"));
    TIDE_TRY(tide_comm_agree(c, "dup"));
    MPI_Comm comm;
    MPI_TRY("dup", MPI_Comm_dup(c->comm, &comm));
    return adopt(out, comm, 0, "dup");
}

void tide_comm_free(tide_comm *c)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (c->comm != MPI_COMM_NULL) {
        tide_comm_shared_forget(c);   /* a later communicator may get the same handle */
        tide_fp_forget(c);
        forget(c);
    }
    if (c->comm != MPI_COMM_NULL && !fin)
        MPI_Comm_free(&c->comm);
    c->comm = MPI_COMM_NULL;
}

/* ------------------------------------------------------------------ the collective hooks */

static tide_status coll_hooks(coll *x, const tide_tensor *t, int op, int root, int flags)
{
    x->wd.comm = x->c->comm;
    x->wd.cid = x->c->cid;
    x->wd.name = x->name;
    x->wd.seq = x->c->seq;
    x->wd.site = site_buf;
    x->wd.patient = 0;
    x->polled = tide_wd_polled();
    if (debug_on || tide_fp_light_on())
        TIDE_TRY(tide_fp_hook(x, t, op, root, flags, debug_on));
    if (tide_trace_on()) {
        x->traced = 1;
        x->t0 = tide_trace_now();
    }
    return TIDE_OK;
}

tide_status tide_coll_begin(coll *x, tide_comm *c, const char *name, const tide_tensor *t,
                            int op, int root, int flags)
{
    if (c->comm == MPI_COMM_NULL)
        return tide_fail("%s: the communicator was freed", name);
    if (solo)
        return tide_fail("%s: a collective inside %s, which runs its function on some ranks only"
                         " (the other ranks would never join it)", name, solo);
    x->c = c;
    x->name = name;
    x->polled = 0;
    x->traced = 0;
    c->seq++;
    x->rec = tide_rec_on() ? tide_rec_begin(name, c->cid, c->seq, t, op, root, site_buf) : 0;
    if (!debug_on && !tide_fp_light_on() && !(tide_wd_timeout() > 0) && !tide_trace_on())
        return TIDE_OK;
    if (coll_hooks(x, t, op, root, flags) != TIDE_OK) {   /* a fingerprint mismatch */
        if (x->rec)
            tide_rec_fail(x->rec, tide_error());
        return TIDE_FAIL;
    }
    return TIDE_OK;
}

const char *tide_comm_set_solo(const char *who)
{
    const char *old = solo;
    solo = who;
    return old;
}

tide_status tide_comm_agree(tide_comm *c, const char *name)
{
    coll x;
    TIDE_TRY(tide_coll_begin(&x, c, name, NULL, -1, -1, FP_NO_TENSOR));
    int rc = MPI_SUCCESS;
    if (x.polled) {
        MPI_Request req;
        rc = MPI_Ibarrier(c->comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(&x, &req, NULL);
    } else if (tide_wd_timeout() > 0) {
        /* the call that follows (MPI_Comm_split ...) is not watched: a rank that never comes
         * is caught here */
        rc = TIDE_WD_WATCHED(&x.wd, MPI_Barrier(c->comm));
    }
    return tide_coll_close(&x, 0, rc == MPI_SUCCESS ? TIDE_OK : tide_mpi_fail(rc, name));
}

tide_status tide_p2p_begin(coll *x, tide_comm *c, const char *name)
{
    if (c->comm == MPI_COMM_NULL)
        return tide_fail("%s: the communicator was freed", name);
    x->c = c;
    x->name = name;
    x->rec = 0;   /* the recorder keeps collectives only */
    x->polled = tide_wd_polled();
    x->traced = tide_trace_on();
    if (x->traced)
        x->t0 = tide_trace_now();
    x->wd.comm = c->comm;
    x->wd.cid = c->cid;
    x->wd.name = name;
    x->wd.seq = 0;
    x->wd.site = site_buf;
    x->wd.patient = 0;
    return TIDE_OK;
}

void tide_coll_end(coll *x, int64_t bytes)
{
    if (x->rec)
        tide_rec_end(x->rec);
    if (x->traced)
        tide_trace_event(x->name, TIDE_TRACE_COMM, x->t0, tide_trace_now(), bytes);
}

tide_status tide_coll_close(coll *x, int64_t bytes, tide_status st)
{
    if (st != TIDE_OK && x->rec) {
        tide_rec_fail(x->rec, tide_error());
        x->rec = 0;   /* tide_coll_end leaves it failed; the timeline still shows the call */
    }
    tide_coll_end(x, bytes);
    return st;
}

int tide_coll_wait(coll *x, MPI_Request *req, MPI_Status *st)
{
    return tide_wd_wait(req, st ? st : MPI_STATUS_IGNORE, &x->wd);
}

/* ------------------------------------------------------------------ argument checks */

tide_status tide_check_rank(const tide_comm *c, int r, const char *name, const char *what,
                            int allow_any)
{
    if (allow_any && r == TIDE_ANY)
        return TIDE_OK;
    if (r < 0 || r >= c->size)
        return tide_fail("%s: %s %d out of range for a communicator of %d rank%s (expected 0..%d%s)",
                         name, what, r, c->size, c->size == 1 ? "" : "s", c->size - 1,
                         allow_any ? " or tide.ANY" : "");
    return TIDE_OK;
}

tide_status tide_check_tag(int tag, const char *name, int allow_any)
{
    static int tag_ub;
    if (!tag_ub) {
        int *ub = NULL, flag = 0;
        MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag);
        tag_ub = flag && ub ? *ub : 32767;
    }
    if (allow_any && tag == TIDE_ANY)
        return TIDE_OK;
    if (tag < 0 || tag > tag_ub)
        return tide_fail("%s: tag %d out of range (expected 0..%d%s)", name, tag, tag_ub,
                         allow_any ? " or tide.ANY" : "");
    return TIDE_OK;
}

tide_status tide_check_count(int64_t n, const char *name)
{
    if (n > max_count)
        return tide_fail("%s: %lld elements exceed what one MPI call can carry (%lld); split the"
                         " tensor into smaller pieces", name, (long long)n, (long long)max_count);
    return TIDE_OK;
}

int64_t tide_rows(const tide_tensor *t) { return t->ndim ? t->shape[0] : 1; }

int64_t tide_row_elems(const tide_tensor *t)
{
    int64_t n = 1;
    for (int d = 1; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

tide_status tide_inplace_begin(tide_tensor *work, int *temp, const tide_tensor *t, const char *name)
{
    if (tide_is_contiguous(t)) {
        *work = *t;   /* borrowed: not a new reference */
        *temp = 0;
        return TIDE_OK;
    }
    for (int d = 0; d < t->ndim; d++)
        if (t->stride[d] == 0 && t->shape[d] > 1)
            return tide_fail("%s: cannot write into an expanded tensor (dim %d has stride 0);"
                             " pass a contiguous tensor", name, d + 1);
    *temp = 1;
    memset(work, 0, sizeof *work);
    return tide_clone(work, t);
}

tide_status tide_inplace_finish(tide_tensor *t, tide_tensor *work, int temp)
{
    if (!temp)
        return TIDE_OK;
    tide_status st = tide_copy(t, work);
    tide_tensor_release(work);
    return st;
}

void tide_divide(void *p, tide_dtype dt, int64_t n, int64_t k)
{
    switch (dt) {
#define DIV_CASE(E, nm, T)                      \
    case E: {                                   \
        T *x = p;                               \
        for (int64_t i = 0; i < n; i++)         \
            x[i] = (T)(x[i] / (T)k);            \
        break;                                  \
    }
        TIDE_FOREACH_DTYPE(DIV_CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef DIV_CASE
    }
}

tide_status tide_split_rows(const tide_comm *c, int64_t rows, const int64_t *counts,
                            int64_t *out, const char *name)
{
    if (!counts) {
        for (int r = 0; r < c->size; r++)
            out[r] = rows / c->size + (r < rows % c->size);
        return TIDE_OK;
    }
    int64_t sum = 0;
    for (int r = 0; r < c->size; r++) {
        if (counts[r] < 0)
            return tide_fail("%s: count %lld for rank %d is negative", name,
                             (long long)counts[r], r);
        sum += counts[r];
        out[r] = counts[r];
    }
    if (sum != rows)
        return tide_fail("%s: counts sum to %lld rows, the tensor has %lld", name,
                         (long long)sum, (long long)rows);
    return TIDE_OK;
}

/* ------------------------------------------------------------------ element-wise collectives */

tide_status tide_comm_barrier(tide_comm *c)
{
    coll x;
    TIDE_TRY(tide_coll_begin(&x, c, "barrier", NULL, -1, -1, 0));
    int rc;
    if (!x.polled) {
        rc = TIDE_WD_WATCHED(&x.wd, MPI_Barrier(c->comm));
    } else {
        MPI_Request req;
        rc = MPI_Ibarrier(c->comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(&x, &req, NULL);
    }
    return tide_coll_close(&x, 0, rc == MPI_SUCCESS ? TIDE_OK : tide_mpi_fail(rc, "barrier"));
}

typedef enum { EW_BCAST, EW_ALLREDUCE, EW_REDUCE } ew_kind;

/* One element-wise collective over n elements at p, in pieces of at most max_count. */
static int ew_run(coll *x, ew_kind kind, void *p, int64_t n, tide_dtype dt, MPI_Op mop, int root)
{
    MPI_Datatype mt = tide_mpi_type(dt);
    size_t es = tide_dtype_size(dt);
    MPI_Comm comm = x->c->comm;
    int in_place = kind == EW_ALLREDUCE || x->c->rank == root;
    int64_t off = 0;
    do {
        int cnt = (int)(n - off < max_count ? n - off : max_count);
        char *q = (char *)p + off * (int64_t)es;
        void *sbuf = in_place ? MPI_IN_PLACE : q;
        void *rbuf = kind == EW_REDUCE && !in_place ? NULL : q;
        int rc;
        if (!x->polled) {
            tide_wd_enter(&x->wd);
            rc = kind == EW_BCAST       ? MPI_Bcast(q, cnt, mt, root, comm)
                 : kind == EW_ALLREDUCE ? MPI_Allreduce(sbuf, rbuf, cnt, mt, mop, comm)
                                        : MPI_Reduce(sbuf, rbuf, cnt, mt, mop, root, comm);
            tide_wd_leave(rc);
        } else {
            MPI_Request req;
            rc = kind == EW_BCAST       ? MPI_Ibcast(q, cnt, mt, root, comm, &req)
                 : kind == EW_ALLREDUCE ? MPI_Iallreduce(sbuf, rbuf, cnt, mt, mop, comm, &req)
                                        : MPI_Ireduce(sbuf, rbuf, cnt, mt, mop, root, comm, &req);
            if (rc == MPI_SUCCESS)
                rc = tide_coll_wait(x, &req, NULL);
        }
        if (rc != MPI_SUCCESS)
            return rc;
        off += cnt;
    } while (off < n);
    return MPI_SUCCESS;
}

/* A reduction (allreduce or reduce) of the contiguous tensor w, avg included: 32-bit and 8-bit
 * integers are summed in 64 bits so the average does not wrap. */
static tide_status ew_reduce(coll *x, ew_kind kind, tide_tensor *w, tide_op op, int root)
{
    int64_t n = tide_numel(w);
    int widen = op == TIDE_OP_AVG && !tide_dtype_is_float(w->dtype) &&
                tide_dtype_size(w->dtype) < sizeof(int64_t);
    int gets = kind == EW_ALLREDUCE || x->c->rank == root;
    if (!widen) {
        int rc = ew_run(x, kind, tide_data(w), n, w->dtype, tide_mpi_op(op), root);
        if (rc != MPI_SUCCESS)
            return tide_mpi_fail(rc, x->name);
        if (op == TIDE_OP_AVG && gets)
            tide_divide(tide_data(w), w->dtype, n, x->c->size);
        return TIDE_OK;
    }
    tide_tensor wide = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_cast(&wide, w, TIDE_I64));
    int rc = ew_run(x, kind, tide_data(&wide), n, TIDE_I64, MPI_SUM, root);
    tide_status st = TIDE_OK;
    if (rc != MPI_SUCCESS) {
        st = tide_mpi_fail(rc, x->name);
    } else if (gets) {
        tide_divide(tide_data(&wide), TIDE_I64, n, x->c->size);
        st = tide_copy(w, &wide);
    }
    tide_tensor_release(&wide);
    return st;
}

tide_status tide_comm_broadcast(tide_comm *c, tide_tensor *t, int root)
{
    TIDE_TRY(check_open(c, "broadcast"));
    TIDE_TRY(tide_check_rank(c, root, "broadcast", "root", 0));
    coll x;
    TIDE_TRY(tide_coll_begin(&x, c, "broadcast", t, -1, root, 0));
    tide_tensor w;
    int temp;
    COLL_TRY(&x, tide_inplace_begin(&w, &temp, t, "broadcast"));
    int rc = ew_run(&x, EW_BCAST, tide_data(&w), tide_numel(&w), w.dtype, MPI_OP_NULL, root);
    int64_t bytes = tide_numel(&w) * (int64_t)tide_dtype_size(w.dtype);
    if (rc != MPI_SUCCESS) {
        if (temp)
            tide_tensor_release(&w);
        return tide_coll_close(&x, bytes, tide_mpi_fail(rc, "broadcast"));
    }
    return tide_coll_close(&x, bytes, tide_inplace_finish(t, &w, temp));
}

static tide_status reduce_common(tide_comm *c, tide_tensor *t, tide_op op, int root,
                                 ew_kind kind, const char *name)
{
    TIDE_TRY(check_open(c, name));
    if ((unsigned)op >= TIDE_NOPS)
        return tide_fail("%s: invalid op %d", name, (int)op);
    TIDE_TRY(tide_dtype_computes(t->dtype, name));  /* MPI would add the bits as integers */
    if (kind == EW_REDUCE)
        TIDE_TRY(tide_check_rank(c, root, name, "root", 0));
    coll x;
    TIDE_TRY(tide_coll_begin(&x, c, name, t, (int)op, kind == EW_REDUCE ? root : -1, 0));
    int slot = kind == EW_ALLREDUCE && (op == TIDE_OP_SUM || op == TIDE_OP_AVG) &&
                       tide_dtype_is_float(t->dtype)
                   ? tide_comm_shared_slot(c, t) : -1;
    if (slot >= 0) {                    /* every rank's tensor is in one shared window */
        tide_status st = tide_comm_shared_allreduce(&x, slot, op);
        return tide_coll_close(&x, tide_numel(t) * (int64_t)tide_dtype_size(t->dtype), st);
    }
    if (kind == EW_ALLREDUCE)           /* meets a rank that passed a shared tensor */
        COLL_TRY(&x, tide_comm_shared_plain(&x, t, op));
    tide_tensor w;
    int temp;
    COLL_TRY(&x, tide_inplace_begin(&w, &temp, t, name));
    tide_status st = ew_reduce(&x, kind, &w, op, root);
    int64_t bytes = tide_numel(&w) * (int64_t)tide_dtype_size(w.dtype);
    if (st != TIDE_OK) {
        if (temp)
            tide_tensor_release(&w);
        return tide_coll_close(&x, bytes, st);
    }
    return tide_coll_close(&x, bytes, tide_inplace_finish(t, &w, temp));
}

tide_status tide_comm_allreduce(tide_comm *c, tide_tensor *t, tide_op op)
{
    return reduce_common(c, t, op, -1, EW_ALLREDUCE, "allreduce");
}

tide_status tide_comm_reduce(tide_comm *c, tide_tensor *t, tide_op op, int root)
{
    return reduce_common(c, t, op, root, EW_REDUCE, "reduce");
}

tide_status tide_comm_allreduce_scalar(tide_comm *c, tide_scalar *v, tide_op op)
{
    if ((unsigned)op >= TIDE_NOPS)
        return tide_fail("allreduce: invalid op %d", (int)op);
    if (scalar_type == MPI_DATATYPE_NULL)
        return tide_fail("allreduce: MPI is not initialised");
    coll x;
    tide_tensor num = TIDE_TENSOR_EMPTY;   /* only for the fingerprint: a number, as f64 (ranks
                                              may mix integers and floats) */
    num.dtype = TIDE_F64;
    TIDE_TRY(tide_coll_begin(&x, c, "allreduce", &num, (int)op, -1, 0));
    int rc;
    if (!x.polled) {
        rc = TIDE_WD_WATCHED(&x.wd, MPI_Allreduce(MPI_IN_PLACE, v, 1, scalar_type,
                                                  scalar_ops[op], c->comm));
    } else {
        MPI_Request req;
        rc = MPI_Iallreduce(MPI_IN_PLACE, v, 1, scalar_type, scalar_ops[op], c->comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(&x, &req, NULL);
    }
    if (rc != MPI_SUCCESS)
        return tide_coll_close(&x, 0, tide_mpi_fail(rc, "allreduce"));
    tide_coll_end(&x, (int64_t)sizeof *v);
    if (op == TIDE_OP_AVG) {
        v->f = (v->is_float ? v->f : (double)v->i) / c->size;
        v->is_float = 1;
    }
    return TIDE_OK;
}
