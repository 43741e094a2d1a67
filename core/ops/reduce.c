/* reduce.c — sum, prod, mean, norm and var/std, over all elements or along one dim (see
 * reduce.h; max and min are reduce_minmax.c's).
 *
 * Two loop shapes cover a reduction along dim d. "Lines": each output element walks its n
 * inputs along d (best when d is the innermost, contiguous dim: the line is a plain vector).
 * "Rows": when the other dims are contiguous in the innermost position, the n slices along d
 * are added one after another into a row of accumulators (a vectorised loop per slice, and a
 * cache-friendly walk through memory). Results land in a contiguous double (or i64) buffer
 * first and are then cast into out, so out may have any layout. */
#include "ops/reduce.h"

#include <math.h>
#include <string.h>

#include "ops/reduce_impl.h"
#include "tensor/iter.h"

/* ---------------------------------------------------------------- double accumulations */

enum { K_SUM, K_SQ, K_ABS, K_POWP, K_NZ, K_MAXABS, K_SQDEV, K_PROD };

/* NaN wins: once the accumulator is NaN it stays NaN. */
static inline double max_nan(double acc, double v)
{
    return (v > acc || v != v) ? v : acc;
}

/* UPD(acc, v, p, mean): p is the norm's p, mean the mean of v's output element (for var). */
#define UPD_SUM(acc, v, p, mean) ((acc) += (v))
#define UPD_SQ(acc, v, p, mean) ((acc) += (v) * (v))
#define UPD_ABS(acc, v, p, mean) ((acc) += fabs(v))
#define UPD_POWP(acc, v, p, mean) ((acc) += pow(fabs(v), (p)))
#define UPD_NZ(acc, v, p, mean) ((acc) += (v) != 0)
#define UPD_MAXABS(acc, v, p, mean) ((acc) = max_nan((acc), fabs(v)))
#define UPD_SQDEV(acc, v, p, mean) ((acc) += ((v) - (mean)) * ((v) - (mean)))
#define UPD_PROD(acc, v, p, mean) ((acc) *= (v))
#define COMB_ADD(x, y) ((x) + (y))
#define COMB_MUL(x, y) ((x) * (y))
#define COMB_MAX(x, y) max_nan((x), (y))

static double kind_identity(int kind)
{
    return kind == K_PROD ? 1.0 : 0.0;
}

static double kind_combine(int kind, double x, double y)
{
    return kind == K_PROD ? x * y : kind == K_MAXABS ? max_nan(x, y) : x + y;
}

/* One line of n elements at byte stride bs, reduced from the identity. Contiguous lines use
 * eight partial accumulators, which the compiler turns into vector lanes. */
#define LINE_BODY(IDENT, UPD, COMB)                                                       \
    {                                                                                     \
        double acc = IDENT;                                                               \
        if (bs == (int64_t)sizeof(ty)) {                                                  \
            const ty *restrict x = (const ty *)p;                                         \
            double lane[8];                                                               \
            for (int k = 0; k < 8; k++)                                                   \
                lane[k] = IDENT;                                                          \
            int64_t i = 0;                                                                \
            for (; i + 8 <= n; i += 8)                                                    \
                for (int k = 0; k < 8; k++)                                               \
                    UPD(lane[k], (double)x[i + k], prm, prm);                             \
            for (; i < n; i++)                                                            \
                UPD(acc, (double)x[i], prm, prm);                                         \
            for (int k = 0; k < 8; k++)                                                   \
                acc = COMB(acc, lane[k]);                                                 \
        } else {                                                                          \
            for (int64_t i = 0; i < n; i++)                                               \
                UPD(acc, (double)*(const ty *)(p + i * bs), prm, prm);                    \
        }                                                                                 \
        return acc;                                                                       \
    }

/* n contiguous rows of m elements, bsd bytes apart, reduced into acc[0..m). */
#define ROWS_BODY(IDENT, UPD, COMB)                                                           \
    {                                                                                     \
        for (int64_t i = 0; i < m; i++)                                                   \
            acc[i] = IDENT;                                                               \
        for (int64_t k = 0; k < n; k++) {                                                 \
            const ty *restrict x = (const ty *)(p + k * bsd);                             \
            for (int64_t i = 0; i < m; i++)                                               \
                UPD(acc[i], (double)x[i], prm, mean[i]);                                  \
        }                                                                                 \
        return;                                                                           \
    }

#define KIND_CASES(BODY, ...)                                                             \
    case K_SUM: BODY(0.0, UPD_SUM, __VA_ARGS__)                                          \
    case K_SQ: BODY(0.0, UPD_SQ, __VA_ARGS__)                                            \
    case K_ABS: BODY(0.0, UPD_ABS, __VA_ARGS__)                                          \
    case K_POWP: BODY(0.0, UPD_POWP, __VA_ARGS__)                                        \
    case K_NZ: BODY(0.0, UPD_NZ, __VA_ARGS__)                                            \
    case K_SQDEV: BODY(0.0, UPD_SQDEV, __VA_ARGS__)                                      \
    case K_MAXABS: BODY(0.0, UPD_MAXABS, COMB_MAX)                                       \
    case K_PROD: BODY(1.0, UPD_PROD, COMB_MUL)

#define DEF_ACC(E, name, T)                                                               \
    static double line_##name(int kind, const char *p, int64_t n, int64_t bs, double prm) \
    {                                                                                     \
        typedef T ty;                                                                     \
        switch (kind) {                                                                   \
            KIND_CASES(LINE_BODY, COMB_ADD)                                               \
        }                                                                                 \
        return 0;                                                                         \
    }                                                                                     \
    static void rows_##name(int kind, const char *p, int64_t n, int64_t bsd, int64_t m,    \
                            double *restrict acc, double prm, const double *restrict mean) \
    {                                                                                     \
        typedef T ty;                                                                     \
        (void)mean;                                                                       \
        switch (kind) {                                                                   \
            KIND_CASES(ROWS_BODY, COMB_ADD)                                               \
        }                                                                                 \
    }
TIDE_FOREACH_DTYPE(DEF_ACC)
#undef DEF_ACC

typedef double (*line_fn)(int, const char *, int64_t, int64_t, double);
typedef void (*rows_fn)(int, const char *, int64_t, int64_t, int64_t, double *, double,
                        const double *);
static const line_fn line_fns[TIDE_NDTYPES] = {
#define ENTRY(E, name, T) [E] = line_##name,
    TIDE_FOREACH_DTYPE(ENTRY)
#undef ENTRY
};
static const rows_fn rows_fns[TIDE_NDTYPES] = {
#define ENTRY(E, name, T) [E] = rows_##name,
    TIDE_FOREACH_DTYPE(ENTRY)
#undef ENTRY
};
/* ---------------------------------------------------------------- exact integer sum/prod */

/* Through uint64 so that overflow wraps (defined) instead of trapping. Integer dtypes only. */
#define DEF_INT(E, name, T)                                                               \
    static uint64_t iline_##name(int prod, const char *p, int64_t n, int64_t bs)          \
    {                                                                                     \
        uint64_t acc = prod ? 1 : 0;                                                      \
        if (bs == (int64_t)sizeof(T)) {                                                   \
            const T *restrict x = (const T *)p;                                           \
            if (prod)                                                                     \
                for (int64_t i = 0; i < n; i++) acc *= (uint64_t)x[i];                    \
            else                                                                          \
                for (int64_t i = 0; i < n; i++) acc += (uint64_t)x[i];                    \
        } else {                                                                          \
            for (int64_t i = 0; i < n; i++) {                                             \
                uint64_t v = (uint64_t) * (const T *)(p + i * bs);                        \
                acc = prod ? acc * v : acc + v;                                           \
            }                                                                             \
        }                                                                                 \
        return acc;                                                                       \
    }                                                                                     \
    static void irows_##name(int prod, const char *p, int64_t n, int64_t bsd, int64_t m,  \
                             uint64_t *restrict acc)                                      \
    {                                                                                     \
        for (int64_t i = 0; i < m; i++)                                                   \
            acc[i] = prod ? 1 : 0;                                                        \
        for (int64_t k = 0; k < n; k++) {                                                 \
            const T *restrict x = (const T *)(p + k * bsd);                               \
            if (prod)                                                                     \
                for (int64_t i = 0; i < m; i++) acc[i] *= (uint64_t)x[i];                 \
            else                                                                          \
                for (int64_t i = 0; i < m; i++) acc[i] += (uint64_t)x[i];                 \
        }                                                                                 \
    }
TIDE_FOREACH_INT_DTYPE(DEF_INT)
#undef DEF_INT

typedef uint64_t (*iline_fn)(int, const char *, int64_t, int64_t);
typedef void (*irows_fn)(int, const char *, int64_t, int64_t, int64_t, uint64_t *);
static const iline_fn iline_fns[TIDE_NDTYPES] = {
#define ENTRY(E, name, T) [E] = iline_##name,
    TIDE_FOREACH_INT_DTYPE(ENTRY)
#undef ENTRY
};
static const irows_fn irows_fns[TIDE_NDTYPES] = {
#define ENTRY(E, name, T) [E] = irows_##name,
    TIDE_FOREACH_INT_DTYPE(ENTRY)
#undef ENTRY
};

tide_status tide_reduce_setup_dim(const tide_tensor *a, int dim, int keepdim, const char *op,
                                  tide_dim_setup *s)
{
    if (dim < 0 || dim >= a->ndim)
        return tide_fail("%s: dim %d out of range for a %d-dim tensor", op, dim + 1, a->ndim);
    s->sel = *a;
    for (int d = dim; d < a->ndim - 1; d++) {
        s->sel.shape[d] = a->shape[d + 1];
        s->sel.stride[d] = a->stride[d + 1];
    }
    s->sel.ndim = a->ndim - 1;
    s->n = a->shape[dim];
    s->bsd = a->stride[dim] * (int64_t)tide_dtype_size(a->dtype);
    s->ndim = keepdim ? a->ndim : a->ndim - 1;
    for (int d = 0; d < a->ndim; d++)
        if (d != dim || keepdim)
            s->shape[d < dim || keepdim ? d : d - 1] = d == dim ? 1 : a->shape[d];
    return TIDE_OK;
}

tide_status tide_reduce_store(tide_tensor *out, const tide_tensor *buf, int dim, int keepdim)
{
    tide_tensor view = *out;   /* borrowed: same storage, holds no reference */
    if (keepdim) {
        for (int d = dim; d < out->ndim - 1; d++) {
            view.shape[d] = out->shape[d + 1];
            view.stride[d] = out->stride[d + 1];
        }
        view.ndim--;
    }
    return tide_copy(&view, buf);
}

/* Fills buf (f64, sel's shape) with one accumulation along the dim. mean: NULL, or an f64
 * tensor of sel's shape holding each output's mean (for K_SQDEV). */
static void accumulate_dim(tide_tensor *buf, const tide_dim_setup *s, int kind, double prm,
                           const tide_tensor *mean)
{
    tide_dtype dt = s->sel.dtype;
    const int64_t es = (int64_t)tide_dtype_size(dt);
    tide_iter it;
    const tide_tensor *args[3] = {buf, &s->sel, mean};
    tide_iter_init(&it, mean ? 3 : 2, args);
    while (tide_iter_next(&it)) {
        const int64_t m = it.inner, *st = it.inner_stride;
        if (st[0] == 8 && st[1] == es && (!mean || st[2] == 8) && m > 1 && s->bsd != es) {
            rows_fns[dt](kind, it.ptr[1], s->n, s->bsd, m, (double *)it.ptr[0], prm,
                         mean ? (const double *)it.ptr[2] : NULL);
            continue;
        }
        for (int64_t i = 0; i < m; i++) {
            double p = mean ? *(const double *)(it.ptr[2] + i * st[2]) : prm;
            *(double *)(it.ptr[0] + i * st[0]) =
                line_fns[dt](kind, it.ptr[1] + i * st[1], s->n, s->bsd, p);
        }
    }
}

static void accumulate_dim_int(tide_tensor *buf, const tide_dim_setup *s, int prod)
{
    tide_dtype dt = s->sel.dtype;
    const int64_t es = (int64_t)tide_dtype_size(dt);
    tide_iter it;
    const tide_tensor *args[2] = {buf, &s->sel};
    tide_iter_init(&it, 2, args);
    while (tide_iter_next(&it)) {
        const int64_t m = it.inner, *st = it.inner_stride;
        if (st[0] == 8 && st[1] == es && m > 1 && s->bsd != es) {
            irows_fns[dt](prod, it.ptr[1], s->n, s->bsd, m, (uint64_t *)it.ptr[0]);
            continue;
        }
        for (int64_t i = 0; i < m; i++)
            *(int64_t *)(it.ptr[0] + i * st[0]) =
                (int64_t)iline_fns[dt](prod, it.ptr[1] + i * st[1], s->n, s->bsd);
    }
}

static double acc_all(const tide_tensor *a, int kind, double prm)
{
    tide_iter it;
    const tide_tensor *args[1] = {a};
    tide_iter_init(&it, 1, args);
    double acc = kind_identity(kind);
    while (tide_iter_next(&it))
        acc = kind_combine(kind, acc,
                           line_fns[a->dtype](kind, it.ptr[0], it.inner, it.inner_stride[0], prm));
    return acc;
}

static int64_t acc_all_int(const tide_tensor *a, int prod)
{
    tide_iter it;
    const tide_tensor *args[1] = {a};
    tide_iter_init(&it, 1, args);
    uint64_t acc = prod ? 1 : 0;
    while (tide_iter_next(&it)) {
        uint64_t v = iline_fns[a->dtype](prod, it.ptr[0], it.inner, it.inner_stride[0]);
        acc = prod ? acc * v : acc + v;
    }
    return (int64_t)acc;
}

/* ---------------------------------------------------------------- finishing touches */

enum { FIN_NONE, FIN_MEAN, FIN_SQRT, FIN_ROOT, FIN_VAR, FIN_STD };

static double finish(int fin, double acc, int64_t n, double p, int unbiased)
{
    /* a variance needs more elements than the correction removes: NaN otherwise, as torch */
    int64_t dof = n - (unbiased ? 1 : 0);
    switch (fin) {
    case FIN_MEAN: return acc / (double)n;
    case FIN_SQRT: return sqrt(acc);
    case FIN_ROOT: return pow(acc, 1.0 / p);
    case FIN_VAR: return dof > 0 ? acc / (double)dof : NAN;
    case FIN_STD: return dof > 0 ? sqrt(acc / (double)dof) : NAN;
    }
    return acc;
}

/* The accumulation kind and finish step for a p-norm. */
static tide_status norm_kind(double p, const char *op, int *kind, int *fin)
{
    if (!(p >= 0))
        return tide_fail("%s: p must be >= 0 (or inf), got %g", op, p);
    *fin = FIN_NONE;
    if (p == 2) { *kind = K_SQ; *fin = FIN_SQRT; }
    else if (p == 1) *kind = K_ABS;
    else if (isinf(p)) *kind = K_MAXABS;
    else if (p == 0) *kind = K_NZ;
    else { *kind = K_POWP; *fin = FIN_ROOT; }
    return TIDE_OK;
}

static tide_dtype float_result(tide_dtype dt)
{
    return tide_dtype_is_float(dt) ? dt : TIDE_F32;
}

/* A double reduction along dim: kind, then fin, into out (of dtype odt). Two passes for var. */
static tide_status reduce_dim(tide_tensor *out, const tide_tensor *a, int dim, int keepdim,
                              const char *op, tide_dtype odt, int kind, double p, int fin,
                              int unbiased)
{
    tide_dim_setup s;
    TIDE_TRY(tide_reduce_setup_dim(a, dim, keepdim, op, &s));
    int allocated = !out->storage;
    TIDE_TRY(tide_prepare_out(out, odt, s.ndim, s.shape, op));
    tide_tensor buf = TIDE_TENSOR_EMPTY, mean = TIDE_TENSOR_EMPTY;
    tide_status st = tide_tensor_alloc(&buf, TIDE_F64, s.sel.ndim, s.sel.shape);
    if (st == TIDE_OK && (fin == FIN_VAR || fin == FIN_STD)) {
        st = tide_tensor_alloc(&mean, TIDE_F64, s.sel.ndim, s.sel.shape);
        if (st == TIDE_OK) {
            accumulate_dim(&mean, &s, K_SUM, 0, NULL);
            double *md = tide_data(&mean);
            for (int64_t i = 0, n = tide_numel(&mean); i < n; i++)
                md[i] /= (double)s.n;
            accumulate_dim(&buf, &s, K_SQDEV, 0, &mean);
        }
    } else if (st == TIDE_OK) {
        accumulate_dim(&buf, &s, kind, p, NULL);
    }
    if (st == TIDE_OK) {
        double *bd = tide_data(&buf);
        if (fin != FIN_NONE)
            for (int64_t i = 0, n = tide_numel(&buf); i < n; i++)
                bd[i] = finish(fin, bd[i], s.n, p, unbiased);
        st = tide_reduce_store(out, &buf, dim, keepdim);
    }
    tide_tensor_release(&buf);
    tide_tensor_release(&mean);
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

static tide_status reduce_dim_int(tide_tensor *out, const tide_tensor *a, int dim, int keepdim,
                                  const char *op, int prod)
{
    tide_dim_setup s;
    TIDE_TRY(tide_reduce_setup_dim(a, dim, keepdim, op, &s));
    int allocated = !out->storage;
    TIDE_TRY(tide_prepare_out(out, TIDE_I64, s.ndim, s.shape, op));
    tide_tensor buf = TIDE_TENSOR_EMPTY;
    tide_status st = tide_tensor_alloc(&buf, TIDE_I64, s.sel.ndim, s.sel.shape);
    if (st == TIDE_OK) {
        accumulate_dim_int(&buf, &s, prod);
        st = tide_reduce_store(out, &buf, dim, keepdim);
    }
    tide_tensor_release(&buf);
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

/* ---------------------------------------------------------------- public: every element */

tide_status tide_sum_all(const tide_tensor *a, tide_number *result)
{
    *result = tide_dtype_is_float(a->dtype) ? tide_number_float(acc_all(a, K_SUM, 0))
                                            : tide_number_int(acc_all_int(a, 0));
    return TIDE_OK;
}

tide_status tide_prod_all(const tide_tensor *a, tide_number *result)
{
    *result = tide_dtype_is_float(a->dtype) ? tide_number_float(acc_all(a, K_PROD, 0))
                                            : tide_number_int(acc_all_int(a, 1));
    return TIDE_OK;
}

tide_status tide_mean_all(const tide_tensor *a, double *result)
{
    *result = acc_all(a, K_SUM, 0) / (double)tide_numel(a);
    return TIDE_OK;
}

tide_status tide_norm_all(const tide_tensor *a, double p, double *result)
{
    int kind = K_SUM, fin = FIN_NONE;
    TIDE_TRY(norm_kind(p, "norm", &kind, &fin));
    *result = finish(fin, acc_all(a, kind, p), tide_numel(a), p, 0);
    return TIDE_OK;
}

tide_status tide_var_all(const tide_tensor *a, int unbiased, double *result)
{
    int64_t n = tide_numel(a);
    double mean = acc_all(a, K_SUM, 0) / (double)n;
    *result = finish(FIN_VAR, acc_all(a, K_SQDEV, mean), n, 0, unbiased);
    return TIDE_OK;
}

tide_status tide_std_all(const tide_tensor *a, int unbiased, double *result)
{
    TIDE_TRY(tide_var_all(a, unbiased, result));
    *result = sqrt(*result);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- public: along a dim */

tide_status tide_sum_dim(tide_tensor *out, const tide_tensor *a, int dim, int keepdim)
{
    if (!tide_dtype_is_float(a->dtype))
        return reduce_dim_int(out, a, dim, keepdim, "sum", 0);
    return reduce_dim(out, a, dim, keepdim, "sum", a->dtype, K_SUM, 0, FIN_NONE, 0);
}

tide_status tide_prod_dim(tide_tensor *out, const tide_tensor *a, int dim, int keepdim)
{
    if (!tide_dtype_is_float(a->dtype))
        return reduce_dim_int(out, a, dim, keepdim, "prod", 1);
    return reduce_dim(out, a, dim, keepdim, "prod", a->dtype, K_PROD, 0, FIN_NONE, 0);
}

tide_status tide_mean_dim(tide_tensor *out, const tide_tensor *a, int dim, int keepdim)
{
    return reduce_dim(out, a, dim, keepdim, "mean", float_result(a->dtype), K_SUM, 0, FIN_MEAN,
                      0);
}

tide_status tide_norm_dim(tide_tensor *out, const tide_tensor *a, double p, int dim, int keepdim)
{
    int kind = K_SUM, fin = FIN_NONE;
    TIDE_TRY(norm_kind(p, "norm", &kind, &fin));
    return reduce_dim(out, a, dim, keepdim, "norm", float_result(a->dtype), kind, p, fin, 0);
}

tide_status tide_var_dim(tide_tensor *out, const tide_tensor *a, int dim, int unbiased,
                         int keepdim)
{
    return reduce_dim(out, a, dim, keepdim, "var", float_result(a->dtype), K_SQDEV, 0, FIN_VAR,
                      unbiased);
}

tide_status tide_std_dim(tide_tensor *out, const tide_tensor *a, int dim, int unbiased,
                         int keepdim)
{
    return reduce_dim(out, a, dim, keepdim, "std", float_result(a->dtype), K_SQDEV, 0, FIN_STD,
                      unbiased);
}
