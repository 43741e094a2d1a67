/* pool.h — 2-D pooling over NCHW tensors (contiguous f32/f64), as torch's max_pool2d,
 * avg_pool2d (count_include_pad: padding counts as zeros) and adaptive_avg_pool2d.
 *
 * A window is kh x kw at stride (sh, sw) over the input padded by (ph, pw); the output is
 * floor((H + 2 ph - kh) / sh) + 1 high (ceil_mode off). Max pooling keeps, per output, the
 * flat index within its H x W plane of the maximum (argmax: i64, the output's shape), which
 * is all its backward needs; padding never wins (it is -inf). Adaptive pooling to OH x OW
 * averages rows floor(i H / OH) .. ceil((i + 1) H / OH) - 1, and likewise for columns. */
#ifndef TIDE_NN_POOL_H
#define TIDE_NN_POOL_H

#include "tensor/tensor.h"

typedef struct tide_pool2d_params {
    int64_t kernel[2], stride[2], padding[2];
} tide_pool2d_params;

tide_status tide_max_pool2d(tide_tensor *out, tide_tensor *argmax, const tide_tensor *x,
                            const tide_pool2d_params *p);
/* grad_in (empty, or contiguous of x's shape: overwritten) from grad_out and argmax. */
tide_status tide_max_pool2d_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                     const tide_tensor *argmax, const tide_tensor *x);

tide_status tide_avg_pool2d(tide_tensor *out, const tide_tensor *x, const tide_pool2d_params *p);
tide_status tide_avg_pool2d_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                     const tide_tensor *x, const tide_pool2d_params *p);

tide_status tide_adaptive_avg_pool2d(tide_tensor *out, const tide_tensor *x, int64_t oh,
                                     int64_t ow);
tide_status tide_adaptive_avg_pool2d_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                              const tide_tensor *x);

#endif
