/* logistic.c — the log-loss and gradient of binary and multinomial logistic regression, fused
 * over blocks of rows (see logistic.h). */
#include "algo/logistic.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows per block: about 256 KiB of x, so that xᵀ g reads the block from L2 right after x w. */
static int64_t block_rows(int64_t d)
{
    int64_t m = (256 * 1024 / 8) / (d > 0 ? d : 1);
    return m < 16 ? 16 : m > 4096 ? 4096 : m;
}

static tide_status check(const tide_tensor *a, int ndim, int64_t rows, int64_t cols,
                         const char *what)
{
    char s[TIDE_SHAPE_BUF];
    int ok = a->ndim == ndim && a->dtype == TIDE_F64 && tide_is_contiguous(a) &&
             a->shape[0] == rows && (ndim == 1 || a->shape[1] == cols);
    if (!ok)
        return tide_fail("logistic_loss_grad: expected %s as a contiguous f64 %lldx%lld "
                         "tensor, got %s %s%s", what, (long long)rows, (long long)cols,
                         tide_dtype_name(a->dtype), tide_shape_str(a, s, sizeof s),
                         tide_is_contiguous(a) ? "" : " (not contiguous)");
    return TIDE_OK;
}

/* The loss of m rows of scores z (m×k, replaced by the gradient g) against targets t. */
static double loss_and_residual(double *z, const double *t, int64_t m, int64_t k)
{
    double loss = 0;
    if (k == 1) {
        for (int64_t i = 0; i < m; i++) {
            /* one exp serves both: e = e^−|v|, sigmoid(v) = 1/(1+e) or e/(1+e) by sign */
            double v = z[i], e = exp(-fabs(v));
            loss += (v > 0 ? v : 0) + log1p(e) - t[i] * v;
            z[i] = (v >= 0 ? 1 : e) / (1 + e) - t[i];
        }
        return loss;
    }
    for (int64_t i = 0; i < m; i++) {
        double *zi = z + i * k;
        const double *ti = t + i * k;
        double top = zi[0], sum = 0, s = 0;
        for (int64_t j = 1; j < k; j++)
            top = zi[j] > top ? zi[j] : top;
        for (int64_t j = 0; j < k; j++)
            sum += exp(zi[j] - top);
        double lse = top + log(sum);
        for (int64_t j = 0; j < k; j++) {
            loss -= ti[j] * (zi[j] - lse);
            s += ti[j];
        }
        for (int64_t j = 0; j < k; j++)
            zi[j] = s * exp(zi[j] - lse) - ti[j];
    }
    return loss;
}

tide_status tide_logistic_loss_grad(double *loss, tide_tensor *grad_w, tide_tensor *grad_b,
                                    const tide_tensor *x, const tide_tensor *w,
                                    const tide_tensor *b, const tide_tensor *t)
{
    if (x->ndim != 2)
        return tide_fail("logistic_loss_grad: expected a 2-D x, got %d dims", x->ndim);
    int64_t n = x->shape[0], d = x->shape[1];
    int64_t k = t->ndim == 2 ? t->shape[1] : 1;   /* the targets say how many classes */
    TIDE_TRY(check(x, 2, n, d, "x"));
    TIDE_TRY(check(t, 2, n, k, "t"));
    TIDE_TRY(check(w, 2, d, k, "w"));
    if (b)
        TIDE_TRY(check(b, 1, k, 1, "b"));
    int64_t wshape[2] = {d, k};
    TIDE_TRY(tide_prepare_out(grad_w, TIDE_F64, 2, wshape, "logistic_loss_grad"));
    if (b)
        TIDE_TRY(tide_prepare_out(grad_b, TIDE_F64, 1, &k, "logistic_loss_grad"));
    int64_t bm = block_rows(d);
    double *z = malloc(sizeof(double) * (size_t)(bm * (k > 0 ? k : 1)));
    if (!z)
        return tide_fail("logistic_loss_grad: out of memory for a %lld-row block",
                         (long long)bm);
    const double *xd = tide_data(x), *wd = tide_data(w), *td = tide_data(t);
    const double *bd = b ? tide_data(b) : NULL;
    double *gw = tide_data(grad_w), *gb = b ? tide_data(grad_b) : NULL;
    memset(gw, 0, sizeof(double) * (size_t)(d * k));
    if (gb)
        memset(gb, 0, sizeof(double) * (size_t)k);
    *loss = 0;
    for (int64_t r0 = 0; r0 < n && k > 0; r0 += bm) {
        int64_t m = n - r0 < bm ? n - r0 : bm;
        const double *xb = xd + r0 * d;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < k; j++)
                z[i * k + j] = bd ? bd[j] : 0;
        /* one class: matrix-vector products, which OpenBLAS runs faster than a 1-column GEMM */
        if (k == 1)
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)d, 1.0, xb, (int)d, wd, 1, 1.0,
                        z, 1);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)k, (int)d, 1.0,
                        xb, (int)d, wd, (int)k, 1.0, z, (int)k);
        *loss += loss_and_residual(z, td + r0 * k, m, k);
        if (k == 1)
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)m, (int)d, 1.0, xb, (int)d, z, 1, 1.0, gw,
                        1);
        else
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)k, (int)m, 1.0, xb,
                        (int)d, z, (int)k, 1.0, gw, (int)k);
        if (gb)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < k; j++)
                    gb[j] += z[i * k + j];
    }
    free(z);
    return TIDE_OK;
}
