/* ops_index.h — moving elements by index: index_select, gather, scatter_add, index_add,
 * masked_select; and the counting kernels bincount and cumsum.
 *
 * Promises:
 * - index tensors are i32 or i64 holding 0-BASED indices (the Lua bindings convert Lua's
 *   1-based ones); every index is range-checked before anything is written, so a bad index
 *   leaves the output untouched ("gather: index 7 out of range for size 5 in dim 1", printed
 *   1-based like every core message).
 * - inputs may be strided views: the kernels walk them with tide_iter, no copies.
 * - in-place ops (scatter_add, index_add) refuse a src or index overlapping self.
 * Results follow the "out" convention of tensor.h. */
#ifndef TIDE_OPS_INDEX_H
#define TIDE_OPS_INDEX_H

#include "tensor/tensor.h"

/* out = t with only the entries index (1-D) names along dim: out.select(dim, j) =
 * t.select(dim, index[j]). */
tide_status tide_index_select(tide_tensor *out, const tide_tensor *t, int dim,
                              const tide_tensor *index);

/* out (index's shape) with out[..., j, ...] = t[..., index[..., j, ...], ...] along dim.
 * index has t's dim count and is no larger than t in the other dims. */
tide_status tide_gather(tide_tensor *out, const tide_tensor *t, int dim, const tide_tensor *index);

/* The reverse of gather, adding: self[..., index[p], ...] += src[p] for every position p of
 * index (src at least index's size in every dim, self at least in every dim but dim).
 * Duplicate indices accumulate, in row-major order of index. */
tide_status tide_scatter_add(tide_tensor *self, int dim, const tide_tensor *index,
                             const tide_tensor *src);

/* self.select(dim, index[j]) += src.select(dim, j) for each j; index 1-D of src's size in
 * dim, src of self's shape in the other dims. */
tide_status tide_index_add(tide_tensor *self, int dim, const tide_tensor *index,
                           const tide_tensor *src);

/* The elements of t where mask (u8, broadcast with t) is non-zero, in row-major order, as a
 * 1-D tensor. */
tide_status tide_masked_select(tide_tensor *out, const tide_tensor *t, const tide_tensor *mask);

/* out[v] = how many elements of the 1-D integer tensor t equal v, for v = 0 .. max(t)
 * (at least minlength entries); with weights (1-D, t's size), the sum of their weights.
 * out is i64 without weights or with integer weights, else the weights' dtype (f32 sums
 * accumulate in double). Negative values fail. */
tide_status tide_bincount(tide_tensor *out, const tide_tensor *t, const tide_tensor *weights,
                          int64_t minlength);

/* Running sums along dim. Floats keep their dtype (f32 accumulates in double); integers give
 * i64 (wrapping on overflow). out must be contiguous when given (it may be t itself). */
tide_status tide_cumsum(tide_tensor *out, const tide_tensor *t, int dim);

#endif
