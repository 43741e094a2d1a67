/* ops_elementwise.c — the elementwise kernels and their drivers (see ops_elementwise.h).
 *
 * Layout: per-kind expression macros, then one row kernel per dtype (instantiated through
 * TIDE_FOREACH_DTYPE) that walks tide_iter rows and picks a plain restrict loop when the row is
 * contiguous (or one operand is a broadcast scalar, stride 0), then the drivers that settle the
 * result dtype and shape, check the output, cast operands of another dtype into temporaries and
 * run the kernel. */
#include "ops_elementwise.h"

#include <math.h>
#include <string.h>

#include "iter.h"

/* ---------------------------------------------------------------- per-dtype helpers */

#define CAT(a, b) CAT_(a, b)
#define CAT_(a, b) a##b

/* The kind of each dtype picks its expression variant: F float, D double, S signed, B byte. */
#define KIND_f32 F
#define KIND_f64 D
#define KIND_i32 S
#define KIND_i64 S
#define KIND_u8 B
#define KIND(name) CAT(KIND_, name)

/* Integer arithmetic goes through the unsigned type so that overflow wraps instead of being
 * undefined (sanitizer builds trap on signed overflow). */
#define UNS_f32 float
#define UNS_f64 double
#define UNS_i32 uint32_t
#define UNS_i64 uint64_t
#define UNS_u8 uint8_t

#define ISFLOAT_F 1
#define ISFLOAT_D 1
#define ISFLOAT_S 0
#define ISFLOAT_B 0
/* A scalar already normalised for this dtype (integer dtypes only ever get integer scalars). */
#define SCALAR_AS(name, T, s) (CAT(ISFLOAT_, KIND(name)) ? (T)(s).f : (T)(s).i)

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
enum { OP_AXPY = TIDE_OP_MINIMUM + 1 };

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

enum { UN_CLAMP = TIDE_UN_SIGMOID + 1 };

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
    case TIDE_UN_SIGMOID: UN_LOOP(CAT(U_SIGMOID_, K)); break;
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

/* ---------------------------------------------------------------- comparisons, where, fill */

#define CMP_LOOP(SYM)                                                                     \
    while (tide_iter_next(it)) {                                                          \
        const int64_t n_ = it->inner, es_ = (int64_t)sizeof(ty);                          \
        char *po_ = it->ptr[0], *pa_ = it->ptr[1], *pb_ = it->ptr[2];                     \
        const int64_t so_ = it->inner_stride[0], sa_ = it->inner_stride[1],               \
                      sb_ = it->inner_stride[2];                                          \
        int distinct_ = po_ != pa_ && po_ != pb_;                                         \
        if (distinct_ && so_ == 1 && sa_ == es_ && sb_ == es_) {                          \
            uint8_t *restrict o_ = (uint8_t *)po_;                                        \
            const ty *restrict x_ = (const ty *)pa_, *restrict y_ = (const ty *)pb_;      \
            for (int64_t i_ = 0; i_ < n_; i_++)                                           \
                o_[i_] = x_[i_] SYM y_[i_];                                               \
        } else if (distinct_ && so_ == 1 && sa_ == es_ && sb_ == 0) {                     \
            uint8_t *restrict o_ = (uint8_t *)po_;                                        \
            const ty *restrict x_ = (const ty *)pa_;                                      \
            const ty y_ = *(const ty *)pb_;                                               \
            for (int64_t i_ = 0; i_ < n_; i_++)                                           \
                o_[i_] = x_[i_] SYM y_;                                                   \
        } else {                                                                          \
            for (int64_t i_ = 0; i_ < n_; i_++)                                           \
                *(uint8_t *)(po_ + i_ * so_) =                                            \
                    *(const ty *)(pa_ + i_ * sa_) SYM *(const ty *)(pb_ + i_ * sb_);      \
        }                                                                                 \
    }

#define DEF_COMPARE(E, name, T)                                                           \
    static void compare_##name(tide_iter *it, int op)                                     \
    {                                                                                     \
        typedef T ty;                                                                     \
        switch (op) {                                                                     \
        case TIDE_CMP_EQ: CMP_LOOP(==); break;                                            \
        case TIDE_CMP_NE: CMP_LOOP(!=); break;                                            \
        case TIDE_CMP_LT: CMP_LOOP(<); break;                                             \
        case TIDE_CMP_LE: CMP_LOOP(<=); break;                                            \
        case TIDE_CMP_GT: CMP_LOOP(>); break;                                             \
        case TIDE_CMP_GE: CMP_LOOP(>=); break;                                            \
        }                                                                                 \
    }
TIDE_FOREACH_DTYPE(DEF_COMPARE)
#undef DEF_COMPARE

/* out = mask ? a : b over rows of (out, mask, a, b) */
#define DEF_WHERE(E, name, T)                                                             \
    static void where_##name(tide_iter *it)                                               \
    {                                                                                     \
        while (tide_iter_next(it)) {                                                      \
            const int64_t n = it->inner, es = (int64_t)sizeof(T);                         \
            const int64_t *s = it->inner_stride;                                          \
            int distinct = it->ptr[0] != it->ptr[1] && it->ptr[0] != it->ptr[2] &&        \
                           it->ptr[0] != it->ptr[3];                                      \
            if (distinct && s[0] == es && s[1] == 1 && s[2] == es && s[3] == es) {        \
                T *restrict o = (T *)it->ptr[0];                                          \
                const uint8_t *restrict m = (const uint8_t *)it->ptr[1];                  \
                const T *restrict x = (const T *)it->ptr[2], *restrict y = (const T *)it->ptr[3]; \
                for (int64_t i = 0; i < n; i++)                                           \
                    o[i] = m[i] ? x[i] : y[i];                                            \
            } else {                                                                      \
                for (int64_t i = 0; i < n; i++)                                           \
                    *(T *)(it->ptr[0] + i * s[0]) = *(const uint8_t *)(it->ptr[1] + i * s[1]) \
                        ? *(const T *)(it->ptr[2] + i * s[2])                             \
                        : *(const T *)(it->ptr[3] + i * s[3]);                            \
            }                                                                             \
        }                                                                                 \
    }
TIDE_FOREACH_DTYPE(DEF_WHERE)
#undef DEF_WHERE

/* t = mask ? v : t over rows of (t, mask) */
#define DEF_MASKED_FILL(E, name, T)                                                       \
    static void masked_fill_##name(tide_iter *it, const tide_number *vs)                  \
    {                                                                                     \
        const T v = SCALAR_AS(name, T, *vs);                                              \
        while (tide_iter_next(it)) {                                                      \
            const int64_t n = it->inner, so = it->inner_stride[0], sm = it->inner_stride[1]; \
            if (so == (int64_t)sizeof(T) && sm == 1 && it->ptr[0] != it->ptr[1]) {        \
                T *restrict o = (T *)it->ptr[0];                                          \
                const uint8_t *restrict m = (const uint8_t *)it->ptr[1];                  \
                for (int64_t i = 0; i < n; i++)                                           \
                    o[i] = m[i] ? v : o[i];                                               \
            } else {                                                                      \
                for (int64_t i = 0; i < n; i++)                                           \
                    if (*(const uint8_t *)(it->ptr[1] + i * sm))                          \
                        *(T *)(it->ptr[0] + i * so) = v;                                  \
            }                                                                             \
        }                                                                                 \
    }
TIDE_FOREACH_DTYPE(DEF_MASKED_FILL)
#undef DEF_MASKED_FILL

static void run_compare(tide_iter *it, tide_dtype dt, int op)
{
    switch (dt) {
#define CASE(E, name, T) case E: compare_##name(it, op); break;
        TIDE_FOREACH_DTYPE(CASE)
#undef CASE
    }
}

static void run_where(tide_iter *it, tide_dtype dt)
{
    switch (dt) {
#define CASE(E, name, T) case E: where_##name(it); break;
        TIDE_FOREACH_DTYPE(CASE)
#undef CASE
    }
}

static void run_masked_fill(tide_iter *it, tide_dtype dt, const tide_number *v)
{
    switch (dt) {
#define CASE(E, name, T) case E: masked_fill_##name(it, v); break;
        TIDE_FOREACH_DTYPE(CASE)
#undef CASE
    }
}

/* ---------------------------------------------------------------- names */

const char *tide_binop_name(tide_binop op)
{
    static const char *const names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

const char *tide_unop_name(tide_unop op)
{
    static const char *const names[] = {"neg", "abs", "relu", "floor", "ceil", "round",
                                        "sqrt", "exp", "log", "tanh", "sigmoid", "clamp"};
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

/* ---------------------------------------------------------------- operands */

/* A scalar operand seen as a tensor of the result's shape with every stride 0, backed by a
 * value on the stack: no allocation, and never released (its storage is not refcounted). */
typedef struct scalar_box {
    tide_storage st;
    tide_tensor t;
    union { float f32; double f64; int32_t i32; int64_t i64; uint8_t u8; } v;
} scalar_box;

static void box_init(scalar_box *b, tide_dtype dt, tide_number s, int ndim, const int64_t *shape)
{
    memset(b, 0, sizeof *b);
    switch (dt) {
#define SET(E, name, T) case E: b->v.name = SCALAR_AS(name, T, s); break;
        TIDE_FOREACH_DTYPE(SET)
#undef SET
    }
    b->st.data = &b->v;
    b->st.nbytes = sizeof b->v;
    b->st.refcount = 1;
    b->t.storage = &b->st;
    b->t.dtype = dt;
    b->t.ndim = ndim;
    for (int d = 0; d < ndim; d++)
        b->t.shape[d] = shape[d];
}

/* The dtype a scalar takes next to a tensor of dtype dt (see the header). */
static tide_dtype scalar_dtype(tide_number s, tide_dtype dt)
{
    return s.is_float && !tide_dtype_is_float(dt) ? TIDE_F32 : dt;
}

/* s as a scalar for an integer dtype: integer-valued floats convert, others are refused. */
static tide_status scalar_for(tide_dtype dt, tide_number *s, const char *op)
{
    if (tide_dtype_is_float(dt) || !s->is_float)
        return TIDE_OK;
    double lo = dt == TIDE_U8 ? 0 : dt == TIDE_I32 ? -2147483648.0 : -9223372036854775808.0;
    double hi = dt == TIDE_U8 ? 256 : dt == TIDE_I32 ? 2147483648.0 : 9223372036854775808.0;
    if (!(s->f >= lo && s->f < hi) || s->f != floor(s->f))
        return tide_fail("%s: value %.17g does not fit dtype %s", op, s->f, tide_dtype_name(dt));
    *s = tide_number_int((int64_t)s->f);
    return TIDE_OK;
}

static int same_view(const tide_tensor *a, const tide_tensor *b)
{
    if (a->storage->data != b->storage->data || a->dtype != b->dtype || a->offset != b->offset ||
        a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d] || (a->shape[d] > 1 && a->stride[d] != b->stride[d]))
            return 0;
    return 1;
}

static int self_overlapping(const tide_tensor *t)
{
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] > 1 && t->stride[d] == 0)
            return 1;
    return 0;
}

/* Checks or allocates out for a result of dtype rdt and the given shape. inplace: out is the
 * receiver of an in-place method (errors say "op_" and "receiver"). exact: out's dtype must be
 * rdt itself rather than any dtype rdt may be stored in. */
static tide_status prepare_result(tide_tensor *out, tide_dtype rdt, int ndim, const int64_t *shape,
                                  const char *op, int inplace, int exact, int *allocated)
{
    *allocated = 0;
    if (!out->storage) {
        TIDE_TRY(tide_tensor_alloc(out, rdt, ndim, shape));
        *allocated = 1;
        return TIDE_OK;
    }
    char want[TIDE_SHAPE_BUF], got[TIDE_SHAPE_BUF];
    int same = out->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = out->shape[d] == shape[d];
    if (!same && inplace)
        return tide_fail("%s_: result shape %s does not match the receiver %s", op,
                         tide_shape_str_n(ndim, shape, want, sizeof want),
                         tide_shape_str(out, got, sizeof got));
    if (!same)
        return tide_fail("%s: output has shape %s, expected %s", op,
                         tide_shape_str(out, got, sizeof got),
                         tide_shape_str_n(ndim, shape, want, sizeof want));
    if (exact ? out->dtype != rdt : !tide_dtype_can_store(rdt, out->dtype))
        return tide_fail("%s%s: result dtype %s cannot be stored in the %s %s", op,
                         inplace ? "_" : "", tide_dtype_name(rdt), tide_dtype_name(out->dtype),
                         inplace ? "receiver" : "output");
    if (self_overlapping(out))
        return tide_fail("%s%s: the %s has elements that share memory (an expanded view);"
                         " clone() it first", op, inplace ? "_" : "",
                         inplace ? "receiver" : "output");
    return TIDE_OK;
}

/* An input may be the output itself, or lie elsewhere in memory; anything between would make
 * the result depend on the loop order. */
static tide_status check_overlap(const tide_tensor *out, const tide_tensor *in, const char *op,
                                 int inplace)
{
    if (!in || same_view(out, in) || !tide_overlaps(out, in))
        return TIDE_OK;
    if (inplace)
        return tide_fail("%s_: the argument overlaps the receiver in memory; clone() it first",
                         op);
    return tide_fail("%s: the output overlaps an input in memory; clone() the input first", op);
}

/* An input ready for a kernel: dtype dt, expanded to the result's shape. It is either a view
 * (holding a reference, released by operand_release) or a scalar box. */
typedef struct operand {
    const tide_tensor *src;     /* NULL for a scalar */
    tide_number s;
    tide_tensor view;
    scalar_box box;
} operand;

static void operand_tensor(operand *o, const tide_tensor *t)
{
    memset(o, 0, sizeof *o);
    o->src = t;
}

static void operand_scalar(operand *o, tide_number s)
{
    memset(o, 0, sizeof *o);
    o->s = s;
}

static tide_status operand_prepare(operand *o, tide_dtype dt, int ndim, const int64_t *shape,
                                   const char *op)
{
    if (!o->src) {
        tide_number s = o->s;
        TIDE_TRY(scalar_for(dt, &s, op));
        box_init(&o->box, dt, s, ndim, shape);
        return TIDE_OK;
    }
    if (o->src->dtype == dt)
        return tide_expand(&o->view, o->src, ndim, shape);
    tide_tensor tmp = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_cast(&tmp, o->src, dt));
    tide_status st = tide_expand(&o->view, &tmp, ndim, shape);
    tide_tensor_release(&tmp);
    return st;
}

static const tide_tensor *operand_tensor_of(const operand *o)
{
    return o->src ? &o->view : &o->box.t;
}

static void operand_release(operand *o)
{
    tide_tensor_release(&o->view);
}

static tide_dtype operand_dtype(const operand *o, const operand *other)
{
    if (o->src)
        return o->src->dtype;
    return other->src ? scalar_dtype(o->s, other->src->dtype)
                      : (o->s.is_float ? TIDE_F32 : TIDE_I64);
}

static tide_status operand_shape(const operand *a, const operand *b, int *ndim, int64_t *shape,
                                 const char *op)
{
    if (a->src && b->src)
        return tide_broadcast_shapes(a->src->ndim, a->src->shape, b->src->ndim, b->src->shape,
                                     ndim, shape, op);
    const tide_tensor *t = a->src ? a->src : b->src;
    *ndim = t->ndim;
    memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    return TIDE_OK;
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
    TIDE_TRY(operand_shape(a, b, &ndim, shape, name));
    tide_dtype rdt = tide_dtype_promote(operand_dtype(a, b), operand_dtype(b, a));
    if ((op == TIDE_OP_DIV || (op == OP_AXPY && alpha.is_float)) && !tide_dtype_is_float(rdt))
        rdt = TIDE_F32;
    int inplace = out->storage && a->src && same_view(out, a->src);
    TIDE_TRY(prepare_result(out, rdt, ndim, shape, name, inplace, 0, &allocated));
    tide_dtype dt = out->dtype;
    tide_status st = check_overlap(out, a->src, name, inplace);
    if (st == TIDE_OK)
        st = check_overlap(out, b->src, name, inplace);
    if (st == TIDE_OK)
        st = operand_prepare(a, dt, ndim, shape, name);
    if (st == TIDE_OK)
        st = operand_prepare(b, dt, ndim, shape, name);
    if (st == TIDE_OK) {
        tide_iter it;
        const tide_tensor *args[3] = {out, operand_tensor_of(a), operand_tensor_of(b)};
        tide_iter_init(&it, 3, args);
        binary_kernels[dt](&it, op, &alpha);
    }
    operand_release(a);
    operand_release(b);
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

tide_status tide_binary(tide_tensor *out, tide_binop op, const tide_tensor *a,
                        const tide_tensor *b)
{
    if ((unsigned)op > TIDE_OP_MINIMUM)
        return tide_fail("binary: unknown op %d", (int)op);
    /* the common cases, kept short: same dtype, same shape, contiguous, and a new output or
     * the first operand itself (not overlapping the second other than as the same view) */
    if ((!out->storage || (out == a && (!tide_overlaps(a, b) || same_view(a, b)))) &&
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
    operand_tensor(&oa, a);
    operand_tensor(&ob, b);
    return binary_run(out, op, tide_binop_name(op), &oa, &ob, tide_number_int(0));
}

/* The common scalar case, kept short: a new output from a contiguous tensor and a scalar of
 * the tensor's own kind (scalar_first: s op a). Returns 0 when the case does not apply. */
static int scalar_fast(tide_tensor *out, int op, const tide_tensor *a, tide_number s,
                       int scalar_first, tide_status *st)
{
    tide_dtype dt = a->dtype;
    if (out->storage || scalar_dtype(s, dt) != dt || !tide_is_contiguous(a) ||
        (op == TIDE_OP_DIV && !tide_dtype_is_float(dt)))
        return 0;
    *st = tide_tensor_alloc(out, dt, a->ndim, a->shape);
    if (*st != TIDE_OK)
        return 1;
    scalar_box box;
    box_init(&box, dt, s, 0, NULL);
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
    if ((unsigned)op > TIDE_OP_MINIMUM)
        return tide_fail("binary: unknown op %d", (int)op);
    tide_status st;
    if (scalar_fast(out, op, a, s, 0, &st))
        return st;
    operand oa, ob;
    operand_tensor(&oa, a);
    operand_scalar(&ob, s);
    return binary_run(out, op, tide_binop_name(op), &oa, &ob, tide_number_int(0));
}

tide_status tide_scalar_binary(tide_tensor *out, tide_binop op, tide_number s,
                               const tide_tensor *a)
{
    if ((unsigned)op > TIDE_OP_MINIMUM)
        return tide_fail("binary: unknown op %d", (int)op);
    tide_status st;
    if (scalar_fast(out, op, a, s, 1, &st))
        return st;
    operand oa, ob;
    operand_scalar(&oa, s);
    operand_tensor(&ob, a);
    return binary_run(out, op, tide_binop_name(op), &oa, &ob, tide_number_int(0));
}

tide_status tide_add_scaled(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                            tide_number alpha)
{
    operand oa, ob;
    operand_tensor(&oa, a);
    operand_tensor(&ob, b);
    return binary_run(out, OP_AXPY, "add", &oa, &ob, alpha);
}

tide_status tide_sub_scaled(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                            tide_number alpha)
{
    tide_number neg = alpha.is_float ? tide_number_float(-alpha.f)
                                     : tide_number_int((int64_t)(0 - (uint64_t)alpha.i));
    operand oa, ob;
    operand_tensor(&oa, a);
    operand_tensor(&ob, b);
    return binary_run(out, OP_AXPY, "sub", &oa, &ob, neg);
}

/* ---------------------------------------------------------------- unary drivers */

static int float_valued(int op)
{
    return op >= TIDE_UN_SQRT && op <= TIDE_UN_SIGMOID;
}

static tide_status unary_run(tide_tensor *out, int op, const tide_tensor *a, tide_number lo,
                             tide_number hi)
{
    const char *name = tide_unop_name((tide_unop)op);
    tide_dtype rdt = a->dtype;
    if (!tide_dtype_is_float(rdt) && (float_valued(op) || (op == UN_CLAMP &&
                                                           (lo.is_float || hi.is_float))))
        rdt = TIDE_F32;
    int inplace = out->storage && same_view(out, a), allocated;
    TIDE_TRY(prepare_result(out, rdt, a->ndim, a->shape, name, inplace, 0, &allocated));
    tide_dtype dt = out->dtype;
    tide_status st = check_overlap(out, a, name, inplace);
    int rounding = op == TIDE_UN_FLOOR || op == TIDE_UN_CEIL || op == TIDE_UN_ROUND;
    if (st == TIDE_OK && rounding && !tide_dtype_is_float(a->dtype)) {
        /* an integer is its own floor: copy (into a float out, if that was asked for) */
        if (!inplace)
            st = tide_copy(out, a);
    } else if (st == TIDE_OK) {
        operand oa;
        operand_tensor(&oa, a);
        if (op == UN_CLAMP) {
            st = scalar_for(dt, &lo, name);
            if (st == TIDE_OK)
                st = scalar_for(dt, &hi, name);
        }
        if (st == TIDE_OK)
            st = operand_prepare(&oa, dt, a->ndim, a->shape, name);
        if (st == TIDE_OK) {
            tide_iter it;
            const tide_tensor *args[2] = {out, operand_tensor_of(&oa)};
            tide_iter_init(&it, 2, args);
            unary_kernels[dt](&it, op, &lo, &hi);
        }
        operand_release(&oa);
    }
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

tide_status tide_unary(tide_tensor *out, tide_unop op, const tide_tensor *a)
{
    if ((unsigned)op > TIDE_UN_SIGMOID)
        return tide_fail("unary: unknown op %d", (int)op);
    return unary_run(out, op, a, tide_number_int(0), tide_number_int(0));
}

/* The widest bound of dtype dt, as a scalar (for a clamp side that is not given). */
static tide_number type_limit(tide_dtype dt, int upper)
{
    switch (dt) {
    case TIDE_F32: case TIDE_F64: return tide_number_float(upper ? INFINITY : -INFINITY);
    case TIDE_I32: return tide_number_int(upper ? INT32_MAX : INT32_MIN);
    case TIDE_I64: return tide_number_int(upper ? INT64_MAX : INT64_MIN);
    case TIDE_U8: return tide_number_int(upper ? UINT8_MAX : 0);
    }
    return tide_number_int(0);
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

/* ---------------------------------------------------------------- comparisons */

static tide_status compare_run(tide_tensor *out, tide_cmpop op, operand *a, operand *b,
                               tide_dtype dt)
{
    const char *name = tide_cmpop_name(op);
    int ndim, allocated;
    int64_t shape[TIDE_MAX_DIMS];
    TIDE_TRY(operand_shape(a, b, &ndim, shape, name));
    TIDE_TRY(prepare_result(out, TIDE_U8, ndim, shape, name, 0, 1, &allocated));
    tide_status st = check_overlap(out, a->src, name, 0);
    if (st == TIDE_OK)
        st = check_overlap(out, b->src, name, 0);
    if (st == TIDE_OK)
        st = operand_prepare(a, dt, ndim, shape, name);
    if (st == TIDE_OK)
        st = operand_prepare(b, dt, ndim, shape, name);
    if (st == TIDE_OK) {
        tide_iter it;
        const tide_tensor *args[3] = {out, operand_tensor_of(a), operand_tensor_of(b)};
        tide_iter_init(&it, 3, args);
        run_compare(&it, dt, op);
    }
    operand_release(a);
    operand_release(b);
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

tide_status tide_compare(tide_tensor *out, tide_cmpop op, const tide_tensor *a,
                         const tide_tensor *b)
{
    if ((unsigned)op > TIDE_CMP_GE)
        return tide_fail("compare: unknown op %d", (int)op);
    operand oa, ob;
    operand_tensor(&oa, a);
    operand_tensor(&ob, b);
    return compare_run(out, op, &oa, &ob, tide_dtype_promote(a->dtype, b->dtype));
}

/* Does the integer s fit in integer dtype dt? */
static int int_fits(tide_dtype dt, int64_t v)
{
    switch (dt) {
    case TIDE_I32: return v >= INT32_MIN && v <= INT32_MAX;
    case TIDE_U8: return v >= 0 && v <= UINT8_MAX;
    default: return 1;
    }
}

tide_status tide_compare_scalar(tide_tensor *out, tide_cmpop op, const tide_tensor *a,
                                tide_number s)
{
    if ((unsigned)op > TIDE_CMP_GE)
        return tide_fail("compare: unknown op %d", (int)op);
    tide_dtype dt = a->dtype;
    if (!tide_dtype_is_float(dt) && s.is_float)
        dt = TIDE_F64;
    else if (!tide_dtype_is_float(dt) && !int_fits(dt, s.i))
        dt = TIDE_I64;
    operand oa, ob;
    operand_tensor(&oa, a);
    operand_scalar(&ob, s);
    return compare_run(out, op, &oa, &ob, dt);
}

/* ---------------------------------------------------------------- where, masked_fill */

tide_status tide_where(tide_tensor *out, const tide_tensor *mask, const tide_tensor *a,
                       const tide_tensor *b)
{
    if (mask->dtype != TIDE_U8)
        return tide_fail("where: expected a u8 mask, got %s", tide_dtype_name(mask->dtype));
    int n1, ndim, allocated;
    int64_t s1[TIDE_MAX_DIMS], shape[TIDE_MAX_DIMS];
    TIDE_TRY(tide_broadcast_shapes(mask->ndim, mask->shape, a->ndim, a->shape, &n1, s1, "where"));
    TIDE_TRY(tide_broadcast_shapes(n1, s1, b->ndim, b->shape, &ndim, shape, "where"));
    tide_dtype rdt = tide_dtype_promote(a->dtype, b->dtype);
    TIDE_TRY(prepare_result(out, rdt, ndim, shape, "where", 0, 0, &allocated));
    tide_dtype dt = out->dtype;
    operand om, oa, ob;
    operand_tensor(&om, mask);
    operand_tensor(&oa, a);
    operand_tensor(&ob, b);
    tide_status st = check_overlap(out, mask, "where", 0);
    if (st == TIDE_OK)
        st = check_overlap(out, a, "where", 0);
    if (st == TIDE_OK)
        st = check_overlap(out, b, "where", 0);
    if (st == TIDE_OK)
        st = operand_prepare(&om, TIDE_U8, ndim, shape, "where");
    if (st == TIDE_OK)
        st = operand_prepare(&oa, dt, ndim, shape, "where");
    if (st == TIDE_OK)
        st = operand_prepare(&ob, dt, ndim, shape, "where");
    if (st == TIDE_OK) {
        tide_iter it;
        const tide_tensor *args[4] = {out, &om.view, &oa.view, &ob.view};
        tide_iter_init(&it, 4, args);
        run_where(&it, dt);
    }
    operand_release(&om);
    operand_release(&oa);
    operand_release(&ob);
    if (st != TIDE_OK && allocated)
        tide_tensor_release(out);
    return st;
}

tide_status tide_masked_fill(tide_tensor *t, const tide_tensor *mask, tide_number v)
{
    char a[TIDE_SHAPE_BUF], b[TIDE_SHAPE_BUF];
    if (mask->dtype != TIDE_U8)
        return tide_fail("masked_fill_: expected a u8 mask, got %s", tide_dtype_name(mask->dtype));
    int ndim;
    int64_t shape[TIDE_MAX_DIMS];
    TIDE_TRY(tide_broadcast_shapes(t->ndim, t->shape, mask->ndim, mask->shape, &ndim, shape,
                                   "masked_fill_"));
    if (ndim != t->ndim || memcmp(shape, t->shape, sizeof(int64_t) * (size_t)ndim) != 0)
        return tide_fail("masked_fill_: mask shape %s does not broadcast to the receiver %s",
                         tide_shape_str(mask, a, sizeof a), tide_shape_str(t, b, sizeof b));
    if (self_overlapping(t))
        return tide_fail("masked_fill_: the receiver has elements that share memory"
                         " (an expanded view); clone() it first");
    TIDE_TRY(check_overlap(t, mask, "masked_fill", 1));
    TIDE_TRY(scalar_for(t->dtype, &v, "masked_fill_"));
    if (!tide_dtype_is_float(t->dtype) && !int_fits(t->dtype, v.i))
        return tide_fail("masked_fill_: value %lld does not fit dtype %s", (long long)v.i,
                         tide_dtype_name(t->dtype));
    tide_tensor m = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_expand(&m, mask, t->ndim, t->shape));
    tide_iter it;
    const tide_tensor *args[2] = {t, &m};
    tide_iter_init(&it, 2, args);
    run_masked_fill(&it, t->dtype, &v);
    tide_tensor_release(&m);
    return TIDE_OK;
}
