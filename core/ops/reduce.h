/* ops_reduce.h — reductions over all elements or along one dim.
 *
 * - *_all functions reduce every element to one value; *_dim functions reduce dim `dim`
 *   (0-based) into out, which follows tensor.h's out convention. The result has a's shape
 *   without that dim, or with size 1 there when keepdim.
 * - f32 (and every) floating reduction accumulates in double; integer sums and products are
 *   exact in 64 bits (wrapping past them).
 * - Result dtypes: sum and prod of an integer tensor are i64; mean, norm, var and std of an
 *   integer tensor are f32; max/min values keep the dtype; indices are i64 and 0-based here
 *   (the Lua face adds one).
 * - Empty input: sum is 0, prod 1, norm 0, mean and var NaN (0/0, as torch); max, min,
 *   argmax and argmin of nothing fail ("max: cannot reduce an empty tensor").
 * - max/min propagate NaN: the index is that of the first NaN, else of the first extreme. */
#ifndef TIDE_OPS_REDUCE_H
#define TIDE_OPS_REDUCE_H

#include "ops/elementwise.h"
#include "tensor/tensor.h"

/* --- every element --- */

/* Integer dtypes give an exact integer (is_float 0), float dtypes a double. */
tide_status tide_sum_all(const tide_tensor *a, tide_number *result);
tide_status tide_prod_all(const tide_tensor *a, tide_number *result);
tide_status tide_mean_all(const tide_tensor *a, double *result);
/* value in a's kind (integer dtypes give an integer); index: the flat row-major 0-based
 * position of the first extreme; either pointer may be NULL. */
tide_status tide_max_all(const tide_tensor *a, tide_number *value, int64_t *index);
tide_status tide_min_all(const tide_tensor *a, tide_number *value, int64_t *index);
/* p-norm: p = 2, 1, INFINITY (max |x|), 0 (count of nonzeros) or any p > 0. */
tide_status tide_norm_all(const tide_tensor *a, double p, double *result);
/* unbiased: divide by n - 1 (Bessel), else by n. */
tide_status tide_var_all(const tide_tensor *a, int unbiased, double *result);
tide_status tide_std_all(const tide_tensor *a, int unbiased, double *result);

/* --- along one dim --- */

tide_status tide_sum_dim(tide_tensor *out, const tide_tensor *a, int dim, int keepdim);
tide_status tide_prod_dim(tide_tensor *out, const tide_tensor *a, int dim, int keepdim);
tide_status tide_mean_dim(tide_tensor *out, const tide_tensor *a, int dim, int keepdim);
tide_status tide_norm_dim(tide_tensor *out, const tide_tensor *a, double p, int dim, int keepdim);
tide_status tide_var_dim(tide_tensor *out, const tide_tensor *a, int dim, int unbiased,
                         int keepdim);
tide_status tide_std_dim(tide_tensor *out, const tide_tensor *a, int dim, int unbiased,
                         int keepdim);
/* values (a's dtype) and indices (i64, 0-based); either may be NULL when not wanted. */
tide_status tide_max_dim(tide_tensor *values, tide_tensor *indices, const tide_tensor *a, int dim,
                         int keepdim);
tide_status tide_min_dim(tide_tensor *values, tide_tensor *indices, const tide_tensor *a, int dim,
                         int keepdim);
static inline tide_status tide_argmax_dim(tide_tensor *out, const tide_tensor *a, int dim,
                                          int keepdim)
{ return tide_max_dim(NULL, out, a, dim, keepdim); }
static inline tide_status tide_argmin_dim(tide_tensor *out, const tide_tensor *a, int dim,
                                          int keepdim)
{ return tide_min_dim(NULL, out, a, dim, keepdim); }

#endif
