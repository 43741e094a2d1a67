/* qgemm.c — int8 GEMM with portable, AVX2 and AVX-512 VNNI paths, and quantized Linear
 * (see qgemm.h). */
#include "nn/qgemm.h"
#include "tensor/dtype.h"
#include "tensor/tide_error.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TIDE_QGEMM_X86 1
#endif

/* ---------------------------------------------------------------- portable */

static void qgemm_portable(int64_t M, int64_t N, int64_t K, const int8_t *a, const int8_t *b,
                           int32_t *c)
{
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            const int8_t *x = a + m * K, *w = b + n * K;
            int32_t acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += (int32_t)x[k] * (int32_t)w[k];
            c[m * N + n] = acc;
        }
}

/* ---------------------------------------------------------------- packed weights */

/* The AVX2 and VNNI paths read the weights packed once into panels of 32 output channels.
 * Inside a panel, group g (k = 4g .. 4g+3) is 128 contiguous bytes: 4 bytes for each of the
 * 32 channels, zero past N and K. A panel (K/4 x 128 bytes: 25 KB at K = 784) is read front
 * to back and stays in L1 while every row block of the activations passes over it. After the
 * panels come 128 * each weight row's sum (Np int32s), which the VNNI path needs. */
#define QG_PANEL 32

static int64_t packed_bytes(int64_t N, int64_t K)
{
    int64_t Kp = 4 * ((K + 3) / 4), Np = (N + 31) & ~(int64_t)31;
    return Kp * Np + 4 * Np;
}

/* The packed weights (Kp x Np bytes, see above) and 128 * each row's sum (Np int32s, zero
 * past N) from b (N x K). */
static void pack_weights(int8_t *bp, int32_t *rs, int64_t N, int64_t K, int64_t Kp, int64_t Np,
                         const int8_t *b)
{
    memset(bp, 0, (size_t)(Kp * Np));
    int64_t G = Kp / 4;
    for (int64_t n = 0; n < N; n++) {
        int8_t *panel = bp + (n / QG_PANEL) * G * 4 * QG_PANEL + (n % QG_PANEL) * 4;
        int32_t sum = 0;
        for (int64_t k = 0; k < K; k++) {
            panel[(k / 4) * 4 * QG_PANEL + (k & 3)] = b[n * K + k];
            sum += b[n * K + k];
        }
        rs[n] = 128 * sum;
    }
    for (int64_t n = N; n < Np; n++) rs[n] = 0;
}

#ifdef TIDE_QGEMM_X86

/* Where a tile's int32 sums go: to c (M x N int32), or dequantized into o (M x N f32). */
typedef struct qgemm_sink {
    int32_t *c;
    float *o;
    const float *sx, *sw, *bias;
} qgemm_sink;

/* (defined below; not inlined, so that every path runs the very same instructions) */
__attribute__((noinline)) static void dequant_row(float *o, const int32_t *acc, float sx,
                                                  const float *sw, const float *bias, int64_t n);

/* Row m's sums for channels n0 .. n0+cols-1 into the sink. */
static void sink_row(const qgemm_sink *sink, int64_t N, int64_t m, int64_t n0, int64_t cols,
                     const int32_t *sums)
{
    if (sink->o)
        dequant_row(sink->o + m * N + n0, sums, sink->sx[m], sink->sw + n0,
                    sink->bias ? sink->bias + n0 : NULL, cols);
    else
        memcpy(sink->c + m * N + n0, sums, (size_t)cols * sizeof *sums);
}

/* ---------------------------------------------------------------- AVX2 */

/* AVX2's byte product (vpmaddubsw) saturates in int16, so this path widens int8 to int16 and
 * multiplies and pair-sums with vpmaddwd: 16 bytes of a panel group (4 channels x 4 k's)
 * widen to one register, and a row's 4 activations (widened once, beforehand) are repeated
 * across it; each channel's sum stays in two lanes until the end. A tile of 4 rows x 8
 * channels keeps its 8 accumulators in registers (AVX2 has 16). */
#define QG_AVX2 __attribute__((target("avx2")))
#define QG_AVX2_ROWS 4
#define QG_AVX2_COLS 8

/* rows (4, 2 or 1: a constant once inlined, so that the sums stay in registers) rows of
 * activations x (int16, stride Kp) against channels n0 .. n0+7 of N, whose cells start at
 * bg in their panel. */
QG_AVX2 static inline __attribute__((always_inline)) void
avx2_tile(const qgemm_sink *sink, int64_t N, int64_t m0, int rows, int64_t n0, int64_t G,
          int64_t Kp, const int16_t *x, const int8_t *bg)
{
    __m256i acc[QG_AVX2_ROWS][2];
    for (int i = 0; i < rows; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    for (int64_t g = 0; g < G; g++, bg += 4 * QG_PANEL) {
        __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)bg));
        __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(bg + 16)));
        for (int i = 0; i < rows; i++) {
            int64_t four;
            memcpy(&four, x + i * Kp + 4 * g, sizeof four);
            __m256i v = _mm256_set1_epi64x(four);
            acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(v, w0));
            acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(v, w1));
        }
    }
    int64_t cols = N - n0 < QG_AVX2_COLS ? N - n0 : QG_AVX2_COLS;
    int32_t out[QG_AVX2_COLS];
    for (int i = 0; i < rows; i++) {
        /* the pair sums come out as channels (0 1 4 5 | 2 3 6 7): the permute orders them */
        __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[i][0], acc[i][1]), 0xd8);
        _mm256_storeu_si256((__m256i *)out, s);
        sink_row(sink, N, m0 + i, n0, cols, out);
    }
}

QG_AVX2 static void avx2_tile_rows(const qgemm_sink *sink, int64_t N, int64_t m0, int rows,
                                   int64_t n0, int64_t G, int64_t Kp, const int16_t *x,
                                   const int8_t *bg)
{
    switch (rows) {
    case 4: avx2_tile(sink, N, m0, 4, n0, G, Kp, x, bg); break;
    case 2: avx2_tile(sink, N, m0, 2, n0, G, Kp, x, bg); break;
    default: avx2_tile(sink, N, m0, 1, n0, G, Kp, x, bg); break;
    }
}

/* The most rows a tile of at most `most` rows (a power of two) takes of the `left` still to
 * do: a power of two too, so that a remainder costs no rows computed in vain. */
static int tile_rows(int64_t left, int most)
{
    int r = most;
    while (r > left) r /= 2;
    return r;
}

/* The product of xw (M x Kp activations as int16, zero past K) and the packed weights bp into
 * sink: panel by panel, every row block over each panel while it is in L1. */
static void qgemm_avx2_packed(const qgemm_sink *sink, int64_t M, int64_t N, int64_t K,
                              const int16_t *xw, const int8_t *bp)
{
    int64_t G = (K + 3) / 4, Kp = 4 * G;
    for (int64_t n0 = 0; n0 < N; n0 += QG_PANEL) {
        const int8_t *panel = bp + (n0 / QG_PANEL) * G * 4 * QG_PANEL;
        for (int64_t m0 = 0, rows; m0 < M; m0 += rows) {
            rows = tile_rows(M - m0, QG_AVX2_ROWS);
            for (int64_t s = 0; s < QG_PANEL && n0 + s < N; s += QG_AVX2_COLS)
                avx2_tile_rows(sink, N, m0, (int)rows, n0 + s, G, Kp, xw + m0 * Kp,
                               panel + 4 * s);
        }
    }
}

/* ---------------------------------------------------------------- AVX-512 VNNI */

/* vpdpbusd multiplies unsigned bytes by signed bytes, four to an int32 lane. The activation
 * is made unsigned by adding 128 (flipping its top bit), which adds 128 * sum(w) to every
 * dot product: subtracted at the end with the weight row's sum. Broadcasting a row's four
 * activation bytes multiplies them into 16 channels of a panel group per register, and a
 * tile of 8 rows x 32 channels keeps 16 accumulators in registers with no horizontal sums. */
#define QG_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define QG_ROWS 8

static inline int32_t four_bytes(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* rows (8, 4, 2 or 1: a constant once inlined, so that the sums stay in registers) rows of
 * activations x (u8, stride Kp) against panel bg (G groups), channels n0 .. n0+31 of N. */
QG_VNNI static inline __attribute__((always_inline)) void
vnni_tile(const qgemm_sink *sink, int64_t N, int64_t m0, int rows, int64_t n0, int64_t G,
          int64_t Kp, const uint8_t *x, const int8_t *bg, const int32_t *rs)
{
    __m512i acc[QG_ROWS][2];
    for (int i = 0; i < rows; i++) acc[i][0] = acc[i][1] = _mm512_setzero_si512();
    for (int64_t g = 0; g < G; g++, bg += 4 * QG_PANEL) {
        __m512i b0 = _mm512_loadu_si512(bg), b1 = _mm512_loadu_si512(bg + 64);
        for (int i = 0; i < rows; i++) {
            __m512i v = _mm512_set1_epi32(four_bytes(x + i * Kp + 4 * g));
            acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], v, b0);
            acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], v, b1);
        }
    }
    __m512i r0 = _mm512_loadu_si512(rs + n0), r1 = _mm512_loadu_si512(rs + n0 + 16);
    int64_t cols = N - n0 < QG_PANEL ? N - n0 : QG_PANEL;
    int32_t out[QG_PANEL];
    for (int i = 0; i < rows; i++) {
        _mm512_storeu_si512(out, _mm512_sub_epi32(acc[i][0], r0));
        _mm512_storeu_si512(out + 16, _mm512_sub_epi32(acc[i][1], r1));
        sink_row(sink, N, m0 + i, n0, cols, out);
    }
}

QG_VNNI static void vnni_tile_rows(const qgemm_sink *sink, int64_t N, int64_t m0, int rows,
                                   int64_t n0, int64_t G, int64_t Kp, const uint8_t *x,
                                   const int8_t *bg, const int32_t *rs)
{
    switch (rows) {
    case 8: vnni_tile(sink, N, m0, 8, n0, G, Kp, x, bg, rs); break;
    case 4: vnni_tile(sink, N, m0, 4, n0, G, Kp, x, bg, rs); break;
    case 2: vnni_tile(sink, N, m0, 2, n0, G, Kp, x, bg, rs); break;
    default: vnni_tile(sink, N, m0, 1, n0, G, Kp, x, bg, rs); break;
    }
}

/* The product of xu (M x Kp activations + 128, zero past K) and the packed weights (bp, rs)
 * into sink: panel by panel, every row block over each panel while it is in L1. */
static void qgemm_vnni_packed(const qgemm_sink *sink, int64_t M, int64_t N, int64_t K,
                              const uint8_t *xu, const int8_t *bp, const int32_t *rs)
{
    int64_t G = (K + 3) / 4, Kp = 4 * G;
    for (int64_t n0 = 0; n0 < N; n0 += QG_PANEL) {
        const int8_t *panel = bp + (n0 / QG_PANEL) * G * 4 * QG_PANEL;
        for (int64_t m0 = 0, rows; m0 < M; m0 += rows) {
            rows = tile_rows(M - m0, QG_ROWS);
            vnni_tile_rows(sink, N, m0, (int)rows, n0, G, Kp, xu + m0 * Kp, panel, rs);
        }
    }
}

/* ---------------------------------------------------------------- packed paths' driver */

/* Row a (K int8) as the kernel of path reads it, in dst (Kp entries, zero past K): plus 128
 * as u8 for VNNI, widened to int16 for AVX2. */
static void activation_row(tide_qgemm_path path, void *dst, const int8_t *a, int64_t K,
                           int64_t Kp)
{
    if (path == TIDE_QGEMM_VNNI) {
        uint8_t *u = dst;
        for (int64_t k = 0; k < Kp; k++) u[k] = k < K ? (uint8_t)(a[k] ^ 0x80) : 0;
    } else {
        int16_t *w = dst;
        for (int64_t k = 0; k < Kp; k++) w[k] = k < K ? a[k] : 0;
    }
}

/* The product into sink on a packed path, from activations laid out by activation_row (act,
 * M x Kp) and packed weights bp. */
static void qgemm_packed(tide_qgemm_path path, const qgemm_sink *sink, int64_t M, int64_t N,
                         int64_t K, const void *act, const int8_t *bp)
{
    int64_t Kp = 4 * ((K + 3) / 4), Np = (N + 31) & ~(int64_t)31;
    if (path == TIDE_QGEMM_VNNI)
        qgemm_vnni_packed(sink, M, N, K, act, bp, (const int32_t *)(const void *)(bp + Kp * Np));
    else
        qgemm_avx2_packed(sink, M, N, K, act, bp);
}

/* tide_qgemm_s8 on a packed path: the weights packed here first. Returns 0, or -1 when memory
 * cannot be had. */
static int qgemm_s8_packed(tide_qgemm_path path, int64_t M, int64_t N, int64_t K,
                           const int8_t *a, const int8_t *b, int32_t *c)
{
    int64_t Kp = 4 * ((K + 3) / 4), Np = (N + 31) & ~(int64_t)31;
    int8_t *bp = malloc((size_t)packed_bytes(N, K));
    uint8_t *act = malloc((size_t)(M * Kp) * sizeof(int16_t) + 1);
    if (!bp || !act) {
        free(bp), free(act);
        return -1;
    }
    pack_weights(bp, (int32_t *)(void *)(bp + Kp * Np), N, K, Kp, Np, b);
    size_t stride = (size_t)Kp * (path == TIDE_QGEMM_VNNI ? 1 : sizeof(int16_t));
    for (int64_t m = 0; m < M; m++) activation_row(path, act + m * stride, a + m * K, K, Kp);
    qgemm_sink sink = {.c = c};
    qgemm_packed(path, &sink, M, N, K, act, bp);
    free(bp), free(act);
    return 0;
}

#endif /* TIDE_QGEMM_X86 */

/* ---------------------------------------------------------------- dispatch */

int tide_qgemm_available(tide_qgemm_path path)
{
    switch (path) {
    case TIDE_QGEMM_AUTO:
    case TIDE_QGEMM_PORTABLE: return 1;
#ifdef TIDE_QGEMM_X86
    case TIDE_QGEMM_AVX2: return __builtin_cpu_supports("avx2");
    case TIDE_QGEMM_VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
#else
    default: return 0;
#endif
    }
    return 0;
}

tide_qgemm_path tide_qgemm_best(void)
{
    if (tide_qgemm_available(TIDE_QGEMM_VNNI)) return TIDE_QGEMM_VNNI;
    if (tide_qgemm_available(TIDE_QGEMM_AVX2)) return TIDE_QGEMM_AVX2;
    return TIDE_QGEMM_PORTABLE;
}

const char *tide_qgemm_name(tide_qgemm_path path)
{
    static const char *names[] = {"auto", "portable", "avx2", "avx512-vnni"};
    return names[path];
}

tide_status tide_qgemm_s8(tide_qgemm_path path, int64_t M, int64_t N, int64_t K,
                          const int8_t *a, const int8_t *b, int32_t *c)
{
    if (path == TIDE_QGEMM_AUTO) path = tide_qgemm_best();
#ifdef TIDE_QGEMM_X86
    if ((path == TIDE_QGEMM_VNNI || path == TIDE_QGEMM_AVX2) && tide_qgemm_available(path)) {
        if (qgemm_s8_packed(path, M, N, K, a, b, c))
            return tide_fail("qgemm: out of memory packing %lld x %lld", (long long)N,
                             (long long)K);
        return TIDE_OK;
    }
#endif
    qgemm_portable(M, N, K, a, b, c);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- quantization */

/* src (n values) as int8 in dst, each byte xor flip (0x80 makes the unsigned activations of
 * the VNNI path); returns the scale (max|x| / 127, 1 when the row is all zeros, so that
 * dequantizing gives zeros back). Values are rounded half away from zero. */
static float quantize_row_portable(uint8_t *dst, const float *src, int64_t n, uint8_t flip)
{
    float mx = 0;         /* (fmaxf would be a libm call per element: NaN rules) */
    for (int64_t i = 0; i < n; i++) {
        float v = fabsf(src[i]);
        mx = v > mx ? v : mx;
    }
    float scale = mx > 0 ? mx / 127.0f : 1.0f;
    float inv = 1.0f / scale;
    for (int64_t i = 0; i < n; i++) {     /* |v| <= 127 */
        float v = src[i] * inv;
        int q = (int)(v + (v >= 0 ? 0.5f : -0.5f));
        dst[i] = (uint8_t)(int8_t)(q > 127 ? 127 : q < -127 ? -127 : q) ^ flip;
    }
    return scale;
}

#ifdef TIDE_QGEMM_X86
/* the lanes of a 16-lane vector that hold one of the `left` values still to do */
static inline __mmask16 live_mask(int64_t left)
{
    return left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
}

/* The VNNI path's quantizer (VNNI implies AVX-512 F and BW): quantize_row_portable with 16
 * values at a time, to the same bytes (test_qgemm checks): the maximum is exact in any
 * order, and the rounding is the same two float operations (GCC leaves the maximum scalar:
 * a float reduction it may not reorder without -ffast-math); scalar, it took a fifth of the
 * first layer's time at batch 256. */
/* 16 values times inv, rounded half away from zero to int32 in [-127, 127] (live: the lanes
 * to load) */
__attribute__((target("avx512f,avx512bw"))) static inline __m512i
round16(const float *p, __mmask16 live, __m512 inv)
{
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(live, p), inv);
    __m512 r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ),
                                    _mm512_set1_ps(-0.5f), _mm512_set1_ps(0.5f));
    __m512i q = _mm512_cvttps_epi32(_mm512_add_ps(v, r));
    return _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-127)), _mm512_set1_epi32(127));
}

__attribute__((target("avx512f,avx512bw"))) static float
quantize_row_avx512(uint8_t *dst, const float *src, int64_t n, uint8_t flip)
{
    __m512 m0 = _mm512_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;   /* four chains */
    int64_t i = 0;
#define QG_ABS(p, mask) _mm512_abs_ps(_mm512_maskz_loadu_ps(mask, p))
    for (; i + 64 <= n; i += 64) {      /* max_ps(v, m) is v > m ? v : m, as below */
        m0 = _mm512_max_ps(QG_ABS(src + i, 0xffff), m0);
        m1 = _mm512_max_ps(QG_ABS(src + i + 16, 0xffff), m1);
        m2 = _mm512_max_ps(QG_ABS(src + i + 32, 0xffff), m2);
        m3 = _mm512_max_ps(QG_ABS(src + i + 48, 0xffff), m3);
    }
    for (; i < n; i += 16)              /* zeros past n leave the maximum alone */
        m0 = _mm512_max_ps(QG_ABS(src + i, live_mask(n - i)), m0);
#undef QG_ABS
    float mx = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
    float scale = mx > 0 ? mx / 127.0f : 1.0f;
    const __m512 inv = _mm512_set1_ps(1.0f / scale);
    const __m512i fl = _mm512_set1_epi32(flip);      /* the low byte is all that is kept */
    const __m512i fl8 = _mm512_set1_epi8((char)flip);
    /* 64 at a time narrowed by two saturating packs (exact: the values fit), which interleave
     * the four vectors by 128-bit lane; the permute puts the 4-byte groups back in order. The
     * narrowing store of one vector (vpmovdb) is several times slower on AMD's Zen 4. */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (i = 0; i + 64 <= n; i += 64) {
        __m512i ab = _mm512_packs_epi32(round16(src + i, 0xffff, inv),
                                        round16(src + i + 16, 0xffff, inv));
        __m512i cd = _mm512_packs_epi32(round16(src + i + 32, 0xffff, inv),
                                        round16(src + i + 48, 0xffff, inv));
        __m512i bytes = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(ab, cd));
        _mm512_storeu_si512(dst + i, _mm512_xor_si512(bytes, fl8));
    }
    for (; i < n; i += 16) {
        __mmask16 live = live_mask(n - i);
        __m512i q = round16(src + i, live, inv);
        _mm512_mask_cvtepi32_storeu_epi8(dst + i, live, _mm512_xor_si512(q, fl));
    }
    return scale;
}
#endif

/* One row of the output from its int32 sums. Every path ends here, so all give the same
 * floats: one copy of the code, which the VNNI kernel must not inline and compile for its
 * own target (it might contract to fused multiply-adds where the portable build does not). */
__attribute__((noinline)) static void dequant_row(float *o, const int32_t *acc, float sx,
                                                  const float *sw, const float *bias, int64_t n)
{
    if (bias)
        for (int64_t j = 0; j < n; j++) o[j] = sx * sw[j] * (float)acc[j] + bias[j];
    else
        for (int64_t j = 0; j < n; j++) o[j] = sx * sw[j] * (float)acc[j];
}

static tide_status check_f32_2d(const tide_tensor *t, const char *what, const char *op)
{
    if (t->dtype != TIDE_F32 || t->ndim != 2 || !tide_is_contiguous(t))
        return tide_fail("%s: %s must be a contiguous 2-D f32 tensor, got %d-D %s", op, what,
                         t->ndim, tide_dtype_name(t->dtype));
    return TIDE_OK;
}

tide_status tide_quantize_rows(tide_tensor *q, tide_tensor *scale, const tide_tensor *w)
{
    const char *op = "quantize_rows";
    TIDE_TRY(check_f32_2d(w, "the weight", op));
    int64_t N = w->shape[0], K = w->shape[1];
    TIDE_TRY(tide_prepare_out(q, TIDE_U8, 2, w->shape, op));
    TIDE_TRY(tide_prepare_out(scale, TIDE_F32, 1, &N, op));
    if (!tide_is_contiguous(q) || !tide_is_contiguous(scale))
        return tide_fail("%s: outputs must be contiguous", op);
    int8_t *qd = tide_data(q);
    float *sd = tide_data(scale);
    const float *wd = tide_data(w);
    for (int64_t n = 0; n < N; n++)
        sd[n] = quantize_row_portable((uint8_t *)qd + n * K, wd + n * K, K, 0);
    return TIDE_OK;
}

static tide_status check_qlinear(const tide_tensor *x, const tide_tensor *wq,
                                 const tide_tensor *wscale, const tide_tensor *bias)
{
    const char *op = "qlinear";
    TIDE_TRY(check_f32_2d(x, "the input", op));
    if (wq->dtype != TIDE_U8 || wq->ndim != 2 || !tide_is_contiguous(wq))
        return tide_fail("%s: the weight must be a contiguous 2-D u8 tensor (int8 bytes)", op);
    int64_t N = wq->shape[0];
    if (x->shape[1] != wq->shape[1])
        return tide_fail("%s: input of width %lld, weight of width %lld", op,
                         (long long)x->shape[1], (long long)wq->shape[1]);
    if (wscale->dtype != TIDE_F32 || wscale->ndim != 1 || wscale->shape[0] != N ||
        !tide_is_contiguous(wscale))
        return tide_fail("%s: expected %lld f32 weight scales", op, (long long)N);
    if (bias && (bias->dtype != TIDE_F32 || bias->ndim != 1 || bias->shape[0] != N ||
                 !tide_is_contiguous(bias)))
        return tide_fail("%s: expected an f32 bias of %lld entries", op, (long long)N);
    return TIDE_OK;
}

tide_status tide_qgemm_pack(tide_tensor *packed, const tide_tensor *wq)
{
    if (wq->dtype != TIDE_U8 || wq->ndim != 2 || !tide_is_contiguous(wq))
        return tide_fail("qgemm_pack: the weight must be a contiguous 2-D u8 tensor (int8 bytes)");
    int64_t N = wq->shape[0], K = wq->shape[1], bytes = packed_bytes(N, K);
    TIDE_TRY(tide_prepare_out(packed, TIDE_U8, 1, &bytes, "qgemm_pack"));
    int64_t Kp = 4 * ((K + 3) / 4), Np = (N + 31) & ~(int64_t)31;
    int8_t *bp = tide_data(packed);
    pack_weights(bp, (int32_t *)(void *)(bp + Kp * Np), N, K, Kp, Np, tide_data(wq));
    return TIDE_OK;
}

static tide_status check_packed(const tide_tensor *packed, int64_t N, int64_t K)
{
    if (packed->dtype != TIDE_U8 || tide_numel(packed) != packed_bytes(N, K) ||
        !tide_is_contiguous(packed))
        return tide_fail("qlinear: the packed weights do not match a %lld x %lld weight",
                         (long long)N, (long long)K);
    return TIDE_OK;
}

#ifdef TIDE_QGEMM_X86
/* qlinear on a packed path (AVX2 or VNNI): the activations quantized and laid out for its
 * kernel (VNNI's straight to their unsigned form), and the dequantization (scales, bias) done
 * by the kernel as it stores each tile. Weights not packed beforehand are packed here. */
static tide_status qlinear_packed(tide_qgemm_path path, float *o, const float *x,
                                  const tide_tensor *wq, const float *sw, const float *bias,
                                  const tide_tensor *packed, int64_t M)
{
    int64_t N = wq->shape[0], K = wq->shape[1], Kp = 4 * ((K + 3) / 4);
    int64_t Np = (N + 31) & ~(int64_t)31;
    size_t stride = (size_t)Kp * (path == TIDE_QGEMM_VNNI ? 1 : sizeof(int16_t));
    uint8_t *act = malloc((size_t)M * stride + 1), *row = malloc((size_t)K + 1);
    float *sx = malloc((size_t)(M + 1) * sizeof *sx);
    int8_t *own = packed ? NULL : malloc((size_t)packed_bytes(N, K));
    if (!act || !row || !sx || (!packed && !own)) {
        free(act), free(row), free(sx), free(own);
        return tide_fail("qlinear: out of memory for %lld x %lld", (long long)M, (long long)K);
    }
    const int8_t *bp = packed ? tide_data(packed) : own;
    if (own) pack_weights(own, (int32_t *)(void *)(own + Kp * Np), N, K, Kp, Np, tide_data(wq));
    for (int64_t m = 0; m < M; m++) {
        if (path == TIDE_QGEMM_VNNI) {
            sx[m] = quantize_row_avx512(act + m * stride, x + m * K, K, 0x80);
            memset(act + m * stride + K, 0, (size_t)(Kp - K));
        } else {
            sx[m] = quantize_row_portable(row, x + m * K, K, 0);
            activation_row(path, act + m * stride, (const int8_t *)row, K, Kp);
        }
    }
    qgemm_sink sink = {.o = o, .sx = sx, .sw = sw, .bias = bias};
    qgemm_packed(path, &sink, M, N, K, act, bp);
    free(act), free(row), free(sx), free(own);
    return TIDE_OK;
}
#endif

tide_status tide_qlinear(tide_tensor *out, const tide_tensor *x, const tide_tensor *wq,
                         const tide_tensor *wscale, const tide_tensor *bias,
                         const tide_tensor *packed, tide_qgemm_path path)
{
    TIDE_TRY(check_qlinear(x, wq, wscale, bias));
    int64_t M = x->shape[0], K = x->shape[1], N = wq->shape[0];
    int64_t shape[2] = {M, N};
    if (packed) TIDE_TRY(check_packed(packed, N, K));
    TIDE_TRY(tide_prepare_out(out, TIDE_F32, 2, shape, "qlinear"));
    if (!tide_is_contiguous(out)) return tide_fail("qlinear: out must be contiguous");
    if (!tide_qgemm_available(path))
        return tide_fail("qlinear: this CPU cannot run the %s path", tide_qgemm_name(path));
    if (path == TIDE_QGEMM_AUTO) path = tide_qgemm_best();
    float *o = tide_data(out);
    const float *xd = tide_data(x), *sw = tide_data(wscale);
    const float *bd = bias ? tide_data(bias) : NULL;
#ifdef TIDE_QGEMM_X86
    if (path == TIDE_QGEMM_VNNI || path == TIDE_QGEMM_AVX2)
        return qlinear_packed(path, o, xd, wq, sw, bd, packed, M);
#endif
    uint8_t *xq = calloc((size_t)(M * K + 1), 1);   /* (zeroed: GCC cannot tell M rows fill it) */
    float *sx = malloc((size_t)(M + 1) * sizeof *sx);
    int32_t *acc = malloc((size_t)(M * N + 1) * sizeof *acc);
    if (!xq || !sx || !acc) {
        free(xq), free(sx), free(acc);
        return tide_fail("qlinear: out of memory for %lld x %lld", (long long)M, (long long)N);
    }
    for (int64_t m = 0; m < M; m++)
        sx[m] = quantize_row_portable(xq + m * K, xd + m * K, K, 0);
    tide_status st = tide_qgemm_s8(path, M, N, K, (const int8_t *)xq, tide_data(wq), acc);
    for (int64_t m = 0; !st && m < M; m++)
        dequant_row(o + m * N, acc + m * N, sx[m], sw, bd, N);
    free(xq), free(sx), free(acc);
    return st;
}
