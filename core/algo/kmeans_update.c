/* kmeans_update.c — the centre update of Lloyd and mini-batch k-means, and the rows farthest
 * from their centres (see kmeans.h). */
#include "algo/kmeans.h"

#include "algo/kmeans_impl.h"

/* c_new = (prior·c_old + sums) / (prior + counts) where that is positive, else c_old */
#define UPDATE(E, name, T)                                                                   \
    static void update_##name(T *cnew, const double *sums, const double *counts,             \
                              double *prior, const T *cold, int64_t k, int64_t d,            \
                              double *shift2, double *norm2, int64_t *empty)                 \
    {                                                                                        \
        for (int64_t j = 0; j < k; j++) {                                                    \
            double p = prior ? prior[j] : 0, tot = p + counts[j];                            \
            for (int64_t t = 0; t < d; t++) {                                                \
                T o = cold[j * d + t];                                                       \
                T v = tot > 0 ? (T)((p * (double)o + sums[j * d + t]) / tot) : o;            \
                double e = (double)v - (double)o;                                            \
                *shift2 += e * e;                                                            \
                *norm2 += (double)o * (double)o;                                             \
                cnew[j * d + t] = v;                                                         \
            }                                                                                \
            if (prior)                                                                       \
                prior[j] = tot;                                                              \
            *empty += !(tot > 0);                                                            \
        }                                                                                    \
    }
TIDE_FOREACH_FLOAT_DTYPE(UPDATE)
#undef UPDATE

tide_status tide_kmeans_update(tide_tensor *c_new, const tide_tensor *sums,
                               const tide_tensor *counts, tide_tensor *prior,
                               const tide_tensor *c_old, double *shift2, double *norm2,
                               int64_t *n_empty)
{
    const char *op = "kmeans_update";
    char s[TIDE_SHAPE_BUF];
    if (c_old->ndim != 2 || !tide_dtype_is_float(c_old->dtype))
        return tide_fail("%s: expected 2-D f32 or f64 centres, got %s %s", op,
                         tide_dtype_name(c_old->dtype), tide_shape_str(c_old, s, sizeof s));
    int64_t k = c_old->shape[0], d = c_old->shape[1];
    TIDE_TRY(tide_kmeans_check_f64(sums, k * d, op, "sums"));
    TIDE_TRY(tide_kmeans_check_f64(counts, k, op, "counts"));
    TIDE_TRY(tide_kmeans_check_f64(prior, k, op, "prior counts"));
    int was_empty = c_new->storage == NULL;
    TIDE_TRY(tide_prepare_out(c_new, c_old->dtype, 2, c_old->shape, op));
    /* c_old is copied first: c_new may be c_old itself (an in-place update) */
    tide_tensor oc = TIDE_TENSOR_EMPTY;
    tide_status st = tide_is_contiguous(c_new) ? tide_clone(&oc, c_old)
                                               : tide_fail("%s: the output must be contiguous", op);
    *shift2 = *norm2 = 0;
    *n_empty = 0;
    double *pr = kmeans_f64_mut_or_null(prior);
    if (st == TIDE_OK) {
        switch (c_old->dtype) {
#define UPDATE_CASE(E, name, T)                                                           \
    case E:                                                                               \
        update_##name(tide_data(c_new), tide_data(sums), tide_data(counts), pr,           \
                      tide_data(&oc), k, d, shift2, norm2, n_empty);                      \
        break;
            TIDE_FOREACH_FLOAT_DTYPE(UPDATE_CASE)
#undef UPDATE_CASE
        default: break;   /* refused above */
        }
    }
    tide_tensor_release(&oc);
    if (st != TIDE_OK && was_empty)
        tide_tensor_release(c_new);
    return st;
}

/* Keeps the m largest (d2, row) seen so far in descending order; equal distances keep the lower
 * row first because rows arrive in increasing order. */
static void top_insert(int64_t *rows, double *d2, int64_t *found, int64_t m, int64_t r, double v)
{
    if (*found == m && !(v > d2[m - 1]))
        return;
    int64_t p = *found < m ? (*found)++ : m - 1;
    while (p > 0 && v > d2[p - 1]) {
        d2[p] = d2[p - 1];
        rows[p] = rows[p - 1];
        p--;
    }
    d2[p] = v;
    rows[p] = r;
}

tide_status tide_kmeans_farthest(const tide_tensor *x, const tide_tensor *c,
                                 const tide_tensor *labels, int32_t label_base, int64_t m,
                                 int64_t *rows, double *d2, int64_t *found)
{
    const char *op = "kmeans_farthest";
    TIDE_TRY(tide_kmeans_check_pair(x, c, op));
    int64_t n = x->shape[0], d = x->shape[1], k = c->shape[0];
    if (labels->dtype != TIDE_I32 || tide_numel(labels) != n || !tide_is_contiguous(labels))
        return tide_fail("%s: labels must be a contiguous i32 tensor of %lld elements", op,
                         (long long)n);
    *found = 0;
    if (m <= 0)
        return TIDE_OK;
    tide_tensor xc = TIDE_TENSOR_EMPTY, cc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&xc, x));
    tide_status st = tide_contiguous(&cc, c);
    const int32_t *lab = tide_data(labels);
    for (int64_t r = 0; st == TIDE_OK && r < n; r++) {
        int64_t l = (int64_t)lab[r] - label_base;
        if (l < 0 || l >= k) {
            st = tide_fail("%s: label %lld of row %lld is outside 1..%lld", op,
                           (long long)(l + 1), (long long)r + 1, (long long)k);
            break;
        }
        top_insert(rows, d2, found, m, r,
                   kmeans_sqdist_rows(x->dtype, tide_data(&xc), r, tide_data(&cc), l, d));
    }
    tide_tensor_release(&xc);
    tide_tensor_release(&cc);
    return st;
}
