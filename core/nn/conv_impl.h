/* conv_impl.h — what conv.c (im2col + GEMM) and conv_direct.c (the direct kernel) share: the
 * sizes of one call, the range of output positions whose tap reads inside the input (the
 * kernels loop over just that range, so padding costs no test per element), and the direct
 * kernel's entry points. Not a public header. */
#ifndef TIDE_NN_CONV_IMPL_H
#define TIDE_NN_CONV_IMPL_H

#include "nn/conv.h"

/* The sizes every kernel shares, from the (checked) shapes: Cg and Og are the channels of one
 * group, K = Cg kh kw the length of one output's dot product, L = OH OW an output plane. */
typedef struct tide_conv_geom {
    int64_t N, C, H, W, O, kh, kw, OH, OW, Cg, Og, K, L;
    tide_dtype dt;
    size_t es;
} tide_conv_geom;

/* The output positions [lo, hi) of n_out whose input position o * stride + off lies in
 * 0 .. size-1; off is the tap's offset, k * dilation - padding. Outside it a tap reads padding. */
static inline void tide_conv_valid(int64_t off, int64_t stride, int64_t size, int64_t n_out,
                                   int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t h = size - off <= 0 ? 0 : (size - off - 1) / stride + 1;
    if (h > n_out)
        h = n_out;
    *lo = l < h ? l : h;
    *hi = h;
}

/* The direct kernel, for stride 1 (any padding, dilation and groups): out = conv2d(x, w) + bias,
 * and the gradients as tide_conv2d_backward promises (grad_x overwritten, grad_w added to; either
 * may be NULL). Every pointer is contiguous data of g->dt. */
void tide_conv2d_direct(const tide_conv_geom *g, const tide_conv2d_params *p, const void *x,
                        const void *w, const void *bias, void *out);
void tide_conv2d_direct_backward(const tide_conv_geom *g, const tide_conv2d_params *p,
                                 const void *x, const void *w, const void *grad_out, void *grad_x,
                                 void *grad_w);

#endif
