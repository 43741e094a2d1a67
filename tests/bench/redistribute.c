/* redistribute.c — the C twin of tests/bench/redistribute.lua: rows of a block-distributed
 * N x D f32 matrix move to the ranks a random permutation sends them to, with a counting-sort
 * pack and one raw MPI_Alltoallv (after an MPI_Alltoall of the counts), as a C programmer
 * would write it, buffers allocated once.
 *
 *   mpirun -np 2 build/bench/redistribute [rows] [cols] [reps]
 * Rank 0 prints "c <seconds>" for every repetition. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* rows of rank r under the block layout, and its first row */
static void block(int64_t n, int p, int r, int64_t *start, int64_t *count)
{
    int64_t q = n / p, rem = n % p;
    *count = q + (r < rem);
    *start = r * q + (r < rem ? r : rem);
}

static int owner(int64_t pos, int64_t n, int p)
{
    int64_t q = n / p, rem = n % p;
    return pos < rem * (q + 1) ? (int)(pos / (q + 1)) : (int)(rem + (pos - rem * (q + 1)) / q);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int64_t N = argc > 1 ? atoll(argv[1]) : 1000000;
    int64_t D = argc > 2 ? atoll(argv[2]) : 32;
    int reps = argc > 3 ? atoi(argv[3]) : 5;

    int64_t start, n;
    block(N, size, rank, &start, &n);
    float *x = malloc(sizeof(float) * (size_t)(n * D));
    float *sendbuf = malloc(sizeof(float) * (size_t)(n * D));
    float *recvbuf = malloc(sizeof(float) * (size_t)((N / size + 1) * D));
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)N);
    int *dest = malloc(sizeof(int) * (size_t)(n ? n : 1));
    int *sc = calloc((size_t)size * 4, sizeof(int));
    int *at = malloc(sizeof(int) * (size_t)size);
    double *times = malloc(sizeof(double) * (size_t)reps);
    if (!x || !sendbuf || !recvbuf || !perm || !dest || !sc || !at || !times) {
        fprintf(stderr, "redistribute: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int64_t i = 0; i < n * D; i++)
        x[i] = (float)(start * D + i);
    /* the same permutation on every rank (Fisher-Yates); row i goes where its new position
     * lies under the block layout */
    uint64_t s = 2;
    for (int64_t i = 0; i < N; i++)
        perm[i] = i;
    for (int64_t i = N - 1; i > 0; i--) {
        int64_t j = (int64_t)(splitmix(&s) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int64_t i = 0; i < n; i++)
        dest[i] = owner(perm[start + i], N, size);
    free(perm);

    int *scount = sc, *sdispl = sc + size, *rcount = sc + 2 * size, *rdispl = sc + 3 * size;
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        memset(scount, 0, sizeof(int) * (size_t)size);
        for (int64_t i = 0; i < n; i++)
            scount[dest[i]]++;
        int sum = 0;
        for (int d = 0; d < size; d++) {
            sdispl[d] = sum;
            at[d] = sum;
            sum += scount[d];
        }
        for (int64_t i = 0; i < n; i++)
            memcpy(sendbuf + (int64_t)(at[dest[i]]++) * D, x + i * D, sizeof(float) * (size_t)D);
        MPI_Alltoall(scount, 1, MPI_INT, rcount, 1, MPI_INT, MPI_COMM_WORLD);
        sum = 0;
        for (int d = 0; d < size; d++) {
            rdispl[d] = sum;
            sum += rcount[d];
        }
        /* counts in rows; a row type keeps them small */
        MPI_Datatype row;
        MPI_Type_contiguous((int)D, MPI_FLOAT, &row);
        MPI_Type_commit(&row);
        MPI_Alltoallv(sendbuf, scount, sdispl, row, recvbuf, rcount, rdispl, row, MPI_COMM_WORLD);
        MPI_Type_free(&row);
        MPI_Barrier(MPI_COMM_WORLD);
        times[r] = MPI_Wtime() - t0;
    }
    for (int r = 0; r < reps && rank == 0; r++)
        printf("c %.6f\n", times[r]);
    free(x);
    free(sendbuf);
    free(recvbuf);
    free(dest);
    free(sc);
    free(at);
    free(times);
    MPI_Finalize();
    return 0;
}
