/* blas.h — matrix products through CBLAS (OpenBLAS): matmul, gemm, gemv, dot.
 *
 * Promises:
 * - f32 and f64 only (f32 → sgemm/sgemv, f64 → dgemm/dgemv); integer tensors are refused with
 *   "matmul: expected f32 or f64 tensors, got i32", mixed dtypes with
 *   "matmul: dtype mismatch, f32 @ f64".
 * - A 2-D operand stored row-major (unit stride along columns) or column-major (a transposed
 *   view: unit stride along rows) goes to BLAS as it is, with the matching transpose flag and
 *   leading dimension; only an operand fitting neither layout (a narrowed-in-both-dims view, an
 *   expanded view with stride 0) is first copied to a contiguous temporary.
 * - f32 dot products accumulate in double (cblas_dsdot). */
#ifndef TIDE_BLAS_H
#define TIDE_BLAS_H

#include "tensor/tensor.h"

/* torch.matmul semantics:
 *   1-D @ 1-D  -> 0-dim tensor (the dot product)
 *   2-D @ 1-D  -> 1-D (gemv);  1-D @ 2-D -> 1-D (gemv on the transpose)
 *   2-D @ 2-D  -> 2-D (gemm)
 *   N-D @ M-D  -> batched gemm over the leading dims, broadcast NumPy-style (3-D @ 2-D applies
 *                 the one right matrix to every batch); a 1-D operand is a row (left) or a
 *                 column (right) vector whose dim is dropped from the result.
 * out: empty, or contiguous with the result's shape and dtype, and not overlapping a or b. */
tide_status tide_matmul(tide_tensor *out, const tide_tensor *a, const tide_tensor *b);

/* out = m @ v for a 2-D m and a 1-D v (gemv); messages name "mv". */
tide_status tide_mv(tide_tensor *out, const tide_tensor *m, const tide_tensor *v);

/* c = beta*c + alpha*(a @ b) for 2-D a (MxK), b (KxN), c (MxN), written into c by one gemm
 * with no temporary. c must be row-major or column-major (e.g. a transposed contiguous
 * tensor) and must not overlap a or b. op names the caller in messages ("addmm_"). */
tide_status tide_addmm(tide_tensor *c, const tide_tensor *a, const tide_tensor *b, double beta,
                       double alpha);

/* y = beta*y + alpha*(a @ x) for 2-D a (MxK), 1-D x (K) and y (M), by one gemv. */
tide_status tide_addmv(tide_tensor *y, const tide_tensor *a, const tide_tensor *x, double beta,
                       double alpha);

/* The dot product of two 1-D tensors of the same size and float dtype (f32 accumulates in
 * double). */
tide_status tide_dot(double *result, const tide_tensor *a, const tide_tensor *b);

#endif
