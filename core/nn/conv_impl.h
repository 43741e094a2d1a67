/* conv_impl.h — what conv.c (im2col + GEMM) and conv_direct.c (the direct kernel) share: the
 * sizes of one call and the direct kernel's entry points. Not a public header. */
#ifndef TIDE_NN_CONV_IMPL_H
#define TIDE_NN_CONV_IMPL_H

#include "nn/conv.h"
#include "nn/window.h"

/* The sizes every kernel shares, from the (checked) shapes: Cg and Og are the channels of one
 * group, K = Cg kh kw the length of one output's dot product, L = OH OW an output plane. */
typedef struct tide_conv_geom {
    int64_t N, C, H, W, O, kh, kw, OH, OW, Cg, Og, K, L;
    tide_dtype dt;
    size_t es;
} tide_conv_geom;

/* The direct kernel, for stride 1 (any padding, dilation and groups): out = conv2d(x, w) + bias,
 * and the gradients as tide_conv2d_backward promises (grad_x overwritten, grad_w added to; either
 * may be NULL). Every pointer is contiguous data of g->dt. */
void tide_conv2d_direct(const tide_conv_geom *g, const tide_conv2d_params *p, const void *x,
                        const void *w, const void *bias, void *out);
void tide_conv2d_direct_backward(const tide_conv_geom *g, const tide_conv2d_params *p,
                                 const void *x, const void *w, const void *grad_out, void *grad_x,
                                 void *grad_w);
#endif
