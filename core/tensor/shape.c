/* shape.c — cat, stack, flip, tile, tril/triu, nonzero and one_hot. Each builds its result
 * from views and copies (a narrow of the output per input for cat, a view with negative
 * strides for flip, an expanded view for tile), so the per-dtype loops stay in copy.c. */
#include "tensor/shape.h"

#include <stdlib.h>
#include <string.h>

static tide_status need_empty(const tide_tensor *out, const char *op)
{
    if (out->storage)
        return tide_fail("%s: out must be an empty tensor", op);
    return TIDE_OK;
}

tide_status tide_cat(tide_tensor *out, const tide_tensor *const *ts, int n, int dim)
{
    char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF];
    TIDE_TRY(need_empty(out, "cat"));
    if (n < 1)
        return tide_fail("cat: expected at least one tensor, got none");
    const tide_tensor *first = ts[0];
    if (first->ndim == 0)
        return tide_fail("cat: tensor 1 is 0-dim, cannot be joined");
    if (dim < 0 || dim >= first->ndim)
        return tide_fail("cat: dim %d out of range for %s", dim + 1,
                         tide_shape_str(first, x, sizeof x));
    int64_t shape[TIDE_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    shape[dim] = 0;
    tide_dtype dt = first->dtype;
    for (int i = 0; i < n; i++) {
        const tide_tensor *t = ts[i];
        int same = t->ndim == first->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = d == dim || t->shape[d] == first->shape[d];
        if (!same)
            return tide_fail("cat: tensor %d is %s, tensor 1 is %s (shapes must agree except "
                             "in dim %d)", i + 1, tide_shape_str(t, x, sizeof x),
                             tide_shape_str(first, y, sizeof y), dim + 1);
        shape[dim] += t->shape[dim];
        dt = tide_dtype_promote(dt, t->dtype);
    }
    TIDE_TRY(tide_tensor_alloc(out, dt, first->ndim, shape));
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        tide_tensor part = TIDE_TENSOR_EMPTY;
        tide_status st = tide_narrow(&part, out, dim, at, ts[i]->shape[dim]);
        if (st == TIDE_OK)
            st = tide_copy(&part, ts[i]);
        tide_tensor_release(&part);
        if (st != TIDE_OK) {
            tide_tensor_release(out);
            return st;
        }
        at += ts[i]->shape[dim];
    }
    return TIDE_OK;
}

tide_status tide_stack(tide_tensor *out, const tide_tensor *const *ts, int n, int dim)
{
    char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF];
    TIDE_TRY(need_empty(out, "stack"));
    if (n < 1)
        return tide_fail("stack: expected at least one tensor, got none");
    if (ts[0]->ndim >= TIDE_MAX_DIMS)
        return tide_fail("stack: tensors of %d dims would give more than %d", ts[0]->ndim,
                         TIDE_MAX_DIMS);
    if (dim < 0 || dim > ts[0]->ndim)
        return tide_fail("stack: dim %d out of range for %s (expected 1..%d)", dim + 1,
                         tide_shape_str(ts[0], x, sizeof x), ts[0]->ndim + 1);
    for (int i = 1; i < n; i++)
        if (!tide_same_shape(ts[i], ts[0]))
            return tide_fail("stack: tensor %d is %s, tensor 1 is %s (expected one shape)",
                             i + 1, tide_shape_str(ts[i], x, sizeof x),
                             tide_shape_str(ts[0], y, sizeof y));
    /* stack is cat of the inputs, each with a new dim of size 1 */
    tide_tensor *views = calloc((size_t)n, sizeof *views);
    const tide_tensor **ptrs = calloc((size_t)n, sizeof *ptrs);
    tide_status st = views && ptrs ? TIDE_OK : tide_fail("stack: out of memory");
    for (int i = 0; st == TIDE_OK && i < n; i++) {
        st = tide_unsqueeze(&views[i], ts[i], dim);
        ptrs[i] = &views[i];
    }
    if (st == TIDE_OK)
        st = tide_cat(out, ptrs, n, dim);
    for (int i = 0; views && i < n; i++)
        tide_tensor_release(&views[i]);
    free(views);
    free(ptrs);
    return st;
}

tide_status tide_flip(tide_tensor *out, const tide_tensor *a, int ndims, const int *dims)
{
    char x[TIDE_SHAPE_BUF];
    TIDE_TRY(need_empty(out, "flip"));
    tide_tensor v = TIDE_TENSOR_EMPTY;
    tide_tensor_share(&v, a);
    int seen[TIDE_MAX_DIMS] = {0};
    for (int i = 0; i < ndims; i++) {
        int d = dims[i];
        if (d < 0 || d >= a->ndim || seen[d]) {
            tide_tensor_release(&v);
            return tide_fail(d < 0 || d >= a->ndim ? "flip: dim %d out of range for %s"
                                                   : "flip: dim %d given twice for %s",
                             d + 1, tide_shape_str(a, x, sizeof x));
        }
        seen[d] = 1;
        /* a view walking dim d backwards: start at its last element, negative stride */
        if (v.shape[d] > 0)
            v.offset += (v.shape[d] - 1) * v.stride[d];
        v.stride[d] = -v.stride[d];
    }
    tide_status st = tide_tensor_alloc(out, a->dtype, a->ndim, a->shape);
    if (st == TIDE_OK && (st = tide_copy(out, &v)) != TIDE_OK)
        tide_tensor_release(out);
    tide_tensor_release(&v);
    return st;
}

tide_status tide_tile(tide_tensor *out, const tide_tensor *a, int nreps, const int64_t *reps)
{
    TIDE_TRY(need_empty(out, "tile"));
    int nd = nreps > a->ndim ? nreps : a->ndim;
    /* the expanded view below interleaves a repetition dim before each dim */
    if (2 * nd > TIDE_MAX_DIMS)
        return tide_fail("tile: %d dims exceed tile's limit of %d", nd, TIDE_MAX_DIMS / 2);
    int64_t src[TIDE_MAX_DIMS], rep[TIDE_MAX_DIMS], shape[TIDE_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        int ia = d - (nd - a->ndim), ir = d - (nd - nreps);
        src[d] = ia >= 0 ? a->shape[ia] : 1;
        rep[d] = ir >= 0 ? reps[ir] : 1;
        if (rep[d] < 0)
            return tide_fail("tile: repetition %d is negative (%lld)", ir + 1,
                             (long long)rep[d]);
        shape[d] = src[d] * rep[d];
    }
    TIDE_TRY(tide_tensor_alloc(out, a->dtype, nd, shape));
    /* out, seen as (rep0, src0, rep1, src1, ...), is a broadcast of a seen as
     * (1, src0, 1, src1, ...): one copy */
    tide_tensor c = TIDE_TENSOR_EMPTY;
    tide_status st = tide_contiguous(&c, a);
    if (st == TIDE_OK) {
        int64_t inter[TIDE_MAX_DIMS], ones[TIDE_MAX_DIMS];
        for (int d = 0; d < nd; d++) {
            inter[2 * d] = rep[d];
            inter[2 * d + 1] = src[d];
            ones[2 * d] = 1;
            ones[2 * d + 1] = src[d];
        }
        tide_tensor dst = TIDE_TENSOR_EMPTY, sv = TIDE_TENSOR_EMPTY, se = TIDE_TENSOR_EMPTY;
        st = tide_view(&dst, out, 2 * nd, inter);
        if (st == TIDE_OK)
            st = tide_view(&sv, &c, 2 * nd, ones);
        if (st == TIDE_OK)
            st = tide_expand(&se, &sv, 2 * nd, inter);
        if (st == TIDE_OK)
            st = tide_copy(&dst, &se);
        tide_tensor_release(&dst);
        tide_tensor_release(&sv);
        tide_tensor_release(&se);
    }
    tide_tensor_release(&c);
    if (st != TIDE_OK)
        tide_tensor_release(out);
    return st;
}

tide_status tide_tril_triu(tide_tensor *out, const tide_tensor *a, int64_t diagonal, int upper)
{
    char x[TIDE_SHAPE_BUF];
    const char *op = upper ? "triu" : "tril";
    TIDE_TRY(need_empty(out, op));
    if (a->ndim < 2)
        return tide_fail("%s: expected a matrix (or a batch of them), got %s", op,
                         tide_shape_str(a, x, sizeof x));
    TIDE_TRY(tide_clone(out, a));
    int64_t rows = a->shape[a->ndim - 2], cols = a->shape[a->ndim - 1];
    int64_t count = rows > 0 && cols > 0 ? tide_numel(a) / (rows * cols) : 0;
    size_t es = tide_dtype_size(a->dtype);
    char *base = tide_data(out);
    /* zero bits are zero in every dtype */
    for (int64_t k = 0; k < count; k++)
        for (int64_t i = 0; i < rows; i++) {
            /* tril keeps j <= i + diagonal, triu keeps j >= i + diagonal */
            int64_t lo = upper ? 0 : i + diagonal + 1, hi = upper ? i + diagonal : cols;
            if (lo < 0)
                lo = 0;
            if (hi > cols)
                hi = cols;
            if (lo < hi)
                memset(base + (size_t)((k * rows + i) * cols + lo) * es, 0,
                       (size_t)(hi - lo) * es);
        }
    return TIDE_OK;
}

tide_status tide_nonzero(tide_tensor *out, const tide_tensor *a)
{
    TIDE_TRY(need_empty(out, "nonzero"));
    tide_tensor f = TIDE_TENSOR_EMPTY;
    /* one pass in f64 (exact for every dtype's zero test; NaN != 0) to count, one to write */
    TIDE_TRY(tide_cast(&f, a, TIDE_F64));
    const double *d = tide_data(&f);
    int64_t n = tide_numel(&f), nnz = 0;
    for (int64_t i = 0; i < n; i++)
        nnz += d[i] != 0;
    int64_t shape[2] = {nnz, a->ndim};
    tide_status st = tide_tensor_alloc(out, TIDE_I64, 2, shape);
    if (st == TIDE_OK) {
        int64_t *o = tide_data(out), idx[TIDE_MAX_DIMS] = {0};
        for (int64_t i = 0; i < n; i++) {
            if (d[i] != 0) {
                memcpy(o, idx, (size_t)a->ndim * sizeof *o);
                o += a->ndim;
            }
            for (int k = a->ndim - 1; k >= 0 && ++idx[k] == a->shape[k]; k--)
                idx[k] = 0;
        }
    }
    tide_tensor_release(&f);
    return st;
}

tide_status tide_one_hot(tide_tensor *out, const tide_tensor *idx, int64_t classes,
                         int64_t base)
{
    char x[TIDE_SHAPE_BUF];
    TIDE_TRY(need_empty(out, "one_hot"));
    if (tide_dtype_is_float(idx->dtype))
        return tide_fail("one_hot: expected an integer tensor of class indices, got %s",
                         tide_dtype_name(idx->dtype));
    if (idx->ndim >= TIDE_MAX_DIMS)
        return tide_fail("one_hot: %s has too many dims", tide_shape_str(idx, x, sizeof x));
    tide_tensor w = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_cast(&w, idx, TIDE_I64));
    const int64_t *v = tide_data(&w);
    int64_t n = tide_numel(&w);
    if (classes < 0) {
        int64_t top = base - 1;
        for (int64_t i = 0; i < n; i++)
            top = v[i] > top ? v[i] : top;
        classes = top - base + 1;
    }
    for (int64_t i = 0; i < n; i++)
        if (v[i] < base || v[i] - base >= classes) {
            int64_t bad = v[i];
            tide_tensor_release(&w);
            return tide_fail("one_hot: class %lld out of range (expected %lld..%lld)",
                             (long long)bad, (long long)base, (long long)(base + classes - 1));
        }
    int64_t shape[TIDE_MAX_DIMS];
    memcpy(shape, idx->shape, sizeof shape);
    shape[idx->ndim] = classes;
    tide_status st = tide_tensor_zeros(out, TIDE_I64, idx->ndim + 1, shape);
    if (st == TIDE_OK) {
        int64_t *o = tide_data(out);
        for (int64_t i = 0; i < n; i++)
            o[i * classes + v[i] - base] = 1;
    }
    tide_tensor_release(&w);
    return st;
}
