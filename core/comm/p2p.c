/* p2p.c — point-to-point messages (send, recv, recv_new) and the byte messages behind send_obj
 * and recv_obj (the object collectives are in objects.c).
 *
 * A message is a 128-byte header (kind, dtype, shape, payload size) followed by the payload,
 * sent as one MPI message: small ones packed into a stack buffer, large ones described by a
 * struct datatype over the header and the tensor's own memory, so nothing is copied. The
 * receiver probes first (MPI_Mprobe), so it can check what came before using it and tell the
 * user "rank 1 sent f32 [20] with tag 0, expected f32 [10]" instead of truncating. */
#include "comm/comm_impl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIRE_MAGIC 0x45444954u   /* "TIDE" */
#define SMALL_MESSAGE 4096       /* packed through a stack buffer up to this size */

typedef struct wire {
    uint32_t magic;
    int32_t kind;
    int32_t dtype;
    int32_t ndim;
    int64_t shape[TIDE_MAX_DIMS];
    int64_t nbytes;
} wire;

_Static_assert(sizeof(wire) <= TIDE_WIRE_BYTES, "the header fits its slot");
_Static_assert(TIDE_WIRE_BYTES % 64 == 0, "recv_new's payload stays 64-byte aligned");

void tide_wire_fill(unsigned char *buf, int kind, const tide_tensor *t, int64_t nbytes)
{
    wire w;
    memset(&w, 0, sizeof w);
    w.magic = WIRE_MAGIC;
    w.kind = kind;
    w.dtype = t ? (int32_t)t->dtype : -1;
    w.ndim = t ? t->ndim : 0;
    for (int d = 0; d < w.ndim; d++)
        w.shape[d] = t->shape[d];
    w.nbytes = nbytes;
    memset(buf, 0, TIDE_WIRE_BYTES);
    memcpy(buf, &w, sizeof w);
}

static void wire_read(wire *w, const unsigned char *buf)
{
    memcpy(w, buf, sizeof *w);
}

static void src_tag(char *buf, size_t n, int src, int tag)
{
    snprintf(buf, n, "rank %d (tag %d)", src, tag);
}

/* Is w a well-formed header of the given kind? Fails with a message naming src otherwise. */
static tide_status wire_valid(const wire *w, int kind, int src, int tag, const char *name)
{
    char from[64];
    src_tag(from, sizeof from, src, tag);
    if (w->magic != WIRE_MAGIC || w->ndim < 0 || w->ndim > TIDE_MAX_DIMS || w->nbytes < 0 ||
        (w->kind == TIDE_WIRE_TENSOR && !tide_dtype_valid(w->dtype)))
        return tide_fail("%s: the message from %s was not sent by tide", name, from);
    if (w->kind != kind)
        return tide_fail(kind == TIDE_WIRE_TENSOR
                             ? "%s: %s sent a Lua value (send_obj), expected a tensor (send)"
                             : "%s: %s sent a tensor (send), expected a Lua value (send_obj)",
                         name, from);
    return TIDE_OK;
}

static void wire_shape_str(char *buf, size_t n, const wire *w)
{
    size_t used = (size_t)snprintf(buf, n, "%s [", tide_dtype_name((tide_dtype)w->dtype));
    if (w->ndim == 0)
        used += (size_t)snprintf(buf + used, n - used, "scalar");
    for (int d = 0; d < w->ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, d ? "x%lld" : "%lld",
                                 (long long)w->shape[d]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
}

tide_status tide_wire_check(const unsigned char *buf, const tide_tensor *t, int src, int tag,
                            const char *name)
{
    wire w;
    wire_read(&w, buf);
    TIDE_TRY(wire_valid(&w, TIDE_WIRE_TENSOR, src, tag, name));
    int64_t n = 1;
    for (int d = 0; d < w.ndim; d++)
        n *= w.shape[d];
    if (w.dtype != (int32_t)t->dtype || n != tide_numel(t)) {
        char got[TIDE_SHAPE_BUF + 8], want[TIDE_SHAPE_BUF];
        wire_shape_str(got, sizeof got, &w);
        return tide_fail("%s: rank %d sent %s with tag %d, expected %s [%s] (the dtype and the "
                         "element count must match)", name, src, got, tag,
                         tide_dtype_name(t->dtype), tide_shape_str(t, want, sizeof want));
    }
    return TIDE_OK;
}

int tide_wire_type(unsigned char *hdr, void *data, int64_t nbytes, MPI_Datatype *type)
{
    MPI_Aint disp[2];
    MPI_Get_address(hdr, &disp[0]);
    MPI_Get_address(data, &disp[1]);
    int lens[2] = {TIDE_WIRE_BYTES, (int)nbytes};
    MPI_Datatype types[2] = {MPI_BYTE, MPI_BYTE};
    int rc = MPI_Type_create_struct(nbytes ? 2 : 1, lens, disp, types, type);
    if (rc == MPI_SUCCESS)
        rc = MPI_Type_commit(type);
    return rc;
}

tide_status tide_wire_size_check(int64_t nbytes, const char *name)
{
    if (nbytes > (int64_t)INT_MAX - TIDE_WIRE_BYTES)
        return tide_fail("%s: %lld bytes exceed what one MPI message can carry; split the tensor",
                         name, (long long)nbytes);
    return TIDE_OK;
}

/* ------------------------------------------------------------------ sending */

/* Sends header + payload as one message. */
static tide_status send_message(coll *x, unsigned char *hdr, const void *data, int64_t nbytes,
                                int dst, int tag)
{
    MPI_Comm comm = x->c->comm;
    unsigned char small[SMALL_MESSAGE];
    MPI_Datatype type = MPI_DATATYPE_NULL;
    const void *buf;
    int count;
    MPI_Datatype dt;
    int rc;
    if (nbytes + TIDE_WIRE_BYTES <= SMALL_MESSAGE) {
        memcpy(small, hdr, TIDE_WIRE_BYTES);
        if (nbytes)
            memcpy(small + TIDE_WIRE_BYTES, data, (size_t)nbytes);
        buf = small;
        count = (int)(TIDE_WIRE_BYTES + nbytes);
        dt = MPI_BYTE;
    } else {
        rc = tide_wire_type(hdr, (void *)data, nbytes, &type);
        if (rc != MPI_SUCCESS)
            return tide_mpi_fail(rc, x->name);
        buf = MPI_BOTTOM;
        count = 1;
        dt = type;
    }
    if (!x->polled) {
        rc = TIDE_WD_WATCHED(&x->wd, MPI_Send(buf, count, dt, dst, tag, comm));
    } else {
        MPI_Request req;
        rc = MPI_Isend(buf, count, dt, dst, tag, comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(x, &req, NULL);
    }
    if (type != MPI_DATATYPE_NULL)
        MPI_Type_free(&type);
    return rc == MPI_SUCCESS ? TIDE_OK : tide_mpi_fail(rc, x->name);
}

tide_status tide_comm_send(tide_comm *c, const tide_tensor *t, int dst, int tag)
{
    TIDE_TRY(tide_check_rank(c, dst, "send", "destination", 0));
    TIDE_TRY(tide_check_tag(tag, "send", 0));
    int64_t nbytes = tide_numel(t) * (int64_t)tide_dtype_size(t->dtype);
    TIDE_TRY(tide_check_count(tide_numel(t), "send"));
    TIDE_TRY(tide_wire_size_check(nbytes, "send"));
    char name[64];
    snprintf(name, sizeof name, "send to rank %d (tag %d)", dst, tag);
    coll x;
    TIDE_TRY(tide_p2p_begin(&x, c, name));
    x.name = "send";
    tide_tensor src = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&src, t));
    unsigned char hdr[TIDE_WIRE_BYTES];
    tide_wire_fill(hdr, TIDE_WIRE_TENSOR, t, nbytes);
    tide_status st = send_message(&x, hdr, tide_data(&src), nbytes, dst, tag);
    tide_tensor_release(&src);
    tide_coll_end(&x, nbytes);
    return st;
}

tide_status tide_comm_send_bytes(tide_comm *c, const char *buf, int64_t len, int dst, int tag)
{
    TIDE_TRY(tide_check_rank(c, dst, "send_obj", "destination", 0));
    TIDE_TRY(tide_check_tag(tag, "send_obj", 0));
    TIDE_TRY(tide_wire_size_check(len, "send_obj"));
    char name[64];
    snprintf(name, sizeof name, "send_obj to rank %d (tag %d)", dst, tag);
    coll x;
    TIDE_TRY(tide_p2p_begin(&x, c, name));
    x.name = "send_obj";
    unsigned char hdr[TIDE_WIRE_BYTES];
    tide_wire_fill(hdr, TIDE_WIRE_BYTES_KIND, NULL, len);
    tide_status st = send_message(&x, hdr, buf, len, dst, tag);
    tide_coll_end(&x, len);
    return st;
}

/* ------------------------------------------------------------------ receiving */

typedef struct probe_arg {
    int src, tag;
    MPI_Comm comm;
    MPI_Message *msg;
    MPI_Status *st;
} probe_arg;

static int test_probe(void *arg, int *done)
{
    probe_arg *p = arg;
    return MPI_Improbe(p->src, p->tag, p->comm, done, p->msg, p->st);
}

/* Waits for a matching message (polled under the watchdog); *count: its size in bytes. */
static tide_status probe(coll *x, int src, int tag, MPI_Message *msg, MPI_Status *st,
                         int64_t *count)
{
    int s = src == TIDE_ANY ? MPI_ANY_SOURCE : src;
    int t = tag == TIDE_ANY ? MPI_ANY_TAG : tag;
    int rc;
    if (!x->polled) {
        rc = TIDE_WD_WATCHED(&x->wd, MPI_Mprobe(s, t, x->c->comm, msg, st));
    } else {
        probe_arg a = {s, t, x->c->comm, msg, st};
        rc = tide_wd_poll(test_probe, &a, &x->wd);
    }
    if (rc != MPI_SUCCESS)
        return tide_mpi_fail(rc, x->name);
    MPI_Count n = 0;
    MPI_Get_elements_x(st, MPI_BYTE, &n);
    *count = (int64_t)n;
    return TIDE_OK;
}

static int mrecv(coll *x, void *buf, int count, MPI_Datatype dt, MPI_Message *msg)
{
    if (!x->polled)
        return TIDE_WD_WATCHED(&x->wd, MPI_Mrecv(buf, count, dt, msg, MPI_STATUS_IGNORE));
    MPI_Request req;
    int rc = MPI_Imrecv(buf, count, dt, msg, &req);
    return rc == MPI_SUCCESS ? tide_coll_wait(x, &req, NULL) : rc;
}

/* Receives a whole message of count bytes into a malloc'd buffer (*out). */
static tide_status recv_whole(coll *x, MPI_Message *msg, int64_t count, unsigned char **out)
{
    if (count > INT_MAX)
        return tide_fail("%s: a message of %lld bytes is too large", x->name, (long long)count);
    unsigned char *buf = malloc((size_t)count + 1);
    if (!buf)
        return tide_fail("%s: out of memory for a message of %lld bytes", x->name,
                         (long long)count);
    int rc = mrecv(x, buf, (int)count, MPI_BYTE, msg);
    if (rc != MPI_SUCCESS) {
        free(buf);
        return tide_mpi_fail(rc, x->name);
    }
    *out = buf;
    return TIDE_OK;
}

static void fill_info(tide_recv_info *info, const MPI_Status *st)
{
    if (info) {
        info->source = st->MPI_SOURCE;
        info->tag = st->MPI_TAG;
    }
}

static void recv_name(char *buf, size_t n, const char *op, int src, int tag)
{
    char s[24], t[24];
    if (src == TIDE_ANY) snprintf(s, sizeof s, "any rank"); else snprintf(s, sizeof s, "rank %d", src);
    if (tag == TIDE_ANY) snprintf(t, sizeof t, "any tag"); else snprintf(t, sizeof t, "tag %d", tag);
    snprintf(buf, n, "%s from %s (%s)", op, s, t);
}

static tide_status recv_checks(tide_comm *c, int src, int tag, const char *name)
{
    TIDE_TRY(tide_check_rank(c, src, name, "source", 1));
    return tide_check_tag(tag, name, 1);
}

/* Receives the probed message into the contiguous tensor w. */
static tide_status recv_into(coll *x, tide_tensor *w, MPI_Message *msg, const MPI_Status *st,
                             int64_t count)
{
    int src = st->MPI_SOURCE, tag = st->MPI_TAG;
    int64_t nbytes = tide_numel(w) * (int64_t)tide_dtype_size(w->dtype);
    if (count != TIDE_WIRE_BYTES + nbytes || count <= SMALL_MESSAGE) {
        /* a small message (through a stack buffer), or a size we did not expect (taken whole,
         * to say what it was) */
        unsigned char small[SMALL_MESSAGE], *buf = small;
        if (count <= SMALL_MESSAGE) {
            int rc = mrecv(x, small, (int)count, MPI_BYTE, msg);
            if (rc != MPI_SUCCESS)
                return tide_mpi_fail(rc, x->name);
        } else {
            TIDE_TRY(recv_whole(x, msg, count, &buf));
        }
        tide_status s = count < TIDE_WIRE_BYTES
                            ? tide_fail("%s: the message from rank %d (tag %d) was not sent by tide",
                                        x->name, src, tag)
                            : tide_wire_check(buf, w, src, tag, x->name);
        if (s == TIDE_OK && count != TIDE_WIRE_BYTES + nbytes)
            s = tide_fail("%s: the message from rank %d (tag %d) was not sent by tide", x->name,
                          src, tag);
        if (s == TIDE_OK && nbytes)
            memcpy(tide_data(w), buf + TIDE_WIRE_BYTES, (size_t)nbytes);
        if (buf != small)
            free(buf);
        return s;
    }
    unsigned char hdr[TIDE_WIRE_BYTES];
    MPI_Datatype type;
    int rc = tide_wire_type(hdr, tide_data(w), nbytes, &type);
    if (rc == MPI_SUCCESS) {
        rc = mrecv(x, MPI_BOTTOM, 1, type, msg);
        MPI_Type_free(&type);
    }
    if (rc != MPI_SUCCESS)
        return tide_mpi_fail(rc, x->name);
    return tide_wire_check(hdr, w, src, tag, x->name);
}

tide_status tide_comm_recv(tide_comm *c, tide_tensor *t, int src, int tag, tide_recv_info *info)
{
    TIDE_TRY(recv_checks(c, src, tag, "recv"));
    TIDE_TRY(tide_check_count(tide_numel(t), "recv"));
    char name[64];
    recv_name(name, sizeof name, "recv", src, tag);
    coll x;
    TIDE_TRY(tide_p2p_begin(&x, c, name));
    tide_tensor w;
    int temp;
    TIDE_TRY(tide_inplace_begin(&w, &temp, t, "recv"));
    MPI_Message msg;
    MPI_Status st;
    int64_t count = 0;
    tide_status s = probe(&x, src, tag, &msg, &st, &count);
    x.name = "recv";
    if (s == TIDE_OK)
        s = recv_into(&x, &w, &msg, &st, count);
    if (s == TIDE_OK)
        fill_info(info, &st);
    tide_coll_end(&x, count);
    if (s != TIDE_OK) {
        if (temp)
            tide_tensor_release(&w);
        return s;
    }
    return tide_inplace_finish(t, &w, temp);
}

tide_status tide_comm_recv_new(tide_comm *c, tide_tensor *out, int src, int tag,
                               tide_recv_info *info)
{
    TIDE_TRY(recv_checks(c, src, tag, "recv_new"));
    char name[64];
    recv_name(name, sizeof name, "recv_new", src, tag);
    coll x;
    TIDE_TRY(tide_p2p_begin(&x, c, name));
    MPI_Message msg;
    MPI_Status st;
    int64_t count = 0;
    tide_status s = probe(&x, src, tag, &msg, &st, &count);
    x.name = "recv_new";
    if (s != TIDE_OK)
        return s;
    if (count > INT_MAX)
        return tide_fail("recv_new: a message of %lld bytes is too large", (long long)count);
    /* the header and the payload land in one allocation; the tensor then starts past the
     * header, which keeps its data 64-byte aligned */
    int64_t shape1 = count > TIDE_WIRE_BYTES ? count : TIDE_WIRE_BYTES;
    TIDE_TRY(tide_tensor_alloc(out, TIDE_U8, 1, &shape1));
    int rc = mrecv(&x, tide_data(out), (int)count, MPI_BYTE, &msg);
    if (rc != MPI_SUCCESS) {
        tide_tensor_release(out);
        return tide_mpi_fail(rc, "recv_new");
    }
    wire w;
    memset(&w, 0, sizeof w);
    if (count >= TIDE_WIRE_BYTES)
        wire_read(&w, tide_data(out));
    s = wire_valid(&w, TIDE_WIRE_TENSOR, st.MPI_SOURCE, st.MPI_TAG, "recv_new");
    int64_t n = 1;
    for (int d = 0; s == TIDE_OK && d < w.ndim; d++)
        n *= w.shape[d];
    if (s == TIDE_OK && n * (int64_t)tide_dtype_size((tide_dtype)w.dtype) != count - TIDE_WIRE_BYTES)
        s = tide_fail("recv_new: the message from rank %d (tag %d) was not sent by tide",
                      st.MPI_SOURCE, st.MPI_TAG);
    if (s != TIDE_OK) {
        tide_tensor_release(out);
        return s;
    }
    out->dtype = (tide_dtype)w.dtype;
    out->ndim = w.ndim;
    for (int d = 0; d < w.ndim; d++)
        out->shape[d] = w.shape[d];
    tide_contiguous_strides(w.ndim, out->shape, out->stride);
    out->offset = TIDE_WIRE_BYTES / (int64_t)tide_dtype_size(out->dtype);
    fill_info(info, &st);
    tide_coll_end(&x, count);
    return TIDE_OK;
}

tide_status tide_comm_recv_bytes(tide_comm *c, int src, int tag, tide_bytes *out,
                                 tide_recv_info *info)
{
    TIDE_TRY(recv_checks(c, src, tag, "recv_obj"));
    char name[64];
    recv_name(name, sizeof name, "recv_obj", src, tag);
    coll x;
    TIDE_TRY(tide_p2p_begin(&x, c, name));
    MPI_Message msg;
    MPI_Status st;
    int64_t count = 0;
    TIDE_TRY(probe(&x, src, tag, &msg, &st, &count));
    x.name = "recv_obj";
    unsigned char *buf = NULL;
    TIDE_TRY(recv_whole(&x, &msg, count, &buf));
    wire w;
    memset(&w, 0, sizeof w);
    if (count >= TIDE_WIRE_BYTES)
        wire_read(&w, buf);
    tide_status s = wire_valid(&w, TIDE_WIRE_BYTES_KIND, st.MPI_SOURCE, st.MPI_TAG, "recv_obj");
    if (s == TIDE_OK && w.nbytes != count - TIDE_WIRE_BYTES)
        s = tide_fail("recv_obj: the message from rank %d (tag %d) was not sent by tide",
                      st.MPI_SOURCE, st.MPI_TAG);
    if (s != TIDE_OK) {
        free(buf);
        return s;
    }
    memmove(buf, buf + TIDE_WIRE_BYTES, (size_t)w.nbytes);
    out->data = (char *)buf;
    out->len = w.nbytes;
    fill_info(info, &st);
    tide_coll_end(&x, count);
    return TIDE_OK;
}
