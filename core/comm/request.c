/* comm_request.c — non-blocking collectives and messages.
 *
 * A request holds its own references to the tensors MPI reads and writes, so a tensor in
 * flight outlives every handle the script had on it.
 *
 * iallgather and ialltoallv first exchange row headers (a short exchange that waits for the
 * other ranks), then start the data exchange and return. Starting the data exchange later, at
 * test or wait time, would let ranks start collectives in different orders, which MPI forbids. */
#include "comm/comm_impl.h"
#include "comm/recorder.h"
#include "comm/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"request", "iallreduce", "ibroadcast", "iallgather",
                                         "ialltoallv", "isend", "irecv"};

const char *tide_request_name(const tide_request *r)
{
    return kind_names[r->kind];
}

/* Numbers the call (collectives) and fills what every request has. */
static tide_status start(tide_request *r, tide_comm *c, tide_req_kind kind, const tide_tensor *t,
                         int op, int root, int flags)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->req = MPI_REQUEST_NULL;
    r->type = MPI_DATATYPE_NULL;
    r->comm = c;
    r->mpi = c->comm;
    const char *name = kind_names[kind];
    if (kind == TIDE_REQ_SEND || kind == TIDE_REQ_RECV) {
        coll x;
        TIDE_TRY(tide_p2p_begin(&x, c, name));
    } else {
        coll x;
        TIDE_TRY(tide_coll_begin(&x, c, name, t, op, root, flags));
        r->seq = c->seq;
        r->rec = x.rec;
        tide_rec_queued(x.rec);
    }
    snprintf(r->site, sizeof r->site, "%s", tide_comm_site());
    return TIDE_OK;
}

static void wd_of(const tide_request *r, tide_wd_op *wd)
{
    wd->comm = r->mpi;
    wd->cid = r->comm->cid;
    wd->name = kind_names[r->kind];
    wd->seq = r->seq;
    wd->site = r->site;
    wd->patient = 0;
}

/* Drops what MPI used; the counts stay for the results until tide_request_release. */
static void drop(tide_request *r)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (r->type != MPI_DATATYPE_NULL && !fin)
        MPI_Type_free(&r->type);
    r->type = MPI_DATATYPE_NULL;
    tide_tensor_release(&r->buf);
    tide_tensor_release(&r->dst);
    tide_tensor_release(&r->result);
    r->active = 0;
}

/* A call that failed after start (or in its wait): drops it and says so in the flight
 * recorder, whose entry would otherwise stay queued. Returns st. */
static tide_status abandon(tide_request *r, tide_status st)
{
    drop(r);
    if (r->rec)
        tide_rec_fail(r->rec, tide_error());
    r->rec = 0;
    return st;
}

/* buf: what MPI writes for an in-place operation on t (t itself when contiguous, else a copy
 * that completion copies back into dst). */
static tide_status inplace(tide_request *r, tide_tensor *t, const char *name)
{
    tide_tensor w;
    int temp;
    TIDE_TRY(tide_inplace_begin(&w, &temp, t, name));
    if (temp) {
        r->buf = w;
        tide_tensor_share(&r->dst, t);
    } else {
        tide_tensor_share(&r->buf, t);
    }
    return TIDE_OK;
}

/* ------------------------------------------------------------------ starting */

tide_status tide_comm_iallreduce(tide_comm *c, tide_request *r, tide_tensor *t, tide_op op)
{
    const char *name = "iallreduce";
    if ((unsigned)op >= TIDE_NOPS)
        return tide_fail("%s: invalid op %d", name, (int)op);
    TIDE_TRY(tide_check_count(tide_numel(t), name));
    TIDE_TRY(start(r, c, TIDE_REQ_ALLREDUCE, t, (int)op, -1, 0));
    r->op = op;
    if (op == TIDE_OP_AVG && !tide_dtype_is_float(t->dtype) &&
        tide_dtype_size(t->dtype) < sizeof(int64_t)) {
        /* summed in 64 bits, as allreduce does, then cast back on completion */
        if (tide_cast(&r->buf, t, TIDE_I64) != TIDE_OK)
            return abandon(r, TIDE_FAIL);
        tide_tensor_share(&r->dst, t);
    } else {
        if (inplace(r, t, name) != TIDE_OK)
            return abandon(r, TIDE_FAIL);
    }
    int64_t n = tide_numel(&r->buf);
    r->bytes = n * (int64_t)tide_dtype_size(t->dtype);
    int rc = MPI_Iallreduce(MPI_IN_PLACE, tide_data(&r->buf), (int)n, tide_mpi_type(r->buf.dtype),
                            tide_mpi_op(op), c->comm, &r->req);
    if (rc != MPI_SUCCESS) {
        return abandon(r, tide_mpi_fail(rc, name));
    }
    r->active = 1;
    return TIDE_OK;
}

tide_status tide_comm_ibroadcast(tide_comm *c, tide_request *r, tide_tensor *t, int root)
{
    const char *name = "ibroadcast";
    TIDE_TRY(tide_check_rank(c, root, name, "root", 0));
    TIDE_TRY(tide_check_count(tide_numel(t), name));
    TIDE_TRY(start(r, c, TIDE_REQ_BROADCAST, t, -1, root, 0));
    if (inplace(r, t, name) != TIDE_OK)
        return abandon(r, TIDE_FAIL);
    int64_t n = tide_numel(t);
    r->root = root;
    r->bytes = n * (int64_t)tide_dtype_size(t->dtype);
    int rc = MPI_Ibcast(tide_data(&r->buf), (int)n, tide_mpi_type(t->dtype), root, c->comm,
                        &r->req);
    if (rc != MPI_SUCCESS) {
        return abandon(r, tide_mpi_fail(rc, name));
    }
    r->active = 1;
    return TIDE_OK;
}

/* The header exchange that sizes iallgather/ialltoallv: blocking, or polled under the
 * watchdog. */
static tide_status exchange(tide_request *r, int alltoall, void *send, void *recv, int n)
{
    const char *name = kind_names[r->kind];
    int rc;
    tide_wd_op wd;
    wd_of(r, &wd);
    if (!tide_wd_polled()) {
        tide_wd_enter(&wd);
        rc = alltoall ? MPI_Alltoall(send, n, MPI_INT64_T, recv, n, MPI_INT64_T, r->mpi)
                      : MPI_Allgather(send, n, MPI_INT64_T, recv, n, MPI_INT64_T, r->mpi);
        tide_wd_leave(rc);
    } else {
        MPI_Request req;
        rc = alltoall ? MPI_Ialltoall(send, n, MPI_INT64_T, recv, n, MPI_INT64_T, r->mpi, &req)
                      : MPI_Iallgather(send, n, MPI_INT64_T, recv, n, MPI_INT64_T, r->mpi, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_wd_wait(&req, MPI_STATUS_IGNORE, &wd);
    }
    return rc == MPI_SUCCESS ? TIDE_OK : tide_mpi_fail(rc, name);
}

/* The v-forms, once the row layout is known: the send buffer (contiguous), the result of
 * total rows (kept alive by the request), the bytes for the timeline. Drops r on failure. */
static tide_status arm_rows(tide_request *r, tide_tensor *out, const tide_tensor *t,
                            int64_t total, const char *name)
{
    tide_status st = tide_contiguous(&r->buf, t);
    if (st == TIDE_OK)
        st = tide_alloc_rows(out, t, total, name);
    if (st != TIDE_OK) {
        return abandon(r, st);
    }
    r->out = out;
    tide_tensor_share(&r->result, out);   /* the box may be collected before the request */
    r->bytes = tide_numel(t) * (int64_t)tide_dtype_size(t->dtype);
    return TIDE_OK;
}

/* After the MPI call that starts a v-form: active, or everything released and the error. */
static tide_status launched(tide_request *r, tide_tensor *out, int rc, const char *name)
{
    if (rc != MPI_SUCCESS) {
        tide_tensor_release(out);
        return abandon(r, tide_mpi_fail(rc, name));
    }
    r->active = 1;
    return TIDE_OK;
}

tide_status tide_comm_iallgather(tide_comm *c, tide_request *r, tide_tensor *out,
                                 const tide_tensor *t)
{
    const char *name = "iallgather";
    TIDE_TRY(start(r, c, TIDE_REQ_ALLGATHER, t, -1, -1, FP_ROWS_VARY));
    int size = c->size;
    int64_t *hdr = malloc(sizeof(int64_t) * TIDE_ROW_HDR * (size_t)(size + 1));
    r->counts = malloc(sizeof(int) * 2 * (size_t)size);
    r->hdr = hdr;
    if (!hdr || !r->counts) {
        return abandon(r, tide_fail("%s: out of memory", name));
    }
    r->displs = r->counts + size;
    int64_t *mine = hdr + TIDE_ROW_HDR * size, total = 0;
    tide_row_header(mine, t);
    tide_status st = exchange(r, 0, mine, hdr, TIDE_ROW_HDR);
    if (st == TIDE_OK)
        st = tide_check_headers(name, hdr, size);
    /* the row counts are compacted to the front of the headers they are read from */
    for (int k = 0; st == TIDE_OK && k < size; k++)
        hdr[k] = hdr[k * TIDE_ROW_HDR + 2];
    if (st == TIDE_OK)
        st = tide_v_layout(name, hdr, size, tide_row_elems(t), r->counts, r->displs, &total);
    if (st != TIDE_OK) {
        return abandon(r, st);
    }
    TIDE_TRY(arm_rows(r, out, t, total, name));
    MPI_Datatype mt = tide_mpi_type(t->dtype);
    int rc = MPI_Iallgatherv(tide_data(&r->buf), r->counts[c->rank], mt, tide_data(out),
                             r->counts, r->displs, mt, c->comm, &r->req);
    return launched(r, out, rc, name);
}

tide_status tide_comm_ialltoallv(tide_comm *c, tide_request *r, tide_tensor *out,
                                 const tide_tensor *t, const int64_t *send_counts)
{
    const char *name = "ialltoallv";
    int size = c->size;
    int64_t *sh = malloc(sizeof(int64_t) * (TIDE_A2AV_HDR * 2 + 1) * (size_t)size);
    if (!sh)
        return tide_fail("%s: out of memory", name);
    tide_status st = tide_a2av_headers(c, t, send_counts, sh, name);
    if (st == TIDE_OK)
        st = start(r, c, TIDE_REQ_ALLTOALLV, t, -1, -1, FP_ROWS_VARY);
    if (st != TIDE_OK) {
        free(sh);
        return st;
    }
    r->hdr = sh;   /* send headers, receive headers, then the received counts */
    r->recv_counts = sh + 2 * TIDE_A2AV_HDR * size;
    r->counts = malloc(sizeof(int) * 4 * (size_t)size);
    if (!r->counts) {
        return abandon(r, tide_fail("%s: out of memory", name));
    }
    r->displs = r->counts + size;
    r->scounts = r->counts + 2 * size;
    r->sdispls = r->counts + 3 * size;
    int64_t *rh = sh + TIDE_A2AV_HDR * size, total = 0;
    st = exchange(r, 1, sh, rh, TIDE_A2AV_HDR);
    if (st == TIDE_OK)
        st = tide_a2av_plan(c, t, send_counts, rh, r->recv_counts, r->scounts, r->sdispls,
                            r->counts, r->displs, &total, name);
    if (st != TIDE_OK) {
        return abandon(r, st);
    }
    TIDE_TRY(arm_rows(r, out, t, total, name));
    MPI_Datatype mt = tide_mpi_type(t->dtype);
    int rc = MPI_Ialltoallv(tide_data(&r->buf), r->scounts, r->sdispls, mt, tide_data(out),
                            r->counts, r->displs, mt, c->comm, &r->req);
    return launched(r, out, rc, name);
}

tide_status tide_comm_isend(tide_comm *c, tide_request *r, const tide_tensor *t, int dst, int tag)
{
    const char *name = "isend";
    TIDE_TRY(tide_check_rank(c, dst, name, "destination", 0));
    TIDE_TRY(tide_check_tag(tag, name, 0));
    TIDE_TRY(tide_check_count(tide_numel(t), name));
    int64_t nbytes = tide_numel(t) * (int64_t)tide_dtype_size(t->dtype);
    TIDE_TRY(tide_wire_size_check(nbytes, name));
    TIDE_TRY(start(r, c, TIDE_REQ_SEND, t, -1, -1, 0));
    tide_status st = tide_contiguous(&r->buf, t);
    if (st != TIDE_OK)
        return st;
    r->peer = dst;
    r->tag = tag;
    r->bytes = nbytes;
    tide_wire_fill(r->wire, TIDE_WIRE_TENSOR, t, nbytes);
    int rc = tide_wire_type(r->wire, tide_data(&r->buf), nbytes, &r->type);
    if (rc == MPI_SUCCESS)
        rc = MPI_Isend(MPI_BOTTOM, 1, r->type, dst, tag, c->comm, &r->req);
    if (rc != MPI_SUCCESS) {
        return abandon(r, tide_mpi_fail(rc, name));
    }
    r->active = 1;
    return TIDE_OK;
}

tide_status tide_comm_irecv(tide_comm *c, tide_request *r, tide_tensor *t, int src, int tag)
{
    const char *name = "irecv";
    TIDE_TRY(tide_check_rank(c, src, name, "source", 1));
    TIDE_TRY(tide_check_tag(tag, name, 1));
    TIDE_TRY(tide_check_count(tide_numel(t), name));
    int64_t nbytes = tide_numel(t) * (int64_t)tide_dtype_size(t->dtype);
    TIDE_TRY(tide_wire_size_check(nbytes, name));
    TIDE_TRY(start(r, c, TIDE_REQ_RECV, t, -1, -1, 0));
    TIDE_TRY(inplace(r, t, name));
    r->peer = src;
    r->tag = tag;
    r->bytes = nbytes;
    int rc = tide_wire_type(r->wire, tide_data(&r->buf), nbytes, &r->type);
    if (rc == MPI_SUCCESS)
        rc = MPI_Irecv(MPI_BOTTOM, 1, r->type, src == TIDE_ANY ? MPI_ANY_SOURCE : src,
                       tag == TIDE_ANY ? MPI_ANY_TAG : tag, c->comm, &r->req);
    if (rc != MPI_SUCCESS) {
        return abandon(r, tide_mpi_fail(rc, name));
    }
    r->active = 1;
    return TIDE_OK;
}

/* ------------------------------------------------------------------ completing */

/* MPI is done: averages, copies back, checks what a receive got. */
static tide_status finish(tide_request *r, const MPI_Status *status)
{
    const char *name = kind_names[r->kind];
    tide_status st = TIDE_OK;
    if (r->seq && tide_rec_on())
        tide_rec_end_seq(r->comm->cid, r->seq);
    if (r->kind == TIDE_REQ_ALLREDUCE && r->op == TIDE_OP_AVG)
        tide_divide(tide_data(&r->buf), r->buf.dtype, tide_numel(&r->buf), r->comm->size);
    if (r->kind == TIDE_REQ_RECV) {
        r->info.source = status->MPI_SOURCE;
        r->info.tag = status->MPI_TAG;
        st = tide_wire_check(r->wire, &r->buf, status->MPI_SOURCE, status->MPI_TAG, name);
    }
    if (st == TIDE_OK && r->dst.storage)
        st = tide_copy(&r->dst, &r->buf);
    return st;
}

static void trace_wait(const tide_request *r, double t0)
{
    if (tide_trace_on()) {
        char name[32];
        snprintf(name, sizeof name, "%s (wait)", kind_names[r->kind]);
        tide_trace_event(name, TIDE_TRACE_COMM, t0, tide_trace_now(), r->bytes);
    }
}

/* Completes the request if MPI says it is done (wait: waits for that). */
static tide_status step(tide_request *r, int wait, int *done)
{
    MPI_Status status;
    int flag = 0, rc;
    if (wait) {
        tide_wd_op wd;
        wd_of(r, &wd);
        rc = tide_wd_wait(&r->req, &status, &wd);
        flag = 1;
    } else {
        rc = MPI_Test(&r->req, &flag, &status);
    }
    *done = 0;
    tide_status st = rc == MPI_SUCCESS ? TIDE_OK : tide_mpi_fail(rc, kind_names[r->kind]);
    if (st == TIDE_OK && flag) {
        st = finish(r, &status);
        *done = 1;
    }
    if (st != TIDE_OK || *done) {
        if (st != TIDE_OK && r->req != MPI_REQUEST_NULL) {
            MPI_Cancel(&r->req);
            MPI_Wait(&r->req, MPI_STATUS_IGNORE);
        }
        if (st != TIDE_OK)
            abandon(r, st);
        else
            drop(r);
    }
    return st;
}

tide_status tide_request_test(tide_request *r, int *done)
{
    if (!r->active) {
        *done = 1;
        return TIDE_OK;
    }
    double t0 = tide_trace_on() ? tide_trace_now() : 0;
    tide_status st = step(r, 0, done);
    if (*done)
        trace_wait(r, t0);
    return st;
}

tide_status tide_request_wait(tide_request *r)
{
    double t0 = tide_trace_on() ? tide_trace_now() : 0;
    int done = 0;
    if (r->active)
        TIDE_TRY(step(r, 1, &done));
    trace_wait(r, t0);
    return TIDE_OK;
}

void tide_request_release(tide_request *r)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (r->active && !fin && tide_comm_abandoned(r->mpi))
        return;   /* an interrupt left it pending for good (comm.h): waiting would hang, and its
                     buffers stay with it, as MPI may still write them */
    if (r->active && !fin) {
        if (r->kind == TIDE_REQ_RECV)
            MPI_Cancel(&r->req);
        /* A collective (or a send) cannot be cancelled: finish it, so MPI never writes freed
         * memory. This runs in a finaliser or at exit, where nobody would see a hang: the wait
         * goes through the watchdog, which reports a request the other ranks never matched. */
        tide_wd_op wd;
        wd_of(r, &wd);
        char site[sizeof r->site + 48];
        snprintf(site, sizeof site, "%s (collected before its wait)", r->site);
        wd.site = site;
        if (r->comm->comm == MPI_COMM_NULL && tide_comm_base() != MPI_COMM_NULL)
            wd.comm = tide_comm_base();   /* its communicator went first (the state closing):
                                             ask every rank instead */
        tide_wd_wait(&r->req, MPI_STATUS_IGNORE, &wd);
    }
    drop(r);
    free(r->hdr);   /* kept until now: recv_counts lives in it */
    free(r->counts);
    r->hdr = r->recv_counts = NULL;
    r->counts = r->displs = r->scounts = r->sdispls = NULL;
}
