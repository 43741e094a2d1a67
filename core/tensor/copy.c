/* copy.c — moving elements between tensors: copy with broadcast and cast, clone, fill. */
#include "tensor/half.h"
#include "tensor/iter.h"

#include <string.h>

/* One strided row of src (type S) into dst (type D). */
#define COPY_ROW(D, S)                                                                  \
    do {                                                                                \
        if (it.inner_stride[0] == (int64_t)sizeof(D) &&                                 \
            it.inner_stride[1] == (int64_t)sizeof(S)) {                                 \
            D *restrict d = (D *)it.ptr[0];                                             \
            const S *restrict s = (const S *)it.ptr[1];                                 \
            for (int64_t i = 0; i < it.inner; i++)                                      \
                d[i] = (D)s[i];                                                         \
        } else {                                                                        \
            for (int64_t i = 0; i < it.inner; i++)                                      \
                *(D *)(it.ptr[0] + i * it.inner_stride[0]) =                            \
                    (D) * (const S *)(it.ptr[1] + i * it.inner_stride[1]);              \
        }                                                                               \
    } while (0)

#define SRC_CASE(E, n, S) case E: while (tide_iter_next(&it)) COPY_ROW(D, S); break;

/* One element of any dtype as a double, and back. A double holds every f16, bf16, f32 and i32
 * exactly, so going through one loses nothing the destination could have kept. */
static double load(tide_dtype dt, const char *p)
{
    switch (dt) {
#define LOAD_CASE(E, n, T) case E: return (double)*(const T *)p;
        TIDE_FOREACH_DTYPE(LOAD_CASE)
#undef LOAD_CASE
    case TIDE_F16: case TIDE_BF16: return tide_half_to_f64(dt, *(const uint16_t *)p);
    }
    return 0;
}

static void store(tide_dtype dt, char *p, double v)
{
    switch (dt) {
#define STORE_CASE(E, n, T) case E: *(T *)p = (T)v; break;
        TIDE_FOREACH_DTYPE(STORE_CASE)
#undef STORE_CASE
    case TIDE_F16: case TIDE_BF16: *(uint16_t *)p = tide_half_from_f64(dt, v); break;
    }
}

/* A copy with a storage dtype on either side: contiguous rows from or to f32 take the bulk
 * converters (compressed gradients live on them), the rest goes element by element. */
static void copy_rows_storage(tide_tensor *dst, const tide_tensor *src)
{
    tide_iter it;
    const tide_tensor *args[2] = {dst, src};
    tide_iter_init(&it, 2, args);
    int64_t ds = (int64_t)tide_dtype_size(dst->dtype), ss = (int64_t)tide_dtype_size(src->dtype);
    while (tide_iter_next(&it)) {
        int dense = it.inner_stride[0] == ds && it.inner_stride[1] == ss;
        if (dense && src->dtype == TIDE_F32 && tide_dtype_is_storage(dst->dtype))
            tide_half_from_f32(dst->dtype, (uint16_t *)it.ptr[0], (const float *)it.ptr[1],
                               it.inner);
        else if (dense && dst->dtype == TIDE_F32 && tide_dtype_is_storage(src->dtype))
            tide_half_to_f32(src->dtype, (float *)it.ptr[0], (const uint16_t *)it.ptr[1],
                             it.inner);
        else
            for (int64_t i = 0; i < it.inner; i++)
                store(dst->dtype, it.ptr[0] + i * it.inner_stride[0],
                      load(src->dtype, it.ptr[1] + i * it.inner_stride[1]));
    }
}

static void copy_rows(tide_tensor *dst, const tide_tensor *src)
{
    if (tide_dtype_is_storage(dst->dtype) || tide_dtype_is_storage(src->dtype)) {
        copy_rows_storage(dst, src);
        return;
    }
    tide_iter it;
    const tide_tensor *args[2] = {dst, src};
    tide_iter_init(&it, 2, args);
    switch (dst->dtype) {
#define DST_CASE(E, n, T)                              \
    case E: {                                          \
        typedef T D;                                   \
        switch (src->dtype) {                          \
            TIDE_FOREACH_DTYPE2(SRC_CASE)              \
        default: break; /* storage: copy_rows_storage */ \
        }                                              \
        break;                                         \
    }
        TIDE_FOREACH_DTYPE(DST_CASE)
#undef DST_CASE
    default: break;     /* storage dtypes went to copy_rows_storage */
    }
}

tide_status tide_copy(tide_tensor *dst, const tide_tensor *src)
{
    tide_tensor b = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_expand(&b, src, dst->ndim, dst->shape));
    if (tide_overlaps(dst, &b) && !(dst->offset == b.offset && dst->dtype == b.dtype &&
                                    memcmp(dst->stride, b.stride, sizeof(int64_t) * dst->ndim) == 0)) {
        /* source and destination overlap differently: go through a temporary */
        tide_tensor tmp = TIDE_TENSOR_EMPTY;
        tide_status st = tide_clone(&tmp, &b);
        if (st == TIDE_OK)
            copy_rows(dst, &tmp);
        tide_tensor_release(&tmp);
        tide_tensor_release(&b);
        return st;
    }
    copy_rows(dst, &b);
    tide_tensor_release(&b);
    return TIDE_OK;
}

tide_status tide_clone(tide_tensor *out, const tide_tensor *src)
{
    return tide_cast(out, src, src->dtype);
}

tide_status tide_cast(tide_tensor *out, const tide_tensor *src, tide_dtype dtype)
{
    TIDE_TRY(tide_prepare_out(out, dtype, src->ndim, src->shape, "copy"));
    if (src->dtype == dtype && tide_is_contiguous(src) && tide_is_contiguous(out))
        memcpy(tide_data(out), tide_data(src), (size_t)tide_numel(src) * tide_dtype_size(dtype));
    else
        copy_rows(out, src);
    return TIDE_OK;
}

tide_status tide_contiguous(tide_tensor *out, const tide_tensor *src)
{
    if (tide_is_contiguous(src)) {
        tide_tensor_share(out, src);
        return TIDE_OK;
    }
    return tide_clone(out, src);
}

tide_status tide_fill(tide_tensor *t, double value)
{
    tide_iter it;
    const tide_tensor *args[1] = {t};
    tide_iter_init(&it, 1, args);
    switch (t->dtype) {
#define FILL_CASE(E, n, T)                                              \
    case E: {                                                           \
        T v = (T)value;                                                 \
        while (tide_iter_next(&it))                                     \
            for (int64_t i = 0; i < it.inner; i++)                      \
                *(T *)(it.ptr[0] + i * it.inner_stride[0]) = v;         \
        break;                                                          \
    }
        TIDE_FOREACH_DTYPE(FILL_CASE)
    case TIDE_F16: case TIDE_BF16: {
        uint16_t v = tide_half_from_f64(t->dtype, value);
        while (tide_iter_next(&it))
            for (int64_t i = 0; i < it.inner; i++)
                *(uint16_t *)(it.ptr[0] + i * it.inner_stride[0]) = v;
        break;
    }
#undef FILL_CASE
    }
    return TIDE_OK;
}
