/* tensor.c — the C twin of tests/bench/tensor.lua: the same work written directly against
 * OpenBLAS and as plain loops, built with tide's flags (-O3 -march=native), so the Lua
 * benchmark can print tide / C for each line. Prints one "name value unit" line per result.
 *
 *   gemm:  C = A·B, square row-major, best GFLOP/s over a time-based repetition
 *   add:   c[i] = a[i] + b[i] on 16M f32, median GB/s (3 arrays counted)
 *   relu:  r[i] = a[i] > 0 ? a[i] : 0 on 16M f32, median GB/s (2 arrays counted)  */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N_ELEM (16u * 1024u * 1024u)
#define REPS 30

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

__attribute__((noipa)) static void add_loop(float *restrict c, const float *restrict a,
                                            const float *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c[i] = a[i] + b[i];
}

__attribute__((noipa)) static void relu_loop(float *restrict r, const float *restrict a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r[i] = a[i] > 0.0f ? a[i] : 0.0f;
}

static void fill(void *p, size_t n, int dbl)
{
    unsigned s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        double v = ((int)(s >> 8) - (1 << 23)) / (double)(1 << 23);
        if (dbl) ((double *)p)[i] = v; else ((float *)p)[i] = (float)v;
    }
}

/* Best seconds of one gemm after ~0.2 s of warm-up, over at least 3 calls and 0.3 s. */
static double gemm_best(int n, int dbl)
{
    size_t es = dbl ? 8 : 4, nn = (size_t)n * n;
    void *a = aligned_alloc(64, nn * es), *b = aligned_alloc(64, nn * es), *c = aligned_alloc(64, nn * es);
    fill(a, nn, dbl);
    fill(b, nn, dbl);
    double best = 1e30, start = now();
    int calls = 0;
    for (int warm = 1; warm >= 0; warm--) {
        double t_begin = now();
        calls = 0;
        while (warm ? now() - t_begin < 0.2 : (calls < 3 || now() - t_begin < 0.3)) {
            double t0 = now();
            if (dbl)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n,
                            0.0, c, n);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
                            0.0f, c, n);
            double dt = now() - t0;
            if (!warm && dt < best) best = dt;
            calls++;
        }
    }
    (void)start;
    free(a); free(b); free(c);
    return best;
}

static double median_of(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return 0.5 * (t[(n - 1) / 2] + t[n / 2]);
}

int main(void)
{
    static const int sizes[] = {256, 1024, 2048};
    for (int dbl = 0; dbl <= 1; dbl++)
        for (int i = 0; i < 3; i++) {
            int n = sizes[i];
            double best = gemm_best(n, dbl);
            printf("%s_%d %.2f GFLOP/s\n", dbl ? "dgemm" : "sgemm", n, 2.0 * n * n * n / best / 1e9);
        }
    float *a = aligned_alloc(64, N_ELEM * 4), *b = aligned_alloc(64, N_ELEM * 4),
          *c = aligned_alloc(64, N_ELEM * 4);
    fill(a, N_ELEM, 0);
    fill(b, N_ELEM, 0);
    double t[REPS];
    for (int r = -1; r < REPS; r++) {
        double t0 = now();
        add_loop(c, a, b, N_ELEM);
        if (r >= 0) t[r] = now() - t0;
    }
    printf("add_16M %.2f GB/s\n", 3.0 * N_ELEM * 4 / median_of(t, REPS) / 1e9);
    for (int r = -1; r < REPS; r++) {
        double t0 = now();
        relu_loop(c, a, N_ELEM);
        if (r >= 0) t[r] = now() - t0;
    }
    printf("relu_16M %.2f GB/s\n", 2.0 * N_ELEM * 4 / median_of(t, REPS) / 1e9);
    printf("checksum %.6g\n", (double)(c[0] + c[N_ELEM - 1]));
    free(a); free(b); free(c);
    return 0;
}
