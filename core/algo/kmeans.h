/* kmeans.h — the k-means kernels: everything that touches every row of the data.
 *
 * Promises:
 * - x is n×d and the centres c are k×d, both f32 or both f64 (a view is copied to a contiguous
 *   temporary first). Squared distances are ‖x‖² − 2·x·cᵀ + ‖c‖², the x·cᵀ part by one GEMM per
 *   chunk of rows (cblas_sgemm/dgemm, as many threads as OpenBLAS is set to), so memory stays
 *   bounded by chunk × k whatever n is; f32 on a CPU with AVX-512, when OpenBLAS runs one
 *   thread, takes a fused kernel instead (kmeans_fused.c; TIDE_KMEANS_KERNEL=gemm|fused forces
 *   one). The nearest centre is the argmin of that (ties go to the
 *   lower index); the distance reported for it (inertia, mind, farthest) is then recomputed
 *   directly as Σ(x − c)² (in the data's type over a row, summed over rows in double), so no
 *   cancellation reaches the inertia.
 * - Sums and counts accumulate in double (f64 tensors), weighted by an optional f64 weight per
 *   row; inertia too.
 * - Randomness comes from a counter-based hash of (seed, stream, counter), so a draw for global
 *   row r is the same whatever rank holds r: results do not depend on the number of ranks.
 * - Nothing here communicates: the Lua layer (scripts/tide/cluster.lua) combines ranks. */
#ifndef TIDE_KMEANS_H
#define TIDE_KMEANS_H

#include <stdint.h>

#include "tensor/tensor.h"

/* What one assignment pass should produce; every pointer may be NULL (not wanted). */
typedef struct tide_kmeans_io {
    const tide_tensor *weight;  /* f64, n: row weights (NULL: every row weighs 1) */
    tide_tensor *labels;        /* i32, n, contiguous: label_base + index of the nearest centre */
    int32_t label_base;
    int count_changes;          /* count rows whose label differs from labels' old contents */
    tide_tensor *sums;          /* f64 k×d contiguous: += w·x into the row of the nearest centre */
    tide_tensor *counts;        /* f64 k contiguous: += w */
    tide_tensor *mind;          /* f64 n contiguous: squared distance to the nearest centre... */
    int mind_update;            /* ...or, when set, min(old value, that distance) */
} tide_kmeans_io;

typedef struct tide_kmeans_stats {
    double inertia;             /* Σ w·‖x − nearest c‖² over the rows */
    int64_t changed;            /* rows whose label changed (with count_changes) */
    int64_t first_bad;          /* first row (0-based) whose distance is not finite, or -1 */
    double gemm_seconds;        /* time spent in GEMM ... */
    double assign_seconds;      /* ... and in everything else of the pass */
} tide_kmeans_stats;

/* One pass: for every row of x the nearest of the centres c; fills what io asks for. */
tide_status tide_kmeans_assign(const tide_tensor *x, const tide_tensor *c, const tide_kmeans_io *io,
                               tide_kmeans_stats *stats);

/* out (empty, or f32/f64 n×k contiguous of x's dtype) = Euclidean distance from each row of x
 * to each centre, clamped at 0 before the square root. */
tide_status tide_kmeans_distances(tide_tensor *out, const tide_tensor *x, const tide_tensor *c);

/* The first row (0-based) of x holding a NaN or an infinity, or -1; *is_nan says which. */
tide_status tide_kmeans_nonfinite(const tide_tensor *x, int64_t *row, int *is_nan);

/* The centre update. Lloyd (prior NULL): c_new[j] = sums[j] / counts[j] where counts[j] > 0,
 * else c_old[j] (an empty cluster keeps its centre until it is re-seeded). Mini-batch (prior:
 * f64 k, the weight each centre has absorbed so far, updated in place): c_new[j] =
 * (prior[j]·c_old[j] + sums[j]) / (prior[j] + counts[j]), Sculley's per-centre learning rate.
 * c_new (empty, or like c_old; may be c_old itself) receives the result. *shift2 =
 * Σ‖c_new − c_old‖², *norm2 = Σ‖c_old‖², *n_empty = centres with no weight at all. */
tide_status tide_kmeans_update(tide_tensor *c_new, const tide_tensor *sums,
                               const tide_tensor *counts, tide_tensor *prior,
                               const tide_tensor *c_old, double *shift2, double *norm2,
                               int64_t *n_empty);

/* The m rows of x farthest from their own centre c[labels[i] − label_base] (exact squared
 * distances, larger first, ties to the lower row). rows/d2 receive up to m entries; *found says
 * how many (fewer when x has fewer rows). */
tide_status tide_kmeans_farthest(const tide_tensor *x, const tide_tensor *c,
                                 const tide_tensor *labels, int32_t label_base, int64_t m,
                                 int64_t *rows, double *d2, int64_t *found);

/* A uniform double in [0, 1) from the counter-based stream (seed, stream), draw number counter. */
double tide_kmeans_uniform(uint64_t seed, uint64_t stream, uint64_t counter);

/* k-means|| oversampling: row i is chosen when uniform(seed, stream, row_offset + i) <
 * scale · w_i · mind_i. rows (may be NULL, for counting) receives the chosen 0-based rows, in
 * order; *count how many. mind is f64 n; weight NULL or f64 n. */
tide_status tide_kmeans_sample(const tide_tensor *mind, const tide_tensor *weight, double scale,
                               uint64_t seed, uint64_t stream, int64_t row_offset, int64_t *rows,
                               int64_t *count);

/* The row where the running sum of w_i · v_i (v: f64 n, or all ones when NULL; w likewise)
 * first exceeds target; the last row with a positive term when rounding leaves target past the
 * total; -1 when every term is 0. */
tide_status tide_kmeans_pick(const tide_tensor *v, const tide_tensor *weight, double target,
                             int64_t *row);

/* *sum = Σ v_i · w_i (either may be NULL: all ones), in double. */
tide_status tide_kmeans_potential(const tide_tensor *v, const tide_tensor *weight, double *sum);

/* out (empty, or i64 of count elements) = count 0-based rows drawn uniformly from 0..n−1 with
 * replacement, draw i using counter first + i of the stream (seed, stream). */
tide_status tide_kmeans_random_rows(tide_tensor *out, int64_t n, int64_t count, uint64_t seed,
                                    uint64_t stream, uint64_t first);

/* The first entry (0-based) of an f64 weight vector that is negative, NaN or infinite, or -1. */
tide_status tide_kmeans_bad_weight(const tide_tensor *weight, int64_t *row);

/* Greedy k-means++'s trial potentials: sums[c] = Σ_i w_i · min(mind_i, ‖x_i − cands_c‖²) for
 * each of the L candidate rows (cands L×d, x's dtype; mind and weight f64 n, weight NULL: 1). */
tide_status tide_kmeans_trials(const tide_tensor *x, const tide_tensor *cands,
                               const tide_tensor *mind, const tide_tensor *weight, double *sums);

/* Weighted k-means++ on a small local set x (m×d) with f64 weights (NULL: all 1): k rows
 * (0-based) into rows, each step keeping the best of `trials` candidates drawn ∝ w·D² (the
 * one that lowers Σ w·D² most; trials < 1: 2 + ⌊ln k⌋, as scikit-learn). Points of weight 0
 * are never chosen while others remain. Fails when k > m. */
tide_status tide_kmeans_plusplus(const tide_tensor *x, const tide_tensor *weight, int64_t k,
                                 int trials, uint64_t seed, int64_t *rows);

#endif
