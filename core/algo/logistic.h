/* logistic.h — the log-loss of a linear model and its gradient in one pass over the rows.
 *
 * Promises:
 * - x is n×d, w d×K, t n×K (targets: K = 1 for binary 0/1, else one row of class weights per
 *   row, one-hot for labels), b K or NULL (no intercept); all f64 and contiguous.
 * - Scores z = x w + b. Binary (K = 1): loss = Σ log(1 + e^z) − t z, written
 *   max(z, 0) + log1p(e^−|z|) − t z so no exp overflows; gradient g = sigmoid(z) − t.
 *   Multinomial (K > 1): loss = Σ_i Σ_k −t_ik (z_ik − logsumexp(z_i)); g_ik = s_i p_ik − t_ik
 *   with p the softmax of z_i and s_i = Σ_k t_ik.
 * - *loss is the sum over rows (no penalty, no division by n); grad_w (d×K) = xᵀ g and grad_b
 *   (K, when b is given) = Σ_i g_i, both overwritten (empty: allocated).
 * - The rows go in blocks small enough to stay in cache between the two products (z = x w and
 *   xᵀ g), so x is read from memory once per call instead of twice; each product is a GEMM.
 * - Nothing here communicates: the Lua layer (scripts/tide/linear) sums ranks. */
#ifndef TIDE_LOGISTIC_H
#define TIDE_LOGISTIC_H

#include "tensor/tensor.h"

tide_status tide_logistic_loss_grad(double *loss, tide_tensor *grad_w, tide_tensor *grad_b,
                                    const tide_tensor *x, const tide_tensor *w,
                                    const tide_tensor *b, const tide_tensor *t);

#endif
