/* test_decomp.c — qr, svd, eigh and the batched solve/cholesky/inv from C, checked by their
 * defining identities with naive loops (Q R = A, U S Vh = A, A V = V diag(w), A X = B), the
 * failure naming the matrix of a batch, and no memory left behind on success or failure. */
#include <math.h>

#include "linalg/decomp.h"
#include "linalg/linalg.h"
#include "check.h"
#include "tensor/tensor.h"

static unsigned rng = 777;

static double urand(void)
{
    rng = rng * 1103515245u + 12345u;
    return (double)((rng >> 8) & 0xffff) / 65536.0 - 0.5;
}

/* A count x m x n f64 tensor of random values. */
static tide_tensor batch(int64_t count, int64_t m, int64_t n)
{
    int64_t shape[3] = {count, m, n};
    tide_tensor t = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&t, TIDE_F64, 3, shape));
    double *d = tide_data(&t);
    for (int64_t i = 0; i < count * m * n; i++)
        d[i] = urand();
    return t;
}

static double at(const tide_tensor *t, int64_t b, int64_t i, int64_t j)
{
    int64_t idx[3] = {b, i, j};
    return tide_get_f64(t, idx);
}

/* max |(X Y)[b] - Z[b]| over the batch, X b x m x k, Y b x k x n; diag (when not NULL, b x k)
 * scales the columns of X first. */
static double residual(const tide_tensor *x, const tide_tensor *diag, const tide_tensor *y,
                       const tide_tensor *z)
{
    double worst = 0;
    int64_t count = x->shape[0], m = x->shape[1], k = x->shape[2], n = y->shape[2];
    for (int64_t b = 0; b < count; b++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t l = 0; l < k; l++) {
                    int64_t di[2] = {b, l};
                    s += at(x, b, i, l) * (diag ? tide_get_f64(diag, di) : 1) * at(y, b, l, j);
                }
                worst = fmax(worst, fabs(s - at(z, b, i, j)));
            }
    return worst;
}

static void test_qr_svd(void)
{
    tide_tensor a = batch(3, 6, 4);
    tide_tensor q = TIDE_TENSOR_EMPTY, r = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_qr(&q, &r, &a, 0));
    CHECK(q.shape[1] == 6 && q.shape[2] == 4 && r.shape[1] == 4 && r.shape[2] == 4);
    CHECK(residual(&q, NULL, &r, &a) < 1e-13);
    CHECK(at(&r, 1, 3, 0) == 0 && at(&r, 2, 2, 1) == 0);

    tide_tensor u = TIDE_TENSOR_EMPTY, s = TIDE_TENSOR_EMPTY, vh = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_svd(&u, &s, &vh, &a, 0));
    CHECK(residual(&u, &s, &vh, &a) < 1e-13);
    int64_t i0[2] = {0, 0}, i1[2] = {0, 1};
    CHECK(tide_get_f64(&s, i0) >= tide_get_f64(&s, i1));
    /* a given out is refused: these return new tensors */
    CHECK_FAILS(tide_qr(&q, &r, &a, 0), "qr: the outputs must be empty tensors");
    tide_tensor_release(&q);
    tide_tensor_release(&r);
    tide_tensor_release(&u);
    tide_tensor_release(&s);
    tide_tensor_release(&vh);
    tide_tensor_release(&a);
}

static void test_eigh_and_solves(void)
{
    /* A = M M^T + n I per matrix: symmetric positive definite */
    int64_t n = 5, count = 2;
    tide_tensor m = batch(count, n, n), a = batch(count, n, n);
    for (int64_t b = 0; b < count; b++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double v = i == j ? (double)n : 0;
                for (int64_t l = 0; l < n; l++)
                    v += at(&m, b, i, l) * at(&m, b, j, l);
                int64_t idx[3] = {b, i, j};
                tide_set_f64(&a, idx, v);
            }
    tide_tensor w = TIDE_TENSOR_EMPTY, v = TIDE_TENSOR_EMPTY, av = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_eigh(&w, &v, &a, 0));
    /* A V = V diag(w): compare the residual of A V against V scaled */
    int64_t shape[3] = {count, n, n};
    CHECK_OK(tide_tensor_zeros(&av, TIDE_F64, 3, shape));
    for (int64_t b = 0; b < count; b++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t l = 0; l < n; l++)
                    s += at(&a, b, i, l) * at(&v, b, l, j);
                int64_t idx[3] = {b, i, j}, wi[2] = {b, j};
                tide_set_f64(&av, idx, s - at(&v, b, i, j) * tide_get_f64(&w, wi));
            }
    double worst = 0;
    for (int64_t k = 0; k < count * n * n; k++)
        worst = fmax(worst, fabs(((double *)tide_data(&av))[k]));
    CHECK(worst < 1e-12);

    tide_tensor rhs = batch(count, n, 2), x = TIDE_TENSOR_EMPTY, l = TIDE_TENSOR_EMPTY;
    tide_tensor inv = TIDE_TENSOR_EMPTY, lt = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_solve(&x, &a, &rhs));
    CHECK(residual(&a, NULL, &x, &rhs) < 1e-12);
    CHECK_OK(tide_cholesky(&l, &a));
    CHECK_OK(tide_transpose(&lt, &l, 1, 2));
    CHECK(residual(&l, NULL, &lt, &a) < 1e-12);
    CHECK_OK(tide_inv(&inv, &a));
    tide_tensor again = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_inv(&again, &inv));
    double back = 0;
    for (int64_t k = 0; k < count * n * n; k++)
        back = fmax(back, fabs(((double *)tide_data(&again))[k] - ((double *)tide_data(&a))[k]));
    CHECK(back < 1e-10);   /* inv(inv(A)) = A */

    /* the second matrix made singular: named by its place in the batch */
    for (int64_t j = 0; j < n; j++) {
        int64_t idx[3] = {1, 1, j}, src[3] = {1, 0, j};
        tide_set_f64(&a, idx, tide_get_f64(&a, src));
    }
    size_t live = tide_memory_live();
    tide_tensor bad = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_solve(&bad, &a, &rhs), "(matrix 2 of the batch of 2)");
    CHECK_FAILS(tide_inv(&bad, &a), "inv: matrix is singular");
    CHECK(tide_memory_live() == live);
    CHECK(bad.storage == NULL);

    tide_tensor *all[] = {&m, &a, &w, &v, &av, &rhs, &x, &l, &inv, &lt, &again};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        tide_tensor_release(all[k]);
}

int main(void)
{
    size_t live = tide_memory_live();
    test_qr_svd();
    test_eigh_and_solves();
    CHECK(tide_memory_live() == live);
    return check_report("test_decomp");
}
