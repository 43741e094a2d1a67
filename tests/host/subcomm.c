/* A host embedded on a sub-communicator (world ranks 1.. of an mpirun job; rank 0 stays out)
 * must behave as a job of that size: tide.world is the sub-communicator, and the random streams
 * key on the rank in it, so host rank r draws stream r. Prints one line per host rank; exits
 * non-zero on a failure. Run by tests/lua/host_spec.lua under mpirun -np 3. */
#include <stdio.h>

#include "tide_host.h"

static const char check[] =
    "local me = tide.world.rank\n"
    "local a = tide.rand(6, { seed = 7 })\n"                      /* this rank's stream */
    "local b = tide.rand(6, { seed = 7, stream = me })\n"         /* stream `me`, named */
    "tide.manual_seed(7)\n"
    "local c = tide.rand(6)\n"                                    /* the default generator */
    "for i = 1, 6 do\n"
    "  assert(a:get(i) == b:get(i) and c:get(i) == b:get(i), 'stream of rank ' .. me)\n"
    "end\n"
    "print(('host rank %d of %d: stream %d'):format(me, tide.world.size, me))\n";

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, status = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? MPI_UNDEFINED : 1, rank, &sub);
    if (sub != MPI_COMM_NULL) {
        char err[512];
        tide_host *h = tide_host_new(sub, err, sizeof err);
        if (!h) {
            fprintf(stderr, "world rank %d: %s\n", rank, err);
            status = 1;
        } else if (tide_host_run_string(h, check) != TIDE_OK) {
            fprintf(stderr, "world rank %d: %s\n", rank, tide_host_error(h));
            status = 1;
        }
        fflush(stdout);
        tide_host_free(h);
        MPI_Comm_free(&sub);
    }
    MPI_Finalize();
    return status;
}
