/* decomp.c — qr, svd and eigh over a batch of matrices, one LAPACK call (or two) per matrix on
 * contiguous copies; the factors are cut out of LAPACK's packed results row by row. */
#include "linalg/decomp.h"

#include <stdlib.h>
#include <string.h>

#include "linalg/linalg_impl.h"

/* rows x cols elements from src (row stride sld) to dst (row stride dld), es bytes each. */
static void copy_block(void *dst, int64_t dld, const void *src, int64_t sld, int64_t rows,
                       int64_t cols, size_t es)
{
    for (int64_t i = 0; i < rows; i++)
        memcpy((char *)dst + (size_t)(i * dld) * es, (const char *)src + (size_t)(i * sld) * es,
               (size_t)cols * es);
}

/* Each n x n matrix of the zeroed tensor t becomes the identity. */
static void set_identity(tide_tensor *t, int64_t count, int64_t n)
{
    for (int64_t k = 0; k < count; k++) {
        char *p = tide_batch_ptr(t, k, n * n);
        for (int64_t i = 0; i < n; i++) {
            if (t->dtype == TIDE_F32)
                ((float *)p)[i * n + i] = 1;
            else
                ((double *)p)[i * n + i] = 1;
        }
    }
}

/* A new zeroed tensor of a's batch dims followed by the ntail dims in tail. */
static tide_status batch_zeros(tide_tensor *t, const tide_tensor *a, int ntail,
                               const int64_t *tail)
{
    int64_t shape[TIDE_MAX_DIMS];
    int nd = tide_batch_shape(a, ntail, tail, shape);
    return tide_tensor_zeros(t, a->dtype, nd, shape);
}

static tide_status need_empty(const tide_tensor *t, const char *op)
{
    if (t->storage)
        return tide_fail("%s: the outputs must be empty tensors", op);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- qr */

tide_status tide_qr(tide_tensor *q, tide_tensor *r, const tide_tensor *a, int complete)
{
    tide_batch bt;
    TIDE_TRY(tide_linalg_matrices(a, 0, &bt, "qr"));
    TIDE_TRY(need_empty(q, "qr"));
    TIDE_TRY(need_empty(r, "qr"));
    int64_t m = bt.rows, n = bt.cols, k = m < n ? m : n;
    int64_t qc = complete ? m : k, rr = complete ? m : k;
    size_t es = tide_dtype_size(a->dtype);
    int64_t qshape[2] = {m, qc}, rshape[2] = {rr, n};
    tide_tensor work = TIDE_TENSOR_EMPTY;
    void *tau = malloc((size_t)(k > 0 ? k : 1) * es);
    tide_status st = tau ? tide_clone(&work, a) : tide_fail("qr: out of memory");
    if (st == TIDE_OK)
        st = batch_zeros(q, a, 2, qshape);
    if (st == TIDE_OK)
        st = batch_zeros(r, a, 2, rshape);
    for (int64_t b = 0; st == TIDE_OK && b < bt.count && m > 0; b++) {
        void *w = tide_batch_ptr(&work, b, m * n), *qb = tide_batch_ptr(q, b, m * qc);
        int info = 0;
        if (k > 0)
            info = (int)TIDE_LAPACK(a->dtype, geqrf, LAPACK_ROW_MAJOR, (lapack_int)m,
                                    (lapack_int)n, w, (lapack_int)n, tau);
        if (info < 0) {
            st = tide_lapack_failed("qr", "geqrf", a->dtype, info);
            break;
        }
        /* R: the upper triangle of the first min(k, rows of R) rows; Q from the k
         * reflectors stored below the diagonal of the first k columns */
        copy_block(tide_batch_ptr(r, b, rr * n), n, w, n, k, n, es);
        copy_block(qb, qc, w, n, m, k, es);
        if (qc > 0)
            info = (int)TIDE_LAPACK(a->dtype, orgqr, LAPACK_ROW_MAJOR, (lapack_int)m,
                                    (lapack_int)qc, (lapack_int)k, qb, (lapack_int)qc, tau);
        if (info < 0)
            st = tide_lapack_failed("qr", "orgqr", a->dtype, info);
    }
    if (st == TIDE_OK) {
        tide_batch rb = {bt.count, rr, n};
        tide_linalg_zero_triangle(r, &rb, 0);
    }
    free(tau);
    tide_tensor_release(&work);
    if (st != TIDE_OK) {
        tide_tensor_release(q);
        tide_tensor_release(r);
    }
    return st;
}

/* ---------------------------------------------------------------- svd */

tide_status tide_svd(tide_tensor *u, tide_tensor *s, tide_tensor *vh, const tide_tensor *a,
                     int full)
{
    tide_batch bt;
    TIDE_TRY(tide_linalg_matrices(a, 0, &bt, "svd"));
    TIDE_TRY(need_empty(u, "svd"));
    TIDE_TRY(need_empty(s, "svd"));
    TIDE_TRY(need_empty(vh, "svd"));
    int64_t m = bt.rows, n = bt.cols, k = m < n ? m : n;
    int64_t uc = full ? m : k, vr = full ? n : k;
    int64_t ushape[2] = {m, uc}, vshape[2] = {vr, n};
    tide_tensor work = TIDE_TENSOR_EMPTY;
    tide_status st = tide_clone(&work, a);
    if (st == TIDE_OK)
        st = batch_zeros(u, a, 2, ushape);
    if (st == TIDE_OK)
        st = batch_zeros(s, a, 1, &k);
    if (st == TIDE_OK)
        st = batch_zeros(vh, a, 2, vshape);
    if (st == TIDE_OK && k == 0) {
        /* nothing to factor: the complete bases are the identities */
        if (full) {
            set_identity(u, bt.count, m);
            set_identity(vh, bt.count, n);
        }
    }
    for (int64_t b = 0; st == TIDE_OK && k > 0 && b < bt.count; b++) {
        char where[TIDE_BATCH_BUF];
        int info = (int)TIDE_LAPACK(a->dtype, gesdd, LAPACK_ROW_MAJOR, full ? 'A' : 'S',
                                    (lapack_int)m, (lapack_int)n,
                                    tide_batch_ptr(&work, b, m * n), (lapack_int)n,
                                    tide_batch_ptr(s, b, k), tide_batch_ptr(u, b, m * uc),
                                    (lapack_int)uc, tide_batch_ptr(vh, b, vr * n), (lapack_int)n);
        if (info > 0)
            st = tide_fail("svd: did not converge%s", tide_batch_where(&bt, b, where,
                                                                        sizeof where));
        else if (info < 0)
            st = tide_lapack_failed("svd", "gesdd", a->dtype, info);
    }
    tide_tensor_release(&work);
    if (st != TIDE_OK) {
        tide_tensor_release(u);
        tide_tensor_release(s);
        tide_tensor_release(vh);
    }
    return st;
}

/* ---------------------------------------------------------------- eigh */

tide_status tide_eigh(tide_tensor *w, tide_tensor *v, const tide_tensor *a, int upper)
{
    tide_batch bt;
    TIDE_TRY(tide_linalg_matrices(a, 1, &bt, "eigh"));
    TIDE_TRY(need_empty(w, "eigh"));
    TIDE_TRY(need_empty(v, "eigh"));
    int64_t n = bt.rows;
    tide_status st = tide_clone(v, a);
    if (st == TIDE_OK)
        st = batch_zeros(w, a, 1, &n);
    for (int64_t b = 0; st == TIDE_OK && n > 0 && b < bt.count; b++) {
        char where[TIDE_BATCH_BUF];
        int info = (int)TIDE_LAPACK(a->dtype, syevd, LAPACK_ROW_MAJOR, 'V', upper ? 'U' : 'L',
                                    (lapack_int)n, tide_batch_ptr(v, b, n * n), (lapack_int)n,
                                    tide_batch_ptr(w, b, n));
        if (info > 0)
            st = tide_fail("eigh: did not converge%s", tide_batch_where(&bt, b, where,
                                                                         sizeof where));
        else if (info < 0)
            st = tide_lapack_failed("eigh", "syevd", a->dtype, info);
    }
    if (st != TIDE_OK) {
        tide_tensor_release(w);
        tide_tensor_release(v);
    }
    return st;
}
