/* sparse.c — the C twin of tests/bench/sparse.lua: a CSR matrix times a dense matrix as a C
 * programmer writes it (the textbook row loop, one thread), on a matrix of the same size and
 * structure as the benchmark's: n x n, `per_row` entries per row at uniformly random columns
 * (duplicates merged), values and the dense operand uniform in [-1, 1). (No restrict on the
 * operands: with it GCC 12 makes this loop two times slower on this machine.)
 *
 *   build/bench/sparse n per_row k dtype rounds   -> one JSON line: median seconds, GFLOP/s
 *
 * GFLOP/s counts 2 * nnz * k flops per product. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t state = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)   /* xorshift64* */
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545f4914f6cdd1dull;
}

static double unit(void) { return (double)(next() >> 11) * 0x1p-53; }

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define SPMM(T)                                                                                \
    __attribute__((noipa)) static void spmm_##T(long n, long k, const int64_t *rp,             \
                                                const int64_t *col, const T *val,              \
                                                const T *x, T *y)              \
    {                                                                                          \
        for (long i = 0; i < n; i++) {                                                         \
            T *yi = y + i * k;                                                                 \
            for (long c = 0; c < k; c++)                                                       \
                yi[c] = 0;                                                                     \
            for (int64_t p = rp[i]; p < rp[i + 1]; p++) {                                      \
                const T a = val[p], *xj = x + col[p] * k;                                      \
                for (long c = 0; c < k; c++)                                                   \
                    yi[c] += a * xj[c];                                                        \
            }                                                                                  \
        }                                                                                      \
    }
SPMM(float)
SPMM(double)

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000, per_row = argc > 2 ? atol(argv[2]) : 10;
    long k = argc > 3 ? atol(argv[3]) : 16;
    int f64 = argc > 4 && strcmp(argv[4], "f64") == 0;
    int rounds = argc > 5 ? atoi(argv[5]) : 7;
    size_t es = f64 ? sizeof(double) : sizeof(float);
    int64_t *rp = malloc(sizeof *rp * (n + 1)), *col = malloc(sizeof *col * n * per_row);
    void *val = malloc(es * n * per_row), *x = malloc(es * n * k), *y = malloc(es * n * k);
    double *secs = malloc(sizeof *secs * rounds);
    if (!rp || !col || !val || !x || !y || !secs) {
        fprintf(stderr, "sparse twin: out of memory\n");
        return 1;
    }
    long nnz = 0;
    rp[0] = 0;
    for (long i = 0; i < n; i++) {   /* sorted, unique columns per row, as CSR keeps them */
        int64_t *row = col + nnz;
        for (long e = 0; e < per_row; e++)
            row[e] = (int64_t)(next() % (uint64_t)n);
        qsort(row, per_row, sizeof *row, cmp_i64);
        long u = 0;
        for (long e = 0; e < per_row; e++)
            if (u == 0 || row[e] != row[u - 1])
                row[u++] = row[e];
        nnz += u;
        rp[i + 1] = nnz;
    }
    for (long p = 0; p < nnz; p++) {
        if (f64) ((double *)val)[p] = 2 * unit() - 1;
        else ((float *)val)[p] = (float)(2 * unit() - 1);
    }
    for (long p = 0; p < n * k; p++) {
        if (f64) ((double *)x)[p] = 2 * unit() - 1;
        else ((float *)x)[p] = (float)(2 * unit() - 1);
    }
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        if (f64) spmm_double(n, k, rp, col, val, x, y);
        else spmm_float(n, k, rp, col, val, x, y);
        secs[r] = now() - t0;
    }
    qsort(secs, rounds, sizeof *secs, cmp_double);
    double med = secs[rounds / 2];
    printf("{\"impl\": \"c\", \"n\": %ld, \"nnz\": %ld, \"k\": %ld, \"dtype\": \"%s\", "
           "\"seconds\": %.6g, \"gflops\": %.4g}\n", n, nnz, k, f64 ? "f64" : "f32", med,
           2.0 * nnz * k / med * 1e-9);
    free(rp), free(col), free(val), free(x), free(y), free(secs);
    return 0;
}
