/* conv_sample.c — per-sample conv2d gradients (see conv_sample.h). Each sample is one call of
 * conv2d's own backward (im2col + GEMM, conv.c) on one-sample views, writing straight into that
 * sample's slot of the result: the lowering stays in one place, and the loop over samples costs
 * a call per sample, small beside its GEMM. */
#include "nn/conv_sample.h"

#include <string.h>

/* Sample n's slices: its input and output gradient (1 x ...) and its gradient slots. */
static tide_status sample_views(tide_tensor v[4], const tide_tensor *grad_w,
                                const tide_tensor *grad_b, const tide_tensor *grad_out,
                                const tide_tensor *x, int64_t n)
{
    tide_status st = tide_narrow(&v[0], x, 0, n, 1);
    if (!st)
        st = tide_narrow(&v[1], grad_out, 0, n, 1);
    if (!st)
        st = tide_select(&v[2], grad_w, 0, n);
    if (!st && grad_b)
        st = tide_select(&v[3], grad_b, 0, n);
    return st;
}

static void release_views(tide_tensor v[4])
{
    for (int i = 0; i < 4; i++)
        tide_tensor_release(&v[i]);
}

tide_status tide_conv2d_grad_sample(tide_tensor *grad_w, tide_tensor *grad_b,
                                    const tide_tensor *grad_out, const tide_tensor *x,
                                    const tide_tensor *w, const tide_conv2d_params *p)
{
    int64_t hw[2];
    TIDE_TRY(tide_conv2d_out_size(hw, x, w, p));
    if (grad_out->ndim != 4 || grad_out->shape[0] != x->shape[0])
        return tide_fail("conv2d_grad_sample: expected grad_out of %lld samples (the input's), "
                         "got %d-D with %lld", (long long)x->shape[0], grad_out->ndim,
                         (long long)(grad_out->ndim ? grad_out->shape[0] : 0));
    int64_t n = x->shape[0];
    int64_t wshape[5] = {n, w->shape[0], w->shape[1], w->shape[2], w->shape[3]};
    int64_t bshape[2] = {n, w->shape[0]};
    TIDE_TRY(tide_prepare_out(grad_w, w->dtype, 5, wshape, "conv2d_grad_sample"));
    if (grad_b)
        TIDE_TRY(tide_prepare_out(grad_b, w->dtype, 2, bshape, "conv2d_grad_sample"));
    if (!tide_is_contiguous(grad_w) || (grad_b && !tide_is_contiguous(grad_b)))
        return tide_fail("conv2d_grad_sample: the per-sample gradients must be contiguous");
    /* backward adds to its gradients, as a layer accumulates over steps: start from zero */
    memset(tide_data(grad_w), 0, (size_t)tide_numel(grad_w) * tide_dtype_size(w->dtype));
    if (grad_b)
        memset(tide_data(grad_b), 0, (size_t)tide_numel(grad_b) * tide_dtype_size(w->dtype));
    for (int64_t i = 0; i < n; i++) {
        tide_tensor v[4] = {TIDE_TENSOR_EMPTY, TIDE_TENSOR_EMPTY, TIDE_TENSOR_EMPTY,
                            TIDE_TENSOR_EMPTY};
        tide_status st = sample_views(v, grad_w, grad_b, grad_out, x, i);
        if (!st)
            st = tide_conv2d_backward(NULL, &v[2], grad_b ? &v[3] : NULL, &v[1], &v[0], w, p);
        release_views(v);
        if (st)
            return st;
    }
    return TIDE_OK;
}
