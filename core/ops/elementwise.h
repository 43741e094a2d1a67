/* ops_elementwise.h — elementwise arithmetic, unary math, comparisons, where and masked_fill.
 *
 * Every function follows tensor.h's out convention: out empty -> allocated with the result's
 * shape and dtype; out given -> it must have the broadcast shape, and a dtype the result may be
 * stored in (any dtype, except that a float result never goes into an integer out). The
 * in-place form passes the input as out (`tide_add(a, a, b)`); its errors then name the op with
 * a trailing `_` and call out "the receiver", as the Lua methods do.
 *
 * Rules a torch user would expect:
 * - operands broadcast NumPy-style; the result dtype is tide_dtype_promote(a, b);
 * - div of two integer tensors is true division and gives f32 (as torch's `/`);
 * - a scalar keeps the tensor's dtype, except that a float scalar (a Lua float, is_float) with
 *   an integer tensor gives f32 (`i32 * 0.5` is f32, `i32 * 2` stays i32, `u8 + 300` wraps);
 * - integer arithmetic wraps around (two's complement), never traps; integer pow uses torch's
 *   rule for negative exponents (1 for base 1, +-1 for base -1, 0 otherwise);
 * - sqrt, exp, log, tanh, sigmoid, sin, cos of an integer tensor give f32 (as torch); their in-place
 *   forms on an integer tensor fail, since an f32 result cannot be stored there;
 * - maximum, minimum, clamp and relu propagate NaN;
 * - an output that overlaps an input other than as the identical view is refused (the result
 *   would depend on the loop order), and so is an output with elements sharing memory. */
#ifndef TIDE_OPS_ELEMENTWISE_H
#define TIDE_OPS_ELEMENTWISE_H

#include "tensor/tensor.h"

/* A number from a script: integers stay exact (i64 + 2^60 + 1 is exact), floats carry their
 * kind because a float scalar promotes an integer tensor to f32. (comm.h's tide_scalar is the
 * same idea laid out for MPI reductions.) */
typedef struct tide_number {
    int is_float;
    double f;        /* the value as a double (always set) */
    int64_t i;       /* the value when !is_float */
} tide_number;

static inline tide_number tide_number_float(double v)
{
    tide_number s = {1, v, 0};
    return s;
}

static inline tide_number tide_number_int(int64_t v)
{
    tide_number s = {0, (double)v, v};
    return s;
}

/* --- binary arithmetic --- */

typedef enum {
    TIDE_OP_ADD, TIDE_OP_SUB, TIDE_OP_MUL, TIDE_OP_DIV, TIDE_OP_POW, TIDE_OP_MAXIMUM,
    TIDE_OP_MINIMUM,
    /* Lua's and Python's % and // (floored: the remainder takes the divisor's sign, a == b *
     * (a // b) + a % b), and C's fmod (truncated: the remainder takes the dividend's sign).
     * Integers stay integers; an integer divisor of 0 fails ("remainder: integer division by
     * zero"), x // -1 wraps as negation does. Floats follow IEEE (x % 0 is NaN). */
    TIDE_OP_REMAINDER, TIDE_OP_FLOOR_DIVIDE, TIDE_OP_FMOD
} tide_binop;

const char *tide_binop_name(tide_binop op);       /* "add", ... */

/* out = a op b */
tide_status tide_binary(tide_tensor *out, tide_binop op, const tide_tensor *a,
                        const tide_tensor *b);
/* out = a op s */
tide_status tide_binary_scalar(tide_tensor *out, tide_binop op, const tide_tensor *a,
                               tide_number s);
/* out = s op a (for sub, div, pow; the others commute) */
tide_status tide_scalar_binary(tide_tensor *out, tide_binop op, tide_number s,
                               const tide_tensor *a);
/* out = a + alpha * b (axpy; the in-place form tide_add_scaled(a, a, b, alpha) has no
 * temporary). */
tide_status tide_add_scaled(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                            tide_number alpha);
/* out = a - alpha * b */
tide_status tide_sub_scaled(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                            tide_number alpha);

static inline tide_status tide_add(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{ return tide_binary(out, TIDE_OP_ADD, a, b); }
static inline tide_status tide_sub(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{ return tide_binary(out, TIDE_OP_SUB, a, b); }
static inline tide_status tide_mul(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{ return tide_binary(out, TIDE_OP_MUL, a, b); }
static inline tide_status tide_div(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{ return tide_binary(out, TIDE_OP_DIV, a, b); }
static inline tide_status tide_pow(tide_tensor *out, const tide_tensor *a, const tide_tensor *b)
{ return tide_binary(out, TIDE_OP_POW, a, b); }
static inline tide_status tide_maximum(tide_tensor *out, const tide_tensor *a,
                                       const tide_tensor *b)
{ return tide_binary(out, TIDE_OP_MAXIMUM, a, b); }
static inline tide_status tide_minimum(tide_tensor *out, const tide_tensor *a,
                                       const tide_tensor *b)
{ return tide_binary(out, TIDE_OP_MINIMUM, a, b); }
/* a + s and a * s with s a float (so an integer a gives f32; use tide_binary_scalar with
 * tide_number_int to keep integers) */
static inline tide_status tide_add_scalar(tide_tensor *out, const tide_tensor *a, double s)
{ return tide_binary_scalar(out, TIDE_OP_ADD, a, tide_number_float(s)); }
static inline tide_status tide_mul_scalar(tide_tensor *out, const tide_tensor *a, double s)
{ return tide_binary_scalar(out, TIDE_OP_MUL, a, tide_number_float(s)); }

/* --- unary math --- */

typedef enum {
    TIDE_UN_NEG, TIDE_UN_ABS, TIDE_UN_RELU, TIDE_UN_FLOOR, TIDE_UN_CEIL, TIDE_UN_ROUND,
    /* float-valued: an integer input gives f32 */
    TIDE_UN_SQRT, TIDE_UN_EXP, TIDE_UN_LOG, TIDE_UN_TANH, TIDE_UN_SIGMOID, TIDE_UN_SIN,
    TIDE_UN_COS
} tide_unop;

const char *tide_unop_name(tide_unop op);         /* "neg", ... */

/* out = op(a). round is round-half-to-even (as torch and numpy). */
tide_status tide_unary(tide_tensor *out, tide_unop op, const tide_tensor *a);
/* out = min(max(a, lo), hi); a missing bound is not applied. lo > hi gives hi everywhere (as
 * torch). A float bound with an integer tensor gives f32, like a float scalar. */
tide_status tide_clamp(tide_tensor *out, const tide_tensor *a, int has_lo, tide_number lo,
                       int has_hi, tide_number hi);

static inline tide_status tide_neg(tide_tensor *out, const tide_tensor *a)
{ return tide_unary(out, TIDE_UN_NEG, a); }
static inline tide_status tide_abs(tide_tensor *out, const tide_tensor *a)
{ return tide_unary(out, TIDE_UN_ABS, a); }
static inline tide_status tide_sqrt(tide_tensor *out, const tide_tensor *a)
{ return tide_unary(out, TIDE_UN_SQRT, a); }
static inline tide_status tide_exp(tide_tensor *out, const tide_tensor *a)
{ return tide_unary(out, TIDE_UN_EXP, a); }
static inline tide_status tide_log(tide_tensor *out, const tide_tensor *a)
{ return tide_unary(out, TIDE_UN_LOG, a); }
static inline tide_status tide_tanh(tide_tensor *out, const tide_tensor *a)
{ return tide_unary(out, TIDE_UN_TANH, a); }
static inline tide_status tide_sigmoid(tide_tensor *out, const tide_tensor *a)
{ return tide_unary(out, TIDE_UN_SIGMOID, a); }
static inline tide_status tide_relu(tide_tensor *out, const tide_tensor *a)
{ return tide_unary(out, TIDE_UN_RELU, a); }

/* --- comparisons, where, masked_fill --- */

typedef enum { TIDE_CMP_EQ, TIDE_CMP_NE, TIDE_CMP_LT, TIDE_CMP_LE, TIDE_CMP_GT, TIDE_CMP_GE }
    tide_cmpop;

const char *tide_cmpop_name(tide_cmpop op);       /* "eq", ... */

/* out (u8) = a op b, 1 where true, 0 elsewhere; compared in the promoted dtype. */
tide_status tide_compare(tide_tensor *out, tide_cmpop op, const tide_tensor *a,
                         const tide_tensor *b);
/* out (u8) = a op s; an integer tensor against a float scalar, or against an integer that its
 * dtype cannot hold, is compared exactly in a wider dtype. */
tide_status tide_compare_scalar(tide_tensor *out, tide_cmpop op, const tide_tensor *a,
                                tide_number s);

/* out = mask ? a : b, the three broadcast together; mask must be u8 (nonzero is true); the
 * result dtype is promote(a, b). */
tide_status tide_where(tide_tensor *out, const tide_tensor *mask, const tide_tensor *a,
                       const tide_tensor *b);
/* t[mask] = v in place; mask is u8 and broadcasts to t's shape; v must be representable in
 * t's dtype (an integer tensor refuses 0.5, nan or an out-of-range value). */
tide_status tide_masked_fill(tide_tensor *t, const tide_tensor *mask, tide_number v);

/* --- NaN and infinities, truth of a tensor (compare.c) --- */

typedef enum { TIDE_IS_NAN, TIDE_IS_INF, TIDE_IS_FINITE } tide_classop;

/* out (u8, a's shape) = 1 where a is NaN / an infinity / finite (an integer is always finite).
 * out must be empty. */
tide_status tide_classify(tide_tensor *out, tide_classop op, const tide_tensor *a);
/* A copy of a with NaN, +inf and -inf replaced by nan and by *posinf / *neginf, or when NULL
 * by the largest and lowest finite values of a's dtype (as torch.nan_to_num). An integer
 * tensor is copied as it is. out must be empty. */
tide_status tide_nan_to_num(tide_tensor *out, const tide_tensor *a, double nan,
                            const double *posinf, const double *neginf);
/* Is any (all = 0) or every (all = 1) element nonzero? NaN counts as nonzero; an empty tensor
 * has none, and all of them. */
tide_status tide_any_all(const tide_tensor *a, int all, int *result);
/* The same along dim (0-based), into a u8 tensor (out empty). */
tide_status tide_any_all_dim(tide_tensor *out, const tide_tensor *a, int all, int dim,
                             int keepdim);

/* Can a value of dtype from be stored in a tensor of dtype to (no float into integer)? */
int tide_dtype_can_store(tide_dtype from, tide_dtype to);

#endif
