/* decomp.h — QR, SVD and the symmetric eigendecomposition through LAPACKE, each over a stack
 * of matrices (leading batch dims), as torch.linalg.qr / svd / eigh.
 *
 * Promises: f32 and f64 only; inputs are never modified; results are new contiguous tensors
 * (the out arguments must be empty); a LAPACK failure names the matrix of the batch. */
#ifndef TIDE_DECOMP_H
#define TIDE_DECOMP_H

#include "tensor/tensor.h"

/* A (..., m, n) = Q R with k = min(m, n): reduced (complete = 0) gives Q (..., m, k) with
 * orthonormal columns and R (..., k, n) upper triangular; complete gives Q (..., m, m) and
 * R (..., m, n). Householder QR (geqrf + orgqr); R's diagonal may be negative, as in torch. */
tide_status tide_qr(tide_tensor *q, tide_tensor *r, const tide_tensor *a, int complete);

/* A (..., m, n) = U diag(S) Vh: full gives U (..., m, m) and Vh (..., n, n), otherwise
 * U (..., m, k) and Vh (..., k, n); S (..., k) descending, k = min(m, n). Divide and conquer
 * (gesdd). "svd: did not converge" when LAPACK reports so. */
tide_status tide_svd(tide_tensor *u, tide_tensor *s, tide_tensor *vh, const tide_tensor *a,
                     int full);

/* Symmetric A (..., n, n) = V diag(w) V^T, reading only the lower (upper = 0) or upper
 * triangle: w (..., n) ascending, V's columns the eigenvectors (syevd). */
tide_status tide_eigh(tide_tensor *w, tide_tensor *v, const tide_tensor *a, int upper);

#endif
