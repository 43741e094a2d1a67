/* sparse.h — compressed sparse row (CSR) matrices: built from triplets (COO), and the products
 * a graph network needs (sparse x dense, its transpose, sparse x vector).
 *
 * Promises:
 * - A tide_csr holds three contiguous 1-D tensors: rowptr (i64, nrows + 1), col (i64, nnz,
 *   0-based, strictly increasing within each row) and val (f32 or f64, nnz). Every function
 *   that makes one leaves its columns sorted and free of duplicates.
 * - Building from triplets takes them unsorted, with duplicates (summed, in double) and with
 *   indices counted from `base` (1 for Lua); a bad entry is named by its 1-based position.
 * - Products keep the dtype of the values; the dense operand must have it too. A row's
 *   product touches only that row of the result, so a caller may split the rows between
 *   threads or ranks (tide_csr_rows) and get the same numbers. No OpenMP.
 * - Results follow the "out" convention of tensor.h; a tide_csr out must be empty ({0}). */
#ifndef TIDE_SPARSE_H
#define TIDE_SPARSE_H

#include "tensor/tensor.h"

typedef struct tide_csr {
    int64_t nrows, ncols;
    tide_tensor rowptr;   /* row i's entries are [rowptr[i], rowptr[i + 1]) */
    tide_tensor col;
    tide_tensor val;
} tide_csr;

/* Drops the three tensors' references; idempotent. */
void tide_csr_release(tide_csr *s);

/* Checks the layout above: dtypes, sizes and contiguity always; with deep, also that rowptr
 * runs from 0 to nnz without decreasing and every row's columns are sorted, unique and in
 * range (what a matrix read from a file must be shown to be). op names the caller. */
tide_status tide_csr_check(const tide_csr *s, int deep, const char *op);

/* The nrows x ncols matrix with entries vals[e] at (rows[e] - base, cols[e] - base). rows and
 * cols are 1-D i32 or i64 of vals' length; vals is 1-D f32 or f64. */
tide_status tide_csr_from_coo(tide_csr *out, const tide_tensor *rows, const tide_tensor *cols,
                              const tide_tensor *vals, int64_t nrows, int64_t ncols,
                              int64_t base);

/* The row index (+ base) of every stored entry, i64 (nnz): with col and val, the triplets. */
tide_status tide_csr_row_indices(tide_tensor *out, const tide_csr *s, int64_t base);

/* The dense nrows x ncols matrix. */
tide_status tide_csr_to_dense(tide_tensor *out, const tide_csr *s);

/* The transpose, ncols x nrows, in CSR (a counting sort by column). */
tide_status tide_csr_transpose(tide_csr *out, const tide_csr *s);

/* Rows first .. first + count - 1 (0-based) as a count x ncols matrix of their own. */
tide_status tide_csr_rows(tide_csr *out, const tide_csr *s, int64_t first, int64_t count);

/* s @ dense for dense (ncols x k): nrows x k. */
tide_status tide_spmm(tide_tensor *out, const tide_csr *s, const tide_tensor *dense);

/* s^T @ dense for dense (nrows x k): ncols x k, without building the transpose (the
 * gradient of spmm with respect to its dense operand). */
tide_status tide_spmm_t(tide_tensor *out, const tide_csr *s, const tide_tensor *dense);

/* s @ x for a 1-D x (ncols): 1-D, nrows. */
tide_status tide_spmv(tide_tensor *out, const tide_csr *s, const tide_tensor *x);

/* Every row's sum of values (the weighted out-degree), 1-D nrows, in the values' dtype. */
tide_status tide_csr_degree(tide_tensor *out, const tide_csr *s);

/* D^-1/2 (A + I) D^-1/2 for square A, D the row sums of A + I (Kipf and Welling's GCN
 * propagation matrix); a row whose sum is not positive gets 0 in place of d^-1/2, as PyTorch
 * Geometric does. */
tide_status tide_csr_normalize_gcn(tide_csr *out, const tide_csr *s);

#endif
