/* qgemm.h — int8 products for quantized inference (tide.compress.quantize).
 *
 * Weights are quantized once, per output channel and symmetrically: row c of an N x K weight
 * becomes w_c ~ scale_c * q_c with q_c in [-127, 127] and scale_c = max|w_c| / 127.
 * Activations are quantized at every call the same way per row (dynamic quantization). The
 * int8 products add up exactly in int32, and y[m][n] = sx_m * scale_n * acc[m][n] + bias[n].
 *
 * tide has no i8 dtype: int8 values live in u8 tensors as their two's complement bytes.
 *
 * The kernel has three paths that give identical (exact integer) results: portable C, AVX2
 * and AVX-512 VNNI. The last two read weights packed in panels of 32 channels, 4 k's to a
 * 4-byte cell, in register tiles dequantized as they are stored: AVX2 widens int8 to int16
 * for vpmaddwd (4 rows x 8 channels), VNNI multiplies bytes with vpdpbusd (8 rows x 32
 * channels; its unsigned operand is the activation plus 128, a bias taken back out with the
 * weight rows' sums). qlinear gives the same floats on every path too. TIDE_QGEMM_AUTO takes
 * the best the CPU has, asked at run time (__builtin_cpu_supports), so one binary runs
 * everywhere. */
#ifndef TIDE_NN_QGEMM_H
#define TIDE_NN_QGEMM_H

#include "tensor/tensor.h"

typedef enum tide_qgemm_path {
    TIDE_QGEMM_AUTO,
    TIDE_QGEMM_PORTABLE,
    TIDE_QGEMM_AVX2,
    TIDE_QGEMM_VNNI
} tide_qgemm_path;

/* Whether this CPU (and build) can run path; AUTO and PORTABLE always can. */
int tide_qgemm_available(tide_qgemm_path path);
/* The path AUTO resolves to, and a path's name ("portable", "avx2", "avx512-vnni"). */
tide_qgemm_path tide_qgemm_best(void);
const char *tide_qgemm_name(tide_qgemm_path path);

/* c[m][n] = sum_k a[m][k] * b[n][k]: a is M x K, b is N x K, both row-major int8; c is
 * M x N int32. The AVX2 and VNNI paths pack b first (they fail only when that memory cannot
 * be had). */
tide_status tide_qgemm_s8(tide_qgemm_path path, int64_t M, int64_t N, int64_t K,
                          const int8_t *a, const int8_t *b, int32_t *c);

/* packed (u8, 1-D) = the weights wq (from tide_quantize_rows) laid out once for the AVX2 and
 * VNNI paths, with their row sums, so that qlinear need not pack them at every call. */
tide_status tide_qgemm_pack(tide_tensor *packed, const tide_tensor *wq);

/* q (u8, N x K, empty or of that shape) and scale (f32, N) from w (f32 N x K, contiguous). */
tide_status tide_quantize_rows(tide_tensor *q, tide_tensor *scale, const tide_tensor *w);

/* out (f32, M x N, empty or of that shape) = x W^T + bias with W given by (wq, wscale) from
 * tide_quantize_rows and x (f32 M x K) quantized per row here; bias (f32 N) and packed (from
 * tide_qgemm_pack, used by the AVX2 and VNNI paths) may be NULL. */
tide_status tide_qlinear(tide_tensor *out, const tide_tensor *x, const tide_tensor *wq,
                         const tide_tensor *wscale, const tide_tensor *bias,
                         const tide_tensor *packed, tide_qgemm_path path);

#endif
