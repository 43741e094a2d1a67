/* Per-sample conv2d gradients (core/nn/conv_sample.c) against the definition itself, a naive
 * loop over every tap: dW_n[o][c][ki][kj] = sum over output positions (oi, oj) of
 * grad_out[n][o][oi][oj] x[n][g Cg + c][oi sh - ph + ki dh][oj sw - pw + kj dw] (0 in the
 * padding), db_n[o] = the sum of grad_out[n][o]; with stride, padding, dilation and groups, in
 * f64 and f32. Then the errors. */
#include "check.h"
#include "nn/conv_sample.h"
#include "tensors.h"

#include <math.h>

#define N 3
#define C 4
#define H 7
#define W 6
#define O 6
#define KH 3
#define KW 2

static double tap(const tide_tensor *x, int64_t n, int64_t c, int64_t i, int64_t j)
{
    if (i < 0 || i >= H || j < 0 || j >= W) return 0;
    return tide_get_f64(x, (int64_t[]){n, c, i, j});
}

static void check_case(tide_dtype dt, const tide_conv2d_params *p, double tol)
{
    uint64_t seed = 7;
    int64_t cg = C / p->groups, og = O / p->groups, hw[2];
    double xv[N * C * H * W], wv[O * C * KH * KW];
    for (int i = 0; i < N * C * H * W; i++) xv[i] = tt_rand(&seed) - 0.5;
    for (int i = 0; i < O * cg * KH * KW; i++) wv[i] = tt_rand(&seed) - 0.5;
    tide_tensor x = tt_make(dt, 4, (int64_t[]){N, C, H, W}, xv);
    tide_tensor w = tt_make(dt, 4, (int64_t[]){O, cg, KH, KW}, wv);
    CHECK_OK(tide_conv2d_out_size(hw, &x, &w, p));
    double gv[N * O * (H + 4) * (W + 4)];      /* room for any padded output plane */
    for (int i = 0; i < N * O * hw[0] * hw[1]; i++) gv[i] = tt_rand(&seed) - 0.5;
    tide_tensor go = tt_make(dt, 4, (int64_t[]){N, O, hw[0], hw[1]}, gv);
    tide_tensor gw = TIDE_TENSOR_EMPTY, gb = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_conv2d_grad_sample(&gw, &gb, &go, &x, &w, p));
    CHECK(gw.ndim == 5 && gw.shape[0] == N && gw.shape[1] == O && gw.shape[2] == cg);
    CHECK(gb.ndim == 2 && gb.shape[0] == N && gb.shape[1] == O);
    double worst = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) {
            double db = 0;
            for (int64_t oi = 0; oi < hw[0]; oi++)
                for (int64_t oj = 0; oj < hw[1]; oj++)
                    db += tide_get_f64(&go, (int64_t[]){n, o, oi, oj});
            worst = fmax(worst, fabs(db - tide_get_f64(&gb, (int64_t[]){n, o})));
            for (int64_t c = 0; c < cg; c++)
                for (int64_t ki = 0; ki < KH; ki++)
                    for (int64_t kj = 0; kj < KW; kj++) {
                        double dw = 0;
                        for (int64_t oi = 0; oi < hw[0]; oi++)
                            for (int64_t oj = 0; oj < hw[1]; oj++)
                                dw += tide_get_f64(&go, (int64_t[]){n, o, oi, oj}) *
                                      tap(&x, n, o / og * cg + c,
                                          oi * p->stride[0] - p->padding[0] + ki * p->dilation[0],
                                          oj * p->stride[1] - p->padding[1] + kj * p->dilation[1]);
                        double got = tide_get_f64(&gw, (int64_t[]){n, o, c, ki, kj});
                        worst = fmax(worst, fabs(dw - got));
                    }
        }
    if (worst > tol)
        fprintf(stderr, "%s, stride %lld, groups %lld: off by %g\n", tide_dtype_name(dt),
                (long long)p->stride[0], (long long)p->groups, worst);
    CHECK(worst <= tol);
    /* without a bias; into the tensors of the first call, overwritten (not added to) */
    tide_tensor again = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_clone(&again, &gw));
    CHECK_OK(tide_conv2d_grad_sample(&gw, NULL, &go, &x, &w, p));
    for (int64_t i = 0; i < tide_numel(&gw); i++) CHECK(tt_at(&gw, i) == tt_at(&again, i));
    TT_RELEASE(&x, &w, &go, &gw, &gb, &again);
}

static void test_against_the_definition(void)
{
    tide_conv2d_params plain = {{1, 1}, {0, 0}, {1, 1}, 1, TIDE_CONV_AUTO};
    tide_conv2d_params strided = {{2, 1}, {1, 1}, {1, 1}, 1, TIDE_CONV_AUTO};
    tide_conv2d_params grouped = {{1, 2}, {2, 0}, {2, 1}, 2, TIDE_CONV_AUTO};
    const tide_conv2d_params *cases[] = {&plain, &strided, &grouped};
    for (int i = 0; i < 3; i++) {
        check_case(TIDE_F64, cases[i], 1e-12);
        check_case(TIDE_F32, cases[i], 1e-5);
    }
}

static void test_errors(void)
{
    tide_conv2d_params p = {{1, 1}, {0, 0}, {1, 1}, 1, TIDE_CONV_AUTO};
    tide_tensor x = tt_make(TIDE_F32, 4, (int64_t[]){2, 1, 4, 4}, NULL);
    tide_tensor w = tt_make(TIDE_F32, 4, (int64_t[]){3, 1, 3, 3}, NULL);
    tide_tensor go = tt_make(TIDE_F32, 4, (int64_t[]){1, 3, 2, 2}, NULL);
    tide_tensor gw = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_conv2d_grad_sample(&gw, NULL, &go, &x, &w, &p),
                "conv2d_grad_sample: expected grad_out of 2 samples (the input's), got 4-D with 1");
    tide_tensor small = tt_make(TIDE_F32, 4, (int64_t[]){2, 1, 2, 2}, NULL);
    CHECK_FAILS(tide_conv2d_grad_sample(&gw, NULL, &go, &small, &w, &p),
                "is smaller than the dilated kernel");
    CHECK(gw.storage == NULL);
    TT_RELEASE(&x, &w, &go, &small);
}

int main(void)
{
    test_against_the_definition();
    test_errors();
    return check_report("test_conv_sample");
}
