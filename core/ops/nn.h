/* ops_nn.h — the kernels tide.nn runs: softmax, log-softmax, fused cross-entropy, activation
 * backwards (tide.optim's steps are in ops/optim.h).
 *
 * Row-wise kernels work over the last dim of a 1-D or 2-D float tensor (batch-first). Class
 * labels count from label_base (1 from Lua, 0 from C). */
#ifndef TIDE_OPS_NN_H
#define TIDE_OPS_NN_H

#include "tensor/tensor.h"

tide_status tide_softmax(tide_tensor *out, const tide_tensor *x);
tide_status tide_log_softmax(tide_tensor *out, const tide_tensor *x);
/* grad_in = grad_out - exp(out) * rowsum(grad_out), where out = log_softmax(x). */
tide_status tide_log_softmax_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                      const tide_tensor *out);

/* Mean (or summed) negative log-likelihood of the labels under softmax(logits); when grad is
 * non-NULL it receives d loss / d logits. labels: i32 or i64, one per row, the first class
 * numbered label_base. */
tide_status tide_cross_entropy(double *loss, tide_tensor *grad, const tide_tensor *logits,
                               const tide_tensor *labels, int64_t label_base, int mean);

/* grad_in = grad_out * f'(...) for the activations, from their input x (relu) or output y. */
tide_status tide_relu_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                               const tide_tensor *x);
tide_status tide_tanh_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                               const tide_tensor *y);
tide_status tide_sigmoid_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                  const tide_tensor *y);

/* acc[j] = (accumulate ? acc[j] : 0) + sum over rows r of x[r][j], x 2-D (rows x cols), acc
 * 1-D (cols), same float dtype; sums run in double. The bias gradient of a linear layer. */
tide_status tide_add_colsum(tide_tensor *acc, const tide_tensor *x, int accumulate);

/* out[k] = src[index[k] - base] along dim 0 (whole rows, one memcpy each): the batch gather of
 * a data loader. src contiguous, index 1-D i32/i64 (all checked before anything is written),
 * out empty or contiguous of shape (#index, src's other dims) and src's dtype. */
tide_status tide_take_rows(tide_tensor *out, const tide_tensor *src, const tide_tensor *index,
                           int64_t base);

/* In place, u[i] = u[i] < p ? 0 : 1/(1-p): uniform noise in [0, 1) becomes an inverted-dropout
 * mask (p = 1 gives all zeros). u must be a contiguous float tensor. */
tide_status tide_dropout_mask(tide_tensor *u, double p);

/* *result = sum of (a[i] - b[i])^2 (in double), a and b of one shape and float dtype. */
tide_status tide_sq_dist(double *result, const tide_tensor *a, const tide_tensor *b);
/* out = scale * (a - b); out contiguous, or empty (allocated). */
tide_status tide_scaled_diff(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                             double scale);

#endif
