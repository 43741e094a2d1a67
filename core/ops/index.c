/* ops_index.c — index_select, gather, scatter_add, index_add, masked_select, bincount, cumsum.
 *
 * The four index kernels share one idea: three operands of one iteration shape walked by
 * tide_iter — the moving side, the index (expanded with stride 0 where it does not vary), and
 * the indexed tensor with its stride along dim set to 0 — so that the element an index names
 * is at base + index * (stride along dim). */
#include "ops/index.h"

#include "tensor/iter.h"
#include "tensor/size.h"

#include <stdlib.h>
#include <string.h>

static tide_status check_dim(const tide_tensor *t, int dim, const char *op)
{
    if (dim < 0 || dim >= t->ndim)
        return tide_fail("%s: dim %d out of range for a %d-dim tensor", op, dim + 1, t->ndim);
    return TIDE_OK;
}

static tide_status check_index_dtype(const tide_tensor *index, const char *op)
{
    if (!tide_dtype_is_index(index->dtype))
        return tide_fail("%s: expected an i32 or i64 index tensor, got %s", op,
                         tide_dtype_name(index->dtype));
    return TIDE_OK;
}

/* Every entry of index in [0, size), before anything is written. */
static tide_status check_range(const tide_tensor *index, int64_t size, int dim, const char *op)
{
    if (tide_numel(index) == 0)
        return TIDE_OK;
    tide_iter it;
    const tide_tensor *args[1] = {index};
    tide_iter_init(&it, 1, args);
#define RANGE_LOOP(E, name, IT)                                                           \
    case E:                                                                               \
    while (tide_iter_next(&it))                                                           \
        for (int64_t i = 0; i < it.inner; i++) {                                          \
            int64_t v = *(const IT *)(it.ptr[0] + i * it.inner_stride[0]);                \
            if (v < 0 || v >= size)                                                       \
                return tide_fail("%s: index %lld out of range for size %lld in dim %d", op, \
                                 (long long)v + 1, (long long)size, dim + 1);             \
        }                                                                                 \
    break;
    switch (index->dtype) {
        TIDE_FOREACH_INDEX_DTYPE(RANGE_LOOP)
    default: break;   /* check_index_dtype refused the rest */
    }
#undef RANGE_LOOP
    return TIDE_OK;
}

/* A borrowed view (no reference taken) of t with another shape and t's strides, the stride
 * along dim set to zero: the base the index kernels add index * stride to. */
static tide_tensor base_view(const tide_tensor *t, const int64_t *shape, int dim)
{
    tide_tensor v = *t;
    memcpy(v.shape, shape, sizeof v.shape);
    v.stride[dim] = 0;
    return v;
}

/* A borrowed view of the 1-D index expanded to shape: it varies along dim only. */
static tide_tensor index_view(const tide_tensor *index, int ndim, const int64_t *shape, int dim)
{
    tide_tensor v = *index;
    v.ndim = ndim;
    memcpy(v.shape, shape, sizeof v.shape);
    for (int d = 0; d < ndim; d++)
        v.stride[d] = 0;
    v.stride[dim] = index->stride[0];
    return v;
}

/* dst[p] = *(base[p] + index[p] * sd) over three same-shaped operands; sd in bytes. Moves bits,
 * so it switches on the element size rather than the dtype. */
static void gather_kernel(const tide_tensor *dst, const tide_tensor *index,
                          const tide_tensor *base, int64_t sd)
{
    tide_iter it;
    const tide_tensor *args[3] = {dst, index, base};
    tide_iter_init(&it, 3, args);
#define GATHER_LOOP(IT, T)                                                              \
    while (tide_iter_next(&it))                                                         \
        for (int64_t i = 0; i < it.inner; i++) {                                        \
            int64_t ix = *(const IT *)(it.ptr[1] + i * it.inner_stride[1]);             \
            *(T *)(it.ptr[0] + i * it.inner_stride[0]) =                                \
                *(const T *)(it.ptr[2] + i * it.inner_stride[2] + ix * sd);             \
        }                                                                               \
    break;
#define GATHER_SIZES(E, name, IT)                        \
    case E:                                              \
    switch (tide_dtype_size(dst->dtype)) {               \
    case 1: GATHER_LOOP(IT, uint8_t)                     \
    case 4: GATHER_LOOP(IT, uint32_t)                    \
    default: GATHER_LOOP(IT, uint64_t)                   \
    }                                                    \
    break;
    switch (index->dtype) {
        TIDE_FOREACH_INDEX_DTYPE(GATHER_SIZES)
    default: break;   /* check_index_dtype refused the rest */
    }
#undef GATHER_SIZES
#undef GATHER_LOOP
}

/* Addition that wraps for integers (signed overflow is undefined behaviour in C): through
 * uint64_t, whose sum converts back modulo the type's width. */
#define ADD_FLOAT(E, name, T) static inline T add_##name(T a, T b) { return a + b; }
#define ADD_INT(E, name, T) \
    static inline T add_##name(T a, T b) { return (T)((uint64_t)a + (uint64_t)b); }
TIDE_FOREACH_FLOAT_DTYPE(ADD_FLOAT)
TIDE_FOREACH_INT_DTYPE(ADD_INT)
#undef ADD_FLOAT
#undef ADD_INT

/* *(base[p] + index[p] * sd) += src[p] over three same-shaped operands, in row-major order. */
static void scatter_add_kernel(const tide_tensor *src, const tide_tensor *index,
                               const tide_tensor *base, int64_t sd)
{
    tide_iter it;
    const tide_tensor *args[3] = {src, index, base};
    tide_iter_init(&it, 3, args);
#define SCATTER_LOOP(name, T)                                                           \
    while (tide_iter_next(&it))                                                         \
        for (int64_t i = 0; i < it.inner; i++) {                                        \
            int64_t ix = *(const index_t *)(it.ptr[1] + i * it.inner_stride[1]);        \
            T *p = (T *)(it.ptr[2] + i * it.inner_stride[2] + ix * sd);                 \
            *p = add_##name(*p, *(const T *)(it.ptr[0] + i * it.inner_stride[0]));      \
        }
#define SCATTER_CASE(E, name, T) case E: SCATTER_LOOP(name, T) break;
#define SCATTER_INDEX(IE, iname, IT)                                                    \
    case IE: {                                                                          \
        typedef IT index_t;                                                             \
        switch (src->dtype) {                                                           \
            TIDE_FOREACH_DTYPE(SCATTER_CASE)                                            \
            TIDE_STORAGE_DTYPE_CASES break;                                             \
        }                                                                               \
        break;                                                                          \
    }
    switch (index->dtype) {
        TIDE_FOREACH_INDEX_DTYPE(SCATTER_INDEX)
    default: break;   /* check_index_dtype refused the rest */
    }
#undef SCATTER_INDEX
#undef SCATTER_CASE
#undef SCATTER_LOOP
}

static tide_status check_out_overlap(const tide_tensor *out, const tide_tensor *a,
                                     const tide_tensor *b, const char *op)
{
    if (out->storage && (tide_overlaps(out, a) || tide_overlaps(out, b)))
        return tide_fail("%s: the output overlaps an input", op);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- the index ops */

tide_status tide_index_select(tide_tensor *out, const tide_tensor *t, int dim,
                              const tide_tensor *index)
{
    char s[TIDE_SHAPE_BUF];
    TIDE_TRY(check_dim(t, dim, "index_select"));
    TIDE_TRY(check_index_dtype(index, "index_select"));
    if (index->ndim != 1)
        return tide_fail("index_select: expected a 1-D index, got %s",
                         tide_shape_str(index, s, sizeof s));
    TIDE_TRY(check_range(index, t->shape[dim], dim, "index_select"));
    TIDE_TRY(check_out_overlap(out, t, index, "index_select"));
    int64_t shape[TIDE_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[dim] = index->shape[0];
    TIDE_TRY(tide_prepare_out(out, t->dtype, t->ndim, shape, "index_select"));
    if (tide_numel(out) == 0)
        return TIDE_OK;
    tide_tensor iv = index_view(index, t->ndim, shape, dim), bv = base_view(t, shape, dim);
    gather_kernel(out, &iv, &bv, t->stride[dim] * (int64_t)tide_dtype_size(t->dtype));
    return TIDE_OK;
}

/* index has t's dim count and, but in dim, is no larger than limit. */
static tide_status check_index_shape(const tide_tensor *index, const tide_tensor *limit, int dim,
                                     const char *what, const char *op)
{
    char a[TIDE_SHAPE_BUF], b[TIDE_SHAPE_BUF];
    if (index->ndim != limit->ndim)
        return tide_fail("%s: index has %d dims, expected %d (the %s's)", op, index->ndim,
                         limit->ndim, what);
    for (int d = 0; d < index->ndim; d++)
        if (d != dim && index->shape[d] > limit->shape[d])
            return tide_fail("%s: index is %s, larger than the %s %s in dim %d", op,
                             tide_shape_str(index, a, sizeof a), what,
                             tide_shape_str(limit, b, sizeof b), d + 1);
    return TIDE_OK;
}

tide_status tide_gather(tide_tensor *out, const tide_tensor *t, int dim, const tide_tensor *index)
{
    TIDE_TRY(check_dim(t, dim, "gather"));
    TIDE_TRY(check_index_dtype(index, "gather"));
    TIDE_TRY(check_index_shape(index, t, dim, "input", "gather"));
    TIDE_TRY(check_range(index, t->shape[dim], dim, "gather"));
    TIDE_TRY(check_out_overlap(out, t, index, "gather"));
    TIDE_TRY(tide_prepare_out(out, t->dtype, index->ndim, index->shape, "gather"));
    if (tide_numel(out) == 0)
        return TIDE_OK;
    tide_tensor bv = base_view(t, index->shape, dim);
    gather_kernel(out, index, &bv, t->stride[dim] * (int64_t)tide_dtype_size(t->dtype));
    return TIDE_OK;
}

static tide_status check_inplace(const tide_tensor *self, const tide_tensor *index,
                                 const tide_tensor *src, const char *op)
{
    if (src->dtype != self->dtype)
        return tide_fail("%s: dtype mismatch, self is %s, src is %s", op,
                         tide_dtype_name(self->dtype), tide_dtype_name(src->dtype));
    if (tide_overlaps(self, src))
        return tide_fail("%s: src overlaps self (pass src:clone())", op);
    if (tide_overlaps(self, index))
        return tide_fail("%s: index overlaps self", op);
    return TIDE_OK;
}

tide_status tide_scatter_add(tide_tensor *self, int dim, const tide_tensor *index,
                             const tide_tensor *src)
{
    TIDE_TRY(check_dim(self, dim, "scatter_add_"));
    TIDE_TRY(check_index_dtype(index, "scatter_add_"));
    TIDE_TRY(check_index_shape(index, self, dim, "self", "scatter_add_"));
    TIDE_TRY(check_index_shape(index, src, -1, "src", "scatter_add_"));
    TIDE_TRY(check_inplace(self, index, src, "scatter_add_"));
    TIDE_TRY(check_range(index, self->shape[dim], dim, "scatter_add_"));
    if (tide_numel(index) == 0)
        return TIDE_OK;
    tide_tensor sv = *src;     /* src restricted to index's shape */
    memcpy(sv.shape, index->shape, sizeof sv.shape);
    tide_tensor bv = base_view(self, index->shape, dim);
    scatter_add_kernel(&sv, index, &bv, self->stride[dim] * (int64_t)tide_dtype_size(self->dtype));
    return TIDE_OK;
}

tide_status tide_index_add(tide_tensor *self, int dim, const tide_tensor *index,
                           const tide_tensor *src)
{
    char a[TIDE_SHAPE_BUF], b[TIDE_SHAPE_BUF];
    TIDE_TRY(check_dim(self, dim, "index_add_"));
    TIDE_TRY(check_index_dtype(index, "index_add_"));
    if (index->ndim != 1)
        return tide_fail("index_add_: expected a 1-D index, got %s",
                         tide_shape_str(index, a, sizeof a));
    int same = src->ndim == self->ndim && index->shape[0] == src->shape[dim];
    for (int d = 0; same && d < self->ndim; d++)
        same = d == dim || src->shape[d] == self->shape[d];
    if (!same)
        return tide_fail("index_add_: src is %s, expected self's shape %s with %lld (the index "
                         "size) in dim %d", tide_shape_str(src, a, sizeof a),
                         tide_shape_str(self, b, sizeof b), (long long)index->shape[0], dim + 1);
    TIDE_TRY(check_inplace(self, index, src, "index_add_"));
    TIDE_TRY(check_range(index, self->shape[dim], dim, "index_add_"));
    if (tide_numel(src) == 0)
        return TIDE_OK;
    tide_tensor iv = index_view(index, src->ndim, src->shape, dim);
    tide_tensor bv = base_view(self, src->shape, dim);
    scatter_add_kernel(src, &iv, &bv, self->stride[dim] * (int64_t)tide_dtype_size(self->dtype));
    return TIDE_OK;
}

/* ---------------------------------------------------------------- masked_select */

tide_status tide_masked_select(tide_tensor *out, const tide_tensor *t, const tide_tensor *mask)
{
    if (mask->dtype != TIDE_U8)
        return tide_fail("masked_select: expected a u8 mask, got %s", tide_dtype_name(mask->dtype));
    TIDE_TRY(check_out_overlap(out, t, mask, "masked_select"));
    int nd;
    int64_t shape[TIDE_MAX_DIMS];
    TIDE_TRY(tide_broadcast_shapes(t->ndim, t->shape, mask->ndim, mask->shape, &nd, shape,
                                   "masked_select"));
    tide_tensor et = TIDE_TENSOR_EMPTY, em = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_expand(&et, t, nd, shape));
    tide_status st = tide_expand(&em, mask, nd, shape);
    int64_t count = 0;
    tide_iter it;
    const tide_tensor *args[2] = {&et, &em};
    if (st == TIDE_OK && tide_numel(&et) > 0) {
        tide_iter_init(&it, 1, args + 1);
        while (tide_iter_next(&it))
            for (int64_t i = 0; i < it.inner; i++)
                count += *(const uint8_t *)(it.ptr[0] + i * it.inner_stride[0]) != 0;
    }
    if (st == TIDE_OK)
        st = tide_prepare_out(out, t->dtype, 1, &count, "masked_select");
    if (st == TIDE_OK && count > 0) {
        char *o = tide_data(out);
        int64_t os = out->stride[0] * (int64_t)tide_dtype_size(t->dtype);
        tide_iter_init(&it, 2, args);
#define MASKED_LOOP(T)                                                               \
    while (tide_iter_next(&it))                                                      \
        for (int64_t i = 0; i < it.inner; i++)                                       \
            if (*(const uint8_t *)(it.ptr[1] + i * it.inner_stride[1])) {            \
                *(T *)o = *(const T *)(it.ptr[0] + i * it.inner_stride[0]);          \
                o += os;                                                             \
            }                                                                        \
    break;
        switch (tide_dtype_size(t->dtype)) {
        case 1: MASKED_LOOP(uint8_t)
        case 4: MASKED_LOOP(uint32_t)
        default: MASKED_LOOP(uint64_t)
        }
#undef MASKED_LOOP
    }
    tide_tensor_release(&et);
    tide_tensor_release(&em);
    return st;
}

/* ---------------------------------------------------------------- bincount */

/* The 1-D t's elements as int64 or double, whatever its dtype: one generator for both. */
#define LOAD_AS(fname, DST)                                   \
    static void fname(DST *dst, const tide_tensor *t)         \
    {                                                         \
        int64_t n = t->shape[0], s = t->stride[0];            \
        switch (t->dtype) {                                   \
            TIDE_FOREACH_DTYPE(LOAD_CASE_##fname)             \
            TIDE_STORAGE_DTYPE_CASES break;                   \
        }                                                     \
    }
#define LOAD_CASE(E, name, T, DST)                            \
    case E: {                                                 \
        const T *p = tide_data(t);                            \
        for (int64_t i = 0; i < n; i++)                       \
            dst[i] = (DST)p[i * s];                           \
        break;                                                \
    }
#define LOAD_CASE_load_i64(E, name, T) LOAD_CASE(E, name, T, int64_t)
#define LOAD_CASE_load_f64(E, name, T) LOAD_CASE(E, name, T, double)
LOAD_AS(load_i64, int64_t)
LOAD_AS(load_f64, double)
#undef LOAD_AS
#undef LOAD_CASE
#undef LOAD_CASE_load_i64
#undef LOAD_CASE_load_f64

static tide_status check_bincount(const tide_tensor *out, const tide_tensor *t,
                                  const tide_tensor *weights, int64_t minlength)
{
    char a[TIDE_SHAPE_BUF], b[TIDE_SHAPE_BUF];
    if (t->ndim != 1)
        return tide_fail("bincount: expected a 1-D tensor, got %s", tide_shape_str(t, a, sizeof a));
    if (tide_dtype_is_float(t->dtype))
        return tide_fail("bincount: expected an integer tensor (i32, i64 or u8), got %s",
                         tide_dtype_name(t->dtype));
    if (minlength < 0)
        return tide_fail("bincount: minlength must be non-negative, got %lld",
                         (long long)minlength);
    if (weights && (weights->ndim != 1 || weights->shape[0] != t->shape[0]))
        return tide_fail("bincount: weights have shape %s, expected %s (the input's)",
                         tide_shape_str(weights, a, sizeof a), tide_shape_str(t, b, sizeof b));
    if (out->storage && (tide_overlaps(out, t) || (weights && tide_overlaps(out, weights))))
        return tide_fail("bincount: the output overlaps an input");
    return TIDE_OK;
}

/* The bin count: max(values) + 1, at least minlength; fails on a negative value. */
static tide_status count_bins(const int64_t *v, int64_t n, int64_t minlength, int64_t *nbins)
{
    *nbins = minlength;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < 0)
            return tide_fail("bincount: negative value %lld at position %lld", (long long)v[i],
                             (long long)i + 1);
        if (v[i] >= *nbins && !tide_add_fits(v[i], 1, nbins))
            return tide_fail("bincount: value %lld at position %lld needs more bins than fit in"
                             " 64 bits", (long long)v[i], (long long)i + 1);
    }
    return TIDE_OK;
}

/* Sums into acc (8-byte slots): counts, integer weights (wrapping) or double weights. w is
 * scratch for n weights. */
static void accumulate_bins(void *acc, const int64_t *v, int64_t n, const tide_tensor *weights,
                            void *w)
{
    if (weights && tide_dtype_is_float(weights->dtype)) {
        double *sum = acc, *wd = w;
        load_f64(wd, weights);
        for (int64_t i = 0; i < n; i++)
            sum[v[i]] += wd[i];
    } else if (weights) {
        uint64_t *sum = acc;
        int64_t *wi = w;
        load_i64(wi, weights);
        for (int64_t i = 0; i < n; i++)
            sum[v[i]] += (uint64_t)wi[i];
    } else {
        int64_t *cnt = acc;
        for (int64_t i = 0; i < n; i++)
            cnt[v[i]]++;
    }
}

tide_status tide_bincount(tide_tensor *out, const tide_tensor *t, const tide_tensor *weights,
                          int64_t minlength)
{
    TIDE_TRY(check_bincount(out, t, weights, minlength));
    int64_t n = t->shape[0], nbins = 0;
    int fw = weights && tide_dtype_is_float(weights->dtype);
    /* one buffer: the values, then the weights */
    void *buf;
    TIDE_TRY(tide_alloc_array(&buf, n, 2 * sizeof(int64_t), "bincount"));
    int64_t *v = buf;
    load_i64(v, t);
    int made = !out->storage;
    void *acc = NULL;
    tide_status st = count_bins(v, n, minlength, &nbins);
    if (st == TIDE_OK)
        st = tide_prepare_out(out, fw ? weights->dtype : TIDE_I64, 1, &nbins, "bincount");
    if (st == TIDE_OK && !(acc = calloc((size_t)(nbins > 0 ? nbins : 1), 8))) {
        if (made)
            tide_tensor_release(out);
        st = tide_fail("bincount: out of memory for %lld bins", (long long)nbins);
    }
    if (st == TIDE_OK) {
        accumulate_bins(acc, v, n, weights, v + n);
        /* into out through a wrapped view of the sums: tide_copy casts and follows out's
         * strides */
        tide_tensor src = TIDE_TENSOR_EMPTY;
        st = tide_tensor_wrap(&src, acc, fw ? TIDE_F64 : TIDE_I64, 1, &nbins, NULL, NULL);
        if (st == TIDE_OK)
            st = tide_copy(out, &src);
        tide_tensor_release(&src);
    }
    free(acc);
    free(v);
    return st;
}

/* ---------------------------------------------------------------- cumsum */

/* cumsum_<dtype>(in, out, outer, n, inner, acc): running sums over the middle of a contiguous
 * (outer, n, inner) block; acc is scratch for inner accumulators (8 bytes each) when inner > 1,
 * so the walk stays in memory order whichever dim is summed. OUT is the result type, ACC the
 * accumulator's, WIDE the type a value widens to first: a float sums in double into its own
 * type, an integer in uint64_t (overflow wraps instead of being undefined) into int64_t. */
#define CUMSUM_KERNEL(name, T, OUT, ACC, WIDE)                                               \
    static void cumsum_##name(const T *in, OUT *o, int64_t outer, int64_t n,                 \
                              int64_t inner, void *accbuf)                                   \
    {                                                                                        \
        for (int64_t q = 0; q < outer; q++, in += n * inner, o += n * inner) {               \
            if (inner == 1) {                                                                \
                ACC acc = 0;                                                                 \
                for (int64_t k = 0; k < n; k++) {                                            \
                    acc += (ACC)(WIDE)in[k];                                       \
                    o[k] = (OUT)acc;                                               \
                }                                                                            \
                continue;                                                                    \
            }                                                                                \
            ACC *acc = accbuf;                                                               \
            memset(acc, 0, (size_t)inner * sizeof *acc);                                     \
            for (int64_t k = 0; k < n; k++)                                                  \
                for (int64_t j = 0; j < inner; j++) {                                        \
                    acc[j] += (ACC)(WIDE)in[k * inner + j];                        \
                    o[k * inner + j] = (OUT)acc[j];                                \
                }                                                                            \
        }                                                                                    \
    }
#define CUMSUM_FLOAT(E, name, T) CUMSUM_KERNEL(name, T, T, double, double)
#define CUMSUM_INT(E, name, T) CUMSUM_KERNEL(name, T, int64_t, uint64_t, int64_t)
TIDE_FOREACH_FLOAT_DTYPE(CUMSUM_FLOAT)
TIDE_FOREACH_INT_DTYPE(CUMSUM_INT)
#undef CUMSUM_FLOAT
#undef CUMSUM_INT
#undef CUMSUM_KERNEL

tide_status tide_cumsum(tide_tensor *out, const tide_tensor *t, int dim)
{
    TIDE_TRY(check_dim(t, dim, "cumsum"));
    tide_dtype dt = tide_dtype_is_float(t->dtype) ? t->dtype : TIDE_I64;
    int given = out->storage != NULL;
    if (given && !tide_is_contiguous(out))
        return tide_fail("cumsum: the output must be contiguous");
    if (given && tide_overlaps(out, t) &&
        !(tide_data(out) == tide_data(t) && out->dtype == t->dtype && tide_is_contiguous(t)))
        return tide_fail("cumsum: the output overlaps the input");
    TIDE_TRY(tide_prepare_out(out, dt, t->ndim, t->shape, "cumsum"));
    int64_t outer = 1, n = t->shape[dim], inner = 1;
    for (int d = 0; d < dim; d++)
        outer *= t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++)
        inner *= t->shape[d];
    tide_tensor c = TIDE_TENSOR_EMPTY;
    void *accbuf = NULL;
    tide_status st = tide_contiguous(&c, t);
    if (st == TIDE_OK && inner > 1 && !(accbuf = calloc((size_t)inner, 8)))
        st = tide_fail("cumsum: out of memory");
    if (st != TIDE_OK) {
        tide_tensor_release(&c);
        if (!given)
            tide_tensor_release(out);
        return st;
    }
    if (tide_numel(t) > 0) {
        switch (t->dtype) {
#define CUMSUM_CASE(E, name, T) \
    case E: cumsum_##name(tide_data(&c), tide_data(out), outer, n, inner, accbuf); break;
            TIDE_FOREACH_DTYPE(CUMSUM_CASE)
            TIDE_STORAGE_DTYPE_CASES break;
#undef CUMSUM_CASE
        }
    }
    free(accbuf);
    tide_tensor_release(&c);
    return TIDE_OK;
}
