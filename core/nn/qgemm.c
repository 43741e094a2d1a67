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

#ifdef TIDE_QGEMM_X86

/* ---------------------------------------------------------------- AVX2 */

__attribute__((target("avx2"))) static inline int32_t hsum256(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* One row of a against four rows of b at a time: each 16-byte chunk of the activation row is
 * widened once and reused for the four weight rows. */
__attribute__((target("avx2"))) static void qgemm_avx2(int64_t M, int64_t N, int64_t K,
                                                        const int8_t *a, const int8_t *b,
                                                        int32_t *c)
{
    int64_t K16 = K & ~(int64_t)15;
    for (int64_t m = 0; m < M; m++) {
        const int8_t *x = a + m * K;
        int64_t n = 0;
        for (; n + 4 <= N; n += 4) {
            const int8_t *w0 = b + n * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
            __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
            for (int64_t k = 0; k < K16; k += 16) {
                __m256i xv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + k)));
#define QG_MAC(s, w) s = _mm256_add_epi32(s, _mm256_madd_epi16(xv, \
                        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)((w) + k)))))
                QG_MAC(s0, w0);
                QG_MAC(s1, w1);
                QG_MAC(s2, w2);
                QG_MAC(s3, w3);
#undef QG_MAC
            }
            int32_t r0 = hsum256(s0), r1 = hsum256(s1), r2 = hsum256(s2), r3 = hsum256(s3);
            for (int64_t k = K16; k < K; k++) {
                r0 += x[k] * w0[k];
                r1 += x[k] * w1[k];
                r2 += x[k] * w2[k];
                r3 += x[k] * w3[k];
            }
            int32_t *out = c + m * N + n;
            out[0] = r0, out[1] = r1, out[2] = r2, out[3] = r3;
        }
        for (; n < N; n++) {
            const int8_t *w = b + n * K;
            __m256i s = _mm256_setzero_si256();
            for (int64_t k = 0; k < K16; k += 16)
                s = _mm256_add_epi32(s, _mm256_madd_epi16(
                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + k))),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + k)))));
            int32_t r = hsum256(s);
            for (int64_t k = K16; k < K; k++)
                r += x[k] * w[k];
            c[m * N + n] = r;
        }
    }
}

/* ---------------------------------------------------------------- AVX-512 VNNI */

/* vpdpbusd multiplies unsigned bytes by signed bytes, four to an int32 lane. The activation
 * is made unsigned by adding 128 (flipping its top bit), which adds 128 * sum(w) to every
 * dot product: subtracted at the end with the weight row's sum.
 *
 * The weights are first packed so that one 64-byte load holds four consecutive k's of 16
 * output channels: group g (k = 4g .. 4g+3) is a run of Np channels of 4 bytes each, zero past
 * N and K. Broadcasting four activation bytes then multiplies them into 16 channels at once,
 * and a tile of 4 rows x 32 channels keeps 8 accumulators in registers with no horizontal
 * sums. The packing costs N K byte moves, 1/M of the products. */
#define QG_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* The packed weights (Kp x Np bytes, see above) and 128 * each row's sum (Np int32s, zero
 * past N) from b (N x K). */
static void pack_weights(int8_t *bp, int32_t *rs, int64_t N, int64_t K, int64_t Kp, int64_t Np,
                         const int8_t *b)
{
    memset(bp, 0, (size_t)(Kp * Np));
    int64_t full = K / 4;             /* groups of four k's inside K: 4-byte copies */
    for (int64_t g = 0; g < full; g++)
        for (int64_t n = 0; n < N; n++)
            memcpy(bp + (g * Np + n) * 4, b + n * K + 4 * g, 4);
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 4 * full; k < K; k++)
            bp[(full * Np + n) * 4 + (k & 3)] = b[n * K + k];
    for (int64_t n = 0; n < Np; n++) {
        int32_t sum = 0;
        for (int64_t k = 0; n < N && k < K; k++) sum += b[n * K + k];
        rs[n] = 128 * sum;
    }
}

static inline int32_t four_bytes(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

QG_VNNI static void vnni_tile(int32_t *c, int64_t N, int rows, int64_t n0, int64_t G,
                              int64_t Np, int64_t Kp, const uint8_t *x, const int8_t *bp,
                              const int32_t *rs)
{
    const uint8_t *x0 = x, *x1 = rows > 1 ? x + Kp : x, *x2 = rows > 2 ? x + 2 * Kp : x,
                  *x3 = rows > 3 ? x + 3 * Kp : x;
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a10 = a00, a11 = a00, a20 = a00,
            a21 = a00, a30 = a00, a31 = a00;
    for (int64_t g = 0; g < G; g++) {
        const int8_t *bg = bp + (g * Np + n0) * 4;
        __m512i b0 = _mm512_loadu_si512(bg), b1 = _mm512_loadu_si512(bg + 64);
        __m512i v = _mm512_set1_epi32(four_bytes(x0 + 4 * g));
        a00 = _mm512_dpbusd_epi32(a00, v, b0), a01 = _mm512_dpbusd_epi32(a01, v, b1);
        v = _mm512_set1_epi32(four_bytes(x1 + 4 * g));
        a10 = _mm512_dpbusd_epi32(a10, v, b0), a11 = _mm512_dpbusd_epi32(a11, v, b1);
        v = _mm512_set1_epi32(four_bytes(x2 + 4 * g));
        a20 = _mm512_dpbusd_epi32(a20, v, b0), a21 = _mm512_dpbusd_epi32(a21, v, b1);
        v = _mm512_set1_epi32(four_bytes(x3 + 4 * g));
        a30 = _mm512_dpbusd_epi32(a30, v, b0), a31 = _mm512_dpbusd_epi32(a31, v, b1);
    }
    __m512i r0 = _mm512_loadu_si512(rs + n0), r1 = _mm512_loadu_si512(rs + n0 + 16);
    int64_t left = N - n0;
    __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
    __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
    __m512i acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
    for (int i = 0; i < rows; i++) {
        _mm512_mask_storeu_epi32(c + i * N + n0, m0, _mm512_sub_epi32(acc[i][0], r0));
        _mm512_mask_storeu_epi32(c + i * N + n0 + 16, m1, _mm512_sub_epi32(acc[i][1], r1));
    }
}

/* c from a and packed weights (bp, rs); returns 0, or -1 when memory cannot be had. */
static int qgemm_vnni_packed(int64_t M, int64_t N, int64_t K, const int8_t *a, const int8_t *bp,
                             const int32_t *rs, int32_t *c)
{
    int64_t G = (K + 3) / 4, Kp = 4 * G, Np = (N + 31) & ~(int64_t)31;
    uint8_t *xu = malloc((size_t)(M * Kp + 1));
    if (!xu) return -1;
    for (int64_t m = 0; m < M; m++) {          /* activations + 128, zero past K */
        for (int64_t k = 0; k < K; k++) xu[m * Kp + k] = (uint8_t)(a[m * K + k] ^ 0x80);
        for (int64_t k = K; k < Kp; k++) xu[m * Kp + k] = 0;
    }
    for (int64_t m0 = 0; m0 < M; m0 += 4) {
        int rows = M - m0 < 4 ? (int)(M - m0) : 4;
        for (int64_t n0 = 0; n0 < N; n0 += 32)
            vnni_tile(c + m0 * N, N, rows, n0, G, Np, Kp, xu + m0 * Kp, bp, rs);
    }
    free(xu);
    return 0;
}

static int qgemm_vnni(int64_t M, int64_t N, int64_t K, const int8_t *a, const int8_t *b,
                      int32_t *c)
{
    int64_t Kp = 4 * ((K + 3) / 4), Np = (N + 31) & ~(int64_t)31;
    int8_t *bp = malloc((size_t)(Kp * Np + 4 * Np));
    if (!bp) return -1;
    int32_t *rs = (int32_t *)(void *)(bp + Kp * Np);     /* Kp Np is a multiple of 128 */
    pack_weights(bp, rs, N, K, Kp, Np, b);
    int r = qgemm_vnni_packed(M, N, K, a, bp, rs, c);
    free(bp);
    return r;
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
    if (path == TIDE_QGEMM_VNNI && tide_qgemm_available(path)) {
        if (qgemm_vnni(M, N, K, a, b, c))
            return tide_fail("qgemm: out of memory packing %lld x %lld", (long long)N,
                             (long long)K);
        return TIDE_OK;
    }
    if (path == TIDE_QGEMM_AVX2 && tide_qgemm_available(path)) {
        qgemm_avx2(M, N, K, a, b, c);
        return TIDE_OK;
    }
#endif
    qgemm_portable(M, N, K, a, b, c);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- quantization */

/* Row r of src (n values) as int8 in dst; returns the row's scale (max|x| / 127, 1 when the
 * row is all zeros, so that dequantizing gives zeros back). */
static float quantize_row(int8_t *dst, const float *src, int64_t n)
{
    float mx = 0;         /* (fmaxf would be a libm call per element: NaN rules) */
    for (int64_t i = 0; i < n; i++) {
        float v = fabsf(src[i]);
        mx = v > mx ? v : mx;
    }
    float scale = mx > 0 ? mx / 127.0f : 1.0f;
    float inv = 1.0f / scale;
    for (int64_t i = 0; i < n; i++) {     /* round half away from zero; |v| <= 127 */
        float v = src[i] * inv;
        int q = (int)(v + (v >= 0 ? 0.5f : -0.5f));
        dst[i] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
    }
    return scale;
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
        sd[n] = quantize_row(qd + n * K, wd + n * K, K);
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

static int64_t packed_bytes(int64_t N, int64_t K)
{
    int64_t Kp = 4 * ((K + 3) / 4), Np = (N + 31) & ~(int64_t)31;
    return Kp * Np + 4 * Np;
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

/* acc = xq W^T: from the packed weights when the VNNI path runs and they are given */
static tide_status product(int32_t *acc, const int8_t *xq, const tide_tensor *wq,
                           const tide_tensor *packed, tide_qgemm_path path, int64_t M)
{
    int64_t N = wq->shape[0], K = wq->shape[1];
    if (path == TIDE_QGEMM_AUTO) path = tide_qgemm_best();
#ifdef TIDE_QGEMM_X86
    if (packed && path == TIDE_QGEMM_VNNI) {
        if (packed->dtype != TIDE_U8 || tide_numel(packed) != packed_bytes(N, K) ||
            !tide_is_contiguous(packed))
            return tide_fail("qlinear: the packed weights do not match a %lld x %lld weight",
                             (long long)N, (long long)K);
        int64_t Kp = 4 * ((K + 3) / 4), Np = (N + 31) & ~(int64_t)31;
        const int8_t *bp = tide_data(packed);
        if (qgemm_vnni_packed(M, N, K, xq, bp, (const int32_t *)(const void *)(bp + Kp * Np),
                              acc))
            return tide_fail("qlinear: out of memory for %lld x %lld", (long long)M,
                             (long long)K);
        return TIDE_OK;
    }
#endif
    (void)packed;
    return tide_qgemm_s8(path, M, N, K, xq, tide_data(wq), acc);
}

tide_status tide_qlinear(tide_tensor *out, const tide_tensor *x, const tide_tensor *wq,
                         const tide_tensor *wscale, const tide_tensor *bias,
                         const tide_tensor *packed, tide_qgemm_path path)
{
    TIDE_TRY(check_qlinear(x, wq, wscale, bias));
    int64_t M = x->shape[0], K = x->shape[1], N = wq->shape[0];
    int64_t shape[2] = {M, N};
    TIDE_TRY(tide_prepare_out(out, TIDE_F32, 2, shape, "qlinear"));
    if (!tide_is_contiguous(out)) return tide_fail("qlinear: out must be contiguous");
    if (!tide_qgemm_available(path))
        return tide_fail("qlinear: this CPU cannot run the %s path", tide_qgemm_name(path));
    int8_t *xq = malloc((size_t)(M * K + 1));
    float *sx = malloc((size_t)(M + 1) * sizeof *sx);
    int32_t *acc = malloc((size_t)(M * N + 1) * sizeof *acc);
    if (!xq || !sx || !acc) {
        free(xq), free(sx), free(acc);
        return tide_fail("qlinear: out of memory for %lld x %lld", (long long)M, (long long)N);
    }
    const float *xd = tide_data(x);
    for (int64_t m = 0; m < M; m++)
        sx[m] = quantize_row(xq + m * K, xd + m * K, K);
    tide_status st = product(acc, xq, wq, packed, path, M);
    if (!st) {
        float *o = tide_data(out);
        const float *sw = tide_data(wscale);
        const float *bd = bias ? tide_data(bias) : NULL;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++)
                o[m * N + n] = sx[m] * sw[n] * (float)acc[m * N + n] + (bd ? bd[n] : 0.0f);
    }
    free(xq), free(sx), free(acc);
    return st;
}
