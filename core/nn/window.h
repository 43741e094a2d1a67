/* window.h — where a sliding window's tap reads inside its input, shared by the convolution and
 * pooling kernels: they loop over output positions per tap, over just this range, so that
 * padding costs no test per element. Not a public header. */
#ifndef TIDE_NN_WINDOW_H
#define TIDE_NN_WINDOW_H

#include <stdint.h>

/* The output positions [lo, hi) of n_out whose input position o * stride + off lies in
 * 0 .. size-1; off is the tap's offset, k * dilation - padding. Outside it a tap reads padding. */
static inline void tide_window_valid(int64_t off, int64_t stride, int64_t size, int64_t n_out,
                                   int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t h = size - off <= 0 ? 0 : (size - off - 1) / stride + 1;
    if (h > n_out)
        h = n_out;
    *lo = l < h ? l : h;
    *hi = h;
}

#endif
