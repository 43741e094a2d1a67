/* test_sort.c — sort, argsort, topk, unique and searchsorted against naive restatements: a
 * stable insertion sort over the documented total order (NaN above +inf, -0.0 equal to 0.0),
 * counting for unique, a linear scan for searchsorted; every dtype the radix keys cover. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "ops/sort.h"
#include "tensors.h"

/* The documented order: -1, 0, 1 for a < b, a == b, a > b. */
static int order(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

/* perm receives the stable sort of v (n values) as positions, by naive insertion. */
static void naive_argsort(const double *v, int n, int descending, int64_t *perm)
{
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0) {
            int o = order(v[perm[j - 1]], v[i]);
            if (descending ? o >= 0 : o <= 0)
                break;
            perm[j] = perm[j - 1];
            j--;
        }
        perm[j] = i;
    }
}

static void test_sort_every_dtype(void)
{
    enum { N = 600 };
    const tide_dtype dts[5] = {TIDE_F32, TIDE_F64, TIDE_I32, TIDE_I64, TIDE_U8};
    uint64_t rng = 11;
    double v[N];
    int64_t perm[N];
    for (int d = 0; d < 5; d++) {
        for (int i = 0; i < N; i++) {
            double u = tt_rand(&rng);
            /* few distinct values, so stability matters; signs and the float specials too */
            v[i] = dts[d] == TIDE_U8 ? (int)(u * 40) : (int)(u * 40) - 20;
            if (d < 2 && i % 50 == 7)
                v[i] = i % 150 == 7 ? NAN : i % 150 == 57 ? INFINITY : i % 150 == 107 ? -0.0 : -INFINITY;
        }
        tide_tensor t = tt_vec(dts[d], N, v), vals = TIDE_TENSOR_EMPTY, idx = TIDE_TENSOR_EMPTY;
        for (int desc = 0; desc < 2; desc++) {
            naive_argsort(v, N, desc, perm);
            CHECK_OK(tide_sort(&vals, &idx, &t, 0, desc));
            CHECK(idx.dtype == TIDE_I64 && vals.dtype == dts[d]);
            int ok = 1;
            for (int i = 0; i < N; i++) {
                ok &= tt_iat(&idx, i) == perm[i];
                ok &= order(tt_at(&vals, i), v[perm[i]]) == 0;
            }
            CHECK(ok);
            TT_RELEASE(&vals, &idx);

            /* topk is the head of the same stable sort (largest: descending) */
            CHECK_OK(tide_topk(&vals, &idx, &t, 37, 0, desc));
            ok = idx.shape[0] == 37;
            for (int i = 0; i < 37; i++)
                ok &= tt_iat(&idx, i) == perm[i];
            CHECK(ok);
            TT_RELEASE(&vals, &idx);
        }
        tide_tensor_release(&t);
    }
}

static void test_sort_rows_of_a_view(void)
{
    /* argsort along dim 1 of a transposed (strided) 6x40 view: each row sorted on its own */
    enum { A = 40, B = 6 };
    uint64_t rng = 12;
    double m[A][B], row[A];
    int64_t perm[A];
    for (int i = 0; i < A; i++)
        for (int j = 0; j < B; j++)
            m[i][j] = tt_rand(&rng);
    tide_tensor t = tt_mat(TIDE_F64, A, B, &m[0][0]), tr = TIDE_TENSOR_EMPTY, idx = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_transpose(&tr, &t, 0, 1));
    CHECK_OK(tide_argsort(&idx, &tr, 1, 0));
    int ok = idx.shape[0] == B && idx.shape[1] == A;
    for (int j = 0; j < B; j++) {
        for (int i = 0; i < A; i++)
            row[i] = m[i][j];
        naive_argsort(row, A, 0, perm);
        for (int i = 0; i < A; i++)
            ok &= tide_get_i64(&idx, (int64_t[]){j, i}) == perm[i];
    }
    CHECK(ok);
    CHECK_FAILS(tide_argsort(&idx, &tr, 2, 0), "dim 3 out of range for a 2-dim tensor");
    tide_tensor v = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_topk(&v, NULL, &tr, A + 1, 1, 1), "topk: k 41 out of range for size 40 in dim 2");
    TT_RELEASE(&idx, &tr, &t);
}

static void test_unique(void)
{
    enum { N = 500 };
    uint64_t rng = 13;
    double v[N];
    int64_t count[30] = {0};
    for (int i = 0; i < N; i++) {
        v[i] = (int)(tt_rand(&rng) * 30) * 2 - 25;   /* even offsets: -25, -23, ..., 33 */
        count[((int)v[i] + 25) / 2]++;
    }
    tide_tensor t = tt_vec(TIDE_I64, N, v);
    tide_tensor vals = TIDE_TENSOR_EMPTY, inv = TIDE_TENSOR_EMPTY, cnt = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_unique(&vals, &inv, &cnt, &t));
    int64_t k = 0;
    int ok = 1;
    for (int b = 0; b < 30; b++)
        if (count[b]) {
            ok &= tt_iat(&vals, k) == b * 2 - 25 && tt_iat(&cnt, k) == count[b];
            k++;
        }
    CHECK(ok && vals.shape[0] == k && cnt.shape[0] == k);
    ok = 1;
    for (int i = 0; i < N; i++)
        ok &= tt_iat(&vals, tt_iat(&inv, i)) == (int64_t)v[i];   /* values[inverse] == t */
    CHECK(ok);
    TT_RELEASE(&cnt, &inv, &vals, &t);
}

static void test_searchsorted(void)
{
    const double s[7] = {-3, -1, -1, 0, 2, 2, 9};
    tide_tensor sorted = tt_vec(TIDE_F64, 7, s), out = TIDE_TENSOR_EMPTY;
    double q[9] = {-4, -3, -1, -0.5, 0, 2, 5, 9, 10};
    tide_tensor vals = tt_vec(TIDE_F64, 9, q);
    for (int right = 0; right < 2; right++) {
        CHECK_OK(tide_searchsorted(&out, &sorted, &vals, right));
        int ok = out.dtype == TIDE_I64;
        for (int i = 0; i < 9; i++) {
            int64_t p = 0;                 /* linear scan: first p with s[p] >= (>) v */
            while (p < 7 && (right ? s[p] <= q[i] : s[p] < q[i]))
                p++;
            ok &= tt_iat(&out, i) == p;
        }
        CHECK(ok);
        tide_tensor_release(&out);
    }
    tide_tensor i32 = tt_vec(TIDE_I32, 2, NULL), m = tt_mat(TIDE_F64, 2, 2, NULL);
    CHECK_FAILS(tide_searchsorted(&out, &sorted, &i32, 0),
                "searchsorted: dtype mismatch, sorted is f64, values are i32");
    CHECK_FAILS(tide_searchsorted(&out, &m, &vals, 0),
                "searchsorted: expected a 1-D sorted tensor, got 2x2");
    TT_RELEASE(&m, &i32, &vals, &sorted);
}

int main(void)
{
    test_sort_every_dtype();
    test_sort_rows_of_a_view();
    test_unique();
    test_searchsorted();
    return check_report("test_sort");
}
