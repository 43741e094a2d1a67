/* reduce_impl.h — what reduce.c and reduce_minmax.c share: the view of a tensor without the
 * dim being reduced, and the copy of a result into an out that may keep that dim. */
#ifndef TIDE_OPS_REDUCE_IMPL_H
#define TIDE_OPS_REDUCE_IMPL_H

#include "tensor/tensor.h"

typedef struct tide_dim_setup {
    tide_tensor sel;                  /* a without dim: borrowed, holds no reference */
    int64_t n;                        /* size of the reduced dim */
    int64_t bsd;                      /* its stride in bytes */
    int ndim;                         /* the result's shape (keepdim applied) */
    int64_t shape[TIDE_MAX_DIMS];
} tide_dim_setup;

/* Checks dim (0-based) against a and fills s; fails naming op when dim is out of range. */
tide_status tide_reduce_setup_dim(const tide_tensor *a, int dim, int keepdim, const char *op,
                                  tide_dim_setup *s);

/* Copies buf (the result without the reduced dim) into out, which keeps dim when keepdim. */
tide_status tide_reduce_store(tide_tensor *out, const tide_tensor *buf, int dim, int keepdim);

#endif
