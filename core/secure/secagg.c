/* secagg.c — libsodium's X25519, BLAKE2b, ChaCha20 and HMAC, and Shamir sharing over
 * GF(2^61 - 1) written on its randombytes (see secagg.h). */
#include "secure/secagg.h"
#include "tensor/dtype.h"
#include "tensor/tide_error.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The input libsodium's stream is xored with, to give the stream itself (16 KiB of zeros). */
static const uint32_t zero_words[4096];

tide_status tide_secagg_init(void)
{
    if (sodium_init() < 0) return tide_fail("secure_sum: libsodium failed to initialise");
    return TIDE_OK;
}

tide_status tide_secagg_keypair(uint8_t pk[TIDE_SECAGG_KEY], uint8_t sk[TIDE_SECAGG_KEY])
{
    TIDE_TRY(tide_secagg_init());
    randombytes_buf(sk, TIDE_SECAGG_KEY);
    if (crypto_scalarmult_base(pk, sk) != 0) return tide_fail("secure_sum: X25519 failed");
    return TIDE_OK;
}

tide_status tide_secagg_agree(uint8_t seed[TIDE_SECAGG_KEY], const uint8_t sk[TIDE_SECAGG_KEY],
                              const uint8_t pk[TIDE_SECAGG_KEY],
                              const uint8_t other_pk[TIDE_SECAGG_KEY])
{
    uint8_t q[crypto_scalarmult_BYTES];
    if (crypto_scalarmult(q, sk, other_pk) != 0)
        return tide_fail("secure_sum: key agreement failed (a degenerate public key)");
    int first = memcmp(pk, other_pk, TIDE_SECAGG_KEY) < 0;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, TIDE_SECAGG_KEY);
    crypto_generichash_update(&h, q, sizeof q);
    crypto_generichash_update(&h, first ? pk : other_pk, TIDE_SECAGG_KEY);
    crypto_generichash_update(&h, first ? other_pk : pk, TIDE_SECAGG_KEY);
    crypto_generichash_final(&h, seed, TIDE_SECAGG_KEY);
    sodium_memzero(q, sizeof q);
    return TIDE_OK;
}

static tide_status check_ring(const tide_tensor *y, const char *op)
{
    if (y->dtype != TIDE_I32 || !tide_is_contiguous(y))
        return tide_fail("%s: expected a contiguous i32 tensor of Z_2^32 values, got %s%s", op,
                         tide_dtype_name(y->dtype), tide_is_contiguous(y) ? "" : " (strided)");
    return TIDE_OK;
}

/* The ring's words: an i32 tensor's bits read as uint32_t, where sums wrap mod 2^32 (signed
 * overflow would be undefined). */
static uint32_t *ring(const tide_tensor *y)
{
    return tide_data(y);
}

/* Each block of y stays in L1 while every seed's stream for it is made and added: one pass
 * over y for all the masks, not one per seed. Word i of a seed's mask is word i of its
 * ChaCha20 stream (nonce 0: a seed masks once), made by libsodium into a block buffer. */
tide_status tide_secagg_mask(tide_tensor *y, const uint8_t *seeds, const int *signs, int count)
{
    TIDE_TRY(check_ring(y, "secure_sum mask"));
    int64_t n = tide_numel(y);
    uint32_t *v = ring(y);
    static const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    enum { BLOCK = 4096 };      /* words: 16 KiB, 256 ChaCha20 blocks */
    uint32_t words[BLOCK];
    for (int64_t start = 0; start < n; start += BLOCK) {
        int64_t len = n - start < BLOCK ? n - start : BLOCK;
        uint32_t *w = v + start;
        for (int j = 0; j < count; j++) {
            const uint8_t *seed = seeds + (size_t)j * TIDE_SECAGG_KEY;
            crypto_stream_chacha20_xor_ic((uint8_t *)words, (const uint8_t *)zero_words,
                                          (unsigned long long)len * 4, nonce,
                                          (uint64_t)start / 16, seed);   /* 16 words a block */
            if (signs[j] > 0)
                for (int64_t i = 0; i < len; i++) w[i] += words[i];
            else
                for (int64_t i = 0; i < len; i++) w[i] -= words[i];
        }
    }
    sodium_memzero(words, sizeof words);
    return TIDE_OK;
}

tide_status tide_secagg_ring_add(tide_tensor *total, const tide_tensor *y)
{
    TIDE_TRY(check_ring(total, "secure_sum add"));
    TIDE_TRY(check_ring(y, "secure_sum add"));
    int64_t n = tide_numel(total);
    if (tide_numel(y) != n)
        return tide_fail("secure_sum add: expected %lld values, got %lld", (long long)n,
                         (long long)tide_numel(y));
    uint32_t *t = ring(total);
    const uint32_t *a = ring(y);
    for (int64_t i = 0; i < n; i++) t[i] += a[i];
    return TIDE_OK;
}

tide_status tide_secagg_encode(tide_tensor *out, const tide_tensor *x, double scale)
{
    if (!tide_dtype_is_float(x->dtype) || !tide_is_contiguous(x))
        return tide_fail("secure_sum: expected a contiguous f32 or f64 tensor, got %s",
                         tide_dtype_name(x->dtype));
    int64_t n = tide_numel(x);
    TIDE_TRY(tide_prepare_out(out, TIDE_I32, 1, &n, "secure_sum encode"));
    uint32_t *o = ring(out);
    for (int64_t i = 0; i < n; i++) {
        double v = x->dtype == TIDE_F32 ? ((const float *)tide_data(x))[i]
                                        : ((const double *)tide_data(x))[i];
        double r = nearbyint(v * scale);
        if (!(fabs(r) < 2147483648.0))
            return tide_fail("secure_sum: value %g does not fit the fixed-point range "
                             "|x| < 2^31 / scale = %g", v, 2147483648.0 / scale);
        o[i] = (uint32_t)(int32_t)r;
    }
    return TIDE_OK;
}

tide_status tide_secagg_decode(tide_tensor *out, const tide_tensor *y, double scale)
{
    TIDE_TRY(check_ring(y, "secure_sum decode"));
    int64_t n = tide_numel(y);
    TIDE_TRY(tide_prepare_out(out, TIDE_F64, 1, &n, "secure_sum decode"));
    const uint32_t *v = ring(y);
    double *o = tide_data(out);
    for (int64_t i = 0; i < n; i++) o[i] = (double)(int32_t)v[i] / scale;
    return TIDE_OK;
}

/* ---------------------------------------------------------------- Shamir over 2^61 - 1 */

#define P61 ((uint64_t)0x1fffffffffffffffull)

static uint64_t mulmod(uint64_t a, uint64_t b)
{
    unsigned __int128 z = (unsigned __int128)a * b;
    uint64_t lo = (uint64_t)(z & P61), hi = (uint64_t)(z >> 61);
    uint64_t r = lo + hi;
    return r >= P61 ? r - P61 : r;
}

static uint64_t addmod(uint64_t a, uint64_t b)
{
    uint64_t r = a + b;
    return r >= P61 ? r - P61 : r;
}

static uint64_t powmod(uint64_t a, uint64_t e)
{
    uint64_t r = 1;
    for (; e; e >>= 1, a = mulmod(a, a))
        if (e & 1) r = mulmod(r, a);
    return r;
}

/* uniform in [0, p): 61 random bits, redrawn on the one value out of range */
static uint64_t random_field(void)
{
    uint64_t v;
    do {
        randombytes_buf(&v, sizeof v);
        v &= P61;
    } while (v == P61);
    return v;
}

static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

tide_status tide_secagg_split(uint8_t *shares, const uint8_t secret[TIDE_SECAGG_KEY], int n,
                              int t)
{
    if (t < 1 || t > n || n > 65535)
        return tide_fail("secure_sum: a threshold of %d out of %d shares is impossible", t, n);
    TIDE_TRY(tide_secagg_init());
    uint64_t *c = malloc((size_t)t * sizeof *c);
    if (!c) return tide_fail("secure_sum: out of memory sharing a key");
    for (int chunk = 0; chunk < 8; chunk++) {
        c[0] = (uint64_t)secret[4 * chunk] | (uint64_t)secret[4 * chunk + 1] << 8 |
               (uint64_t)secret[4 * chunk + 2] << 16 | (uint64_t)secret[4 * chunk + 3] << 24;
        for (int j = 1; j < t; j++) c[j] = random_field();
        for (int i = 1; i <= n; i++) {     /* Horner at x = i */
            uint64_t y = 0;
            for (int j = t - 1; j >= 0; j--) y = addmod(mulmod(y, (uint64_t)i), c[j]);
            put64(shares + (size_t)(i - 1) * TIDE_SECAGG_SHARE + 8 * chunk, y);
        }
    }
    sodium_memzero(c, (size_t)t * sizeof *c);
    free(c);
    return TIDE_OK;
}

tide_status tide_secagg_combine(uint8_t secret[TIDE_SECAGG_KEY], const int *xs,
                                const uint8_t *shares, int k)
{
    for (int a = 0; a < k; a++) {
        if (xs[a] < 1) return tide_fail("secure_sum: share x %d is not positive", xs[a]);
        for (int b = 0; b < a; b++)
            if (xs[a] == xs[b]) return tide_fail("secure_sum: two shares of x %d", xs[a]);
    }
    for (int chunk = 0; chunk < 8; chunk++) {
        uint64_t s = 0;
        for (int a = 0; a < k; a++) {     /* Lagrange basis at 0: prod x_b / (x_b - x_a) */
            uint64_t num = 1, den = 1;
            for (int b = 0; b < k; b++) {
                if (b == a) continue;
                num = mulmod(num, (uint64_t)xs[b]);
                den = mulmod(den, addmod((uint64_t)xs[b], P61 - (uint64_t)xs[a]));
            }
            uint64_t l = mulmod(num, powmod(den, P61 - 2));
            s = addmod(s, mulmod(get64(shares + (size_t)a * TIDE_SECAGG_SHARE + 8 * chunk), l));
        }
        if (s > 0xffffffffull)
            return tide_fail("secure_sum: the shares do not reconstruct a key (a wrong share?)");
        for (int i = 0; i < 4; i++) secret[4 * chunk + i] = (uint8_t)(s >> (8 * i));
    }
    return TIDE_OK;
}

void tide_secagg_auth(uint8_t tag[TIDE_SECAGG_TAG], const uint8_t *msg, size_t len,
                      const uint8_t key[TIDE_SECAGG_KEY])
{
    crypto_auth(tag, msg, len, key);
}

int tide_secagg_verify(const uint8_t tag[TIDE_SECAGG_TAG], const uint8_t *msg, size_t len,
                       const uint8_t key[TIDE_SECAGG_KEY])
{
    return crypto_auth_verify(tag, msg, len, key) == 0;
}

void tide_secagg_to_hex(char *hex, const uint8_t *bin, size_t len)
{
    sodium_bin2hex(hex, 2 * len + 1, bin, len);
}

tide_status tide_secagg_from_hex(uint8_t *bin, const char *hex, size_t len)
{
    size_t got = 0;
    if (len % 2 != 0 || sodium_hex2bin(bin, len / 2, hex, len, NULL, &got, NULL) != 0 ||
        got != len / 2)
        return tide_fail("secure_sum: expected a string of hex digit pairs, got %zu characters "
                         "that are not", len);
    return TIDE_OK;
}

void tide_secagg_random(uint8_t *buf, size_t len)
{
    randombytes_buf(buf, len);
}

tide_status tide_secagg_digest(uint8_t out[TIDE_SECAGG_KEY], const tide_tensor *t)
{
    if (!tide_is_contiguous(t)) return tide_fail("secure_sum: digest of a non-contiguous tensor");
    crypto_generichash(out, TIDE_SECAGG_KEY, tide_data(t),
                       (unsigned long long)tide_numel(t) * tide_dtype_size(t->dtype), NULL, 0);
    return TIDE_OK;
}

void tide_secagg_seal(uint8_t *box, const uint8_t *msg, size_t len,
                      const uint8_t nonce[TIDE_SECAGG_NONCE], const uint8_t key[TIDE_SECAGG_KEY])
{
    crypto_secretbox_easy(box, msg, len, nonce, key);
}

int tide_secagg_open(uint8_t *msg, const uint8_t *box, size_t box_len,
                     const uint8_t nonce[TIDE_SECAGG_NONCE], const uint8_t key[TIDE_SECAGG_KEY])
{
    if (box_len < crypto_secretbox_MACBYTES) return -1;
    return crypto_secretbox_open_easy(msg, box, box_len, nonce, key);
}

tide_status tide_secure_normal(tide_tensor *t, const uint8_t key[TIDE_SECAGG_KEY],
                               uint64_t *block, double std)
{
    if (!tide_dtype_is_float(t->dtype) || !tide_is_contiguous(t))
        return tide_fail("secure normal: expected a contiguous f32 or f64 tensor, got %s",
                         tide_dtype_name(t->dtype));
    if (!(std >= 0) || isinf(std))
        return tide_fail("secure normal: std must be a finite number >= 0, got %g", std);
    TIDE_TRY(tide_secagg_init());
    static const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    enum { WORDS = 2048 };          /* per refill: 16 KiB of stream, 256 ChaCha20 blocks */
    uint64_t words[WORDS];
    int used = WORDS;
    int64_t n = tide_numel(t);
    float *f = t->dtype == TIDE_F32 ? tide_data(t) : NULL;
    double *d = t->dtype == TIDE_F64 ? tide_data(t) : NULL;
    for (int64_t i = 0; i < n; i += 2) {
        /* Marsaglia's polar method: a point uniform in the unit disc gives two normals with
         * one log and one square root (no sine or cosine); 21% of the points are redrawn. */
        double u, v, s;
        do {
            if (used + 2 > WORDS) {
                memset(words, 0, sizeof words);
                crypto_stream_chacha20_xor_ic((uint8_t *)words, (const uint8_t *)words,
                                              sizeof words, nonce, *block, key);
                *block += sizeof words / 64;
                used = 0;
            }
            u = (double)(words[used++] >> 11) * 0x1p-52 - 1.0;     /* [-1, 1) */
            v = (double)(words[used++] >> 11) * 0x1p-52 - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        double m = std * sqrt(-2.0 * log(s) / s);
        if (f) {
            f[i] = (float)(u * m);
            if (i + 1 < n) f[i + 1] = (float)(v * m);
        } else {
            d[i] = u * m;
            if (i + 1 < n) d[i + 1] = v * m;
        }
    }
    sodium_memzero(words, sizeof words);
    return TIDE_OK;
}
