/* linalg.c — solve, cholesky, lstsq and inv through LAPACKE on contiguous copies; solve,
 * cholesky and inv also over a stack of matrices (leading batch dims), one LAPACK call each.
 *
 * The row-major LAPACKE interface transposes internally: an O(n^2) copy next to the O(n^3)
 * factorisation, which keeps this file free of layout juggling. */
#include "linalg/linalg.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "linalg/linalg_impl.h"

/* ---------------------------------------------------------------- shared with decomp.c */

tide_status tide_linalg_float(const tide_tensor *t, const char *op)
{
    if (!tide_dtype_is_float(t->dtype))
        return tide_fail("%s: expected f32 or f64 tensors, got %s", op, tide_dtype_name(t->dtype));
    return TIDE_OK;
}

tide_status tide_linalg_matrices(const tide_tensor *a, int square, tide_batch *b, const char *op)
{
    char s[TIDE_SHAPE_BUF];
    if (a->ndim < 2 || (square && a->shape[a->ndim - 1] != a->shape[a->ndim - 2])) {
        if (square)
            return tide_fail("%s: expected a square matrix, got %s", op,
                             tide_shape_str(a, s, sizeof s));
        return tide_fail("%s: expected a matrix (or a batch of them), got %s", op,
                         tide_shape_str(a, s, sizeof s));
    }
    b->rows = a->shape[a->ndim - 2];
    b->cols = a->shape[a->ndim - 1];
    b->count = 1;
    for (int d = 0; d < a->ndim - 2; d++)
        b->count *= a->shape[d];
    if (b->rows > INT_MAX || b->cols > INT_MAX)
        return tide_fail("%s: size %s exceeds LAPACK's limit", op, tide_shape_str(a, s, sizeof s));
    return tide_linalg_float(a, op);
}

tide_status tide_lapack_failed(const char *op, const char *routine, tide_dtype dt, int info)
{
    return tide_fail("%s: LAPACK %c%s rejected argument %d (does the input hold NaN?)", op,
                     dt == TIDE_F32 ? 's' : 'd', routine, -info);
}

const char *tide_batch_where(const tide_batch *b, int64_t i, char *buf, size_t size)
{
    if (b->count == 1 && i == 0)
        buf[0] = '\0';
    else
        snprintf(buf, size, " (matrix %lld of the batch of %lld)", (long long)i + 1,
                 (long long)b->count);
    return buf;
}

int tide_batch_shape(const tide_tensor *a, int ntail, const int64_t *tail, int64_t *shape)
{
    int nd = a->ndim - 2;
    for (int d = 0; d < nd; d++)
        shape[d] = a->shape[d];
    for (int d = 0; d < ntail; d++)
        shape[nd + d] = tail[d];
    return nd + ntail;
}

tide_status tide_linalg_deliver(tide_tensor *out, tide_tensor *tmp, const char *op)
{
    tide_status st = TIDE_OK;
    if (!out->storage) {
        *out = *tmp;
        tmp->storage = NULL;
        return TIDE_OK;
    }
    st = tide_prepare_out(out, tmp->dtype, tmp->ndim, tmp->shape, op);
    if (st == TIDE_OK)
        st = tide_copy(out, tmp);
    tide_tensor_release(tmp);
    return st;
}

void tide_linalg_zero_triangle(tide_tensor *t, const tide_batch *b, int upper)
{
    int64_t per = b->rows * b->cols;
    for (int64_t k = 0; k < b->count; k++) {
        char *base = tide_batch_ptr(t, k, per);
        for (int64_t i = 0; i < b->rows; i++)
            for (int64_t j = 0; j < b->cols; j++)
                if (upper ? j > i : j < i) {
                    if (t->dtype == TIDE_F32)
                        ((float *)base)[i * b->cols + j] = 0;
                    else
                        ((double *)base)[i * b->cols + j] = 0;
                }
    }
}

/* ---------------------------------------------------------------- solve */

/* B is A's batch of vectors (..., n) or of matrices (..., n, k); *nrhs = k (1 for vectors). */
static tide_status check_rhs(const tide_tensor *a, const tide_tensor *b, int64_t *nrhs,
                             const char *op)
{
    char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF];
    TIDE_TRY(tide_linalg_float(b, op));
    if (a->dtype != b->dtype)
        return tide_fail("%s: dtype mismatch, A is %s, B is %s", op, tide_dtype_name(a->dtype),
                         tide_dtype_name(b->dtype));
    int nb = a->ndim - 2, vector = b->ndim == a->ndim - 1;
    int64_t n = a->shape[a->ndim - 2];
    if (!vector && b->ndim != a->ndim)
        return tide_fail("%s: size mismatch, A is %s, B is %s (expected B of %d or %d dims)", op,
                         tide_shape_str(a, x, sizeof x), tide_shape_str(b, y, sizeof y),
                         a->ndim - 1, a->ndim);
    for (int d = 0; d < nb; d++)
        if (b->shape[d] != a->shape[d])
            return tide_fail("%s: batch mismatch, A is %s, B is %s (B needs A's leading dims)",
                             op, tide_shape_str(a, x, sizeof x), tide_shape_str(b, y, sizeof y));
    if (b->shape[nb] != n)
        return tide_fail("%s: size mismatch, A is %s, B is %s (expected %lld rows)", op,
                         tide_shape_str(a, x, sizeof x), tide_shape_str(b, y, sizeof y),
                         (long long)n);
    *nrhs = vector ? 1 : b->shape[b->ndim - 1];
    if (*nrhs > INT_MAX)
        return tide_fail("%s: size %lld exceeds LAPACK's limit", op, (long long)*nrhs);
    return TIDE_OK;
}

tide_status tide_solve(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{
    tide_batch bt;
    TIDE_TRY(tide_linalg_matrices(a, 1, &bt, "solve"));
    int64_t n = bt.rows, nrhs;
    TIDE_TRY(check_rhs(a, b, &nrhs, "solve"));
    tide_tensor lu = TIDE_TENSOR_EMPTY, x = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_clone(&x, b));
    if (n == 0 || nrhs == 0 || bt.count == 0)
        return tide_linalg_deliver(out, &x, "solve");
    lapack_int *ipiv = malloc((size_t)n * sizeof *ipiv);
    tide_status st = ipiv ? tide_clone(&lu, a) : tide_fail("solve: out of memory");
    for (int64_t k = 0; st == TIDE_OK && k < bt.count; k++) {
        char w[TIDE_BATCH_BUF];
        int info = (int)TIDE_LAPACK(a->dtype, gesv, LAPACK_ROW_MAJOR, (lapack_int)n,
                                    (lapack_int)nrhs, tide_batch_ptr(&lu, k, n * n),
                                    (lapack_int)n, ipiv, tide_batch_ptr(&x, k, n * nrhs),
                                    (lapack_int)nrhs);
        if (info > 0)
            st = tide_fail("solve: matrix is singular (pivot %d is zero)%s", info,
                           tide_batch_where(&bt, k, w, sizeof w));
        else if (info < 0)
            st = tide_lapack_failed("solve", "gesv", a->dtype, info);
    }
    free(ipiv);
    tide_tensor_release(&lu);
    if (st != TIDE_OK) {
        tide_tensor_release(&x);
        return st;
    }
    return tide_linalg_deliver(out, &x, "solve");
}

/* ---------------------------------------------------------------- cholesky */

tide_status tide_cholesky(tide_tensor *out, const tide_tensor *a)
{
    tide_batch bt;
    TIDE_TRY(tide_linalg_matrices(a, 1, &bt, "cholesky"));
    int64_t n = bt.rows;
    tide_tensor l = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_clone(&l, a));
    for (int64_t k = 0; n > 0 && k < bt.count; k++) {
        char w[TIDE_BATCH_BUF];
        int info = (int)TIDE_LAPACK(a->dtype, potrf, LAPACK_ROW_MAJOR, 'L', (lapack_int)n,
                                    tide_batch_ptr(&l, k, n * n), (lapack_int)n);
        if (info != 0) {
            tide_tensor_release(&l);
            if (info > 0)
                return tide_fail("cholesky: matrix is not positive definite (leading minor "
                                 "%d)%s", info, tide_batch_where(&bt, k, w, sizeof w));
            return tide_lapack_failed("cholesky", "potrf", a->dtype, info);
        }
    }
    /* potrf leaves the strict upper triangle as it found it */
    tide_linalg_zero_triangle(&l, &bt, 1);
    return tide_linalg_deliver(out, &l, "cholesky");
}

/* ---------------------------------------------------------------- lstsq */

tide_status tide_lstsq(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{
    char s[TIDE_SHAPE_BUF];
    if (a->ndim != 2)
        return tide_fail("lstsq: expected a 2-D matrix A, got %s", tide_shape_str(a, s, sizeof s));
    tide_batch bt;
    TIDE_TRY(tide_linalg_matrices(a, 0, &bt, "lstsq"));
    int64_t m = a->shape[0], n = a->shape[1], nrhs;
    TIDE_TRY(check_rhs(a, b, &nrhs, "lstsq"));

    /* gels writes the solution over B, which needs max(m, n) rows */
    int64_t rows = m > n ? m : n;
    int64_t shape[2] = {rows, nrhs};
    tide_tensor qr = TIDE_TENSOR_EMPTY, x = TIDE_TENSOR_EMPTY, head = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_tensor_zeros(&x, a->dtype, b->ndim, shape));
    tide_status st = tide_narrow(&head, &x, 0, 0, m);
    if (st == TIDE_OK)
        st = tide_copy(&head, b);
    tide_tensor_release(&head);
    if (st == TIDE_OK)
        st = tide_clone(&qr, a);
    if (st == TIDE_OK && m > 0 && n > 0 && nrhs > 0) {
        int info = (int)TIDE_LAPACK(a->dtype, gels, LAPACK_ROW_MAJOR, 'N', (lapack_int)m,
                                    (lapack_int)n, (lapack_int)nrhs, tide_data(&qr),
                                    (lapack_int)n, tide_data(&x), (lapack_int)nrhs);
        if (info > 0)
            st = tide_fail("lstsq: matrix does not have full rank (diagonal element %d of its "
                           "triangular factor is zero)", info);
        else if (info < 0)
            st = tide_lapack_failed("lstsq", "gels", a->dtype, info);
    }
    tide_tensor_release(&qr);
    if (st == TIDE_OK) {
        /* the solution is the first n rows; a tall B is copied so the result does not hold
         * the m rows of the work space */
        st = tide_narrow(&head, &x, 0, 0, n);
        tide_tensor sol = TIDE_TENSOR_EMPTY;
        if (st == TIDE_OK)
            st = rows > n ? tide_clone(&sol, &head) : (tide_tensor_share(&sol, &head), TIDE_OK);
        tide_tensor_release(&head);
        if (st == TIDE_OK)
            st = tide_linalg_deliver(out, &sol, "lstsq");
    }
    tide_tensor_release(&x);
    return st;
}

/* ---------------------------------------------------------------- inv */

tide_status tide_inv(tide_tensor *out, const tide_tensor *a)
{
    tide_batch bt;
    TIDE_TRY(tide_linalg_matrices(a, 1, &bt, "inv"));
    int64_t n = bt.rows;
    tide_tensor r = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_clone(&r, a));
    if (n == 0 || bt.count == 0)
        return tide_linalg_deliver(out, &r, "inv");
    lapack_int *ipiv = malloc((size_t)n * sizeof *ipiv);
    tide_status st = ipiv ? TIDE_OK : tide_fail("inv: out of memory");
    for (int64_t k = 0; st == TIDE_OK && k < bt.count; k++) {
        char w[TIDE_BATCH_BUF];
        void *p = tide_batch_ptr(&r, k, n * n);
        const char *routine = "getrf";
        int info = (int)TIDE_LAPACK(a->dtype, getrf, LAPACK_ROW_MAJOR, (lapack_int)n,
                                    (lapack_int)n, p, (lapack_int)n, ipiv);
        if (info == 0) {
            routine = "getri";
            info = (int)TIDE_LAPACK(a->dtype, getri, LAPACK_ROW_MAJOR, (lapack_int)n, p,
                                    (lapack_int)n, ipiv);
        }
        if (info > 0)
            st = tide_fail("inv: matrix is singular (pivot %d is zero)%s", info,
                           tide_batch_where(&bt, k, w, sizeof w));
        else if (info < 0)
            st = tide_lapack_failed("inv", routine, a->dtype, info);
    }
    free(ipiv);
    if (st != TIDE_OK) {
        tide_tensor_release(&r);
        return st;
    }
    return tide_linalg_deliver(out, &r, "inv");
}
