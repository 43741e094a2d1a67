/* ops_operand.h — what the elementwise op files share (ops_elementwise.c, ops_compare.c):
 * per-dtype expression helpers, operands (a tensor broadcast to the result's shape and cast to
 * the kernel's dtype, or a scalar seen as a stride-0 tensor without allocating), and the checks
 * of an output against its inputs. Internal to those files; not part of the core's API. */
#ifndef TIDE_OPS_OPERAND_H
#define TIDE_OPS_OPERAND_H

#include "tensor/iter.h"
#include "ops/elementwise.h"

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

/* A scalar operand seen as a tensor of the result's shape with every stride 0, backed by a
 * value on the stack: no allocation, and never released (its storage is not refcounted). */
typedef struct scalar_box {
    tide_storage st;
    tide_tensor t;
    union { float f32; double f64; int32_t i32; int64_t i64; uint8_t u8; } v;
} scalar_box;

/* An input ready for a kernel: dtype dt, expanded to the result's shape. It is either a view
 * (holding a reference, released by operand_release) or a scalar box. */
typedef struct operand {
    const tide_tensor *src;     /* NULL for a scalar */
    tide_number s;
    tide_tensor view;
    scalar_box box;
} operand;

/* b becomes scalar s of dtype dt seen as a tensor of the given shape (every stride 0). */
void tide_ew_box_init(scalar_box *b, tide_dtype dt, tide_number s, int ndim, const int64_t *shape);

/* The dtype a scalar takes next to a tensor of dtype dt (see the header). */
tide_dtype tide_ew_scalar_dtype(tide_number s, tide_dtype dt);

/* s as a scalar for an integer dtype: integer-valued floats convert, others are refused. */
tide_status tide_ew_scalar_for(tide_dtype dt, tide_number *s, const char *op);

/* Are a and b the identical view (same memory, dtype, shape and strides)? */
int tide_ew_same_view(const tide_tensor *a, const tide_tensor *b);

/* Does t have elements that share memory (an expanded, stride-0 dim)? */
int tide_ew_self_overlapping(const tide_tensor *t);

/* Checks or allocates out for a result of dtype rdt and the given shape. inplace: out is the
 * receiver of an in-place method (errors say "op_" and "receiver"). exact: out's dtype must be
 * rdt itself rather than any dtype rdt may be stored in. */
tide_status tide_ew_prepare_result(tide_tensor *out, tide_dtype rdt, int ndim, const int64_t *shape,
                                   const char *op, int inplace, int exact, int *allocated);

/* An input may be the output itself, or lie elsewhere in memory; anything between would make
 * the result depend on the loop order. */
tide_status tide_ew_check_overlap(const tide_tensor *out, const tide_tensor *in, const char *op,
                                  int inplace);

/* An operand for tensor t, or for the scalar s; operand_prepare makes it ready for a kernel of
 * dtype dt and the result's shape, operand_tensor_of gives what the kernel reads, and
 * operand_release drops the view it held. */
void tide_ew_operand_tensor(operand *o, const tide_tensor *t);

void tide_ew_operand_scalar(operand *o, tide_number s);

tide_status tide_ew_operand_prepare(operand *o, tide_dtype dt, int ndim, const int64_t *shape,
                                    const char *op);

const tide_tensor *tide_ew_operand_tensor_of(const operand *o);

void tide_ew_operand_release(operand *o);

/* The dtype o contributes to a result next to other (a scalar takes the tensor's). */
tide_dtype tide_ew_operand_dtype(const operand *o, const operand *other);

/* The broadcast shape of two operands. */
tide_status tide_ew_operand_shape(const operand *a, const operand *b, int *ndim, int64_t *shape,
                                  const char *op);

/* The middle of every two-input op: checks a and b against out (inplace: out is a's receiver),
 * readies both for a kernel of dtype dt over the result's shape, and sets *it over (out, a, b).
 * Release the operands with tide_ew_operand_release afterwards, whatever this returned. */
tide_status tide_ew_pair_iter(tide_iter *it, tide_tensor *out, operand *a, operand *b,
                              tide_dtype dt, int ndim, const int64_t *shape, const char *name,
                              int inplace);

#endif
