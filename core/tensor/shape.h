/* shape.h — new tensors built from the shape of others: cat, stack, flip, tile, tril/triu,
 * nonzero and one_hot (torch semantics; dims 0-based here, the bindings convert).
 *
 * Promises: results are new contiguous tensors (out must be empty), inputs are never
 * modified; errors name the operation, the argument and the shapes involved. */
#ifndef TIDE_SHAPE_H
#define TIDE_SHAPE_H

#include "tensor/tensor.h"

/* The n tensors joined along dim: equal shapes but for dim, the dtype promoted over all. */
tide_status tide_cat(tide_tensor *out, const tide_tensor *const *ts, int n, int dim);
/* The n tensors (one shape) stacked along a new dim (0..ndim). */
tide_status tide_stack(tide_tensor *out, const tide_tensor *const *ts, int n, int dim);
/* a reversed along each of the ndims dims (each 0-based, distinct). */
tide_status tide_flip(tide_tensor *out, const tide_tensor *a, int ndims, const int *dims);
/* a repeated reps[i] times along dim i (torch.tile: fewer reps than dims are padded with 1s on
 * the left, more reps than dims add leading dims of size 1 to a). */
tide_status tide_tile(tide_tensor *out, const tide_tensor *a, int nreps, const int64_t *reps);
/* a with the elements above (upper = 0: tril) or below (upper = 1: triu) the diagonal-th
 * diagonal of each matrix (last two dims) set to zero. */
tide_status tide_tril_triu(tide_tensor *out, const tide_tensor *a, int64_t diagonal, int upper);
/* The 0-based indices of a's nonzero elements (NaN counts), an i64 tensor nnz x ndim in
 * row-major order. */
tide_status tide_nonzero(tide_tensor *out, const tide_tensor *a);
/* An i64 tensor of idx's shape plus a last dim of classes, 1 at idx - base: idx an integer
 * tensor with values in base..base+classes-1. classes < 0: the largest value - base + 1. */
tide_status tide_one_hot(tide_tensor *out, const tide_tensor *idx, int64_t classes,
                         int64_t base);

#endif
