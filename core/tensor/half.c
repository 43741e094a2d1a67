/* half.c — f16 and bf16 conversions (see half.h). One pair of functions serves both formats:
 * they differ only in the widths of exponent and mantissa. */
#include "tensor/half.h"

#include <math.h>
#include <string.h>

/* A 16-bit float format: stored mantissa bits and exponent bits (1 + 5 + 10, 1 + 8 + 7). */
typedef struct { int mbits, ebits; } format16;
static const format16 F16 = {10, 5}, BF16 = {7, 8};

/* Scaling by a power of two is exact, so nearbyint (the default mode: ties to even) rounds the
 * scaled mantissa exactly once, as IEEE narrowing does. */
static uint16_t narrow(double x, format16 f)
{
    int bias = (1 << (f.ebits - 1)) - 1, emin = 1 - bias;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    uint16_t inf = (uint16_t)(((1 << f.ebits) - 1) << f.mbits);
    if (isnan(x))
        return sign | inf | (uint16_t)(1 << (f.mbits - 1));
    double a = fabs(x);
    if (a == 0)
        return sign;
    if (isinf(a))
        return sign | inf;
    int e;
    frexp(a, &e);
    e -= 1;                                   /* a = 1.m * 2^e */
    if (e < emin)
        e = emin;                             /* a subnormal: fixed exponent, no hidden bit */
    double one = ldexp(1.0, f.mbits);
    double q = nearbyint(ldexp(a, f.mbits - e));
    if (q >= 2 * one) {                       /* rounded up to the next binade */
        q /= 2;
        e += 1;
    }
    if (e > bias)
        return sign | inf;
    /* q < 2^mbits only for a subnormal (exponent field 0); one that rounded up to 2^mbits is
     * the smallest normal, which the same formula encodes */
    unsigned field = q < one ? 0 : (unsigned)(e + bias);
    return sign | (uint16_t)(field << f.mbits) | (uint16_t)((unsigned)q & ((1u << f.mbits) - 1));
}

static double widen(uint16_t h, format16 f)
{
    int bias = (1 << (f.ebits - 1)) - 1;
    unsigned field = (h >> f.mbits) & ((1u << f.ebits) - 1), m = h & ((1u << f.mbits) - 1);
    double v;
    if (field == (1u << f.ebits) - 1)
        v = m ? NAN : INFINITY;
    else if (field == 0)
        v = ldexp((double)m, 1 - bias - f.mbits);
    else
        v = ldexp((double)(m | (1u << f.mbits)), (int)field - bias - f.mbits);
    return (h & 0x8000) ? -v : v;
}

uint16_t tide_f16_from_f64(double x) { return narrow(x, F16); }
double tide_f16_to_f64(uint16_t h) { return widen(h, F16); }
uint16_t tide_bf16_from_f64(double x) { return narrow(x, BF16); }
double tide_bf16_to_f64(uint16_t h) { return widen(h, BF16); }

int tide_dtype_is_storage(tide_dtype dt)
{
    return dt == TIDE_F16 || dt == TIDE_BF16;
}

tide_status tide_dtype_computes(tide_dtype dt, const char *op)
{
    if (!tide_dtype_is_storage(dt))
        return TIDE_OK;
    return tide_fail("%s: %s is a storage dtype: convert with :to('f32') first", op,
                     tide_dtype_name(dt));
}

uint16_t tide_half_from_f64(tide_dtype dt, double v)
{
    return dt == TIDE_BF16 ? narrow(v, BF16) : narrow(v, F16);
}

double tide_half_to_f64(tide_dtype dt, uint16_t h)
{
    return dt == TIDE_BF16 ? widen(h, BF16) : widen(h, F16);
}

/* bf16 is the top half of an f32: rounding the low half to even is the whole conversion
 * (NaNs are caught first, as the carry could turn one into inf). */
static uint16_t bf16_from_f32_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((b >> 16) | 0x40);
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

void tide_half_from_f32(tide_dtype dt, uint16_t *dst, const float *src, int64_t n)
{
    if (dt == TIDE_BF16)
        for (int64_t i = 0; i < n; i++)
            dst[i] = bf16_from_f32_bits(src[i]);
    else
        for (int64_t i = 0; i < n; i++)
            dst[i] = narrow(src[i], F16);
}

void tide_half_to_f32(tide_dtype dt, float *dst, const uint16_t *src, int64_t n)
{
    if (dt == TIDE_BF16)
        for (int64_t i = 0; i < n; i++) {
            uint32_t b = (uint32_t)src[i] << 16;
            memcpy(&dst[i], &b, sizeof b);
        }
    else
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)widen(src[i], F16);
}
