/* conv.c — conv2d forward and backward by im2col + GEMM (see conv.h). */
#include "nn/conv.h"
#include "tensor/dtype.h"
#include "tensor/tide_error.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* The column matrix of one sample and group: rows (c, ki, kj), columns (oi, oj); taps that
 * fall in the padding are 0. col2im is its adjoint: it adds each column entry back to the
 * input position it was read from. */
#define IM2COL(E, name, T)                                                                   \
    static void im2col_##name(const T *x, int64_t C, int64_t H, int64_t W, int64_t kh,       \
                              int64_t kw, int64_t OH, int64_t OW,                            \
                              const tide_conv2d_params *p, T *col)                           \
    {                                                                                        \
        for (int64_t c = 0; c < C; c++)                                                      \
            for (int64_t ki = 0; ki < kh; ki++)                                              \
                for (int64_t kj = 0; kj < kw; kj++) {                                        \
                    T *row = col + ((c * kh + ki) * kw + kj) * OH * OW;                      \
                    for (int64_t oi = 0; oi < OH; oi++) {                                    \
                        int64_t i = oi * p->stride[0] - p->padding[0] + ki * p->dilation[0]; \
                        T *r = row + oi * OW;                                                \
                        if (i < 0 || i >= H) {                                               \
                            memset(r, 0, (size_t)OW * sizeof(T));                            \
                            continue;                                                        \
                        }                                                                    \
                        const T *xr = x + (c * H + i) * W;                                   \
                        for (int64_t oj = 0; oj < OW; oj++) {                                \
                            int64_t j = oj * p->stride[1] - p->padding[1] + kj * p->dilation[1]; \
                            r[oj] = (j >= 0 && j < W) ? xr[j] : (T)0;                        \
                        }                                                                    \
                    }                                                                        \
                }                                                                            \
    }                                                                                        \
    static void col2im_##name(const T *col, int64_t C, int64_t H, int64_t W, int64_t kh,     \
                              int64_t kw, int64_t OH, int64_t OW,                            \
                              const tide_conv2d_params *p, T *x)                             \
    {                                                                                        \
        for (int64_t c = 0; c < C; c++)                                                      \
            for (int64_t ki = 0; ki < kh; ki++)                                              \
                for (int64_t kj = 0; kj < kw; kj++) {                                        \
                    const T *row = col + ((c * kh + ki) * kw + kj) * OH * OW;                \
                    for (int64_t oi = 0; oi < OH; oi++) {                                    \
                        int64_t i = oi * p->stride[0] - p->padding[0] + ki * p->dilation[0]; \
                        if (i < 0 || i >= H)                                                 \
                            continue;                                                        \
                        const T *r = row + oi * OW;                                          \
                        T *xr = x + (c * H + i) * W;                                         \
                        for (int64_t oj = 0; oj < OW; oj++) {                                \
                            int64_t j = oj * p->stride[1] - p->padding[1] + kj * p->dilation[1]; \
                            if (j >= 0 && j < W)                                             \
                                xr[j] += r[oj];                                              \
                        }                                                                    \
                    }                                                                        \
                }                                                                            \
    }
IM2COL(TIDE_F32, f32, float)
IM2COL(TIDE_F64, f64, double)

/* C (m x n) = alpha * op(A) op(B) + beta * C, row-major, of the tensor's float dtype. */
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

static void im2col(tide_dtype dt, const char *x, int64_t C, int64_t H, int64_t W, int64_t kh,
                   int64_t kw, int64_t OH, int64_t OW, const tide_conv2d_params *p, void *col)
{
    if (dt == TIDE_F32)
        im2col_f32((const float *)x, C, H, W, kh, kw, OH, OW, p, col);
    else
        im2col_f64((const double *)x, C, H, W, kh, kw, OH, OW, p, col);
}

static void col2im(tide_dtype dt, const void *col, int64_t C, int64_t H, int64_t W, int64_t kh,
                   int64_t kw, int64_t OH, int64_t OW, const tide_conv2d_params *p, char *x)
{
    if (dt == TIDE_F32)
        col2im_f32(col, C, H, W, kh, kw, OH, OW, p, (float *)x);
    else
        col2im_f64(col, C, H, W, kh, kw, OH, OW, p, (double *)x);
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

/* The sizes every kernel here shares, from the shapes (checked). */
typedef struct geom {
    int64_t N, C, H, W, O, kh, kw, OH, OW, Cg, Og, K, L;
    size_t es;
} geom;

static tide_status geometry(geom *g, const tide_tensor *x, const tide_tensor *w,
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
    g->N = x->shape[0], g->C = x->shape[1], g->H = x->shape[2], g->W = x->shape[3];
    g->O = w->shape[0], g->kh = w->shape[2], g->kw = w->shape[3];
    g->OH = hw[0], g->OW = hw[1];
    g->Cg = g->C / p->groups, g->Og = g->O / p->groups;
    g->K = g->Cg * g->kh * g->kw, g->L = g->OH * g->OW;
    g->es = tide_dtype_size(x->dtype);
    return TIDE_OK;
}

tide_status tide_conv2d(tide_tensor *out, const tide_tensor *x, const tide_tensor *w,
                        const tide_tensor *bias, const tide_conv2d_params *p)
{
    geom g;
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
    void *col = malloc((size_t)(g.K * g.L) * g.es + 1);
    if (!col)
        return tide_fail("conv2d: out of memory for a %lld x %lld column matrix",
                         (long long)g.K, (long long)g.L);
    const char *xd = tide_data(x), *wd = tide_data(w);
    char *od = tide_data(out);
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t gr = 0; gr < p->groups; gr++) {
            char *o = od + ((n * g.O + gr * g.Og) * g.L) * g.es;
            im2col(x->dtype, xd + ((n * g.C + gr * g.Cg) * g.H * g.W) * g.es, g.Cg, g.H, g.W,
                   g.kh, g.kw, g.OH, g.OW, p, col);
            gemm(x->dtype, 0, 0, g.Og, g.L, g.K, wd + (gr * g.Og * g.K) * g.es, g.K, col, g.L, 0,
                 o, g.L);
        }
    free(col);
    if (bias) {
        const char *bd = tide_data(bias);
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t o = 0; o < g.O; o++) {
                char *row = od + ((n * g.O + o) * g.L) * g.es;
                if (x->dtype == TIDE_F32)
                    for (int64_t l = 0; l < g.L; l++)
                        ((float *)row)[l] += ((const float *)bd)[o];
                else
                    for (int64_t l = 0; l < g.L; l++)
                        ((double *)row)[l] += ((const double *)bd)[o];
            }
    }
    return TIDE_OK;
}

tide_status tide_conv2d_backward(tide_tensor *grad_x, tide_tensor *grad_w, tide_tensor *grad_b,
                                 const tide_tensor *grad_out, const tide_tensor *x,
                                 const tide_tensor *w, const tide_conv2d_params *p)
{
    geom g;
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
    void *col = malloc((size_t)(g.K * g.L) * g.es + 1);
    if (!col)
        return tide_fail("conv2d: out of memory for a %lld x %lld column matrix",
                         (long long)g.K, (long long)g.L);
    const char *xd = tide_data(x), *wd = tide_data(w), *gd = tide_data(grad_out);
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t gr = 0; gr < p->groups; gr++) {
            const char *go = gd + ((n * g.O + gr * g.Og) * g.L) * g.es;
            int64_t xoff = ((n * g.C + gr * g.Cg) * g.H * g.W) * (int64_t)g.es;
            if (grad_w) {      /* dW_g += grad_out_g col^T */
                im2col(x->dtype, xd + xoff, g.Cg, g.H, g.W, g.kh, g.kw, g.OH, g.OW, p, col);
                gemm(x->dtype, 0, 1, g.Og, g.K, g.L, go, g.L, col, g.L, 1,
                     (char *)tide_data(grad_w) + (gr * g.Og * g.K) * g.es, g.K);
            }
            if (grad_x) {      /* col = W_g^T grad_out_g, added back where it was read */
                gemm(x->dtype, 1, 0, g.K, g.L, g.Og, wd + (gr * g.Og * g.K) * g.es, g.K, go, g.L,
                     0, col, g.L);
                col2im(x->dtype, col, g.Cg, g.H, g.W, g.kh, g.kw, g.OH, g.OW, p,
                       (char *)tide_data(grad_x) + xoff);
            }
        }
    free(col);
    if (grad_b) {
        char *bd = tide_data(grad_b);
        for (int64_t o = 0; o < g.O; o++) {
            double s = 0;
            for (int64_t n = 0; n < g.N; n++) {
                const char *row = gd + ((n * g.O + o) * g.L) * g.es;
                for (int64_t l = 0; l < g.L; l++)
                    s += x->dtype == TIDE_F32 ? ((const float *)row)[l] : ((const double *)row)[l];
            }
            if (x->dtype == TIDE_F32)
                ((float *)bd)[o] += (float)s;
            else
                ((double *)bd)[o] += s;
        }
    }
    return TIDE_OK;
}
