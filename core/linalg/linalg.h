/* linalg.h — dense solves and factorisations through LAPACKE (OpenBLAS's LAPACK).
 *
 * Promises: f32 and f64 only (A and B of one dtype); inputs are never modified (LAPACK works
 * on contiguous copies); every LAPACK failure comes back as a message naming the operation
 * and, for a singular or indefinite matrix, the 1-based pivot or leading minor where it
 * failed. solve, cholesky and inv also take a batch: A (..., n, n), one factorisation per
 * matrix, and a failure then ends with " (matrix 3 of the batch of 4)" (1-based, flat over
 * the leading dims). Results follow the "out" convention of tensor.h. */
#ifndef TIDE_LINALG_H
#define TIDE_LINALG_H

#include "tensor/tensor.h"

/* X with A X = B for square A (..., n x n) and B (..., n, or ..., n x k, with A's leading
 * dims), by LU with partial pivoting (gesv). An exactly singular A fails with "solve: matrix is singular (pivot 3 is zero)". */
tide_status tide_solve(tide_tensor *out, const tide_tensor *a, const tide_tensor *b);

/* The lower-triangular L with A = L L^T (potrf; only A's lower triangle is read, A is assumed
 * symmetric). Fails with "cholesky: matrix is not positive definite (leading minor 3)". */
tide_status tide_cholesky(tide_tensor *out, const tide_tensor *a);

/* X minimising ||A X - B|| for A (m x n) of full rank and B (m, or m x k) by QR (gels); when
 * m < n, the minimum-norm solution. The result is n, or n x k. */
tide_status tide_lstsq(tide_tensor *out, const tide_tensor *a, const tide_tensor *b);

/* The inverse of square A (getrf + getri); "inv: matrix is singular (pivot 2 is zero)". */
tide_status tide_inv(tide_tensor *out, const tide_tensor *a);

#endif
