/* test_hash.c — the hash kernels against splitmix64 written as the generator it comes from
 * (and its published first outputs), and the bounded-load ring walk against a naive walk. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "ops/hash.h"
#include "tensors.h"

/* splitmix64 as Vigna's reference generator: the state advances by the golden gamma, then
 * the output is mixed. hash(key, seed) is the output for the state key + seed·gamma. */
static uint64_t splitmix_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t ref_hash(int64_t key, uint64_t seed)
{
    uint64_t state = (uint64_t)key + seed * 0x9E3779B97F4A7C15u;
    return splitmix_next(&state);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_published_values(void)
{
    /* the first two outputs of splitmix64 seeded with 0, as published with the generator */
    CHECK(tide_hash64_mix(0, 0) == 0xE220A8397B1DCDAFu);
    CHECK(tide_hash64_mix(0, 1) == 0x6E789E6AA1B965F4u);
}

static void test_hash64_every_dtype_and_layout(void)
{
    const double keys[6] = {0, 1, -1, -5, 127, 1 << 30};
    tide_tensor k64 = tt_vec(TIDE_I64, 6, keys), k32 = tt_vec(TIDE_I32, 6, keys);
    tide_tensor h64 = TIDE_TENSOR_EMPTY, h32 = TIDE_TENSOR_EMPTY;
    for (uint64_t seed = 0; seed < 3; seed++) {
        CHECK_OK(tide_hash64(&h64, &k64, seed));
        CHECK_OK(tide_hash64(&h32, &k32, seed));
        CHECK(h64.dtype == TIDE_I64 && h64.shape[0] == 6);
        for (int64_t i = 0; i < 6; i++) {
            CHECK((uint64_t)tt_iat(&h64, i) == ref_hash((int64_t)keys[i], seed));
            CHECK(tt_iat(&h32, i) == tt_iat(&h64, i));   /* i32 keys read as signed 64-bit */
        }
        TT_RELEASE(&h64, &h32);
    }
    /* u8 keys are their values 0..255 */
    tide_tensor k8 = tt_vec(TIDE_U8, 3, (double[]){0, 200, 255});
    CHECK_OK(tide_hash64(&h64, &k8, 9));
    CHECK((uint64_t)tt_iat(&h64, 1) == ref_hash(200, 9));
    CHECK((uint64_t)tt_iat(&h64, 2) == ref_hash(255, 9));
    tide_tensor_release(&h64);

    /* a strided view hashes as its contiguous copy: the 3x4 matrix's column 2 is 2, 6, 10 */
    tide_tensor m = tt_mat(TIDE_I64, 3, 4, NULL), col = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_select(&col, &m, 1, 2));
    CHECK_OK(tide_hash64(&h64, &col, 4));
    for (int64_t i = 0; i < 3; i++)
        CHECK((uint64_t)tt_iat(&h64, i) == ref_hash(4 * i + 2, 4));
    TT_RELEASE(&h64, &col, &m, &k8, &k64, &k32);
}

static void test_bijection_and_balance(void)
{
    enum { N = 100000 };
    int64_t n = N;
    tide_tensor keys = TIDE_TENSOR_EMPTY, h = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&keys, TIDE_I64, 1, &n));
    int64_t *k = tide_data(&keys);
    for (int64_t i = 0; i < n; i++)
        k[i] = i - N / 2;                   /* consecutive keys, negatives too */
    CHECK_OK(tide_hash64(&h, &keys, 17));
    uint64_t *v = malloc(sizeof *v * N);
    long ones[64] = {0};
    for (int64_t i = 0; i < n; i++) {
        v[i] = (uint64_t)((int64_t *)tide_data(&h))[i];
        for (int b = 0; b < 64; b++)
            ones[b] += (v[i] >> b) & 1;
    }
    qsort(v, N, sizeof *v, cmp_u64);
    int distinct = 1;
    for (int i = 1; i < N; i++)
        distinct &= v[i] != v[i - 1];
    CHECK(distinct);                        /* a bijection never collides */
    /* every output bit is set for about half the keys: 50% +- 1% is > 6 standard deviations */
    int balanced = 1;
    for (int b = 0; b < 64; b++)
        balanced &= ones[b] > N * 49 / 100 && ones[b] < N * 51 / 100;
    CHECK(balanced);
    free(v);
    TT_RELEASE(&h, &keys);
}

static void test_unit_and_bucket(void)
{
    const double keys[5] = {-3, 0, 8, 1000, 123456789};
    tide_tensor k = tt_vec(TIDE_I64, 5, keys), u = TIDE_TENSOR_EMPTY, b = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_hash_unit(&u, &k, 5));
    CHECK_OK(tide_hash_bucket(&b, &k, 5, 7));
    CHECK(u.dtype == TIDE_F64 && b.dtype == TIDE_I32);
    for (int64_t i = 0; i < 5; i++) {
        uint64_t h = ref_hash((int64_t)keys[i], 5);
        double want = (double)(h >> 11) / 9007199254740992.0;   /* top 53 bits / 2^53 */
        CHECK(tt_at(&u, i) == want && want >= 0 && want < 1);
        CHECK(tt_iat(&b, i) == (int64_t)(h % 7));
    }
    tide_tensor_release(&b);
    CHECK_OK(tide_hash_bucket(&b, &k, 5, 1));          /* one bucket holds everything */
    CHECK(tt_iat(&b, 0) == 0 && tt_iat(&b, 4) == 0);
    TT_RELEASE(&b, &u, &k);
}

static void test_hash_errors(void)
{
    tide_tensor f = tt_vec(TIDE_F32, 2, NULL), k = tt_vec(TIDE_I64, 4, NULL);
    tide_tensor out = TIDE_TENSOR_EMPTY, part = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_hash64(&out, &f, 0), "hash64: expected integer keys (i64, i32 or u8), got f32");
    CHECK_FAILS(tide_hash_unit(&out, &f, 0), "hash_unit: expected integer keys");
    CHECK_FAILS(tide_hash_bucket(&out, &k, 0, 0),
                "hash_bucket: expected a bucket count in 1..2147483647, got 0");
    /* the output may be the keys themselves (in place), not a shifted view of them */
    CHECK_OK(tide_narrow(&part, &k, 0, 1, 3));
    tide_tensor head = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_narrow(&head, &k, 0, 0, 3));
    CHECK_FAILS(tide_hash64(&head, &part, 0), "hash64: the output overlaps the keys");
    tide_tensor same = TIDE_TENSOR_EMPTY;
    tide_tensor_share(&same, &k);
    CHECK_OK(tide_hash64(&same, &k, 2));
    CHECK((uint64_t)tt_iat(&k, 3) == ref_hash(3, 2));
    TT_RELEASE(&same, &head, &part, &k, &f);
}

/* The walk restated: from the key's point, the first point clockwise whose owner has quota. */
static void naive_ring(const int64_t *start, int64_t n, const int32_t *owner, int64_t npoints,
                       int64_t *quota, int32_t *out)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < npoints; j++) {
            int32_t r = owner[(start[i] + j) % npoints];
            if (quota[r] > 0) {
                quota[r]--;
                out[i] = r;
                break;
            }
        }
}

static void test_ring_bounded(void)
{
    enum { NP = 50, NK = 300, NR = 4 };
    uint64_t rng = 42;
    double own[NP], st[NK];
    int32_t own_i[NP];
    int64_t st_i[NK];
    for (int p = 0; p < NP; p++)
        own_i[p] = (int32_t)(tt_rand(&rng) * NR), own[p] = own_i[p];
    for (int i = 0; i < NK; i++)
        st_i[i] = (int64_t)(tt_rand(&rng) * (NP + 1)), st[i] = (double)st_i[i] + 1;  /* 1-based */
    /* a tight bound: 80 keys each, 320 places for 300 keys */
    int64_t q_ref[NR] = {80, 80, 80, 80};
    int32_t want[NK];
    naive_ring(st_i, NK, own_i, NP, q_ref, want);   /* position NP wraps to point 0 */
    tide_tensor start = tt_vec(TIDE_I64, NK, st), owners = tt_vec(TIDE_I32, NP, own);
    tide_tensor quota = tt_vec(TIDE_I64, NR, (double[]){80, 80, 80, 80}), out = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_ring_bounded(&out, &start, 1, &owners, &quota));
    int same = 1;
    for (int i = 0; i < NK; i++)
        same &= tt_iat(&out, i) == want[i];
    CHECK(same);
    int64_t left = 0;
    for (int r = 0; r < NR; r++) {
        CHECK(tt_iat(&quota, r) == q_ref[r]);
        CHECK(tt_iat(&quota, r) >= 0);
        left += tt_iat(&quota, r);
    }
    CHECK(left == 4 * 80 - NK);
    tide_tensor_release(&out);

    /* errors leave the quota as it was */
    tide_tensor bad_owner = tt_vec(TIDE_I32, 3, (double[]){0, 4, 1});
    tide_tensor q2 = tt_vec(TIDE_I64, NR, (double[]){1, 1, 1, 1});
    CHECK_FAILS(tide_ring_bounded(&out, &start, 1, &bad_owner, &q2),
                "ring_bounded: ring point 1 is owned by rank 4, expected 0..3");
    tide_tensor far = tt_vec(TIDE_I64, 2, (double[]){1, NP + 2});
    CHECK_FAILS(tide_ring_bounded(&out, &far, 1, &owners, &q2),
                "ring_bounded: start 52 of key 2 is outside 1..51");
    CHECK_FAILS(tide_ring_bounded(&out, &start, 1, &owners, &q2),
                "ring_bounded: the quotas of the ranks on the ring hold 4 keys, 300 keys to place");
    CHECK(tt_iat(&q2, 0) == 1 && tt_iat(&q2, 3) == 1 && out.storage == NULL);
    tide_tensor fq = tt_vec(TIDE_F64, NR, NULL);
    CHECK_FAILS(tide_ring_bounded(&out, &start, 1, &owners, &fq),
                "ring_bounded: expected 1-D integer starts, 1-D i32 owners and a contiguous 1-D "
                "i64 quota, got");
    TT_RELEASE(&fq, &far, &q2, &bad_owner, &quota, &owners, &start);
}

int main(void)
{
    test_published_values();
    test_hash64_every_dtype_and_layout();
    test_bijection_and_balance();
    test_unit_and_bucket();
    test_hash_errors();
    test_ring_bounded();
    return check_report("test_hash");
}
