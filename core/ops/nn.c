/* ops_nn.c — row-wise softmax family, fused cross-entropy, activation backwards (the
 * optimizer steps are in ops/optim.c). Inputs are made contiguous first (a copy only when a
 * caller passes a view), so the loops below are plain loops over rows that the compiler
 * vectorises. */
#include "ops/nn.h"
#include "ops/nn_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/size.h"

/* Rows and columns of a 1-D or 2-D tensor seen as a batch of rows. */
static tide_status rows_cols(const tide_tensor *x, const char *op, int64_t *rows, int64_t *cols)
{
    if (!tide_dtype_is_float(x->dtype))
        return tide_fail("%s: expected an f32 or f64 tensor, got %s", op, tide_dtype_name(x->dtype));
    if (x->ndim == 1) {
        *rows = 1;
        *cols = x->shape[0];
    } else if (x->ndim == 2) {
        *rows = x->shape[0];
        *cols = x->shape[1];
    } else {
        char s[TIDE_SHAPE_BUF];
        return tide_fail("%s: expected a 1-D or 2-D tensor (batch x features), got %s", op,
                         tide_shape_str(x, s, sizeof s));
    }
    return TIDE_OK;
}

/* See ops/nn_impl.h. */
tide_status tide_nn_same_as(const tide_tensor *a, const tide_tensor *b, const char *op,
                            const char *an, const char *bn)
{
    char sa[TIDE_SHAPE_BUF], sb[TIDE_SHAPE_BUF];
    if (!tide_same_shape(a, b))
        return tide_fail("%s: %s has shape %s but %s has shape %s", op, an,
                         tide_shape_str(a, sa, sizeof sa), bn, tide_shape_str(b, sb, sizeof sb));
    if (a->dtype != b->dtype)
        return tide_fail("%s: %s is %s but %s is %s", op, an, tide_dtype_name(a->dtype), bn,
                         tide_dtype_name(b->dtype));
    return TIDE_OK;
}

/* A row's largest value mx and sum of exp(x - mx), accumulated in double: the stable
 * log-sum-exp that softmax and cross-entropy share. */
#define ROW_MAX_SUMEXP(xr, cols, mx, s)                     \
    do {                                                    \
        mx = (xr)[0];                                       \
        for (int64_t j_ = 1; j_ < (cols); j_++)             \
            mx = (xr)[j_] > mx ? (xr)[j_] : mx;             \
        s = 0;                                              \
        for (int64_t j_ = 0; j_ < (cols); j_++)             \
            s += exp((double)((xr)[j_] - mx));              \
    } while (0)

/* Row kernels, written once per float type. LOG selects log-softmax. */
#define SOFTMAX_ROWS(name, T, LOG)                                             \
    static void softmax_rows_##name##_##LOG(T *restrict y, const T *restrict x,   \
                                         int64_t rows, int64_t cols)           \
    {                                                                          \
        for (int64_t r = 0; r < rows; r++) {                                   \
            const T *xr = x + r * cols;                                        \
            T *yr = y + r * cols;                                              \
            T mx;                                                              \
            double s;                                                          \
            ROW_MAX_SUMEXP(xr, cols, mx, s);                                   \
            if (LOG) {                                                         \
                T lse = (T)(mx + log(s));                                      \
                for (int64_t j = 0; j < cols; j++)                             \
                    yr[j] = xr[j] - lse;                                       \
            } else {                                                           \
                for (int64_t j = 0; j < cols; j++)                             \
                    yr[j] = (T)(exp((double)(xr[j] - mx)) / s);                \
            }                                                                  \
        }                                                                      \
    }
#define SOFTMAX_BOTH(E, name, T) SOFTMAX_ROWS(name, T, 0) SOFTMAX_ROWS(name, T, 1)
TIDE_FOREACH_FLOAT_DTYPE(SOFTMAX_BOTH)
#undef SOFTMAX_BOTH

static tide_status softmax_common(tide_tensor *out, const tide_tensor *x, int log_form,
                                  const char *op)
{
    int64_t rows = 0, cols = 0;
    TIDE_TRY(rows_cols(x, op, &rows, &cols));
    if (cols == 0)
        return tide_fail("%s: rows have no elements", op);
    tide_tensor xc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&xc, x));
    tide_status st = tide_prepare_out(out, x->dtype, x->ndim, x->shape, op);
    if (st == TIDE_OK && !tide_is_contiguous(out))
        st = tide_fail("%s: the output must be contiguous", op);
    if (st == TIDE_OK) {
        switch (x->dtype) {
#define SOFTMAX_CASE(E, name, T)                                                        \
    case E:                                                                             \
        (log_form ? softmax_rows_##name##_1                                             \
                  : softmax_rows_##name##_0)(tide_data(out), tide_data(&xc), rows, cols); \
        break;
            TIDE_FOREACH_FLOAT_DTYPE(SOFTMAX_CASE)
#undef SOFTMAX_CASE
        default: break;   /* rows_cols refused the rest */
        }
    }
    tide_tensor_release(&xc);
    return st;
}

tide_status tide_softmax(tide_tensor *out, const tide_tensor *x)
{
    return softmax_common(out, x, 0, "softmax");
}

tide_status tide_log_softmax(tide_tensor *out, const tide_tensor *x)
{
    return softmax_common(out, x, 1, "log_softmax");
}

#define LOG_SOFTMAX_BACKWARD(E, name, T)                                               \
    static void log_softmax_backward_##name(T *restrict gi, const T *restrict go,         \
                                         const T *restrict y, int64_t rows, int64_t cols) \
    {                                                                                  \
        for (int64_t r = 0; r < rows; r++) {                                           \
            double s = 0;                                                              \
            for (int64_t j = 0; j < cols; j++)                                         \
                s += go[r * cols + j];                                                 \
            for (int64_t j = 0; j < cols; j++)                                         \
                gi[r * cols + j] = (T)(go[r * cols + j] - exp((double)y[r * cols + j]) * s); \
        }                                                                              \
    }
TIDE_FOREACH_FLOAT_DTYPE(LOG_SOFTMAX_BACKWARD)
#undef LOG_SOFTMAX_BACKWARD

/* Elementwise activation backwards: one expression per activation, for every float type. */
#define ACT_BACKWARD(NAME, name, T, EXPR)                                             \
    static void NAME##_##name(T *restrict gi, const T *restrict go, const T *restrict v, \
                              int64_t n)                                              \
    {                                                                                 \
        for (int64_t i = 0; i < n; i++)                                               \
            gi[i] = EXPR;                                                             \
    }
#define ACTIVATIONS(E, name, T)                                                       \
    ACT_BACKWARD(relu_bw, name, T, v[i] > 0 ? go[i] : (T)0)                           \
    ACT_BACKWARD(tanh_bw, name, T, go[i] * ((T)1 - v[i] * v[i]))                      \
    ACT_BACKWARD(sigmoid_bw, name, T, go[i] * v[i] * ((T)1 - v[i]))
TIDE_FOREACH_FLOAT_DTYPE(ACTIVATIONS)
#undef ACTIVATIONS
#undef ACT_BACKWARD

enum { PAIR_LOG_SOFTMAX, PAIR_RELU, PAIR_TANH, PAIR_SIGMOID };

/* gi = the backward of kind from (a, b), all contiguous of one float type. */
#define PAIR_KERNEL(E, name, T)                                                       \
    static void pair_##name(int kind, void *gi, const void *a, const void *b,         \
                            int64_t rows, int64_t cols)                               \
    {                                                                                 \
        switch (kind) {                                                               \
        case PAIR_LOG_SOFTMAX: log_softmax_backward_##name(gi, a, b, rows, cols); break; \
        case PAIR_RELU: relu_bw_##name(gi, a, b, rows * cols); break;                 \
        case PAIR_TANH: tanh_bw_##name(gi, a, b, rows * cols); break;                 \
        case PAIR_SIGMOID: sigmoid_bw_##name(gi, a, b, rows * cols); break;           \
        }                                                                             \
    }
TIDE_FOREACH_FLOAT_DTYPE(PAIR_KERNEL)
#undef PAIR_KERNEL

/* Runs the backward of kind over contiguous copies of two same-shaped float inputs into a
 * contiguous output. */
static tide_status pairwise(tide_tensor *grad_in, const tide_tensor *a, const tide_tensor *b,
                            const char *op, const char *an, const char *bn, int kind,
                            int row_shaped)
{
    int64_t rows = 1, cols = tide_numel(a);
    if (row_shaped)
        TIDE_TRY(rows_cols(a, op, &rows, &cols));
    else if (!tide_dtype_is_float(a->dtype))
        return tide_fail("%s: expected an f32 or f64 tensor, got %s", op, tide_dtype_name(a->dtype));
    TIDE_TRY(tide_nn_same_as(a, b, op, an, bn));
    tide_tensor ac = TIDE_TENSOR_EMPTY, bc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&ac, a));
    tide_status st = tide_contiguous(&bc, b);
    if (st == TIDE_OK)
        st = tide_prepare_out(grad_in, a->dtype, a->ndim, a->shape, op);
    if (st == TIDE_OK && !tide_is_contiguous(grad_in))
        st = tide_fail("%s: the output must be contiguous", op);
    if (st == TIDE_OK)
        switch (a->dtype) {
#define PAIR_CASE(E, name, T)                                                                 \
    case E: pair_##name(kind, tide_data(grad_in), tide_data(&ac), tide_data(&bc), rows, cols); \
        break;
            TIDE_FOREACH_FLOAT_DTYPE(PAIR_CASE)
#undef PAIR_CASE
        default: break;   /* refused above */
        }
    tide_tensor_release(&ac);
    tide_tensor_release(&bc);
    return st;
}

tide_status tide_log_softmax_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                      const tide_tensor *out)
{
    return pairwise(grad_in, grad_out, out, "log_softmax_backward", "grad_output", "output",
                    PAIR_LOG_SOFTMAX, 1);
}

tide_status tide_relu_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                               const tide_tensor *x)
{
    return pairwise(grad_in, grad_out, x, "relu_backward", "grad_output", "input",
                    PAIR_RELU, 0);
}

tide_status tide_tanh_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                               const tide_tensor *y)
{
    return pairwise(grad_in, grad_out, y, "tanh_backward", "grad_output", "output",
                    PAIR_TANH, 0);
}

tide_status tide_sigmoid_backward(tide_tensor *grad_in, const tide_tensor *grad_out,
                                  const tide_tensor *y)
{
    return pairwise(grad_in, grad_out, y, "sigmoid_backward", "grad_output", "output",
                    PAIR_SIGMOID, 0);
}

/* ------------------------------------------------------------------ cross-entropy */

/* Row r's label as a 0-based class. */
static tide_status read_label(const tide_tensor *labels, int64_t label_base, int64_t r,
                              int64_t classes, int64_t *label)
{
    int64_t v = tide_get_i64(labels, &r);
    if (v < label_base || v >= classes + label_base)
        return tide_fail("cross_entropy: label %lld of row %lld is outside the class range %lld..%lld",
                         (long long)v, (long long)r + label_base, (long long)label_base,
                         (long long)(classes - 1 + label_base));
    *label = v - label_base;
    return TIDE_OK;
}

#define CE_ROWS(E, name, T)                                                           \
    static tide_status ce_rows_##name(double *loss, T *grad, const T *x, int64_t rows,   \
                                   int64_t cols, const tide_tensor *labels,           \
                                   int64_t label_base, double scale)                  \
    {                                                                                 \
        double total = 0;                                                             \
        for (int64_t r = 0; r < rows; r++) {                                          \
            const T *xr = x + r * cols;                                               \
            int64_t y = 0;                                                              \
            TIDE_TRY(read_label(labels, label_base, r, cols, &y));                    \
            T mx;                                                                     \
            double s;                                                                 \
            ROW_MAX_SUMEXP(xr, cols, mx, s);                                          \
            double lse = (double)mx + log(s);                                         \
            total += lse - (double)xr[y];                                             \
            if (grad) {                                                               \
                T *gr = grad + r * cols;                                              \
                for (int64_t j = 0; j < cols; j++) {                                  \
                    T g = (T)(exp((double)xr[j] - lse) * scale);                      \
                    gr[j] = FTZ(g, name);                                         \
                }                                                                     \
                gr[y] -= (T)scale;                                                    \
            }                                                                         \
        }                                                                             \
        *loss = total * scale;                                                        \
        return TIDE_OK;                                                               \
    }
TIDE_FOREACH_FLOAT_DTYPE(CE_ROWS)
#undef CE_ROWS

tide_status tide_cross_entropy(double *loss, tide_tensor *grad, const tide_tensor *logits,
                               const tide_tensor *labels, int64_t label_base, int mean)
{
    int64_t rows = 0, cols = 0;
    TIDE_TRY(rows_cols(logits, "cross_entropy", &rows, &cols));
    if (logits->ndim != 2)
        return tide_fail("cross_entropy: expected 2-D logits (batch x classes), got %d-D",
                         logits->ndim);
    if (!tide_dtype_is_index(labels->dtype))
        return tide_fail("cross_entropy: expected i32 or i64 labels, got %s",
                         tide_dtype_name(labels->dtype));
    if (labels->ndim != 1 || labels->shape[0] != rows) {
        char s[TIDE_SHAPE_BUF];
        return tide_fail("cross_entropy: expected %lld labels (one per row), got a %s tensor",
                         (long long)rows, tide_shape_str(labels, s, sizeof s));
    }
    if (cols == 0)
        return tide_fail("cross_entropy: logits have no classes");
    tide_tensor xc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&xc, logits));
    tide_status st = TIDE_OK;
    if (grad) {
        st = tide_prepare_out(grad, logits->dtype, 2, logits->shape, "cross_entropy");
        if (st == TIDE_OK && !tide_is_contiguous(grad))
            st = tide_fail("cross_entropy: the gradient output must be contiguous");
    }
    double scale = mean && rows > 0 ? 1.0 / (double)rows : 1.0;
    if (st == TIDE_OK)
        switch (logits->dtype) {
#define CE_CASE(E, name, T)                                                                 \
    case E:                                                                                 \
        st = ce_rows_##name(loss, grad ? tide_data(grad) : NULL, tide_data(&xc), rows, cols, \
                            labels, label_base, scale);                                     \
        break;
            TIDE_FOREACH_FLOAT_DTYPE(CE_CASE)
#undef CE_CASE
        default: break;   /* rows_cols refused the rest */
        }
    tide_tensor_release(&xc);
    return st;
}

/* ------------------------------------------------------------------ small nn helpers */

#define COLSUM(E, name, T)                                                            \
    static void colsum_##name(T *restrict acc, const T *restrict x, double *restrict s,  \
                           int64_t rows, int64_t cols, int accumulate)                \
    {                                                                                 \
        for (int64_t j = 0; j < cols; j++)                                            \
            s[j] = 0;                                                                 \
        for (int64_t r = 0; r < rows; r++)                                            \
            for (int64_t j = 0; j < cols; j++)                                        \
                s[j] += (double)x[r * cols + j];                                      \
        for (int64_t j = 0; j < cols; j++)                                            \
            acc[j] = (T)((accumulate ? (double)acc[j] : 0.0) + s[j]);                 \
    }
TIDE_FOREACH_FLOAT_DTYPE(COLSUM)
#undef COLSUM

tide_status tide_add_colsum(tide_tensor *acc, const tide_tensor *x, int accumulate)
{
    char sa[TIDE_SHAPE_BUF], sx[TIDE_SHAPE_BUF];
    if (!tide_dtype_is_float(x->dtype))
        return tide_fail("add_colsum_: expected an f32 or f64 tensor, got %s",
                         tide_dtype_name(x->dtype));
    if (x->ndim != 2 || acc->ndim != 1 || acc->shape[0] != x->shape[1])
        return tide_fail("add_colsum_: expected a 2-D input and a 1-D receiver of its width, "
                         "got %s and %s", tide_shape_str(x, sx, sizeof sx),
                         tide_shape_str(acc, sa, sizeof sa));
    if (acc->dtype != x->dtype)
        return tide_fail("add_colsum_: the receiver is %s but the input is %s",
                         tide_dtype_name(acc->dtype), tide_dtype_name(x->dtype));
    if (!tide_is_contiguous(acc))
        return tide_fail("add_colsum_: the receiver must be contiguous");
    int64_t rows = x->shape[0], cols = x->shape[1];
    double stack[1024];
    void *heap = NULL;
    if (cols > 1024)   /* x may be an expanded view: cols is any size */
        TIDE_TRY(tide_alloc_array(&heap, cols, sizeof(double), "add_colsum_"));
    double *s = cols <= 1024 ? stack : heap;
    tide_tensor xc = TIDE_TENSOR_EMPTY;
    tide_status st = tide_contiguous(&xc, x);
    if (st == TIDE_OK) {
        switch (x->dtype) {
#define COLSUM_CASE(E, name, T) \
    case E: colsum_##name(tide_data(acc), tide_data(&xc), s, rows, cols, accumulate); break;
            TIDE_FOREACH_FLOAT_DTYPE(COLSUM_CASE)
#undef COLSUM_CASE
        default: break;   /* refused above */
        }
    }
    tide_tensor_release(&xc);
    if (s != stack)
        free(s);
    return st;
}

#define DROPOUT_MASK(E, name, T)                                                      \
    static void dropout_mask_##name(T *restrict u, int64_t n, double p)                  \
    {                                                                                 \
        const T keep = p < 1 ? (T)(1.0 / (1.0 - p)) : 0, tp = (T)p;                   \
        for (int64_t i = 0; i < n; i++)                                               \
            u[i] = u[i] < tp ? (T)0 : keep;                                           \
    }
TIDE_FOREACH_FLOAT_DTYPE(DROPOUT_MASK)
#undef DROPOUT_MASK

tide_status tide_dropout_mask(tide_tensor *u, double p)
{
    if (!tide_dtype_is_float(u->dtype))
        return tide_fail("dropout_mask_: expected an f32 or f64 tensor, got %s",
                         tide_dtype_name(u->dtype));
    if (!(p >= 0 && p <= 1))
        return tide_fail("dropout_mask_: p must be in [0, 1], got %g", p);
    if (!tide_is_contiguous(u))
        return tide_fail("dropout_mask_: the receiver must be contiguous");
    switch (u->dtype) {
#define DROPOUT_CASE(E, name, T) case E: dropout_mask_##name(tide_data(u), tide_numel(u), p); break;
        TIDE_FOREACH_FLOAT_DTYPE(DROPOUT_CASE)
#undef DROPOUT_CASE
    default: break;   /* refused above */
    }
    return TIDE_OK;
}

#define SQ_DIST(E, name, T)                                                           \
    static double sq_dist_##name(const T *restrict a, const T *restrict b, int64_t n)    \
    {                                                                                 \
        double s = 0;                                                                 \
        for (int64_t i = 0; i < n; i++) {                                             \
            double d = (double)a[i] - (double)b[i];                                   \
            s += d * d;                                                               \
        }                                                                             \
        return s;                                                                     \
    }                                                                                 \
    static void scaled_diff_##name(T *restrict o, const T *restrict a, const T *restrict b, \
                                int64_t n, double scale)                              \
    {                                                                                 \
        const T s = (T)scale;                                                         \
        for (int64_t i = 0; i < n; i++)                                               \
            o[i] = s * (a[i] - b[i]);                                                 \
    }
TIDE_FOREACH_FLOAT_DTYPE(SQ_DIST)
#undef SQ_DIST

tide_status tide_sq_dist(double *result, const tide_tensor *a, const tide_tensor *b)
{
    if (!tide_dtype_is_float(a->dtype))
        return tide_fail("sq_dist: expected an f32 or f64 tensor, got %s",
                         tide_dtype_name(a->dtype));
    TIDE_TRY(tide_nn_same_as(a, b, "sq_dist", "input", "target"));
    tide_tensor ac = TIDE_TENSOR_EMPTY, bc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&ac, a));
    tide_status st = tide_contiguous(&bc, b);
    if (st == TIDE_OK)
        switch (a->dtype) {
#define SQ_DIST_CASE(E, name, T) \
    case E: *result = sq_dist_##name(tide_data(&ac), tide_data(&bc), tide_numel(a)); break;
            TIDE_FOREACH_FLOAT_DTYPE(SQ_DIST_CASE)
#undef SQ_DIST_CASE
        default: break;   /* refused above */
        }
    tide_tensor_release(&ac);
    tide_tensor_release(&bc);
    return st;
}

tide_status tide_scaled_diff(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                             double scale)
{
    if (!tide_dtype_is_float(a->dtype))
        return tide_fail("scaled_diff: expected an f32 or f64 tensor, got %s",
                         tide_dtype_name(a->dtype));
    TIDE_TRY(tide_nn_same_as(a, b, "scaled_diff", "input", "target"));
    tide_tensor ac = TIDE_TENSOR_EMPTY, bc = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&ac, a));
    tide_status st = tide_contiguous(&bc, b);
    if (st == TIDE_OK)
        st = tide_prepare_out(out, a->dtype, a->ndim, a->shape, "scaled_diff");
    if (st == TIDE_OK && !tide_is_contiguous(out))
        st = tide_fail("scaled_diff: the output must be contiguous");
    if (st == TIDE_OK) {
        switch (a->dtype) {
#define DIFF_CASE(E, name, T)                                                                 \
    case E:                                                                                   \
        scaled_diff_##name(tide_data(out), tide_data(&ac), tide_data(&bc), tide_numel(a), scale); \
        break;
            TIDE_FOREACH_FLOAT_DTYPE(DIFF_CASE)
#undef DIFF_CASE
        default: break;   /* refused above */
        }
    }
    tide_tensor_release(&ac);
    tide_tensor_release(&bc);
    return st;
}

tide_status tide_take_rows(tide_tensor *out, const tide_tensor *src, const tide_tensor *index,
                           int64_t base)
{
    char s1[TIDE_SHAPE_BUF];
    if (src->ndim < 1)
        return tide_fail("take_rows: expected a tensor of rows, got a scalar");
    if (!tide_is_contiguous(src))
        return tide_fail("take_rows: the source must be contiguous");
    if (index->ndim != 1 || !tide_dtype_is_index(index->dtype))
        return tide_fail("take_rows: expected a 1-D i32 or i64 index, got %s %s",
                         tide_shape_str(index, s1, sizeof s1), tide_dtype_name(index->dtype));
    int64_t n = index->shape[0], rows = src->shape[0];
    for (int64_t k = 0; k < n; k++) {
        int64_t v = tide_get_i64(index, &k);
        if (v < base || v >= rows + base)
            return tide_fail("take_rows: index %lld (entry %lld) out of range %lld..%lld",
                             (long long)v, (long long)(k + base), (long long)base,
                             (long long)(rows - 1 + base));
    }
    int64_t shape[TIDE_MAX_DIMS];
    shape[0] = n;
    for (int d = 1; d < src->ndim; d++)
        shape[d] = src->shape[d];
    TIDE_TRY(tide_prepare_out(out, src->dtype, src->ndim, shape, "take_rows"));
    if (!tide_is_contiguous(out))
        return tide_fail("take_rows: the output must be contiguous");
    if (tide_overlaps(out, src))
        return tide_fail("take_rows: the output overlaps the source");
    size_t row_bytes = (size_t)(rows ? tide_numel(src) / rows : 0) * tide_dtype_size(src->dtype);
    char *dst = tide_data(out);
    const char *from = tide_data(src);
    for (int64_t k = 0; k < n; k++) {
        int64_t v = tide_get_i64(index, &k) - base;
        memcpy(dst + (size_t)k * row_bytes, from + (size_t)v * row_bytes, row_bytes);
    }
    return TIDE_OK;
}
