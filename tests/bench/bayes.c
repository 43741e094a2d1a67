/* bayes.c — the C twin of tests/bench/bayes.lua: likelihood weighting on the Asia network written
 * directly in C with MPI, as a C programmer would without tide: one sample at a time, the CPTs as
 * arrays, a splitmix64 stream per rank, one MPI_Allreduce of the weight sums at the end.
 * Query P(lung = yes | xray = yes, smoke = yes). Prints one JSON line from rank 0.
 *
 *   mpirun -np 2 build/bench/bayes [samples over all ranks] */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state;

static double uniform(void)
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

/* State 0 is "yes", 1 is "no"; each array is P(yes | parents) by parents' states. */
static int draw(double p_yes) { return uniform() < p_yes ? 0 : 1; }

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long total = argc > 1 ? atol(argv[1]) : 4000000;
    long mine = total / size + (rank < total % size);
    state = 0x5eed0000ull + (uint64_t)rank;

    const double tub[2] = {0.05, 0.01}, lung[2] = {0.1, 0.01}, bronc[2] = {0.6, 0.3};
    const double xray[2] = {0.98, 0.05}, dysp[2][2] = {{0.9, 0.8}, {0.7, 0.1}};
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    double sums[2] = {0, 0};   /* sum of w, sum of w * [lung = yes] */
    for (long i = 0; i < mine; i++) {
        int asia = draw(0.01);
        int t = draw(tub[asia]);
        int smoke = 0;                     /* evidence: weight P(smoke = yes) = 0.5 */
        double w = 0.5;
        int l = draw(lung[smoke]);
        int b = draw(bronc[smoke]);
        int either = (l == 0 || t == 0) ? 0 : 1;
        w *= xray[either];                 /* evidence: xray = yes */
        int d = draw(dysp[b][either]);
        (void)d;
        sums[0] += w;
        sums[1] += l == 0 ? w : 0;
    }
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    double secs = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &secs, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("{\"ranks\": %d, \"samples\": %ld, \"seconds\": %.6f, \"p_lung_yes\": %.6f}\n",
               size, total, secs, sums[1] / sums[0]);
    MPI_Finalize();
    return 0;
}
