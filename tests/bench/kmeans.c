/* kmeans.c — the C twin of tests/bench/kmeans.lua: Lloyd's k-means written directly against
 * MPI and OpenBLAS, as a C programmer would without tide, timed the same way.
 *
 * Data: N x d float32 Gaussian blobs (k centres uniform in [-5, 5)^d, std 1), made from a
 * counter-based hash of the global row so every rank count sees the same rows; each rank
 * holds a contiguous block. Init: k rows spread over the data. Per iteration, per chunk of
 * 1024 rows: G = X·Cᵀ by cblas_sgemm, d_j = ‖c_j‖² − 2·G_j, argmin per row, sums (double)
 * and counts per cluster; then ONE MPI_Allreduce of sums and counts and the new centres
 * (an empty cluster keeps its centre). Prints one JSON line from rank 0.
 *
 *   mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 build/bench/kmeans [N d k iters] */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 1024
#define PI 3.14159265358979323846

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit(uint64_t a, uint64_t b)
{
    return (double)(mix(mix(a) ^ b) >> 11) * 0x1p-53;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long N = argc > 1 ? atol(argv[1]) : 1000000, d = argc > 2 ? atol(argv[2]) : 32;
    long k = argc > 3 ? atol(argv[3]) : 64, iters = argc > 4 ? atol(argv[4]) : 20;
    long first = rank * (N / size) + (rank < N % size ? rank : N % size);
    long n = N / size + (rank < N % size);

    float *truth = malloc(sizeof(float) * k * d), *x = malloc(sizeof(float) * n * d);
    float *c = malloc(sizeof(float) * k * d), *g = malloc(sizeof(float) * CHUNK * k);
    float *cn = malloc(sizeof(float) * k);
    double *buf = malloc(sizeof(double) * (k * d + k + 1));
    double *times = malloc(sizeof(double) * iters);
    for (long i = 0; i < k * d; i++)
        truth[i] = (float)(10 * unit(1, (uint64_t)i) - 5);
    for (long i = 0; i < n; i++) {
        uint64_t row = (uint64_t)(first + i);
        long lab = (long)(unit(2, row) * (double)k);
        for (long t = 0; t < d; t += 2) {   /* Box-Muller, two normals per draw */
            double u1 = unit(3, row * (uint64_t)d + (uint64_t)t) + 1e-300;
            double u2 = unit(4, row * (uint64_t)d + (uint64_t)t);
            double r = sqrt(-2 * log(u1));
            x[i * d + t] = truth[lab * d + t] + (float)(r * cos(2 * PI * u2));
            if (t + 1 < d)
                x[i * d + t + 1] = truth[lab * d + t + 1] + (float)(r * sin(2 * PI * u2));
        }
    }
    /* init: rows j·N/k + 7, fetched by their owners through a sum allreduce */
    memset(buf, 0, sizeof(double) * k * d);
    for (long j = 0; j < k; j++) {
        long gr = j * (N / k) + 7;
        if (gr >= first && gr < first + n)
            for (long t = 0; t < d; t++)
                buf[j * d + t] = x[(gr - first) * d + t];
    }
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)(k * d), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    for (long i = 0; i < k * d; i++)
        c[i] = (float)buf[i];

    double t_gemm = 0, t_assign = 0, t_allreduce = 0, inertia = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    for (long it = 0; it <= iters; it++) {
        int final = it == iters;     /* one more pass: labels and inertia of the final centres */
        double t0 = MPI_Wtime();
        memset(buf, 0, sizeof(double) * (k * d + k + 1));
        for (long j = 0; j < k; j++) {
            float s = 0;
            for (long t = 0; t < d; t++)
                s += c[j * d + t] * c[j * d + t];
            cn[j] = s;
        }
        for (long r0 = 0; r0 < n; r0 += CHUNK) {
            long m = n - r0 < CHUNK ? n - r0 : CHUNK;
            double a = MPI_Wtime();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)d, -2.0f,
                        x + r0 * d, (int)d, c, (int)d, 0.0f, g, (int)k);
            double b = MPI_Wtime();
            for (long i = 0; i < m; i++) {
                const float *gi = g + i * k, *xi = x + (r0 + i) * d;
                float best = gi[0] + cn[0];
                long bj = 0;
                for (long j = 1; j < k; j++) {
                    float v = gi[j] + cn[j];
                    if (v < best) {
                        best = v;
                        bj = j;
                    }
                }
                float e2 = 0;
                for (long t = 0; t < d; t++) {
                    float e = xi[t] - c[bj * d + t];
                    e2 += e * e;
                }
                buf[k * d + k] += e2;
                if (!final) {
                    double *s = buf + bj * d;
                    for (long t = 0; t < d; t++)
                        s[t] += xi[t];
                    buf[k * d + bj] += 1;
                }
            }
            t_gemm += b - a;
            t_assign += MPI_Wtime() - b;
        }
        double t1 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)(k * d + k + 1), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        t_allreduce += MPI_Wtime() - t1;
        if (final) {
            inertia = buf[k * d + k];
            break;
        }
        for (long j = 0; j < k; j++)
            if (buf[k * d + j] > 0)
                for (long t = 0; t < d; t++)
                    c[j * d + t] = (float)(buf[j * d + t] / buf[k * d + j]);
        times[it] = MPI_Wtime() - t0;
    }
    /* the final pass's share is not part of the per-iteration phases */
    qsort(times, (size_t)iters, sizeof(double), cmp_double);
    double med = iters % 2 ? times[iters / 2] : (times[iters / 2 - 1] + times[iters / 2]) / 2;
    double phases[3] = {t_gemm, t_assign, t_allreduce}, maxp[3];
    MPI_Reduce(phases, maxp, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("{\"impl\": \"c\", \"np\": %d, \"N\": %ld, \"d\": %ld, \"k\": %ld, \"iters\": %ld, "
               "\"per_iter_s\": %.6f, \"gemm_s\": %.6f, \"assign_s\": %.6f, "
               "\"allreduce_s\": %.6f, \"inertia\": %.6f, \"blas_core\": \"%s\"}\n",
               size, N, d, k, iters, med, maxp[0] / (double)(iters + 1),
               maxp[1] / (double)(iters + 1), maxp[2] / (double)(iters + 1), inertia,
               openblas_get_corename());
    free(truth), free(x), free(c), free(g), free(cn), free(buf), free(times);
    MPI_Finalize();
    return 0;
}
