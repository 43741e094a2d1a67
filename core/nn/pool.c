/* pool.c — max, average and adaptive-average 2-D pooling (see pool.h). Each loop is written once
 * and generated per float dtype from dtype.h's table; a call dispatches once, not per element. */
#include "nn/pool.h"
#include "tensor/dtype.h"
#include "tensor/tide_error.h"

#include <string.h>

static tide_status check_input(const tide_tensor *x, const char *op)
{
    char a[96];
    if (x->ndim != 4)
        return tide_fail("%s: expected a 4-D input (batch x channels x height x width), got %s",
                         op, tide_shape_str(x, a, sizeof a));
    if (!tide_dtype_is_float(x->dtype))
        return tide_fail("%s: expected an f32 or f64 tensor, got %s", op,
                         tide_dtype_name(x->dtype));
    if (!tide_is_contiguous(x))
        return tide_fail("%s: the input must be contiguous", op);
    return TIDE_OK;
}

static tide_status out_shape(int64_t shape[4], const tide_tensor *x, const tide_pool2d_params *p,
                             const char *op)
{
    char a[96];
    tide_status st = check_input(x, op);
    if (st)
        return st;
    shape[0] = x->shape[0], shape[1] = x->shape[1];
    for (int d = 0; d < 2; d++) {
        if (p->kernel[d] < 1 || p->stride[d] < 1 || p->padding[d] < 0)
            return tide_fail("%s: kernel and stride must be >= 1 and padding >= 0", op);
        if (2 * p->padding[d] > p->kernel[d])
            return tide_fail("%s: padding %lld must be at most half the kernel size %lld", op,
                             (long long)p->padding[d], (long long)p->kernel[d]);
        int64_t span = x->shape[2 + d] + 2 * p->padding[d] - p->kernel[d];
        if (span < 0)
            return tide_fail("%s: input %s is smaller than the %lldx%lld window", op,
                             tide_shape_str(x, a, sizeof a), (long long)p->kernel[0],
                             (long long)p->kernel[1]);
        shape[2 + d] = span / p->stride[d] + 1;
    }
    return TIDE_OK;
}

static tide_status prepare(tide_tensor *out, tide_dtype dt, const int64_t *shape, const char *op)
{
    tide_status st = tide_prepare_out(out, dt, 4, shape, op);
    if (!st && !tide_is_contiguous(out))
        st = tide_fail("%s: out must be contiguous", op);
    return st;
}

/* grad_out must be shaped like the forward's output, of x's dtype and contiguous. */
static tide_status check_grad(const tide_tensor *g, const tide_tensor *x, const int64_t *shape,
                              const char *op)
{
    char a[96], b[96];
    if (g->ndim != 4 || memcmp(g->shape, shape, 4 * sizeof *shape) != 0 || g->dtype != x->dtype)
        return tide_fail("%s: expected grad_out of shape %s, got %s", op,
                         tide_shape_str_n(4, shape, a, sizeof a), tide_shape_str(g, b, sizeof b));
    if (!tide_is_contiguous(g))
        return tide_fail("%s: grad_out must be contiguous", op);
    return TIDE_OK;
}

/* The input rows (d 0) or columns (d 1) [lo, hi) under output index o's window, clipped to
 * the size of the input: padding reads nothing. */
static void conv_window(int64_t o, int d, const tide_pool2d_params *p, int64_t size, int64_t *lo,
                        int64_t *hi)
{
    *lo = o * p->stride[d] - p->padding[d];
    *hi = *lo + p->kernel[d];
    if (*lo < 0)
        *lo = 0;
    if (*hi > size)
        *hi = size;
}

/* Adaptive windows: [lo, hi) of the input for output index i of n over size. */
static void window(int64_t i, int64_t n, int64_t size, int64_t *lo, int64_t *hi)
{
    *lo = i * size / n;
    *hi = ((i + 1) * size + n - 1) / n;
}

/* The window of output (oi, oj) and the count an average divides by: p's fixed window counts
 * its padding, as torch's count_include_pad; p NULL is adaptive. */
static double window2(int64_t oi, int64_t oj, const int64_t *s, int64_t H, int64_t W,
                      const tide_pool2d_params *p, int64_t *i0, int64_t *i1, int64_t *j0,
                      int64_t *j1)
{
    if (p) {
        conv_window(oi, 0, p, H, i0, i1);
        conv_window(oj, 1, p, W, j0, j1);
        return (double)(p->kernel[0] * p->kernel[1]);
    }
    window(oi, s[2], H, i0, i1);
    window(oj, s[3], W, j0, j1);
    return (double)((*i1 - *i0) * (*j1 - *j0));
}

/* One element v (at flat index idx) of a max-pooling window against the running best and at:
 * written as a max and a masked add (GCC turned a ?: on the index into a branch), for random
 * data would mispredict a branch every other element; a NaN only raises the flag nan, and its
 * window is looked at again. */
#define MAX_TAKE(T, v, idx)                           \
    do {                                              \
        T v_ = (v);                                   \
        int64_t take_ = v_ > best;                    \
        at += ((idx) - at) & -take_;                  \
        best = v_ > best ? v_ : best;                 \
        nan |= v_ != v_;                              \
    } while (0)

/* Per dtype: max pooling and its backward; average pooling (fixed or adaptive windows, see
 * window2) and its backward, which spreads each grad_out entry evenly over its window. s is
 * the output's shape; planes are contiguous H x W. */
#define POOL(E, name, T)                                                                    \
    /* The first NaN of a window (torch propagates NaN), by a second look at the rare window  \
     * that has one. */                                                                     \
    static int64_t first_nan_##name(const T *x, int64_t W, int64_t i0, int64_t i1,           \
                                    int64_t j0, int64_t j1)                                 \
    {                                                                                       \
        for (int64_t i = i0; i < i1; i++)                                                   \
            for (int64_t j = j0; j < j1; j++)                                               \
                if (x[i * W + j] != x[i * W + j])                                           \
                    return i * W + j;                                                       \
        return -1;                                                                          \
    }                                                                                       \
    /* The 2x2 windows at stride 2 of most CNNs, unrolled: the general loops below spend   \
     * more on their control than on a window's four compares. */                          \
    static void max2x2_##name(const T *x, int64_t H, int64_t W, const int64_t *s, T *out,    \
                              int64_t *am)                                                  \
    {                                                                                       \
        for (int64_t pl = 0; pl < s[0] * s[1]; pl++, x += H * W)                            \
            for (int64_t oi = 0; oi < s[2]; oi++) {                                         \
                int64_t i0 = 2 * oi * W, o = (pl * s[2] + oi) * s[3];                       \
                for (int64_t oj = 0; oj < s[3]; oj++) {                                     \
                    int64_t a = i0 + 2 * oj, at = a;                                        \
                    T best = x[a];                                                          \
                    int nan = best != best;                                                 \
                    MAX_TAKE(T, x[a + 1], a + 1);                                           \
                    MAX_TAKE(T, x[a + W], a + W);                                           \
                    MAX_TAKE(T, x[a + W + 1], a + W + 1);                                   \
                    if (nan) {                                                              \
                        at = first_nan_##name(x, W, 2 * oi, 2 * oi + 2, 2 * oj, 2 * oj + 2); \
                        best = x[at];                                                       \
                    }                                                                       \
                    out[o + oj] = best;                                                     \
                    am[o + oj] = at;                                                        \
                }                                                                           \
            }                                                                               \
    }                                                                                       \
    /* Each window's maximum, the first of equal ones in row-major order (see MAX_TAKE).    \
     * Windows are never empty: padding is at most half one. */                             \
    static void max_##name(const void *xv, int64_t H, int64_t W, const int64_t *s,           \
                           const tide_pool2d_params *p, void *outv, int64_t *am)            \
    {                                                                                       \
        const T *x = xv;                                                                    \
        T *out = outv;                                                                      \
        if (p->kernel[0] == 2 && p->kernel[1] == 2 && p->stride[0] == 2 &&                   \
            p->stride[1] == 2 && p->padding[0] == 0 && p->padding[1] == 0) {                 \
            max2x2_##name(x, H, W, s, out, am);                                             \
            return;                                                                         \
        }                                                                                   \
        for (int64_t pl = 0; pl < s[0] * s[1]; pl++, x += H * W)                            \
            for (int64_t oi = 0; oi < s[2]; oi++) {                                         \
                int64_t i0, i1, o = (pl * s[2] + oi) * s[3];                                \
                conv_window(oi, 0, p, H, &i0, &i1);                                         \
                for (int64_t oj = 0; oj < s[3]; oj++) {                                     \
                    int64_t j0, j1;                                                         \
                    conv_window(oj, 1, p, W, &j0, &j1);                                     \
                    T best = x[i0 * W + j0];                                                \
                    int64_t at = i0 * W + j0;                                               \
                    int nan = 0;                                                            \
                    for (int64_t i = i0; i < i1; i++)                                       \
                        for (int64_t j = j0; j < j1; j++)                                   \
                            MAX_TAKE(T, x[i * W + j], i * W + j);                           \
                    if (nan) {                                                              \
                        at = first_nan_##name(x, W, i0, i1, j0, j1);                        \
                        best = x[at];                                                       \
                    }                                                                       \
                    out[o + oj] = best;                                                     \
                    am[o + oj] = at;                                                        \
                }                                                                           \
            }                                                                               \
    }                                                                                       \
    static void max_bw_##name(const void *gov, const int64_t *am, int64_t planes, int64_t HW, \
                              int64_t L, void *giv)                                         \
    {                                                                                       \
        const T *go = gov;                                                                  \
        T *gi = giv;                                                                        \
        for (int64_t pl = 0; pl < planes; pl++, gi += HW, go += L, am += L)                 \
            for (int64_t l = 0; l < L; l++)                                                 \
                gi[am[l]] += go[l];                                                         \
    }                                                                                       \
    static void avg_##name(const void *xv, int64_t H, int64_t W, const int64_t *s,           \
                           const tide_pool2d_params *p, void *outv)                         \
    {                                                                                       \
        const T *x = xv;                                                                    \
        T *out = outv;                                                                      \
        for (int64_t pl = 0; pl < s[0] * s[1]; pl++, x += H * W)                            \
            for (int64_t oi = 0; oi < s[2]; oi++)                                           \
                for (int64_t oj = 0; oj < s[3]; oj++) {                                     \
                    int64_t i0, i1, j0, j1;                                                 \
                    double count = window2(oi, oj, s, H, W, p, &i0, &i1, &j0, &j1), sum = 0; \
                    for (int64_t i = i0; i < i1; i++)                                       \
                        for (int64_t j = j0; j < j1; j++)                                   \
                            sum += x[i * W + j];                                            \
                    out[(pl * s[2] + oi) * s[3] + oj] = (T)(sum / count);                   \
                }                                                                           \
    }                                                                                       \
    static void avg_bw_##name(const void *gov, int64_t H, int64_t W, const int64_t *s,       \
                              const tide_pool2d_params *p, void *giv)                       \
    {                                                                                       \
        const T *go = gov;                                                                  \
        T *gi = giv;                                                                        \
        for (int64_t pl = 0; pl < s[0] * s[1]; pl++, gi += H * W)                           \
            for (int64_t oi = 0; oi < s[2]; oi++)                                           \
                for (int64_t oj = 0; oj < s[3]; oj++) {                                     \
                    int64_t i0, i1, j0, j1;                                                 \
                    double count = window2(oi, oj, s, H, W, p, &i0, &i1, &j0, &j1);         \
                    T v = (T)(go[(pl * s[2] + oi) * s[3] + oj] / count);                    \
                    for (int64_t i = i0; i < i1; i++)                                       \
                        for (int64_t j = j0; j < j1; j++)                                   \
                            gi[i * W + j] += v;                                             \
                }                                                                           \
    }
TIDE_FOREACH_FLOAT_DTYPE(POOL)

/* The kernels of one dtype, chosen once per call. */
typedef struct pool_kernels {
    void (*max)(const void *x, int64_t H, int64_t W, const int64_t *s,
                const tide_pool2d_params *p, void *out, int64_t *am);
    void (*max_bw)(const void *go, const int64_t *am, int64_t planes, int64_t HW, int64_t L,
                   void *gi);
    void (*avg)(const void *x, int64_t H, int64_t W, const int64_t *s,
                const tide_pool2d_params *p, void *out);
    void (*avg_bw)(const void *go, int64_t H, int64_t W, const int64_t *s,
                   const tide_pool2d_params *p, void *gi);
} pool_kernels;

#define POOL_KERNELS(E, name, T) \
    static const pool_kernels pool_##name = {max_##name, max_bw_##name, avg_##name, avg_bw_##name};
TIDE_FOREACH_FLOAT_DTYPE(POOL_KERNELS)

static const pool_kernels *kernels(tide_dtype dt)
{
#define POOL_CASE(E, name, T) \
    case E:                   \
        return &pool_##name;
    switch (dt) {
        TIDE_FOREACH_FLOAT_DTYPE(POOL_CASE)
    default:
        return NULL;    /* check_input has refused every other dtype */
    }
}

tide_status tide_max_pool2d(tide_tensor *out, tide_tensor *argmax, const tide_tensor *x,
                            const tide_pool2d_params *p)
{
    int64_t s[4];
    tide_status st = out_shape(s, x, p, "max_pool2d");
    if (!st)
        st = prepare(out, x->dtype, s, "max_pool2d");
    if (!st)
        st = tide_prepare_out(argmax, TIDE_I64, 4, s, "max_pool2d");
    if (st)
        return st;
    kernels(x->dtype)->max(tide_data(x), x->shape[2], x->shape[3], s, p, tide_data(out),
                           tide_data(argmax));
    return TIDE_OK;
}

tide_status tide_max_pool2d_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                     const tide_tensor *argmax, const tide_tensor *x)
{
    tide_status st = check_input(x, "max_pool2d_backward");
    if (!st)
        st = check_grad(grad_out, x, argmax->shape, "max_pool2d_backward");
    if (!st && (argmax->dtype != TIDE_I64 || !tide_is_contiguous(argmax)))
        st = tide_fail("max_pool2d_backward: argmax must be the contiguous i64 forward gave");
    if (!st)
        st = prepare(grad_in, x->dtype, x->shape, "max_pool2d_backward");
    if (st)
        return st;
    int64_t HW = x->shape[2] * x->shape[3], L = argmax->shape[2] * argmax->shape[3];
    int64_t planes = x->shape[0] * x->shape[1];
    memset(tide_data(grad_in), 0, (size_t)(planes * HW) * tide_dtype_size(x->dtype));
    kernels(x->dtype)->max_bw(tide_data(grad_out), tide_data(argmax), planes, HW, L,
                              tide_data(grad_in));
    return TIDE_OK;
}

tide_status tide_avg_pool2d(tide_tensor *out, const tide_tensor *x, const tide_pool2d_params *p)
{
    int64_t s[4];
    tide_status st = out_shape(s, x, p, "avg_pool2d");
    if (!st)
        st = prepare(out, x->dtype, s, "avg_pool2d");
    if (st)
        return st;
    kernels(x->dtype)->avg(tide_data(x), x->shape[2], x->shape[3], s, p, tide_data(out));
    return TIDE_OK;
}

tide_status tide_avg_pool2d_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                     const tide_tensor *x, const tide_pool2d_params *p)
{
    int64_t s[4];
    tide_status st = out_shape(s, x, p, "avg_pool2d_backward");
    if (!st)
        st = check_grad(grad_out, x, s, "avg_pool2d_backward");
    if (!st)
        st = prepare(grad_in, x->dtype, x->shape, "avg_pool2d_backward");
    if (st)
        return st;
    memset(tide_data(grad_in), 0, (size_t)tide_numel(x) * tide_dtype_size(x->dtype));
    kernels(x->dtype)->avg_bw(tide_data(grad_out), x->shape[2], x->shape[3], s, p,
                              tide_data(grad_in));
    return TIDE_OK;
}

tide_status tide_adaptive_avg_pool2d(tide_tensor *out, const tide_tensor *x, int64_t oh,
                                     int64_t ow)
{
    tide_status st = check_input(x, "adaptive_avg_pool2d");
    if (st)
        return st;
    if (oh < 1 || ow < 1)
        return tide_fail("adaptive_avg_pool2d: output size must be >= 1, got %lldx%lld",
                         (long long)oh, (long long)ow);
    int64_t s[4] = {x->shape[0], x->shape[1], oh, ow};
    if ((st = prepare(out, x->dtype, s, "adaptive_avg_pool2d")))
        return st;
    kernels(x->dtype)->avg(tide_data(x), x->shape[2], x->shape[3], s, NULL, tide_data(out));
    return TIDE_OK;
}

tide_status tide_adaptive_avg_pool2d_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                              const tide_tensor *x)
{
    tide_status st = check_input(x, "adaptive_avg_pool2d_backward");
    if (st)
        return st;
    if (grad_out->ndim != 4)
        return tide_fail("adaptive_avg_pool2d_backward: expected a 4-D grad_out");
    int64_t s[4] = {x->shape[0], x->shape[1], grad_out->shape[2], grad_out->shape[3]};
    if ((st = check_grad(grad_out, x, s, "adaptive_avg_pool2d_backward")) ||
        (st = prepare(grad_in, x->dtype, x->shape, "adaptive_avg_pool2d_backward")))
        return st;
    memset(tide_data(grad_in), 0, (size_t)tide_numel(x) * tide_dtype_size(x->dtype));
    kernels(x->dtype)->avg_bw(tide_data(grad_out), x->shape[2], x->shape[3], s, NULL,
                              tide_data(grad_in));
    return TIDE_OK;
}
