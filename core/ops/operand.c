/* ops_operand.c — operands and output checks shared by the elementwise op files. */
#include "ops/operand.h"

#include <math.h>
#include <string.h>

void tide_ew_box_init(scalar_box *b, tide_dtype dt, tide_number s, int ndim, const int64_t *shape)
{
    memset(b, 0, sizeof *b);
    switch (dt) {
#define SET(E, name, T) case E: b->v.name = SCALAR_AS(name, T, s); break;
        TIDE_FOREACH_DTYPE(SET)
        TIDE_STORAGE_DTYPE_CASES break;
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
tide_dtype tide_ew_scalar_dtype(tide_number s, tide_dtype dt)
{
    return s.is_float && !tide_dtype_is_float(dt) ? TIDE_F32 : dt;
}

/* s as a scalar for an integer dtype: integer-valued floats convert, others are refused. */
tide_status tide_ew_scalar_for(tide_dtype dt, tide_number *s, const char *op)
{
    if (tide_dtype_is_float(dt) || !s->is_float)
        return TIDE_OK;
    int64_t lo, hi;
    tide_dtype_exact_range(dt, &lo, &hi);
    /* below hi + 1 (as a double: 2^63 for i64, whose INT64_MAX rounds up to it) */
    if (!(s->f >= (double)lo && s->f < (double)hi + 1.0) || s->f != floor(s->f))
        return tide_fail("%s: value %.17g does not fit dtype %s", op, s->f, tide_dtype_name(dt));
    *s = tide_number_int((int64_t)s->f);
    return TIDE_OK;
}

int tide_ew_same_view(const tide_tensor *a, const tide_tensor *b)
{
    if (a->storage->data != b->storage->data || a->dtype != b->dtype || a->offset != b->offset ||
        a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d] || (a->shape[d] > 1 && a->stride[d] != b->stride[d]))
            return 0;
    return 1;
}

int tide_ew_self_overlapping(const tide_tensor *t)
{
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] > 1 && t->stride[d] == 0)
            return 1;
    return 0;
}

/* Checks or allocates out for a result of dtype rdt and the given shape. inplace: out is the
 * receiver of an in-place method (errors say "op_" and "receiver"). exact: out's dtype must be
 * rdt itself rather than any dtype rdt may be stored in. */
tide_status tide_ew_prepare_result(tide_tensor *out, tide_dtype rdt, int ndim, const int64_t *shape,
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
    if (tide_ew_self_overlapping(out))
        return tide_fail("%s%s: the %s has elements that share memory (an expanded view);"
                         " clone() it first", op, inplace ? "_" : "",
                         inplace ? "receiver" : "output");
    return TIDE_OK;
}

/* An input may be the output itself, or lie elsewhere in memory; anything between would make
 * the result depend on the loop order. */
tide_status tide_ew_check_overlap(const tide_tensor *out, const tide_tensor *in, const char *op,
                                  int inplace)
{
    if (!in || tide_ew_same_view(out, in) || !tide_overlaps(out, in))
        return TIDE_OK;
    if (inplace)
        return tide_fail("%s_: the argument overlaps the receiver in memory; clone() it first",
                         op);
    return tide_fail("%s: the output overlaps an input in memory; clone() the input first", op);
}

void tide_ew_operand_tensor(operand *o, const tide_tensor *t)
{
    memset(o, 0, sizeof *o);
    o->src = t;
}

void tide_ew_operand_scalar(operand *o, tide_number s)
{
    memset(o, 0, sizeof *o);
    o->s = s;
}

tide_status tide_ew_operand_prepare(operand *o, tide_dtype dt, int ndim, const int64_t *shape,
                                    const char *op)
{
    if (!o->src) {
        tide_number s = o->s;
        TIDE_TRY(tide_ew_scalar_for(dt, &s, op));
        tide_ew_box_init(&o->box, dt, s, ndim, shape);
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

const tide_tensor *tide_ew_operand_tensor_of(const operand *o)
{
    return o->src ? &o->view : &o->box.t;
}

void tide_ew_operand_release(operand *o)
{
    tide_tensor_release(&o->view);
}

tide_dtype tide_ew_operand_dtype(const operand *o, const operand *other)
{
    if (o->src)
        return o->src->dtype;
    return other->src ? tide_ew_scalar_dtype(o->s, other->src->dtype)
                                             : (o->s.is_float ? TIDE_F32 : TIDE_I64);
}

tide_status tide_ew_operand_shape(const operand *a, const operand *b, int *ndim, int64_t *shape,
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

tide_status tide_ew_pair_iter(tide_iter *it, tide_tensor *out, operand *a, operand *b,
                              tide_dtype dt, int ndim, const int64_t *shape, const char *name,
                              int inplace)
{
    TIDE_TRY(tide_ew_check_overlap(out, a->src, name, inplace));
    TIDE_TRY(tide_ew_check_overlap(out, b->src, name, inplace));
    TIDE_TRY(tide_ew_operand_prepare(a, dt, ndim, shape, name));
    TIDE_TRY(tide_ew_operand_prepare(b, dt, ndim, shape, name));
    const tide_tensor *args[3] = {out, tide_ew_operand_tensor_of(a), tide_ew_operand_tensor_of(b)};
    tide_iter_init(it, 3, args);
    return TIDE_OK;
}
