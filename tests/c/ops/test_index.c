/* test_index.c — the index kernels (index_select, gather, scatter_add, index_add,
 * masked_select, bincount, cumsum) against naive loops over random inputs, on contiguous and
 * strided tensors, and their error messages (indices reported 1-based). */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "ops/index.h"
#include "tensors.h"

enum { R = 5, C = 7 };

/* A 5x7 f64 matrix of random values and its plain array. */
static tide_tensor random_matrix(uint64_t *rng, double m[R][C])
{
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            m[i][j] = (double)(int)(tt_rand(rng) * 200) - 100;   /* integers: exact sums */
    return tt_mat(TIDE_F64, R, C, &m[0][0]);
}

static void test_index_select_and_gather(void)
{
    uint64_t rng = 1;
    double m[R][C];
    tide_tensor t = random_matrix(&rng, m), out = TIDE_TENSOR_EMPTY, tt = TIDE_TENSOR_EMPTY;
    const double cols[4] = {6, 0, 6, 3};
    tide_tensor idx = tt_vec(TIDE_I32, 4, cols);
    CHECK_OK(tide_index_select(&out, &t, 1, &idx));
    int ok = out.shape[0] == R && out.shape[1] == 4;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < 4; j++)
            ok &= tt_at2(&out, i, j) == m[i][(int)cols[j]];
    CHECK(ok);
    tide_tensor_release(&out);
    /* on the transpose (a strided view), rows of the transpose are columns of m */
    CHECK_OK(tide_transpose(&tt, &t, 0, 1));
    CHECK_OK(tide_index_select(&out, &tt, 0, &idx));
    ok = out.shape[0] == 4 && out.shape[1] == R;
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < R; i++)
            ok &= tt_at2(&out, j, i) == m[i][(int)cols[j]];
    CHECK(ok);
    tide_tensor_release(&out);

    /* gather along dim 1: out[i][j] = m[i][g[i][j]] */
    double g[R][3];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < 3; j++)
            g[i][j] = (int)(tt_rand(&rng) * C);
    tide_tensor gi = tt_mat(TIDE_I64, R, 3, &g[0][0]);
    CHECK_OK(tide_gather(&out, &t, 1, &gi));
    ok = 1;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < 3; j++)
            ok &= tt_at2(&out, i, j) == m[i][(int)g[i][j]];
    CHECK(ok);
    tide_tensor_release(&out);

    CHECK_FAILS(tide_index_select(&out, &t, 1, &gi), "index_select: expected a 1-D index, got 5x3");
    tide_tensor bad = tt_vec(TIDE_I32, 2, (double[]){1, 7});
    CHECK_FAILS(tide_index_select(&out, &t, 1, &bad),
                "index_select: index 8 out of range for size 7 in dim 2");
    CHECK_FAILS(tide_index_select(&out, &t, 2, &idx),
                "index_select: dim 3 out of range for a 2-dim tensor");
    tide_tensor fidx = tt_vec(TIDE_F32, 2, NULL);
    CHECK_FAILS(tide_index_select(&out, &t, 0, &fidx),
                "index_select: expected an i32 or i64 index tensor, got f32");
    CHECK_FAILS(tide_gather(&out, &t, 1, &idx), "gather: index has 1 dims, expected 2");
    CHECK(out.storage == NULL);
    TT_RELEASE(&fidx, &bad, &gi, &idx, &tt, &t);
}

static void test_scatter_and_index_add(void)
{
    uint64_t rng = 2;
    double m[R][C], want[R][C];
    tide_tensor self = random_matrix(&rng, m);
    /* scatter_add along dim 0 with duplicate indices: self[idx[i][j]][j] += src[i][j] */
    double ix[3][C], src[3][C];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            want[i][j] = m[i][j];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < C; j++) {
            ix[i][j] = (int)(tt_rand(&rng) * 2);          /* rows 0 and 1 only: duplicates */
            src[i][j] = i * 10 + j;
            want[(int)ix[i][j]][j] += src[i][j];
        }
    tide_tensor index = tt_mat(TIDE_I64, 3, C, &ix[0][0]), s = tt_mat(TIDE_F64, 3, C, &src[0][0]);
    CHECK_OK(tide_scatter_add(&self, 0, &index, &s));
    int ok = 1;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            ok &= tt_at2(&self, i, j) == want[i][j];
    CHECK(ok);

    /* index_add along dim 1: column idx[j] += src column j */
    tide_tensor cols = tt_vec(TIDE_I32, 3, (double[]){4, 4, 0});
    tide_tensor s2 = tt_mat(TIDE_F64, R, 3, NULL);       /* 0..14 */
    for (int i = 0; i < R; i++) {
        want[i][4] += (3 * i) + (3 * i + 1);
        want[i][0] += 3 * i + 2;
    }
    CHECK_OK(tide_index_add(&self, 1, &cols, &s2));
    ok = 1;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            ok &= tt_at2(&self, i, j) == want[i][j];
    CHECK(ok);

    /* a bad index anywhere leaves self untouched */
    tide_tensor bad = tt_vec(TIDE_I32, 3, (double[]){0, 1, 9});
    CHECK_FAILS(tide_index_add(&self, 1, &bad, &s2),
                "index_add_: index 10 out of range for size 7 in dim 2");
    ok = 1;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            ok &= tt_at2(&self, i, j) == want[i][j];
    CHECK(ok);
    tide_tensor s32 = tt_mat(TIDE_F32, 3, C, NULL), view = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_scatter_add(&self, 0, &index, &s32),
                "scatter_add_: dtype mismatch, self is f64, src is f32");
    CHECK_OK(tide_narrow(&view, &self, 0, 0, 3));
    CHECK_FAILS(tide_scatter_add(&self, 0, &index, &view),
                "scatter_add_: src overlaps self (pass src:clone())");
    TT_RELEASE(&view, &s32, &bad, &s2, &cols, &s, &index, &self);
}

static void test_masked_select(void)
{
    uint64_t rng = 3;
    double m[R][C], mask[C];
    tide_tensor t = random_matrix(&rng, m), out = TIDE_TENSOR_EMPTY;
    for (int j = 0; j < C; j++)
        mask[j] = j % 3 == 1;
    tide_tensor mk = tt_vec(TIDE_U8, C, mask);                /* broadcast over the rows */
    CHECK_OK(tide_masked_select(&out, &t, &mk));
    int64_t k = 0;
    int ok = 1;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            if (mask[j])
                ok &= k < tide_numel(&out) && tt_at(&out, k++) == m[i][j];
    CHECK(ok && k == tide_numel(&out) && out.ndim == 1);
    tide_tensor fm = tt_vec(TIDE_F32, C, mask);
    tide_tensor_release(&out);
    CHECK_FAILS(tide_masked_select(&out, &t, &fm), "masked_select: expected a u8 mask, got f32");
    TT_RELEASE(&fm, &out, &mk, &t);
}

static void test_bincount(void)
{
    uint64_t rng = 4;
    enum { N = 1000 };
    double v[N], w[N];
    int64_t counts[20] = {0};
    double wsum[20] = {0};
    int64_t max = 0;
    for (int i = 0; i < N; i++) {
        v[i] = (int)(tt_rand(&rng) * 12);
        w[i] = tt_rand(&rng);
        counts[(int)v[i]]++;
        wsum[(int)v[i]] += w[i];
        max = (int64_t)v[i] > max ? (int64_t)v[i] : max;
    }
    tide_tensor t = tt_vec(TIDE_I32, N, v), wt = tt_vec(TIDE_F64, N, w), out = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_bincount(&out, &t, NULL, 0));
    CHECK(out.dtype == TIDE_I64 && out.shape[0] == max + 1);
    int ok = 1;
    for (int b = 0; b <= max; b++)
        ok &= tt_iat(&out, b) == counts[b];
    CHECK(ok);
    tide_tensor_release(&out);
    CHECK_OK(tide_bincount(&out, &t, &wt, 20));               /* minlength pads with zeros */
    CHECK(out.dtype == TIDE_F64 && out.shape[0] == 20);
    ok = 1;
    for (int b = 0; b < 20; b++)
        ok &= fabs(tt_at(&out, b) - wsum[b]) < 1e-9;
    CHECK(ok);
    tide_tensor_release(&out);
    tide_tensor neg = tt_vec(TIDE_I64, 3, (double[]){1, -2, 0});
    CHECK_FAILS(tide_bincount(&out, &neg, NULL, 0), "bincount: negative value -2 at position 2");
    CHECK_FAILS(tide_bincount(&out, &wt, NULL, 0),
                "bincount: expected an integer tensor (i32, i64 or u8), got f64");
    CHECK_FAILS(tide_bincount(&out, &t, NULL, -1), "bincount: minlength must be non-negative, got -1");
    TT_RELEASE(&neg, &out, &wt, &t);
}

static void test_cumsum(void)
{
    uint64_t rng = 5;
    double m[R][C];
    tide_tensor t = random_matrix(&rng, m), out = TIDE_TENSOR_EMPTY;
    for (int dim = 0; dim < 2; dim++) {
        CHECK_OK(tide_cumsum(&out, &t, dim));
        int ok = 1;
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) {
                double s = 0;                     /* the naive running sum */
                for (int k = 0; k <= (dim ? j : i); k++)
                    s += dim ? m[i][k] : m[k][j];
                ok &= tt_at2(&out, i, j) == s;
            }
        CHECK(ok);
        tide_tensor_release(&out);
    }
    /* integers give i64; in place on itself works */
    tide_tensor it = tt_vec(TIDE_I32, 5, (double[]){3, -1, 4, -1, 5});
    CHECK_OK(tide_cumsum(&out, &it, 0));
    CHECK(out.dtype == TIDE_I64 && tt_iat(&out, 4) == 10 && tt_iat(&out, 2) == 6);
    CHECK_OK(tide_cumsum(&t, &t, 1));
    CHECK(tt_at2(&t, 2, C - 1) == m[2][0] + m[2][1] + m[2][2] + m[2][3] + m[2][4] + m[2][5] + m[2][6]);
    tide_tensor tr = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_transpose(&tr, &t, 0, 1));
    CHECK_FAILS(tide_cumsum(&tr, &t, 0), "cumsum: the output must be contiguous");
    TT_RELEASE(&tr, &it, &out, &t);
}

int main(void)
{
    test_index_select_and_gather();
    test_scatter_and_index_add();
    test_masked_select();
    test_bincount();
    test_cumsum();
    return check_report("test_index");
}
