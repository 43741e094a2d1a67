/* ops_compare.c — comparisons to u8 masks, where and masked_fill (see ops_elementwise.h). */
#include "ops/operand.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "ops/reduce.h"
#include "tensor/iter.h"

/* ---------------------------------------------------------------- comparisons, where, fill */

#define CMP_LOOP(SYM)                                                                     \
    while (tide_iter_next(it)) {                                                          \
        const int64_t n_ = it->inner, es_ = (int64_t)sizeof(ty);                          \
        char *po_ = it->ptr[0], *pa_ = it->ptr[1], *pb_ = it->ptr[2];                     \
        const int64_t so_ = it->inner_stride[0], sa_ = it->inner_stride[1],               \
                      sb_ = it->inner_stride[2];                                          \
        int distinct_ = po_ != pa_ && po_ != pb_;                                         \
        if (distinct_ && so_ == 1 && sa_ == es_ && sb_ == es_) {                          \
            uint8_t *restrict o_ = (uint8_t *)po_;                                        \
            const ty *restrict x_ = (const ty *)pa_, *restrict y_ = (const ty *)pb_;      \
            for (int64_t i_ = 0; i_ < n_; i_++)                                           \
                o_[i_] = x_[i_] SYM y_[i_];                                               \
        } else if (distinct_ && so_ == 1 && sa_ == es_ && sb_ == 0) {                     \
            uint8_t *restrict o_ = (uint8_t *)po_;                                        \
            const ty *restrict x_ = (const ty *)pa_;                                      \
            const ty y_ = *(const ty *)pb_;                                               \
            for (int64_t i_ = 0; i_ < n_; i_++)                                           \
                o_[i_] = x_[i_] SYM y_;                                                   \
        } else {                                                                          \
            for (int64_t i_ = 0; i_ < n_; i_++)                                           \
                *(uint8_t *)(po_ + i_ * so_) =                                            \
                    *(const ty *)(pa_ + i_ * sa_) SYM *(const ty *)(pb_ + i_ * sb_);      \
        }                                                                                 \
    }

#define DEF_COMPARE(E, name, T)                                                           \
    static void compare_##name(tide_iter *it, int op)                                     \
    {                                                                                     \
        typedef T ty;                                                                     \
        switch (op) {                                                                     \
        case TIDE_CMP_EQ: CMP_LOOP(==); break;                                            \
        case TIDE_CMP_NE: CMP_LOOP(!=); break;                                            \
        case TIDE_CMP_LT: CMP_LOOP(<); break;                                             \
        case TIDE_CMP_LE: CMP_LOOP(<=); break;                                            \
        case TIDE_CMP_GT: CMP_LOOP(>); break;                                             \
        case TIDE_CMP_GE: CMP_LOOP(>=); break;                                            \
        }                                                                                 \
    }
TIDE_FOREACH_DTYPE(DEF_COMPARE)
#undef DEF_COMPARE

/* out = mask ? a : b over rows of (out, mask, a, b) */
#define DEF_WHERE(E, name, T)                                                             \
    static void where_##name(tide_iter *it)                                               \
    {                                                                                     \
        while (tide_iter_next(it)) {                                                      \
            const int64_t n = it->inner, es = (int64_t)sizeof(T);                         \
            const int64_t *s = it->inner_stride;                                          \
            int distinct = it->ptr[0] != it->ptr[1] && it->ptr[0] != it->ptr[2] &&        \
                           it->ptr[0] != it->ptr[3];                                      \
            if (distinct && s[0] == es && s[1] == 1 && s[2] == es && s[3] == es) {        \
                T *restrict o = (T *)it->ptr[0];                                          \
                const uint8_t *restrict m = (const uint8_t *)it->ptr[1];                  \
                const T *restrict x = (const T *)it->ptr[2], *restrict y = (const T *)it->ptr[3]; \
                for (int64_t i = 0; i < n; i++)                                           \
                    o[i] = m[i] ? x[i] : y[i];                                            \
            } else {                                                                      \
                for (int64_t i = 0; i < n; i++)                                           \
                    *(T *)(it->ptr[0] + i * s[0]) = *(const uint8_t *)(it->ptr[1] + i * s[1]) \
                        ? *(const T *)(it->ptr[2] + i * s[2])                             \
                        : *(const T *)(it->ptr[3] + i * s[3]);                            \
            }                                                                             \
        }                                                                                 \
    }
TIDE_FOREACH_DTYPE(DEF_WHERE)
#undef DEF_WHERE

/* t = mask ? v : t over rows of (t, mask) */
#define DEF_MASKED_FILL(E, name, T)                                                       \
    static void masked_fill_##name(tide_iter *it, const tide_number *vs)                  \
    {                                                                                     \
        const T v = SCALAR_AS(name, T, *vs);                                              \
        while (tide_iter_next(it)) {                                                      \
            const int64_t n = it->inner, so = it->inner_stride[0], sm = it->inner_stride[1]; \
            if (so == (int64_t)sizeof(T) && sm == 1 && it->ptr[0] != it->ptr[1]) {        \
                T *restrict o = (T *)it->ptr[0];                                          \
                const uint8_t *restrict m = (const uint8_t *)it->ptr[1];                  \
                for (int64_t i = 0; i < n; i++)                                           \
                    o[i] = m[i] ? v : o[i];                                               \
            } else {                                                                      \
                for (int64_t i = 0; i < n; i++)                                           \
                    if (*(const uint8_t *)(it->ptr[1] + i * sm))                          \
                        *(T *)(it->ptr[0] + i * so) = v;                                  \
            }                                                                             \
        }                                                                                 \
    }
TIDE_FOREACH_DTYPE(DEF_MASKED_FILL)
#undef DEF_MASKED_FILL

static void run_compare(tide_iter *it, tide_dtype dt, int op)
{
    switch (dt) {
#define CASE(E, name, T) case E: compare_##name(it, op); break;
        TIDE_FOREACH_DTYPE(CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef CASE
    }
}

static void run_where(tide_iter *it, tide_dtype dt)
{
    switch (dt) {
#define CASE(E, name, T) case E: where_##name(it); break;
        TIDE_FOREACH_DTYPE(CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef CASE
    }
}

static void run_masked_fill(tide_iter *it, tide_dtype dt, const tide_number *v)
{
    switch (dt) {
#define CASE(E, name, T) case E: masked_fill_##name(it, v); break;
        TIDE_FOREACH_DTYPE(CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef CASE
    }
}

/* ---------------------------------------------------------------- comparisons */

static tide_status compare_run(tide_tensor *out, tide_cmpop op, operand *a, operand *b,
                               tide_dtype dt)
{
    const char *name = tide_cmpop_name(op);
    int ndim, allocated;
    int64_t shape[TIDE_MAX_DIMS];
    TIDE_TRY(tide_ew_operand_shape(a, b, &ndim, shape, name));
    TIDE_TRY(tide_ew_prepare_result(out, TIDE_U8, ndim, shape, name, 0, 1, &allocated));
    tide_iter it;
    tide_status st = tide_ew_pair_iter(&it, out, a, b, dt, ndim, shape, name, 0);
    if (st == TIDE_OK)
        run_compare(&it, dt, op);
    tide_ew_operand_release(a);
    tide_ew_operand_release(b);
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

tide_status tide_compare(tide_tensor *out, tide_cmpop op, const tide_tensor *a,
                         const tide_tensor *b)
{
    if ((unsigned)op > TIDE_CMP_GE)
        return tide_fail("compare: unknown op %d", (int)op);
    operand oa, ob;
    tide_ew_operand_tensor(&oa, a);
    tide_ew_operand_tensor(&ob, b);
    return compare_run(out, op, &oa, &ob, tide_dtype_promote(a->dtype, b->dtype));
}

/* Does the integer s fit in integer dtype dt? */
static int int_fits(tide_dtype dt, int64_t v)
{
    int64_t lo, hi;
    tide_dtype_exact_range(dt, &lo, &hi);
    return v >= lo && v <= hi;
}

tide_status tide_compare_scalar(tide_tensor *out, tide_cmpop op, const tide_tensor *a,
                                tide_number s)
{
    if ((unsigned)op > TIDE_CMP_GE)
        return tide_fail("compare: unknown op %d", (int)op);
    tide_dtype dt = a->dtype;
    if (!tide_dtype_is_float(dt) && s.is_float)
        dt = TIDE_F64;
    else if (!tide_dtype_is_float(dt) && !int_fits(dt, s.i))
        dt = TIDE_I64;
    operand oa, ob;
    tide_ew_operand_tensor(&oa, a);
    tide_ew_operand_scalar(&ob, s);
    return compare_run(out, op, &oa, &ob, dt);
}

/* ---------------------------------------------------------------- where, masked_fill */

tide_status tide_where(tide_tensor *out, const tide_tensor *mask, const tide_tensor *a,
                       const tide_tensor *b)
{
    if (mask->dtype != TIDE_U8)
        return tide_fail("where: expected a u8 mask, got %s", tide_dtype_name(mask->dtype));
    int n1, ndim, allocated;
    int64_t s1[TIDE_MAX_DIMS], shape[TIDE_MAX_DIMS];
    TIDE_TRY(tide_broadcast_shapes(mask->ndim, mask->shape, a->ndim, a->shape, &n1, s1, "where"));
    TIDE_TRY(tide_broadcast_shapes(n1, s1, b->ndim, b->shape, &ndim, shape, "where"));
    tide_dtype rdt = tide_dtype_promote(a->dtype, b->dtype);
    TIDE_TRY(tide_ew_prepare_result(out, rdt, ndim, shape, "where", 0, 0, &allocated));
    tide_dtype dt = out->dtype;
    operand om, oa, ob;
    tide_ew_operand_tensor(&om, mask);
    tide_ew_operand_tensor(&oa, a);
    tide_ew_operand_tensor(&ob, b);
    tide_status st = tide_ew_check_overlap(out, mask, "where", 0);
    if (st == TIDE_OK)
        st = tide_ew_check_overlap(out, a, "where", 0);
    if (st == TIDE_OK)
        st = tide_ew_check_overlap(out, b, "where", 0);
    if (st == TIDE_OK)
        st = tide_ew_operand_prepare(&om, TIDE_U8, ndim, shape, "where");
    if (st == TIDE_OK)
        st = tide_ew_operand_prepare(&oa, dt, ndim, shape, "where");
    if (st == TIDE_OK)
        st = tide_ew_operand_prepare(&ob, dt, ndim, shape, "where");
    if (st == TIDE_OK) {
        tide_iter it;
        const tide_tensor *args[4] = {out, &om.view, &oa.view, &ob.view};
        tide_iter_init(&it, 4, args);
        run_where(&it, dt);
    }
    tide_ew_operand_release(&om);
    tide_ew_operand_release(&oa);
    tide_ew_operand_release(&ob);
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

tide_status tide_masked_fill(tide_tensor *t, const tide_tensor *mask, tide_number v)
{
    char a[TIDE_SHAPE_BUF], b[TIDE_SHAPE_BUF];
    if (mask->dtype != TIDE_U8)
        return tide_fail("masked_fill_: expected a u8 mask, got %s", tide_dtype_name(mask->dtype));
    int ndim;
    int64_t shape[TIDE_MAX_DIMS];
    TIDE_TRY(tide_broadcast_shapes(t->ndim, t->shape, mask->ndim, mask->shape, &ndim, shape,
                                   "masked_fill_"));
    if (ndim != t->ndim || memcmp(shape, t->shape, sizeof(int64_t) * (size_t)ndim) != 0)
        return tide_fail("masked_fill_: mask shape %s does not broadcast to the receiver %s",
                         tide_shape_str(mask, a, sizeof a), tide_shape_str(t, b, sizeof b));
    if (tide_ew_self_overlapping(t))
        return tide_fail("masked_fill_: the receiver has elements that share memory"
                         " (an expanded view); clone() it first");
    TIDE_TRY(tide_ew_check_overlap(t, mask, "masked_fill", 1));
    TIDE_TRY(tide_ew_scalar_for(t->dtype, &v, "masked_fill_"));
    if (!tide_dtype_is_float(t->dtype) && !int_fits(t->dtype, v.i))
        return tide_fail("masked_fill_: value %lld does not fit dtype %s", (long long)v.i,
                         tide_dtype_name(t->dtype));
    tide_tensor m = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_expand(&m, mask, t->ndim, t->shape));
    tide_iter it;
    const tide_tensor *args[2] = {t, &m};
    tide_iter_init(&it, 2, args);
    run_masked_fill(&it, t->dtype, &v);
    tide_tensor_release(&m);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- NaN, infinities, any/all */

/* One classification of n contiguous floats (T) into u8 (glibc's isinf gives -1 for -inf). */
#define CLASSIFY(T, src, dst, n, op)                                                      \
    do {                                                                                  \
        const T *x_ = (const T *)(src);                                                   \
        for (int64_t i_ = 0; i_ < (n); i_++)                                              \
            (dst)[i_] = (uint8_t)(((op) == TIDE_IS_NAN   ? isnan(x_[i_])                  \
                                   : (op) == TIDE_IS_INF ? isinf(x_[i_])                  \
                                                         : isfinite(x_[i_])) != 0);       \
    } while (0)

tide_status tide_classify(tide_tensor *out, tide_classop op, const tide_tensor *a)
{
    if ((unsigned)op > TIDE_IS_FINITE)
        return tide_fail("classify: unknown op %d", (int)op);
    TIDE_TRY(tide_tensor_alloc(out, TIDE_U8, a->ndim, a->shape));
    uint8_t *o = tide_data(out);
    int64_t n = tide_numel(a);
    if (!tide_dtype_is_float(a->dtype)) {
        memset(o, op == TIDE_IS_FINITE, (size_t)n);
        return TIDE_OK;
    }
    tide_tensor c = TIDE_TENSOR_EMPTY;
    tide_status st = tide_contiguous(&c, a);
    if (st != TIDE_OK) {
        tide_tensor_release(out);
        return st;
    }
    if (a->dtype == TIDE_F32)
        CLASSIFY(float, tide_data(&c), o, n, op);
    else
        CLASSIFY(double, tide_data(&c), o, n, op);
    tide_tensor_release(&c);
    return TIDE_OK;
}

#define NAN_TO_NUM(T, data, n, nan, pos, neg)                                             \
    do {                                                                                  \
        T *x_ = (T *)(data);                                                              \
        for (int64_t i_ = 0; i_ < (n); i_++)                                              \
            x_[i_] = isnan(x_[i_])   ? (T)(nan)                                           \
                     : isinf(x_[i_]) ? (x_[i_] > 0 ? (T)(pos) : (T)(neg))                 \
                                     : x_[i_];                                            \
    } while (0)

tide_status tide_nan_to_num(tide_tensor *out, const tide_tensor *a, double nan,
                            const double *posinf, const double *neginf)
{
    TIDE_TRY(tide_clone(out, a));
    int64_t n = tide_numel(out);
    if (a->dtype == TIDE_F32)
        NAN_TO_NUM(float, tide_data(out), n, nan, posinf ? *posinf : FLT_MAX,
                   neginf ? *neginf : -FLT_MAX);
    else if (a->dtype == TIDE_F64)
        NAN_TO_NUM(double, tide_data(out), n, nan, posinf ? *posinf : DBL_MAX,
                   neginf ? *neginf : -DBL_MAX);
    return TIDE_OK;
}

tide_status tide_any_all(const tide_tensor *a, int all, int *result)
{
    tide_tensor mask = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_compare_scalar(&mask, TIDE_CMP_NE, a, tide_number_int(0)));
    const uint8_t *m = tide_data(&mask);
    int64_t n = tide_numel(&mask), i = 0;
    /* stop at the first element that decides: a nonzero for any, a zero for all */
    while (i < n && m[i] == (uint8_t)all)
        i++;
    *result = all ? i == n : i < n;
    tide_tensor_release(&mask);
    return TIDE_OK;
}

tide_status tide_any_all_dim(tide_tensor *out, const tide_tensor *a, int all, int dim,
                             int keepdim)
{
    char s[TIDE_SHAPE_BUF];
    if (dim < 0 || dim >= a->ndim)
        return tide_fail("%s: dim %d out of range for %s", all ? "all" : "any", dim + 1,
                         tide_shape_str(a, s, sizeof s));
    tide_tensor mask = TIDE_TENSOR_EMPTY, count = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_compare_scalar(&mask, TIDE_CMP_NE, a, tide_number_int(0)));
    tide_status st = tide_sum_dim(&count, &mask, dim, keepdim);
    tide_tensor_release(&mask);
    if (st == TIDE_OK)
        st = all ? tide_compare_scalar(out, TIDE_CMP_EQ, &count, tide_number_int(a->shape[dim]))
                 : tide_compare_scalar(out, TIDE_CMP_GT, &count, tide_number_int(0));
    tide_tensor_release(&count);
    return st;
}
