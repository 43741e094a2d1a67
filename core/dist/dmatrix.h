/* dmatrix.h — 2-D block-cyclic matrices over a pr x pc grid of ranks, and SUMMA.
 *
 * The layout is ScaLAPACK's: the m x n global matrix is cut into mb x nb blocks; block (I, J)
 * lives on grid position (I mod pr, J mod pc), and a rank stores the blocks it owns as one
 * contiguous row-major local matrix, block rows and block columns in increasing order. A plain
 * block distribution is the cyclic one with mb = ceil(m / pr), nb = ceil(n / pc). Grid
 * positions are 0-based and row-major: rank r sits at (r / pc, r % pc).
 *
 * Promises:
 * - pack and unpack only move elements (any dtype); a local matrix is exactly
 *   tide_dmatrix_local_count(m, mb, prow, pr) x tide_dmatrix_local_count(n, nb, pcol, pc).
 * - summa computes C = A @ B (f32 or f64) with every panel broadcast through comm.h's
 *   non-blocking broadcast (so the watchdog, the fingerprints and the trace see it): panel
 *   k + 1 is posted before the local GEMM of panel k runs. A's column blocks must equal B's
 *   row blocks (the caller redistributes otherwise); the result has A's row layout and B's
 *   column layout. Collective over the grid: row is this rank's grid row (ranks ordered by
 *   grid column), col its grid column (ordered by grid row). */
#ifndef TIDE_DMATRIX_H
#define TIDE_DMATRIX_H

#include <stdint.h>

#include "comm/comm.h"
#include "tensor/tensor.h"

typedef struct tide_dmatrix_layout {
    int64_t m, n;      /* global shape */
    int64_t mb, nb;    /* block shape, >= 1 */
    int pr, pc;        /* grid shape, >= 1 */
} tide_dmatrix_layout;

/* The rows (or columns) that grid row (or column) p of np holds of n cut into blocks of nb. */
int64_t tide_dmatrix_local_count(int64_t n, int64_t nb, int p, int np);

/* Checks the fields (positive sizes) and names op in the message. */
tide_status tide_dmatrix_check_layout(const tide_dmatrix_layout *lay, const char *op);

/* out (empty): the local matrix of grid position (prow, pcol) cut from global (m x n). */
tide_status tide_dmatrix_pack(tide_tensor *out, const tide_tensor *global,
                              const tide_dmatrix_layout *lay, int prow, int pcol);

/* Writes local (the matrix of grid position (prow, pcol)) into its places in global (m x n,
 * contiguous); other elements are left as they were. */
tide_status tide_dmatrix_unpack(tide_tensor *global, const tide_tensor *local,
                                const tide_dmatrix_layout *lay, int prow, int pcol);

/* c (empty): this rank's block of A @ B, laid out (a->m, b->n, a->mb, b->nb). Collective. */
tide_status tide_dmatrix_summa(tide_tensor *c, const tide_tensor *a, const tide_tensor *b,
                               const tide_dmatrix_layout *la, const tide_dmatrix_layout *lb,
                               tide_comm *row, tide_comm *col);

#endif
