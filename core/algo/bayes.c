/* bayes.c — forward sampling and likelihood weighting, one sample at a time over flat CPTs.
 * A splitmix64 stream per block of samples, seeded by one Philox block, keeps the draws
 * counter-based (see bayes.h) while a draw costs a few multiplications rather than a Philox
 * block. */
#include "algo/bayes.h"

#include <stdlib.h>

#include "ops/random.h"
#include "tensor/tide_error.h"

static inline uint64_t splitmix_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double unit(uint64_t *s) { return (double)(splitmix_next(s) >> 11) * 0x1p-53; }

/* A state drawn from one CPT row by inverting its cumulative sum; rounding that leaves u past
 * the last sum lands on the last state with positive probability. */
static int32_t draw_state(const double *row, int32_t k, double u)
{
    double acc = 0;
    int32_t last = 0;
    for (int32_t s = 0; s < k; s++) {
        if (row[s] > 0) {
            acc += row[s];
            last = s;
            if (u < acc)
                return s;
        }
    }
    return last;
}

static const double *cpt_row(const tide_bn *net, int32_t v, const int32_t *states)
{
    int64_t row = 0;
    for (int64_t j = net->parent_start[v]; j < net->parent_start[v + 1]; j++)
        row += states[net->parents[j]] * net->strides[j];
    return net->cpt + net->cpt_start[v] + row * net->nstates[v];
}

tide_status tide_bn_weighted(const tide_bn *net, int32_t query, int64_t n, int rejection,
                             uint64_t key, uint64_t first, double *sums)
{
    if (net->nvars < 1 || query < 0 || query >= net->nvars || n < 0)
        return tide_fail("bayes_weighted: query %d of %d variables, %lld samples",
                         (int)query, (int)net->nvars, (long long)n);
    int32_t *states = malloc((size_t)net->nvars * sizeof *states);
    if (!states)
        return tide_fail("bayes_weighted: out of memory for %d states",
                         (int)net->nvars);
    int32_t nq = net->nstates[query];
    double w_sum = 0, w2_sum = 0;
    uint64_t stream = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i % TIDE_BN_BLOCK == 0) {
            uint64_t bits[2];
            tide_random_bits(key, first + (uint64_t)(i / TIDE_BN_BLOCK), bits);
            stream = bits[0] ^ (bits[1] << 1);
        }
        double w = 1;
        for (int32_t v = 0; v < net->nvars && w > 0; v++) {
            const double *row = cpt_row(net, v, states);
            int32_t e = net->evidence[v];
            if (e < 0) {
                states[v] = draw_state(row, net->nstates[v], unit(&stream));
            } else {
                if (rejection)
                    w = draw_state(row, net->nstates[v], unit(&stream)) == e ? w : 0;
                else
                    w *= row[e];
                states[v] = e;
            }
        }
        if (w > 0) {   /* a sample of weight 0 adds nothing, and may have stopped early */
            w_sum += w;
            w2_sum += w * w;
            sums[2 + states[query]] += w;
            sums[2 + nq + states[query]] += w * w;
        }
    }
    sums[0] += w_sum;
    sums[1] += w2_sum;
    free(states);
    return TIDE_OK;
}
