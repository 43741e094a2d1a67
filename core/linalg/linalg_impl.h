/* linalg_impl.h — what linalg.c and decomp.c share: dtype and shape checks, the batch of
 * matrices over leading dims, and handing a result to an out tensor. Not a public header. */
#ifndef TIDE_LINALG_IMPL_H
#define TIDE_LINALG_IMPL_H

#include <lapacke.h>

#include "tensor/tensor.h"

/* The s or d variant of a LAPACKE routine; data pointers are passed as void *. LAPACK has one
 * entry point per precision, so this (and the letter in tide_lapack_failed) stays a branch. */
#define TIDE_LAPACK(dt, fn, ...) \
    ((dt) == TIDE_F32 ? LAPACKE_s##fn(__VA_ARGS__) : LAPACKE_d##fn(__VA_ARGS__))

/* A stack of matrices: a tensor (..., rows, cols) seen as count matrices of rows x cols. */
typedef struct tide_batch {
    int64_t count, rows, cols;
} tide_batch;

tide_status tide_linalg_float(const tide_tensor *t, const char *op);
/* A (..., m, n) with m, n within LAPACK's int; square asks m == n. */
tide_status tide_linalg_matrices(const tide_tensor *a, int square, tide_batch *b, const char *op);
tide_status tide_lapack_failed(const char *op, const char *routine, tide_dtype dt, int info);
/* "" for a single matrix, " (matrix 3 of the batch of 4)" otherwise: failures name the
 * 1-based flat index of the matrix in the batch. */
const char *tide_batch_where(const tide_batch *b, int64_t i, char *buf, size_t size);
#define TIDE_BATCH_BUF 64
/* Matrix i of a contiguous tensor holding b's matrices, each of per elements. */
static inline void *tide_batch_ptr(const tide_tensor *t, int64_t i, int64_t per)
{
    return (char *)tide_data(t) + (size_t)(i * per) * tide_dtype_size(t->dtype);
}
/* The shape of a with its last two dims replaced by the ntail dims of tail. */
int tide_batch_shape(const tide_tensor *a, int ntail, const int64_t *tail, int64_t *shape);
/* Hands the contiguous result tmp to out: moved into an empty out, copied into a given one. */
tide_status tide_linalg_deliver(tide_tensor *out, tide_tensor *tmp, const char *op);
/* Zeroes the strict upper (upper = 1) or lower triangle of each rows x cols matrix of t
 * (contiguous, float). */
void tide_linalg_zero_triangle(tide_tensor *t, const tide_batch *b, int upper);

#endif
