/* test_tensor.c — the core's tensors directly: allocation, views, copies, errors. */
#include "check.h"
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

int main(void)
{
    test_alloc_and_views();
    test_view_rules();
    test_broadcast_copy_and_cast();
    test_memory_accounting();
    test_big_block_reuse();
    return check_report("test_tensor");
}
