/* test_als.c — the ALS kernels against direct loops: each row's normal equations (base +
 * sum of w y y^T + ridge I, and sum of v y, over full matrices rather than one triangle),
 * their Cholesky solutions by the residual A x - b, the squared error, and the messages. */
#include <math.h>
#include <stdint.h>

#include "algo/als.h"
#include "check.h"
#include "tensors.h"

enum { M = 9, K = 4, B = 5, NNZ = 17 };

static double Y[M][K], BASE[K][K], W[NNZ], V[NNZ], RIDGE[B];
static const double OFF[B + 1] = {0, 4, 4, 9, 12, 17};   /* row 2 has no entries */
static double COLS[NNZ];                                /* 1-based rows of Y */

static void make_data(void)
{
    uint64_t rng = 7;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K; j++)
            Y[i][j] = tt_rand(&rng) - 0.5;
    for (int i = 0; i < K; i++)
        for (int j = 0; j <= i; j++)
            BASE[i][j] = BASE[j][i] = tt_rand(&rng) * 0.1;
    for (int e = 0; e < NNZ; e++) {
        COLS[e] = 1 + (double)((e * 5) % M);
        W[e] = 0.5 + tt_rand(&rng);
        V[e] = 4 * tt_rand(&rng);
    }
    for (int u = 0; u < B; u++)
        RIDGE[u] = 0.1 * (u + 1);
}

/* A_u[i][j] and b_u[i] by the formula of als.h */
static double want_a(int u, int i, int j, int with_base)
{
    double s = with_base ? BASE[i][j] : 0;
    for (int e = (int)OFF[u]; e < (int)OFF[u + 1]; e++) {
        const double *y = Y[(int)COLS[e] - 1];
        s += W[e] * y[i] * y[j];
    }
    return s + (i == j ? RIDGE[u] : 0);
}

static double want_b(int u, int i)
{
    double s = 0;
    for (int e = (int)OFF[u]; e < (int)OFF[u + 1]; e++)
        s += V[e] * Y[(int)COLS[e] - 1][i];
    return s;
}

typedef struct inputs {
    tide_tensor y, off, cols, w, v, ridge, base;
    tide_als_entries e;
} inputs;

static void make_inputs(inputs *in, int with_base)
{
    in->y = tt_mat(TIDE_F64, M, K, &Y[0][0]);
    in->off = tt_vec(TIDE_I64, B + 1, OFF);
    in->cols = tt_vec(TIDE_I64, NNZ, COLS);
    in->w = tt_vec(TIDE_F64, NNZ, W);
    in->v = tt_vec(TIDE_F64, NNZ, V);
    in->ridge = tt_vec(TIDE_F64, B, RIDGE);
    in->base = tt_mat(TIDE_F64, K, K, &BASE[0][0]);
    in->e = (tide_als_entries){.offsets = &in->off, .cols = &in->cols, .index_base = 1,
                               .weights = &in->w, .values = &in->v, .ridge = &in->ridge,
                               .base = with_base ? &in->base : NULL};
}

static void release_inputs(inputs *in)
{
    TT_RELEASE(&in->y, &in->off, &in->cols, &in->w, &in->v, &in->ridge, &in->base);
}

static void test_equations_and_solve(int with_base)
{
    inputs in;
    make_inputs(&in, with_base);
    tide_tensor a = TIDE_TENSOR_EMPTY, b = TIDE_TENSOR_EMPTY, x = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_als_normal_equations(&a, &b, &in.y, &in.e));
    CHECK_OK(tide_als_solve(&x, &in.y, &in.e));
    double worst_a = 0, worst_b = 0, worst_r = 0;
    for (int u = 0; u < B; u++)
        for (int i = 0; i < K; i++) {
            double r = -want_b(u, i);
            for (int j = 0; j < K; j++) {
                double aij = tide_get_f64(&a, (int64_t[]){u, i, j});
                worst_a = fmax(worst_a, fabs(aij - want_a(u, i, j, with_base)));
                r += want_a(u, i, j, with_base) * tt_at2(&x, u, j);
            }
            worst_b = fmax(worst_b, fabs(tt_at2(&b, u, i) - want_b(u, i)));
            worst_r = fmax(worst_r, fabs(r));
        }
    CHECK(worst_a < 1e-13 && worst_b < 1e-13);
    CHECK(worst_r < 1e-10);
    if (!with_base)   /* a row without entries: A = ridge I, b = 0, so x = 0 */
        for (int i = 0; i < K; i++)
            CHECK(tt_at2(&x, 1, i) == 0);
    /* the squared error of the rows' x against the entries' values */
    double sse = 0, want = 0;
    CHECK_OK(tide_als_sse(&sse, &x, &in.y, &in.e));
    for (int u = 0; u < B; u++)
        for (int e = (int)OFF[u]; e < (int)OFF[u + 1]; e++) {
            double p = 0;
            for (int j = 0; j < K; j++)
                p += tt_at2(&x, u, j) * Y[(int)COLS[e] - 1][j];
            want += (p - V[e]) * (p - V[e]);
        }
    CHECK(fabs(sse - want) < 1e-12 * want);
    TT_RELEASE(&a, &b, &x);
    release_inputs(&in);
}

static void test_errors(void)
{
    inputs in;
    make_inputs(&in, 0);
    tide_tensor x = TIDE_TENSOR_EMPTY;
    tide_tensor bad_cols = tt_vec(TIDE_I64, NNZ, COLS);
    ((int64_t *)tide_data(&bad_cols))[6] = M + 1;
    in.e.cols = &bad_cols;
    CHECK_FAILS(tide_als_solve(&x, &in.y, &in.e),
                "als_solve: col 10 at entry 7 is outside the 9 factor rows");
    in.e.cols = &in.cols;
    tide_tensor bad_off = tt_vec(TIDE_I64, B + 1, (double[]){0, 4, 3, 9, 12, 17});
    in.e.offsets = &bad_off;
    CHECK_FAILS(tide_als_solve(&x, &in.y, &in.e), "als_solve: offsets decrease at 2");
    in.e.offsets = &in.off;
    tide_tensor zero = tt_vec(TIDE_F64, B, (double[]){1, 0, 1, 1, 1});
    in.e.ridge = &zero;
    CHECK_FAILS(tide_als_solve(&x, &in.y, &in.e),
                "als_solve: the normal equations of row 2 are not positive definite "
                "(leading minor 1; is reg > 0?)");
    in.e.ridge = &in.ridge;
    tide_tensor y32 = tt_mat(TIDE_F32, M, K, &Y[0][0]);
    CHECK_FAILS(tide_als_solve(&x, &y32, &in.e), "als_solve: expected 2-D f64 factors, got f32");
    CHECK(x.storage == NULL);
    TT_RELEASE(&bad_cols, &bad_off, &zero, &y32);
    release_inputs(&in);
}

int main(void)
{
    make_data();
    test_equations_and_solve(0);
    test_equations_and_solve(1);
    test_errors();
    return check_report("test_als");
}
