/* test_ops.c — the elementwise and reduction core directly: broadcasting, dtype rules, in-place
 * forms, overlap refusal, strided inputs, reductions against naive loops, and error messages. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tensor/tensor.h"

/* A tensor of the given dtype and shape holding vals (as doubles) in row-major order. */
static tide_tensor make(tide_dtype dt, int ndim, const int64_t *shape, const double *vals)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    if (tide_tensor_alloc(&t, dt, ndim, shape) != TIDE_OK)
        abort();
    int64_t n = tide_numel(&t), idx[TIDE_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        tide_set_f64(&t, idx, vals ? vals[i] : (double)i);
        for (int d = ndim - 1; d >= 0 && ++idx[d] == shape[d]; d--)
            idx[d] = 0;
    }
    return t;
}

/* Element i in row-major order of any (strided) tensor, as a double. */
static double at(const tide_tensor *t, int64_t i)
{
    int64_t idx[TIDE_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = i % t->shape[d];
        i /= t->shape[d];
    }
    return tide_get_f64(t, idx);
}

static int same_values(const tide_tensor *t, const double *want, int64_t n, double tol)
{
    if (tide_numel(t) != n)
        return 0;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(at(t, i) - want[i]) <= tol))
            return 0;
    return 1;
}

static void test_broadcast_and_promotion(void)
{
    int64_t s34[2] = {3, 4}, s4[1] = {4}, s31[2] = {3, 1};
    tide_tensor a = make(TIDE_F32, 2, s34, NULL);                 /* 0..11 */
    tide_tensor row = make(TIDE_F32, 1, s4, (double[]){10, 20, 30, 40});
    tide_tensor col = make(TIDE_I32, 2, s31, (double[]){1, 2, 3});
    tide_tensor r = TIDE_TENSOR_EMPTY, e = TIDE_TENSOR_EMPTY, ref = TIDE_TENSOR_EMPTY;

    CHECK_OK(tide_add(&r, &a, &row));
    CHECK(r.dtype == TIDE_F32 && r.ndim == 2 && r.shape[0] == 3 && r.shape[1] == 4);
    CHECK(same_values(&r, (double[]){10, 21, 32, 43, 14, 25, 36, 47, 18, 29, 40, 51}, 12, 0));
    /* broadcasting equals adding an explicit expand */
    CHECK_OK(tide_expand(&e, &row, 2, s34));
    CHECK_OK(tide_add(&ref, &a, &e));
    CHECK(same_values(&r, (const double[]){at(&ref, 0), at(&ref, 1), at(&ref, 2), at(&ref, 3),
                                            at(&ref, 4), at(&ref, 5), at(&ref, 6), at(&ref, 7),
                                            at(&ref, 8), at(&ref, 9), at(&ref, 10), at(&ref, 11)},
                      12, 0));
    tide_tensor_release(&r);
    tide_tensor_release(&e);
    tide_tensor_release(&ref);

    /* i32 column (3x1) times f32 row (4): 3x4 in f32 */
    CHECK_OK(tide_mul(&r, &col, &row));
    CHECK(r.dtype == TIDE_F32 && r.shape[0] == 3 && r.shape[1] == 4);
    CHECK(same_values(&r, (double[]){10, 20, 30, 40, 20, 40, 60, 80, 30, 60, 90, 120}, 12, 0));
    tide_tensor_release(&r);

    /* integer division is true division into f32 */
    tide_tensor i7 = make(TIDE_I32, 1, s4, (double[]){7, -7, 1, 0});
    tide_tensor i2 = make(TIDE_I32, 1, s4, (double[]){2, 2, 3, 5});
    CHECK_OK(tide_div(&r, &i7, &i2));
    CHECK(r.dtype == TIDE_F32);
    CHECK(same_values(&r, (double[]){3.5, -3.5, 1.0 / 3, 0}, 4, 1e-7));
    tide_tensor_release(&r);

    /* a mismatch names both shapes and the dim */
    int64_t s5[1] = {5};
    tide_tensor five = make(TIDE_F32, 1, s5, NULL);
    CHECK_FAILS(tide_add(&r, &a, &five), "add: shapes 3x4 and 5 cannot be broadcast (dim 2: 4 vs 5)");
    CHECK(r.storage == NULL);
    tide_tensor_release(&five);
    tide_tensor_release(&i7);
    tide_tensor_release(&i2);
    tide_tensor_release(&a);
    tide_tensor_release(&row);
    tide_tensor_release(&col);
}

static void test_scalars(void)
{
    int64_t s3[1] = {3};
    tide_tensor i = make(TIDE_I32, 1, s3, (double[]){1, 2, 3});
    tide_tensor u = make(TIDE_U8, 1, s3, (double[]){1, 100, 200});
    tide_tensor r = TIDE_TENSOR_EMPTY;

    CHECK_OK(tide_binary_scalar(&r, TIDE_OP_MUL, &i, tide_number_int(2)));
    CHECK(r.dtype == TIDE_I32 && same_values(&r, (double[]){2, 4, 6}, 3, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_binary_scalar(&r, TIDE_OP_MUL, &i, tide_number_float(0.5)));
    CHECK(r.dtype == TIDE_F32 && same_values(&r, (double[]){0.5, 1, 1.5}, 3, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_binary_scalar(&r, TIDE_OP_ADD, &u, tide_number_int(300)));   /* wraps */
    CHECK(r.dtype == TIDE_U8 && same_values(&r, (double[]){45, 144, 244}, 3, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_scalar_binary(&r, TIDE_OP_SUB, tide_number_int(10), &i));
    CHECK(same_values(&r, (double[]){9, 8, 7}, 3, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_scalar_binary(&r, TIDE_OP_POW, tide_number_int(2), &i));
    CHECK(r.dtype == TIDE_I32 && same_values(&r, (double[]){2, 4, 8}, 3, 0));
    tide_tensor_release(&r);

    /* i64 arithmetic with a large integer scalar stays exact */
    int64_t s1[1] = {1};
    tide_tensor big = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&big, TIDE_I64, 1, s1));
    ((int64_t *)tide_data(&big))[0] = (INT64_C(1) << 60) + 1;
    CHECK_OK(tide_binary_scalar(&r, TIDE_OP_ADD, &big, tide_number_int(2)));
    CHECK(((int64_t *)tide_data(&r))[0] == (INT64_C(1) << 60) + 3);
    tide_tensor_release(&r);
    /* signed overflow wraps rather than trapping */
    ((int64_t *)tide_data(&big))[0] = INT64_MAX;
    CHECK_OK(tide_binary_scalar(&r, TIDE_OP_ADD, &big, tide_number_int(1)));
    CHECK(((int64_t *)tide_data(&r))[0] == INT64_MIN);
    tide_tensor_release(&r);
    tide_tensor_release(&big);
    tide_tensor_release(&i);
    tide_tensor_release(&u);
}

static void test_inplace_and_overlap(void)
{
    int64_t s34[2] = {3, 4}, s14[2] = {1, 4}, s4[1] = {4};
    tide_tensor a = make(TIDE_F32, 2, s34, NULL);
    tide_tensor small = make(TIDE_F32, 2, s14, NULL);
    tide_tensor row = make(TIDE_F32, 1, s4, (double[]){1, 1, 1, 1});
    tide_tensor ia = make(TIDE_I32, 2, s34, NULL);

    CHECK_OK(tide_add(&a, &a, &row));                /* a += row, broadcast */
    CHECK(at(&a, 0) == 1 && at(&a, 11) == 12);
    CHECK_OK(tide_add(&a, &a, &a));                  /* identical view: fine */
    CHECK(at(&a, 0) == 2 && at(&a, 11) == 24);
    CHECK_OK(tide_add_scaled(&a, &a, &row, tide_number_float(-2)));   /* axpy */
    CHECK(at(&a, 0) == 0 && at(&a, 11) == 22);
    CHECK_OK(tide_sub_scaled(&a, &a, &row, tide_number_float(0.5)));
    CHECK(at(&a, 0) == -0.5 && at(&a, 11) == 21.5);

    CHECK_FAILS(tide_add(&small, &small, &a), "add_: result shape 3x4 does not match the receiver 1x4");
    CHECK_FAILS(tide_binary_scalar(&ia, TIDE_OP_MUL, &ia, tide_number_float(0.5)),
                "mul_: result dtype f32 cannot be stored in the i32 receiver");
    CHECK_FAILS(tide_div(&ia, &ia, &ia), "div_: result dtype f32 cannot be stored in the i32 receiver");
    CHECK_FAILS(tide_sqrt(&ia, &ia), "sqrt_: result dtype f32 cannot be stored in the i32 receiver");

    /* a shifted view of the receiver would read values already written */
    tide_tensor left = TIDE_TENSOR_EMPTY, right = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_narrow(&left, &a, 1, 0, 3));
    CHECK_OK(tide_narrow(&right, &a, 1, 1, 3));
    CHECK_FAILS(tide_add(&left, &left, &right),
                "add_: the argument overlaps the receiver in memory; clone() it first");
    tide_tensor other = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&other, TIDE_F32, 2, (int64_t[]){3, 3}));
    CHECK_FAILS(tide_add(&left, &other, &right),
                "add: the output overlaps an input in memory; clone() the input first");
    tide_tensor ex = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_expand(&ex, &row, 2, s34));
    CHECK_FAILS(tide_binary_scalar(&ex, TIDE_OP_ADD, &ex, tide_number_int(1)),
                "add_: the receiver has elements that share memory (an expanded view); clone() it first");
    /* an explicit out of the wrong shape */
    CHECK_FAILS(tide_add(&other, &a, &row), "add: output has shape 3x3, expected 3x4");
    tide_tensor_release(&ex);
    tide_tensor_release(&other);
    tide_tensor_release(&left);
    tide_tensor_release(&right);
    tide_tensor_release(&a);
    tide_tensor_release(&small);
    tide_tensor_release(&row);
    tide_tensor_release(&ia);
}

static void test_strided(void)
{
    int64_t s34[2] = {3, 4};
    tide_tensor a = make(TIDE_F64, 2, s34, NULL), b = make(TIDE_F64, 2, s34, NULL);
    tide_tensor at_ = TIDE_TENSOR_EMPTY, bt = TIDE_TENSOR_EMPTY, r = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_transpose(&at_, &a, 0, 1));          /* 4x3 views */
    CHECK_OK(tide_transpose(&bt, &b, 0, 1));
    CHECK_OK(tide_mul(&r, &at_, &bt));
    CHECK(r.shape[0] == 4 && r.shape[1] == 3);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            CHECK(at(&r, i * 3 + j) == (double)((j * 4 + i) * (j * 4 + i)));
    tide_tensor_release(&r);
    /* in place through a transposed view writes the right elements */
    CHECK_OK(tide_binary_scalar(&at_, TIDE_OP_SUB, &at_, tide_number_int(1)));
    CHECK(at(&a, 0) == -1 && at(&a, 5) == 4 && at(&a, 11) == 10);
    tide_tensor_release(&at_);
    tide_tensor_release(&bt);
    tide_tensor_release(&a);
    tide_tensor_release(&b);
}

static void test_unary_and_compare(void)
{
    int64_t s5[1] = {5};
    tide_tensor f = make(TIDE_F32, 1, s5, (double[]){-1.5, -0.5, 0.5, 1.5, 2.5});
    tide_tensor r = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_relu(&r, &f));
    CHECK(same_values(&r, (double[]){0, 0, 0.5, 1.5, 2.5}, 5, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_unary(&r, TIDE_UN_ROUND, &f));       /* half to even */
    CHECK(same_values(&r, (double[]){-2, -0, 0, 2, 2}, 5, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_unary(&r, TIDE_UN_FLOOR, &f));
    CHECK(same_values(&r, (double[]){-2, -1, 0, 1, 2}, 5, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_unary(&r, TIDE_UN_CEIL, &f));
    CHECK(same_values(&r, (double[]){-1, -0, 1, 2, 3}, 5, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_clamp(&r, &f, 1, tide_number_float(-1), 1, tide_number_int(2)));
    CHECK(same_values(&r, (double[]){-1, -0.5, 0.5, 1.5, 2}, 5, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_sigmoid(&r, &f));
    CHECK(fabs(at(&r, 4) - 1 / (1 + exp(-2.5))) < 1e-6);
    tide_tensor_release(&r);

    tide_tensor i = make(TIDE_I32, 1, s5, (double[]){-3, 4, 9, 0, 16});
    ((int32_t *)tide_data(&i))[3] = INT32_MIN;
    CHECK_OK(tide_abs(&r, &i));                        /* |INT32_MIN| wraps to itself */
    CHECK(r.dtype == TIDE_I32 && ((int32_t *)tide_data(&r))[0] == 3 &&
          ((int32_t *)tide_data(&r))[3] == INT32_MIN);
    tide_tensor_release(&r);
    CHECK_OK(tide_sqrt(&r, &i));
    CHECK(r.dtype == TIDE_F32 && at(&r, 1) == 2 && at(&r, 4) == 4 && isnan(at(&r, 0)));
    tide_tensor_release(&r);

    CHECK_OK(tide_compare_scalar(&r, TIDE_CMP_GT, &f, tide_number_int(0)));
    CHECK(r.dtype == TIDE_U8 && same_values(&r, (double[]){0, 0, 1, 1, 1}, 5, 0));
    /* where(mask, f, -f) is |f| */
    tide_tensor nf = TIDE_TENSOR_EMPTY, w = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_neg(&nf, &f));
    CHECK_OK(tide_where(&w, &r, &f, &nf));
    CHECK(same_values(&w, (double[]){1.5, 0.5, 0.5, 1.5, 2.5}, 5, 0));
    CHECK_FAILS(tide_where(&w, &f, &f, &nf), "where: expected a u8 mask, got f32");
    CHECK_OK(tide_masked_fill(&f, &r, tide_number_int(7)));
    CHECK(same_values(&f, (double[]){-1.5, -0.5, 7, 7, 7}, 5, 0));
    CHECK_FAILS(tide_masked_fill(&f, &f, tide_number_int(0)), "masked_fill_: expected a u8 mask, got f32");
    CHECK_FAILS(tide_masked_fill(&i, &r, tide_number_float(0.5)),
                "masked_fill_: value 0.5 does not fit dtype i32");
    tide_tensor_release(&w);
    tide_tensor_release(&nf);
    tide_tensor_release(&r);

    /* u8 against an integer it cannot hold, i32 against a float: compared exactly */
    tide_tensor u = make(TIDE_U8, 1, s5, (double[]){44, 0, 255, 1, 2});
    CHECK_OK(tide_compare_scalar(&r, TIDE_CMP_EQ, &u, tide_number_int(300)));
    CHECK(same_values(&r, (double[]){0, 0, 0, 0, 0}, 5, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_compare_scalar(&r, TIDE_CMP_LT, &i, tide_number_float(4.5)));
    CHECK(same_values(&r, (double[]){1, 1, 0, 1, 0}, 5, 0));
    tide_tensor_release(&r);
    tide_tensor_release(&u);
    tide_tensor_release(&i);
    tide_tensor_release(&f);
}

/* sum along each dim of a 3-D tensor (and its transpose) equals a naive loop */
static void test_sum_dim_naive(void)
{
    int64_t s[3] = {3, 5, 7};
    tide_tensor a = make(TIDE_F32, 3, s, NULL);
    float *ad = tide_data(&a);
    for (int i = 0; i < 105; i++)
        ad[i] = (float)((i * 37) % 11) - 5.0f;
    tide_tensor views[2] = {TIDE_TENSOR_EMPTY, TIDE_TENSOR_EMPTY};
    tide_tensor_share(&views[0], &a);
    CHECK_OK(tide_permute(&views[1], &a, (int[]){2, 0, 1}));     /* 7x3x5, strided */
    for (int v = 0; v < 2; v++) {
        const tide_tensor *t = &views[v];
        for (int dim = 0; dim < 3; dim++) {
            tide_tensor r = TIDE_TENSOR_EMPTY, k = TIDE_TENSOR_EMPTY;
            CHECK_OK(tide_sum_dim(&r, t, dim, 0));
            CHECK_OK(tide_sum_dim(&k, t, dim, 1));
            CHECK(r.ndim == 2 && k.ndim == 3 && k.shape[dim] == 1);
            int64_t n = tide_numel(&r), bad = 0;
            for (int64_t o = 0; o < n; o++) {
                int64_t idx[3], rest = o;
                for (int d = 2; d >= 0; d--) {
                    if (d == dim)
                        continue;
                    idx[d] = rest % t->shape[d];
                    rest /= t->shape[d];
                }
                double want = 0;
                for (idx[dim] = 0; idx[dim] < t->shape[dim]; idx[dim]++)
                    want += tide_get_f64(t, idx);
                bad += at(&r, o) != want || at(&k, o) != want;
            }
            CHECK(bad == 0);
            tide_tensor_release(&r);
            tide_tensor_release(&k);
        }
    }
    tide_tensor_release(&views[0]);
    tide_tensor_release(&views[1]);
    tide_tensor_release(&a);
}

static void test_reductions(void)
{
    int64_t s23[2] = {2, 3};
    tide_tensor a = make(TIDE_F64, 2, s23, (double[]){1, 5, 3, 4, 2, 6});
    tide_number v;
    double d;
    int64_t idx;
    CHECK_OK(tide_sum_all(&a, &v));
    CHECK(v.is_float && v.f == 21);
    CHECK_OK(tide_prod_all(&a, &v));
    CHECK(v.f == 720);
    CHECK_OK(tide_mean_all(&a, &d));
    CHECK(d == 3.5);
    CHECK_OK(tide_max_all(&a, &v, &idx));
    CHECK(v.f == 6 && idx == 5);
    CHECK_OK(tide_min_all(&a, &v, &idx));
    CHECK(v.f == 1 && idx == 0);
    CHECK_OK(tide_var_all(&a, 1, &d));
    CHECK(fabs(d - 3.5) < 1e-12);                      /* sum of squares 17.5 over 5 */
    CHECK_OK(tide_std_all(&a, 0, &d));
    CHECK(fabs(d - sqrt(17.5 / 6)) < 1e-12);
    CHECK_OK(tide_norm_all(&a, 2, &d));
    CHECK(fabs(d - sqrt(91)) < 1e-12);
    CHECK_OK(tide_norm_all(&a, INFINITY, &d));
    CHECK(d == 6);
    CHECK_OK(tide_norm_all(&a, 3, &d));
    CHECK(fabs(d - cbrt(441)) < 1e-12);
    CHECK_FAILS(tide_norm_all(&a, -1, &d), "norm: p must be >= 0 (or inf), got -1");

    tide_tensor vals = TIDE_TENSOR_EMPTY, ids = TIDE_TENSOR_EMPTY, r = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_max_dim(&vals, &ids, &a, 1, 0));
    CHECK(ids.dtype == TIDE_I64 && same_values(&vals, (double[]){5, 6}, 2, 0) &&
          same_values(&ids, (double[]){1, 2}, 2, 0));
    tide_tensor_release(&vals);
    tide_tensor_release(&ids);
    CHECK_OK(tide_argmin_dim(&ids, &a, 0, 1));
    CHECK(ids.ndim == 2 && ids.shape[0] == 1 && same_values(&ids, (double[]){0, 1, 0}, 3, 0));
    tide_tensor_release(&ids);
    CHECK_OK(tide_var_dim(&r, &a, 0, 1, 0));           /* columns (1,4) (5,2) (3,6) */
    CHECK(same_values(&r, (double[]){4.5, 4.5, 4.5}, 3, 1e-12));
    tide_tensor_release(&r);
    CHECK_OK(tide_std_dim(&r, &a, 1, 0, 1));
    CHECK(r.shape[1] == 1 && same_values(&r, (double[]){sqrt(8.0 / 3), sqrt(8.0 / 3)}, 2, 1e-12));
    tide_tensor_release(&r);
    CHECK_OK(tide_mean_dim(&r, &a, 1, 0));
    CHECK(same_values(&r, (double[]){3, 4}, 2, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_norm_dim(&r, &a, 1, 0, 0));
    CHECK(same_values(&r, (double[]){5, 7, 9}, 3, 0));
    tide_tensor_release(&r);
    CHECK_FAILS(tide_sum_dim(&r, &a, 2, 0), "sum: dim 3 out of range for a 2-dim tensor");
    CHECK(r.storage == NULL);

    /* integer sums are exact in i64; mean of integers is f32 */
    tide_tensor big = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&big, TIDE_I64, 1, (int64_t[]){2}));
    ((int64_t *)tide_data(&big))[0] = (INT64_C(1) << 53) + 1;
    ((int64_t *)tide_data(&big))[1] = 2;
    CHECK_OK(tide_sum_all(&big, &v));
    CHECK(!v.is_float && v.i == (INT64_C(1) << 53) + 3);
    CHECK_OK(tide_sum_dim(&r, &big, 0, 0));
    CHECK(r.dtype == TIDE_I64 && ((int64_t *)tide_data(&r))[0] == (INT64_C(1) << 53) + 3);
    tide_tensor_release(&r);
    tide_tensor u = make(TIDE_U8, 2, s23, (double[]){200, 200, 200, 1, 2, 3});
    CHECK_OK(tide_sum_dim(&r, &u, 1, 0));
    CHECK(r.dtype == TIDE_I64 && same_values(&r, (double[]){600, 6}, 2, 0));
    tide_tensor_release(&r);
    CHECK_OK(tide_mean_dim(&r, &u, 0, 0));
    CHECK(r.dtype == TIDE_F32 && same_values(&r, (double[]){100.5, 101, 101.5}, 3, 0));
    tide_tensor_release(&r);

    /* NaN propagates through max, and its index is the first NaN */
    tide_tensor nan = make(TIDE_F32, 1, (int64_t[]){4}, (double[]){1, NAN, 9, NAN});
    CHECK_OK(tide_max_all(&nan, &v, &idx));
    CHECK(isnan(v.f) && idx == 1);
    CHECK_OK(tide_max_all(&nan, &v, NULL));
    CHECK(isnan(v.f));

    /* empty tensors */
    tide_tensor e = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&e, TIDE_F32, 2, (int64_t[]){0, 3}));
    CHECK_OK(tide_sum_all(&e, &v));
    CHECK(v.f == 0);
    CHECK_OK(tide_prod_all(&e, &v));
    CHECK(v.f == 1);
    CHECK_OK(tide_sum_dim(&r, &e, 0, 0));
    CHECK(same_values(&r, (double[]){0, 0, 0}, 3, 0));
    tide_tensor_release(&r);
    CHECK_FAILS(tide_max_all(&e, &v, &idx), "max: cannot reduce an empty tensor (shape 0x3)");
    CHECK_FAILS(tide_min_dim(&vals, &ids, &e, 0, 0), "min: cannot reduce dim 1 of size 0 (shape 0x3)");
    CHECK(vals.storage == NULL && ids.storage == NULL);

    tide_tensor_release(&e);
    tide_tensor_release(&nan);
    tide_tensor_release(&u);
    tide_tensor_release(&big);
    tide_tensor_release(&a);
}

/* a long f32 sum accumulates in double: no drift from float rounding */
static void test_f32_accumulation(void)
{
    int64_t n = 1 << 20;
    tide_tensor a = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&a, TIDE_F32, 1, &n));
    CHECK_OK(tide_fill(&a, 0.1));
    tide_number v;
    CHECK_OK(tide_sum_all(&a, &v));
    CHECK(fabs(v.f - (double)n * (double)0.1f) < 1e-6);
    tide_tensor two = TIDE_TENSOR_EMPTY, r = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_view(&two, &a, 2, (int64_t[]){1024, 1024}));
    CHECK_OK(tide_sum_dim(&r, &two, 0, 0));            /* the row-accumulating path */
    CHECK(fabs(at(&r, 17) - 1024.0 * (double)0.1f) < 1e-9);
    tide_tensor_release(&r);
    tide_tensor_release(&two);
    tide_tensor_release(&a);
}

int main(void)
{
    size_t live = tide_memory_live();
    test_broadcast_and_promotion();
    test_scalars();
    test_inplace_and_overlap();
    test_strided();
    test_unary_and_compare();
    test_sum_dim_naive();
    test_reductions();
    test_f32_accumulation();
    CHECK(tide_memory_live() == live);                 /* nothing leaked, even on failures */
    return check_report("test_ops");
}
