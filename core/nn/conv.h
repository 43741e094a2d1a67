/* conv.h — 2-D convolution (cross-correlation, as torch's conv2d) over NCHW tensors.
 *
 * x is batch x C x H x W, w is O x (C/groups) x kH x kW, bias is O (or NULL), all contiguous
 * and of one float dtype. Two kernels: im2col lowers a chunk of samples of one group to a matrix
 * and makes one GEMM of it, so the arithmetic runs in BLAS and the lowering only moves memory;
 * the direct kernel (stride 1) runs each tap as row updates with no lowering. TIDE_CONV_AUTO
 * is im2col, which tests/bench/conv.lua measured faster on every shape it runs (the MNIST CNN's
 * layers, 3x3 over 1 channel included); it prints both, and a hand-written im2col + sgemm twin. */
#ifndef TIDE_NN_CONV_H
#define TIDE_NN_CONV_H

#include "tensor/tensor.h"

typedef enum tide_conv2d_algo { TIDE_CONV_AUTO, TIDE_CONV_IM2COL, TIDE_CONV_DIRECT } tide_conv2d_algo;

typedef struct tide_conv2d_params {
    int64_t stride[2], padding[2], dilation[2];   /* (height, width) */
    int64_t groups;
    tide_conv2d_algo algo;                        /* TIDE_CONV_AUTO (0) unless measuring */
} tide_conv2d_params;

/* The output height and width, or a failure naming the shapes when they are below 1. */
tide_status tide_conv2d_out_size(int64_t out_hw[2], const tide_tensor *x, const tide_tensor *w,
                                 const tide_conv2d_params *p);

/* out = conv2d(x, w) + bias; out empty (allocated) or contiguous of the output's shape. */
tide_status tide_conv2d(tide_tensor *out, const tide_tensor *x, const tide_tensor *w,
                        const tide_tensor *bias, const tide_conv2d_params *p);

/* The gradients of conv2d given grad_out (batch x O x OH x OW, contiguous). grad_x, when not
 * NULL, is overwritten (empty: allocated); grad_w and grad_b (each may be NULL) are added to,
 * so a layer accumulates them over steps as torch does. */
tide_status tide_conv2d_backward(tide_tensor *grad_x, tide_tensor *grad_w, tide_tensor *grad_b,
                                 const tide_tensor *grad_out, const tide_tensor *x,
                                 const tide_tensor *w, const tide_conv2d_params *p);

#endif
