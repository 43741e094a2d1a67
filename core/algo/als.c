/* als.c — the regularised normal equations of a batch of ALS rows (see als.h).
 *
 * Each entry adds a rank-one update w y y^T; only the lower triangle is accumulated and then
 * mirrored, which halves the work of the k^2 loop that dominates a half-step. tide_als_solve
 * then factors each row's k x k matrix while it is still in cache. */
#include "algo/als.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static tide_status check_vector(const tide_tensor *t, tide_dtype dt, int64_t n, const char *what,
                                const char *op)
{
    char s[TIDE_SHAPE_BUF];
    if (t->dtype != dt || t->ndim != 1 || (n >= 0 && t->shape[0] != n))
        return tide_fail("%s: expected %s as a 1-D %s tensor%s, got %s %s", op, what, tide_dtype_name(dt), n >= 0 ? " of the right length" : "",
                         tide_dtype_name(t->dtype), tide_shape_str(t, s, sizeof s));
    if (!tide_is_contiguous(t))
        return tide_fail("%s: %s must be contiguous", op, what);
    return TIDE_OK;
}

static tide_status check_entries(const tide_als_entries *e, int64_t m, int64_t k, int64_t *batch,
                                 const char *op)
{
    TIDE_TRY(check_vector(e->offsets, TIDE_I64, -1, "offsets", op));
    if (e->offsets->shape[0] < 1)
        return tide_fail("%s: offsets needs at least one entry (0)", op);
    int64_t n = e->offsets->shape[0] - 1;
    TIDE_TRY(check_vector(e->cols, TIDE_I64, -1, "cols", op));
    int64_t nnz = e->cols->shape[0];
    TIDE_TRY(check_vector(e->weights, TIDE_F64, nnz, "weights", op));
    TIDE_TRY(check_vector(e->values, TIDE_F64, nnz, "values", op));
    TIDE_TRY(check_vector(e->ridge, TIDE_F64, n, "ridge", op));
    if (e->base && (e->base->dtype != TIDE_F64 || e->base->ndim != 2 || e->base->shape[0] != k ||
                    e->base->shape[1] != k || !tide_is_contiguous(e->base)))
        return tide_fail("%s: expected base as a contiguous f64 %lldx%lld tensor", op,
                         (long long)k, (long long)k);
    const int64_t *off = tide_data(e->offsets);
    if (off[0] != 0 || off[n] != nnz)
        return tide_fail("%s: offsets must run from 0 to %lld (the entries), got %lld .. %lld", op,
                         (long long)nnz, (long long)off[0], (long long)off[n]);
    for (int64_t u = 0; u < n; u++)
        if (off[u + 1] < off[u])
            return tide_fail("%s: offsets decrease at %lld", op, (long long)u + 1);
    const int64_t *cols = tide_data(e->cols);
    for (int64_t i = 0; i < nnz; i++)
        if (cols[i] - e->index_base < 0 || cols[i] - e->index_base >= m)
            return tide_fail("%s: col %lld at entry %lld is outside the %lld factor rows", op,
                             (long long)cols[i], (long long)(i + e->index_base),
                             (long long)m);
    *batch = n;
    return TIDE_OK;
}

/* A_u's lower triangle += w y y^T */
static void rank_one(double *restrict a, const double *restrict y, double w, int64_t k)
{
    for (int64_t i = 0; i < k; i++) {
        double wy = w * y[i];
        for (int64_t j = 0; j <= i; j++)
            a[i * k + j] += wy * y[j];
    }
}

/* A_u and b_u of batch row u (see als.h) */
static void assemble_row(double *restrict au, double *restrict bu, const double *y, int64_t k,
                         int64_t u, const tide_als_entries *e)
{
    const int64_t *off = tide_data(e->offsets), *cols = tide_data(e->cols);
    const double *w = tide_data(e->weights), *v = tide_data(e->values);
    const double *ridge = tide_data(e->ridge);
    if (e->base)
        memcpy(au, tide_data(e->base), sizeof *au * (size_t)(k * k));
    else
        memset(au, 0, sizeof *au * (size_t)(k * k));
    memset(bu, 0, sizeof *bu * (size_t)k);
    for (int64_t i = off[u]; i < off[u + 1]; i++) {
        const double *yi = y + (cols[i] - e->index_base) * k;
        rank_one(au, yi, w[i], k);
        for (int64_t j = 0; j < k; j++)
            bu[j] += v[i] * yi[j];
    }
    for (int64_t i = 0; i < k; i++) {
        au[i * k + i] += ridge[u];
        for (int64_t j = 0; j < i; j++)
            au[j * k + i] = au[i * k + j];
    }
}

/* Solves A x = b in place (x into b) by Cholesky on A's lower triangle; plain loops, as k is
 * small and one LAPACK call per row costs more than the arithmetic. Returns 0, or the 1-based
 * order of the leading minor that is not positive. */
static int64_t cholesky_solve(double *restrict a, double *restrict b, int64_t k)
{
    for (int64_t j = 0; j < k; j++) {
        double d = a[j * k + j];
        for (int64_t p = 0; p < j; p++)
            d -= a[j * k + p] * a[j * k + p];
        if (!(d > 0))
            return j + 1;
        d = sqrt(d);
        a[j * k + j] = d;
        for (int64_t i = j + 1; i < k; i++) {
            double s = a[i * k + j];
            for (int64_t p = 0; p < j; p++)
                s -= a[i * k + p] * a[j * k + p];
            a[i * k + j] = s / d;
        }
    }
    for (int64_t i = 0; i < k; i++) {   /* L z = b */
        double s = b[i];
        for (int64_t p = 0; p < i; p++)
            s -= a[i * k + p] * b[p];
        b[i] = s / a[i * k + i];
    }
    for (int64_t i = k - 1; i >= 0; i--) {   /* L^T x = z */
        double s = b[i];
        for (int64_t p = i + 1; p < k; p++)
            s -= a[p * k + i] * b[p];
        b[i] = s / a[i * k + i];
    }
    return 0;
}

/* The checks and outputs the entry points share: the batch size n, the factors as a
 * contiguous f64 matrix y (released by the caller), and each out given prepared. */
static tide_status begin(tide_tensor *y, int64_t *n, tide_tensor *a, tide_tensor *b,
                         const tide_tensor *factors, const tide_als_entries *e, const char *op)
{
    char s[TIDE_SHAPE_BUF];
    if (factors->dtype != TIDE_F64 || factors->ndim != 2)
        return tide_fail("%s: expected 2-D f64 factors, got %s %s", op,
                         tide_dtype_name(factors->dtype), tide_shape_str(factors, s, sizeof s));
    int64_t m = factors->shape[0], k = factors->shape[1];
    TIDE_TRY(check_entries(e, m, k, n, op));
    int64_t ashape[3] = {*n, k, k}, bshape[2] = {*n, k};
    if (a)
        TIDE_TRY(tide_prepare_out(a, TIDE_F64, 3, ashape, op));
    tide_status st = b ? tide_prepare_out(b, TIDE_F64, 2, bshape, op) : TIDE_OK;
    if (st == TIDE_OK && ((a && !tide_is_contiguous(a)) || (b && !tide_is_contiguous(b))))
        st = tide_fail("%s: the outputs must be contiguous", op);
    if (st == TIDE_OK)
        st = tide_contiguous(y, factors);
    return st;
}

tide_status tide_als_normal_equations(tide_tensor *a, tide_tensor *b, const tide_tensor *factors,
                                      const tide_als_entries *e)
{
    int a_empty = a->storage == NULL, b_empty = b->storage == NULL;
    tide_tensor y = TIDE_TENSOR_EMPTY;
    int64_t n = 0;
    tide_status st = begin(&y, &n, a, b, factors, e, "als_normal_equations");
    if (st == TIDE_OK) {
        int64_t k = y.shape[1];
        for (int64_t u = 0; u < n; u++)
            assemble_row((double *)tide_data(a) + u * k * k, (double *)tide_data(b) + u * k,
                         tide_data(&y), k, u, e);
    }
    tide_tensor_release(&y);
    if (st != TIDE_OK && a_empty)
        tide_tensor_release(a);
    if (st != TIDE_OK && b_empty)
        tide_tensor_release(b);
    return st;
}

tide_status tide_als_solve(tide_tensor *x, const tide_tensor *factors, const tide_als_entries *e)
{
    const char *op = "als_solve";
    int x_empty = x->storage == NULL;
    tide_tensor y = TIDE_TENSOR_EMPTY;
    int64_t n = 0;
    tide_status st = begin(&y, &n, NULL, x, factors, e, op);
    int64_t k = st == TIDE_OK ? y.shape[1] : 0;
    double *a = st == TIDE_OK ? malloc(sizeof *a * (size_t)(k * k > 0 ? k * k : 1)) : NULL;
    if (st == TIDE_OK && !a)
        st = tide_fail("%s: out of memory for a %lldx%lld matrix", op, (long long)k,
                       (long long)k);
    for (int64_t u = 0; st == TIDE_OK && u < n; u++) {
        double *xu = (double *)tide_data(x) + u * k;
        assemble_row(a, xu, tide_data(&y), k, u, e);
        int64_t minor = cholesky_solve(a, xu, k);
        if (minor)
            st = tide_fail("%s: the normal equations of row %lld are not positive definite "
                           "(leading minor %lld; is reg > 0?)", op, (long long)u + 1,
                           (long long)minor);
    }
    free(a);
    tide_tensor_release(&y);
    if (st != TIDE_OK && x_empty)
        tide_tensor_release(x);
    return st;
}

tide_status tide_als_sse(double *sse, const tide_tensor *x, const tide_tensor *factors,
                         const tide_als_entries *e)
{
    const char *op = "als_sse";
    char s[TIDE_SHAPE_BUF];
    tide_tensor y = TIDE_TENSOR_EMPTY, xc = TIDE_TENSOR_EMPTY;
    int64_t n = 0;
    TIDE_TRY(begin(&y, &n, NULL, NULL, factors, e, op));
    int64_t k = y.shape[1];
    tide_status st = TIDE_OK;
    if (x->dtype != TIDE_F64 || x->ndim != 2 || x->shape[0] != n || x->shape[1] != k)
        st = tide_fail("%s: expected x as f64 %lldx%lld, got %s %s", op, (long long)n,
                       (long long)k, tide_dtype_name(x->dtype), tide_shape_str(x, s, sizeof s));
    if (st == TIDE_OK)
        st = tide_contiguous(&xc, x);
    *sse = 0;
    if (st == TIDE_OK) {
        const int64_t *off = tide_data(e->offsets), *cols = tide_data(e->cols);
        const double *v = tide_data(e->values), *xs = tide_data(&xc), *ys = tide_data(&y);
        for (int64_t u = 0; u < n; u++)
            for (int64_t i = off[u]; i < off[u + 1]; i++) {
                const double *yi = ys + (cols[i] - e->index_base) * k, *xu = xs + u * k;
                double p = 0;
                for (int64_t j = 0; j < k; j++)
                    p += xu[j] * yi[j];
                *sse += (p - v[i]) * (p - v[i]);
            }
    }
    tide_tensor_release(&xc);
    tide_tensor_release(&y);
    return st;
}
