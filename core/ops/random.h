/* random.h — tensors whose element i is a function of i: seeded random streams and ranges.
 *
 * Random numbers are counter-based (Philox4x32-10, Salmon et al., SC'11): value i of a stream
 * is philox(key, i), a pure function. So any part of a tensor can be generated on its own and
 * equals the same part generated whole: element i of a fill that starts at counter `first`
 * uses counter first + i, i counting the tensor's elements in row-major (logical) order,
 * whatever its strides. To fill rows [r0, r1) of a global N x d tensor exactly as one process
 * filling the whole would, fill the local r1-r0 rows with first = c0 + r0*d, where c0 is the
 * counter the whole fill would start at; then advance every rank's generator by N*d.
 *
 * Every draw consumes exactly one counter per element (one 128-bit Philox block): uniform and
 * randint use its first 64 bits, normal uses all 128 for one Box-Muller pair (the cosine half),
 * randperm of n consumes n counters.
 *
 * Keys come from (seed, stream): tide_random_key hashes both through Philox with a fixed key,
 * so streams of different ranks (stream = rank) or seeds are unrelated. The bindings keep
 * generators as Lua userdata of metatable "tide.rng" whose block is a tide_rng.
 *
 * Ranges (arange, linspace, eye) are here too: like random fills, their element i is f(i). */
#ifndef TIDE_RANDOM_H
#define TIDE_RANDOM_H

#include <stdint.h>

#include "tensor/tensor.h"

/* The seed an unseeded default generator uses: tide.manual_seed(0) reproduces it. */
#define TIDE_DEFAULT_SEED 0

/* The whole state of a stream: saving (key, counter) and restoring it continues the stream
 * bit-identically (g:state() / g:load_state(s) in the bindings). */
typedef struct tide_rng {
    uint64_t key;
    uint64_t counter;   /* the next counter a draw will use */
} tide_rng;

/* Philox4x32-10 on one block: ctr[4] and key[2] in, out[4] out (may alias ctr). */
void tide_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* The key of stream `stream` of seed `seed`. */
uint64_t tide_random_key(uint64_t seed, uint64_t stream);
/* 128 random bits for counter c of key: two 64-bit words. */
void tide_random_bits(uint64_t key, uint64_t counter, uint64_t out[2]);

void tide_rng_seed(tide_rng *g, uint64_t seed, uint64_t stream);
static inline void tide_rng_advance(tide_rng *g, uint64_t n) { g->counter += n; }

/* --- fills at an explicit (key, first counter); t keeps its shape, any layout --- */
/* Uniform in [a, b) (f32 uses the top 24 bits, f64 the top 53). Float dtypes only. */
tide_status tide_random_uniform(tide_tensor *t, uint64_t key, uint64_t first, double a, double b);
/* Normal(mean, std) by Box-Muller. Float dtypes only; std >= 0. */
tide_status tide_random_normal(tide_tensor *t, uint64_t key, uint64_t first, double mean,
                               double std);
/* Integers uniform in [low, high) (high exclusive, as torch.randint), any dtype that holds
 * them. Uses Lemire's multiply-shift on 64 bits: the bias is below (high-low)/2^64. */
tide_status tide_random_int(tide_tensor *t, uint64_t key, uint64_t first, int64_t low,
                            int64_t high);
/* A uniformly random permutation of base..base+n-1 (Fisher-Yates, step i uses counter
 * first + i) into a 1-D tensor of n elements of any dtype that holds them. */
tide_status tide_random_perm(tide_tensor *t, uint64_t key, uint64_t first, int64_t base);

/* --- the same, drawing from a generator and advancing it by what they consume --- */
tide_status tide_rng_uniform(tide_rng *g, tide_tensor *t, double a, double b);
tide_status tide_rng_normal(tide_rng *g, tide_tensor *t, double mean, double std);
tide_status tide_rng_int(tide_rng *g, tide_tensor *t, int64_t low, int64_t high);
tide_status tide_rng_perm(tide_rng *g, tide_tensor *t, int64_t base);

/* --- ranges; out follows the "out" convention (empty: allocated as a 1-D or 2-D tensor) --- */
/* start, start+step, ... while < stop (> stop for a negative step), as torch.arange. */
tide_status tide_arange(tide_tensor *out, tide_dtype dtype, double start, double stop,
                        double step);
/* The same with exact integer arithmetic. */
tide_status tide_arange_int(tide_tensor *out, tide_dtype dtype, int64_t start, int64_t stop,
                            int64_t step);
/* n points from a to b inclusive; the last is exactly b. */
tide_status tide_linspace(tide_tensor *out, tide_dtype dtype, double a, double b, int64_t n);
/* An n x m matrix with ones on the diagonal. */
tide_status tide_eye(tide_tensor *out, tide_dtype dtype, int64_t n, int64_t m);

/* --- sampling from given probabilities (one counter per element drawn) --- */
/* out (empty) = a tensor of p's shape and dtype, 1 with probability p[i] (uniform_at(i) <
 * p[i]), else 0. p is float with every element in [0, 1]. */
tide_status tide_rng_bernoulli(tide_rng *g, tide_tensor *out, const tide_tensor *p);
/* out (empty) = i64 0-based category indices, n per row of w (1-D w: n; 2-D: rows x n), drawn
 * with probability proportional to w's row (non-negative, finite, some weight > 0); without
 * replacement each category is drawn at most once (n <= categories of nonzero weight). Draw j
 * of row r uses counter first + r*n + j. */
tide_status tide_rng_multinomial(tide_rng *g, tide_tensor *out, const tide_tensor *w, int64_t n,
                                 int replacement);

#endif
