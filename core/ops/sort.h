/* ops_sort.h — ordering: sort, argsort, topk, unique and searchsorted, for every dtype.
 *
 * Promises:
 * - one total order for every kernel here: integers by value; floats by value with -0.0 equal
 *   to 0.0 and every NaN equal to every other NaN and above +inf.
 * - sorting is stable: equal elements keep their order (also when descending), and topk
 *   returns exactly the head of the stable sort, ties included.
 * - indices and positions are 0-BASED i64 (the Lua bindings add 1).
 * - sort is an LSD radix sort on order-preserving integer keys (O(n) per pass, passes whose
 *   byte is the same for every key are skipped); short slices use insertion sort.
 * Results follow the "out" convention of tensor.h; an output passed as NULL is not computed. */
#ifndef TIDE_OPS_SORT_H
#define TIDE_OPS_SORT_H

#include "tensor/tensor.h"

/* Sorts t along dim. values (t's dtype and shape) and indices (i64, the position along dim
 * each value came from) may each be NULL. */
tide_status tide_sort(tide_tensor *values, tide_tensor *indices, const tide_tensor *t, int dim,
                      int descending);
tide_status tide_argsort(tide_tensor *indices, const tide_tensor *t, int dim, int descending);

/* The k largest (or smallest) along dim, in sorted order: the first k of a stable sort
 * descending (ascending). 0 <= k <= t's size in dim. */
tide_status tide_topk(tide_tensor *values, tide_tensor *indices, const tide_tensor *t, int64_t k,
                      int dim, int largest);

/* The distinct values of t (all elements), ascending, as a 1-D tensor. inverse (t's shape,
 * i64): for each element, the position of its value in values; counts (i64): how often each
 * value occurs. Either may be NULL. */
tide_status tide_unique(tide_tensor *values, tide_tensor *inverse, tide_tensor *counts,
                        const tide_tensor *t);

/* For each element v of values, the insertion position p (0-based) in the ascending 1-D
 * tensor sorted: the first p with sorted[p] >= v, or with right, the first p with
 * sorted[p] > v (n when none). sorted and values share a dtype; sorted is not checked to be
 * sorted. out: i64 of values' shape. */
tide_status tide_searchsorted(tide_tensor *out, const tide_tensor *sorted,
                              const tide_tensor *values, int right);

#endif
