/* test_random.c — Philox against its published answers, stream independence of slices,
 * distribution moments, integer draws and permutations, ranges, and their errors. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "ops/random.h"
#include "tensor/tensor.h"

static void test_philox_known_answers(void)
{
    /* Random123's kat_vectors, "philox4x32 10" lines: counter, key -> output */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        tide_philox4x32(kat[v], kat[v] + 4, out);
        for (int i = 0; i < 4; i++)
            CHECK(out[i] == kat[v][6 + i]);
    }
    /* tide_random_bits is that block for counter (c, 0) and the key split in two words */
    uint64_t key = 0x299f31d0a4093822u, bits[2];
    tide_random_bits(key, 0x85a308d3243f6a88u, bits);
    uint32_t ctr[4] = {0x243f6a88, 0x85a308d3, 0, 0}, k[2] = {0xa4093822, 0x299f31d0}, out[4];
    tide_philox4x32(ctr, k, out);
    CHECK(bits[0] == ((uint64_t)out[1] << 32 | out[0]));
    CHECK(bits[1] == ((uint64_t)out[3] << 32 | out[2]));
}

static void test_keys(void)
{
    CHECK(tide_random_key(1, 0) == tide_random_key(1, 0));
    CHECK(tide_random_key(1, 0) != tide_random_key(1, 1));
    CHECK(tide_random_key(1, 0) != tide_random_key(2, 0));
    CHECK(tide_random_key(0, 1) != tide_random_key(1, 0));
    tide_rng g;
    tide_rng_seed(&g, 7, 3);
    CHECK(g.key == tide_random_key(7, 3) && g.counter == 0);
}

static tide_tensor alloc(tide_dtype dt, int ndim, int64_t a, int64_t b)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    int64_t shape[2] = {a, b};
    CHECK_OK(tide_tensor_alloc(&t, dt, ndim, shape));
    return t;
}

static int same_values(const tide_tensor *a, const tide_tensor *b)
{
    int64_t n = tide_numel(a);
    if (n != tide_numel(b) || a->dtype != b->dtype)
        return 0;
    tide_tensor ca = TIDE_TENSOR_EMPTY, cb = TIDE_TENSOR_EMPTY;
    tide_clone(&ca, a);
    tide_clone(&cb, b);
    int same = memcmp(tide_data(&ca), tide_data(&cb), (size_t)n * tide_dtype_size(a->dtype)) == 0;
    tide_tensor_release(&ca);
    tide_tensor_release(&cb);
    return same;
}

/* Rows [r0, r1) of an N x d fill, generated alone, equal those rows of the whole fill. */
static void test_slices_reproduce(void)
{
    const int64_t N = 37, d = 5, c0 = 1000;
    uint64_t key = tide_random_key(42, 0);
    for (int kind = 0; kind < 3; kind++) {
        tide_dtype dt = kind == 2 ? TIDE_I64 : TIDE_F64;
        tide_tensor full = alloc(dt, 2, N, d);
        for (int64_t r0 = 0; r0 < N; r0 += 9) {
            int64_t r1 = r0 + 9 < N ? r0 + 9 : N;
            tide_tensor part = alloc(dt, 2, r1 - r0, d), rows = TIDE_TENSOR_EMPTY;
            if (kind == 0) {
                CHECK_OK(tide_random_uniform(&full, key, c0, -1, 3));
                CHECK_OK(tide_random_uniform(&part, key, c0 + r0 * d, -1, 3));
            } else if (kind == 1) {
                CHECK_OK(tide_random_normal(&full, key, c0, 2, 0.5));
                CHECK_OK(tide_random_normal(&part, key, c0 + r0 * d, 2, 0.5));
            } else {
                CHECK_OK(tide_random_int(&full, key, c0, -50, 50));
                CHECK_OK(tide_random_int(&part, key, c0 + r0 * d, -50, 50));
            }
            CHECK_OK(tide_narrow(&rows, &full, 0, r0, r1 - r0));
            CHECK(same_values(&rows, &part));
            tide_tensor_release(&rows);
            tide_tensor_release(&part);
        }
        tide_tensor_release(&full);
    }
    /* a strided target is filled in its logical (row-major) order */
    tide_tensor a = alloc(TIDE_F32, 2, 4, 6), b = alloc(TIDE_F32, 2, 6, 4), bt = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_transpose(&bt, &b, 0, 1));                /* a 4x6 view, not contiguous */
    CHECK_OK(tide_random_normal(&a, key, 5, 0, 1));
    CHECK_OK(tide_random_normal(&bt, key, 5, 0, 1));
    CHECK(same_values(&a, &bt));
    tide_tensor_release(&bt);
    tide_tensor_release(&a);
    tide_tensor_release(&b);
}

static void test_generator_advances(void)
{
    tide_rng g, h;
    tide_rng_seed(&g, 9, 0);
    h = g;
    tide_tensor whole = alloc(TIDE_F64, 1, 20, 0), first = alloc(TIDE_F64, 1, 8, 0),
                rest = alloc(TIDE_F64, 1, 12, 0), a = TIDE_TENSOR_EMPTY, b = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_rng_normal(&g, &whole, 0, 1));
    CHECK(g.counter == 20);
    CHECK_OK(tide_rng_normal(&h, &first, 0, 1));
    CHECK_OK(tide_rng_normal(&h, &rest, 0, 1));
    CHECK(h.counter == 20);
    CHECK_OK(tide_narrow(&a, &whole, 0, 0, 8));
    CHECK_OK(tide_narrow(&b, &whole, 0, 8, 12));
    CHECK(same_values(&a, &first) && same_values(&b, &rest));
    /* a different stream gives different values */
    tide_rng other;
    tide_rng_seed(&other, 9, 1);
    CHECK_OK(tide_rng_normal(&other, &first, 0, 1));
    CHECK(!same_values(&a, &first));
    tide_tensor perm = alloc(TIDE_I64, 1, 10, 0);
    uint64_t before = other.counter;
    CHECK_OK(tide_rng_perm(&other, &perm, 1));
    CHECK(other.counter == before + 10);
    tide_tensor ints = alloc(TIDE_I32, 1, 3, 0);
    CHECK_OK(tide_rng_int(&other, &ints, 0, 2));
    CHECK(other.counter == before + 13);
    CHECK_OK(tide_rng_uniform(&other, &whole, 0, 1));
    CHECK(other.counter == before + 33);
    tide_tensor_release(&ints);
    tide_tensor_release(&perm);
    tide_tensor_release(&a);
    tide_tensor_release(&b);
    tide_tensor_release(&whole);
    tide_tensor_release(&first);
    tide_tensor_release(&rest);
}

static void moments(const tide_tensor *t, double *mean, double *var, double *lo, double *hi)
{
    int64_t n = tide_numel(t);
    double s = 0, s2 = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double v = tide_get_f64(t, &i);
        s += v;
        s2 += v * v;
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
    *mean = s / (double)n;
    *var = s2 / (double)n - *mean * *mean;
}

static void test_distributions(void)
{
    const int64_t n = 100000;
    uint64_t key = tide_random_key(2024, 0);
    double mean, var, lo, hi;
    for (int f = 0; f < 2; f++) {
        tide_tensor u = alloc(f ? TIDE_F32 : TIDE_F64, 1, n, 0);
        CHECK_OK(tide_random_uniform(&u, key, 0, 0, 1));
        moments(&u, &mean, &var, &lo, &hi);
        /* the standard error of the mean is 0.29/sqrt(n) = 0.0009; allow 5 of them */
        CHECK(fabs(mean - 0.5) < 0.0046);
        CHECK(fabs(var - 1.0 / 12) < 0.0015);
        CHECK(lo >= 0 && hi < 1);
        CHECK_OK(tide_random_uniform(&u, key, 0, -3, 5));
        moments(&u, &mean, &var, &lo, &hi);
        CHECK(fabs(mean - 1) < 0.037 && fabs(var - 64.0 / 12) < 0.1 && lo >= -3 && hi < 5);

        CHECK_OK(tide_random_normal(&u, key, 0, 0, 1));
        moments(&u, &mean, &var, &lo, &hi);
        CHECK(fabs(mean) < 0.016);
        CHECK(fabs(var - 1) < 0.023);
        int64_t within = 0;
        for (int64_t i = 0; i < n; i++)
            within += fabs(tide_get_f64(&u, &i)) < 1;
        CHECK(fabs((double)within / (double)n - 0.682689) < 0.0075);
        CHECK_OK(tide_random_normal(&u, key, 0, 10, 2));
        moments(&u, &mean, &var, &lo, &hi);
        CHECK(fabs(mean - 10) < 0.032 && fabs(var - 4) < 0.09);
        tide_tensor_release(&u);
    }
    /* f32 uniforms are the f64 ones cut to 24 bits */
    tide_tensor d = alloc(TIDE_F64, 1, 1000, 0), s = alloc(TIDE_F32, 1, 1000, 0);
    CHECK_OK(tide_random_uniform(&d, key, 77, 0, 1));
    CHECK_OK(tide_random_uniform(&s, key, 77, 0, 1));
    int cut = 1;
    for (int64_t i = 0; i < 1000; i++)
        cut = cut && ldexp(floor(ldexp(tide_get_f64(&d, &i), 24)), -24) == tide_get_f64(&s, &i);
    CHECK(cut);
    tide_tensor_release(&d);
    tide_tensor_release(&s);
}

static void test_integers(void)
{
    uint64_t key = tide_random_key(5, 0);
    tide_tensor t = alloc(TIDE_I64, 1, 60000, 0);
    CHECK_OK(tide_random_int(&t, key, 0, -2, 4));      /* six values, high exclusive */
    int64_t counts[6] = {0};
    int in_range = 1;
    for (int64_t i = 0; i < 60000; i++) {
        int64_t v = tide_get_i64(&t, &i);
        in_range = in_range && v >= -2 && v < 4;
        if (v >= -2 && v < 4)
            counts[v + 2]++;
    }
    CHECK(in_range);
    for (int k = 0; k < 6; k++)   /* expected 10000 each, sd 91 */
        CHECK(counts[k] > 9550 && counts[k] < 10450);
    /* the whole int64 range works without overflow */
    CHECK_OK(tide_random_int(&t, key, 0, INT64_MIN, INT64_MAX));
    int64_t neg = 0;
    for (int64_t i = 0; i < 60000; i++)
        neg += tide_get_i64(&t, &i) < 0;
    CHECK(neg > 29000 && neg < 31000);
    tide_tensor_release(&t);

    tide_tensor b = alloc(TIDE_U8, 1, 1000, 0);
    CHECK_OK(tide_random_int(&b, key, 0, 0, 256));
    CHECK_FAILS(tide_random_int(&b, key, 0, 0, 300), "randint: values 0..299 do not fit in u8");
    CHECK_FAILS(tide_random_int(&b, key, 0, 3, 3), "randint: expected low < high, got low = 3, high = 3");
    tide_tensor_release(&b);

    /* a permutation: every value once */
    tide_tensor p = alloc(TIDE_I32, 1, 1000, 0);
    CHECK_OK(tide_random_perm(&p, key, 0, 1));
    char seen[1001] = {0};
    int ok = 1, moved = 0;
    for (int64_t i = 0; i < 1000; i++) {
        int64_t v = tide_get_i64(&p, &i);
        ok = ok && v >= 1 && v <= 1000 && !seen[v];
        if (v >= 1 && v <= 1000)
            seen[v] = 1;
        moved += v != i + 1;
    }
    CHECK(ok && moved > 900);
    tide_tensor p2 = alloc(TIDE_I32, 1, 1000, 0);
    CHECK_OK(tide_random_perm(&p2, key, 0, 1));
    CHECK(same_values(&p, &p2));
    CHECK_OK(tide_random_perm(&p2, key, 1000, 1));
    CHECK(!same_values(&p, &p2));
    tide_tensor_release(&p2);
    tide_tensor_release(&p);
    tide_tensor small = alloc(TIDE_U8, 1, 300, 0), two = alloc(TIDE_I64, 2, 2, 2);
    CHECK_FAILS(tide_random_perm(&small, key, 0, 1), "randperm: values 1..300 do not fit in u8");
    CHECK_FAILS(tide_random_perm(&two, key, 0, 1), "randperm: expected a 1-D tensor, got 2x2");
    CHECK_FAILS(tide_random_uniform(&two, key, 0, 0, 1),
                "uniform: expected a float tensor (f32 or f64), got i64");
    CHECK_FAILS(tide_random_normal(&two, key, 0, 0, 1),
                "normal: expected a float tensor (f32 or f64), got i64");
    tide_tensor f = alloc(TIDE_F32, 1, 3, 0);
    CHECK_FAILS(tide_random_uniform(&f, key, 0, 1, 0), "uniform: expected finite a <= b, got a = 1, b = 0");
    CHECK_FAILS(tide_random_normal(&f, key, 0, 0, -1),
                "normal: expected a finite mean and std >= 0, got mean = 0, std = -1");
    tide_tensor_release(&f);
    CHECK_FAILS(tide_random_normal(&f, key, 0, 0, 1),
                "normal: expected an allocated tensor, got an empty one");
    CHECK_FAILS(tide_random_perm(&f, key, 0, 1),
                "randperm: expected an allocated tensor, got an empty one");
    tide_tensor_release(&small);
    tide_tensor_release(&two);
}

static void test_ranges(void)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_arange_int(&t, TIDE_I64, 5, -2, -2));      /* 5 3 1 -1 */
    CHECK(t.ndim == 1 && t.shape[0] == 4);
    for (int64_t i = 0; i < 4; i++)
        CHECK(tide_get_i64(&t, &i) == 5 - 2 * i);
    tide_tensor_release(&t);
    CHECK_OK(tide_arange_int(&t, TIDE_I64, INT64_MIN, INT64_MAX, INT64_MAX));
    CHECK(t.shape[0] == 3);
    int64_t i2 = 2;
    CHECK(tide_get_i64(&t, &i2) == INT64_MAX - 1);
    tide_tensor_release(&t);
    CHECK_OK(tide_arange_int(&t, TIDE_F32, 3, 3, 1));
    CHECK(t.shape[0] == 0);
    tide_tensor_release(&t);
    CHECK_OK(tide_arange(&t, TIDE_F64, 0, 1, 0.25));
    CHECK(t.shape[0] == 4);
    int64_t i3 = 3;
    CHECK(tide_get_f64(&t, &i3) == 0.75);
    tide_tensor_release(&t);
    CHECK_FAILS(tide_arange_int(&t, TIDE_I64, 0, 5, 0), "arange: step must be nonzero");
    CHECK_FAILS(tide_arange_int(&t, TIDE_I64, 5, 0, 1),
                "arange: step 1 goes away from stop (start 5, stop 0)");
    CHECK_FAILS(tide_arange(&t, TIDE_F32, 0, 1, -0.5),
                "arange: step -0.5 goes away from stop (start 0, stop 1)");
    CHECK_FAILS(tide_arange_int(&t, TIDE_U8, 0, 300, 1), "arange: values 0..299 do not fit in u8");
    CHECK_FAILS(tide_arange(&t, TIDE_F32, 0, INFINITY, 1), "arange: start, stop and step must be finite");
    CHECK(t.storage == NULL);

    CHECK_OK(tide_linspace(&t, TIDE_F64, 0, 0.3, 7));
    int64_t last = 6, mid = 3;
    CHECK(tide_get_f64(&t, &last) == 0.3);
    CHECK(fabs(tide_get_f64(&t, &mid) - 0.15) < 1e-15);
    tide_tensor_release(&t);
    CHECK_OK(tide_linspace(&t, TIDE_F32, 2, 9, 1));
    int64_t zero = 0;
    CHECK(t.shape[0] == 1 && tide_get_f64(&t, &zero) == 2);
    tide_tensor_release(&t);
    CHECK_FAILS(tide_linspace(&t, TIDE_F32, 0, 1, -1), "linspace: expected n >= 0 points, got -1");

    CHECK_OK(tide_eye(&t, TIDE_I32, 2, 3));
    int ok = t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3;
    for (int64_t r = 0; r < 2; r++)
        for (int64_t c = 0; c < 3; c++) {
            int64_t idx[2] = {r, c};
            ok = ok && tide_get_i64(&t, idx) == (r == c);
        }
    CHECK(ok);
    /* into an existing out of the wrong shape */
    CHECK_FAILS(tide_eye(&t, TIDE_I32, 3, 3), "eye: output has shape 2x3, expected 3x3");
    tide_tensor_release(&t);
    CHECK_FAILS(tide_eye(&t, TIDE_I32, -1, 3), "eye: expected sizes >= 0, got -1x3");
}

int main(void)
{
    test_philox_known_answers();
    test_keys();
    test_slices_reproduce();
    test_generator_advances();
    test_distributions();
    test_integers();
    test_ranges();
    return check_report("test_random");
}
