/* conv.c — conv2d forward and backward: checks, the choice of kernel, and im2col + GEMM over
 * chunks of samples (see conv.h; the direct kernel is conv_direct.c). */
#include "nn/conv_impl.h"
#include "tensor/dtype.h"
#include "tensor/tide_error.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* Lowering by im2col: a chunk of nb samples of one group becomes a column matrix of K rows
 * (c, ki, kj) and nb L columns (n, oi, oj), ld = nb L, so that each of forward, grad-weight and
 * grad-input is one GEMM per chunk (CHUNK_BYTES below sizes the chunks). Taps that fall in the
 * padding are 0. col2im is its adjoint: it adds each entry back where it was read. */
/* GCC turns plain copy and zero loops into memcpy and memset calls
 * (-ftree-loop-distribute-patterns); for im2col's rows of 10-30 elements a call costs more
 * than the loop (perf: 4.6% of a CNN step went to memcpy). */
#if defined(__GNUC__) && !defined(__clang__)
#define SHORT_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define SHORT_LOOPS
#endif

#define IM2COL(E, name, T)                                                                    \
    /* One row of a tap whose reads are contiguous (stride 1) and all inside the input:     \
     * restrict lets the short sum vectorise without a check for overlap. */                \
    static inline void add_row_##name(T *restrict d, const T *restrict s, int64_t n)        \
    {                                                                                         \
        for (int64_t i = 0; i < n; i++)                                                       \
            d[i] += s[i];                                                                     \
    }                                                                                         \
    SHORT_LOOPS static void im2col_##name(const void *xv, const tide_conv_geom *g,           \
                              const tide_conv2d_params *p, void *colv, int64_t ld)            \
    {                                                                                         \
        const T *restrict x = xv;                                                             \
        T *restrict col = colv;                                                               \
        const int64_t H = g->H, W = g->W, OH = g->OH, OW = g->OW;                             \
        const int64_t sh = p->stride[0], sw = p->stride[1];                                   \
        for (int64_t c = 0; c < g->Cg; c++)                                                   \
            for (int64_t ki = 0; ki < g->kh; ki++)                                            \
                for (int64_t kj = 0; kj < g->kw; kj++) {                                      \
                    T *row = col + ((c * g->kh + ki) * g->kw + kj) * ld;                      \
                    int64_t ioff = ki * p->dilation[0] - p->padding[0];                       \
                    int64_t joff = kj * p->dilation[1] - p->padding[1], i0, i1, j0, j1;       \
                    tide_conv_valid(ioff, sh, H, OH, &i0, &i1);                               \
                    tide_conv_valid(joff, sw, W, OW, &j0, &j1);                               \
                    /* output rows whose tap reads the top or bottom padding */              \
                    if (i0 > 0)                                                               \
                        memset(row, 0, (size_t)(i0 * OW) * sizeof(T));                       \
                    if (i1 < OH)                                                              \
                        memset(row + i1 * OW, 0, (size_t)((OH - i1) * OW) * sizeof(T));      \
                    const T *xr = x + (c * H + i0 * sh + ioff) * W + joff;                    \
                    T *r = row + i0 * OW;                                                     \
                    if (sw == 1 && j0 == 0 && j1 == OW) { /* the tap reads whole rows */   \
                        for (int64_t oi = i0; oi < i1; oi++, r += OW, xr += sh * W)           \
                            for (int64_t oj = 0; oj < OW; oj++)                               \
                                r[oj] = xr[oj];                                               \
                        continue;                                                             \
                    }                                                                         \
                    for (int64_t oi = i0; oi < i1; oi++, r += OW, xr += sh * W) {             \
                        for (int64_t oj = 0; oj < j0; oj++) /* rows are short: loops, */  \
                            r[oj] = 0;                      /* not memset/memcpy calls */ \
                        for (int64_t oj = j0; oj < j1; oj++)                                  \
                            r[oj] = xr[oj * sw];                                              \
                        for (int64_t oj = j1; oj < OW; oj++)                                  \
                            r[oj] = 0;                                                        \
                    }                                                                         \
                }                                                                             \
    }                                                                                         \
    static void col2im_##name(const void *colv, int64_t ld, const tide_conv_geom *g,          \
                              const tide_conv2d_params *p, void *xv)                          \
    {                                                                                         \
        const T *col = colv;                                                                  \
        T *x = xv;                                                                            \
        const int64_t H = g->H, W = g->W, OH = g->OH, OW = g->OW;                             \
        const int64_t sh = p->stride[0], sw = p->stride[1];                                   \
        for (int64_t c = 0; c < g->Cg; c++)                                                   \
            for (int64_t ki = 0; ki < g->kh; ki++)                                            \
                for (int64_t kj = 0; kj < g->kw; kj++) {                                      \
                    const T *row = col + ((c * g->kh + ki) * g->kw + kj) * ld;                \
                    int64_t ioff = ki * p->dilation[0] - p->padding[0];                       \
                    int64_t joff = kj * p->dilation[1] - p->padding[1], i0, i1, j0, j1;       \
                    tide_conv_valid(ioff, sh, H, OH, &i0, &i1);                               \
                    tide_conv_valid(joff, sw, W, OW, &j0, &j1);                               \
                    const T *r = row + i0 * OW;                                               \
                    T *xr = x + (c * H + i0 * sh + ioff) * W + joff;                          \
                    if (sw == 1) {                                                            \
                        for (int64_t oi = i0; oi < i1; oi++, r += OW, xr += sh * W)           \
                            add_row_##name(xr + j0, r + j0, j1 - j0);                       \
                        continue;                                                             \
                    }                                                                         \
                    for (int64_t oi = i0; oi < i1; oi++, r += OW, xr += sh * W)               \
                        for (int64_t oj = j0; oj < j1; oj++)                                  \
                            xr[oj * sw] += r[oj];                                             \
                }                                                                             \
    }                                                                                         \
    /* Between the output's layout (n, o, l) and the GEMM's (o, n, l) for a chunk of nb      \
     * samples and the Og channels of one group: to_out adds the bias on the way (when nb   \
     * is 1 the layouts are one, and the GEMM writes the output over fill_bias's planes). */ \
    static void to_out_##name(const void *mv, const tide_conv_geom *g, int64_t nb,            \
                              const void *biasv, void *outv)                                  \
    {                                                                                         \
        const T *m = mv, *bias = biasv;                                                       \
        T *out = outv;                                                                        \
        for (int64_t o = 0; o < g->Og; o++)                                                   \
            for (int64_t n = 0; n < nb; n++) {                                                \
                const T *src = m + (o * nb + n) * g->L;                                       \
                T *dst = out + (n * g->O + o) * g->L, b = bias ? bias[o] : (T)0;              \
                for (int64_t l = 0; l < g->L; l++)                                            \
                    dst[l] = src[l] + b;                                                      \
            }                                                                                 \
    }                                                                                         \
    static void from_out_##name(const void *outv, const tide_conv_geom *g, int64_t nb,        \
                                void *mv)                                                     \
    {                                                                                         \
        const T *out = outv;                                                                  \
        T *m = mv;                                                                            \
        for (int64_t o = 0; o < g->Og; o++)                                                   \
            for (int64_t n = 0; n < nb; n++)                                                  \
                memcpy(m + (o * nb + n) * g->L, out + (n * g->O + o) * g->L,                  \
                       (size_t)g->L * sizeof(T));                                             \
    }                                                                                         \
    /* grad_b += the sums of one sample's planes (in t, from BLAS), added up in double. */   \
    static void bias_add_##name(const void *tv, int64_t O, double *acc)                       \
    {                                                                                         \
        const T *t = tv;                                                                      \
        for (int64_t o = 0; o < O; o++)                                                       \
            acc[o] += t[o];                                                                   \
    }                                                                                         \
    static void bias_store_##name(const double *acc, int64_t O, void *gbv)                    \
    {                                                                                         \
        T *gb = gbv;                                                                          \
        for (int64_t o = 0; o < O; o++)                                                       \
            gb[o] += (T)acc[o];                                                               \
    }                                                                                         \
    /* Each of n planes of L elements starts as its channel's bias, for a GEMM to add to. */ \
    static void fill_bias_##name(const void *biasv, int64_t n, int64_t L, void *outv)         \
    {                                                                                         \
        const T *bias = biasv;                                                                \
        T *out = outv;                                                                        \
        for (int64_t o = 0; o < n; o++)                                                       \
            for (int64_t l = 0; l < L; l++)                                                   \
                out[o * L + l] = bias[o];                                                     \
    }                                                                                         \
    static void fill_one_##name(void *v, int64_t n)                                           \
    {                                                                                         \
        for (int64_t i = 0; i < n; i++)                                                       \
            ((T *)v)[i] = 1;                                                                  \
    }
TIDE_FOREACH_FLOAT_DTYPE(IM2COL)

/* The lowering kernels of one dtype, chosen once per call. */
typedef struct lowering {
    void (*im2col)(const void *x, const tide_conv_geom *g, const tide_conv2d_params *p,
                   void *col, int64_t ld);
    void (*col2im)(const void *col, int64_t ld, const tide_conv_geom *g,
                   const tide_conv2d_params *p, void *x);
    void (*to_out)(const void *m, const tide_conv_geom *g, int64_t nb, const void *bias,
                   void *out);
    void (*from_out)(const void *out, const tide_conv_geom *g, int64_t nb, void *m);
    void (*bias_add)(const void *t, int64_t O, double *acc);
    void (*bias_store)(const double *acc, int64_t O, void *gb);
    void (*fill_one)(void *v, int64_t n);
    void (*fill_bias)(const void *bias, int64_t n, int64_t L, void *out);
} lowering;

#define LOWERING(E, name, T)                                                              \
    static const lowering lowering_##name = {im2col_##name, col2im_##name, to_out_##name, \
                                             from_out_##name, bias_add_##name,            \
                                             bias_store_##name, fill_one_##name, \
                                             fill_bias_##name};
TIDE_FOREACH_FLOAT_DTYPE(LOWERING)

static const lowering *lowering_for(tide_dtype dt)
{
#define LOWERING_CASE(E, name, T) \
    case E:                       \
        return &lowering_##name;
    switch (dt) {
        TIDE_FOREACH_FLOAT_DTYPE(LOWERING_CASE)
    default:
        return NULL;    /* geometry() has refused every other dtype */
    }
}

/* C (m x n) = op(A) op(B) + beta C, row-major, of the call's float dtype. BLAS has one entry
 * point per precision, so this stays a branch (once per GEMM, not per element). */
static void gemm(tide_dtype dt, int ta, int tb, int64_t m, int64_t n, int64_t k, const void *a,
                 int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc)
{
    enum CBLAS_TRANSPOSE A = ta ? CblasTrans : CblasNoTrans, B = tb ? CblasTrans : CblasNoTrans;
    if (dt == TIDE_F32)
        cblas_sgemm(CblasRowMajor, A, B, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb,
                    (float)beta, c, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, A, B, (int)m, (int)n, (int)k, 1.0, a, (int)lda, b, (int)ldb,
                    beta, c, (int)ldc);
}

/* y = A x (A m x n, row-major), of the call's float dtype. */
static void gemv(tide_dtype dt, int64_t m, int64_t n, const void *a, const void *x, void *y)
{
    if (dt == TIDE_F32)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)n, 1.0f, a, (int)n, x, 1, 0.0f, y,
                    1);
    else
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)n, 1.0, a, (int)n, x, 1, 0.0, y, 1);
}

/* grad_b[o] += the sum of grad_out over samples and positions. Each sample's plane sums are
 * one GEMV against a vector of ones, which BLAS vectorises where a plain sum loop does not
 * (that needs reassociation); the samples' sums are added up in double. */
static tide_status bias_grad(const tide_conv_geom *g, const void *go, void *gb)
{
    const lowering *k = lowering_for(g->dt);
    void *ones = malloc((size_t)g->L * g->es), *t = malloc((size_t)g->O * g->es);
    double *acc = calloc((size_t)g->O, sizeof *acc);
    if (!ones || !t || !acc) {
        free(ones), free(t), free(acc);
        return tide_fail("conv2d: out of memory for the bias gradient");
    }
    k->fill_one(ones, g->L);
    for (int64_t n = 0; n < g->N; n++) {
        gemv(g->dt, g->O, g->L, (const char *)go + n * g->O * g->L * (int64_t)g->es, ones, t);
        k->bias_add(t, g->O, acc);
    }
    k->bias_store(acc, g->O, gb);
    free(ones), free(t), free(acc);
    return TIDE_OK;
}

static tide_status check_params(const tide_conv2d_params *p)
{
    for (int d = 0; d < 2; d++) {
        if (p->stride[d] < 1)
            return tide_fail("conv2d: stride must be >= 1, got %lld", (long long)p->stride[d]);
        if (p->dilation[d] < 1)
            return tide_fail("conv2d: dilation must be >= 1, got %lld",
                             (long long)p->dilation[d]);
        if (p->padding[d] < 0)
            return tide_fail("conv2d: padding must be >= 0, got %lld", (long long)p->padding[d]);
    }
    if (p->groups < 1)
        return tide_fail("conv2d: groups must be >= 1, got %lld", (long long)p->groups);
    return TIDE_OK;
}

tide_status tide_conv2d_out_size(int64_t out_hw[2], const tide_tensor *x, const tide_tensor *w,
                                 const tide_conv2d_params *p)
{
    char xs[96], ws[96];
    tide_status st = check_params(p);
    if (st)
        return st;
    if (x->ndim != 4 || w->ndim != 4)
        return tide_fail("conv2d: expected a 4-D input (batch x channels x height x width) and a "
                         "4-D weight, got input %s and weight %s",
                         tide_shape_str(x, xs, sizeof xs), tide_shape_str(w, ws, sizeof ws));
    if (!tide_dtype_is_float(x->dtype) || x->dtype != w->dtype)
        return tide_fail("conv2d: expected an f32 or f64 input of the weight's dtype %s, got %s",
                         tide_dtype_name(w->dtype), tide_dtype_name(x->dtype));
    if (w->shape[0] % p->groups != 0 || w->shape[1] * p->groups != x->shape[1])
        return tide_fail("conv2d: input %s has %lld channels, but weight %s with groups %lld "
                         "expects %lld",
                         tide_shape_str(x, xs, sizeof xs), (long long)x->shape[1],
                         tide_shape_str(w, ws, sizeof ws), (long long)p->groups,
                         (long long)(w->shape[1] * p->groups));
    for (int d = 0; d < 2; d++) {
        int64_t span = p->dilation[d] * (w->shape[2 + d] - 1) + 1;
        out_hw[d] = (x->shape[2 + d] + 2 * p->padding[d] - span) / p->stride[d] + 1;
        if (x->shape[2 + d] + 2 * p->padding[d] < span)
            return tide_fail("conv2d: input %s (padded by %lld) is smaller than the dilated "
                             "kernel of weight %s",
                             tide_shape_str(x, xs, sizeof xs), (long long)p->padding[d],
                             tide_shape_str(w, ws, sizeof ws));
    }
    return TIDE_OK;
}

static tide_status check_contig(const tide_tensor *t, const char *what)
{
    if (t && t->storage && !tide_is_contiguous(t))
        return tide_fail("conv2d: %s must be contiguous", what);
    return TIDE_OK;
}

static tide_status check_bias(const tide_tensor *b, const tide_tensor *w, const char *what)
{
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0] || b->dtype != w->dtype))
        return tide_fail("conv2d: %s must be 1-D of %lld %s elements", what,
                         (long long)w->shape[0], tide_dtype_name(w->dtype));
    return check_contig(b, what);
}

static tide_status geometry(tide_conv_geom *g, const tide_tensor *x, const tide_tensor *w,
                            const tide_conv2d_params *p)
{
    int64_t hw[2];
    tide_status st = tide_conv2d_out_size(hw, x, w, p);
    if (!st)
        st = check_contig(x, "the input");
    if (!st)
        st = check_contig(w, "the weight");
    if (st)
        return st;
    if (p->algo == TIDE_CONV_DIRECT && (p->stride[0] != 1 || p->stride[1] != 1))
        return tide_fail("conv2d: the direct kernel needs stride 1, got %lldx%lld",
                         (long long)p->stride[0], (long long)p->stride[1]);
    g->N = x->shape[0], g->C = x->shape[1], g->H = x->shape[2], g->W = x->shape[3];
    g->O = w->shape[0], g->kh = w->shape[2], g->kw = w->shape[3];
    g->OH = hw[0], g->OW = hw[1];
    g->Cg = g->C / p->groups, g->Og = g->O / p->groups;
    g->K = g->Cg * g->kh * g->kw, g->L = g->OH * g->OW;
    g->dt = x->dtype;
    g->es = tide_dtype_size(x->dtype);
    return TIDE_OK;
}

/* im2col + GEMM unless asked for the direct kernel: tests/bench/conv.lua measures both on the
 * MNIST CNN's layers (3x3 taps over 1 and 32 channels) and ResNet-style ones, and GEMM won on
 * every shape, by 5x even over one input channel, where its GEMM is thinnest (AMD EPYC, 1
 * thread, CPU time: 39 against 7 GFLOP/s forward + backward). */
static int use_direct(const tide_conv2d_params *p)
{
    return p->algo == TIDE_CONV_DIRECT;
}

/* The column matrix and the GEMM's (o, n, l) copy of the output of a chunk of samples, sized
 * to stay in a core's L2 cache. Measured on the MNIST CNN's layers at 64 samples (1 BLAS
 * thread): chunks of 4 MB ran both layers 10-30% slower than chunks of one or two samples,
 * so the lowering's traffic, not the GEMMs' length, sets the pace; batch 128 of the second
 * layer in one chunk would have needed 36 MB. */
#define CHUNK_BYTES ((size_t)256 << 10)

/* Below this many taps per output (K), a chunk is one sample (see chunks_open). */
#define SHORT_K 32

typedef struct chunks {
    int64_t nb;        /* samples per chunk */
    void *col, *m;     /* K x nb L and Og x nb L */
} chunks;

static tide_status chunks_open(chunks *c, const tide_conv_geom *g)
{
    size_t per = (size_t)((g->K + g->Og) * g->L) * g->es;
    c->nb = (int64_t)(CHUNK_BYTES / (per ? per : 1));
    /* Short dot products (few input channels: the CNN's first layer has K = 9) make thin
     * GEMMs, which a chunk of several samples does not fatten by much, while its copies
     * between the (n, o, l) and (o, n, l) layouts cost as much as the GEMMs: one sample a
     * chunk needs none (bench conv, 64 x 1 x 28 x 28 -> 32: 74 against 54 GFLOP/s; at K = 72
     * the two were within the noise). */
    if (c->nb < 1 || g->K < SHORT_K)
        c->nb = 1;
    if (c->nb > g->N)
        c->nb = g->N;
    c->col = malloc((size_t)(g->K * g->L * c->nb) * g->es + 1);
    c->m = malloc((size_t)(g->Og * g->L * c->nb) * g->es + 1);
    if (!c->col || !c->m) {
        free(c->col), free(c->m);
        return tide_fail("conv2d: out of memory for a %lld x %lld column matrix",
                         (long long)g->K, (long long)(g->L * c->nb));
    }
    return TIDE_OK;
}

static void chunks_close(chunks *c)
{
    free(c->col), free(c->m);
}

/* Element i of contiguous data of the call's dtype. */
static char *elem(const void *t, const tide_conv_geom *g, int64_t i)
{
    return (char *)t + i * (int64_t)g->es;
}

/* Sample n, channel c of a contiguous N x channels x size tensor. */
static char *plane(const void *t, const tide_conv_geom *g, int64_t n, int64_t channels,
                   int64_t c, int64_t size)
{
    return elem(t, g, (n * channels + c) * size);
}

/* Lowers samples n0 .. n0+nb-1 of group gr into c->col. */
static void lower(const lowering *k, const chunks *c, const tide_conv_geom *g,
                  const tide_conv2d_params *p, const void *x, int64_t n0, int64_t nb, int64_t gr)
{
    for (int64_t n = 0; n < nb; n++)
        k->im2col(plane(x, g, n0 + n, g->C, gr * g->Cg, g->H * g->W), g, p,
                  elem(c->col, g, n * g->L), nb * g->L);
}

static void forward_im2col(const tide_conv_geom *g, const tide_conv2d_params *p, const chunks *c,
                           const void *x, const void *w, const void *bias, void *out)
{
    const lowering *k = lowering_for(g->dt);
    for (int64_t n0 = 0; n0 < g->N; n0 += c->nb) {
        int64_t nb = g->N - n0 < c->nb ? g->N - n0 : c->nb;
        for (int64_t gr = 0; gr < p->groups; gr++) {
            /* one sample's output planes are already in the GEMM's layout: written in place,
             * over the bias (the GEMM adds to it, which costs less than a pass after it) */
            char *o = plane(out, g, n0, g->O, gr * g->Og, g->L), *m = nb == 1 ? o : c->m;
            const char *b = bias ? elem(bias, g, gr * g->Og) : NULL;
            lower(k, c, g, p, x, n0, nb, gr);
            if (m == o && b)
                k->fill_bias(b, g->Og, g->L, o);
            gemm(g->dt, 0, 0, g->Og, nb * g->L, g->K, elem(w, g, gr * g->Og * g->K), g->K,
                 c->col, nb * g->L, m == o && b ? 1 : 0, m, nb * g->L);
            if (m != o)
                k->to_out(m, g, nb, b, o);
        }
    }
}

tide_status tide_conv2d(tide_tensor *out, const tide_tensor *x, const tide_tensor *w,
                        const tide_tensor *bias, const tide_conv2d_params *p)
{
    tide_conv_geom g;
    tide_status st = geometry(&g, x, w, p);
    if (!st)
        st = check_bias(bias, w, "the bias");
    if (st)
        return st;
    int64_t shape[4] = {g.N, g.O, g.OH, g.OW};
    if ((st = tide_prepare_out(out, x->dtype, 4, shape, "conv2d")))
        return st;
    if ((st = check_contig(out, "out")))
        return st;
    const void *bd = bias ? tide_data(bias) : NULL;
    if (use_direct(p)) {
        tide_conv2d_direct(&g, p, tide_data(x), tide_data(w), bd, tide_data(out));
        return TIDE_OK;
    }
    chunks c;
    if ((st = chunks_open(&c, &g)))
        return st;
    forward_im2col(&g, p, &c, tide_data(x), tide_data(w), bd, tide_data(out));
    chunks_close(&c);
    return TIDE_OK;
}

/* Per chunk and group: m = grad_out in (o, n, l); dW_g += m col^T; col = W_g^T m, added back
 * where it was read (grad_x was zeroed). */
static void backward_im2col(const tide_conv_geom *g, const tide_conv2d_params *p,
                            const chunks *c, const void *x, const void *w, const void *go,
                            void *gx, void *gw)
{
    const lowering *k = lowering_for(g->dt);
    for (int64_t n0 = 0; n0 < g->N; n0 += c->nb) {
        int64_t nb = g->N - n0 < c->nb ? g->N - n0 : c->nb, ld = nb * g->L;
        for (int64_t gr = 0; gr < p->groups; gr++) {
            const char *wg = elem(w, g, gr * g->Og * g->K), *m = c->m;
            if (nb == 1)
                m = plane(go, g, n0, g->O, gr * g->Og, g->L);
            else
                k->from_out(plane(go, g, n0, g->O, gr * g->Og, g->L), g, nb, c->m);
            if (gw) {
                lower(k, c, g, p, x, n0, nb, gr);
                gemm(g->dt, 0, 1, g->Og, g->K, ld, m, ld, c->col, ld, 1,
                     elem(gw, g, gr * g->Og * g->K), g->K);
            }
            if (gx) {
                gemm(g->dt, 1, 0, g->K, ld, g->Og, wg, g->K, m, ld, 0, c->col, ld);
                for (int64_t n = 0; n < nb; n++)
                    k->col2im(elem(c->col, g, n * g->L), ld, g, p,
                              plane(gx, g, n0 + n, g->C, gr * g->Cg, g->H * g->W));
            }
        }
    }
}

tide_status tide_conv2d_backward(tide_tensor *grad_x, tide_tensor *grad_w, tide_tensor *grad_b,
                                 const tide_tensor *grad_out, const tide_tensor *x,
                                 const tide_tensor *w, const tide_conv2d_params *p)
{
    tide_conv_geom g;
    char a[96], b[96];
    tide_status st = geometry(&g, x, w, p);
    if (st)
        return st;
    int64_t oshape[4] = {g.N, g.O, g.OH, g.OW};
    if (grad_out->ndim != 4 || grad_out->dtype != x->dtype ||
        memcmp(grad_out->shape, oshape, sizeof oshape) != 0)
        return tide_fail("conv2d: expected grad_out of shape %s, got %s",
                         tide_shape_str_n(4, oshape, a, sizeof a),
                         tide_shape_str(grad_out, b, sizeof b));
    if ((st = check_contig(grad_out, "grad_out")) || (st = check_bias(grad_b, w, "grad_bias")))
        return st;
    if (grad_w && (!tide_same_shape(grad_w, w) || grad_w->dtype != w->dtype))
        return tide_fail("conv2d: grad_weight must have the weight's shape %s, got %s",
                         tide_shape_str(w, a, sizeof a), tide_shape_str(grad_w, b, sizeof b));
    if ((st = check_contig(grad_w, "grad_weight")))
        return st;
    if (grad_x) {
        if ((st = tide_prepare_out(grad_x, x->dtype, 4, x->shape, "conv2d")) ||
            (st = check_contig(grad_x, "grad_input")))
            return st;
        memset(tide_data(grad_x), 0, (size_t)tide_numel(x) * g.es);
    }
    void *gx = grad_x ? tide_data(grad_x) : NULL, *gw = grad_w ? tide_data(grad_w) : NULL;
    if (use_direct(p)) {
        tide_conv2d_direct_backward(&g, p, tide_data(x), tide_data(w), tide_data(grad_out), gx,
                                    gw);
    } else if (gx || gw) {
        chunks c;
        if ((st = chunks_open(&c, &g)))
            return st;
        backward_im2col(&g, p, &c, tide_data(x), tide_data(w), tide_data(grad_out), gx, gw);
        chunks_close(&c);
    }
    if (grad_b)
        st = bias_grad(&g, tide_data(grad_out), tide_data(grad_b));
    return st;
}
