/* allreduce.c — the raw-MPI twin of tests/bench/allreduce.lua: in-place f32 MPI_Allreduce
 * (sum) on MPI_COMM_WORLD, as a C programmer would call it, buffer allocated once.
 *
 * Built two ways from this one file:
 *   - a program (tests.cmake builds each C file of tests/bench as build/bench/<name>):
 *       mpirun -np 2 build/bench/allreduce [rounds]
 *     prints "raw <bytes> <median us per call>" for each size of the benchmark;
 *   - with -DTWIN_MODULE, a Lua module (allreduce_twin) that allreduce.lua loads into the same
 *     mpirun job as tide, so tide and raw MPI rounds alternate in the same processes on the same
 *     (shared, noisy) machine: twin.run(bytes, iters) -> slowest rank's seconds per call, and
 *     twin.wtime() -> MPI_Wtime(). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *buf;
static size_t buf_floats;

static int ensure_buffer(size_t n)
{
    if (n <= buf_floats)
        return 1;
    free(buf);
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    buf = aligned_alloc(64, bytes ? bytes : 64);
    buf_floats = buf ? n : 0;
    if (!buf)
        return 0;
    for (size_t i = 0; i < n; i++)
        buf[i] = 1.0f;
    return 1;
}

/* Seconds per call of iters in-place allreduces of n floats: the slowest rank's. */
static double time_allreduce(int n, int iters)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < iters; i++)
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double t = (MPI_Wtime() - t0) / iters;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return t;
}

#ifdef TWIN_MODULE
#include <lauxlib.h>
#include <lua.h>

static int l_run(lua_State *L)
{
    lua_Integer bytes = luaL_checkinteger(L, 1);
    lua_Integer iters = luaL_checkinteger(L, 2);
    int n = (int)(bytes / (lua_Integer)sizeof(float));
    if (!ensure_buffer((size_t)n))
        return luaL_error(L, "allreduce twin: out of memory for %d floats", n);
    lua_pushnumber(L, time_allreduce(n, (int)iters));
    return 1;
}

static int l_wtime(lua_State *L)
{
    lua_pushnumber(L, MPI_Wtime());
    return 1;
}

int luaopen_allreduce_twin(lua_State *L)
{
    static const luaL_Reg fns[] = {{"run", l_run}, {"wtime", l_wtime}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}

#else

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int rounds = argc > 1 ? atoi(argv[1]) : 9;
    if (rounds < 1 || rounds > 1000)
        rounds = 9;
    static const long sizes[] = {4, 1024, 64 << 10, 1 << 20, 16 << 20, 64 << 20};
    static const int iters[] = {2000, 2000, 300, 40, 4, 2};
    double *t = malloc(sizeof(double) * (size_t)rounds);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = (int)(sizes[s] / (long)sizeof(float));
        if (!t || !ensure_buffer((size_t)n)) {
            fprintf(stderr, "allreduce: out of memory\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        time_allreduce(n, iters[s] / 10 + 1);   /* warm up */
        for (int r = 0; r < rounds; r++)
            t[r] = time_allreduce(n, iters[s]);
        qsort(t, (size_t)rounds, sizeof *t, cmp);
        if (rank == 0)
            printf("raw %ld %.3f\n", sizes[s], t[rounds / 2] * 1e6);
    }
    free(t);
    free(buf);
    MPI_Finalize();
    return 0;
}
#endif
