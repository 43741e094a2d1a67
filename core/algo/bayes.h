/* bayes.h — drawing samples of a discrete Bayesian network, the inner loop of tide.bayes's
 * forward sampling and likelihood weighting (scripts/tide/bayes/sampling.lua).
 *
 * Promises:
 * - The network is given as flat arrays, its variables in a topological order (every parent
 *   before its children); tide.bayes checked the CPTs (rows sum to 1) before handing them here.
 * - Samples come in blocks of TIDE_BN_BLOCK: block b draws from a splitmix64 stream seeded by
 *   the Philox block (key, first + b), so n samples consume tide_bn_counters(n) counters and
 *   the draws depend only on (key, first), not on how rounds or ranks split the work.
 * - Only sums leave: Σw, Σw², and per state s of the query Σw·[x=s] and Σw²·[x=s], added to
 *   what `sums` holds, so rounds and ranks combine by addition. Nothing here communicates. */
#ifndef TIDE_BAYES_H
#define TIDE_BAYES_H

#include <stdint.h>

#include "tensor/tensor.h"

typedef struct tide_bn {
    int32_t nvars;
    const int32_t *nstates;       /* per variable */
    const int64_t *parent_start;  /* nvars + 1: v's parents are parents[parent_start[v] ..) */
    const int32_t *parents;       /* positions (0-based, in this order) of earlier variables */
    const int64_t *strides;       /* per parent entry: its weight in v's CPT row number */
    const int64_t *cpt_start;     /* per variable: where its CPT starts in cpt */
    const double *cpt;            /* each row nstates long, own state fastest */
    const int32_t *evidence;      /* per variable: the observed state (0-based), or -1 */
} tide_bn;

#define TIDE_BN_BLOCK 256

static inline uint64_t tide_bn_counters(int64_t n)
{
    return (uint64_t)((n + TIDE_BN_BLOCK - 1) / TIDE_BN_BLOCK);
}

/* Draws n samples; with `rejection` an observed variable is drawn too and a sample that
 * disagrees with the evidence weighs 0 (forward sampling), else it weighs the likelihood of
 * the evidence (likelihood weighting). sums has 2 + 2 * nstates[query] entries. */
tide_status tide_bn_weighted(const tide_bn *net, int32_t query, int64_t n, int rejection,
                             uint64_t key, uint64_t first, double *sums);

#endif
