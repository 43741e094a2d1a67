/* ps.c — the raw-MPI twin of tests/bench/ps.lua: what a C programmer would write for a
 * parameter server with one server (rank 0) and P - 1 workers, and for a task farm.
 *
 *   mpirun -np 4 build/bench/ps <bytes> <iters> <tasks>
 * prints, from rank 0, "c push <bytes> <s>", "c pull <bytes> <s>" (seconds per push or pull,
 * per worker, the slowest worker's) and "c farm <s>" (seconds per empty task).
 *
 * The protocol is tide.ps's: a 4 x int64 header (op, key, clock, rows) and then the values. A
 * push is header + payload with blocking sends, which the server receives and applies as
 * SGD (w += -lr * g, one loop); a pull is a header answered with the value. A phase ends with
 * a clock header per worker, acknowledged once the server has seen every worker's. The farm
 * is mpi4py.futures' shape: rank 0 keeps two tasks in flight per worker (an 8-byte index),
 * each worker answers with an 8-byte result. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { OP_PUSH = 1, OP_PULL = 2, OP_CLOCK = 5 };
enum { TAG_REQ = 32001, TAG_DATA = 32002, TAG_REPLY = 32003, TAG_ACK = 32004 };
enum { TAG_TASK = 31001, TAG_RESULT = 31002 };

static void serve(double *value, double *buf, int n, int workers)
{
    int clocked = 0;
    while (clocked < workers) {
        int64_t h[4];
        MPI_Status st;
        MPI_Recv(h, 4, MPI_INT64_T, MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &st);
        if (h[0] == OP_PUSH) {
            MPI_Recv(buf, n, MPI_DOUBLE, st.MPI_SOURCE, TAG_DATA, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            for (int i = 0; i < n; i++)
                value[i] += -0.01 * buf[i];
        } else if (h[0] == OP_PULL) {
            MPI_Send(value, n, MPI_DOUBLE, st.MPI_SOURCE, TAG_REPLY, MPI_COMM_WORLD);
        } else {
            clocked++;
        }
    }
    int64_t ack = 0;
    for (int r = 1; r <= workers; r++)
        MPI_Send(&ack, 1, MPI_INT64_T, r, TAG_ACK, MPI_COMM_WORLD);
}

/* Seconds per op of iters pushes (op = OP_PUSH) or pulls of n doubles: the slowest worker's. */
static double phase(int op, double *value, double *buf, int n, int iters)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime(), t = 0;
    if (rank == 0) {
        serve(value, buf, n, size - 1);
    } else {
        int64_t h[4] = {op, 0, 0, n};
        for (int i = 0; i < iters; i++) {
            MPI_Send(h, 4, MPI_INT64_T, 0, TAG_REQ, MPI_COMM_WORLD);
            if (op == OP_PUSH)
                MPI_Send(buf, n, MPI_DOUBLE, 0, TAG_DATA, MPI_COMM_WORLD);
            else
                MPI_Recv(buf, n, MPI_DOUBLE, 0, TAG_REPLY, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
        int64_t c[4] = {OP_CLOCK, 0, 1, 0}, ack;
        MPI_Send(c, 4, MPI_INT64_T, 0, TAG_REQ, MPI_COMM_WORLD);
        MPI_Recv(&ack, 1, MPI_INT64_T, 0, TAG_ACK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        t = (MPI_Wtime() - t0) / iters;
    }
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return t;
}

/* Seconds per empty task of a farm of `tasks` tasks, two in flight per worker. */
static double farm(int tasks)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    int64_t msg;
    if (rank == 0) {
        int64_t next = 0, done = 0, stop = -1;
        for (int r = 1; r < size; r++)
            for (int k = 0; k < 2 && next < tasks; k++, next++)
                MPI_Send(&next, 1, MPI_INT64_T, r, TAG_TASK, MPI_COMM_WORLD);
        while (done < tasks) {
            MPI_Status st;
            MPI_Recv(&msg, 1, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &st);
            done++;
            if (next < tasks) {
                MPI_Send(&next, 1, MPI_INT64_T, st.MPI_SOURCE, TAG_TASK, MPI_COMM_WORLD);
                next++;
            }
        }
        for (int r = 1; r < size; r++)
            MPI_Send(&stop, 1, MPI_INT64_T, r, TAG_TASK, MPI_COMM_WORLD);
    } else {
        for (;;) {
            MPI_Recv(&msg, 1, MPI_INT64_T, 0, TAG_TASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (msg < 0)
                break;
            MPI_Send(&msg, 1, MPI_INT64_T, 0, TAG_RESULT, MPI_COMM_WORLD);
        }
    }
    double t = (MPI_Wtime() - t0) / tasks;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return t;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long bytes = argc > 1 ? atol(argv[1]) : 1024;
    int iters = argc > 2 ? atoi(argv[2]) : 100;
    int tasks = argc > 3 ? atoi(argv[3]) : 1000;
    if (size < 2 || bytes < 8 || iters < 1 || tasks < 1) {
        if (rank == 0)
            fprintf(stderr, "ps: needs 2 ranks or more, bytes >= 8, iters and tasks >= 1\n");
        MPI_Finalize();
        return 1;
    }
    int n = (int)(bytes / 8);
    double *value = calloc((size_t)n, sizeof *value), *buf = calloc((size_t)n, sizeof *buf);
    if (!value || !buf) {
        fprintf(stderr, "ps: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    phase(OP_PUSH, value, buf, n, iters / 10 + 1);   /* warm up */
    double push = phase(OP_PUSH, value, buf, n, iters);
    double pull = phase(OP_PULL, value, buf, n, iters);
    double per_task = tasks > 0 ? farm(tasks) : 0;
    if (rank == 0)
        printf("c push %ld %.9f\nc pull %ld %.9f\nc farm %.9f\n", bytes, push, bytes, pull,
               per_task);
    free(value);
    free(buf);
    MPI_Finalize();
    return 0;
}
