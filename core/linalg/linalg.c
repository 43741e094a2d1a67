/* linalg.c — solve, cholesky, lstsq and inv through LAPACKE on contiguous copies.
 *
 * The row-major LAPACKE interface transposes internally: an O(n^2) copy next to the O(n^3)
 * factorisation, which keeps this file free of layout juggling. */
#include "linalg/linalg.h"

#include <lapacke.h>
#include <limits.h>
#include <stdlib.h>

/* The s or d variant of a LAPACKE routine; data pointers are passed as void *. LAPACK has one
 * entry point per precision, so this (and the letter in lapack_failed) stays a branch. */
#define LAPACK(dt, fn, ...) \
    ((dt) == TIDE_F32 ? LAPACKE_s##fn(__VA_ARGS__) : LAPACKE_d##fn(__VA_ARGS__))

static tide_status check_float(const tide_tensor *t, const char *op)
{
    if (!tide_dtype_is_float(t->dtype))
        return tide_fail("%s: expected f32 or f64 tensors, got %s", op, tide_dtype_name(t->dtype));
    return TIDE_OK;
}

static tide_status check_square(const tide_tensor *a, const char *op)
{
    char s[TIDE_SHAPE_BUF];
    if (a->ndim != 2 || a->shape[0] != a->shape[1])
        return tide_fail("%s: expected a square matrix, got %s", op,
                         tide_shape_str(a, s, sizeof s));
    if (a->shape[0] > INT_MAX)
        return tide_fail("%s: size %lld exceeds LAPACK's limit", op, (long long)a->shape[0]);
    return check_float(a, op);
}

/* The right-hand side: 1-D or 2-D with rows rows, the dtype of a. */
static tide_status check_rhs(const tide_tensor *a, const tide_tensor *b, int64_t rows,
                             const char *op)
{
    char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF];
    TIDE_TRY(check_float(b, op));
    if (a->dtype != b->dtype)
        return tide_fail("%s: dtype mismatch, A is %s, B is %s", op, tide_dtype_name(a->dtype),
                         tide_dtype_name(b->dtype));
    if (b->ndim < 1 || b->ndim > 2 || b->shape[0] != rows)
        return tide_fail("%s: size mismatch, A is %s, B is %s (expected %lld rows)", op,
                         tide_shape_str(a, x, sizeof x), tide_shape_str(b, y, sizeof y),
                         (long long)rows);
    if (b->ndim == 2 && b->shape[1] > INT_MAX)
        return tide_fail("%s: size %lld exceeds LAPACK's limit", op, (long long)b->shape[1]);
    return TIDE_OK;
}

static tide_status lapack_failed(const char *op, const char *routine, tide_dtype dt, int info)
{
    return tide_fail("%s: LAPACK %c%s rejected argument %d (does the input hold NaN?)", op,
                     dt == TIDE_F32 ? 's' : 'd', routine, -info);
}

/* Hands the contiguous result tmp to out: moved into an empty out, copied into a given one. */
static tide_status deliver(tide_tensor *out, tide_tensor *tmp, const char *op)
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

tide_status tide_solve(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{
    TIDE_TRY(check_square(a, "solve"));
    int64_t n = a->shape[0];
    TIDE_TRY(check_rhs(a, b, n, "solve"));
    int64_t nrhs = b->ndim == 2 ? b->shape[1] : 1;
    tide_tensor lu = TIDE_TENSOR_EMPTY, x = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_clone(&x, b));
    if (n == 0 || nrhs == 0)
        return deliver(out, &x, "solve");
    lapack_int *ipiv = malloc((size_t)n * sizeof *ipiv);
    tide_status st = ipiv ? tide_clone(&lu, a) : tide_fail("solve: out of memory");
    if (st == TIDE_OK) {
        int info = (int)LAPACK(a->dtype, gesv, LAPACK_ROW_MAJOR, (lapack_int)n,
                               (lapack_int)nrhs, tide_data(&lu), (lapack_int)n, ipiv,
                               tide_data(&x), (lapack_int)nrhs);
        if (info > 0)
            st = tide_fail("solve: matrix is singular (pivot %d is zero)", info);
        else if (info < 0)
            st = lapack_failed("solve", "gesv", a->dtype, info);
    }
    free(ipiv);
    tide_tensor_release(&lu);
    if (st != TIDE_OK) {
        tide_tensor_release(&x);
        return st;
    }
    return deliver(out, &x, "solve");
}

tide_status tide_cholesky(tide_tensor *out, const tide_tensor *a)
{
    TIDE_TRY(check_square(a, "cholesky"));
    int64_t n = a->shape[0];
    tide_tensor l = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_clone(&l, a));
    if (n > 0) {
        int info = (int)LAPACK(a->dtype, potrf, LAPACK_ROW_MAJOR, 'L', (lapack_int)n,
                               tide_data(&l), (lapack_int)n);
        if (info != 0) {
            tide_tensor_release(&l);
            if (info > 0)
                return tide_fail("cholesky: matrix is not positive definite (leading minor %d)",
                                 info);
            return lapack_failed("cholesky", "potrf", a->dtype, info);
        }
        /* potrf leaves the strict upper triangle as it found it */
        int64_t i0[2];
        for (i0[0] = 0; i0[0] < n; i0[0]++)
            for (i0[1] = i0[0] + 1; i0[1] < n; i0[1]++)
                tide_set_f64(&l, i0, 0);
    }
    return deliver(out, &l, "cholesky");
}

tide_status tide_lstsq(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{
    char s[TIDE_SHAPE_BUF];
    if (a->ndim != 2)
        return tide_fail("lstsq: expected a 2-D matrix A, got %s", tide_shape_str(a, s, sizeof s));
    TIDE_TRY(check_float(a, "lstsq"));
    int64_t m = a->shape[0], n = a->shape[1];
    if (m > INT_MAX || n > INT_MAX)
        return tide_fail("lstsq: size %s exceeds LAPACK's limit", tide_shape_str(a, s, sizeof s));
    TIDE_TRY(check_rhs(a, b, m, "lstsq"));
    int64_t nrhs = b->ndim == 2 ? b->shape[1] : 1;

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
        int info = (int)LAPACK(a->dtype, gels, LAPACK_ROW_MAJOR, 'N', (lapack_int)m,
                               (lapack_int)n, (lapack_int)nrhs, tide_data(&qr), (lapack_int)n,
                               tide_data(&x), (lapack_int)nrhs);
        if (info > 0)
            st = tide_fail("lstsq: matrix does not have full rank (diagonal element %d of its "
                           "triangular factor is zero)", info);
        else if (info < 0)
            st = lapack_failed("lstsq", "gels", a->dtype, info);
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
            st = deliver(out, &sol, "lstsq");
    }
    tide_tensor_release(&x);
    return st;
}

tide_status tide_inv(tide_tensor *out, const tide_tensor *a)
{
    TIDE_TRY(check_square(a, "inv"));
    int64_t n = a->shape[0];
    tide_tensor r = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_clone(&r, a));
    if (n == 0)
        return deliver(out, &r, "inv");
    lapack_int *ipiv = malloc((size_t)n * sizeof *ipiv);
    tide_status st = ipiv ? TIDE_OK : tide_fail("inv: out of memory");
    if (st == TIDE_OK) {
        const char *routine = "getrf";
        int info = (int)LAPACK(a->dtype, getrf, LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n,
                               tide_data(&r), (lapack_int)n, ipiv);
        if (info == 0) {
            routine = "getri";
            info = (int)LAPACK(a->dtype, getri, LAPACK_ROW_MAJOR, (lapack_int)n, tide_data(&r),
                               (lapack_int)n, ipiv);
        }
        if (info > 0)
            st = tide_fail("inv: matrix is singular (pivot %d is zero)", info);
        else if (info < 0)
            st = lapack_failed("inv", routine, a->dtype, info);
    }
    free(ipiv);
    if (st != TIDE_OK) {
        tide_tensor_release(&r);
        return st;
    }
    return deliver(out, &r, "inv");
}
