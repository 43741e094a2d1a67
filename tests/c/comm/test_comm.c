/* test_comm.c — communicators and collectives from C, without Lua: the program starts MPI and
 * tide's runtime itself, as a host embedding tide does. ctest runs it as one process (an MPI
 * singleton); every expected value is a closed form in the rank and the size, so the checks
 * hold under mpirun at any size too. Covers the runtime's start and end, op names, every
 * tensor collective, scalar and byte collectives, point to point (to itself at one rank),
 * requests, split/dup/free, shared tensors and which allreduce path they take, and the error
 * messages of bad roots, tags, ops, counts and freed communicators. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "comm/comm.h"
#include "comm/objects.h"
#include "comm/runtime.h"
#include "comm/shared.h"
#include "tensors.h"

static const tide_dtype DTYPES[5] = {TIDE_F32, TIDE_F64, TIDE_I32, TIDE_I64, TIDE_U8};
static int P, me;

static void test_ops_and_allreduce(tide_comm *w)
{
    tide_op op;
    for (int i = 0; i < TIDE_NOPS; i++) {
        CHECK_OK(tide_op_parse(tide_op_name((tide_op)i), &op, "allreduce"));
        CHECK(op == (tide_op)i);
    }
    CHECK_FAILS(tide_op_parse("median", &op, "allreduce"),
                "allreduce: unknown op 'median' (expected sum, prod, min, max or avg)");

    /* element i of rank r is r + 1 + i */
    enum { N = 6 };
    for (int d = 0; d < 5; d++)
        for (int o = 0; o < TIDE_NOPS; o++) {
            double v[N];
            for (int i = 0; i < N; i++)
                v[i] = me + 1 + i;
            tide_tensor t = tt_vec(DTYPES[d], N, v);
            CHECK_OK(tide_comm_allreduce(w, &t, (tide_op)o));
            int ok = 1;
            for (int i = 0; i < N; i++) {
                double sum = P * (P + 1) / 2.0 + (double)P * i, prod = 1;
                for (int r = 0; r < P; r++)
                    prod *= r + 1 + i;
                double want = o == TIDE_OP_SUM ? sum : o == TIDE_OP_PROD ? prod
                            : o == TIDE_OP_MIN ? 1 + i : o == TIDE_OP_MAX ? P + i
                            : DTYPES[d] <= TIDE_F64 ? sum / P : floor(sum / P);
                if (DTYPES[d] == TIDE_U8)
                    want = fmod(want, 256);          /* u8 wraps */
                ok &= fabs(tt_at(&t, i) - want) <= (DTYPES[d] == TIDE_F32 ? 1e-6 * want : 0);
            }
            CHECK(ok);
            tide_tensor_release(&t);
        }
    tide_tensor t = tt_vec(TIDE_F32, 3, NULL);
    CHECK_FAILS(tide_comm_allreduce(w, &t, (tide_op)9), "allreduce: invalid op 9");

    /* a tensor larger than one MPI call may carry: allreduce splits it, allgather refuses */
    tide_comm_set_max_count(4);
    tide_tensor big = tt_vec(TIDE_F64, 11, NULL), out = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_comm_allreduce(w, &big, TIDE_OP_SUM));
    CHECK(tt_at(&big, 10) == 10.0 * P && tt_at(&big, 3) == 3.0 * P);
    CHECK_FAILS(tide_comm_allgather(w, &out, &big),
                "allgather: 11 elements exceed what one MPI call can carry (4); split the tensor");
    tide_comm_set_max_count(0);                    /* back to INT_MAX */
    CHECK(tide_comm_max_count() == 2147483647);

    /* numbers: integers stay integers, a float anywhere makes a float, avg is a float */
    tide_scalar s = {.i = me + 1};
    CHECK_OK(tide_comm_allreduce_scalar(w, &s, TIDE_OP_SUM));
    CHECK(!s.is_float && s.i == (int64_t)P * (P + 1) / 2);
    s = (tide_scalar){.f = 0.5, .is_float = 1};
    CHECK_OK(tide_comm_allreduce_scalar(w, &s, TIDE_OP_SUM));
    CHECK(s.is_float && s.f == 0.5 * P);
    s = (tide_scalar){.i = 3};
    CHECK_OK(tide_comm_allreduce_scalar(w, &s, TIDE_OP_AVG));
    CHECK(s.is_float && s.f == 3.0);
    TT_RELEASE(&out, &big, &t);
}

static void test_rooted_and_rows(tide_comm *w)
{
    for (int root = 0; root < P; root++) {
        tide_tensor t = tt_mat(TIDE_I64, 2, 2, (double[]){me, me + 1, me + 2, 7});
        CHECK_OK(tide_comm_broadcast(w, &t, root));
        CHECK(tt_iat(&t, 0) == root && tt_iat(&t, 2) == root + 2 && tt_iat(&t, 3) == 7);
        tide_tensor_release(&t);
        t = tt_vec(TIDE_F64, 2, (double[]){me, 1});
        CHECK_OK(tide_comm_reduce(w, &t, TIDE_OP_SUM, root));
        if (me == root)
            CHECK(tt_at(&t, 0) == P * (P - 1) / 2.0 && tt_at(&t, 1) == P);
        else
            CHECK(tt_at(&t, 0) == me);               /* the others' are left as they were */
        tide_tensor_release(&t);
    }
    tide_tensor t = tt_vec(TIDE_F32, 2, NULL);
    char msg[128];
    snprintf(msg, sizeof msg, "broadcast: root %d out of range for a communicator of %d rank%s "
             "(expected 0..%d)", P, P, P == 1 ? "" : "s", P - 1);
    CHECK_FAILS(tide_comm_broadcast(w, &t, P), msg);
    CHECK_FAILS(tide_comm_reduce(w, &t, TIDE_OP_SUM, -1), "reduce: root -1 out of range");
    tide_tensor_release(&t);

    /* allgather: rank r passes r + 1 rows of 3 columns holding r */
    tide_tensor mine = TIDE_TENSOR_EMPTY, all = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&mine, TIDE_F64, 2, (int64_t[]){me + 1, 3}));
    CHECK_OK(tide_fill(&mine, me));
    CHECK_OK(tide_comm_allgather(w, &all, &mine));
    int ok = all.shape[0] == (int64_t)P * (P + 1) / 2 && all.shape[1] == 3;
    for (int r = 0, row = 0; r < P; r++)
        for (int k = 0; k <= r; k++, row++)
            ok &= tt_at2(&all, row, 0) == r && tt_at2(&all, row, 2) == r;
    CHECK(ok);
    tide_tensor_release(&all);

    /* scatter by the block layout, then by counts */
    tide_tensor src = tt_mat(TIDE_I32, 7, 2, NULL), got = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_comm_scatter(w, &got, &src, 0, NULL));
    int64_t start = 0;
    for (int r = 0; r < me; r++)
        start += 7 / P + (r < 7 % P);
    int64_t rows = 7 / P + (me < 7 % P);
    ok = got.shape[0] == rows;
    for (int64_t i = 0; i < rows; i++)
        ok &= tt_iat(&got, 2 * i) == 2 * (start + i);
    CHECK(ok);
    tide_tensor_release(&got);
    int64_t counts[64] = {0};
    counts[P - 1] = 7;                              /* everything to the last rank */
    CHECK_OK(tide_comm_scatter(w, &got, &src, 0, counts));
    CHECK(got.shape[0] == (me == P - 1 ? 7 : 0));
    tide_tensor_release(&got);
    counts[P - 1] = 6;
    CHECK_FAILS(tide_comm_scatter(w, &got, &src, 0, counts), "scatter: counts sum to 6 rows, the tensor has 7");

    /* reduce_scatter: the sum of every rank's (r + 1)·t, split by blocks */
    tide_tensor rs = tt_mat(TIDE_F64, 5, 1, NULL), part = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_fill(&rs, me + 1));
    CHECK_OK(tide_comm_reduce_scatter(w, &part, &rs, TIDE_OP_SUM, NULL));
    CHECK(part.shape[0] == 5 / P + (me < 5 % P));
    CHECK(part.shape[0] == 0 || tt_at(&part, 0) == P * (P + 1) / 2.0);

    /* alltoall: block s of rank r's rows goes to rank s; here out[block s] came from rank s */
    tide_tensor a2a = TIDE_TENSOR_EMPTY, recv = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&a2a, TIDE_I64, 1, (int64_t[]){2 * (int64_t)P}));
    for (int64_t i = 0; i < 2 * P; i++)
        tide_set_i64(&a2a, &i, 1000 * me + i);       /* sender, and position */
    CHECK_OK(tide_comm_alltoall(w, &recv, &a2a));
    ok = 1;
    for (int s2 = 0; s2 < P; s2++)
        ok &= tt_iat(&recv, 2 * s2) == 1000 * s2 + 2 * me && tt_iat(&recv, 2 * s2 + 1) == 1000 * s2 + 2 * me + 1;
    CHECK(ok);
    tide_tensor_release(&recv);
    tide_tensor scalar = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&scalar, TIDE_F64, 0, NULL));
    CHECK_FAILS(tide_comm_alltoall(w, &recv, &scalar),
                "alltoall: expected a tensor with rows, got a 0-dim tensor");

    /* alltoallv: rank r sends s + 1 rows to rank s, each holding 10·r + s */
    int64_t send[64], recv_counts[64], total = 0;
    for (int s2 = 0; s2 < P; s2++)
        send[s2] = s2 + 1, total += s2 + 1;
    tide_tensor v = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&v, TIDE_F64, 1, &total));
    for (int64_t s2 = 0, i = 0; s2 < P; s2++)
        for (int k = 0; k <= s2; k++, i++)
            tide_set_f64(&v, &i, 10.0 * me + (double)s2);
    CHECK_OK(tide_comm_alltoallv(w, &recv, &v, send, recv_counts));
    ok = recv.shape[0] == (int64_t)P * (me + 1);
    for (int r = 0; r < P; r++)
        ok &= recv_counts[r] == me + 1 && tt_at(&recv, r * (me + 1)) == 10.0 * r + me;
    CHECK(ok);
    tide_tensor_release(&recv);
    send[0] = -1;
    CHECK_FAILS(tide_comm_alltoallv(w, &recv, &v, send, recv_counts),
                "alltoallv: send count -1 for rank 0 is negative");
    TT_RELEASE(&v, &scalar, &a2a, &part, &rs, &src, &mine);
}

static void test_p2p_bytes_requests(tide_comm *w)
{
    /* to itself: the send is started first, so one process can do both halves */
    int to = (me + 1) % P, from = (me + P - 1) % P;
    tide_tensor t = tt_mat(TIDE_F32, 2, 3, NULL), back = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_fill(&t, me));
    tide_request sreq, rreq;
    memset(&sreq, 0, sizeof sreq);
    memset(&rreq, 0, sizeof rreq);
    CHECK_OK(tide_comm_isend(w, &sreq, &t, to, 5));
    tide_recv_info info = {-2, -2};
    CHECK_OK(tide_comm_recv_new(w, &back, TIDE_ANY, TIDE_ANY, &info));
    CHECK_OK(tide_request_wait(&sreq));
    CHECK(info.source == from && info.tag == 5);
    CHECK(back.dtype == TIDE_F32 && back.shape[0] == 2 && back.shape[1] == 3 && tt_at(&back, 5) == from);
    tide_request_release(&sreq);

    /* a receive whose dtype differs from what came names both */
    tide_tensor f64 = tt_vec(TIDE_F64, 6, NULL);
    CHECK_OK(tide_comm_isend(w, &sreq, &t, to, 6));
    CHECK_FAILS(tide_comm_recv(w, &f64, from, 6, &info),
                "the dtype and the element count must match");
    CHECK_OK(tide_request_wait(&sreq));
    tide_request_release(&sreq);
    CHECK_FAILS(tide_comm_send(w, &t, P, 0), "send: destination");
    CHECK_FAILS(tide_comm_send(w, &t, to, -3), "send: tag -3 out of range (expected 0..");

    /* irecv posted before the matching send */
    tide_tensor in = tt_vec(TIDE_F32, 6, NULL);
    CHECK_OK(tide_comm_irecv(w, &rreq, &in, from, 7));
    CHECK_OK(tide_comm_isend(w, &sreq, &t, to, 7));
    CHECK_OK(tide_request_wait(&rreq));
    CHECK_OK(tide_request_wait(&sreq));
    CHECK(tt_at(&in, 0) == from && tt_at(&in, 5) == from);
    tide_request_release(&rreq);
    tide_request_release(&sreq);

    /* a non-blocking allreduce: tested until done, then the sum */
    tide_tensor a = tt_vec(TIDE_F64, 4, (double[]){me, 1, 2, 3});
    CHECK_OK(tide_comm_iallreduce(w, &rreq, &a, TIDE_OP_SUM));
    int done = 0;
    for (int spins = 0; !done && spins < 100000000; spins++)
        CHECK_OK(tide_request_test(&rreq, &done));
    CHECK(done && tt_at(&a, 0) == P * (P - 1) / 2.0 && tt_at(&a, 3) == 3.0 * P);
    CHECK(strcmp(tide_request_name(&rreq), "iallreduce") == 0);
    tide_request_release(&rreq);
    tide_request_release(&rreq);                    /* idempotent */

    /* bytes: root's copy everywhere; a value root could not serialise fails on every rank */
    tide_bytes out = {0};
    CHECK_OK(tide_comm_bcast_bytes(w, "bcast_obj", "hello", 5, 1, 0, &out));
    CHECK(out.len == 5 && memcmp(out.data, "hello", 5) == 0);
    free(out.data);
    out.data = NULL;
    const char *why = "a function cannot be serialised";
    CHECK_FAILS(tide_comm_bcast_bytes(w, "bcast_obj", why, (int64_t)strlen(why), 0, 0, &out),
                "bcast_obj: rank 0 could not serialise its value: a function cannot be serialised");
    free(out.data);
    tide_bytes all[64];
    char mine[16];
    int len = snprintf(mine, sizeof mine, "rank%d", me);
    CHECK_OK(tide_comm_allgather_bytes(w, "allgather_obj", mine, len, 1, all));
    int ok = 1;
    for (int r = 0; r < P; r++) {
        char want[16];
        int wl = snprintf(want, sizeof want, "rank%d", r);
        ok &= all[r].len == wl && memcmp(all[r].data, want, (size_t)wl) == 0;
    }
    CHECK(ok);
    free(all[0].data);
    TT_RELEASE(&a, &in, &f64, &back, &t);
}

static void test_communicators(tide_comm *w)
{
    tide_comm half = {0}, node = {0}, dup = {0}, none = {0};
    CHECK_OK(tide_comm_split(&half, w, me % 2, me));
    CHECK(half.size == (P + 1 - me % 2) / 2 && half.rank == me / 2);
    CHECK_OK(tide_comm_split(&none, w, -1, 0));     /* a negative colour: not a member */
    CHECK(none.comm == MPI_COMM_NULL);
    CHECK_OK(tide_comm_split_node(&node, w));
    CHECK(node.size >= 1 && node.size <= P);
    CHECK_OK(tide_comm_dup(&dup, w));
    CHECK(dup.size == P && dup.rank == me && dup.comm != w->comm);
    tide_scalar s = {.i = 1};
    CHECK_OK(tide_comm_allreduce_scalar(&half, &s, TIDE_OP_SUM));
    CHECK(s.i == half.size);
    tide_comm_free(&dup);
    tide_comm_free(&dup);                           /* idempotent */
    tide_tensor t = tt_vec(TIDE_F64, 2, NULL);
    CHECK_FAILS(tide_comm_allreduce(&dup, &t, TIDE_OP_SUM), "allreduce: the communicator was freed");
    CHECK_FAILS(tide_comm_barrier(&dup), "barrier: the communicator was freed");
    /* barrier: every rank's sequence number counts it */
    uint64_t seq = w->seq;
    CHECK_OK(tide_comm_barrier(w));
    CHECK(w->seq == seq + 1);
    tide_comm_free(&half);
    tide_comm_free(&node);
    tide_tensor_release(&t);
}

static void test_shared(tide_comm *w)
{
    tide_tensor s = TIDE_TENSOR_EMPTY, view = TIDE_TENSOR_EMPTY, i = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_comm_shared_zeros(w, &s, TIDE_F64, 10));
    CHECK(tt_at(&s, 0) == 0 && tt_at(&s, 9) == 0);
    /* the copy-free path is taken for the whole tensor only */
    CHECK(tide_comm_shared_slot(w, &s) >= 0);
    CHECK_OK(tide_narrow(&view, &s, 0, 0, 5));
    CHECK(tide_comm_shared_slot(w, &view) == -1);
    tide_tensor_release(&view);
    CHECK_OK(tide_narrow(&view, &s, 0, 1, 9));
    CHECK(tide_comm_shared_slot(w, &view) == -1);
    tide_tensor plain = tt_vec(TIDE_F64, 10, NULL);
    CHECK(tide_comm_shared_slot(w, &plain) == -1);
    CHECK_OK(tide_comm_shared_zeros(w, &i, TIDE_I32, 4));
    CHECK(tide_comm_shared_slot(w, &i) >= 0 && tide_comm_shared_slot(w, &i) != tide_comm_shared_slot(w, &s));
    /* element k of rank r is r + k: the sum is P(P−1)/2 + P·k, the mean that over P */
    for (int64_t k = 0; k < 10; k++)
        tide_set_f64(&s, &k, me + (double)k);
    CHECK_OK(tide_comm_allreduce(w, &s, TIDE_OP_SUM));
    CHECK(tt_at(&s, 0) == P * (P - 1) / 2.0 && tt_at(&s, 9) == P * (P - 1) / 2.0 + 9.0 * P);
    for (int64_t k = 0; k < 10; k++)
        tide_set_f64(&s, &k, me + (double)k);
    CHECK_OK(tide_comm_allreduce(w, &s, TIDE_OP_AVG));
    CHECK(tt_at(&s, 0) == (P - 1) / 2.0 && tt_at(&s, 9) == (P - 1) / 2.0 + 9);
    tide_tensor t = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_comm_shared_zeros(w, &t, TIDE_F32, -1), "shared_zeros: negative size -1");
    TT_RELEASE(&view, &plain, &i, &s);
}

int main(int argc, char **argv)
{
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "test_comm: MPI_Init_thread failed\n");
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    CHECK(!tide_runtime_ready());
    CHECK_OK(tide_runtime_init(MPI_COMM_WORLD));
    CHECK(tide_runtime_ready() && tide_comm_base() != MPI_COMM_NULL);
    CHECK_OK(tide_runtime_init(MPI_COMM_WORLD));    /* later calls do nothing */
    tide_comm world = {0};
    CHECK_OK(tide_comm_wrap(&world, MPI_COMM_WORLD, 1));
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    CHECK(world.size == P && world.rank == me && world.is_world);
    CHECK(P <= 64);

    test_ops_and_allreduce(&world);
    test_rooted_and_rows(&world);
    test_p2p_bytes_requests(&world);
    test_communicators(&world);
    test_shared(&world);

    tide_comm_free(&world);
    tide_runtime_release();
    MPI_Finalize();
    return check_report("test_comm");
}
