/* kmeans_impl.h — what the kmeans files share: argument checks, the optional f64 vectors, and
 * the exact squared distance between two rows. */
#ifndef TIDE_KMEANS_IMPL_H
#define TIDE_KMEANS_IMPL_H

#include "tensor/tensor.h"

/* x: 2-D f32 or f64 (rows x features). */
tide_status tide_kmeans_check_data(const tide_tensor *x, const char *op);
/* x as above and centres c: 2-D, x's dtype, x's features, at least one row. */
tide_status tide_kmeans_check_pair(const tide_tensor *x, const tide_tensor *c, const char *op);
/* An optional (NULL: fine) contiguous f64 tensor of exactly numel elements, named what. */
tide_status tide_kmeans_check_f64(const tide_tensor *t, int64_t numel, const char *op,
                                  const char *what);

/* The fused nearest-centre kernel for f32 (kmeans_fused.c), which the assignment pass may use
 * instead of GEMM + argmin: AVX-512 only (available() says whether this CPU has it). new()
 * lays out the k centres c (k x d) once per pass, or returns NULL when memory cannot be had;
 * nearest() writes the 0-based label of each of the m rows of x (f32, m x d). */
typedef struct tide_kmeans_fused tide_kmeans_fused;
int tide_kmeans_fused_available(void);
tide_kmeans_fused *tide_kmeans_fused_new(const float *c, int64_t k, int64_t d);
void tide_kmeans_fused_nearest(const tide_kmeans_fused *f, const void *x, int64_t m,
                               int32_t *labels);
void tide_kmeans_fused_free(tide_kmeans_fused *f);

static inline const double *kmeans_f64_or_null(const tide_tensor *t)
{
    return t ? tide_data(t) : NULL;
}

static inline double *kmeans_f64_mut_or_null(tide_tensor *t)
{
    return t ? tide_data(t) : NULL;
}

/* Σ(a − b)² in the data's type over one row (d is small), returned as double for summing over
 * rows. */
#define KMEANS_SQDIST(E, name, T)                                                             \
    static inline double kmeans_sqdist_##name(const T *restrict a, const T *restrict b,       \
                                              int64_t d)                                      \
    {                                                                                         \
        T s = 0;                                                                              \
        for (int64_t t = 0; t < d; t++) {                                                     \
            T e = a[t] - b[t];                                                                \
            s += e * e;                                                                       \
        }                                                                                     \
        return (double)s;                                                                     \
    }
TIDE_FOREACH_FLOAT_DTYPE(KMEANS_SQDIST)
#undef KMEANS_SQDIST

/* The squared distance between row r of x and row l of c, both contiguous with d columns. */
static inline double kmeans_sqdist_rows(tide_dtype dt, const void *x, int64_t r, const void *c,
                                        int64_t l, int64_t d)
{
    switch (dt) {
#define ROWS_CASE(E, name, T) \
    case E: return kmeans_sqdist_##name((const T *)x + r * d, (const T *)c + l * d, d);
        TIDE_FOREACH_FLOAT_DTYPE(ROWS_CASE)
#undef ROWS_CASE
    default: return 0;   /* the data was checked to be a float dtype */
    }
}

#endif
