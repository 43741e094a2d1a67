/* tensors.h — building small tensors from literal values and reading them back, for the C
 * tests: every test compares a kernel's tensor against values it computes another way. */
#ifndef TIDE_TEST_TENSORS_H
#define TIDE_TEST_TENSORS_H

#include <stdlib.h>

#include "tensor/tensor.h"

/* A contiguous tensor of dtype dt and shape holding vals (doubles, row-major), or 0, 1, 2...
 * when vals is NULL. A test cannot go on without its inputs, so a failed allocation aborts. */
static inline tide_tensor tt_make(tide_dtype dt, int ndim, const int64_t *shape,
                                  const double *vals)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    if (tide_tensor_alloc(&t, dt, ndim, shape) != TIDE_OK)
        abort();
    int64_t n = tide_numel(&t), idx[TIDE_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        tide_set_f64(&t, idx, vals ? vals[i] : (double)i);
        for (int d = ndim - 1; d >= 0 && ++idx[d] == shape[d]; d--)
            idx[d] = 0;
    }
    return t;
}

/* 1-D and 2-D shorthands. */
static inline tide_tensor tt_vec(tide_dtype dt, int64_t n, const double *vals)
{
    return tt_make(dt, 1, (int64_t[]){n}, vals);
}
static inline tide_tensor tt_mat(tide_dtype dt, int64_t r, int64_t c, const double *vals)
{
    return tt_make(dt, 2, (int64_t[]){r, c}, vals);
}

/* Element i in row-major order of any (strided) tensor, as a double / an integer. */
static inline void tt_index(const tide_tensor *t, int64_t i, int64_t *idx)
{
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = i % t->shape[d];
        i /= t->shape[d];
    }
}
static inline double tt_at(const tide_tensor *t, int64_t i)
{
    int64_t idx[TIDE_MAX_DIMS];
    tt_index(t, i, idx);
    return tide_get_f64(t, idx);
}
static inline int64_t tt_iat(const tide_tensor *t, int64_t i)
{
    int64_t idx[TIDE_MAX_DIMS];
    tt_index(t, i, idx);
    return tide_get_i64(t, idx);
}
static inline double tt_at2(const tide_tensor *t, int64_t i, int64_t j)
{
    return tide_get_f64(t, (int64_t[]){i, j});
}

/* A deterministic pseudo-random double in [0, 1) for test inputs (a 64-bit LCG's top bits),
 * independent of the core's own generators. */
static inline double tt_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return (double)(*state >> 11) * 0x1p-53;
}

/* Releases up to eight tensors. */
#define TT_RELEASE(...)                                                          \
    do {                                                                         \
        tide_tensor *tt_list_[] = {__VA_ARGS__};                                 \
        for (size_t tt_i_ = 0; tt_i_ < sizeof tt_list_ / sizeof *tt_list_; tt_i_++) \
            tide_tensor_release(tt_list_[tt_i_]);                                \
    } while (0)

#endif
