/* ops_elementwise.c — the elementwise kernels and their drivers (see ops_elementwise.h).
 *
 * Layout: per-kind expression macros, then one row kernel per dtype (instantiated through
 * TIDE_FOREACH_DTYPE) that walks tide_iter rows and picks a plain restrict loop when the row is
 * contiguous (or one operand is a broadcast scalar, stride 0), then the drivers that settle the
 * result dtype and shape, check the output, cast operands of another dtype into temporaries and
 * run the kernel. */
#include "ops/operand.h"

#include <math.h>
#include <string.h>

#include "tensor/iter.h"

/* x^e for integers, wrapping; negative exponents follow torch (1, +-1 or 0). */
static int64_t ipow64(int64_t x, int64_t e)
{
    if (e < 0)
        return x == 1 ? 1 : x == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)x;
    for (uint64_t k = (uint64_t)e; k; k >>= 1) {
        if (k & 1)
            r *= b;
        b *= b;
    }
    return (int64_t)r;
}

/* ---------------------------------------------------------------- expressions */

#define E_ADD(T, U, a, b, al) ((T)((U)(a) + (U)(b)))
#define E_SUB(T, U, a, b, al) ((T)((U)(a) - (U)(b)))
#define E_MUL(T, U, a, b, al) ((T)((U)(a) * (U)(b)))
#define E_AXPY(T, U, a, b, al) ((T)((U)(a) + (U)(al) * (U)(b)))
#define E_DIV(T, U, a, b, al) ((a) / (b))
#define E_POW_F(T, U, a, b, al) powf(a, b)
#define E_POW_D(T, U, a, b, al) pow(a, b)
#define E_POW_S(T, U, a, b, al) ((T)ipow64(a, b))
#define E_POW_B E_POW_S
/* maximum/minimum return NaN when either side is NaN, as torch does */
#define E_MAX_F(T, U, a, b, al) (((a) != (a) || (a) > (b)) ? (a) : (b))
#define E_MAX_D E_MAX_F
#define E_MAX_S(T, U, a, b, al) ((a) > (b) ? (a) : (b))
#define E_MAX_B E_MAX_S
#define E_MIN_F(T, U, a, b, al) (((a) != (a) || (a) < (b)) ? (a) : (b))
#define E_MIN_D E_MIN_F
#define E_MIN_S(T, U, a, b, al) ((a) < (b) ? (a) : (b))
#define E_MIN_B E_MIN_S

/* floored remainder and division (Lua's and Python's % and //) and C's truncated fmod. An
 * integer divisor of 0 never reaches a kernel (the drivers refuse it); -1 is its own case since
 * INT_MIN / -1 traps. */
#define E_REM_F(T, U, a, b, al) \
    (fmodf(a, b) != 0 && ((fmodf(a, b) < 0) != ((b) < 0)) ? fmodf(a, b) + (b) : fmodf(a, b))
#define E_REM_D(T, U, a, b, al) \
    (fmod(a, b) != 0 && ((fmod(a, b) < 0) != ((b) < 0)) ? fmod(a, b) + (b) : fmod(a, b))
#define E_REM_S(T, U, a, b, al) \
    ((b) == -1 ? 0 : ((a) % (b) != 0 && (((a) % (b) < 0) != ((b) < 0))) ? (a) % (b) + (b) \
                                                                          : (a) % (b))
#define E_REM_B(T, U, a, b, al) ((T)((a) % (b)))
#define E_FDIV_F(T, U, a, b, al) floorf((a) / (b))
#define E_FDIV_D(T, U, a, b, al) floor((a) / (b))
#define E_FDIV_S(T, U, a, b, al) \
    ((b) == -1 ? (T)((U)0 - (U)(a)) \
               : (T)((a) / (b) - (((a) % (b) != 0) && (((a) < 0) != ((b) < 0)))))
#define E_FDIV_B(T, U, a, b, al) ((T)((a) / (b)))
#define E_FMOD_F(T, U, a, b, al) fmodf(a, b)
#define E_FMOD_D(T, U, a, b, al) fmod(a, b)
#define E_FMOD_S(T, U, a, b, al) ((b) == -1 ? 0 : (a) % (b))
#define E_FMOD_B(T, U, a, b, al) ((T)((a) % (b)))

#define U_NEG_F(T, U, x, lo, hi) (-(x))
#define U_NEG_D U_NEG_F
#define U_NEG_S(T, U, x, lo, hi) ((T)((U)0 - (U)(x)))
#define U_NEG_B U_NEG_S
#define U_ABS_F(T, U, x, lo, hi) fabsf(x)
#define U_ABS_D(T, U, x, lo, hi) fabs(x)
#define U_ABS_S(T, U, x, lo, hi) ((x) < 0 ? (T)((U)0 - (U)(x)) : (x))
#define U_ABS_B(T, U, x, lo, hi) (x)
/* x < 0 ? 0 : x keeps NaN (relu(NaN) is NaN in torch) and vectorises to a compare and a mask */
#define U_RELU_F(T, U, x, lo, hi) ((x) < 0 ? (T)0 : (x))
#define U_RELU_D U_RELU_F
#define U_RELU_S U_RELU_F
#define U_RELU_B(T, U, x, lo, hi) (x)
/* two steps, so that lo > hi gives hi (as torch) and NaN passes through */
#define U_CLAMP(T, U, x, lo, hi) (((x) < (lo) ? (lo) : (x)) > (hi) ? (hi) : ((x) < (lo) ? (lo) : (x)))
/* floor and ceil from nearbyint (which GCC vectorises, while it leaves floor/ceil calls be):
 * the nearest integer r is within 1/2 of x, so floor is r or r - 1. NaN and -0.0 pass. */
#define U_FLOOR_F(T, U, x, lo, hi) (nearbyintf(x) > (x) ? nearbyintf(x) - 1.0f : nearbyintf(x))
#define U_FLOOR_D(T, U, x, lo, hi) (nearbyint(x) > (x) ? nearbyint(x) - 1.0 : nearbyint(x))
#define U_CEIL_F(T, U, x, lo, hi) (nearbyintf(x) < (x) ? nearbyintf(x) + 1.0f : nearbyintf(x))
#define U_CEIL_D(T, U, x, lo, hi) (nearbyint(x) < (x) ? nearbyint(x) + 1.0 : nearbyint(x))
#define U_ROUND_F(T, U, x, lo, hi) nearbyintf(x)
#define U_ROUND_D(T, U, x, lo, hi) nearbyint(x)
#define U_SQRT_F(T, U, x, lo, hi) sqrtf(x)
#define U_SQRT_D(T, U, x, lo, hi) sqrt(x)
#define U_EXP_F(T, U, x, lo, hi) expf(x)
#define U_EXP_D(T, U, x, lo, hi) exp(x)
#define U_LOG_F(T, U, x, lo, hi) logf(x)
#define U_LOG_D(T, U, x, lo, hi) log(x)
#define U_TANH_F(T, U, x, lo, hi) tanhf(x)
#define U_TANH_D(T, U, x, lo, hi) tanh(x)
#define U_SIGMOID_F(T, U, x, lo, hi) (1.0f / (1.0f + expf(-(x))))
#define U_SIGMOID_D(T, U, x, lo, hi) (1.0 / (1.0 + exp(-(x))))
#define U_SIN_F(T, U, x, lo, hi) sinf(x)
#define U_SIN_D(T, U, x, lo, hi) sin(x)
#define U_COS_F(T, U, x, lo, hi) cosf(x)
#define U_COS_D(T, U, x, lo, hi) cos(x)

/* ---------------------------------------------------------------- binary kernels */

/* One op over every row of `it` (out, a, b). The contiguous variants are plain loops over
 * restrict pointers; out == a (in place) gets its own loop, since restrict does not allow the
 * two names for one array. Partial overlaps never reach here (the driver refuses them). */
#define BIN_LOOP(EXPR)                                                                    \
    while (tide_iter_next(it)) {                                                          \
        const int64_t n_ = it->inner, es_ = (int64_t)sizeof(ty);                          \
        char *po_ = it->ptr[0], *pa_ = it->ptr[1], *pb_ = it->ptr[2];                     \
        const int64_t so_ = it->inner_stride[0], sa_ = it->inner_stride[1],               \
                      sb_ = it->inner_stride[2];                                          \
        if (so_ == es_ && sa_ == es_ && sb_ == es_ && po_ != pb_) {                       \
            if (po_ == pa_) {                                                             \
                ty *restrict o_ = (ty *)po_;                                              \
                const ty *restrict y_ = (const ty *)pb_;                                  \
                for (int64_t i_ = 0; i_ < n_; i_++) {                                     \
                    ty a_ = o_[i_], b_ = y_[i_];                                          \
                    o_[i_] = EXPR(ty, uty, a_, b_, alpha);                                \
                }                                                                         \
            } else {                                                                      \
                ty *restrict o_ = (ty *)po_;                                              \
                const ty *restrict x_ = (const ty *)pa_, *restrict y_ = (const ty *)pb_;  \
                for (int64_t i_ = 0; i_ < n_; i_++) {                                     \
                    ty a_ = x_[i_], b_ = y_[i_];                                          \
                    o_[i_] = EXPR(ty, uty, a_, b_, alpha);                                \
                }                                                                         \
            }                                                                             \
        } else if (so_ == es_ && sa_ == es_ && sb_ == 0) {                                \
            const ty b_ = *(const ty *)pb_;                                               \
            if (po_ == pa_) {                                                             \
                ty *restrict o_ = (ty *)po_;                                              \
                for (int64_t i_ = 0; i_ < n_; i_++) {                                     \
                    ty a_ = o_[i_];                                                       \
                    o_[i_] = EXPR(ty, uty, a_, b_, alpha);                                \
                }                                                                         \
            } else {                                                                      \
                ty *restrict o_ = (ty *)po_;                                              \
                const ty *restrict x_ = (const ty *)pa_;                                  \
                for (int64_t i_ = 0; i_ < n_; i_++) {                                     \
                    ty a_ = x_[i_];                                                       \
                    o_[i_] = EXPR(ty, uty, a_, b_, alpha);                                \
                }                                                                         \
            }                                                                             \
        } else if (so_ == es_ && sa_ == 0 && sb_ == es_ && po_ != pb_) {                  \
            const ty a_ = *(const ty *)pa_;                                               \
            ty *restrict o_ = (ty *)po_;                                                  \
            const ty *restrict y_ = (const ty *)pb_;                                      \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                         \
                ty b_ = y_[i_];                                                           \
                o_[i_] = EXPR(ty, uty, a_, b_, alpha);                                    \
            }                                                                             \
        } else {                                                                          \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                         \
                ty a_ = *(const ty *)(pa_ + i_ * sa_), b_ = *(const ty *)(pb_ + i_ * sb_); \
                *(ty *)(po_ + i_ * so_) = EXPR(ty, uty, a_, b_, alpha);                   \
            }                                                                             \
        }                                                                                 \
    }

/* op codes beyond tide_binop used inside this file */
enum { OP_AXPY = TIDE_OP_FMOD + 1 };

#define DIV_CASE_F case TIDE_OP_DIV: BIN_LOOP(E_DIV); break;
#define DIV_CASE_D DIV_CASE_F
#define DIV_CASE_S
#define DIV_CASE_B

#define DEF_BINARY(E, name, T)                                                            \
    static void binary_##name(tide_iter *it, int op, const tide_number *al)               \
    {                                                                                     \
        typedef T ty;                                                                     \
        typedef UNS_##name uty;                                                           \
        const ty alpha = SCALAR_AS(name, T, *al);                                         \
        (void)alpha;                                                                      \
        switch (op) {                                                                     \
        case TIDE_OP_ADD: BIN_LOOP(E_ADD); break;                                         \
        case TIDE_OP_SUB: BIN_LOOP(E_SUB); break;                                         \
        case TIDE_OP_MUL: BIN_LOOP(E_MUL); break;                                         \
        case OP_AXPY: BIN_LOOP(E_AXPY); break;                                            \
        case TIDE_OP_POW: BIN_LOOP(CAT(E_POW_, KIND(name))); break;                       \
        case TIDE_OP_MAXIMUM: BIN_LOOP(CAT(E_MAX_, KIND(name))); break;                   \
        case TIDE_OP_MINIMUM: BIN_LOOP(CAT(E_MIN_, KIND(name))); break;                   \
        case TIDE_OP_REMAINDER: BIN_LOOP(CAT(E_REM_, KIND(name))); break;                 \
        case TIDE_OP_FLOOR_DIVIDE: BIN_LOOP(CAT(E_FDIV_, KIND(name))); break;             \
        case TIDE_OP_FMOD: BIN_LOOP(CAT(E_FMOD_, KIND(name))); break;                     \
        CAT(DIV_CASE_, KIND(name))                                                        \
        }                                                                                 \
    }
TIDE_FOREACH_DTYPE(DEF_BINARY)
#undef DEF_BINARY

typedef void (*binary_kernel)(tide_iter *, int, const tide_number *);
static const binary_kernel binary_kernels[TIDE_NDTYPES] = {
#define ENTRY(E, name, T) [E] = binary_##name,
    TIDE_FOREACH_DTYPE(ENTRY)
#undef ENTRY
};

/* ---------------------------------------------------------------- unary kernels */

#define UN_LOOP(EXPR)                                                                     \
    while (tide_iter_next(it)) {                                                          \
        const int64_t n_ = it->inner, es_ = (int64_t)sizeof(ty);                          \
        char *po_ = it->ptr[0], *pa_ = it->ptr[1];                                        \
        const int64_t so_ = it->inner_stride[0], sa_ = it->inner_stride[1];               \
        if (so_ == es_ && sa_ == es_ && po_ == pa_) {                                     \
            ty *restrict o_ = (ty *)po_;                                                  \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                         \
                ty x_ = o_[i_];                                                           \
                o_[i_] = EXPR(ty, uty, x_, lo, hi);                                       \
            }                                                                             \
        } else if (so_ == es_ && sa_ == es_) {                                            \
            ty *restrict o_ = (ty *)po_;                                                  \
            const ty *restrict a_ = (const ty *)pa_;                                      \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                         \
                ty x_ = a_[i_];                                                           \
                o_[i_] = EXPR(ty, uty, x_, lo, hi);                                       \
            }                                                                             \
        } else {                                                                          \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                         \
                ty x_ = *(const ty *)(pa_ + i_ * sa_);                                    \
                *(ty *)(po_ + i_ * so_) = EXPR(ty, uty, x_, lo, hi);                      \
            }                                                                             \
        }                                                                                 \
    }

enum { UN_CLAMP = TIDE_UN_COS + 1 };

/* Float-valued ops exist for the float dtypes only: the driver casts integers to f32 first
 * and treats floor/ceil/round of an integer as a copy. */
#define FLOAT_CASES_F(K)                                                                  \
    case TIDE_UN_FLOOR: UN_LOOP(CAT(U_FLOOR_, K)); break;                                 \
    case TIDE_UN_CEIL: UN_LOOP(CAT(U_CEIL_, K)); break;                                   \
    case TIDE_UN_ROUND: UN_LOOP(CAT(U_ROUND_, K)); break;                                 \
    case TIDE_UN_SQRT: UN_LOOP(CAT(U_SQRT_, K)); break;                                   \
    case TIDE_UN_EXP: UN_LOOP(CAT(U_EXP_, K)); break;                                     \
    case TIDE_UN_LOG: UN_LOOP(CAT(U_LOG_, K)); break;                                     \
    case TIDE_UN_TANH: UN_LOOP(CAT(U_TANH_, K)); break;                                   \
    case TIDE_UN_SIGMOID: UN_LOOP(CAT(U_SIGMOID_, K)); break;                             \
    case TIDE_UN_SIN: UN_LOOP(CAT(U_SIN_, K)); break;                                     \
    case TIDE_UN_COS: UN_LOOP(CAT(U_COS_, K)); break;
#define FLOAT_CASES_D FLOAT_CASES_F
#define FLOAT_CASES_S(K)
#define FLOAT_CASES_B(K)

#define DEF_UNARY(E, name, T)                                                             \
    static void unary_##name(tide_iter *it, int op, const tide_number *lo_s,              \
                             const tide_number *hi_s)                                     \
    {                                                                                     \
        typedef T ty;                                                                     \
        typedef UNS_##name uty;                                                           \
        const ty lo = SCALAR_AS(name, T, *lo_s), hi = SCALAR_AS(name, T, *hi_s);          \
        (void)lo; (void)hi; (void)sizeof(uty);                                            \
        switch (op) {                                                                     \
        case TIDE_UN_NEG: UN_LOOP(CAT(U_NEG_, KIND(name))); break;                        \
        case TIDE_UN_ABS: UN_LOOP(CAT(U_ABS_, KIND(name))); break;                        \
        case TIDE_UN_RELU: UN_LOOP(CAT(U_RELU_, KIND(name))); break;                      \
        case UN_CLAMP: UN_LOOP(U_CLAMP); break;                                           \
        CAT(FLOAT_CASES_, KIND(name))(KIND(name))                                         \
        }                                                                                 \
    }
TIDE_FOREACH_DTYPE(DEF_UNARY)
#undef DEF_UNARY

typedef void (*unary_kernel)(tide_iter *, int, const tide_number *, const tide_number *);
static const unary_kernel unary_kernels[TIDE_NDTYPES] = {
#define ENTRY(E, name, T) [E] = unary_##name,
    TIDE_FOREACH_DTYPE(ENTRY)
#undef ENTRY
};

/* ---------------------------------------------------------------- names */

const char *tide_binop_name(tide_binop op)
{
    static const char *const names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                        "remainder", "floor_divide", "fmod"};
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

const char *tide_unop_name(tide_unop op)
{
    static const char *const names[] = {"neg", "abs", "relu", "floor", "ceil", "round",
                                        "sqrt", "exp", "log", "tanh", "sigmoid", "sin",
                                        "cos", "clamp"};
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

const char *tide_cmpop_name(tide_cmpop op)
{
    static const char *const names[] = {"eq", "ne", "lt", "le", "gt", "ge"};
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

int tide_dtype_can_store(tide_dtype from, tide_dtype to)
{
    return !(tide_dtype_is_float(from) && !tide_dtype_is_float(to));
}

/* ---------------------------------------------------------------- binary drivers */

/* A fresh contiguous out of the same shape as contiguous a and b: one row, no broadcasting. */
static void flat_iter(tide_iter *it, int nargs, char *const *ptrs, int64_t n, int64_t es)
{
    it->nargs = nargs;
    it->ndim = 1;
    it->shape[0] = n;
    it->idx[0] = 0;
    it->rows_left = n > 0;
    it->inner = n;
    for (int k = 0; k < nargs; k++) {
        it->base[k] = ptrs[k];
        it->stride[k][0] = it->inner_stride[k] = es;
    }
}

static tide_status binary_run(tide_tensor *out, int op, const char *name, operand *a,
                              operand *b, tide_number alpha)
{
    int ndim, allocated;
    int64_t shape[TIDE_MAX_DIMS];
    TIDE_TRY(tide_ew_operand_shape(a, b, &ndim, shape, name));
    tide_dtype rdt = tide_dtype_promote(tide_ew_operand_dtype(a, b), tide_ew_operand_dtype(b, a));
    if ((op == TIDE_OP_DIV || (op == OP_AXPY && alpha.is_float)) && !tide_dtype_is_float(rdt))
        rdt = TIDE_F32;
    int inplace = out->storage && a->src && tide_ew_same_view(out, a->src);
    TIDE_TRY(tide_ew_prepare_result(out, rdt, ndim, shape, name, inplace, 0, &allocated));
    tide_dtype dt = out->dtype;
    tide_iter it;
    tide_status st = tide_ew_pair_iter(&it, out, a, b, dt, ndim, shape, name, inplace);
    if (st == TIDE_OK)
        binary_kernels[dt](&it, op, &alpha);
    tide_ew_operand_release(a);
    tide_ew_operand_release(b);
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

/* Is op an integer division (%, //, fmod) of dtype dt? Its divisor must hold no zero. */
static int int_division(int op, tide_dtype dt)
{
    return op >= TIDE_OP_REMAINDER && op <= TIDE_OP_FMOD && !tide_dtype_is_float(dt);
}

/* Refuses an integer divisor tensor holding a zero (C's / and % would trap). */
static tide_status check_divisor(int op, tide_dtype rdt, const tide_tensor *b)
{
    if (!int_division(op, rdt))
        return TIDE_OK;
    tide_tensor wide = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_cast(&wide, b, TIDE_I64));
    const int64_t *d = tide_data(&wide);
    int64_t n = tide_numel(&wide), i = 0;
    while (i < n && d[i] != 0)
        i++;
    tide_tensor_release(&wide);
    if (i < n)
        return tide_fail("%s: integer division by zero", tide_binop_name((tide_binop)op));
    return TIDE_OK;
}

tide_status tide_binary(tide_tensor *out, tide_binop op, const tide_tensor *a,
                        const tide_tensor *b)
{
    if ((unsigned)op > TIDE_OP_FMOD)
        return tide_fail("binary: unknown op %d", (int)op);
    TIDE_TRY(check_divisor(op, tide_dtype_promote(a->dtype, b->dtype), b));
    /* the common cases, kept short: same dtype, same shape, contiguous, and a new output or
     * the first operand itself (not overlapping the second other than as the same view) */
    if ((!out->storage || (out == a && (!tide_overlaps(a, b) || tide_ew_same_view(a, b)))) &&
        a->dtype == b->dtype && tide_is_contiguous(a) && tide_is_contiguous(b) &&
        tide_same_shape(a, b) && (op != TIDE_OP_DIV || tide_dtype_is_float(a->dtype))) {
        if (!out->storage)
            TIDE_TRY(tide_tensor_alloc(out, a->dtype, a->ndim, a->shape));
        tide_iter it;
        char *ptrs[3] = {tide_data(out), tide_data(a), tide_data(b)};
        flat_iter(&it, 3, ptrs, tide_numel(a), (int64_t)tide_dtype_size(a->dtype));
        tide_number none = tide_number_int(0);
        binary_kernels[a->dtype](&it, op, &none);
        return TIDE_OK;
    }
    operand oa, ob;
    tide_ew_operand_tensor(&oa, a);
    tide_ew_operand_tensor(&ob, b);
    return binary_run(out, op, tide_binop_name(op), &oa, &ob, tide_number_int(0));
}

/* The common scalar case, kept short: a new output from a contiguous tensor and a scalar of
 * the tensor's own kind (scalar_first: s op a). Returns 0 when the case does not apply. */
static int scalar_fast(tide_tensor *out, int op, const tide_tensor *a, tide_number s,
                       int scalar_first, tide_status *st)
{
    tide_dtype dt = a->dtype;
    if (out->storage || tide_ew_scalar_dtype(s, dt) != dt || !tide_is_contiguous(a) ||
        (op == TIDE_OP_DIV && !tide_dtype_is_float(dt)))
        return 0;
    *st = tide_tensor_alloc(out, dt, a->ndim, a->shape);
    if (*st != TIDE_OK)
        return 1;
    scalar_box box;
    tide_ew_box_init(&box, dt, s, 0, NULL);
    int k = scalar_first ? 1 : 2;
    char *ptrs[3] = {tide_data(out), tide_data(a), tide_data(a)};
    ptrs[k] = (char *)&box.v;
    tide_iter it;
    flat_iter(&it, 3, ptrs, tide_numel(a), (int64_t)tide_dtype_size(dt));
    it.stride[k][0] = it.inner_stride[k] = 0;
    tide_number none = tide_number_int(0);
    binary_kernels[dt](&it, op, &none);
    return 1;
}

tide_status tide_binary_scalar(tide_tensor *out, tide_binop op, const tide_tensor *a,
                               tide_number s)
{
    if ((unsigned)op > TIDE_OP_FMOD)
        return tide_fail("binary: unknown op %d", (int)op);
    if (!s.is_float && s.i == 0 && int_division(op, a->dtype))
        return tide_fail("%s: integer division by zero", tide_binop_name(op));
    tide_status st;
    if (scalar_fast(out, op, a, s, 0, &st))
        return st;
    operand oa, ob;
    tide_ew_operand_tensor(&oa, a);
    tide_ew_operand_scalar(&ob, s);
    return binary_run(out, op, tide_binop_name(op), &oa, &ob, tide_number_int(0));
}

tide_status tide_scalar_binary(tide_tensor *out, tide_binop op, tide_number s,
                               const tide_tensor *a)
{
    if ((unsigned)op > TIDE_OP_FMOD)
        return tide_fail("binary: unknown op %d", (int)op);
    if (!s.is_float)
        TIDE_TRY(check_divisor(op, a->dtype, a));
    tide_status st;
    if (scalar_fast(out, op, a, s, 1, &st))
        return st;
    operand oa, ob;
    tide_ew_operand_scalar(&oa, s);
    tide_ew_operand_tensor(&ob, a);
    return binary_run(out, op, tide_binop_name(op), &oa, &ob, tide_number_int(0));
}

tide_status tide_add_scaled(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                            tide_number alpha)
{
    operand oa, ob;
    tide_ew_operand_tensor(&oa, a);
    tide_ew_operand_tensor(&ob, b);
    return binary_run(out, OP_AXPY, "add", &oa, &ob, alpha);
}

tide_status tide_sub_scaled(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                            tide_number alpha)
{
    tide_number neg = alpha.is_float ? tide_number_float(-alpha.f)
                                     : tide_number_int((int64_t)(0 - (uint64_t)alpha.i));
    operand oa, ob;
    tide_ew_operand_tensor(&oa, a);
    tide_ew_operand_tensor(&ob, b);
    return binary_run(out, OP_AXPY, "sub", &oa, &ob, neg);
}

/* ---------------------------------------------------------------- unary drivers */

static int float_valued(int op)
{
    return op >= TIDE_UN_SQRT && op <= TIDE_UN_COS;
}

static tide_status unary_run(tide_tensor *out, int op, const tide_tensor *a, tide_number lo,
                             tide_number hi)
{
    const char *name = tide_unop_name((tide_unop)op);
    tide_dtype rdt = a->dtype;
    if (!tide_dtype_is_float(rdt) && (float_valued(op) || (op == UN_CLAMP &&
                                                           (lo.is_float || hi.is_float))))
        rdt = TIDE_F32;
    int inplace = out->storage && tide_ew_same_view(out, a), allocated;
    TIDE_TRY(tide_ew_prepare_result(out, rdt, a->ndim, a->shape, name, inplace, 0, &allocated));
    tide_dtype dt = out->dtype;
    tide_status st = tide_ew_check_overlap(out, a, name, inplace);
    int rounding = op == TIDE_UN_FLOOR || op == TIDE_UN_CEIL || op == TIDE_UN_ROUND;
    if (st == TIDE_OK && rounding && !tide_dtype_is_float(a->dtype)) {
        /* an integer is its own floor: copy (into a float out, if that was asked for) */
        if (!inplace)
            st = tide_copy(out, a);
    } else if (st == TIDE_OK) {
        operand oa;
        tide_ew_operand_tensor(&oa, a);
        if (op == UN_CLAMP) {
            st = tide_ew_scalar_for(dt, &lo, name);
            if (st == TIDE_OK)
                st = tide_ew_scalar_for(dt, &hi, name);
        }
        if (st == TIDE_OK)
            st = tide_ew_operand_prepare(&oa, dt, a->ndim, a->shape, name);
        if (st == TIDE_OK) {
            tide_iter it;
            const tide_tensor *args[2] = {out, tide_ew_operand_tensor_of(&oa)};
            tide_iter_init(&it, 2, args);
            unary_kernels[dt](&it, op, &lo, &hi);
        }
        tide_ew_operand_release(&oa);
    }
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

tide_status tide_unary(tide_tensor *out, tide_unop op, const tide_tensor *a)
{
    if ((unsigned)op > TIDE_UN_COS)
        return tide_fail("unary: unknown op %d", (int)op);
    return unary_run(out, op, a, tide_number_int(0), tide_number_int(0));
}

/* The widest bound of dtype dt, as a scalar (for a clamp side that is not given). */
static tide_number type_limit(tide_dtype dt, int upper)
{
    if (tide_dtype_is_float(dt))
        return tide_number_float(upper ? INFINITY : -INFINITY);
    int64_t lo, hi;
    tide_dtype_exact_range(dt, &lo, &hi);
    return tide_number_int(upper ? hi : lo);
}

/* An integer bound beyond an integer dtype's range is that range's end (clamping a u8 at 300
 * is no clamp, at -5 is a clamp at 0). */
static tide_number fit_bound(tide_dtype dt, tide_number b)
{
    if (tide_dtype_is_float(dt) || b.is_float)
        return b;
    tide_number lo = type_limit(dt, 0), hi = type_limit(dt, 1);
    return b.i < lo.i ? lo : b.i > hi.i ? hi : b;
}

tide_status tide_clamp(tide_tensor *out, const tide_tensor *a, int has_lo, tide_number lo,
                       int has_hi, tide_number hi)
{
    int to_float = !tide_dtype_is_float(a->dtype) &&
                   ((has_lo && lo.is_float) || (has_hi && hi.is_float));
    tide_dtype dt = to_float ? TIDE_F32 : a->dtype;
    if (out->storage && tide_dtype_can_store(dt, out->dtype))
        dt = out->dtype;   /* the bounds are applied in the dtype the result is stored in */
    lo = has_lo ? fit_bound(dt, lo) : type_limit(dt, 0);
    hi = has_hi ? fit_bound(dt, hi) : type_limit(dt, 1);
    if (to_float) {   /* make the float rule visible to unary_run */
        lo = tide_number_float(lo.f);
        hi = tide_number_float(hi.f);
    }
    return unary_run(out, UN_CLAMP, a, lo, hi);
}
