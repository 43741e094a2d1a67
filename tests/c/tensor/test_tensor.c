/* test_tensor.c — the core's tensors directly: allocation, views, copies, errors. */
#include <stdlib.h>

#include "check.h"
#include "tensor/size.h"
#include "tensor/tensor.h"

static void test_alloc_and_views(void)
{
    tide_tensor t = TIDE_TENSOR_EMPTY, v = TIDE_TENSOR_EMPTY, tr = TIDE_TENSOR_EMPTY;
    int64_t shape[2] = {3, 4};
    CHECK_OK(tide_tensor_alloc(&t, TIDE_F32, 2, shape));
    CHECK(((uintptr_t)t.storage->data % TIDE_ALIGN) == 0);
    float *d = tide_data(&t);
    for (int i = 0; i < 12; i++)
        d[i] = (float)i;
    CHECK_OK(tide_narrow(&v, &t, 1, 1, 2));            /* columns 2..3 */
    CHECK(v.shape[0] == 3 && v.shape[1] == 2 && !tide_is_contiguous(&v));
    CHECK(t.storage->refcount == 2);
    int64_t idx[2] = {2, 1};
    CHECK(tide_get_f64(&v, idx) == 10.0);
    CHECK_OK(tide_transpose(&tr, &t, 0, 1));
    int64_t idx2[2] = {3, 2};
    CHECK(tide_get_f64(&tr, idx2) == 11.0);
    tide_tensor c = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_clone(&c, &tr));
    CHECK(tide_is_contiguous(&c));
    CHECK(((float *)tide_data(&c))[1] == 4.0f);        /* tr[0][1] == t[1][0] */
    tide_tensor_release(&c);
    tide_tensor_release(&v);
    tide_tensor_release(&tr);
    CHECK(t.storage->refcount == 1);
    tide_tensor_release(&t);
    tide_tensor_release(&t);                            /* idempotent */
    CHECK(t.storage == NULL);
}

static void test_view_rules(void)
{
    tide_tensor t = TIDE_TENSOR_EMPTY, tr = TIDE_TENSOR_EMPTY, v = TIDE_TENSOR_EMPTY;
    int64_t shape[3] = {2, 3, 4};
    CHECK_OK(tide_tensor_alloc(&t, TIDE_F64, 3, shape));
    int64_t flat[1] = {-1};
    CHECK_OK(tide_view(&v, &t, 1, flat));
    CHECK(v.shape[0] == 24);
    tide_tensor_release(&v);
    CHECK_OK(tide_transpose(&tr, &t, 1, 2));           /* 2x4x3, not contiguous */
    CHECK_FAILS(tide_view(&v, &tr, 1, flat), "without a copy");
    int64_t split[4] = {2, 2, 2, 3};                    /* splitting dim 2 is fine */
    CHECK_OK(tide_view(&v, &tr, 4, split));
    tide_tensor_release(&v);
    CHECK_OK(tide_reshape(&v, &tr, 1, flat));           /* reshape copies */
    CHECK(v.storage != t.storage);
    tide_tensor_release(&v);
    int64_t bad[2] = {5, 5};
    CHECK_FAILS(tide_view(&v, &t, 2, bad), "cannot reshape 2x3x4 (24 elements) into 5x5");
    CHECK(v.storage == NULL);
    tide_tensor_release(&tr);
    tide_tensor_release(&t);
}

static void test_broadcast_copy_and_cast(void)
{
    tide_tensor row = TIDE_TENSOR_EMPTY, m = TIDE_TENSOR_EMPTY;
    int64_t rs[1] = {3}, ms[2] = {2, 3};
    CHECK_OK(tide_tensor_alloc(&row, TIDE_I32, 1, rs));
    for (int i = 0; i < 3; i++)
        ((int32_t *)tide_data(&row))[i] = i + 1;
    CHECK_OK(tide_tensor_zeros(&m, TIDE_F64, 2, ms));
    CHECK_OK(tide_copy(&m, &row));
    const double *md = tide_data(&m);
    CHECK(md[0] == 1 && md[2] == 3 && md[3] == 1 && md[5] == 3);
    int64_t bs[2] = {2, 2};
    tide_tensor bad = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&bad, TIDE_F64, 2, bs));
    CHECK_FAILS(tide_copy(&bad, &row), "cannot expand 3 to 2x2");
    int nout;
    int64_t out[TIDE_MAX_DIMS];
    CHECK_FAILS(tide_broadcast_shapes(1, rs, 2, bs, &nout, out, "add"),
                "add: shapes 3 and 2x2 cannot be broadcast");
    tide_tensor_release(&bad);
    tide_tensor_release(&row);
    tide_tensor_release(&m);
}

static void test_memory_accounting(void)
{
    size_t before = tide_memory_live();
    tide_tensor t = TIDE_TENSOR_EMPTY;
    int64_t shape[1] = {1000};
    CHECK_OK(tide_tensor_alloc(&t, TIDE_F64, 1, shape));
    CHECK(tide_memory_live() >= before + 8000);
    CHECK(tide_memory_peak() >= tide_memory_live());
    tide_tensor_release(&t);
    CHECK(tide_memory_live() == before);
    int64_t neg[1] = {-2};
    CHECK_FAILS(tide_tensor_alloc(&t, TIDE_F32, 1, neg), "negative size -2");
}

static void test_big_block_reuse(void)
{
    tide_tensor a = TIDE_TENSOR_EMPTY, b = TIDE_TENSOR_EMPTY;
    int64_t shape[1] = {4 << 20};                      /* 16 MiB of f32 */
    size_t before = tide_memory_live();
    CHECK_OK(tide_tensor_alloc(&a, TIDE_F32, 1, shape));
    void *first = tide_data(&a);
    tide_tensor_release(&a);
    CHECK(tide_memory_live() == before);               /* cached bytes are not live */
    CHECK_OK(tide_tensor_alloc(&b, TIDE_F32, 1, shape));
    CHECK(tide_data(&b) == first);                     /* the freed block came back */
    tide_tensor_release(&b);
    tide_memory_release_cache();
}

/* ---------------------------------------------------------------- sizes (issue 12) */

/* The checked helpers against 128-bit arithmetic, on the edges where 64 bits wrap. */
static void test_checked_arithmetic(void)
{
    static const int64_t v[] = {0, 1, 2, 3, -1, -2, 1 << 20, (int64_t)1 << 31, (int64_t)1 << 32,
                                (int64_t)1 << 62, ((int64_t)1 << 62) + 1, INT64_MAX, INT64_MAX - 1,
                                INT64_MIN, INT64_MIN + 1, 3037000499, 3037000500};
    int n = (int)(sizeof v / sizeof v[0]), bad = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            __int128 m = (__int128)v[i] * v[j], a = (__int128)v[i] + v[j];
            int64_t got;
            int mfits = m >= INT64_MIN && m <= INT64_MAX, afits = a >= INT64_MIN && a <= INT64_MAX;
            bad += tide_mul_fits(v[i], v[j], &got) != mfits || (mfits && got != (int64_t)m);
            bad += tide_add_fits(v[i], v[j], &got) != afits || (afits && got != (int64_t)a);
            /* [start, start + length) within [0, 1000): the range check, in 128 bits */
            int inside = v[i] >= 0 && v[j] >= 0 && (__int128)v[i] + v[j] <= 1000;
            bad += tide_range_ok(v[i], v[j], 1000) != inside;
        }
    CHECK(bad == 0);
}

static void test_shape_sizes(void)
{
    int64_t numel = -1;
    int64_t big[1] = {(int64_t)1 << 62};
    CHECK_FAILS(tide_shape_check(1, big, TIDE_F32, "zeros", &numel),
                "zeros: shape 4611686018427387904 of f32 is too large");
    int64_t fits[1] = {(int64_t)1 << 60};                  /* 2^62 bytes: a number, if no memory */
    CHECK_OK(tide_shape_check(1, fits, TIDE_F32, "zeros", &numel));
    CHECK(numel == (int64_t)1 << 60);
    /* a zero dim empties the tensor but not the strides of the dims before it */
    int64_t zero[3] = {0, (int64_t)1 << 62, (int64_t)1 << 62};
    CHECK_FAILS(tide_shape_check(3, zero, TIDE_U8, "load", &numel),
                "load: shape 0x4611686018427387904x4611686018427387904 of u8 is too large");
    int64_t zero_ok[3] = {0, 1 << 28, 1 << 28};
    CHECK_OK(tide_shape_check(3, zero_ok, TIDE_F64, "load", &numel));
    CHECK(numel == 0);
    size_t bytes = 0;
    CHECK_FAILS(tide_array_bytes((int64_t)1 << 61, 8, "sort", &bytes),
                "sort: 2305843009213693952 elements of 8 bytes do not fit in 64 bits");
    CHECK_FAILS(tide_array_bytes(-3, 8, "sort", &bytes), "sort: negative element count -3");
    CHECK_OK(tide_array_bytes(1000, 8, "sort", &bytes));
    CHECK(bytes == 8000);
    void *p = &bytes;
    CHECK_FAILS(tide_alloc_array(&p, (int64_t)1 << 40, 8, "sort"),
                "sort: out of memory allocating 8796093022208 bytes (1099511627776 elements of 8");
    CHECK(p == NULL);
    CHECK_OK(tide_alloc_array(&p, 0, 8, "sort"));          /* nothing asked: still a block */
    CHECK(p != NULL);
    free(p);
}

/* empty/zeros/eye/... of sizes whose byte count wrapped got a 64-byte block (issue 12, 1). */
static void test_alloc_sizes(void)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    size_t before = tide_memory_live();
    int64_t big[1] = {(int64_t)1 << 62};
    CHECK_FAILS(tide_tensor_alloc(&t, TIDE_F32, 1, big),
                "tensor: shape 4611686018427387904 of f32 is too large");
    CHECK_FAILS(tide_tensor_zeros(&t, TIDE_U8, 1, big),      /* 2^62 bytes: a number at least */
                "tensor: out of memory allocating 4611686018427387904 bytes for a "
                "4611686018427387904 u8 tensor");
    int64_t eye[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
    CHECK_FAILS(tide_tensor_alloc(&t, TIDE_F32, 2, eye),
                "tensor: shape 2147483648x2147483648 of f32 is too large");
    int64_t x = 7;
    CHECK_FAILS(tide_tensor_wrap(&t, &x, TIDE_I64, 1, big, NULL, NULL),
                "tensor: shape 4611686018427387904 of i64 is too large");
    /* representable, but more than the machine has: out of memory, naming the size */
    int64_t huge[1] = {(int64_t)1 << 40};
    CHECK_FAILS(tide_tensor_zeros(&t, TIDE_F32, 1, huge),
                "tensor: out of memory allocating 4398046511104 bytes for a 1099511627776 f32"
                " tensor");
    CHECK(t.storage == NULL && tide_memory_live() == before);
}

/* Views whose sizes overflow: narrow's start + length, expand and view's element counts. */
static void test_view_sizes(void)
{
    tide_tensor t = TIDE_TENSOR_EMPTY, v = TIDE_TENSOR_EMPTY, c = TIDE_TENSOR_EMPTY;
    int64_t three = 3;
    CHECK_OK(tide_tensor_alloc(&t, TIDE_F32, 1, &three));
    for (int i = 0; i < 3; i++)
        ((float *)tide_data(&t))[i] = (float)(i + 1);
    CHECK_FAILS(tide_narrow(&v, &t, 0, 1, INT64_MAX),
                "narrow: range [2, 1 + 9223372036854775807] out of bounds for size 3 in dim 1");
    CHECK_FAILS(tide_narrow(&v, &t, 0, 4, 0), "narrow: range [5, 4] out of bounds");
    CHECK_OK(tide_narrow(&v, &t, 0, 3, 0));                /* empty, at the end: allowed */
    CHECK(v.shape[0] == 0);
    tide_tensor_release(&v);
    CHECK_OK(tide_narrow(&v, &t, 0, 1, 2));
    CHECK(tide_get_f64(&v, (int64_t[]){1}) == 3.0);
    tide_tensor_release(&v);

    /* expanding one element to 2^62 is a view (stride 0); copying it is too large */
    int64_t big[1] = {(int64_t)1 << 62}, one = 1;
    tide_tensor e = TIDE_TENSOR_EMPTY, s = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_view(&s, &t, 1, &one), "view: cannot reshape 3 (3 elements) into 1 (1");
    CHECK_OK(tide_narrow(&s, &t, 0, 0, 1));
    CHECK_OK(tide_expand(&e, &s, 1, big));
    CHECK(e.shape[0] == (int64_t)1 << 62 && e.stride[0] == 0 && tide_numel(&e) == big[0]);
    CHECK_FAILS(tide_contiguous(&c, &e), "tensor: shape 4611686018427387904 of f32 is too large");
    CHECK(c.storage == NULL);
    int64_t square[2] = {(int64_t)1 << 62, (int64_t)1 << 62};
    CHECK_FAILS(tide_expand(&v, &s, 2, square), "expand: cannot expand 1 to "
                "4611686018427387904x4611686018427387904: more than 2^63-1 elements");
    tide_tensor_release(&e);

    /* view: 2^32 x 2^32 wrapped to 0 elements, the count of an empty tensor */
    tide_tensor none = TIDE_TENSOR_EMPTY;
    int64_t zero = 0;
    CHECK_OK(tide_tensor_alloc(&none, TIDE_F32, 1, &zero));
    int64_t wraps[2] = {(int64_t)1 << 32, (int64_t)1 << 32};
    CHECK_FAILS(tide_view(&v, &none, 2, wraps), "view: shape 4294967296x4294967296 of f32 is"
                " too large");
    int64_t zero3[3] = {0, (int64_t)1 << 62, (int64_t)1 << 62};
    CHECK_FAILS(tide_reshape(&v, &none, 3, zero3), "reshape: shape 0x4611686018427387904x");
    int64_t infer[3] = {-1, (int64_t)1 << 62, (int64_t)1 << 62};
    CHECK_FAILS(tide_view(&v, &none, 3, infer), "view: shape 1x4611686018427387904x");
    int64_t zero_ok[2] = {0, 1 << 20};
    CHECK_OK(tide_view(&v, &none, 2, zero_ok));
    CHECK(v.shape[1] == 1 << 20 && v.stride[0] == 1 << 20);
    tide_tensor_release(&v);
    tide_tensor_release(&none);
    tide_tensor_release(&s);
    tide_tensor_release(&t);
}

int main(void)
{
    test_alloc_and_views();
    test_view_rules();
    test_broadcast_copy_and_cast();
    test_memory_accounting();
    test_big_block_reuse();
    test_checked_arithmetic();
    test_shape_sizes();
    test_alloc_sizes();
    test_view_sizes();
    return check_report("test_tensor");
}
