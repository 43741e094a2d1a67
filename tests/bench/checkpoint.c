/* checkpoint.c — the C twin of tests/bench/checkpoint.lua: what the disk gives a plain program.
 * Every rank writes its share of the bytes (total / ranks) to a file of its own with write() in
 * 64 MiB pieces and fsyncs it, as `dd bs=64M conv=fsync` does; then reads it back with read()
 * into the same buffer. The clock runs from a barrier to a barrier, so a time is the slowest
 * rank's, as a checkpoint's is.
 *
 *   mpirun -np 2 build/bench/checkpoint DIR BYTES REPS
 * Rank 0 prints "raw_write <seconds>" and "raw_read <seconds>" for every repetition; the files
 * are removed after each. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIECE ((size_t)64 << 20)

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n < PIECE ? n : PIECE);
        if (k <= 0)
            return 0;
        p += k;
        n -= (size_t)k;
    }
    return fsync(fd) == 0;
}

static int read_all(int fd, char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = read(fd, p, n < PIECE ? n : PIECE);
        if (k <= 0)
            return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 4) {
        if (rank == 0)
            fprintf(stderr, "usage: checkpoint DIR BYTES REPS\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    size_t bytes = (size_t)(strtoll(argv[2], NULL, 10) / size);
    int reps = atoi(argv[3]);
    char path[4096];
    snprintf(path, sizeof path, "%s/raw-%05d.bin", argv[1], rank);
    char *buf = malloc(bytes);
    if (!buf)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t i = 0; i < bytes; i++)   /* touched, so no page is first faulted in the clock */
        buf[i] = (char)(i * 2654435761u >> 24);
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int ok = fd >= 0 && write_all(fd, buf, bytes);
        if (fd >= 0)
            close(fd);
        MPI_Barrier(MPI_COMM_WORLD);
        double t1 = MPI_Wtime();
        fd = open(path, O_RDONLY);
        ok = ok && fd >= 0 && read_all(fd, buf, bytes);
        if (fd >= 0)
            close(fd);
        MPI_Barrier(MPI_COMM_WORLD);
        double t2 = MPI_Wtime();
        unlink(path);
        if (!ok) {
            perror(path);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        if (rank == 0)
            printf("raw_write %.6f\nraw_read %.6f\n", t1 - t0, t2 - t1);
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
