/* The int8 GEMM: every path this CPU runs against a naive int32 loop, on sizes that exercise
 * the 4-row blocks, their remainders and the SIMD tails (K not a multiple of 16 or 64), and at
 * the extremes of int8 (-128 included, which quantization never makes but the kernel must
 * multiply right); then quantize_rows and qlinear against f32 arithmetic. */
#include "check.h"
#include "nn/qgemm.h"
#include "tensor/tide_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* CHECK, and on failure the values that failed it */
#define CHECK_MSG(cond, ...)                                                       \
    do {                                                                           \
        CHECK(cond);                                                               \
        if (!(cond)) fprintf(stderr, __VA_ARGS__), fputc('\n', stderr);           \
    } while (0)

static uint64_t state = 88172645463325252ull;
static int8_t rand8(void)
{
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return (int8_t)(state >> 56);
}

static void test_paths(void)
{
    const int64_t sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 4, 16}, {5, 9, 63}, {7, 13, 64},
                                {2, 6, 65}, {9, 10, 784}, {17, 3, 130}, {1, 33, 200}, {6, 64, 5}, {5, 47, 99},
                                {20, 70, 37}, {8, 96, 260}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        int8_t *a = malloc(M * K), *b = malloc(N * K);
        int32_t *want = malloc(M * N * 4), *got = malloc(M * N * 4);
        for (int64_t i = 0; i < M * K; i++) a[i] = rand8();
        for (int64_t i = 0; i < N * K; i++) b[i] = rand8();
        if (s == 2) memset(a, 0x80, M * K), memset(b, 0x80, N * K);   /* all -128 */
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                int64_t acc = 0;
                for (int64_t k = 0; k < K; k++) acc += (int64_t)a[m * K + k] * b[n * K + k];
                want[m * N + n] = (int32_t)acc;
            }
        for (int p = TIDE_QGEMM_AUTO; p <= TIDE_QGEMM_VNNI; p++) {
            if (!tide_qgemm_available((tide_qgemm_path)p)) continue;
            memset(got, 0x55, M * N * 4);
            CHECK_OK(tide_qgemm_s8((tide_qgemm_path)p, M, N, K, a, b, got));
            for (int64_t i = 0; i < M * N; i++)
                CHECK_MSG(got[i] == want[i], "path %s, %lldx%lldx%lld, entry %lld: %d vs %d",
                          tide_qgemm_name((tide_qgemm_path)p), (long long)M, (long long)N,
                          (long long)K, (long long)i, got[i], want[i]);
        }
        free(a), free(b), free(want), free(got);
    }
}

static void test_qlinear(void)
{
    enum { M = 6, N = 5, K = 37 };
    tide_tensor x = {0}, w = {0}, bias = {0}, q = {0}, scale = {0};
    int64_t xs[2] = {M, K}, ws[2] = {N, K}, bs[1] = {N};
    CHECK_OK(tide_tensor_alloc(&x, TIDE_F32, 2, xs));
    CHECK_OK(tide_tensor_alloc(&w, TIDE_F32, 2, ws));
    CHECK_OK(tide_tensor_alloc(&bias, TIDE_F32, 1, bs));
    float *xd = tide_data(&x), *wd = tide_data(&w), *bd = tide_data(&bias);
    for (int i = 0; i < M * K; i++) xd[i] = rand8() / 50.0f;
    for (int i = 0; i < N * K; i++) wd[i] = rand8() / 300.0f;
    for (int i = 0; i < N; i++) bd[i] = (float)i - 2;
    CHECK_OK(tide_quantize_rows(&q, &scale, &w));
    tide_tensor packed = {0};
    CHECK_OK(tide_qgemm_pack(&packed, &q));
    const int8_t *qd = tide_data(&q);
    const float *sd = tide_data(&scale);
    for (int n = 0; n < N; n++) {
        float mx = 0;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, fabsf(wd[n * K + k]));
        CHECK(fabsf(sd[n] - mx / 127) < 1e-9f);
        for (int k = 0; k < K; k++)      /* each weight within half a step of its value */
            CHECK(fabsf(qd[n * K + k] * sd[n] - wd[n * K + k]) <= 0.5f * sd[n] * 1.0001f);
    }
    for (int p = TIDE_QGEMM_PORTABLE; p <= TIDE_QGEMM_VNNI; p++) {
        if (!tide_qgemm_available((tide_qgemm_path)p)) continue;
        tide_tensor out = {0};
        CHECK_OK(tide_qlinear(&out, &x, &q, &scale, &bias, p == TIDE_QGEMM_VNNI ? &packed : NULL,
                              (tide_qgemm_path)p));
        const float *o = tide_data(&out);
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double ref = bd[n], bound = 0, xmax = 0;
                for (int k = 0; k < K; k++) xmax = fmax(xmax, fabs(xd[m * K + k]));
                for (int k = 0; k < K; k++) {
                    ref += (double)xd[m * K + k] * wd[n * K + k];
                    /* |x w - x' w'| <= |x| dw + |w'| dx with dw, dx half a step each */
                    bound += fabs(xd[m * K + k]) * 0.5 * sd[n] +
                             fabs(qd[n * K + k] * sd[n]) * 0.5 * xmax / 127;
                }
                CHECK_MSG(fabs(o[m * N + n] - ref) <= bound * 1.001 + 1e-5,
                          "qlinear %d,%d: %g vs %g (bound %g)", m, n, o[m * N + n], ref, bound);
            }
        tide_tensor_release(&out);
    }
    tide_tensor bad = {0};
    int64_t bad_shape[2] = {M, K + 1};
    CHECK_OK(tide_tensor_alloc(&bad, TIDE_F32, 2, bad_shape));
    tide_tensor out = {0};
    CHECK_FAILS(tide_qlinear(&out, &bad, &q, &scale, &bias, NULL, TIDE_QGEMM_AUTO),
                "qlinear: input of width 38, weight of width 37");
    tide_tensor_release(&bad), tide_tensor_release(&x), tide_tensor_release(&w);
    tide_tensor_release(&bias), tide_tensor_release(&q), tide_tensor_release(&scale);
    tide_tensor_release(&packed);
}

/* qlinear gives the same floats on every path (with the weights packed beforehand or not, with
 * a bias or not): the int32 sums are exact, the VNNI path's AVX-512 quantizer must round as the
 * portable one (ties included: a row whose maximum is 127 has scale 1, so k + 0.5 is a tie),
 * and every path dequantizes with the same code. The shapes have 8-row blocks with remainders,
 * several 32-channel panels with a partial last one, and K not a multiple of 4 or 16. */
static void test_qlinear_paths_agree(void)
{
    const int64_t sizes[][3] = {{13, 70, 37}, {9, 33, 130}, {1, 10, 3}, {20, 5, 784}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        tide_tensor x = {0}, w = {0}, bias = {0}, q = {0}, scale = {0}, packed = {0};
        int64_t xs[2] = {M, K}, ws[2] = {N, K};
        CHECK_OK(tide_tensor_alloc(&x, TIDE_F32, 2, xs));
        CHECK_OK(tide_tensor_alloc(&w, TIDE_F32, 2, ws));
        CHECK_OK(tide_tensor_alloc(&bias, TIDE_F32, 1, &N));
        float *xd = tide_data(&x), *wd = tide_data(&w), *bd = tide_data(&bias);
        for (int64_t i = 0; i < M * K; i++) xd[i] = rand8() / 37.0f;
        for (int64_t k = 0; k < K; k++)          /* row 0: max 127, ties at every k + 0.5 */
            xd[k] = k == 0 ? 127.0f : (float)(rand8() % 127) + (k % 2 ? 0.5f : -0.5f);
        for (int64_t i = 0; i < N * K; i++) wd[i] = rand8() / 300.0f;
        for (int64_t i = 0; i < N; i++) bd[i] = rand8() / 7.0f;
        CHECK_OK(tide_quantize_rows(&q, &scale, &w));
        CHECK_OK(tide_qgemm_pack(&packed, &q));
        tide_tensor want = {0};
        CHECK_OK(tide_qlinear(&want, &x, &q, &scale, &bias, NULL, TIDE_QGEMM_PORTABLE));
        for (int p = TIDE_QGEMM_AUTO; p <= TIDE_QGEMM_VNNI; p++)
            for (int variant = 0; variant < 3 && tide_qgemm_available((tide_qgemm_path)p);
                 variant++) {
                /* 0: bias, weights packed here; 1: packed beforehand; 2: no bias */
                tide_tensor got = {0}, nobias = {0};
                CHECK_OK(tide_qlinear(&got, &x, &q, &scale, variant < 2 ? &bias : NULL,
                                      variant == 1 ? &packed : NULL, (tide_qgemm_path)p));
                if (variant == 2)
                    CHECK_OK(tide_qlinear(&nobias, &x, &q, &scale, NULL, NULL,
                                          TIDE_QGEMM_PORTABLE));
                const float *g = tide_data(&got);
                const float *r = tide_data(variant == 2 ? &nobias : &want);
                int64_t bad = 0;
                for (int64_t i = 0; i < M * N; i++) bad += memcmp(&g[i], &r[i], sizeof *g) != 0;
                CHECK_MSG(bad == 0, "qlinear %s (variant %d), %lldx%lldx%lld: %lld floats differ "
                          "from the portable path's", tide_qgemm_name((tide_qgemm_path)p), variant,
                          (long long)M, (long long)N, (long long)K, (long long)bad);
                tide_tensor_release(&got), tide_tensor_release(&nobias);
            }
        tide_tensor_release(&want), tide_tensor_release(&x), tide_tensor_release(&w);
        tide_tensor_release(&bias), tide_tensor_release(&q), tide_tensor_release(&scale);
        tide_tensor_release(&packed);
    }
}

int main(void)
{
    test_paths();
    test_qlinear();
    test_qlinear_paths_agree();
    return check_report("qgemm");
}
