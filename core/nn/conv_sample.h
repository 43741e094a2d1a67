/* conv_sample.h — per-sample gradients of a 2-D convolution, for DP-SGD (tide.privacy).
 *
 * Sample n's weight gradient is its output gradient (O x L, L = OH OW) times its unfolded input
 * (im2col: L x Cg kh kw) for each group, and its bias gradient is the output gradient summed
 * over L: one backward pass of the batch gives every sample's gradient with one GEMM per sample
 * and group, instead of a forward and backward of the whole model per sample. */
#ifndef TIDE_NN_CONV_SAMPLE_H
#define TIDE_NN_CONV_SAMPLE_H

#include "nn/conv.h"

/* grad_w (N x O x C/groups x kh x kw) and grad_b (N x O, or NULL) are overwritten (empty:
 * allocated) with each sample's gradients, given grad_out (N x O x OH x OW) and the layer's
 * input x (N x C x H x W) and weight w, all contiguous and of one float dtype. */
tide_status tide_conv2d_grad_sample(tide_tensor *grad_w, tide_tensor *grad_b,
                                    const tide_tensor *grad_out, const tide_tensor *x,
                                    const tide_tensor *w, const tide_conv2d_params *p);

#endif
