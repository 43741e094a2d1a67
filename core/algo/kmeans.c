/* kmeans.c — the k-means kernels (see kmeans.h): the fused GEMM assignment pass, distances,
 * the centre update, farthest points, and the counter-based sampling of k-means|| and k-means++.
 *
 * The assignment pass works on chunks of rows. For a chunk X (m×d) it computes
 * G = −2·C·Xᵀ (k×m) with one GEMM, so that for a fixed row the k candidate values
 * G[j][i] + ‖c_j‖² sit in one column: the argmin then runs across rows, j by j, over
 * contiguous memory, whole vectors of rows at a time. ‖x‖² is the same for all centres of a
 * row, so the argmin does not need it. The chunk is sized to keep G near 512 KiB,
 * inside L2 next to the chunk's rows. */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime */
#include "algo/kmeans.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define G_BUDGET_BYTES (512 * 1024)
#define CHUNK_MIN 64
#define CHUNK_MAX 4096

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* aligned_alloc wants a size that is a multiple of the alignment */
static void *alloc64(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

static int64_t chunk_rows(int64_t k, size_t elem)
{
    int64_t m = G_BUDGET_BYTES / (k * (int64_t)elem);
    m = m < CHUNK_MIN ? CHUNK_MIN : m > CHUNK_MAX ? CHUNK_MAX : m;
    return m & ~(int64_t)63;
}

/* ---------------------------------------------------------------- argument checks */

static tide_status check_data(const tide_tensor *x, const char *op)
{
    char s[TIDE_SHAPE_BUF];
    if (x->ndim != 2 || !tide_dtype_is_float(x->dtype))
        return tide_fail("%s: expected a 2-D f32 or f64 data tensor (rows x features), got %s %s",
                         op, tide_dtype_name(x->dtype), tide_shape_str(x, s, sizeof s));
    return TIDE_OK;
}

static tide_status check_pair(const tide_tensor *x, const tide_tensor *c, const char *op)
{
    char s[TIDE_SHAPE_BUF];
    TIDE_TRY(check_data(x, op));
    if (c->ndim != 2)
        return tide_fail("%s: expected 2-D centres (k x features), got %s", op,
                         tide_shape_str(c, s, sizeof s));
    if (c->dtype != x->dtype)
        return tide_fail("%s: the data is %s but the centres are %s", op,
                         tide_dtype_name(x->dtype), tide_dtype_name(c->dtype));
    if (c->shape[1] != x->shape[1])
        return tide_fail("%s: the data has %lld features but the centres have %lld (centres %s)",
                         op, (long long)x->shape[1], (long long)c->shape[1],
                         tide_shape_str(c, s, sizeof s));
    if (c->shape[0] < 1)
        return tide_fail("%s: expected at least one centre, got %s", op,
                         tide_shape_str(c, s, sizeof s));
    return TIDE_OK;
}

/* An optional f64 contiguous vector/matrix argument with exactly numel elements. */
static tide_status check_f64(const tide_tensor *t, int64_t numel, const char *op, const char *what)
{
    if (!t)
        return TIDE_OK;
    char s[TIDE_SHAPE_BUF];
    if (!t->storage)
        return tide_fail("%s: %s is an empty tensor slot", op, what);
    if (t->dtype != TIDE_F64 || !tide_is_contiguous(t) || tide_numel(t) != numel)
        return tide_fail("%s: %s must be a contiguous f64 tensor of %lld elements, got %s %s", op,
                         what, (long long)numel, tide_dtype_name(t->dtype),
                         tide_shape_str(t, s, sizeof s));
    return TIDE_OK;
}

static tide_status check_io(const tide_kmeans_io *io, int64_t n, int64_t k, int64_t d)
{
    const char *op = "kmeans_assign";
    char s[TIDE_SHAPE_BUF];
    TIDE_TRY(check_f64(io->weight, n, op, "weight"));
    TIDE_TRY(check_f64(io->sums, k * d, op, "sums"));
    TIDE_TRY(check_f64(io->counts, k, op, "counts"));
    TIDE_TRY(check_f64(io->mind, n, op, "mind"));
    const tide_tensor *l = io->labels;
    if (l && (!l->storage || l->dtype != TIDE_I32 || !tide_is_contiguous(l) || tide_numel(l) != n))
        return tide_fail("%s: labels must be a contiguous i32 tensor of %lld elements, got %s %s",
                         op, (long long)n, l->storage ? tide_dtype_name(l->dtype) : "empty",
                         l->storage ? tide_shape_str(l, s, sizeof s) : "");
    return TIDE_OK;
}

static const double *f64_or_null(const tide_tensor *t) { return t ? tide_data(t) : NULL; }
static double *f64_mut_or_null(tide_tensor *t) { return t ? tide_data(t) : NULL; }

/* ---------------------------------------------------------------- per-dtype kernels */

static void gemm_neg2_float(int64_t k, int64_t m, int64_t d, const float *c, const float *x,
                            float *g)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)m, (int)d, -2.0f, c,
                (int)d, x, (int)d, 0.0f, g, (int)m);
}

static void gemm_neg2_double(int64_t k, int64_t m, int64_t d, const double *c, const double *x,
                             double *g)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)m, (int)d, -2.0, c, (int)d,
                x, (int)d, 0.0, g, (int)m);
}

/* The argmin over centres for as many rows of a chunk as whole vectors cover; returns the first
 * row left for argmin_generic. With AVX-512, four vectors of rows keep their running minima
 * and labels in registers across all k centres, so nothing is stored inside the loop. (GCC
 * vectorises the generic form too, but turns its conditional updates into masked stores
 * behind data-dependent branches: 3 to 8 times slower on random data.) */
#ifdef __AVX512F__
#include <immintrin.h>

#define AVX_ARGMIN(T, W, VEC, SET1, LOAD, ADD, CMP, MOVF, IVEC, ISET1, IZERO, MOVI, STOREL)   \
    static int64_t argmin_simd_##T(const T *restrict g, const T *restrict cn, int64_t k,     \
                                   int64_t m, T *restrict best, int32_t *restrict lab)        \
    {                                                                                         \
        int64_t i0 = 0;                                                                       \
        for (; i0 + 4 * W <= m; i0 += 4 * W) {                                                \
            VEC c0 = SET1(cn[0]);                                                             \
            VEC b[4];                                                                         \
            IVEC l[4];                                                                        \
            for (int q = 0; q < 4; q++) {                                                     \
                b[q] = ADD(LOAD(g + i0 + q * W), c0);                                         \
                l[q] = IZERO();                                                               \
            }                                                                                 \
            for (int64_t j = 1; j < k; j++) {                                                 \
                const T *gj = g + j * m + i0;                                                 \
                VEC cj = SET1(cn[j]);                                                         \
                IVEC jv = ISET1(j);                                                           \
                for (int q = 0; q < 4; q++) {                                                 \
                    VEC v = ADD(LOAD(gj + q * W), cj);                                        \
                    __mmask16 lt = CMP(v, b[q], _CMP_LT_OQ);                                  \
                    b[q] = MOVF(b[q], lt, v);                                                 \
                    l[q] = MOVI(l[q], lt, jv);                                                \
                }                                                                             \
            }                                                                                 \
            for (int q = 0; q < 4; q++)                                                       \
                STOREL(lab + i0 + q * W, l[q]);                                               \
        }                                                                                     \
        (void)best;                                                                           \
        return i0;                                                                            \
    }

static inline void store_lab_ps(int32_t *p, __m512i l) { _mm512_storeu_si512(p, l); }
static inline void store_lab_pd(int32_t *p, __m512i l)
{
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi64_epi32(l));
}
static inline __m512i set1_i32(int64_t j) { return _mm512_set1_epi32((int)j); }
static inline __m512i set1_i64(int64_t j) { return _mm512_set1_epi64(j); }

AVX_ARGMIN(float, 16, __m512, _mm512_set1_ps, _mm512_loadu_ps, _mm512_add_ps, _mm512_cmp_ps_mask,
           _mm512_mask_mov_ps, __m512i, set1_i32, _mm512_setzero_si512, _mm512_mask_mov_epi32,
           store_lab_ps)
AVX_ARGMIN(double, 8, __m512d, _mm512_set1_pd, _mm512_loadu_pd, _mm512_add_pd,
           _mm512_cmp_pd_mask, _mm512_mask_mov_pd, __m512i, set1_i64, _mm512_setzero_si512,
           _mm512_mask_mov_epi64, store_lab_pd)
#else
static int64_t argmin_simd_float(const float *g, const float *cn, int64_t k, int64_t m,
                                 float *best, int32_t *lab)
{
    (void)g, (void)cn, (void)k, (void)m, (void)best, (void)lab;
    return 0;
}
static int64_t argmin_simd_double(const double *g, const double *cn, int64_t k, int64_t m,
                                  double *best, int32_t *lab)
{
    (void)g, (void)cn, (void)k, (void)m, (void)best, (void)lab;
    return 0;
}
#endif

/* Everything of a pass that depends on the element type T. */
#define KMEANS_TYPED(T)                                                                        \
    /* Σ(a − b)² in T over one row (d is small), returned as double for summing over rows */ \
    static double sqdist_##T(const T *restrict a, const T *restrict b, int64_t d)              \
    {                                                                                          \
        T s = 0;                                                                               \
        for (int64_t t = 0; t < d; t++) {                                                      \
            T e = a[t] - b[t];                                                                 \
            s += e * e;                                                                        \
        }                                                                                      \
        return (double)s;                                                                      \
    }                                                                                          \
                                                                                               \
    static void norms_##T(const T *restrict c, int64_t k, int64_t d, T *restrict cn)           \
    {                                                                                          \
        for (int64_t j = 0; j < k; j++) {                                                      \
            double s = 0;                                                                      \
            for (int64_t t = 0; t < d; t++)                                                    \
                s += (double)c[j * d + t] * (double)c[j * d + t];                              \
            cn[j] = (T)s;                                                                      \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    /* best[i], lab[i] = min, argmin over j of g[j][i] + cn[j], for rows i0..m−1 */            \
    static void argmin_generic_##T(const T *restrict g, const T *restrict cn, int64_t k,      \
                                   int64_t m, int64_t i0, T *restrict best,                    \
                                   int32_t *restrict lab)                                      \
    {                                                                                          \
        for (int64_t i = i0; i < m; i++) {                                                     \
            best[i] = g[i] + cn[0];                                                            \
            lab[i] = 0;                                                                        \
        }                                                                                      \
        for (int64_t j = 1; j < k; j++) {                                                      \
            const T *restrict gj = g + j * m;                                                  \
            T cj = cn[j];                                                                      \
            int32_t jj = (int32_t)j;                                                           \
            for (int64_t i = i0; i < m; i++) {                                                 \
                T v = gj[i] + cj;                                                              \
                int lt = v < best[i];                                                          \
                best[i] = lt ? v : best[i];                                                    \
                lab[i] = lt ? jj : lab[i];                                                     \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    /* The per-row bookkeeping after the argmin of a chunk starting at row r0. */              \
    static void rows_##T(const T *restrict x, const T *restrict c, int64_t d, int64_t r0,      \
                         int64_t m, const int32_t *restrict lab, const tide_kmeans_io *io,     \
                         tide_kmeans_stats *st)                                                \
    {                                                                                          \
        const double *w = f64_or_null(io->weight);                                             \
        double *sums = f64_mut_or_null(io->sums), *counts = f64_mut_or_null(io->counts);       \
        double *mind = f64_mut_or_null(io->mind);                                              \
        int32_t *labels = io->labels ? (int32_t *)tide_data(io->labels) : NULL;                \
        double inertia = 0;                                                                    \
        for (int64_t i = 0; i < m; i++) {                                                      \
            int64_t r = r0 + i;                                                                \
            const T *xr = x + i * d;                                                           \
            int32_t l = lab[i];                                                                \
            double wi = w ? w[r] : 1.0;                                                        \
            double dist = sqdist_##T(xr, c + (int64_t)l * d, d);                               \
            if (!isfinite(dist) && st->first_bad < 0)                                          \
                st->first_bad = r;                                                             \
            inertia += wi * dist;                                                              \
            if (labels) {                                                                      \
                int32_t nl = l + io->label_base;                                               \
                st->changed += io->count_changes && labels[r] != nl;                           \
                labels[r] = nl;                                                                \
            }                                                                                  \
            if (sums) {                                                                        \
                double *restrict sr = sums + (int64_t)l * d;                                   \
                for (int64_t t = 0; t < d; t++)                                                \
                    sr[t] += wi * (double)xr[t];                                               \
            }                                                                                  \
            if (counts)                                                                        \
                counts[l] += wi;                                                               \
            if (mind)                                                                          \
                mind[r] = io->mind_update && mind[r] < dist ? mind[r] : dist;                  \
        }                                                                                      \
        st->inertia += inertia;                                                                \
    }                                                                                          \
                                                                                               \
    static tide_status assign_##T(const T *x, int64_t n, int64_t d, const T *c, int64_t k,     \
                                  const tide_kmeans_io *io, tide_kmeans_stats *st)             \
    {                                                                                          \
        int64_t chunk = chunk_rows(k, sizeof(T));                                              \
        T *g = k > 1 ? alloc64((size_t)(k * chunk) * sizeof(T)) : NULL;                        \
        T *best = alloc64((size_t)chunk * sizeof(T) + sizeof(T) * (size_t)k);                  \
        int32_t *lab = alloc64((size_t)chunk * sizeof(int32_t));                               \
        if ((k > 1 && !g) || !best || !lab) {                                                  \
            free(g);                                                                           \
            free(best);                                                                        \
            free(lab);                                                                         \
            return tide_fail("kmeans_assign: out of memory for a %lld-row chunk",              \
                             (long long)chunk);                                                \
        }                                                                                      \
        T *cn = best + chunk;                                                                  \
        norms_##T(c, k, d, cn);                                                                \
        if (k == 1)                                                                            \
            memset(lab, 0, (size_t)chunk * sizeof(int32_t));                                   \
        for (int64_t r0 = 0; r0 < n; r0 += chunk) {                                            \
            int64_t m = n - r0 < chunk ? n - r0 : chunk;                                       \
            const T *xc = x + r0 * d;                                                          \
            double t0 = now_seconds();                                                         \
            if (k > 1)                                                                         \
                gemm_neg2_##T(k, m, d, c, xc, g);                                              \
            double t1 = now_seconds();                                                         \
            if (k > 1)                                                                         \
                argmin_generic_##T(g, cn, k, m, argmin_simd_##T(g, cn, k, m, best, lab), best, \
                                   lab);                                                       \
            rows_##T(xc, c, d, r0, m, lab, io, st);                                            \
            st->gemm_seconds += t1 - t0;                                                       \
            st->assign_seconds += now_seconds() - t1;                                          \
        }                                                                                      \
        free(g);                                                                               \
        free(best);                                                                            \
        free(lab);                                                                             \
        return TIDE_OK;                                                                        \
    }                                                                                          \
                                                                                               \
    static tide_status distances_##T(T *out, const T *x, int64_t n, int64_t d, const T *c,     \
                                     int64_t k)                                                \
    {                                                                                          \
        T *cn = malloc(sizeof(T) * (size_t)k);                                                 \
        if (!cn)                                                                               \
            return tide_fail("kmeans_distances: out of memory");                               \
        norms_##T(c, k, d, cn);                                                                \
        int64_t chunk = chunk_rows(k, sizeof(T));                                              \
        for (int64_t r0 = 0; r0 < n; r0 += chunk) {                                            \
            int64_t m = n - r0 < chunk ? n - r0 : chunk;                                       \
            T *o = out + r0 * k;                                                               \
            /* o = −2·X·Cᵀ, row-major m×k as the result wants */                               \
            gemm_neg2_##T(m, k, d, x + r0 * d, c, o);                                          \
            for (int64_t i = 0; i < m; i++) {                                                  \
                double xn = 0;                                                                 \
                for (int64_t t = 0; t < d; t++)                                                \
                    xn += (double)x[(r0 + i) * d + t] * (double)x[(r0 + i) * d + t];           \
                for (int64_t j = 0; j < k; j++) {                                              \
                    T v = (T)xn + cn[j] + o[i * k + j];                                        \
                    o[i * k + j] = v > 0 ? (T)sqrt((double)v) : 0;                             \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        free(cn);                                                                              \
        return TIDE_OK;                                                                        \
    }                                                                                          \
                                                                                               \
    /* c_new = (prior·c_old + sums) / (prior + counts) where that is positive, else c_old */  \
    static void update_##T(T *cnew, const double *sums, const double *counts, double *prior,  \
                           const T *cold, int64_t k, int64_t d, double *shift2, double *norm2, \
                           int64_t *empty)                                                     \
    {                                                                                          \
        for (int64_t j = 0; j < k; j++) {                                                      \
            double p = prior ? prior[j] : 0, tot = p + counts[j];                              \
            for (int64_t t = 0; t < d; t++) {                                                  \
                T o = cold[j * d + t];                                                         \
                T v = tot > 0 ? (T)((p * (double)o + sums[j * d + t]) / tot) : o;              \
                double e = (double)v - (double)o;                                              \
                *shift2 += e * e;                                                              \
                *norm2 += (double)o * (double)o;                                               \
                cnew[j * d + t] = v;                                                           \
            }                                                                                  \
            if (prior)                                                                         \
                prior[j] = tot;                                                                \
            *empty += !(tot > 0);                                                              \
        }                                                                                      \
    }

KMEANS_TYPED(float)
KMEANS_TYPED(double)

/* ---------------------------------------------------------------- passes over the data */

tide_status tide_kmeans_assign(const tide_tensor *x, const tide_tensor *c, const tide_kmeans_io *io,
                               tide_kmeans_stats *stats)
{
    TIDE_TRY(check_pair(x, c, "kmeans_assign"));
    int64_t n = x->shape[0], d = x->shape[1], k = c->shape[0];
    if (k > INT32_MAX || n > INT32_MAX || d > INT32_MAX)
        return tide_fail("kmeans_assign: sizes beyond 2^31 are not supported (n=%lld, k=%lld)",
                         (long long)n, (long long)k);
    TIDE_TRY(check_io(io, n, k, d));
    memset(stats, 0, sizeof *stats);
    stats->first_bad = -1;
    if (n == 0 || d == 0)
        return TIDE_OK;
    tide_tensor xc = TIDE_TENSOR_EMPTY, cc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&xc, x));
    tide_status st = tide_contiguous(&cc, c);
    if (st == TIDE_OK) {
        if (x->dtype == TIDE_F32)
            st = assign_float(tide_data(&xc), n, d, tide_data(&cc), k, io, stats);
        else
            st = assign_double(tide_data(&xc), n, d, tide_data(&cc), k, io, stats);
    }
    tide_tensor_release(&xc);
    tide_tensor_release(&cc);
    return st;
}

tide_status tide_kmeans_distances(tide_tensor *out, const tide_tensor *x, const tide_tensor *c)
{
    TIDE_TRY(check_pair(x, c, "kmeans_distances"));
    int64_t n = x->shape[0], d = x->shape[1], k = c->shape[0];
    int64_t shape[2] = {n, k};
    int was_empty = out->storage == NULL;
    TIDE_TRY(tide_prepare_out(out, x->dtype, 2, shape, "kmeans_distances"));
    if (!tide_is_contiguous(out))
        return tide_fail("kmeans_distances: the output must be contiguous");
    tide_tensor xc = TIDE_TENSOR_EMPTY, cc = TIDE_TENSOR_EMPTY;
    tide_status st = tide_contiguous(&xc, x);
    if (st == TIDE_OK)
        st = tide_contiguous(&cc, c);
    if (st == TIDE_OK && n > 0) {
        if (d == 0)
            st = tide_fill(out, 0);
        else if (x->dtype == TIDE_F32)
            st = distances_float(tide_data(out), tide_data(&xc), n, d, tide_data(&cc), k);
        else
            st = distances_double(tide_data(out), tide_data(&xc), n, d, tide_data(&cc), k);
    }
    tide_tensor_release(&xc);
    tide_tensor_release(&cc);
    if (st != TIDE_OK && was_empty)
        tide_tensor_release(out);
    return st;
}

#define NONFINITE(T)                                                                  \
    static int64_t nonfinite_##T(const T *x, int64_t n, int64_t d, int *is_nan)       \
    {                                                                                 \
        for (int64_t r = 0; r < n; r++) {                                             \
            T s = 0;                                                                  \
            for (int64_t t = 0; t < d; t++)                                           \
                s += x[r * d + t] * (T)0;                                             \
            if (s == s)                                                               \
                continue;                                                             \
            /* x·0 is NaN exactly for NaN and ±inf; tell the two apart */             \
            *is_nan = 0;                                                              \
            for (int64_t t = 0; t < d; t++)                                           \
                *is_nan |= isnan(x[r * d + t]);                                       \
            return r;                                                                 \
        }                                                                             \
        return -1;                                                                    \
    }
NONFINITE(float)
NONFINITE(double)

tide_status tide_kmeans_nonfinite(const tide_tensor *x, int64_t *row, int *is_nan)
{
    TIDE_TRY(check_data(x, "kmeans"));
    tide_tensor xc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&xc, x));
    *is_nan = 0;
    if (x->dtype == TIDE_F32)
        *row = nonfinite_float(tide_data(&xc), x->shape[0], x->shape[1], is_nan);
    else
        *row = nonfinite_double(tide_data(&xc), x->shape[0], x->shape[1], is_nan);
    tide_tensor_release(&xc);
    return TIDE_OK;
}

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
    TIDE_TRY(check_f64(sums, k * d, op, "sums"));
    TIDE_TRY(check_f64(counts, k, op, "counts"));
    TIDE_TRY(check_f64(prior, k, op, "prior counts"));
    int was_empty = c_new->storage == NULL;
    TIDE_TRY(tide_prepare_out(c_new, c_old->dtype, 2, c_old->shape, op));
    /* c_old is copied first: c_new may be c_old itself (an in-place update) */
    tide_tensor oc = TIDE_TENSOR_EMPTY;
    tide_status st = tide_is_contiguous(c_new) ? tide_clone(&oc, c_old)
                                               : tide_fail("%s: the output must be contiguous", op);
    *shift2 = *norm2 = 0;
    *n_empty = 0;
    double *pr = f64_mut_or_null(prior);
    if (st == TIDE_OK) {
        if (c_old->dtype == TIDE_F32)
            update_float(tide_data(c_new), tide_data(sums), tide_data(counts), pr, tide_data(&oc),
                         k, d, shift2, norm2, n_empty);
        else
            update_double(tide_data(c_new), tide_data(sums), tide_data(counts), pr,
                          tide_data(&oc), k, d, shift2, norm2, n_empty);
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
    TIDE_TRY(check_pair(x, c, op));
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
        double v = x->dtype == TIDE_F32
                       ? sqdist_float((const float *)tide_data(&xc) + r * d,
                                      (const float *)tide_data(&cc) + l * d, d)
                       : sqdist_double((const double *)tide_data(&xc) + r * d,
                                       (const double *)tide_data(&cc) + l * d, d);
        top_insert(rows, d2, found, m, r, v);
    }
    tide_tensor_release(&xc);
    tide_tensor_release(&cc);
    return st;
}

/* ---------------------------------------------------------------- counter-based randomness */

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
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
    TIDE_TRY(check_f64(mind, n, "kmeans_sample", "mind"));
    TIDE_TRY(check_f64(weight, n, "kmeans_sample", "weight"));
    const double *v = tide_data(mind), *w = f64_or_null(weight);
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
    TIDE_TRY(check_f64(v, n, "kmeans_pick", "values"));
    TIDE_TRY(check_f64(weight, n, "kmeans_pick", "weight"));
    const double *a = f64_or_null(v), *w = f64_or_null(weight);
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
    TIDE_TRY(check_f64(v, n, "kmeans_potential", "values"));
    TIDE_TRY(check_f64(weight, n, "kmeans_potential", "weight"));
    const double *a = f64_or_null(v), *w = f64_or_null(weight);
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
    TIDE_TRY(check_f64(weight, n, "kmeans", "sample_weight"));
    const double *w = tide_data(weight);
    *row = -1;
    for (int64_t i = 0; i < n; i++)
        if (!(w[i] >= 0) || !isfinite(w[i])) {
            *row = i;
            break;
        }
    return TIDE_OK;
}

#define TRIALS(T)                                                                         \
    static void trials_##T(const T *x, int64_t n, int64_t d, const T *cand, int64_t L,    \
                           const double *mind, const double *w, double *sums)             \
    {                                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                 \
            double wi = w ? w[i] : 1.0;                                                   \
            for (int64_t c = 0; c < L; c++) {                                             \
                double e = sqdist_##T(x + i * d, cand + c * d, d);                        \
                sums[c] += wi * (e < mind[i] ? e : mind[i]);                              \
            }                                                                             \
        }                                                                                 \
    }
TRIALS(float)
TRIALS(double)

tide_status tide_kmeans_trials(const tide_tensor *x, const tide_tensor *cands,
                               const tide_tensor *mind, const tide_tensor *weight, double *sums)
{
    const char *op = "kmeans_trials";
    TIDE_TRY(check_pair(x, cands, op));
    int64_t n = x->shape[0], d = x->shape[1], L = cands->shape[0];
    TIDE_TRY(check_f64(mind, n, op, "mind"));
    TIDE_TRY(check_f64(weight, n, op, "weight"));
    for (int64_t c = 0; c < L; c++)
        sums[c] = 0;
    tide_tensor xc = TIDE_TENSOR_EMPTY, cc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&xc, x));
    tide_status st = tide_contiguous(&cc, cands);
    if (st == TIDE_OK) {
        if (x->dtype == TIDE_F32)
            trials_float(tide_data(&xc), n, d, tide_data(&cc), L, tide_data(mind),
                         f64_or_null(weight), sums);
        else
            trials_double(tide_data(&xc), n, d, tide_data(&cc), L, tide_data(mind),
                          f64_or_null(weight), sums);
    }
    tide_tensor_release(&xc);
    tide_tensor_release(&cc);
    return st;
}

/* Σ_i w_i · min(mind_i, ‖x_i − x_cand‖²): the potential if cand were added (into trial). */
#define PP_POTENTIAL(T)                                                                   \
    static double pp_potential_##T(const T *x, const double *w, const double *mind,      \
                                   int64_t m, int64_t d, int64_t cand, double *trial)    \
    {                                                                                     \
        double pot = 0;                                                                   \
        for (int64_t i = 0; i < m; i++) {                                                 \
            double e = sqdist_##T(x + i * d, x + cand * d, d);                            \
            trial[i] = e < mind[i] ? e : mind[i];                                         \
            pot += (w ? w[i] : 1.0) * trial[i];                                           \
        }                                                                                 \
        return pot;                                                                       \
    }
PP_POTENTIAL(float)
PP_POTENTIAL(double)

tide_status tide_kmeans_plusplus(const tide_tensor *x, const tide_tensor *weight, int64_t k,
                                 int trials, uint64_t seed, int64_t *rows)
{
    const char *op = "kmeans_plusplus";
    TIDE_TRY(check_data(x, op));
    int64_t m = x->shape[0], d = x->shape[1];
    TIDE_TRY(check_f64(weight, m, op, "weight"));
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
    const double *w = f64_or_null(weight);
    int f32 = x->dtype == TIDE_F32;
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
    double pot = f32 ? pp_potential_float(xd, w, mind, m, d, first, trial)
                     : pp_potential_double(xd, w, mind, m, d, first, trial);
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
            double p = f32 ? pp_potential_float(xd, w, mind, m, d, cand, trial)
                           : pp_potential_double(xd, w, mind, m, d, cand, trial);
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
