/* activation.c — GELU and LeakyReLU (see activation.h). */
#include "nn/activation.h"
#include "tensor/dtype.h"
#include "tensor/tide_error.h"

#include <math.h>

/* Checks the operands and prepares out; g (the gradient) may be NULL. */
static tide_status prepare(tide_tensor *out, const tide_tensor *x, const tide_tensor *g,
                           const char *op)
{
    char a[96], b[96];
    if (!tide_dtype_is_float(x->dtype))
        return tide_fail("%s: expected an f32 or f64 tensor, got %s", op,
                         tide_dtype_name(x->dtype));
    if (!tide_is_contiguous(x) || (g && !tide_is_contiguous(g)))
        return tide_fail("%s: expected contiguous tensors", op);
    if (g && (!tide_same_shape(g, x) || g->dtype != x->dtype))
        return tide_fail("%s: grad_out %s does not match the input %s", op,
                         tide_shape_str(g, a, sizeof a), tide_shape_str(x, b, sizeof b));
    tide_status st = tide_prepare_out(out, x->dtype, x->ndim, x->shape, op);
    if (!st && !tide_is_contiguous(out))
        st = tide_fail("%s: out must be contiguous", op);
    return st;
}

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT2PI 0.39894228040143267794

#define KERNELS(E, name, T)                                                                 \
    static void gelu_##name(T *o, const T *x, int64_t n)                                    \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++)                                                     \
            o[i] = (T)(0.5 * x[i] * (1.0 + erf(x[i] * INV_SQRT2)));                         \
    }                                                                                       \
    static void gelu_bw_##name(T *o, const T *g, const T *x, int64_t n)                     \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                   \
            double v = x[i];                                                                \
            double d = 0.5 * (1.0 + erf(v * INV_SQRT2)) + v * INV_SQRT2PI * exp(-0.5 * v * v); \
            o[i] = (T)(g[i] * d);                                                           \
        }                                                                                   \
    }                                                                                       \
    static void leaky_##name(T *o, const T *x, int64_t n, T s)                              \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++)                                                     \
            o[i] = x[i] > 0 ? x[i] : s * x[i];                                              \
    }                                                                                       \
    static void leaky_bw_##name(T *o, const T *g, const T *x, int64_t n, T s)               \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++)                                                     \
            o[i] = x[i] > 0 ? g[i] : s * g[i];                                              \
    }
KERNELS(TIDE_F32, f32, float)
KERNELS(TIDE_F64, f64, double)

tide_status tide_gelu(tide_tensor *out, const tide_tensor *x)
{
    tide_status st = prepare(out, x, NULL, "gelu");
    if (st)
        return st;
    if (x->dtype == TIDE_F32)
        gelu_f32(tide_data(out), tide_data(x), tide_numel(x));
    else
        gelu_f64(tide_data(out), tide_data(x), tide_numel(x));
    return TIDE_OK;
}

tide_status tide_gelu_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                               const tide_tensor *x)
{
    tide_status st = prepare(grad_in, x, grad_out, "gelu_backward");
    if (st)
        return st;
    if (x->dtype == TIDE_F32)
        gelu_bw_f32(tide_data(grad_in), tide_data(grad_out), tide_data(x), tide_numel(x));
    else
        gelu_bw_f64(tide_data(grad_in), tide_data(grad_out), tide_data(x), tide_numel(x));
    return TIDE_OK;
}

tide_status tide_leaky_relu(tide_tensor *out, const tide_tensor *x, double slope)
{
    tide_status st = prepare(out, x, NULL, "leaky_relu");
    if (st)
        return st;
    if (x->dtype == TIDE_F32)
        leaky_f32(tide_data(out), tide_data(x), tide_numel(x), (float)slope);
    else
        leaky_f64(tide_data(out), tide_data(x), tide_numel(x), slope);
    return TIDE_OK;
}

tide_status tide_leaky_relu_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                     const tide_tensor *x, double slope)
{
    tide_status st = prepare(grad_in, x, grad_out, "leaky_relu_backward");
    if (st)
        return st;
    if (x->dtype == TIDE_F32)
        leaky_bw_f32(tide_data(grad_in), tide_data(grad_out), tide_data(x), tide_numel(x),
                     (float)slope);
    else
        leaky_bw_f64(tide_data(grad_in), tide_data(grad_out), tide_data(x), tide_numel(x), slope);
    return TIDE_OK;
}
