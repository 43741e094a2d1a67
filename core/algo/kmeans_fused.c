/* kmeans_fused.c — the nearest centre of f32 rows without a GEMM (see kmeans_impl.h).
 *
 * The GEMM path writes −2·C·Xᵀ for a chunk of rows to memory and reads it back for the
 * argmin. This kernel keeps a block of 6 rows x 64 centres of distances in 24 registers: the
 * centres, transposed and scaled by −2 once per pass (d x k floats, in L1 for the sizes
 * k-means runs at), lie 16 to a register, each row's feature is broadcast into them, and the
 * argmin over the block is taken before the next block starts, so no distance is stored.
 * Values are ‖c‖² − 2·x·c as in the GEMM path, summed in another order: a near-tie may
 * go the other way, as it may between two BLAS builds. Ties go to the lower index. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/kmeans_impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FUSED_X86 1
#endif

#define ROWS 6          /* rows per block (4 was 10-15% slower on an AMD EPYC, Zen 4) */
#define VECS 4          /* 16-centre vectors per block: 64 centres */

struct tide_kmeans_fused {
    int64_t k, kp, d;   /* kp: k rounded up to 16 */
    float *ct2;         /* d x kp: −2·c transposed, zero past k */
    float *cn;          /* kp: ‖c‖² (as the GEMM path rounds it), +inf past k: never nearest */
};

int tide_kmeans_fused_available(void)
{
#ifdef FUSED_X86
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

tide_kmeans_fused *tide_kmeans_fused_new(const float *c, int64_t k, int64_t d)
{
    tide_kmeans_fused *f = malloc(sizeof *f);
    int64_t kp = (k + 15) & ~(int64_t)15;
    float *mem = f ? aligned_alloc(64, (size_t)((d + 1) * kp) * sizeof(float)) : NULL;
    if (!mem) {
        free(f);
        return NULL;
    }
    *f = (tide_kmeans_fused){.k = k, .kp = kp, .d = d, .ct2 = mem, .cn = mem + d * kp};
    memset(mem, 0, (size_t)(d * kp) * sizeof(float));
    for (int64_t j = 0; j < k; j++)
        for (int64_t t = 0; t < d; t++)
            f->ct2[t * kp + j] = -2.0f * c[j * d + t];
    for (int64_t j = 0; j < kp; j++) {
        double s = 0;               /* in double, as the GEMM path's norms */
        for (int64_t t = 0; j < k && t < d; t++)
            s += (double)c[j * d + t] * (double)c[j * d + t];
        f->cn[j] = j < k ? (float)s : INFINITY;
    }
    return f;
}

void tide_kmeans_fused_free(tide_kmeans_fused *f)
{
    if (f)
        free(f->ct2);
    free(f);
}

#ifdef FUSED_X86
#define FUSED_TARGET __attribute__((target("avx512f")))

/* Rows x[0..ROWS-1] (d features each) against the nv (1..4) vectors of centres from j0: each
 * row's best value and label improve where this block holds a strictly smaller one. Inlined with a
 * constant nv, so that the accumulators live in registers. */
FUSED_TARGET static inline __attribute__((always_inline)) void
block(const tide_kmeans_fused *f, const float *const *x, int64_t j0, int nv, float *best,
      int32_t *lab)
{
    __m512 acc[ROWS][VECS];
    for (int v = 0; v < nv; v++)
        for (int r = 0; r < ROWS; r++)
            acc[r][v] = _mm512_load_ps(f->cn + j0 + 16 * v);
    const float *ct = f->ct2 + j0;
    for (int64_t t = 0; t < f->d; t++, ct += f->kp) {
        __m512 cv[VECS];
        for (int v = 0; v < nv; v++)
            cv[v] = _mm512_load_ps(ct + 16 * v);
        for (int r = 0; r < ROWS; r++) {
            __m512 xv = _mm512_set1_ps(x[r][t]);
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_fmadd_ps(xv, cv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < ROWS; r++) {
        __m512 mn = acc[r][0];
        for (int v = 1; v < nv; v++)
            mn = _mm512_min_ps(mn, acc[r][v]);
        float s = _mm512_reduce_min_ps(mn);
        if (!(s < best[r]))
            continue;
        __m512 sv = _mm512_set1_ps(s);
        for (int v = 0; v < nv; v++) {      /* the first lane holding the minimum */
            __mmask16 eq = _mm512_cmp_ps_mask(acc[r][v], sv, _CMP_EQ_OQ);
            if (eq) {
                best[r] = s;
                lab[r] = (int32_t)(j0 + 16 * v + __builtin_ctz(eq));
                break;
            }
        }
    }
}

FUSED_TARGET static void nearest_avx512(const tide_kmeans_fused *f, const float *x, int64_t m,
                                        int32_t *labels)
{
    int64_t d = f->d;
    for (int64_t i0 = 0; i0 < m; i0 += ROWS) {
        const float *xr[ROWS];      /* rows past m repeat row i0: computed and dropped */
        for (int r = 0; r < ROWS; r++)
            xr[r] = x + (i0 + r < m ? i0 + r : i0) * d;
        float best[ROWS];
        int32_t lab[ROWS] = {0};
        for (int r = 0; r < ROWS; r++)
            best[r] = INFINITY;
        int64_t j0 = 0;
        for (; j0 + 16 * VECS <= f->kp; j0 += 16 * VECS)
            block(f, xr, j0, VECS, best, lab);
        switch ((f->kp - j0) / 16) {
        case 3: block(f, xr, j0, 3, best, lab); break;
        case 2: block(f, xr, j0, 2, best, lab); break;
        case 1: block(f, xr, j0, 1, best, lab); break;
        default: break;
        }
        for (int r = 0; r < ROWS && i0 + r < m; r++)
            labels[i0 + r] = lab[r];
    }
}
#endif

void tide_kmeans_fused_nearest(const tide_kmeans_fused *f, const void *x, int64_t m,
                               int32_t *labels)
{
#ifdef FUSED_X86
    nearest_avx512(f, x, m, labels);
#else
    (void)f, (void)x, (void)m, (void)labels;   /* never called: fused_available() said no */
#endif
}
