/* conv_direct.c — conv2d at stride 1 without lowering: every tap (c, ki, kj) of a filter is a
 * row update between an output plane and the input plane shifted by the tap's offset, over the
 * positions where the shifted read lies inside the input (padding reads nothing). With few taps
 * per output the planes stay in L1 and this beats building a column matrix for a thin GEMM; with
 * many, GEMM wins (conv.c chooses, tests/bench/conv.lua measures). */
#include "nn/conv_impl.h"
#include "tensor/dtype.h"

#include <stddef.h>

/* The valid rows [i0, i1) and columns [j0, j1) of tap (ki, kj), and its offsets into the input. */
typedef struct tap {
    int64_t i0, i1, j0, j1, ioff, joff;
} tap;

static tap tap_at(const tide_conv_geom *g, const tide_conv2d_params *p, int64_t ki, int64_t kj)
{
    tap t;
    t.ioff = ki * p->dilation[0] - p->padding[0];
    t.joff = kj * p->dilation[1] - p->padding[1];
    tide_conv_valid(t.ioff, 1, g->H, g->OH, &t.i0, &t.i1);
    tide_conv_valid(t.joff, 1, g->W, g->OW, &t.j0, &t.j1);
    return t;
}

/* For every (sample, output channel, input channel of its group) the body runs with op the output
 * (or grad_out) plane, xp the input plane, wp the filter's kh x kw taps of that channel pair. */
#define FOR_PAIRS(g, p, T, out, x, w, ...)                                                \
    for (int64_t n = 0; n < (g)->N; n++)                                                  \
        for (int64_t o = 0; o < (g)->O; o++) {                                            \
            int64_t gr = o / (g)->Og;                                                     \
            T *op = (T *)(out) + (n * (g)->O + o) * (g)->L;                               \
            for (int64_t c = 0; c < (g)->Cg; c++) {                                       \
                T *xp = (T *)(x) + (n * (g)->C + gr * (g)->Cg + c) * (g)->H * (g)->W;     \
                T *wp = (T *)(w) + (o * (g)->Cg + c) * (g)->kh * (g)->kw;                 \
                __VA_ARGS__                                                               \
            }                                                                             \
        }

#define FOR_TAPS(g, p, ...)                                                               \
    for (int64_t ki = 0; ki < (g)->kh; ki++)                                              \
        for (int64_t kj = 0; kj < (g)->kw; kj++) {                                        \
            tap t = tap_at(g, p, ki, kj);                                                 \
            for (int64_t oi = t.i0; oi < t.i1; oi++) {                                    \
                ptrdiff_t orow = oi * (g)->OW, xrow = (oi + t.ioff) * (g)->W + t.joff;    \
                __VA_ARGS__                                                               \
            }                                                                             \
        }

#define DIRECT(E, name, T)                                                                \
    static void forward_##name(const tide_conv_geom *g, const tide_conv2d_params *p,      \
                               const void *x, const void *w, const void *bias, void *out) \
    {                                                                                     \
        for (int64_t n = 0; n < g->N; n++)                                                \
            for (int64_t o = 0; o < g->O; o++) {                                          \
                T *op = (T *)out + (n * g->O + o) * g->L, b = bias ? ((const T *)bias)[o] : 0; \
                for (int64_t l = 0; l < g->L; l++)                                        \
                    op[l] = b;                                                            \
            }                                                                             \
        FOR_PAIRS(g, p, T, out, x, w, FOR_TAPS(g, p, {                                    \
            T wv = wp[ki * g->kw + kj], *orp = op + orow;                                 \
            const T *xrp = xp + xrow;                                                     \
            for (int64_t oj = t.j0; oj < t.j1; oj++)                                      \
                orp[oj] += wv * xrp[oj];                                                  \
        }))                                                                               \
    }                                                                                     \
    /* grad_w[o, c, tap] += <grad_out plane, shifted input plane>; grad_x gets each tap's   \
     * weight times the grad_out plane, shifted back. */                                  \
    static void backward_##name(const tide_conv_geom *g, const tide_conv2d_params *p,     \
                                const void *x, const void *w, const void *go, void *gx,   \
                                void *gw)                                                 \
    {                                                                                     \
        if (gw)                                                                           \
            FOR_PAIRS(g, p, T, go, x, gw, FOR_TAPS(g, p, {                                \
                const T *grp = op + orow, *xrp = xp + xrow;                               \
                T s = 0;                                                                  \
                for (int64_t oj = t.j0; oj < t.j1; oj++)                                  \
                    s += grp[oj] * xrp[oj];                                               \
                wp[ki * g->kw + kj] += s;                                                 \
            }))                                                                           \
        if (gx)                                                                           \
            FOR_PAIRS(g, p, T, go, gx, w, FOR_TAPS(g, p, {                                \
                T wv = wp[ki * g->kw + kj], *xrp = xp + xrow;                             \
                const T *grp = op + orow;                                                 \
                for (int64_t oj = t.j0; oj < t.j1; oj++)                                  \
                    xrp[oj] += wv * grp[oj];                                              \
            }))                                                                           \
    }
TIDE_FOREACH_FLOAT_DTYPE(DIRECT)

void tide_conv2d_direct(const tide_conv_geom *g, const tide_conv2d_params *p, const void *x,
                        const void *w, const void *bias, void *out)
{
#define FORWARD_CASE(E, name, T)              \
    case E:                                   \
        forward_##name(g, p, x, w, bias, out); \
        break;
    switch (g->dt) {
        TIDE_FOREACH_FLOAT_DTYPE(FORWARD_CASE)
    default:
        break;    /* conv.c has refused every other dtype */
    }
}

void tide_conv2d_direct_backward(const tide_conv_geom *g, const tide_conv2d_params *p,
                                 const void *x, const void *w, const void *grad_out, void *grad_x,
                                 void *grad_w)
{
#define BACKWARD_CASE(E, name, T)                            \
    case E:                                                  \
        backward_##name(g, p, x, w, grad_out, grad_x, grad_w); \
        break;
    switch (g->dt) {
        TIDE_FOREACH_FLOAT_DTYPE(BACKWARD_CASE)
    default:
        break;
    }
}
