/* conv.c — the C twin of tests/bench/conv.lua: one f32 conv2d forward + backward (weight and
 * input gradients, groups 1, dilation 1) by im2col + cblas_sgemm, written by hand, timed the
 * same way as tide's nn.Conv2d. It is what tide's conv layer should cost.
 *
 *   build/bench/conv N C H W O k stride padding reps
 *
 * Prints one JSON line: the median CPU seconds of one forward + backward, and the checksum of
 * the output (so the work cannot be optimised away). */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU seconds of this process: on a machine shared with other jobs they, unlike wall time,
 * are not inflated by the time other processes hold the core (the twin runs 1 BLAS thread). */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void im2col(const float *x, long C, long H, long W, long k, long s, long p, long OH,
                   long OW, float *col)
{
    for (long c = 0; c < C; c++)
        for (long ki = 0; ki < k; ki++)
            for (long kj = 0; kj < k; kj++) {
                float *row = col + ((c * k + ki) * k + kj) * OH * OW;
                for (long oi = 0; oi < OH; oi++) {
                    long i = oi * s - p + ki;
                    for (long oj = 0; oj < OW; oj++) {
                        long j = oj * s - p + kj;
                        row[oi * OW + oj] =
                            (i >= 0 && i < H && j >= 0 && j < W) ? x[(c * H + i) * W + j] : 0.0f;
                    }
                }
            }
}

static void col2im(const float *col, long C, long H, long W, long k, long s, long p, long OH,
                   long OW, float *x)
{
    for (long c = 0; c < C; c++)
        for (long ki = 0; ki < k; ki++)
            for (long kj = 0; kj < k; kj++) {
                const float *row = col + ((c * k + ki) * k + kj) * OH * OW;
                for (long oi = 0; oi < OH; oi++) {
                    long i = oi * s - p + ki;
                    if (i < 0 || i >= H)
                        continue;
                    for (long oj = 0; oj < OW; oj++) {
                        long j = oj * s - p + kj;
                        if (j >= 0 && j < W)
                            x[(c * H + i) * W + j] += row[oi * OW + oj];
                    }
                }
            }
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr, "usage: conv N C H W O k stride padding reps\n");
        return 2;
    }
    long a[9];
    for (int i = 0; i < 9; i++)
        a[i] = atol(argv[i + 1]);
    long N = a[0], C = a[1], H = a[2], W = a[3], O = a[4], k = a[5], s = a[6], p = a[7];
    int reps = (int)a[8];
    long OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1, K = C * k * k, L = OH * OW;
    float *x = malloc(sizeof(float) * N * C * H * W), *w = malloc(sizeof(float) * O * K);
    float *y = malloc(sizeof(float) * N * O * L), *gy = malloc(sizeof(float) * N * O * L);
    float *gx = malloc(sizeof(float) * N * C * H * W), *gw = malloc(sizeof(float) * O * K);
    float *col = malloc(sizeof(float) * K * L);
    double *times = malloc(sizeof(double) * (size_t)reps);
    uint32_t r = 12345;
    for (long i = 0; i < N * C * H * W; i++)
        x[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (long i = 0; i < O * K; i++)
        w[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (long i = 0; i < N * O * L; i++)
        gy[i] = 1.0f / (float)(1 + i % 7);
    memset(gw, 0, sizeof(float) * O * K);
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now();
        for (long n = 0; n < N; n++) {        /* forward */
            im2col(x + n * C * H * W, C, H, W, k, s, p, OH, OW, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)O, (int)L, (int)K, 1.0f,
                        w, (int)K, col, (int)L, 0.0f, y + n * O * L, (int)L);
        }
        memset(gx, 0, sizeof(float) * N * C * H * W);
        for (long n = 0; n < N; n++) {        /* backward: dW += dY col^T, dX = col2im(W^T dY) */
            im2col(x + n * C * H * W, C, H, W, k, s, p, OH, OW, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)O, (int)K, (int)L, 1.0f,
                        gy + n * O * L, (int)L, col, (int)L, 1.0f, gw, (int)K);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)L, (int)O, 1.0f, w,
                        (int)K, gy + n * O * L, (int)L, 0.0f, col, (int)L);
            col2im(col, C, H, W, k, s, p, OH, OW, gx + n * C * H * W);
        }
        times[rep] = now() - t0;
    }
    qsort(times, (size_t)reps, sizeof(double), cmp);
    double sum = 0;
    for (long i = 0; i < N * O * L; i++)
        sum += y[i];
    printf("{\"seconds\": %.9g, \"checksum\": %.9g}\n", times[reps / 2], sum + gx[0] + gw[0]);
    free(x), free(w), free(y), free(gy), free(gx), free(gw), free(col), free(times);
    return 0;
}
