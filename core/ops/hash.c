/* hash.c — the hash kernels over key tensors and the bounded-load ring walk. */
#include "ops/hash.h"

#include <stdlib.h>

#include "tensor/iter.h"
#include "tensor/size.h"

typedef enum { HASH_BITS, HASH_UNIT, HASH_BUCKET } hash_mode;

/* One row of keys of type K into out of type O: the contiguous branch is the plain loop the
 * compiler vectorises, the other walks byte strides. */
#define HASH_ROW(O, K, EXPR)                                                                \
    do {                                                                                    \
        if (it.inner_stride[0] == (int64_t)sizeof(O) &&                                     \
            it.inner_stride[1] == (int64_t)sizeof(K)) {                                     \
            O *restrict o = (O *)it.ptr[0];                                                 \
            const K *restrict k = (const K *)it.ptr[1];                                     \
            for (int64_t i = 0; i < it.inner; i++) {                                        \
                uint64_t h = tide_hash64_mix((uint64_t)(int64_t)k[i], seed);                \
                o[i] = (O)(EXPR);                                                           \
            }                                                                               \
        } else {                                                                            \
            for (int64_t i = 0; i < it.inner; i++) {                                        \
                uint64_t h = tide_hash64_mix(                                               \
                    (uint64_t)(int64_t) * (const K *)(it.ptr[1] + i * it.inner_stride[1]), seed); \
                *(O *)(it.ptr[0] + i * it.inner_stride[0]) = (O)(EXPR);                     \
            }                                                                               \
        }                                                                                   \
    } while (0)

static void hash_rows(tide_tensor *out, const tide_tensor *keys, uint64_t seed, hash_mode mode,
                      uint64_t nbuckets)
{
    tide_iter it;
    const tide_tensor *args[2] = {out, keys};
    tide_iter_init(&it, 2, args);
    switch (keys->dtype) {
#define KEY_CASE(E, n, K)                                                                   \
    case E:                                                                                 \
        while (tide_iter_next(&it)) {                                                       \
            if (mode == HASH_BITS)                                                          \
                HASH_ROW(int64_t, K, h);                                                    \
            else if (mode == HASH_UNIT)                                                     \
                HASH_ROW(double, K, (double)(h >> 11) * 0x1.0p-53);                         \
            else                                                                            \
                HASH_ROW(int32_t, K, h % nbuckets);                                         \
        }                                                                                   \
        break;
        TIDE_FOREACH_DTYPE(KEY_CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef KEY_CASE
    }
}

static tide_status hash_op(tide_tensor *out, const tide_tensor *keys, uint64_t seed,
                           hash_mode mode, int64_t nbuckets, tide_dtype odt, const char *op)
{
    if (tide_dtype_is_float(keys->dtype))
        return tide_fail("%s: expected integer keys (i64, i32 or u8), got %s", op,
                         tide_dtype_name(keys->dtype));
    TIDE_TRY(tide_prepare_out(out, odt, keys->ndim, keys->shape, op));
    if (tide_overlaps(out, keys) && out->storage == keys->storage &&
        !(out->offset == keys->offset && out->dtype == keys->dtype))
        return tide_fail("%s: the output overlaps the keys", op);
    hash_rows(out, keys, seed, mode, (uint64_t)nbuckets);
    return TIDE_OK;
}

tide_status tide_hash64(tide_tensor *out, const tide_tensor *keys, uint64_t seed)
{
    return hash_op(out, keys, seed, HASH_BITS, 1, TIDE_I64, "hash64");
}

tide_status tide_hash_unit(tide_tensor *out, const tide_tensor *keys, uint64_t seed)
{
    return hash_op(out, keys, seed, HASH_UNIT, 1, TIDE_F64, "hash_unit");
}

tide_status tide_hash_bucket(tide_tensor *out, const tide_tensor *keys, uint64_t seed,
                             int64_t nbuckets)
{
    if (nbuckets < 1 || nbuckets > INT32_MAX)
        return tide_fail("hash_bucket: expected a bucket count in 1..%d, got %lld", INT32_MAX,
                         (long long)nbuckets);
    return hash_op(out, keys, seed, HASH_BUCKET, nbuckets, TIDE_I32, "hash_bucket");
}

/* ---------------------------------------------------------------- bounded-load ring walk */

tide_status tide_ring_bounded(tide_tensor *out, const tide_tensor *start, int64_t base,
                              const tide_tensor *owners, tide_tensor *quota)
{
    static const char op[] = "ring_bounded";
    char s1[TIDE_SHAPE_BUF], s2[TIDE_SHAPE_BUF], s3[TIDE_SHAPE_BUF];
    if (start->ndim != 1 || tide_dtype_is_float(start->dtype) || owners->ndim != 1 ||
        owners->dtype != TIDE_I32 || quota->ndim != 1 || quota->dtype != TIDE_I64 ||
        !tide_is_contiguous(quota))
        return tide_fail("%s: expected 1-D integer starts, 1-D i32 owners and a contiguous 1-D "
                         "i64 quota, got %s %s, %s %s, %s %s", op,
                         tide_shape_str(start, s1, sizeof s1), tide_dtype_name(start->dtype),
                         tide_shape_str(owners, s2, sizeof s2), tide_dtype_name(owners->dtype),
                         tide_shape_str(quota, s3, sizeof s3), tide_dtype_name(quota->dtype));
    int64_t n = start->shape[0], npoints = owners->shape[0], nranks = quota->shape[0];
    if (npoints < 1)
        return tide_fail("%s: the ring has no points", op);
    int64_t *q = tide_data(quota);
    const int32_t *own = tide_data(owners);
    int64_t ostride = owners->stride[0];
    /* checked before anything is written, so a failure leaves out empty and quota as it was */
    for (int64_t p = 0; p < npoints; p++) {
        int32_t r = own[p * ostride];
        if (r < 0 || r >= nranks)
            return tide_fail("%s: ring point %lld is owned by rank %d, expected 0..%lld", op,
                             (long long)p, (int)r, (long long)nranks - 1);
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t p = tide_get_i64(start, &i);
        if (p < base || p > npoints + base)
            return tide_fail("%s: start %lld of key %lld is outside %lld..%lld", op,
                             (long long)p, (long long)i + 1, (long long)base,
                             (long long)(npoints + base));
    }
    /* only ranks that own a point can take keys: their quotas must hold every key, and then
     * the walk below always finds a free owner within one turn of the ring */
    unsigned char *on_ring = calloc((size_t)nranks, 1);
    if (!on_ring)
        return tide_fail("%s: out of memory for %lld ranks", op, (long long)nranks);
    for (int64_t p = 0; p < npoints; p++)
        on_ring[own[p * ostride]] = 1;
    int64_t total = 0;
    for (int64_t r = 0; r < nranks; r++)   /* quotas are any i64: the sum saturates */
        if (on_ring[r] && q[r] > 0 && !tide_add_fits(total, q[r], &total))
            total = INT64_MAX;
    free(on_ring);
    if (total < n)
        return tide_fail("%s: the quotas of the ranks on the ring hold %lld keys, %lld keys to "
                         "place", op, (long long)total, (long long)n);
    TIDE_TRY(tide_prepare_out(out, TIDE_I32, 1, &n, op));
    int32_t *o = tide_data(out);
    for (int64_t i = 0; i < n; i++) {
        int64_t p = tide_get_i64(start, &i) - base;
        if (p == npoints)
            p = 0;
        int32_t r;
        while (r = own[p * ostride], q[r] <= 0)
            if (++p == npoints)
                p = 0;
        q[r]--;
        o[i * out->stride[0]] = r;
    }
    return TIDE_OK;
}
