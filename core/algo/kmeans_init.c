/* kmeans_init.c — the randomness of k-means (see kmeans.h): a counter-based uniform stream,
 * k-means|| oversampling, weighted picks, and greedy k-means++ on a small local set. */
#include "algo/kmeans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/kmeans_impl.h"
#include "ops/hash.h"

/* ---------------------------------------------------------------- counter-based randomness */

/* splitmix64 of z: hash.h's mix with seed 0 adds the golden-ratio increment once, as splitmix
 * does, so the streams are the ones k-means has always drawn. */
static uint64_t mix64(uint64_t z)
{
    return tide_hash64_mix(z, 0);
}

double tide_kmeans_uniform(uint64_t seed, uint64_t stream, uint64_t counter)
{
    uint64_t key = mix64(seed ^ mix64(stream ^ 0x5851f42d4c957f2dull));
    return (double)(mix64(key + mix64(counter)) >> 11) * 0x1p-53;
}

tide_status tide_kmeans_sample(const tide_tensor *mind, const tide_tensor *weight, double scale,
                               uint64_t seed, uint64_t stream, int64_t row_offset, int64_t *rows,
                               int64_t *count)
{
    int64_t n = tide_numel(mind);
    TIDE_TRY(tide_kmeans_check_f64(mind, n, "kmeans_sample", "mind"));
    TIDE_TRY(tide_kmeans_check_f64(weight, n, "kmeans_sample", "weight"));
    const double *v = tide_data(mind), *w = kmeans_f64_or_null(weight);
    int64_t found = 0;
    for (int64_t i = 0; i < n; i++) {
        double p = scale * v[i] * (w ? w[i] : 1.0);
        if (p > 0 && tide_kmeans_uniform(seed, stream, (uint64_t)(row_offset + i)) < p) {
            if (rows)
                rows[found] = i;
            found++;
        }
    }
    *count = found;
    return TIDE_OK;
}

tide_status tide_kmeans_pick(const tide_tensor *v, const tide_tensor *weight, double target,
                             int64_t *row)
{
    int64_t n = v ? tide_numel(v) : weight ? tide_numel(weight) : 0;
    TIDE_TRY(tide_kmeans_check_f64(v, n, "kmeans_pick", "values"));
    TIDE_TRY(tide_kmeans_check_f64(weight, n, "kmeans_pick", "weight"));
    const double *a = kmeans_f64_or_null(v), *w = kmeans_f64_or_null(weight);
    double run = 0;
    *row = -1;
    for (int64_t i = 0; i < n; i++) {
        double term = (a ? a[i] : 1.0) * (w ? w[i] : 1.0);
        if (!(term > 0))
            continue;
        run += term;
        *row = i;
        if (run > target)
            break;
    }
    return TIDE_OK;
}

tide_status tide_kmeans_potential(const tide_tensor *v, const tide_tensor *weight, double *sum)
{
    int64_t n = v ? tide_numel(v) : weight ? tide_numel(weight) : 0;
    TIDE_TRY(tide_kmeans_check_f64(v, n, "kmeans_potential", "values"));
    TIDE_TRY(tide_kmeans_check_f64(weight, n, "kmeans_potential", "weight"));
    const double *a = kmeans_f64_or_null(v), *w = kmeans_f64_or_null(weight);
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (a ? a[i] : 1.0) * (w ? w[i] : 1.0);
    *sum = s;
    return TIDE_OK;
}

tide_status tide_kmeans_random_rows(tide_tensor *out, int64_t n, int64_t count, uint64_t seed,
                                    uint64_t stream, uint64_t first)
{
    if (n < 1 || count < 0)
        return tide_fail("kmeans_random_rows: cannot draw %lld rows from %lld", (long long)count,
                         (long long)n);
    int64_t shape[1] = {count};
    TIDE_TRY(tide_prepare_out(out, TIDE_I64, 1, shape, "kmeans_random_rows"));
    if (!tide_is_contiguous(out))
        return tide_fail("kmeans_random_rows: the output must be contiguous");
    int64_t *r = tide_data(out);
    for (int64_t i = 0; i < count; i++) {
        int64_t v = (int64_t)(tide_kmeans_uniform(seed, stream, first + (uint64_t)i) * (double)n);
        r[i] = v < n ? v : n - 1;
    }
    return TIDE_OK;
}

tide_status tide_kmeans_bad_weight(const tide_tensor *weight, int64_t *row)
{
    int64_t n = tide_numel(weight);
    TIDE_TRY(tide_kmeans_check_f64(weight, n, "kmeans", "sample_weight"));
    const double *w = tide_data(weight);
    *row = -1;
    for (int64_t i = 0; i < n; i++)
        if (!(w[i] >= 0) || !isfinite(w[i])) {
            *row = i;
            break;
        }
    return TIDE_OK;
}

#define TRIALS(E, name, T)                                                                \
    static void trials_##name(const T *x, int64_t n, int64_t d, const T *cand, int64_t L, \
                              const double *mind, const double *w, double *sums)          \
    {                                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                 \
            double wi = w ? w[i] : 1.0;                                                   \
            for (int64_t c = 0; c < L; c++) {                                             \
                double e = kmeans_sqdist_##name(x + i * d, cand + c * d, d);              \
                sums[c] += wi * (e < mind[i] ? e : mind[i]);                              \
            }                                                                             \
        }                                                                                 \
    }
TIDE_FOREACH_FLOAT_DTYPE(TRIALS)
#undef TRIALS

tide_status tide_kmeans_trials(const tide_tensor *x, const tide_tensor *cands,
                               const tide_tensor *mind, const tide_tensor *weight, double *sums)
{
    const char *op = "kmeans_trials";
    TIDE_TRY(tide_kmeans_check_pair(x, cands, op));
    int64_t n = x->shape[0], d = x->shape[1], L = cands->shape[0];
    TIDE_TRY(tide_kmeans_check_f64(mind, n, op, "mind"));
    TIDE_TRY(tide_kmeans_check_f64(weight, n, op, "weight"));
    for (int64_t c = 0; c < L; c++)
        sums[c] = 0;
    tide_tensor xc = TIDE_TENSOR_EMPTY, cc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&xc, x));
    tide_status st = tide_contiguous(&cc, cands);
    if (st == TIDE_OK) {
        switch (x->dtype) {
#define TRIALS_CASE(E, name, T)                                                           \
    case E:                                                                               \
        trials_##name(tide_data(&xc), n, d, tide_data(&cc), L, tide_data(mind),           \
                      kmeans_f64_or_null(weight), sums);                                  \
        break;
            TIDE_FOREACH_FLOAT_DTYPE(TRIALS_CASE)
#undef TRIALS_CASE
        default: break;   /* check_pair refused the rest */
        }
    }
    tide_tensor_release(&xc);
    tide_tensor_release(&cc);
    return st;
}

/* Σ_i w_i · min(mind_i, ‖x_i − x_cand‖²): the potential if cand were added (into trial). */
#define PP_POTENTIAL(E, name, T)                                                          \
    static double pp_potential_##name(const T *x, const double *w, const double *mind,    \
                                      int64_t m, int64_t d, int64_t cand, double *trial)  \
    {                                                                                     \
        double pot = 0;                                                                   \
        for (int64_t i = 0; i < m; i++) {                                                 \
            double e = kmeans_sqdist_##name(x + i * d, x + cand * d, d);                  \
            trial[i] = e < mind[i] ? e : mind[i];                                         \
            pot += (w ? w[i] : 1.0) * trial[i];                                           \
        }                                                                                 \
        return pot;                                                                       \
    }
TIDE_FOREACH_FLOAT_DTYPE(PP_POTENTIAL)
#undef PP_POTENTIAL

static double pp_potential(tide_dtype dt, const void *x, const double *w, const double *mind,
                           int64_t m, int64_t d, int64_t cand, double *trial)
{
    switch (dt) {
#define PP_CASE(E, name, T) case E: return pp_potential_##name(x, w, mind, m, d, cand, trial);
        TIDE_FOREACH_FLOAT_DTYPE(PP_CASE)
#undef PP_CASE
    default: return 0;   /* check_data refused the rest */
    }
}

tide_status tide_kmeans_plusplus(const tide_tensor *x, const tide_tensor *weight, int64_t k,
                                 int trials, uint64_t seed, int64_t *rows)
{
    const char *op = "kmeans_plusplus";
    TIDE_TRY(tide_kmeans_check_data(x, op));
    int64_t m = x->shape[0], d = x->shape[1];
    TIDE_TRY(tide_kmeans_check_f64(weight, m, op, "weight"));
    if (k < 1 || k > m)
        return tide_fail("%s: cannot choose %lld centres from %lld points", op, (long long)k,
                         (long long)m);
    tide_tensor xc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&xc, x));
    double *mind = malloc(sizeof(double) * (size_t)m * 3);
    if (!mind) {
        tide_tensor_release(&xc);
        return tide_fail("%s: out of memory", op);
    }
    double *trial = mind + m, *best_trial = trial + m;
    const double *w = kmeans_f64_or_null(weight);
    const void *xd = tide_data(&xc);
    if (trials < 1)
        trials = 2 + (int)log((double)k);
    uint64_t draw = 0;

    /* first centre: uniform over the weight */
    double u = tide_kmeans_uniform(seed, 1, 0);
    int64_t first = (int64_t)(u * (double)m);
    if (w) {
        double wsum = 0;
        for (int64_t i = 0; i < m; i++)
            wsum += w[i];
        tide_kmeans_pick(NULL, weight, u * wsum, &first);
    }
    if (first < 0 || first >= m)
        first = 0;
    rows[0] = first;
    for (int64_t i = 0; i < m; i++)
        mind[i] = INFINITY;
    double pot = pp_potential(x->dtype, xd, w, mind, m, d, first, trial);
    memcpy(mind, trial, sizeof(double) * (size_t)m);

    for (int64_t c = 1; c < k; c++) {
        int64_t best = -1;
        double best_pot = INFINITY;
        for (int t = 0; t < trials; t++) {
            /* a candidate with probability ∝ w·mind; when every point is already a centre
             * (pot = 0) fall back to the first point of positive weight not yet chosen */
            double target = tide_kmeans_uniform(seed, 2 + (uint64_t)c, draw++) * pot;
            int64_t cand = -1;
            double run = 0;
            for (int64_t i = 0; i < m; i++) {
                double term = (w ? w[i] : 1.0) * mind[i];
                if (!(term > 0))
                    continue;
                run += term;
                cand = i;
                if (run > target)
                    break;
            }
            if (cand < 0) {
                for (int64_t i = 0; i < m && cand < 0; i++) {
                    int used = 0;
                    for (int64_t j = 0; j < c && !used; j++)
                        used = rows[j] == i;
                    if (!used)
                        cand = i;
                }
            }
            double p = pp_potential(x->dtype, xd, w, mind, m, d, cand, trial);
            if (p < best_pot || best < 0) {
                best_pot = p;
                best = cand;
                memcpy(best_trial, trial, sizeof(double) * (size_t)m);
            }
        }
        rows[c] = best;
        pot = best_pot;
        memcpy(mind, best_trial, sizeof(double) * (size_t)m);
    }
    free(mind);
    tide_tensor_release(&xc);
    return TIDE_OK;
}
