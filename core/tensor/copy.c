/* copy.c — moving elements between tensors: copy with broadcast and cast, clone, fill. */
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

static void copy_rows(tide_tensor *dst, const tide_tensor *src)
{
    tide_iter it;
    const tide_tensor *args[2] = {dst, src};
    tide_iter_init(&it, 2, args);
    switch (dst->dtype) {
#define DST_CASE(E, n, T)                              \
    case E: {                                          \
        typedef T D;                                   \
        switch (src->dtype) { TIDE_FOREACH_DTYPE2(SRC_CASE) } \
        break;                                         \
    }
        TIDE_FOREACH_DTYPE(DST_CASE)
#undef DST_CASE
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
#undef FILL_CASE
    }
    return TIDE_OK;
}
