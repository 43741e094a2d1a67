/* ops_optim.c — optimizer steps: one pass over a parameter and its state per step, as
 * torch.optim writes each rule with tensor ops (whose temporaries this avoids). State values
 * and parameters are flushed to zero below the dtype's smallest normal, as the nn kernels do. */
#include "ops/optim.h"

#include <math.h>

#include "ops/nn_impl.h"

/* A parameter is a contiguous float tensor. */
static tide_status check_param(const tide_tensor *param, const char *op)
{
    if (!tide_dtype_is_float(param->dtype))
        return tide_fail("%s: expected f32 or f64 parameters, got %s", op,
                         tide_dtype_name(param->dtype));
    if (!tide_is_contiguous(param))
        return tide_fail("%s: parameters must be contiguous", op);
    return TIDE_OK;
}

/* A state tensor (or the gradient) matches the parameter and is contiguous. */
static tide_status check_state(const tide_tensor *param, const tide_tensor *t, const char *op,
                               const char *name)
{
    TIDE_TRY(tide_nn_same_as(param, t, op, "parameter", name));
    if (!tide_is_contiguous(t))
        return tide_fail("%s: %s must be contiguous", op, name);
    return TIDE_OK;
}

#define SGD_LOOP(E, name, T)                                                          \
    static void sgd_##name(T *restrict p, const T *restrict g, T *restrict b, int64_t n, \
                        const tide_sgd_config *c, int first)                          \
    {                                                                                 \
        const T lr = (T)c->lr, wd = (T)c->weight_decay, mom = (T)c->momentum;         \
        const T damp = (T)(1.0 - c->dampening);                                       \
        if (!b) {                                                                     \
            for (int64_t i = 0; i < n; i++) {                                         \
                T pi = p[i] - lr * (g[i] + wd * p[i]);                                \
                p[i] = FTZ(pi, name);                                             \
            }                                                                         \
            return;                                                                   \
        }                                                                             \
        for (int64_t i = 0; i < n; i++) {                                             \
            T d = g[i] + wd * p[i];                                                   \
            T bi = first ? d : mom * b[i] + damp * d;                                 \
            bi = FTZ(bi, name);                                                   \
            b[i] = bi;                                                                \
            T pi = p[i] - lr * (c->nesterov ? d + mom * bi : bi);                     \
            p[i] = FTZ(pi, name);                                                 \
        }                                                                             \
    }
TIDE_FOREACH_FLOAT_DTYPE(SGD_LOOP)
#undef SGD_LOOP

tide_status tide_sgd_step(tide_tensor *param, const tide_tensor *grad, tide_tensor *buf,
                          const tide_sgd_config *cfg, int first)
{
    TIDE_TRY(check_param(param, "sgd"));
    TIDE_TRY(check_state(param, grad, "sgd", "gradient"));
    if (buf)
        TIDE_TRY(check_state(param, buf, "sgd", "momentum buffer"));
    int64_t n = tide_numel(param);
    switch (param->dtype) {
#define SGD_CASE(E, name, T)                                                                  \
    case E:                                                                                   \
        sgd_##name(tide_data(param), tide_data(grad), buf ? tide_data(buf) : NULL, n, cfg, first); \
        break;
        TIDE_FOREACH_FLOAT_DTYPE(SGD_CASE)
#undef SGD_CASE
    default: break;   /* refused above */
    }
    return TIDE_OK;
}

#define ADAM_LOOP(E, name, T)                                                           \
    static void adam_##name(T *restrict p, const T *restrict g, T *restrict m, T *restrict v, \
                         int64_t n, const tide_adam_config *c, long step)                \
    {                                                                                   \
        const T b1 = (T)c->beta1, b2 = (T)c->beta2, eps = (T)c->eps;                    \
        const T wd = (T)c->weight_decay, lr = (T)c->lr;                                 \
        const T bc1 = (T)(1.0 - pow(c->beta1, (double)step));                           \
        const T bc2_sqrt = (T)sqrt(1.0 - pow(c->beta2, (double)step));                  \
        const T step_size = lr / bc1;                                                   \
        for (int64_t i = 0; i < n; i++) {                                               \
            T gi = g[i];                                                                \
            if (c->decoupled)                                                           \
                p[i] -= lr * wd * p[i];                                                 \
            else                                                                        \
                gi += wd * p[i];                                                        \
            T mi = b1 * m[i] + (1 - b1) * gi;                                           \
            T vi = b2 * v[i] + (1 - b2) * gi * gi;                                      \
            m[i] = mi = FTZ(mi, name);                                              \
            v[i] = vi = FTZ(vi, name);                                              \
            T pi = p[i] - step_size * mi / (sqrt(vi) / bc2_sqrt + eps);                 \
            p[i] = FTZ(pi, name);                                                   \
        }                                                                               \
    }
TIDE_FOREACH_FLOAT_DTYPE(ADAM_LOOP)
#undef ADAM_LOOP

tide_status tide_adam_step(tide_tensor *param, const tide_tensor *grad, tide_tensor *m,
                           tide_tensor *v, const tide_adam_config *cfg, long step)
{
    TIDE_TRY(check_param(param, "adam"));
    if (step < 1)
        return tide_fail("adam: step must be at least 1, got %ld", step);
    TIDE_TRY(check_state(param, grad, "adam", "gradient"));
    TIDE_TRY(check_state(param, m, "adam", "first moment"));
    TIDE_TRY(check_state(param, v, "adam", "second moment"));
    int64_t n = tide_numel(param);
    switch (param->dtype) {
#define ADAM_CASE(E, name, T)                                                                 \
    case E:                                                                                   \
        adam_##name(tide_data(param), tide_data(grad), tide_data(m), tide_data(v), n, cfg, step); \
        break;
        TIDE_FOREACH_FLOAT_DTYPE(ADAM_CASE)
#undef ADAM_CASE
    default: break;   /* refused above */
    }
    return TIDE_OK;
}

#define RMSPROP_LOOP(E, name, T)                                                            \
    static void rmsprop_##name(T *restrict p, const T *restrict g, T *restrict sq,          \
                               T *restrict ga, T *restrict b, int64_t n,                    \
                               const tide_rmsprop_config *c)                                \
    {                                                                                       \
        const T lr = (T)c->lr, alpha = (T)c->alpha, eps = (T)c->eps;                        \
        const T wd = (T)c->weight_decay, mom = (T)c->momentum;                              \
        for (int64_t i = 0; i < n; i++) {                                                   \
            T gi = g[i] + wd * p[i];                                                        \
            T si = FTZ(alpha * sq[i] + (1 - alpha) * gi * gi, name);                        \
            sq[i] = si;                                                                     \
            if (ga) {                                                                       \
                T ai = FTZ(alpha * ga[i] + (1 - alpha) * gi, name);                         \
                ga[i] = ai;                                                                 \
                si -= ai * ai;                                                              \
            }                                                                               \
            T step = gi / (sqrt(si) + eps);                                                 \
            if (b) {                                                                        \
                step = FTZ(mom * b[i] + step, name);                                        \
                b[i] = step;                                                                \
            }                                                                               \
            T pi = p[i] - lr * step;                                                        \
            p[i] = FTZ(pi, name);                                                           \
        }                                                                                   \
    }
TIDE_FOREACH_FLOAT_DTYPE(RMSPROP_LOOP)
#undef RMSPROP_LOOP

tide_status tide_rmsprop_step(tide_tensor *param, const tide_tensor *grad, tide_tensor *square_avg,
                              tide_tensor *grad_avg, tide_tensor *buf,
                              const tide_rmsprop_config *cfg)
{
    TIDE_TRY(check_param(param, "rmsprop"));
    TIDE_TRY(check_state(param, grad, "rmsprop", "gradient"));
    TIDE_TRY(check_state(param, square_avg, "rmsprop", "square average"));
    if (cfg->centered && !grad_avg)
        return tide_fail("rmsprop: centered needs a gradient average buffer");
    if (cfg->momentum > 0 && !buf)
        return tide_fail("rmsprop: momentum %g needs a momentum buffer", cfg->momentum);
    if (cfg->centered)
        TIDE_TRY(check_state(param, grad_avg, "rmsprop", "gradient average"));
    if (cfg->momentum > 0)
        TIDE_TRY(check_state(param, buf, "rmsprop", "momentum buffer"));
    int64_t n = tide_numel(param);
    switch (param->dtype) {
#define RMSPROP_CASE(E, name, T)                                                            \
    case E:                                                                                 \
        rmsprop_##name(tide_data(param), tide_data(grad), tide_data(square_avg),             \
                       cfg->centered ? tide_data(grad_avg) : NULL,                          \
                       cfg->momentum > 0 ? tide_data(buf) : NULL, n, cfg);                  \
        break;
        TIDE_FOREACH_FLOAT_DTYPE(RMSPROP_CASE)
#undef RMSPROP_CASE
    default: break;   /* refused above */
    }
    return TIDE_OK;
}

#define ADAGRAD_LOOP(E, name, T)                                                            \
    static void adagrad_##name(T *restrict p, const T *restrict g, T *restrict s, int64_t n, \
                               const tide_adagrad_config *c, long step)                     \
    {                                                                                       \
        const T clr = (T)(c->lr / (1 + (double)(step - 1) * c->lr_decay));                  \
        const T eps = (T)c->eps, wd = (T)c->weight_decay;                                   \
        for (int64_t i = 0; i < n; i++) {                                                   \
            T gi = g[i] + wd * p[i];                                                        \
            T si = FTZ(s[i] + gi * gi, name);                                               \
            s[i] = si;                                                                      \
            T pi = p[i] - clr * gi / (sqrt(si) + eps);                                      \
            p[i] = FTZ(pi, name);                                                           \
        }                                                                                   \
    }
TIDE_FOREACH_FLOAT_DTYPE(ADAGRAD_LOOP)
#undef ADAGRAD_LOOP

tide_status tide_adagrad_step(tide_tensor *param, const tide_tensor *grad, tide_tensor *sum,
                              const tide_adagrad_config *cfg, long step)
{
    TIDE_TRY(check_param(param, "adagrad"));
    if (step < 1)
        return tide_fail("adagrad: step must be at least 1, got %ld", step);
    TIDE_TRY(check_state(param, grad, "adagrad", "gradient"));
    TIDE_TRY(check_state(param, sum, "adagrad", "sum of squares"));
    int64_t n = tide_numel(param);
    switch (param->dtype) {
#define ADAGRAD_CASE(E, name, T)                                                            \
    case E:                                                                                 \
        adagrad_##name(tide_data(param), tide_data(grad), tide_data(sum), n, cfg, step);     \
        break;
        TIDE_FOREACH_FLOAT_DTYPE(ADAGRAD_CASE)
#undef ADAGRAD_CASE
    default: break;   /* refused above */
    }
    return TIDE_OK;
}
