/* test_blas.c — matmul, addmm, addmv and dot against a naive triple loop, on every layout a
 * view can have; transposed and row-strided views must reach BLAS without a copy (checked
 * with the core's allocation counter). */
#include <math.h>
#include <stdlib.h>

#include "linalg/blas.h"
#include "check.h"
#include "tensor/tensor.h"

static unsigned rng = 12345;

static double urand(void)
{
    rng = rng * 1103515245u + 12345u;
    return (double)((rng >> 8) & 0xffff) / 65536.0 - 0.5;
}

static tide_tensor random_tensor(tide_dtype dt, int ndim, const int64_t *shape)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&t, dt, ndim, shape));
    int64_t n = tide_numel(&t);
    for (int64_t i = 0; i < n; i++) {
        if (dt == TIDE_F32)
            ((float *)tide_data(&t))[i] = (float)urand();
        else
            ((double *)tide_data(&t))[i] = urand();
    }
    return t;
}

static tide_tensor matrix(tide_dtype dt, int64_t r, int64_t c)
{
    int64_t shape[2] = {r, c};
    return random_tensor(dt, 2, shape);
}

/* The element at (i, j) of a 2-D tensor, (i) of a 1-D one. */
static double at2(const tide_tensor *t, int64_t i, int64_t j)
{
    int64_t idx[2] = {i, j};
    return tide_get_f64(t, idx);
}

/* Is out (M x N) == a (M x K) @ b (K x N), checked with a naive loop in double? */
static int matches(const tide_tensor *out, const tide_tensor *a, const tide_tensor *b, double tol)
{
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    if (out->ndim != 2 || out->shape[0] != M || out->shape[1] != N)
        return 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += at2(a, i, k) * at2(b, k, j);
            if (fabs(s - at2(out, i, j)) > tol) {
                fprintf(stderr, "mismatch at (%lld, %lld): %g vs %g\n", (long long)i,
                        (long long)j, at2(out, i, j), s);
                return 0;
            }
        }
    return 1;
}

/* out = a @ b into a preallocated out; returns whether the core allocated anything. */
static int matmul_allocates(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{
    tide_memory_reset_peak();
    size_t before = tide_memory_peak();
    CHECK_OK(tide_matmul(out, a, b));
    return tide_memory_peak() != before;
}

static void test_layouts(tide_dtype dt)
{
    double tol = dt == TIDE_F32 ? 1e-4 : 1e-12;
    /* a is M x K as 5x7, b is K x N as 7x6 */
    tide_tensor a = matrix(dt, 5, 7), b = matrix(dt, 7, 6);
    tide_tensor at_src = matrix(dt, 7, 5), bt_src = matrix(dt, 6, 7);
    tide_tensor at = TIDE_TENSOR_EMPTY, bt = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_transpose(&at, &at_src, 0, 1));       /* 5x7, column-major */
    CHECK_OK(tide_transpose(&bt, &bt_src, 0, 1));       /* 7x6, column-major */
    /* row-major with a leading dimension larger than the row: a block of a wider matrix */
    tide_tensor wide = matrix(dt, 5, 11), an = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_narrow(&an, &wide, 1, 2, 7));
    /* column-major with a leading dimension: the transpose of a block */
    tide_tensor tall = matrix(dt, 9, 6), tb = TIDE_TENSOR_EMPTY, bnt = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_narrow(&tb, &tall, 0, 1, 6));         /* 6x6 rows 2..7 of 9x6 */
    tide_tensor tall2 = matrix(dt, 6, 10), tb2 = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_narrow(&tb2, &tall2, 1, 0, 7));       /* 6x7 with ld 10 */
    CHECK_OK(tide_transpose(&bnt, &tb2, 0, 1));         /* 7x6 column-major, ld 10 */

    const tide_tensor *lefts[3] = {&a, &at, &an};
    const tide_tensor *rights[3] = {&b, &bt, &bnt};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            tide_tensor out = TIDE_TENSOR_EMPTY;
            int64_t os[2] = {5, 6};
            CHECK_OK(tide_tensor_alloc(&out, dt, 2, os));
            CHECK(!matmul_allocates(&out, lefts[i], rights[j]));
            CHECK(matches(&out, lefts[i], rights[j], tol));
            tide_tensor_release(&out);
        }

    /* a layout BLAS cannot take (every second column) is copied, and still right */
    int64_t s3[3] = {5, 7, 2};
    tide_tensor cube = random_tensor(dt, 3, s3), strided = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_select(&strided, &cube, 2, 1));       /* 5x7 with strides 14, 2 */
    tide_tensor out = TIDE_TENSOR_EMPTY;
    int64_t os[2] = {5, 6};
    CHECK_OK(tide_tensor_alloc(&out, dt, 2, os));
    CHECK(matmul_allocates(&out, &strided, &bt));       /* the counter does see copies */
    CHECK(matches(&out, &strided, &bt, tol));
    tide_tensor_release(&out);

    tide_tensor *all[] = {&a, &b, &at_src, &bt_src, &at, &bt, &wide, &an, &tall, &tb,
                          &tall2, &tb2, &bnt, &cube, &strided};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        tide_tensor_release(all[k]);
}

static void test_vectors(void)
{
    tide_tensor m = matrix(TIDE_F64, 4, 3), mt = TIDE_TENSOR_EMPTY, col = TIDE_TENSOR_EMPTY;
    tide_tensor big = matrix(TIDE_F64, 3, 5);
    CHECK_OK(tide_transpose(&mt, &m, 0, 1));            /* 3x4 column-major */
    CHECK_OK(tide_select(&col, &big, 1, 2));            /* a 3-vector with stride 5 */

    tide_tensor y = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_matmul(&y, &m, &col));                /* 4x3 @ 3 -> 4 (gemv) */
    CHECK(y.ndim == 1 && y.shape[0] == 4);
    for (int64_t i = 0; i < 4; i++) {
        double s = 0;
        for (int64_t k = 0; k < 3; k++)
            s += at2(&m, i, k) * at2(&big, k, 2);
        CHECK(fabs(((double *)tide_data(&y))[i] - s) < 1e-12);
    }
    tide_tensor_release(&y);

    CHECK_OK(tide_matmul(&y, &col, &mt));               /* 3 @ 3x4 -> 4 (gemv transposed) */
    CHECK(y.ndim == 1 && y.shape[0] == 4);
    for (int64_t j = 0; j < 4; j++) {
        double s = 0;
        for (int64_t k = 0; k < 3; k++)
            s += at2(&big, k, 2) * at2(&mt, k, j);
        CHECK(fabs(((double *)tide_data(&y))[j] - s) < 1e-12);
    }
    tide_tensor_release(&y);

    /* y = 2*y + 3*(mt^T... ): addmv into a strided y */
    tide_tensor ybuf = matrix(TIDE_F64, 4, 2), ycol = TIDE_TENSOR_EMPTY, ycopy = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_select(&ycol, &ybuf, 1, 1));
    CHECK_OK(tide_clone(&ycopy, &ycol));
    CHECK_OK(tide_addmv(&ycol, &m, &col, 2.0, 3.0));
    for (int64_t i = 0; i < 4; i++) {
        double s = 0;
        for (int64_t k = 0; k < 3; k++)
            s += at2(&m, i, k) * at2(&big, k, 2);
        double want = 2.0 * ((double *)tide_data(&ycopy))[i] + 3.0 * s;
        CHECK(fabs(at2(&ybuf, i, 1) - want) < 1e-12);
    }

    /* f32 dot products accumulate in double */
    int64_t s3[1] = {3};
    tide_tensor u = TIDE_TENSOR_EMPTY, ones = TIDE_TENSOR_EMPTY, d0 = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&u, TIDE_F32, 1, s3));
    CHECK_OK(tide_tensor_alloc(&ones, TIDE_F32, 1, s3));
    float *ud = tide_data(&u);
    ud[0] = 1e8f; ud[1] = 1.0f; ud[2] = -1e8f;
    tide_fill(&ones, 1);
    double r = 0;
    CHECK_OK(tide_dot(&r, &u, &ones));
    CHECK(r == 1.0);
    CHECK_OK(tide_matmul(&d0, &u, &ones));              /* 1-D @ 1-D: a 0-dim tensor */
    CHECK(d0.ndim == 0 && tide_get_f64(&d0, NULL) == 1.0);
    tide_tensor_release(&d0);
    /* an expanded vector (stride 0) is copied before BLAS sees it */
    int64_t one[1] = {1};
    tide_tensor two = TIDE_TENSOR_EMPTY, e = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&two, TIDE_F32, 1, one));
    tide_fill(&two, 2);
    CHECK_OK(tide_expand(&e, &two, 1, s3));
    CHECK_OK(tide_dot(&r, &u, &e));
    CHECK(r == 2.0);

    tide_tensor *all[] = {&m, &mt, &col, &big, &ybuf, &ycol, &ycopy, &u, &ones, &two, &e};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        tide_tensor_release(all[k]);
}

static void test_batched(void)
{
    int64_t sa[3] = {3, 4, 5}, sb[3] = {3, 5, 2}, sbt[3] = {3, 2, 5};
    tide_tensor a = random_tensor(TIDE_F64, 3, sa), b = random_tensor(TIDE_F64, 3, sb);
    tide_tensor bsrc = random_tensor(TIDE_F64, 3, sbt), btv = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_transpose(&btv, &bsrc, 1, 2));        /* 3x5x2, each batch column-major */
    tide_tensor m2 = matrix(TIDE_F64, 5, 2);
    const tide_tensor *rights[3] = {&b, &btv, &m2};
    for (int r = 0; r < 3; r++) {
        tide_tensor out = TIDE_TENSOR_EMPTY;
        int64_t os[3] = {3, 4, 2};
        CHECK_OK(tide_tensor_alloc(&out, TIDE_F64, 3, os));
        CHECK(!matmul_allocates(&out, &a, rights[r]));
        for (int64_t i = 0; i < 3; i++) {
            tide_tensor oi = TIDE_TENSOR_EMPTY, ai = TIDE_TENSOR_EMPTY, bi = TIDE_TENSOR_EMPTY;
            CHECK_OK(tide_select(&oi, &out, 0, i));
            CHECK_OK(tide_select(&ai, &a, 0, i));
            if (rights[r]->ndim == 3)
                CHECK_OK(tide_select(&bi, rights[r], 0, i));
            else
                tide_tensor_share(&bi, rights[r]);
            CHECK(matches(&oi, &ai, &bi, 1e-12));
            tide_tensor_release(&oi);
            tide_tensor_release(&ai);
            tide_tensor_release(&bi);
        }
        tide_tensor_release(&out);
    }
    /* 2-D @ 3-D broadcasts the left matrix over the batch */
    tide_tensor left = matrix(TIDE_F64, 4, 5), out = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_matmul(&out, &left, &b));
    CHECK(out.ndim == 3 && out.shape[0] == 3 && out.shape[1] == 4 && out.shape[2] == 2);
    for (int64_t i = 0; i < 3; i++) {
        tide_tensor oi = TIDE_TENSOR_EMPTY, bi = TIDE_TENSOR_EMPTY;
        CHECK_OK(tide_select(&oi, &out, 0, i));
        CHECK_OK(tide_select(&bi, &b, 0, i));
        CHECK(matches(&oi, &left, &bi, 1e-12));
        tide_tensor_release(&oi);
        tide_tensor_release(&bi);
    }
    tide_tensor_release(&out);

    tide_tensor *all[] = {&a, &b, &bsrc, &btv, &m2, &left};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        tide_tensor_release(all[k]);
}

static void test_addmm(void)
{
    tide_tensor a = matrix(TIDE_F32, 4, 3), bsrc = matrix(TIDE_F32, 5, 3), b = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_transpose(&b, &bsrc, 0, 1));          /* 3x5 column-major */
    /* C contiguous, and C the transpose of a contiguous 5x4 */
    tide_tensor c = matrix(TIDE_F32, 4, 5), csrc = matrix(TIDE_F32, 5, 4), ct = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_transpose(&ct, &csrc, 0, 1));
    tide_tensor *cs[2] = {&c, &ct};
    for (int k = 0; k < 2; k++) {
        tide_tensor before = TIDE_TENSOR_EMPTY, prod = TIDE_TENSOR_EMPTY;
        CHECK_OK(tide_clone(&before, cs[k]));
        tide_memory_reset_peak();
        size_t peak = tide_memory_peak();
        CHECK_OK(tide_addmm(cs[k], &a, &b, 0.5, -2.0));
        CHECK(tide_memory_peak() == peak);              /* no temporaries */
        CHECK_OK(tide_matmul(&prod, &a, &b));
        for (int64_t i = 0; i < 4; i++)
            for (int64_t j = 0; j < 5; j++)
                CHECK(fabs(at2(cs[k], i, j) - (0.5 * at2(&before, i, j) - 2.0 * at2(&prod, i, j)))
                      < 1e-5);
        tide_tensor_release(&before);
        tide_tensor_release(&prod);
    }
    /* beta = 0 ignores what C held, NaN included */
    tide_fill(&c, NAN);
    CHECK_OK(tide_addmm(&c, &a, &b, 0.0, 1.0));
    CHECK(!isnan(at2(&c, 0, 0)));

    /* errors */
    tide_tensor wide = matrix(TIDE_F32, 4, 10), cn = TIDE_TENSOR_EMPTY, sel = TIDE_TENSOR_EMPTY;
    int64_t s3[3] = {4, 5, 2};
    tide_tensor cube = random_tensor(TIDE_F32, 3, s3);
    CHECK_OK(tide_select(&sel, &cube, 2, 0));           /* 4x5 with strides 10, 2 */
    CHECK_FAILS(tide_addmm(&sel, &a, &b, 1, 1),
                "addmm_: the output must be contiguous (or the transpose of a contiguous matrix)");
    CHECK_OK(tide_narrow(&cn, &wide, 1, 0, 5));         /* row-major with ld 10 is fine */
    CHECK_OK(tide_addmm(&cn, &a, &b, 0, 1));
    tide_tensor ad = matrix(TIDE_F64, 4, 3), ai = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_addmm(&c, &ad, &b, 1, 1), "addmm_: dtype mismatch, f64 @ f32");
    CHECK_FAILS(tide_addmm(&c, &a, &a, 1, 1), "addmm_: size mismatch, 4x3 @ 4x3");
    CHECK_FAILS(tide_addmm(&ct, &a, &a, 1, 1), "addmm_: size mismatch, 4x3 @ 4x3");
    tide_tensor c33 = matrix(TIDE_F32, 3, 3);
    CHECK_FAILS(tide_addmm(&c33, &a, &b, 1, 1),
                "addmm_: output is 3x3, expected 4x5 for 4x3 @ 3x5");
    tide_tensor c45d = matrix(TIDE_F64, 4, 5);
    CHECK_FAILS(tide_addmm(&c45d, &a, &b, 1, 1), "addmm_: dtype mismatch, output f64, inputs f32");
    tide_tensor a_in_c = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_narrow(&a_in_c, &wide, 1, 5, 3));
    CHECK_FAILS(tide_addmm(&cube, &a, &b, 1, 1),
                "addmm_: expected 2-D matrices, got 4x5x2 = 4x3 @ 3x5");
    CHECK_FAILS(tide_addmm(&cn, &a_in_c, &b, 1, 1), "addmm_: the output overlaps an input");
    CHECK_OK(tide_cast(&ai, &a, TIDE_I32));
    tide_tensor bi = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_cast(&bi, &b, TIDE_I32));
    CHECK_FAILS(tide_matmul(&(tide_tensor)TIDE_TENSOR_EMPTY, &ai, &bi),
                "matmul: expected f32 or f64 tensors, got i32");

    tide_tensor *all[] = {&a, &bsrc, &b, &c, &csrc, &ct, &wide, &cn, &sel, &cube, &ad, &ai, &bi,
                          &c33, &c45d, &a_in_c};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        tide_tensor_release(all[k]);
}

static void test_errors_and_edges(void)
{
    tide_tensor a = matrix(TIDE_F32, 3, 4), b = matrix(TIDE_F32, 5, 6), out = TIDE_TENSOR_EMPTY;
    tide_tensor bd = matrix(TIDE_F64, 4, 2);
    CHECK_FAILS(tide_matmul(&out, &a, &b), "matmul: size mismatch, 3x4 @ 5x6");
    CHECK_FAILS(tide_matmul(&out, &a, &bd), "matmul: dtype mismatch, f32 @ f64");
    CHECK(out.storage == NULL);
    int64_t s1[3] = {2, 3, 4}, s2[3] = {5, 4, 2};
    tide_tensor x = random_tensor(TIDE_F32, 3, s1), y = random_tensor(TIDE_F32, 3, s2);
    CHECK_FAILS(tide_matmul(&out, &x, &y),
                "matmul: batch dims of 2x3x4 and 5x4x2 cannot be broadcast");
    tide_tensor s = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&s, TIDE_F32, 0, NULL));
    CHECK_FAILS(tide_matmul(&out, &s, &a),
                "matmul: expected tensors of at least 1 dim, got scalar @ 3x4");
    CHECK(out.storage == NULL);

    /* K = 0: a sum of nothing is zero */
    tide_tensor e1 = matrix(TIDE_F64, 3, 0), e2 = matrix(TIDE_F64, 0, 2);
    CHECK_OK(tide_matmul(&out, &e1, &e2));
    CHECK(out.shape[0] == 3 && out.shape[1] == 2 && at2(&out, 2, 1) == 0.0);
    tide_tensor_release(&out);
    /* the output must not overlap the inputs */
    tide_tensor sq = matrix(TIDE_F64, 3, 3);
    CHECK_FAILS(tide_matmul(&sq, &sq, &sq), "matmul: the output overlaps an input");
    tide_tensor sqt = TIDE_TENSOR_EMPTY, other = matrix(TIDE_F64, 3, 3);
    CHECK_OK(tide_transpose(&sqt, &other, 0, 1));
    CHECK_FAILS(tide_matmul(&sqt, &sq, &sq), "matmul: the output must be contiguous");
    tide_tensor_release(&sqt);
    tide_tensor_release(&other);

    tide_tensor *all[] = {&a, &b, &bd, &x, &y, &s, &e1, &e2, &sq};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        tide_tensor_release(all[k]);
}

int main(void)
{
    test_layouts(TIDE_F32);
    test_layouts(TIDE_F64);
    test_vectors();
    test_batched();
    test_addmm();
    test_errors_and_edges();
    return check_report("test_blas");
}
