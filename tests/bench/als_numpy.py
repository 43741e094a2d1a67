#!/usr/bin/python3
"""The numpy twin of tide.recommend.als, for tests/mpi/als_spec.lua and scripts/bench.sh als.

Without arguments it writes tests/data/als_twin.json: the held-out RMSE, per iteration, of
explicit ALS on the synthetic rating matrix of tide.recommend.synthetic (drawn here by the
same LCG, so both sides hold the same ratings). With --time it prints the median seconds per
iteration on a larger matrix of the same kind (tests/bench/als.lua runs it in its own run).

The algorithm is tide's: item factors start uniform in [0, 1) / sqrt(rank) (tide draws its
own), then each iteration solves every user's (Y_u^T Y_u + reg n_u I) x_u = Y_u^T r_u
(ALS-WR's regularisation, Zhou et al. 2008; a user with no ratings gets x_u = 0) and then every
item's the same way from the new user factors. The implicit variant (Hu, Koren and Volinsky
2008) solves (Y^T Y + Y_u^T (C_u - I) Y_u + reg I) x_u = Y_u^T C_u p_u, C = 1 + alpha r,
p = 1 where r > 0."""
import json
import math
import os
import sys
import time

import numpy as np

A, C, MASK = 6364136223846793005, 1442695040888963407, (1 << 64) - 1


def synthetic(n_users=300, n_items=200, rank=4, density=0.1, noise=0.1, test_fraction=0.1,
              seed=1):
    """tide.recommend.synthetic's draws, in its order (see scripts/tide/recommend/synthetic.lua)."""
    s = seed & MASK

    def nxt():
        nonlocal s
        s = (s * A + C) & MASK
        return (s >> 11) * 2.0 ** -53

    U = [[nxt() for _ in range(rank)] for _ in range(n_users)]
    V = [[nxt() for _ in range(rank)] for _ in range(n_items)]
    sets = {"train": ([], [], []), "test": ([], [], [])}
    log_miss = math.log(1 - density)
    cell = 0
    while True:
        cell += math.floor(math.log(1 - nxt()) / log_miss)
        if cell >= n_users * n_items:
            break
        u, i = cell // n_items, cell % n_items
        dot = 0.0
        for j in range(rank):
            dot = dot + U[u][j] * V[i][j]
        rating = dot + noise * (2 * nxt() - 1)
        into = sets["test" if nxt() < test_fraction else "train"]
        into[0].append(u)
        into[1].append(i)
        into[2].append(rating)
        cell += 1
    return {k: (np.array(a, np.int64), np.array(b, np.int64),
                np.array(r, np.float32).astype(np.float64)) for k, (a, b, r) in sets.items()}


def half_step(own, other, r, n_own, F, reg, implicit, alpha):
    """New factors of the n_own rows of `own` given the other side's factors F."""
    k = F.shape[1]
    order = np.lexsort((other, own))
    own, other, r = own[order], other[order], r[order]
    starts = np.searchsorted(own, np.arange(n_own + 1))
    base = F.T @ F if implicit else np.zeros((k, k))
    As = np.empty((n_own, k, k))
    bs = np.empty((n_own, k))
    for u in range(n_own):
        lo, hi = starts[u], starts[u + 1]
        Fu, ru = F[other[lo:hi]], r[lo:hi]
        if implicit:
            As[u] = base + (Fu.T * (alpha * ru)) @ Fu + reg * np.eye(k)
            bs[u] = Fu.T @ ((1 + alpha * ru) * (ru > 0))
        else:
            As[u] = Fu.T @ Fu + reg * max(hi - lo, 1) * np.eye(k)
            bs[u] = Fu.T @ ru
    return np.linalg.solve(As, bs[:, :, None])[:, :, 0]


def als(data, n_users, n_items, rank, reg, iters, seed=1, implicit=False, alpha=40.0, test=None,
        timings=None):
    users, items, r = data
    Y = np.random.default_rng(seed).random((n_items, rank)) / math.sqrt(rank)
    history = []
    for _ in range(iters):
        t0 = time.perf_counter()
        X = half_step(users, items, r, n_users, Y, reg, implicit, alpha)
        Y = half_step(items, users, r, n_items, X, reg, implicit, alpha)
        if timings is not None:
            timings.append(time.perf_counter() - t0)
        if test is not None:
            history.append(rmse(X, Y, test))
    return X, Y, history


def rmse(X, Y, data):
    u, i, r = data
    p = np.einsum("ij,ij->i", X[u], Y[i])
    return float(np.sqrt(np.mean((p - r) ** 2)))


CASE = dict(n_users=300, n_items=200, rank=4, density=0.1, noise=0.1, test_fraction=0.1, seed=1)
FIT = dict(rank=4, reg=0.05, iters=15)


def write_figures(path):
    sets = synthetic(**CASE)
    out = {"data": CASE, "fit": FIT, "n_train": int(len(sets["train"][0])),
           "n_test": int(len(sets["test"][0])), "seeds": {}}
    for seed in (1, 2, 3):
        _, _, hist = als(sets["train"], CASE["n_users"], CASE["n_items"], FIT["rank"],
                         FIT["reg"], FIT["iters"], seed=seed, test=sets["test"])
        out["seeds"][str(seed)] = hist
    out["test_rmse"] = float(np.median([h[-1] for h in out["seeds"].values()]))
    out["numpy"] = np.__version__
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: held-out RMSE {out['test_rmse']:.6f} "
          f"({out['n_train']} training, {out['n_test']} held-out ratings)")


def time_it(argv):
    """--time n_users n_items rank density iters reg: median seconds per iteration."""
    nu, ni, rank, density, iters, reg = (int(argv[0]), int(argv[1]), int(argv[2]),
                                         float(argv[3]), int(argv[4]), float(argv[5]))
    sets = synthetic(n_users=nu, n_items=ni, rank=rank, density=density, test_fraction=0.0)
    timings = []
    X, Y, _ = als(sets["train"], nu, ni, rank, reg, iters, timings=timings)
    print(json.dumps({"seconds_per_iter": float(np.median(timings)),
                      "train_rmse": rmse(X, Y, sets["train"]),
                      "ratings": int(len(sets["train"][0]))}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--time":
        time_it(sys.argv[2:])
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        write_figures(os.path.join(here, "..", "data", "als_twin.json"))
