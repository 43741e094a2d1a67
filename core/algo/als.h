/* als.h — the kernel of alternating least squares: the regularised normal equations of a batch
 * of users (or items) at once, from CSR-like lists of the rows each one rated.
 *
 * Promises:
 * - For row u of the batch (offsets[u] <= e < offsets[u + 1] its entries, y_e the factor row
 *   cols[e] - index_base):
 *       A_u = base + sum_e weights[e] y_e y_e^T + ridge[u] I      (k x k)
 *       b_u = sum_e values[e] y_e                                 (k)
 *   Explicit ALS passes weights 1, values the ratings and no base; the implicit variant of Hu,
 *   Koren and Volinsky passes weights alpha r, values 1 + alpha r and base = Y^T Y.
 * - Sums run over each row's entries in the order given, in double, so the same entries in the
 *   same order give the same bits whatever else is in the batch (ALS is then independent of
 *   the rank count).
 * - factors are f64 (m x k, a view is copied); offsets, cols i64; weights, values, ridge f64;
 *   a (B x k x k) and b (B x k) follow tensor.h's out convention. A col outside the factors'
 *   rows, or offsets that are not a non-decreasing 0 .. len(cols), is an error naming it. */
#ifndef TIDE_ALS_H
#define TIDE_ALS_H

#include <stdint.h>

#include "tensor/tensor.h"

typedef struct tide_als_entries {
    const tide_tensor *offsets;   /* i64, B + 1 */
    const tide_tensor *cols;      /* i64, nnz: rows of the factors, counting from index_base */
    int64_t index_base;
    const tide_tensor *weights;   /* f64, nnz */
    const tide_tensor *values;    /* f64, nnz */
    const tide_tensor *ridge;     /* f64, B */
    const tide_tensor *base;      /* f64, k x k, or NULL */
} tide_als_entries;

tide_status tide_als_normal_equations(tide_tensor *a, tide_tensor *b, const tide_tensor *factors,
                                      const tide_als_entries *e);

/* x (B x k, out convention): the solution x_u of A_u x_u = b_u for every row, by Cholesky
 * (A_u is symmetric positive definite when the ridge is positive). A matrix that is not fails
 * naming its 1-based row and leading minor. */
tide_status tide_als_solve(tide_tensor *x, const tide_tensor *factors, const tide_als_entries *e);

/* The sum over every entry of (x_u . y_cols[e] - values[e])^2: explicit ALS's squared training
 * error, for x (B x k, f64) the rows' factors. */
tide_status tide_als_sse(double *sse, const tide_tensor *x, const tide_tensor *factors,
                         const tide_als_entries *e);

#endif
