/* secagg.h — the cryptographic pieces of secure aggregation (tide.federated.secure_sum),
 * all on libsodium: nothing here is a hand-made primitive.
 *
 * - X25519 key agreement (crypto_scalarmult): each pair of clients derives a shared 32-byte
 *   seed, hashed (BLAKE2b, crypto_generichash) with both public keys in a fixed order.
 * - Masks: a seed expanded by the ChaCha20 stream (crypto_stream_chacha20) into 32-bit words,
 *   added to or subtracted from a vector of Z_2^32 values: a ring, held in an i32 tensor whose
 *   bits are read as uint32_t (the residues 2^31 .. 2^32-1 show as negative i32 values).
 * - Fixed-point encoding of f32/f64 values into Z_2^32 (round(x * scale) mod 2^32) and back
 *   (the residue read as a signed 32-bit number, divided by scale).
 * - Shamir t-of-n sharing of a 32-byte secret, as 8 chunks of 32 bits each shared in the prime
 *   field of p = 2^61 - 1 (coefficients from libsodium's randombytes); a share is 64 bytes.
 * - Message authentication (crypto_auth, HMAC-SHA-512-256) under a pairwise key, digests of
 *   tensors (BLAKE2b) to authenticate them, and authenticated encryption of the shares
 *   (crypto_secretbox: XSalsa20-Poly1305) on their way through the server.
 * All functions report failure as a tide_status with a message. */
#ifndef TIDE_SECURE_SECAGG_H
#define TIDE_SECURE_SECAGG_H

#include "tensor/tensor.h"

#include <stddef.h>
#include <stdint.h>

#define TIDE_SECAGG_KEY 32
#define TIDE_SECAGG_SHARE 64
#define TIDE_SECAGG_TAG 32

tide_status tide_secagg_init(void);
tide_status tide_secagg_keypair(uint8_t pk[TIDE_SECAGG_KEY], uint8_t sk[TIDE_SECAGG_KEY]);
/* seed = H(X25519(sk, other_pk) || min(pk, other_pk) || max(pk, other_pk)) */
tide_status tide_secagg_agree(uint8_t seed[TIDE_SECAGG_KEY], const uint8_t sk[TIDE_SECAGG_KEY],
                              const uint8_t pk[TIDE_SECAGG_KEY],
                              const uint8_t other_pk[TIDE_SECAGG_KEY]);
/* y (a contiguous i32 ring) += sum over j < count of signs[j] * ChaCha20(seed j) mod 2^32;
 * seed j is seeds + 32 j, signs[j] is +1 or -1 */
tide_status tide_secagg_mask(tide_tensor *y, const uint8_t *seeds, const int *signs, int count);
/* total += y mod 2^32 (contiguous i32 rings of one size) */
tide_status tide_secagg_ring_add(tide_tensor *total, const tide_tensor *y);
/* out (an i32 ring, x's numel) = round(x * scale) mod 2^32; |x * scale| must stay below 2^31 */
tide_status tide_secagg_encode(tide_tensor *out, const tide_tensor *x, double scale);
/* out (f64, y's numel) = the signed 32-bit reading of the ring y, divided by scale */
tide_status tide_secagg_decode(tide_tensor *out, const tide_tensor *y, double scale);
/* shares: n * TIDE_SECAGG_SHARE bytes, share i (1-based x = i) at shares + (i-1) * 64 */
tide_status tide_secagg_split(uint8_t *shares, const uint8_t secret[TIDE_SECAGG_KEY], int n,
                              int t);
/* secret from k shares with their x's (1-based, distinct); k must be the threshold t or more */
tide_status tide_secagg_combine(uint8_t secret[TIDE_SECAGG_KEY], const int *xs,
                                const uint8_t *shares, int k);
void tide_secagg_auth(uint8_t tag[TIDE_SECAGG_TAG], const uint8_t *msg, size_t len,
                      const uint8_t key[TIDE_SECAGG_KEY]);
int tide_secagg_verify(const uint8_t tag[TIDE_SECAGG_TAG], const uint8_t *msg, size_t len,
                       const uint8_t key[TIDE_SECAGG_KEY]);
void tide_secagg_random(uint8_t *buf, size_t len);
/* hex (2 len + 1 bytes, NUL-terminated) = bin in lowercase hex digits; from_hex the inverse
 * (len hex digits into len / 2 bytes), failing on an odd length or a non-hex digit. For the
 * byte strings of the protocol's messages, which cross MPI in JSON. */
void tide_secagg_to_hex(char *hex, const uint8_t *bin, size_t len);
tide_status tide_secagg_from_hex(uint8_t *bin, const char *hex, size_t len);
/* BLAKE2b-256 of a contiguous tensor's bytes */
tide_status tide_secagg_digest(uint8_t out[TIDE_SECAGG_KEY], const tide_tensor *t);
#define TIDE_SECAGG_NONCE 24
#define TIDE_SECAGG_BOX_EXTRA 16
/* box (len + 16 bytes) = secretbox(msg); open returns 0 when box is genuine, -1 otherwise */
void tide_secagg_seal(uint8_t *box, const uint8_t *msg, size_t len,
                      const uint8_t nonce[TIDE_SECAGG_NONCE], const uint8_t key[TIDE_SECAGG_KEY]);
int tide_secagg_open(uint8_t *msg, const uint8_t *box, size_t box_len,
                     const uint8_t nonce[TIDE_SECAGG_NONCE], const uint8_t key[TIDE_SECAGG_KEY]);

/* Fills t (contiguous f32/f64) with N(0, std^2) draws from the ChaCha20 stream of key,
 * starting at 64-byte block *block and advancing it past what was used: a cryptographically
 * strong Gaussian source (as Opacus's secure_mode), for DP-SGD's noise: Marsaglia's polar
 * method on 53-bit uniforms, both outputs of each pair used. */
tide_status tide_secure_normal(tide_tensor *t, const uint8_t key[TIDE_SECAGG_KEY],
                               uint64_t *block, double std);

#endif
