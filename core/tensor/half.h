/* half.h — the 16-bit storage floats: IEEE binary16 (f16) and bfloat16 (bf16), kept as their
 * bit patterns. Narrowing rounds to nearest, ties to even, straight from a double (no double
 * rounding through f32); overflow gives inf, NaN stays NaN (quiet, sign kept), subnormals are
 * kept as subnormals. Widening is exact. */
#ifndef TIDE_HALF_H
#define TIDE_HALF_H

#include <stdint.h>

#include "tensor/dtype.h"

uint16_t tide_f16_from_f64(double x);
double tide_f16_to_f64(uint16_t h);
uint16_t tide_bf16_from_f64(double x);
double tide_bf16_to_f64(uint16_t h);

/* Is dt a storage dtype (f16, bf16), which kernels do not compute on? */
int tide_dtype_is_storage(tide_dtype dt);
/* Fails with "op: f16 is a storage dtype: convert with :to('f32') first" for a storage dtype:
 * the check every computing entry point makes before its kernels. */
tide_status tide_dtype_computes(tide_dtype dt, const char *op);

/* The bits of v in storage dtype dt, and the value of bits h of dt. */
uint16_t tide_half_from_f64(tide_dtype dt, double v);
double tide_half_to_f64(tide_dtype dt, uint16_t h);

/* Contiguous f32 <-> storage dtype conversions, the hot path of compressed gradients. */
void tide_half_from_f32(tide_dtype dt, uint16_t *dst, const float *src, int64_t n);
void tide_half_to_f32(tide_dtype dt, float *dst, const uint16_t *src, int64_t n);

#endif
