/* lua_openers.c — every bindings file's opener, in the order tide.core runs them. */
#include "lua_bindings.h"

const tide_opener tide_openers[] = {
    tide_open_tensor,
    tide_open_ops,
    tide_open_linalg,
    tide_open_shape,
    tide_open_index,
    tide_open_random,
    tide_open_io,
    tide_open_format,
    tide_open_comm,
    tide_open_trace,
    tide_open_diag,
    tide_open_nn,
    tide_open_layers,
    tide_open_dtensor,
    tide_open_dmatrix,
    tide_open_cluster,
    tide_open_bayes,
    tide_open_als,
    tide_open_linear,
    tide_open_sparse,
    tide_open_secure,
    NULL,
};
