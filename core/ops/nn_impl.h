/* ops_nn_impl.h — what the nn and optimizer kernels share (ops/nn.c, ops/optim.c). Internal
 * to those files; not part of the core's API. */
#ifndef TIDE_OPS_NN_IMPL_H
#define TIDE_OPS_NN_IMPL_H

#include "tensor/tensor.h"

/* Flush a subnormal to zero: a select the compiler vectorises. name is the dtype's, whose
 * smallest normal the dtype table holds. Subnormals make every later multiply by them slow. */
#define FTZ(v, name) \
    ((v) > -TIDE_DTYPE_COL(name, tmin) && (v) < TIDE_DTYPE_COL(name, tmin) ? 0 : (v))

/* Fails unless a and b have one shape and one dtype: "op: an has shape 3 but bn has shape 4". */
tide_status tide_nn_same_as(const tide_tensor *a, const tide_tensor *b, const char *op,
                            const char *an, const char *bn);

#endif
