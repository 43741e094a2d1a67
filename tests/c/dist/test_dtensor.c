/* test_dtensor.c — row-sharded tensors from C at one rank (ctest runs an MPI singleton; the
 * expected values are closed forms in the rank and size, so they hold under mpirun too): the
 * block layout against its defining properties, from_local / replicated / scatter / gather /
 * allgather round trips, counter-based fills against a one-process fill of the whole tensor,
 * redistribute against a direct selection of the rows, and the error messages. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "comm/comm.h"
#include "comm/runtime.h"
#include "dist/dtensor.h"
#include "ops/random.h"
#include "tensors.h"

static int P, me;

static void test_block_layout(void)
{
    /* rank r gets floor(n/p) rows plus one for the first n mod p ranks, in rank order: the
     * counts are contiguous blocks that cover 0..n-1, never increase and differ by <= 1 */
    int ok = 1;
    for (int64_t n = 0; n <= 40; n++)
        for (int p = 1; p <= 9; p++) {
            int64_t next = 0, first = -1, last = -1;
            for (int r = 0; r < p; r++) {
                int64_t start, count;
                tide_dtensor_block_rows(n, p, r, &start, &count);
                ok &= start == next && count >= 0;
                if (r == 0)
                    first = count;
                ok &= last < 0 || count <= last;
                last = count;
                next += count;
            }
            ok &= next == n && first - last <= 1;
        }
    CHECK(ok);
    int64_t s, c;
    tide_dtensor_block_rows(10, 4, 1, &s, &c);
    CHECK(s == 3 && c == 3);                       /* 3, 3, 2, 2 */
    tide_dtensor_block_rows(10, 4, 3, &s, &c);
    CHECK(s == 8 && c == 2);
}

static void test_from_local_and_gather(tide_comm *w)
{
    /* rank r holds r + 1 rows of 2 columns: row k of rank r is (r, k) */
    tide_tensor local = TIDE_TENSOR_EMPTY, all = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&local, TIDE_F64, 2, (int64_t[]){me + 1, 2}));
    for (int64_t k = 0; k <= me; k++) {
        tide_set_f64(&local, (int64_t[]){k, 0}, me);
        tide_set_f64(&local, (int64_t[]){k, 1}, (double)k);
    }
    tide_dtensor dt = TIDE_DTENSOR_EMPTY;
    CHECK_OK(tide_dtensor_from_local(&dt, w, &local));
    CHECK(dt.global_rows == (int64_t)P * (P + 1) / 2 && dt.offset == (int64_t)me * (me + 1) / 2);
    CHECK(dt.nranks == P && dt.rank == me && !dt.replicated);
    CHECK(tide_data(&dt.local) == tide_data(&local));    /* shares the rows, no copy */
    int ok = 1;
    for (int r = 0; r < P; r++)
        ok &= dt.counts[r] == r + 1;
    CHECK(ok);
    CHECK_OK(tide_dtensor_allgather(&all, &dt));
    ok = all.shape[0] == dt.global_rows && all.shape[1] == 2;
    for (int r = 0, row = 0; r < P; r++)
        for (int k = 0; k <= r; k++, row++)
            ok &= tt_at2(&all, row, 0) == r && tt_at2(&all, row, 1) == k;
    CHECK(ok);
    tide_tensor_release(&all);
    CHECK_OK(tide_dtensor_gather(&all, &dt, P - 1));
    CHECK(me == P - 1 ? all.shape[0] == dt.global_rows : all.storage == NULL);
    tide_tensor_release(&all);
    CHECK_FAILS(tide_dtensor_gather(&all, &dt, P), "gather: root");
    tide_dtensor_release(&dt);
    tide_dtensor_release(&dt);                          /* idempotent */

    /* replicated: every rank holds the whole (same-shaped) tensor */
    tide_tensor same = tt_mat(TIDE_F32, 3, 2, NULL);
    CHECK_OK(tide_dtensor_replicated(&dt, w, &same));
    CHECK(dt.replicated && dt.offset == 0 && dt.global_rows == 3);
    tide_dtensor_release(&dt);
    tide_tensor_release(&same);

    tide_tensor scalar = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&scalar, TIDE_F64, 0, NULL));
    CHECK_FAILS(tide_dtensor_from_local(&dt, w, &scalar),
                "dtensor.from_local: expected a tensor of at least 1 dim (rows), got a scalar");
    TT_RELEASE(&scalar, &local);
}

static void test_scatter_and_fill(tide_comm *w)
{
    tide_tensor whole = tt_mat(TIDE_I32, 11, 3, NULL), all = TIDE_TENSOR_EMPTY;
    tide_dtensor dt = TIDE_DTENSOR_EMPTY;
    CHECK_OK(tide_dtensor_scatter(&dt, w, me == 0 ? &whole : NULL, 0));
    int64_t start, count;
    tide_dtensor_block_rows(11, P, me, &start, &count);
    CHECK(dt.local.shape[0] == count && dt.offset == start && dt.global_rows == 11);
    CHECK(count == 0 || tt_iat(&dt.local, 0) == 3 * start);
    CHECK_OK(tide_dtensor_allgather(&all, &dt));
    int ok = tide_numel(&all) == 33;
    for (int64_t i = 0; i < 33; i++)
        ok &= tt_iat(&all, i) == i;
    CHECK(ok);
    tide_tensor_release(&all);
    tide_dtensor_release(&dt);
    char msg[96];
    snprintf(msg, sizeof msg, "dtensor.scatter: root %d out of range for %d ranks", P, P);
    CHECK_FAILS(tide_dtensor_scatter(&dt, w, &whole, P), msg);

    /* fills: this rank's block equals those rows of a one-process fill of the whole tensor */
    const int64_t shape[2] = {13, 4};
    tide_tensor ref = TIDE_TENSOR_EMPTY;
    for (int kind = TIDE_DT_ZEROS; kind <= TIDE_DT_NORMAL; kind++) {
        CHECK_OK(tide_tensor_alloc(&ref, TIDE_F64, 2, shape));
        if (kind == TIDE_DT_UNIFORM)
            CHECK_OK(tide_random_uniform(&ref, 77, 1000, -1, 3));
        else if (kind == TIDE_DT_NORMAL)
            CHECK_OK(tide_random_normal(&ref, 77, 1000, 2, 0.5));
        else
            CHECK_OK(tide_fill(&ref, 0));
        CHECK_OK(tide_dtensor_fill(&dt, w, 2, shape, TIDE_F64, (tide_dt_fill)kind, 77, 1000,
                                   kind == TIDE_DT_UNIFORM ? -1 : 2, kind == TIDE_DT_UNIFORM ? 3 : 0.5));
        tide_dtensor_block_rows(13, P, me, &start, &count);
        ok = dt.local.shape[0] == count && dt.local.shape[1] == 4;
        for (int64_t i = 0; i < count; i++)
            for (int64_t j = 0; j < 4; j++)
                ok &= tt_at2(&dt.local, i, j) == tt_at2(&ref, start + i, j);
        CHECK(ok);
        tide_dtensor_release(&dt);
        tide_tensor_release(&ref);
    }
    CHECK_FAILS(tide_dtensor_fill(&dt, w, 2, shape, TIDE_I32, TIDE_DT_UNIFORM, 1, 0, 0, 1),
                "dtensor.rand: expected a float dtype (f32 or f64), got i32");
    CHECK_FAILS(tide_dtensor_fill(&dt, w, 2, (int64_t[]){3, -2}, TIDE_F32, TIDE_DT_ZEROS, 1, 0, 0, 1),
                "dtensor.zeros: negative size -2 in dim 2");
    CHECK_FAILS(tide_dtensor_fill(&dt, w, 0, shape, TIDE_F32, TIDE_DT_NORMAL, 1, 0, 0, 1),
                "dtensor.randn: expected a global shape of at least 1 dim (rows), got a scalar");
    tide_tensor_release(&whole);
}

static void test_redistribute(tide_comm *w)
{
    /* keys 100·r + i, payload rows (key, key²); row i goes to rank (key mod 7) mod P */
    enum { L = 9 };
    tide_tensor keys = TIDE_TENSOR_EMPTY, pay = TIDE_TENSOR_EMPTY, dest = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&keys, TIDE_I64, 1, (int64_t[]){L}));
    CHECK_OK(tide_tensor_alloc(&pay, TIDE_F64, 2, (int64_t[]){L, 2}));
    CHECK_OK(tide_tensor_alloc(&dest, TIDE_I32, 1, (int64_t[]){L}));
    int64_t moved = 0;                   /* rows that change rank, all ranks together */
    for (int r = 0; r < P; r++)
        for (int64_t i = 0; i < L; i++)
            moved += ((100 * r + i) % 7) % P != r;
    for (int64_t i = 0; i < L; i++) {
        int64_t k = 100 * me + i;
        tide_set_i64(&keys, &i, k);
        tide_set_f64(&pay, (int64_t[]){i, 0}, (double)k);
        tide_set_f64(&pay, (int64_t[]){i, 1}, (double)(k * k));
        tide_set_i64(&dest, &i, (k % 7) % P);
    }
    tide_dtensor dk = TIDE_DTENSOR_EMPTY, dp = TIDE_DTENSOR_EMPTY;
    CHECK_OK(tide_dtensor_from_local(&dk, w, &keys));
    CHECK_OK(tide_dtensor_from_local(&dp, w, &pay));
    const tide_dtensor *in[2] = {&dk, &dp};
    tide_dtensor out[2];
    memset(out, 0, sizeof out);
    CHECK_OK(tide_dtensor_redistribute(out, in, 2, &dest));
    /* what arrives here: every rank's keys with this destination, by source then order */
    int64_t row = 0;
    int ok = 1;
    for (int r = 0; r < P; r++)
        for (int64_t i = 0; i < L; i++) {
            int64_t k = 100 * r + i;
            if ((k % 7) % P != me)
                continue;
            ok &= row < out[0].local.shape[0] && tt_iat(&out[0].local, row) == k &&
                  tt_at2(&out[1].local, row, 0) == (double)k &&
                  tt_at2(&out[1].local, row, 1) == (double)(k * k);
            row++;
        }
    CHECK(ok && row == out[0].local.shape[0] && row == out[1].local.shape[0]);
    CHECK(out[0].moved_rows == moved);
    CHECK(out[1].moved_rows == moved);
    tide_dtensor_release(&out[0]);
    tide_dtensor_release(&out[1]);

    /* errors: a short dest, a dest that is no rank, misaligned and replicated inputs */
    tide_tensor short_dest = tt_vec(TIDE_I64, L - 1, NULL);
    CHECK_FAILS(tide_dtensor_redistribute(out, in, 2, &short_dest),
                "redistribute: expected dest as an i32 or i64 vector of 9 ranks (one per local "
                "row), got 8 i64");
    tide_set_i64(&dest, (int64_t[]){1}, P);
    char msg[96];
    snprintf(msg, sizeof msg, "redistribute: dest %d of row 2 is not a rank (expected 0..%d)", P, P - 1);
    CHECK_FAILS(tide_dtensor_redistribute(out, in, 2, &dest), msg);
    tide_tensor fewer = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_narrow(&fewer, &pay, 0, 0, 4));
    tide_dtensor df = TIDE_DTENSOR_EMPTY, dr = TIDE_DTENSOR_EMPTY;
    CHECK_OK(tide_dtensor_from_local(&df, w, &fewer));
    const tide_dtensor *bad[2] = {&dk, &df};
    CHECK_FAILS(tide_dtensor_redistribute(out, bad, 2, &dest),
                "redistribute: tensor 2 has 4 local rows, tensor 1 has 9");
    CHECK_OK(tide_dtensor_replicated(&dr, w, &pay));
    const tide_dtensor *rep[2] = {&dk, &dr};
    CHECK_FAILS(tide_dtensor_redistribute(out, rep, 2, &dest),
                "redistribute: tensor 2 is replicated, expected a sharded dtensor");
    tide_dtensor_trim();
    tide_dtensor_release(&dr);
    tide_dtensor_release(&df);
    tide_dtensor_release(&dp);
    tide_dtensor_release(&dk);
    TT_RELEASE(&fewer, &short_dest, &dest, &pay, &keys);
}

int main(int argc, char **argv)
{
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "test_dtensor: MPI_Init_thread failed\n");
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    CHECK_OK(tide_runtime_init(MPI_COMM_WORLD));
    tide_comm world = {0};
    CHECK_OK(tide_comm_wrap(&world, MPI_COMM_WORLD, 1));
    P = world.size;
    me = world.rank;

    test_block_layout();
    test_from_local_and_gather(&world);
    test_scatter_and_fill(&world);
    test_redistribute(&world);

    tide_comm_free(&world);
    tide_runtime_release();
    MPI_Finalize();
    return check_report("test_dtensor");
}
