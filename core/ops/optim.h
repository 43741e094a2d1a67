/* ops_optim.h — the optimizer steps tide.optim runs, each torch.optim's update rule for one
 * parameter tensor: the parameter and its state buffers are updated in place in one pass, with
 * no temporaries. Every tensor is contiguous, of the parameter's shape and float dtype. */
#ifndef TIDE_OPS_OPTIM_H
#define TIDE_OPS_OPTIM_H

#include "tensor/tensor.h"

typedef struct tide_sgd_config {
    double lr, momentum, dampening, weight_decay;
    int nesterov;
} tide_sgd_config;

/* One SGD step as torch.optim.SGD defines it. buf (the momentum buffer) may be NULL when
 * momentum is 0; first says that buf holds no history yet. */
tide_status tide_sgd_step(tide_tensor *param, const tide_tensor *grad, tide_tensor *buf,
                          const tide_sgd_config *cfg, int first);

typedef struct tide_adam_config {
    double lr, beta1, beta2, eps, weight_decay;
    int decoupled;      /* AdamW: weight decay applied to the parameter, not the gradient */
} tide_adam_config;

/* One Adam step (step counts from 1, for bias correction); m and v are the moment buffers. */
tide_status tide_adam_step(tide_tensor *param, const tide_tensor *grad, tide_tensor *m,
                           tide_tensor *v, const tide_adam_config *cfg, long step);

typedef struct tide_rmsprop_config {
    double lr, alpha, eps, momentum, weight_decay;
    int centered;       /* divide by the variance of the gradient, not its mean square */
} tide_rmsprop_config;

/* One RMSprop step: square_avg is the running mean of grad^2; grad_avg (the running mean of
 * grad) is needed when centered, NULL otherwise; buf (the momentum buffer) when momentum > 0.
 * The buffers start at zero. */
tide_status tide_rmsprop_step(tide_tensor *param, const tide_tensor *grad, tide_tensor *square_avg,
                              tide_tensor *grad_avg, tide_tensor *buf,
                              const tide_rmsprop_config *cfg);

typedef struct tide_adagrad_config {
    double lr, lr_decay, eps, weight_decay;
} tide_adagrad_config;

/* One Adagrad step (step counts from 1: the rate is lr / (1 + (step - 1) * lr_decay)); sum
 * accumulates grad^2 from initial_accumulator_value. */
tide_status tide_adagrad_step(tide_tensor *param, const tide_tensor *grad, tide_tensor *sum,
                              const tide_adagrad_config *cfg, long step);

#endif
