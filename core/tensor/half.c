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
static uint32_t bits_of(float f);

static uint16_t bf16_from_f32_bits(float x)
{
    uint32_t b = bits_of(x);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((b >> 16) | 0x40);
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

static float f32_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* f32 -> f16 on the bits (F. Giesen's float_to_half_fast3_rtne), ten times the speed of
 * narrow() and the same results (tests/lua/half_spec.lua checks both against numpy): a normal
 * result rounds the 13 dropped bits to even by an add whose carry may step the exponent (up to
 * inf); a subnormal one lets the FPU round, by adding a number whose ulp is f16's smallest. */
static uint16_t f16_from_f32_bits(float f)
{
    uint32_t x = bits_of(f), sign = x & 0x80000000u;
    x ^= sign;
    uint16_t o;
    if (x >= 0x47800000u) {                       /* >= 2^16: inf, or NaN (kept quiet) */
        o = x > 0x7f800000u ? 0x7e00 : 0x7c00;
    } else if (x < 0x38800000u) {                 /* below 2^-14: subnormal or zero */
        const uint32_t magic = (uint32_t)((127 - 15) + (23 - 10) + 1) << 23;
        o = (uint16_t)(bits_of(f32_of(x) + f32_of(magic)) - magic);
    } else {
        uint32_t odd = (x >> 13) & 1u;
        x += ((uint32_t)(15 - 127) << 23) + 0xfffu + odd;
        o = (uint16_t)(x >> 13);
    }
    return o | (uint16_t)(sign >> 16);
}

/* f16 -> f32 on the bits (Giesen's half_to_float): move exponent and mantissa into place and
 * rebias; inf and NaN get the top exponent, a subnormal is renormalised by an exact subtraction. */
static float f16_to_f32_bits(uint16_t h)
{
    const uint32_t shifted_exp = 0x7c00u << 13;
    uint32_t o = ((uint32_t)h & 0x7fffu) << 13, exp = shifted_exp & o;
    o += (uint32_t)(127 - 15) << 23;
    if (exp == shifted_exp)
        o += (uint32_t)(128 - 16) << 23;
    else if (exp == 0)
        o = bits_of(f32_of(o + (1u << 23)) - f32_of(113u << 23));
    return f32_of(o | ((uint32_t)h & 0x8000u) << 16);
}

void tide_half_from_f32(tide_dtype dt, uint16_t *dst, const float *src, int64_t n)
{
    if (dt == TIDE_BF16)
        for (int64_t i = 0; i < n; i++)
            dst[i] = bf16_from_f32_bits(src[i]);
    else
        for (int64_t i = 0; i < n; i++)
            dst[i] = f16_from_f32_bits(src[i]);
}

void tide_half_to_f32(tide_dtype dt, float *dst, const uint16_t *src, int64_t n)
{
    if (dt == TIDE_BF16)
        for (int64_t i = 0; i < n; i++)
            dst[i] = f32_of((uint32_t)src[i] << 16);
    else
        for (int64_t i = 0; i < n; i++)
            dst[i] = f16_to_f32_bits(src[i]);
}
