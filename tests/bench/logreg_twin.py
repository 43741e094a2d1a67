#!/usr/bin/python3
"""The reference optimum of tide.linear.logistic_regression's objective, for
tests/lua/logreg_spec.lua and tests/mpi/logreg_spec.lua: writes tests/data/logreg_twin.json.

The objective is scikit-learn's LogisticRegression (penalty="l2"): C * sum(log-loss) +
||coef||^2 / 2 with the intercept unpenalised, divided by C n (so: mean log-loss +
||coef||^2 / (2 C n)); binary with one coefficient row, multinomial (softmax) for K > 2.
The optimum is found here by Newton's method in numpy, run until the gradient is below 1e-14:
an independent solver of the same objective, tighter than scikit-learn's own stop
(scikit-learn's figures on the same data come from tests/bench/logreg_sklearn.py).

The data are made from integer arithmetic only (exact in Python and Lua alike), as the specs
make them: x[i][j] = ((7919 i + 104729 j + 31 i j) % 1000) / 1000 - 0.5 for 1-based i, j;
binary y = 1 when sum_j w[j] x[i][j] + 1.5 noise(i, 0) > 0, multinomial y = 1 + argmax_k
(sum_j W[k][j] x[i][j] + noise(i, k)), noise(i, k) = ((48271 i + 16807 k) % 997) / 997 - 0.5."""
import json
import os

import numpy as np

N, D = 1000, 5
WB = [2.0, -1.0, 0.5, 1.0, -1.5]
WM = [[1.0, -2.0, 0.5, 0.0, 1.0], [-1.0, 1.0, 1.5, -0.5, 0.0], [0.0, 0.5, -1.0, 1.0, -1.0]]


def noise(i, k):
    return ((48271 * i + 16807 * k) % 997) / 997 - 0.5


def data():
    x = [[((7919 * i + 104729 * j + 31 * i * j) % 1000) / 1000 - 0.5 for j in range(1, D + 1)]
         for i in range(1, N + 1)]
    yb, ym = [], []
    for i in range(1, N + 1):
        s = 0.0
        for j in range(D):
            s = s + WB[j] * x[i - 1][j]
        yb.append(1 if s + 1.5 * noise(i, 0) > 0 else 0)
        best, arg = None, 0
        for k in range(3):
            s = 0.0
            for j in range(D):
                s = s + WM[k][j] * x[i - 1][j]
            s = s + noise(i, k + 1)
            if best is None or s > best:
                best, arg = s, k
        ym.append(arg + 1)
    return np.array(x), np.array(yb), np.array(ym)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def newton(x, t, C, binary):
    """t: n x K' targets. Returns coef (K' x d), intercept (K'), loss."""
    n, d = x.shape
    k = t.shape[1]
    xt = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros((d + 1, k))
    pen = np.zeros((d + 1, k))
    pen[:d, :] = 1.0 / (C * n)

    def objective(th):
        z = xt @ th
        if binary:
            loss = np.sum(np.logaddexp(0, z) - t * z) / n
            p = 1 / (1 + np.exp(-z))
        else:
            zmax = z.max(axis=1, keepdims=True)
            lse = zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
            loss = -np.sum((z - lse) * t) / n
            p = softmax(z)
        loss += np.sum(th[:d, :] ** 2) / (2 * C * n)
        g = xt.T @ (p - t) / n + pen * th
        return loss, g, p

    for _ in range(100):
        loss, g, p = objective(theta)
        if np.abs(g).max() < 1e-14:
            break
        # the Hessian over the (d + 1) K parameters, ordered (j, k) row-major
        H = np.zeros(((d + 1) * k, (d + 1) * k))
        for a in range(k):
            for b in range(k):
                w = p[:, a] * ((1.0 if a == b else 0.0) - p[:, b])
                H[a::k, b::k] = xt.T @ (xt * w[:, None]) / n
        H += np.diag(pen.reshape(-1))
        step = np.linalg.lstsq(H, g.reshape(-1), rcond=None)[0]
        theta = theta - step.reshape(d + 1, k)
    loss, g, p = objective(theta)
    return theta[:d, :].T, theta[d, :], float(loss), float(np.abs(g).max())


def case(x, y, C, binary):
    if binary:
        t = y[:, None].astype(float)
    else:
        t = (y[:, None] == np.arange(1, 4)[None, :]).astype(float)
    coef, intercept, loss, gmax = newton(x, t, C, binary)
    z = x @ coef.T + intercept
    pred = (z[:, 0] > 0).astype(int) if binary else z.argmax(axis=1) + 1
    out = {"C": C, "loss": loss, "grad_max": gmax, "coef": coef.tolist(),
           "intercept": intercept.tolist(), "predict": pred.tolist()}
    return out


def main():
    x, yb, ym = data()
    out = {"n": N, "d": D, "numpy": np.__version__,
           "binary": [case(x, yb, C, True) for C in (1.0, 0.05)],
           "multinomial": [case(x, ym, C, False) for C in (1.0, 0.05)]}
    path = os.path.join(os.path.dirname(__file__), "..", "data", "logreg_twin.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    for kind in ("binary", "multinomial"):
        for c in out[kind]:
            print(kind, "C", c["C"], "loss", repr(c["loss"]), "grad", c["grad_max"])


if __name__ == "__main__":
    main()
