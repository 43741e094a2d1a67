/* hash.h — seeded 64-bit hashing of integer keys, and the kernels placement policies build on.
 *
 * tide_hash64_mix(key, seed) is the splitmix64 finaliser (Steele, Lea, Flood, OOPSLA'14) applied
 * to key + (seed + 1) * golden: for a fixed seed it is a bijection of the 64-bit keys, so
 * distinct keys never collide, and every output bit depends on every input bit. It is a pure
 * function with a stable definition (tests and users may recompute it), and its loop over a
 * contiguous tensor vectorises (64-bit multiplies).
 *
 * Keys are any integer dtype (i32, i64, u8), read as signed 64-bit integers, any layout; the
 * results have the keys' shape. Ranks are 0-based. */
#ifndef TIDE_HASH_H
#define TIDE_HASH_H

#include <stdint.h>

#include "tensor/tensor.h"

static inline uint64_t tide_hash64_mix(uint64_t key, uint64_t seed)
{
    uint64_t z = key + (seed + 1) * 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* out (i64) = the hash of each key, as the bit pattern of the unsigned hash. */
tide_status tide_hash64(tide_tensor *out, const tide_tensor *keys, uint64_t seed);
/* out (f64) = the hash's top 53 bits as a fraction in [0, 1). */
tide_status tide_hash_unit(tide_tensor *out, const tide_tensor *keys, uint64_t seed);
/* out (i32) = hash mod nbuckets (unsigned), so growing nbuckets moves most keys (hash-mod). */
tide_status tide_hash_bucket(tide_tensor *out, const tide_tensor *keys, uint64_t seed,
                             int64_t nbuckets);

/* Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, SODA'18): key i
 * starts at ring point start[i] - base (0..V, V meaning point 0 again, as searchsorted returns
 * past the end; base lets the Lua face pass its 1-based positions) and walks clockwise to the first point whose owner still has quota; that owner's quota
 * drops by one. Keys are placed in their order. start: i64 (any integer dtype), 1-D, n keys;
 * owners: i32, V points, each a rank in [0, nranks); quota: i64, nranks entries, contiguous,
 * updated in place. out (i32, n) gets the ranks. Fails when the quotas run out. */
tide_status tide_ring_bounded(tide_tensor *out, const tide_tensor *start, int64_t base,
                              const tide_tensor *owners, tide_tensor *quota);

#endif
