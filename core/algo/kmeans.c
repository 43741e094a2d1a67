/* kmeans.c — the k-means assignment pass (see kmeans.h): the fused GEMM argmin, distances, the
 * check for non-finite rows, and the argument checks the other kmeans files share.
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

#include "algo/kmeans_impl.h"

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

tide_status tide_kmeans_check_data(const tide_tensor *x, const char *op)
{
    char s[TIDE_SHAPE_BUF];
    if (x->ndim != 2 || !tide_dtype_is_float(x->dtype))
        return tide_fail("%s: expected a 2-D f32 or f64 data tensor (rows x features), got %s %s",
                         op, tide_dtype_name(x->dtype), tide_shape_str(x, s, sizeof s));
    return TIDE_OK;
}

tide_status tide_kmeans_check_pair(const tide_tensor *x, const tide_tensor *c, const char *op)
{
    char s[TIDE_SHAPE_BUF];
    TIDE_TRY(tide_kmeans_check_data(x, op));
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

tide_status tide_kmeans_check_f64(const tide_tensor *t, int64_t numel, const char *op,
                                  const char *what)
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
    TIDE_TRY(tide_kmeans_check_f64(io->weight, n, op, "weight"));
    TIDE_TRY(tide_kmeans_check_f64(io->sums, k * d, op, "sums"));
    TIDE_TRY(tide_kmeans_check_f64(io->counts, k, op, "counts"));
    TIDE_TRY(tide_kmeans_check_f64(io->mind, n, op, "mind"));
    const tide_tensor *l = io->labels;
    if (l && (!l->storage || l->dtype != TIDE_I32 || !tide_is_contiguous(l) || tide_numel(l) != n))
        return tide_fail("%s: labels must be a contiguous i32 tensor of %lld elements, got %s %s",
                         op, (long long)n, l->storage ? tide_dtype_name(l->dtype) : "empty",
                         l->storage ? tide_shape_str(l, s, sizeof s) : "");
    return TIDE_OK;
}

/* ---------------------------------------------------------------- per-dtype kernels */

/* These two differ by more than the type: BLAS has one entry point per precision, and the
 * AVX-512 argmin below one set of intrinsics per vector width. */

static void gemm_neg2_f32(int64_t k, int64_t m, int64_t d, const float *c, const float *x,
                          float *g)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)m, (int)d, -2.0f, c,
                (int)d, x, (int)d, 0.0f, g, (int)m);
}

static void gemm_neg2_f64(int64_t k, int64_t m, int64_t d, const double *c, const double *x,
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

#define AVX_ARGMIN(name, T, W, VEC, SET1, LOAD, ADD, CMP, MOVF, IVEC, ISET1, IZERO, MOVI,    \
                   STOREL)                                                                  \
    static int64_t argmin_simd_##name(const T *restrict g, const T *restrict cn, int64_t k,  \
                                      int64_t m, T *restrict best, int32_t *restrict lab)     \
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

AVX_ARGMIN(f32, float, 16, __m512, _mm512_set1_ps, _mm512_loadu_ps, _mm512_add_ps,
           _mm512_cmp_ps_mask, _mm512_mask_mov_ps, __m512i, set1_i32, _mm512_setzero_si512,
           _mm512_mask_mov_epi32, store_lab_ps)
AVX_ARGMIN(f64, double, 8, __m512d, _mm512_set1_pd, _mm512_loadu_pd, _mm512_add_pd,
           _mm512_cmp_pd_mask, _mm512_mask_mov_pd, __m512i, set1_i64, _mm512_setzero_si512,
           _mm512_mask_mov_epi64, store_lab_pd)
#else
#define NO_SIMD(E, name, T)                                                                 \
    static int64_t argmin_simd_##name(const T *g, const T *cn, int64_t k, int64_t m, T *best, \
                                      int32_t *lab)                                           \
    {                                                                                         \
        (void)g, (void)cn, (void)k, (void)m, (void)best, (void)lab;                           \
        return 0;                                                                             \
    }
TIDE_FOREACH_FLOAT_DTYPE(NO_SIMD)
#undef NO_SIMD
#endif

/* Everything of a pass that depends on the element type T. */
#define KMEANS_TYPED(E, name, T)                                                               \
    static void norms_##name(const T *restrict c, int64_t k, int64_t d, T *restrict cn)        \
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
    static void argmin_generic_##name(const T *restrict g, const T *restrict cn, int64_t k,    \
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
    static void rows_##name(const T *restrict x, const T *restrict c, int64_t d, int64_t r0,   \
                         int64_t m, const int32_t *restrict lab, const tide_kmeans_io *io,     \
                         tide_kmeans_stats *st)                                                \
    {                                                                                          \
        const double *w = kmeans_f64_or_null(io->weight);                                      \
        double *sums = kmeans_f64_mut_or_null(io->sums);                                      \
        double *counts = kmeans_f64_mut_or_null(io->counts);                                  \
        double *mind = kmeans_f64_mut_or_null(io->mind);                                       \
        int32_t *labels = io->labels ? (int32_t *)tide_data(io->labels) : NULL;                \
        double inertia = 0;                                                                    \
        for (int64_t i = 0; i < m; i++) {                                                      \
            int64_t r = r0 + i;                                                                \
            const T *xr = x + i * d;                                                           \
            int32_t l = lab[i];                                                                \
            double wi = w ? w[r] : 1.0;                                                        \
            double dist = kmeans_sqdist_##name(xr, c + (int64_t)l * d, d);                     \
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
    static tide_status assign_##name(const T *x, int64_t n, int64_t d, const T *c, int64_t k,  \
                                  const tide_kmeans_io *io, const tide_kmeans_fused *fz,      \
                                  tide_kmeans_stats *st)                                       \
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
        norms_##name(c, k, d, cn);                                                             \
        if (k == 1)                                                                            \
            memset(lab, 0, (size_t)chunk * sizeof(int32_t));                                   \
        for (int64_t r0 = 0; r0 < n; r0 += chunk) {                                            \
            int64_t m = n - r0 < chunk ? n - r0 : chunk;                                       \
            const T *xc = x + r0 * d;                                                          \
            double t0 = now_seconds();                                                         \
            if (fz)                                                                            \
                tide_kmeans_fused_nearest(fz, xc, m, lab);                                     \
            else if (k > 1)                                                                    \
                gemm_neg2_##name(k, m, d, c, xc, g);                                           \
            double t1 = now_seconds();                                                         \
            if (k > 1 && !fz)                                                                  \
                argmin_generic_##name(g, cn, k, m,                                            \
                                      argmin_simd_##name(g, cn, k, m, best, lab), best,       \
                                      lab);                                                   \
            rows_##name(xc, c, d, r0, m, lab, io, st);                                         \
            st->gemm_seconds += t1 - t0;                                                       \
            st->assign_seconds += now_seconds() - t1;                                          \
        }                                                                                      \
        free(g);                                                                               \
        free(best);                                                                            \
        free(lab);                                                                             \
        return TIDE_OK;                                                                        \
    }                                                                                          \
                                                                                               \
    static tide_status distances_##name(T *out, const T *x, int64_t n, int64_t d, const T *c,  \
                                     int64_t k)                                                \
    {                                                                                          \
        T *cn = malloc(sizeof(T) * (size_t)k);                                                 \
        if (!cn)                                                                               \
            return tide_fail("kmeans_distances: out of memory");                               \
        norms_##name(c, k, d, cn);                                                             \
        int64_t chunk = chunk_rows(k, sizeof(T));                                              \
        for (int64_t r0 = 0; r0 < n; r0 += chunk) {                                            \
            int64_t m = n - r0 < chunk ? n - r0 : chunk;                                       \
            T *o = out + r0 * k;                                                               \
            /* o = −2·X·Cᵀ, row-major m×k as the result wants */                               \
            gemm_neg2_##name(m, k, d, x + r0 * d, c, o);                                       \
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

TIDE_FOREACH_FLOAT_DTYPE(KMEANS_TYPED)
#undef KMEANS_TYPED

/* ---------------------------------------------------------------- passes over the data */

/* Whether the pass finds nearest centres with the fused kernel (kmeans_fused.c) rather than
 * GEMM + argmin: f32 data on a CPU with AVX-512, more than one centre, and OpenBLAS on one
 * thread (as for one rank a core): the fused kernel runs on one, where the GEMM would use
 * them all. TIDE_KMEANS_KERNEL=gemm or =fused forces one (the benchmark races them, the
 * tests run both). */
static int use_fused(tide_dtype dt, int64_t k)
{
    if (dt != TIDE_F32 || k < 2 || !tide_kmeans_fused_available())
        return 0;
    const char *kernel = getenv("TIDE_KMEANS_KERNEL");
    if (kernel)
        return strcmp(kernel, "fused") == 0;
    return openblas_get_num_threads() == 1;
}

tide_status tide_kmeans_assign(const tide_tensor *x, const tide_tensor *c, const tide_kmeans_io *io,
                               tide_kmeans_stats *stats)
{
    TIDE_TRY(tide_kmeans_check_pair(x, c, "kmeans_assign"));
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
    tide_kmeans_fused *fz = NULL;
    if (st == TIDE_OK && use_fused(x->dtype, k)) {
        fz = tide_kmeans_fused_new(tide_data(&cc), k, d);
        if (!fz)
            st = tide_fail("kmeans_assign: out of memory for %lld centres", (long long)k);
    }
    if (st == TIDE_OK) {
        switch (x->dtype) {
#define ASSIGN_CASE(E, name, T)                                                                \
    case E: st = assign_##name(tide_data(&xc), n, d, tide_data(&cc), k, io, fz, stats); break;
            TIDE_FOREACH_FLOAT_DTYPE(ASSIGN_CASE)
#undef ASSIGN_CASE
        default: break;   /* check_pair refused the rest */
        }
    }
    tide_kmeans_fused_free(fz);
    tide_tensor_release(&xc);
    tide_tensor_release(&cc);
    return st;
}

tide_status tide_kmeans_distances(tide_tensor *out, const tide_tensor *x, const tide_tensor *c)
{
    TIDE_TRY(tide_kmeans_check_pair(x, c, "kmeans_distances"));
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
        else
            switch (x->dtype) {
#define DIST_CASE(E, name, T)                                                                  \
    case E: st = distances_##name(tide_data(out), tide_data(&xc), n, d, tide_data(&cc), k); break;
                TIDE_FOREACH_FLOAT_DTYPE(DIST_CASE)
#undef DIST_CASE
            default: break;   /* check_pair refused the rest */
            }
    }
    tide_tensor_release(&xc);
    tide_tensor_release(&cc);
    if (st != TIDE_OK && was_empty)
        tide_tensor_release(out);
    return st;
}

#define NONFINITE(E, name, T)                                                            \
    static int64_t nonfinite_##name(const T *x, int64_t n, int64_t d, int *is_nan)       \
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
TIDE_FOREACH_FLOAT_DTYPE(NONFINITE)
#undef NONFINITE

tide_status tide_kmeans_nonfinite(const tide_tensor *x, int64_t *row, int *is_nan)
{
    TIDE_TRY(tide_kmeans_check_data(x, "kmeans"));
    tide_tensor xc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&xc, x));
    *is_nan = 0;
    *row = -1;
    switch (x->dtype) {
#define NONFINITE_CASE(E, name, T) \
    case E: *row = nonfinite_##name(tide_data(&xc), x->shape[0], x->shape[1], is_nan); break;
        TIDE_FOREACH_FLOAT_DTYPE(NONFINITE_CASE)
#undef NONFINITE_CASE
    default: break;   /* check_data refused the rest */
    }
    tide_tensor_release(&xc);
    return TIDE_OK;
}
