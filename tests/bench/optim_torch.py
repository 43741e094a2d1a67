#!/usr/bin/python3
"""torch.optim's own numbers for tests/lua/optim_spec.lua: writes tests/data/optim_torch.json.

Run with /usr/bin/python3 (python3-torch); tide does not need torch, the spec only reads the
committed file. The problem is fixed and small: a parameter vector P0 (f64) whose gradient
at each step is A * p + B + C * sin(p) (computed from the current p, so each optimiser follows
its own path); six steps of each optimiser configuration record the parameters after each
step. Each schedule runs over SGD(lr = 0.1, momentum = 0.9) and records the lr (and the
momentum or beta1 that OneCycleLR cycles) after construction and after each step; the
plateau schedule is fed the metric sequence METRICS. A SequentialLR case lists its schedules
as [name, options] pairs."""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float64)

P0 = [1.0, -2.0, 0.5, 3.0]
A = [0.5, 1.5, 2.0, 0.1]
B = [0.1, -0.3, 0.0, 0.2]
C = [0.3, 0.0, -0.2, 0.5]
STEPS = 6
METRICS = [1.0, 0.9, 0.95, 0.95, 0.91, 0.9, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7, 0.7, 0.7]

OPTIMIZERS = [
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.8}),
    ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.5, "eps": 1e-6}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
]

SCHEDULES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}, 8, "SGD"),
    ("CosineAnnealingLR", {"T_max": 6, "eta_min": 0.001}, 6, "SGD"),   # tide holds after T_max
    ("LinearLR", {"start_factor": 0.25, "end_factor": 1.0, "total_iters": 4}, 7, "SGD"),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 5}, 7, "SGD"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 20}, 19, "SGD"),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 10, "anneal_strategy": "linear",
                    "pct_start": 0.4, "div_factor": 10.0, "final_div_factor": 100.0}, 9, "SGD"),
    ("OneCycleLR", {"max_lr": 0.5, "epochs": 3, "steps_per_epoch": 5, "three_phase": True,
                    "base_momentum": 0.8, "max_momentum": 0.9}, 14, "Adam"),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 12, "cycle_momentum": False}, 11, "SGD"),
    ("SequentialLR", {"schedules": [["LinearLR", {"start_factor": 0.1, "total_iters": 3}],
                                     ["CosineAnnealingLR", {"T_max": 5, "eta_min": 0.01}]],
                      "milestones": [3]}, 8, "SGD"),
    ("SequentialLR", {"schedules": [["LinearLR", {"start_factor": 0.5, "total_iters": 2}],
                                     ["StepLR", {"step_size": 2, "gamma": 0.5}],
                                     ["LinearLR", {"start_factor": 1.0, "end_factor": 0.2,
                                                   "total_iters": 4}]],
                      "milestones": [2, 6]}, 12, "SGD"),
    ("ReduceLROnPlateau", {"factor": 0.5, "patience": 1}, len(METRICS), "SGD"),
    ("ReduceLROnPlateau", {"mode": "max", "factor": 0.5, "patience": 0, "threshold": 0.05,
                           "threshold_mode": "abs", "cooldown": 2, "min_lr": 0.02},
     len(METRICS), "SGD"),
]


def grad(p):
    return [A[i] * p[i] + B[i] + C[i] * math.sin(p[i]) for i in range(len(p))]


def run_optimizer(name, cfg):
    p = torch.tensor(P0, requires_grad=True)
    opt = getattr(torch.optim, name)([p], **cfg)
    path = []
    for _ in range(STEPS):
        p.grad = torch.tensor(grad(p.detach().tolist()))
        opt.step()
        path.append(p.detach().tolist())
    return path


def momentum_of(opt):
    g = opt.param_groups[0]
    return g["betas"][0] if "betas" in g else g["momentum"]


def run_schedule(name, cfg, steps, opt_name):
    p = torch.tensor(P0, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9) if opt_name == "SGD" \
        else torch.optim.Adam([p], lr=0.1)
    if name == "SequentialLR":
        subs = [getattr(torch.optim.lr_scheduler, n)(opt, **c) for n, c in cfg["schedules"]]
        sched = torch.optim.lr_scheduler.SequentialLR(opt, subs, cfg["milestones"])
    else:
        sched = getattr(torch.optim.lr_scheduler, name)(opt, **cfg)
    lrs, moms = [opt.param_groups[0]["lr"]], [momentum_of(opt)]
    for k in range(steps):
        p.grad = torch.zeros(len(P0))
        opt.step()
        if name == "ReduceLROnPlateau":
            sched.step(METRICS[k])
        else:
            sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(momentum_of(opt))
    return {"lr": lrs, "momentum": moms}


def main():
    out = {
        "torch": torch.__version__, "P0": P0, "A": A, "B": B, "C": C, "steps": STEPS,
        "metrics": METRICS,
        "optimizers": [{"name": n, "opts": c, "path": run_optimizer(n, c)} for n, c in OPTIMIZERS],
        "schedules": [{"name": n, "opts": c, "steps": s, "optimizer": o,
                       **run_schedule(n, c, s, o)} for n, c, s, o in SCHEDULES],
    }
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "data", "optim_torch.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
