/* als.c — the regularised normal equations of a batch of ALS rows (see als.h).
 *
 * Each entry adds a rank-one update w y y^T; only the lower triangle is accumulated and then
 * mirrored, which halves the work of the k^2 loop that dominates a half-step. */
#include "algo/als.h"

#include <string.h>

static tide_status check_vector(const tide_tensor *t, tide_dtype dt, int64_t n, const char *what)
{
    char s[TIDE_SHAPE_BUF];
    if (t->dtype != dt || t->ndim != 1 || (n >= 0 && t->shape[0] != n))
        return tide_fail("als_normal_equations: expected %s as a 1-D %s tensor%s, got %s %s",
                         what, tide_dtype_name(dt), n >= 0 ? " of the right length" : "",
                         tide_dtype_name(t->dtype), tide_shape_str(t, s, sizeof s));
    if (!tide_is_contiguous(t))
        return tide_fail("als_normal_equations: %s must be contiguous", what);
    return TIDE_OK;
}

static tide_status check_entries(const tide_als_entries *e, int64_t m, int64_t k, int64_t *batch)
{
    const char *op = "als_normal_equations";
    TIDE_TRY(check_vector(e->offsets, TIDE_I64, -1, "offsets"));
    if (e->offsets->shape[0] < 1)
        return tide_fail("%s: offsets needs at least one entry (0)", op);
    int64_t n = e->offsets->shape[0] - 1;
    TIDE_TRY(check_vector(e->cols, TIDE_I64, -1, "cols"));
    int64_t nnz = e->cols->shape[0];
    TIDE_TRY(check_vector(e->weights, TIDE_F64, nnz, "weights"));
    TIDE_TRY(check_vector(e->values, TIDE_F64, nnz, "values"));
    TIDE_TRY(check_vector(e->ridge, TIDE_F64, n, "ridge"));
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

static void assemble(double *a, double *b, const double *y, int64_t k, int64_t n,
                     const tide_als_entries *e)
{
    const int64_t *off = tide_data(e->offsets), *cols = tide_data(e->cols);
    const double *w = tide_data(e->weights), *v = tide_data(e->values);
    const double *ridge = tide_data(e->ridge), *base = e->base ? tide_data(e->base) : NULL;
    for (int64_t u = 0; u < n; u++) {
        double *au = a + u * k * k, *bu = b + u * k;
        if (base)
            memcpy(au, base, sizeof *au * (size_t)(k * k));
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
}

tide_status tide_als_normal_equations(tide_tensor *a, tide_tensor *b, const tide_tensor *factors,
                                      const tide_als_entries *e)
{
    const char *op = "als_normal_equations";
    char s[TIDE_SHAPE_BUF];
    if (factors->dtype != TIDE_F64 || factors->ndim != 2)
        return tide_fail("%s: expected 2-D f64 factors, got %s %s", op,
                         tide_dtype_name(factors->dtype), tide_shape_str(factors, s, sizeof s));
    int64_t m = factors->shape[0], k = factors->shape[1], n = 0;
    TIDE_TRY(check_entries(e, m, k, &n));
    int a_empty = a->storage == NULL, b_empty = b->storage == NULL;
    int64_t ashape[3] = {n, k, k}, bshape[2] = {n, k};
    TIDE_TRY(tide_prepare_out(a, TIDE_F64, 3, ashape, op));
    tide_status st = tide_prepare_out(b, TIDE_F64, 2, bshape, op);
    if (st == TIDE_OK && (!tide_is_contiguous(a) || !tide_is_contiguous(b)))
        st = tide_fail("%s: the outputs must be contiguous", op);
    tide_tensor y = TIDE_TENSOR_EMPTY;
    if (st == TIDE_OK)
        st = tide_contiguous(&y, factors);
    if (st == TIDE_OK)
        assemble(tide_data(a), tide_data(b), tide_data(&y), k, n, e);
    tide_tensor_release(&y);
    if (st != TIDE_OK) {
        if (a_empty)
            tide_tensor_release(a);
        if (b_empty)
            tide_tensor_release(b);
    }
    return st;
}
