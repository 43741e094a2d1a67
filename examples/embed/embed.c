/* embed.c — a C program that embeds the tide host (tide_host.h) and asks a Lua placement
 * policy which rank owns each of its keys. The keys stay in the program's own array: the
 * policy sees them as a tensor without a copy.
 *
 *   mpirun -np 2 embed_example [policy.lua]
 *
 * Each rank prints its keys and their owners, checks them against key % nranks computed here,
 * and shows how a failure comes back (a status and a message, never an abort). Exit status 0
 * when every check passed. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "tide_host.h"

#define NKEYS 6

static int failures;

static void expect(int rank, int ok, const char *what)
{
    if (!ok) {
        failures++;
        fprintf(stderr, "rank %d: check failed: %s\n", rank, what);
    }
}

/* The first line of a message (a traceback follows it). */
static void print_first_line(int rank, const char *label, const char *msg)
{
    const char *nl = strchr(msg, '\n');
    printf("rank %d: %s: %.*s\n", rank, label, nl ? (int)(nl - msg) : (int)strlen(msg), msg);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *policy = argc > 1 ? argv[1] : TIDE_EMBED_POLICY;

    char err[512];
    tide_host *h = tide_host_new(MPI_COMM_WORLD, err, sizeof err);
    if (!h) {
        fprintf(stderr, "rank %d: %s\n", rank, err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (tide_host_run_file(h, policy) != TIDE_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, tide_host_error(h));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    /* this rank's keys, in memory the program owns */
    int64_t keys[NKEYS];
    for (int i = 0; i < NKEYS; i++)
        keys[i] = 100 * rank + 7 * i + 3;
    tide_tensor kt = TIDE_TENSOR_EMPTY;
    int64_t n = NKEYS;
    if (tide_tensor_wrap(&kt, keys, TIDE_I64, 1, &n, NULL, NULL) != TIDE_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, tide_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    /* owners = assign(keys, size) */
    tide_value args[2] = {tide_value_tensor(&kt), tide_value_integer(size)};
    tide_value owners;
    if (tide_host_call(h, "assign", args, 2, &owners, 1) != TIDE_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, tide_host_error(h));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    expect(rank, owners.type == TIDE_VALUE_TENSOR, "assign returns a tensor");
    if (owners.type == TIDE_VALUE_TENSOR) {
        expect(rank, owners.tensor.ndim == 1 && owners.tensor.shape[0] == NKEYS,
               "assign returns one owner per key");
        expect(rank, owners.tensor.dtype == TIDE_I64, "assign returns i64 ranks");
        char line[512];
        int len = snprintf(line, sizeof line, "rank %d: keys", rank);
        for (int i = 0; i < NKEYS; i++)
            len += snprintf(line + len, sizeof line - (size_t)len, " %" PRId64, keys[i]);
        len += snprintf(line + len, sizeof line - (size_t)len, " -> ranks");
        for (int64_t i = 0; i < NKEYS && owners.tensor.ndim == 1; i++) {
            int64_t owner = tide_get_i64(&owners.tensor, &i);
            len += snprintf(line + len, sizeof line - (size_t)len, " %" PRId64, owner);
            expect(rank, owner == keys[i] % size, "owner is key % nranks");
        }
        printf("%s\n", line);
    }
    tide_value_clear(&owners);

    /* shift_(keys, 1000) writes into the program's array: shared, not copied */
    tide_value shift_args[2] = {tide_value_tensor(&kt), tide_value_integer(1000)};
    tide_value same;
    if (tide_host_call(h, "shift_", shift_args, 2, &same, 1) != TIDE_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, tide_host_error(h));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    expect(rank, same.type == TIDE_VALUE_TENSOR && same.tensor.storage == kt.storage,
           "shift_ returns a view of the program's keys");
    expect(rank, keys[0] == 100 * rank + 1003 && keys[NKEYS - 1] == 100 * rank + 1038,
           "shift_ changed the program's keys in place");
    printf("rank %d: after shift_ the program's keys start at %" PRId64 "\n", rank, keys[0]);
    tide_value_clear(&same);

    /* failures come back as a status and a message */
    tide_value none;
    expect(rank, tide_host_call(h, "no_such_policy", NULL, 0, &none, 1) != TIDE_OK,
           "calling a missing function fails");
    print_first_line(rank, "missing function", tide_host_error(h));
    tide_value bad_args[2] = {tide_value_string("not keys"), tide_value_integer(size)};
    expect(rank, tide_host_call(h, "assign", bad_args, 2, &none, 1) != TIDE_OK,
           "assign rejects a string");
    print_first_line(rank, "bad keys", tide_host_error(h));
    expect(rank, tide_host_run_string(h, "return 1 +") != TIDE_OK, "a syntax error fails");
    print_first_line(rank, "syntax error", tide_host_error(h));

    tide_tensor_release(&kt);
    tide_host_free(h);
    printf("rank %d: %s\n", rank, failures ? "FAILED" : "ok");
    MPI_Finalize();
    return failures ? 1 : 0;
}
