/* reduce_minmax.c — max and min, with or without their indices, over all elements or along
 * one dim (see reduce.h). The same two loop shapes as reduce.c's ("lines" and "rows"), but in
 * the input's own type: an extreme needs no wider accumulator, and keeps the dtype. */
#include "ops/reduce.h"

#include <string.h>

#include "ops/reduce_impl.h"
#include "tensor/iter.h"

/* ---------------------------------------------------------------- max/min with indices */

/* Only a float can be NaN; an integer's v != v would be a self-comparison the compiler warns of. */
#define ISNAN_FLOAT(v) ((v) != (v))
#define ISNAN_INT(v) 0

/* First extreme of a line (the first NaN when there is one): its index, value in *best. */
#define ARGLINE_BODY(CMP, ISNAN)                                                          \
    {                                                                                     \
        ty b = *(const ty *)p;                                                              \
        int64_t bi = 0;                                                                   \
        for (int64_t i = 1; i < n && !ISNAN(b); i++) {                                    \
            ty v = *(const ty *)(p + i * bs);                                               \
            if (v CMP b || ISNAN(v)) {                                                    \
                b = v;                                                                    \
                bi = i;                                                                   \
            }                                                                             \
        }                                                                                 \
        *best = b;                                                                        \
        return bi;                                                                        \
    }

#define ARGROWS_BODY(CMP, ISNAN)                                                          \
    {                                                                                     \
        memcpy(best, p, (size_t)m * sizeof(ty));                                           \
        for (int64_t i = 0; i < m; i++)                                                   \
            idx[i] = 0;                                                                   \
        for (int64_t k = 1; k < n; k++) {                                                 \
            const ty *restrict x = (const ty *)(p + k * bsd);                               \
            for (int64_t i = 0; i < m; i++) {                                             \
                ty v = x[i];                                                               \
                if (!ISNAN(best[i]) && (v CMP best[i] || ISNAN(v))) {                     \
                    best[i] = v;                                                          \
                    idx[i] = k;                                                           \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
        return;                                                                           \
    }

/* The extreme value alone of a line (NaN if any). A contiguous line runs through 64 lanes kept
 * in an array (an elementwise select the compiler vectorises, where a running max with NaN
 * checks stays scalar); a NaN seen there sends the line to the plain loop, which finds it. */
#define EXT_LANES 64
#define EXTLINE_BODY(CMP, ISNAN)                                                          \
    {                                                                                     \
        ty b = *(const ty *)p;                                                            \
        int64_t i = 0;                                                                    \
        if (bs == (int64_t)sizeof(ty) && n >= 2 * EXT_LANES) {                            \
            const ty *restrict x = (const ty *)p;                                         \
            ty lane[EXT_LANES];                                                           \
            int nan = 0;                                                                  \
            for (int k = 0; k < EXT_LANES; k++) {                                         \
                lane[k] = x[k];                                                           \
                nan |= ISNAN(x[k]);                                                       \
            }                                                                             \
            for (i = EXT_LANES; i + EXT_LANES <= n; i += EXT_LANES) {                     \
                const ty *restrict y = x + i;                                             \
                for (int k = 0; k < EXT_LANES; k++) {                                     \
                    ty v = y[k];                                                          \
                    lane[k] = v CMP lane[k] ? v : lane[k];                                \
                }                                                                         \
                for (int k = 0; k < EXT_LANES; k++)                                       \
                    nan |= ISNAN(y[k]);                                                   \
            }                                                                             \
            for (int k = 0; k < EXT_LANES; k++)                                           \
                b = lane[k] CMP b ? lane[k] : b;                                          \
            if (nan)                                                                      \
                i = 0;                                                                    \
        }                                                                                 \
        for (; i < n && !ISNAN(b); i++) {                                                 \
            ty v = *(const ty *)(p + i * bs);                                             \
            b = (v CMP b || ISNAN(v)) ? v : b;                                            \
        }                                                                                 \
        return b;                                                                         \
    }

#define DEF_ARG(E, name, T, ISNAN)                                                          \
    static T extline_##name(int want_max, const char *p, int64_t n, int64_t bs)           \
    {                                                                                     \
        typedef T ty;                                                                     \
        if (want_max)                                                                     \
            EXTLINE_BODY(>, ISNAN)                                      \
        EXTLINE_BODY(<, ISNAN)                                          \
    }                                                                                     \
    /* every element, value only */                                                       \
    static tide_number extall_##name(tide_iter *it, int want_max)                         \
    {                                                                                     \
        T gb = 0;                                                                         \
        int first = 1;                                                                    \
        while (tide_iter_next(it)) {                                                      \
            T b = extline_##name(want_max, it->ptr[0], it->inner, it->inner_stride[0]);   \
            if (first || (want_max ? b > gb : b < gb) || ISNAN(b))      \
                gb = b;                                                                   \
            first = 0;                                                                    \
        }                                                                                 \
        return tide_dtype_is_float(E) ? tide_number_float((double)gb)                     \
                                      : tide_number_int((int64_t)gb);                     \
    }                                                                                     \
    static int64_t argline_##name(int want_max, const char *p, int64_t n, int64_t bs,     \
                                  T *best)                                                \
    {                                                                                     \
        typedef T ty;                                                                     \
        if (want_max)                                                                     \
            ARGLINE_BODY(>, ISNAN)                                      \
        ARGLINE_BODY(<, ISNAN)                                          \
    }                                                                                     \
    static void argrows_##name(int want_max, const char *p, int64_t n, int64_t bsd,       \
                               int64_t m, T *restrict best, int64_t *restrict idx)        \
    {                                                                                     \
        typedef T ty;                                                                     \
        if (want_max)                                                                     \
            ARGROWS_BODY(>, ISNAN)                                      \
        ARGROWS_BODY(<, ISNAN)                                          \
    }                                                                                     \
    /* every row of it (values, indices, input) along a dim of n elements, bsd apart */   \
    static void argdim_##name(tide_iter *it, int want_max, int64_t n, int64_t bsd)        \
    {                                                                                     \
        while (tide_iter_next(it)) {                                                      \
            const int64_t m = it->inner, *s = it->inner_stride;                           \
            if (s[0] == (int64_t)sizeof(T) && s[1] == 8 && s[2] == (int64_t)sizeof(T) &&  \
                m > 1 && bsd != (int64_t)sizeof(T)) {                                     \
                argrows_##name(want_max, it->ptr[2], n, bsd, m, (T *)it->ptr[0],          \
                               (int64_t *)it->ptr[1]);                                    \
                continue;                                                                 \
            }                                                                             \
            for (int64_t i = 0; i < m; i++)                                               \
                *(int64_t *)(it->ptr[1] + i * s[1]) =                                     \
                    argline_##name(want_max, it->ptr[2] + i * s[2], n, bsd,               \
                                   (T *)(it->ptr[0] + i * s[0]));                         \
        }                                                                                 \
    }                                                                                     \
    /* every element: rows of it (input) in row-major order */                            \
    static void argall_##name(tide_iter *it, int want_max, tide_number *value,            \
                              int64_t *index)                                             \
    {                                                                                     \
        T gb = 0, b = 0;                                                                      \
        int64_t gi = -1, row = 0;                                                         \
        while (tide_iter_next(it)) {                                                      \
            int64_t i = argline_##name(want_max, it->ptr[0], it->inner,                   \
                                       it->inner_stride[0], &b);                          \
            int better = want_max ? b > gb : b < gb;                                      \
            if (gi < 0 || (!ISNAN(gb) &&                                \
                           (better || ISNAN(b)))) {                     \
                gb = b;                                                                   \
                gi = row * it->inner + i;                                                 \
            }                                                                             \
            row++;                                                                        \
        }                                                                                 \
        *value = tide_dtype_is_float(E) ? tide_number_float((double)gb)                   \
                                        : tide_number_int((int64_t)gb);                   \
        *index = gi;                                                                      \
    }
#define DEF_ARG_FLOAT(E, name, T) DEF_ARG(E, name, T, ISNAN_FLOAT)
#define DEF_ARG_INT(E, name, T) DEF_ARG(E, name, T, ISNAN_INT)
TIDE_FOREACH_FLOAT_DTYPE(DEF_ARG_FLOAT)
TIDE_FOREACH_INT_DTYPE(DEF_ARG_INT)
#undef DEF_ARG

static tide_status minmax_all(const tide_tensor *a, int want_max, tide_number *value,
                              int64_t *index)
{
    const char *op = want_max ? "max" : "min";
    if (tide_numel(a) == 0) {
        char s[TIDE_SHAPE_BUF];
        return tide_fail("%s: cannot reduce an empty tensor (shape %s)", op,
                         tide_shape_str(a, s, sizeof s));
    }
    tide_number v = {0, 0, 0};
    int64_t i = 0;
    tide_iter it;
    const tide_tensor *args[1] = {a};
    tide_iter_init(&it, 1, args);
    if (!index) {   /* the value alone: a vectorised pass */
        switch (a->dtype) {
#define CASE(E, name, T) case E: *value = extall_##name(&it, want_max); break;
            TIDE_FOREACH_DTYPE(CASE)
            TIDE_STORAGE_DTYPE_CASES break;
#undef CASE
        }
        return TIDE_OK;
    }
    switch (a->dtype) {
#define CASE(E, name, T) case E: argall_##name(&it, want_max, &v, &i); break;
        TIDE_FOREACH_DTYPE(CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef CASE
    }
    if (value)
        *value = v;
    if (index)
        *index = i;
    return TIDE_OK;
}

tide_status tide_max_all(const tide_tensor *a, tide_number *value, int64_t *index)
{
    return minmax_all(a, 1, value, index);
}

tide_status tide_min_all(const tide_tensor *a, tide_number *value, int64_t *index)
{
    return minmax_all(a, 0, value, index);
}

static tide_status minmax_dim(tide_tensor *values, tide_tensor *indices, const tide_tensor *a,
                              int dim, int keepdim, int want_max)
{
    const char *op = values ? (want_max ? "max" : "min") : (want_max ? "argmax" : "argmin");
    tide_dim_setup s;
    TIDE_TRY(tide_reduce_setup_dim(a, dim, keepdim, op, &s));
    if (s.n == 0 && tide_numel(&s.sel) > 0) {
        char sh[TIDE_SHAPE_BUF];
        return tide_fail("%s: cannot reduce dim %d of size 0 (shape %s)", op, dim + 1,
                         tide_shape_str(a, sh, sizeof sh));
    }
    int valloc = values && !values->storage, ialloc = indices && !indices->storage;
    tide_status st = TIDE_OK;
    if (values)
        st = tide_prepare_out(values, a->dtype, s.ndim, s.shape, op);
    if (st == TIDE_OK && indices)
        st = tide_prepare_out(indices, TIDE_I64, s.ndim, s.shape, op);
    tide_tensor vbuf = TIDE_TENSOR_EMPTY, ibuf = TIDE_TENSOR_EMPTY;
    if (st == TIDE_OK)
        st = tide_tensor_alloc(&vbuf, a->dtype, s.sel.ndim, s.sel.shape);
    if (st == TIDE_OK)
        st = tide_tensor_alloc(&ibuf, TIDE_I64, s.sel.ndim, s.sel.shape);
    if (st == TIDE_OK) {
        tide_iter it;
        const tide_tensor *args[3] = {&vbuf, &ibuf, &s.sel};
        tide_iter_init(&it, 3, args);
        switch (a->dtype) {
#define CASE(E, name, T) case E: argdim_##name(&it, want_max, s.n, s.bsd); break;
            TIDE_FOREACH_DTYPE(CASE)
            TIDE_STORAGE_DTYPE_CASES break;
#undef CASE
        }
        if (values)
            st = tide_reduce_store(values, &vbuf, dim, keepdim);
        if (st == TIDE_OK && indices)
            st = tide_reduce_store(indices, &ibuf, dim, keepdim);
    }
    tide_tensor_release(&vbuf);
    tide_tensor_release(&ibuf);
    if (st != TIDE_OK) {
        if (valloc)
            tide_tensor_release(values);
        if (ialloc)
            tide_tensor_release(indices);
    }
    return st;
}

tide_status tide_max_dim(tide_tensor *values, tide_tensor *indices, const tide_tensor *a, int dim,
                         int keepdim)
{
    return minmax_dim(values, indices, a, dim, keepdim, 1);
}

tide_status tide_min_dim(tide_tensor *values, tide_tensor *indices, const tide_tensor *a, int dim,
                         int keepdim)
{
    return minmax_dim(values, indices, a, dim, keepdim, 0);
}
