/* activation.h — elementwise activations of tide.nn that need more than the ops of core/ops:
 * GELU (the exact erf form, torch's default) and LeakyReLU, with their backwards.
 * Tensors are contiguous f32/f64 of one shape; out is empty (allocated) or contiguous. */
#ifndef TIDE_NN_ACTIVATION_H
#define TIDE_NN_ACTIVATION_H

#include "tensor/tensor.h"

/* out = x * Phi(x), Phi the standard normal CDF */
tide_status tide_gelu(tide_tensor *out, const tide_tensor *x);
/* grad_in = grad_out * (Phi(x) + x phi(x)) */
tide_status tide_gelu_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                               const tide_tensor *x);
/* out = x > 0 ? x : slope * x */
tide_status tide_leaky_relu(tide_tensor *out, const tide_tensor *x, double slope);
/* grad_in = grad_out * (x > 0 ? 1 : slope) */
tide_status tide_leaky_relu_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                     const tide_tensor *x, double slope);

#endif
