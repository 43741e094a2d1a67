/* blas.c — matmul, addmm, addmv and dot on strided tensors through CBLAS.
 *
 * The f32/f64 branches below stay: CBLAS has one entry point per precision (sgemm, dgemm ...),
 * and a dot of f32 goes through dsdot to accumulate in double. */
#include "linalg/blas.h"

#include <cblas.h>
#include <limits.h>

/* A 2-D operand as BLAS sees it: its first element, whether it is stored column-major (then
 * it is passed as the transpose of a row-major matrix), and the leading dimension. */
typedef struct {
    char *p;
    int trans;
    int64_t ld;
} mat;

static int64_t max1(int64_t x) { return x > 1 ? x : 1; }

/* Can an r x c matrix with element strides (sr, sc) go to BLAS as it is? A dim of size 1 may
 * have any stride. Fills trans and ld when it can. */
static int fit_layout(int64_t r, int64_t c, int64_t sr, int64_t sc, int *trans, int64_t *ld)
{
    if ((c == 1 || sc == 1) && (r == 1 || sr >= max1(c))) {
        *trans = 0;
        *ld = r == 1 ? max1(c) : sr;
        return *ld <= INT_MAX;
    }
    if ((r == 1 || sr == 1) && (c == 1 || sc >= max1(r))) {
        *trans = 1;
        *ld = c == 1 ? max1(r) : sc;
        return *ld <= INT_MAX;
    }
    return 0;
}

/* Does the trailing 2-D matrix of t (every batch has the same strides) fit BLAS as it is? */
static int fits(const tide_tensor *t, int *trans, int64_t *ld)
{
    int n = t->ndim;
    return fit_layout(t->shape[n - 2], t->shape[n - 1], t->stride[n - 2], t->stride[n - 1], trans,
                      ld);
}

static tide_status check_dtypes(const tide_tensor *a, const tide_tensor *b, const char *op)
{
    if (a->dtype != b->dtype)
        return tide_fail("%s: dtype mismatch, %s @ %s", op, tide_dtype_name(a->dtype),
                         tide_dtype_name(b->dtype));
    if (!tide_dtype_is_float(a->dtype))
        return tide_fail("%s: expected f32 or f64 tensors, got %s", op, tide_dtype_name(a->dtype));
    return TIDE_OK;
}

static tide_status size_mismatch(const tide_tensor *a, const tide_tensor *b, const char *op)
{
    char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF];
    return tide_fail("%s: size mismatch, %s @ %s", op, tide_shape_str(a, x, sizeof x),
                     tide_shape_str(b, y, sizeof y));
}

static tide_status check_blas_sizes(int64_t m, int64_t n, int64_t k, const char *op)
{
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
        return tide_fail("%s: a dim of %lldx%lldx%lld exceeds BLAS's limit of %d", op,
                         (long long)m, (long long)n, (long long)k, INT_MAX);
    return TIDE_OK;
}

/* c = beta*c over an r x c matrix given by strides; beta 0 writes zeros (even over NaN). */
static void scale(tide_dtype dt, char *p, int64_t r, int64_t c, int64_t sr, int64_t sc, double beta)
{
    switch (dt) {
#define SCALE_CASE(E, name, T)                                                    \
    case E:                                                                       \
        for (int64_t i = 0; i < r; i++)                                           \
            for (int64_t j = 0; j < c; j++) {                                     \
                T *x = (T *)p + i * sr + j * sc;                                  \
                *x = beta == 0 ? (T)0 : (T)(beta * *x);                           \
            }                                                                     \
        break;
        TIDE_FOREACH_FLOAT_DTYPE(SCALE_CASE)
#undef SCALE_CASE
    default: break;   /* BLAS takes float dtypes only (checked by the callers) */
    }
}

static CBLAS_TRANSPOSE flag(int trans) { return trans ? CblasTrans : CblasNoTrans; }

/* y = beta*y + alpha*op(A) x where op(A) is (rows x cols) as the caller sees it. */
static void gemv(tide_dtype dt, int64_t rows, int64_t cols, double alpha, mat A, const char *x,
                 int64_t incx, double beta, char *y, int64_t incy)
{
    /* a column-major A is a row-major matrix of cols x rows, used transposed */
    int64_t sr = A.trans ? cols : rows, sc = A.trans ? rows : cols;
    if (dt == TIDE_F32)
        cblas_sgemv(CblasRowMajor, flag(A.trans), (int)sr, (int)sc, (float)alpha,
                    (const float *)A.p, (int)A.ld, (const float *)x, (int)incx, (float)beta,
                    (float *)y, (int)incy);
    else
        cblas_dgemv(CblasRowMajor, flag(A.trans), (int)sr, (int)sc, alpha, (const double *)A.p,
                    (int)A.ld, (const double *)x, (int)incx, beta, (double *)y, (int)incy);
}

/* C = beta*C + alpha*A@B for A (M x K), B (K x N) and C (M x N), C row-major with ldc or,
 * when c_trans, column-major. Products with one row or one column go to gemv. */
static void gemm2d(tide_dtype dt, int64_t M, int64_t N, int64_t K, double alpha, mat A, mat B,
                   double beta, char *C, int64_t ldc, int c_trans)
{
    if (c_trans) {
        /* C^T = B^T A^T: a row-major product of the transposes */
        mat t = A;
        A = B;
        B = t;
        A.trans = !A.trans;
        B.trans = !B.trans;
        int64_t m = M;
        M = N;
        N = m;
    }
    if (M == 1) {
        /* the row of C is B^T times the row of A */
        B.trans = !B.trans;
        gemv(dt, N, K, alpha, B, A.p, A.trans ? A.ld : 1, beta, C, 1);
    } else if (N == 1) {
        gemv(dt, M, K, alpha, A, B.p, B.trans ? 1 : B.ld, beta, C, ldc);
    } else if (dt == TIDE_F32) {
        cblas_sgemm(CblasRowMajor, flag(A.trans), flag(B.trans), (int)M, (int)N, (int)K,
                    (float)alpha, (const float *)A.p, (int)A.ld, (const float *)B.p, (int)B.ld,
                    (float)beta, (float *)C, (int)ldc);
    } else {
        cblas_dgemm(CblasRowMajor, flag(A.trans), flag(B.trans), (int)M, (int)N, (int)K, alpha,
                    (const double *)A.p, (int)A.ld, (const double *)B.p, (int)B.ld, beta,
                    (double *)C, (int)ldc);
    }
}

/* ---------------------------------------------------------------- dot */

static tide_status dot_unchecked(double *result, const tide_tensor *a, const tide_tensor *b)
{
    int64_t n = a->shape[0];
    int64_t sa = n == 1 ? 1 : a->stride[0], sb = n == 1 ? 1 : b->stride[0];
    if (n > INT_MAX || sa > INT_MAX || sb > INT_MAX)
        return tide_fail("dot: size %lld exceeds BLAS's limit", (long long)n);
    if (n == 0) {
        *result = 0;
        return TIDE_OK;
    }
    /* BLAS leaves an increment of 0 (an expanded vector) unspecified, so such a vector is
     * copied first (the only copy here). */
    tide_tensor ca = TIDE_TENSOR_EMPTY, cb = TIDE_TENSOR_EMPTY;
    if (sa <= 0) {
        TIDE_TRY(tide_clone(&ca, a));
        a = &ca;
        sa = 1;
    }
    if (sb <= 0) {
        if (tide_clone(&cb, b) != TIDE_OK) {
            tide_tensor_release(&ca);
            return TIDE_FAIL;
        }
        b = &cb;
        sb = 1;
    }
    if (a->dtype == TIDE_F32)
        *result = cblas_dsdot((int)n, tide_data(a), (int)sa, tide_data(b), (int)sb);
    else
        *result = cblas_ddot((int)n, tide_data(a), (int)sa, tide_data(b), (int)sb);
    tide_tensor_release(&ca);
    tide_tensor_release(&cb);
    return TIDE_OK;
}

tide_status tide_dot(double *result, const tide_tensor *a, const tide_tensor *b)
{
    TIDE_TRY(check_dtypes(a, b, "dot"));
    if (a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0]) {
        char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF];
        return tide_fail("dot: expected two 1-D tensors of the same size, got %s and %s",
                         tide_shape_str(a, x, sizeof x), tide_shape_str(b, y, sizeof y));
    }
    return dot_unchecked(result, a, b);
}

/* ---------------------------------------------------------------- matmul */

/* The operand as a (batch..., rows, cols) tensor fit for BLAS: a view when its layout allows,
 * else a contiguous copy. A 1-D a becomes 1 x K, a 1-D b becomes K x 1. */
static tide_status as_matrix(tide_tensor *out, const tide_tensor *t, int is_left)
{
    tide_tensor v = TIDE_TENSOR_EMPTY;
    if (t->ndim == 1)
        TIDE_TRY(tide_unsqueeze(&v, t, is_left ? 0 : 1));
    else
        tide_tensor_share(&v, t);
    int trans;
    int64_t ld;
    if (fits(&v, &trans, &ld)) {
        *out = v;
        return TIDE_OK;
    }
    /* neither row- nor column-major (e.g. narrowed in both dims, or expanded): copy */
    tide_status st = tide_clone(out, &v);
    tide_tensor_release(&v);
    return st;
}

/* Can the batch dims and the row dim of a row-major A be walked as one row dim (one gemm)? */
static int rows_fold(const tide_tensor *A, int64_t *rows)
{
    int n = A->ndim, trans;
    int64_t ld;
    if (!fits(A, &trans, &ld) || trans)
        return 0;
    int64_t r = A->shape[n - 2];
    for (int d = n - 3; d >= 0; d--) {
        if (A->shape[d] != 1 && A->stride[d] != r * ld)
            return 0;
        r *= A->shape[d];
    }
    *rows = r;
    return r <= INT_MAX;
}

static tide_status batch_shape(const tide_tensor *A, const tide_tensor *B, const tide_tensor *a,
                               const tide_tensor *b, int *nb, int64_t *shape)
{
    int na = A->ndim - 2, nbb = B->ndim - 2;
    *nb = na > nbb ? na : nbb;
    for (int i = 0; i < *nb; i++) {
        int ia = na - *nb + i, ib = nbb - *nb + i;
        int64_t x = ia >= 0 ? A->shape[ia] : 1, y = ib >= 0 ? B->shape[ib] : 1;
        if (x != y && x != 1 && y != 1) {
            char s1[TIDE_SHAPE_BUF], s2[TIDE_SHAPE_BUF];
            return tide_fail("matmul: batch dims of %s and %s cannot be broadcast",
                             tide_shape_str(a, s1, sizeof s1), tide_shape_str(b, s2, sizeof s2));
        }
        shape[i] = x == 1 ? y : x;
    }
    return TIDE_OK;
}

/* out (contiguous, batch... x M x N as the core sees it) = A @ B, batch dims broadcast. */
static tide_status batched(tide_tensor *out, const tide_tensor *A, const tide_tensor *B, int nb,
                           const int64_t *bshape)
{
    int64_t M = A->shape[A->ndim - 2], K = A->shape[A->ndim - 1], N = B->shape[B->ndim - 1];
    int64_t fold_rows;
    tide_dtype dt = out->dtype;
    size_t es = tide_dtype_size(dt);
    if (B->ndim == 2 && rows_fold(A, &fold_rows)) {
        /* the one right matrix for every batch: a single (batch*M) x K @ K x N product */
        mat a = {tide_data(A), 0, 0}, b = {tide_data(B), 0, 0};
        int ta;
        fits(A, &ta, &a.ld);
        fits(B, &b.trans, &b.ld);
        gemm2d(dt, fold_rows, N, K, 1.0, a, b, 0.0, tide_data(out), N, 0);
        return TIDE_OK;
    }
    int64_t full[TIDE_MAX_DIMS];
    for (int d = 0; d < nb; d++)
        full[d] = bshape[d];
    tide_tensor EA = TIDE_TENSOR_EMPTY, EB = TIDE_TENSOR_EMPTY;
    full[nb] = M;
    full[nb + 1] = K;
    TIDE_TRY(tide_expand(&EA, A, nb + 2, full));
    full[nb] = K;
    full[nb + 1] = N;
    if (tide_expand(&EB, B, nb + 2, full) != TIDE_OK) {
        tide_tensor_release(&EA);
        return TIDE_FAIL;
    }
    mat a, b;
    fits(&EA, &a.trans, &a.ld);
    fits(&EB, &b.trans, &b.ld);
    int64_t nbatch = 1, idx[TIDE_MAX_DIMS] = {0};
    for (int d = 0; d < nb; d++)
        nbatch *= bshape[d];
    char *ab = tide_data(&EA), *bb = tide_data(&EB), *cb = tide_data(out);
    for (int64_t i = 0; i < nbatch; i++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < nb; d++) {
            oa += idx[d] * EA.stride[d];
            ob += idx[d] * EB.stride[d];
        }
        a.p = ab + oa * (int64_t)es;
        b.p = bb + ob * (int64_t)es;
        gemm2d(dt, M, N, K, 1.0, a, b, 0.0, cb + i * M * N * (int64_t)es, N, 0);
        for (int d = nb - 1; d >= 0 && ++idx[d] == bshape[d]; d--)
            idx[d] = 0;
    }
    tide_tensor_release(&EA);
    tide_tensor_release(&EB);
    return TIDE_OK;
}

/* tide_matmul with op naming the caller in messages. */
static tide_status matmul_op(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                             const char *op)
{
    char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF];
    if (a->ndim == 0 || b->ndim == 0)
        return tide_fail("%s: expected tensors of at least 1 dim, got %s @ %s", op,
                         tide_shape_str(a, x, sizeof x), tide_shape_str(b, y, sizeof y));
    TIDE_TRY(check_dtypes(a, b, op));
    int64_t K = a->shape[a->ndim - 1];
    if (K != b->shape[b->ndim == 1 ? 0 : b->ndim - 2])
        return size_mismatch(a, b, op);
    int was_empty = out->storage == NULL;
    if (!was_empty && (tide_overlaps(out, a) || tide_overlaps(out, b)))
        return tide_fail("%s: the output overlaps an input", op);
    if (!was_empty && !tide_is_contiguous(out))
        return tide_fail("%s: the output must be contiguous", op);

    if (a->ndim == 1 && b->ndim == 1) {
        double r;
        TIDE_TRY(tide_prepare_out(out, a->dtype, 0, NULL, op));
        if (dot_unchecked(&r, a, b) != TIDE_OK) {
            if (was_empty)
                tide_tensor_release(out);
            return TIDE_FAIL;
        }
        tide_set_f64(out, NULL, r);
        return TIDE_OK;
    }

    tide_tensor A = TIDE_TENSOR_EMPTY, B = TIDE_TENSOR_EMPTY;
    TIDE_TRY(as_matrix(&A, a, 1));
    tide_status st = as_matrix(&B, b, 0);
    int nb = 0;                      /* batch dims: at most TIDE_MAX_DIMS - 2 */
    int64_t shape[TIDE_MAX_DIMS];
    if (st == TIDE_OK)
        st = batch_shape(&A, &B, a, b, &nb, shape);
    int64_t M = A.shape[A.ndim - 2], N = B.shape[B.ndim - 1];
    if (st == TIDE_OK)
        st = check_blas_sizes(M, N, K, op);
    if (st == TIDE_OK) {
        /* the result drops the dim of a 1-D operand */
        int nout = nb;
        if (a->ndim > 1)
            shape[nout++] = M;
        if (b->ndim > 1)
            shape[nout++] = N;
        st = tide_prepare_out(out, a->dtype, nout, shape, op);
    }
    if (st == TIDE_OK && tide_numel(out) > 0) {
        if (K == 0)
            tide_fill(out, 0);
        else
            st = batched(out, &A, &B, nb, shape);
        if (st != TIDE_OK && was_empty)
            tide_tensor_release(out);
    }
    tide_tensor_release(&A);
    tide_tensor_release(&B);
    return st;
}

tide_status tide_matmul(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{
    return matmul_op(out, a, b, "matmul");
}

tide_status tide_mv(tide_tensor *out, const tide_tensor *m, const tide_tensor *v)
{
    if (m->ndim != 2 || v->ndim != 1) {
        char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF];
        return tide_fail("mv: expected a 2-D matrix and a 1-D vector, got %s and %s",
                         tide_shape_str(m, x, sizeof x), tide_shape_str(v, y, sizeof y));
    }
    return matmul_op(out, m, v, "mv");
}

/* ---------------------------------------------------------------- addmm, addmv */

/* c = beta*c + alpha*(a @ b); c is MxN, or M when b is a vector (addmv). */
static tide_status addm(tide_tensor *c, const tide_tensor *a, const tide_tensor *b, double beta,
                        double alpha, const char *op)
{
    char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF], z[TIDE_SHAPE_BUF], w[TIDE_SHAPE_BUF];
    int vec = b->ndim == 1;   /* the callers checked the dim counts */
    TIDE_TRY(check_dtypes(a, b, op));
    int64_t M = a->shape[0], K = a->shape[1], N = vec ? 1 : b->shape[1];
    if (b->shape[0] != K)
        return size_mismatch(a, b, op);
    int64_t want[2] = {M, N};
    if (c->ndim != 2 - vec || c->shape[0] != M || (!vec && c->shape[1] != N))
        return tide_fail("%s: output is %s, expected %s for %s @ %s", op,
                         tide_shape_str(c, z, sizeof z),
                         tide_shape_str_n(2 - vec, want, w, sizeof w),
                         tide_shape_str(a, x, sizeof x), tide_shape_str(b, y, sizeof y));
    if (c->dtype != a->dtype)
        return tide_fail("%s: dtype mismatch, output %s, inputs %s", op,
                         tide_dtype_name(c->dtype), tide_dtype_name(a->dtype));
    if (tide_overlaps(c, a) || tide_overlaps(c, b))
        return tide_fail("%s: the output overlaps an input", op);
    TIDE_TRY(check_blas_sizes(M, N, K, op));
    int64_t sr = c->stride[0], sc = vec ? 1 : c->stride[1];
    int c_trans;
    int64_t ldc;
    if (!fit_layout(M, N, sr, sc, &c_trans, &ldc))
        return tide_fail("%s: the output must be contiguous (or the transpose of a contiguous "
                         "matrix), got a %s view with strides %lldx%lld", op,
                         tide_shape_str(c, x, sizeof x), (long long)sr, (long long)sc);
    if (M == 0 || N == 0)
        return TIDE_OK;
    if (K == 0) {
        scale(c->dtype, tide_data(c), M, N, sr, sc, beta);
        return TIDE_OK;
    }
    tide_tensor A = TIDE_TENSOR_EMPTY, B = TIDE_TENSOR_EMPTY;
    TIDE_TRY(as_matrix(&A, a, 1));
    if (as_matrix(&B, b, 0) != TIDE_OK) {
        tide_tensor_release(&A);
        return TIDE_FAIL;
    }
    mat ma = {tide_data(&A), 0, 0}, mb = {tide_data(&B), 0, 0};
    fits(&A, &ma.trans, &ma.ld);
    fits(&B, &mb.trans, &mb.ld);
    gemm2d(c->dtype, M, N, K, alpha, ma, mb, beta, tide_data(c), ldc, c_trans);
    tide_tensor_release(&A);
    tide_tensor_release(&B);
    return TIDE_OK;
}

tide_status tide_addmm(tide_tensor *c, const tide_tensor *a, const tide_tensor *b, double beta,
                       double alpha)
{
    if (a->ndim != 2 || b->ndim != 2 || c->ndim != 2) {
        char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF], z[TIDE_SHAPE_BUF];
        return tide_fail("addmm_: expected 2-D matrices, got %s = %s @ %s",
                         tide_shape_str(c, z, sizeof z), tide_shape_str(a, x, sizeof x),
                         tide_shape_str(b, y, sizeof y));
    }
    return addm(c, a, b, beta, alpha, "addmm_");
}

tide_status tide_addmv(tide_tensor *y, const tide_tensor *a, const tide_tensor *x, double beta,
                       double alpha)
{
    if (x->ndim != 1 || y->ndim != 1 || a->ndim != 2) {
        char s1[TIDE_SHAPE_BUF], s2[TIDE_SHAPE_BUF], s3[TIDE_SHAPE_BUF];
        return tide_fail("addmv_: expected a 1-D output, a 2-D matrix and a 1-D vector, got "
                         "%s = %s @ %s", tide_shape_str(y, s3, sizeof s3),
                         tide_shape_str(a, s1, sizeof s1), tide_shape_str(x, s2, sizeof s2));
    }
    return addm(y, a, x, beta, alpha, "addmv_");
}
