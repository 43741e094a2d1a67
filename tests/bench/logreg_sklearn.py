#!/usr/bin/python3
"""scikit-learn's LogisticRegression, the peer of tide.linear.logistic_regression.

  logreg_sklearn.py            fits LogisticRegression(C, tol=1e-10) on the data of
                               tests/bench/logreg_twin.py (binary and 3-class multinomial,
                               C = 1 and 0.05) and writes its figures to
                               tests/data/logreg_sklearn.json for tests/mpi/logreg_spec.lua
  logreg_sklearn.py --bench X.npy y.npy C THREADS REPS
                               times fit() with solver="lbfgs" on THREADS BLAS/OpenMP threads
                               (median of REPS fits) for tests/bench/logreg.lua; prints JSON

The objective is written as tide's m:loss: mean log-loss + ||coef||^2 / (2 C n), intercept not
penalised. scikit-learn minimises C * sum(log-loss) + ||coef||^2 / 2, the same function times
C n; its lbfgs (1.2) works on sum(log-loss) + ||coef||^2 / (2 C), so its tol bounds a gradient
n times tide's, and it mostly stops first on L-BFGS-B's relative-decrease test. A multinomial intercept is defined up to a common shift (softmax):
the figures keep scikit-learn's; tide keeps the intercepts' sum at 0."""
import json
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def objective(x, y, coef, intercept, C, classes):
    z = x @ coef.T + intercept
    n = x.shape[0]
    if len(classes) == 2:
        t = (y == classes[1]).astype(float)
        loss = np.sum(np.logaddexp(0, z[:, 0]) - t * z[:, 0]) / n
    else:
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
        picked = z[np.arange(n), np.searchsorted(classes, y)]
        loss = np.sum(lse - picked) / n
    return float(loss + np.sum(coef ** 2) / (2 * C * n))


def figures():
    from logreg_twin import data
    x, yb, ym = data()
    out = {"n": x.shape[0], "d": x.shape[1], "sklearn": sklearn.__version__,
           "numpy": np.__version__}
    for kind, y in (("binary", yb), ("multinomial", ym)):
        out[kind] = []
        for C in (1.0, 0.05):
            m = LogisticRegression(C=C, tol=1e-10, max_iter=10000).fit(x, y)
            out[kind].append({"C": C, "n_iter": int(m.n_iter_.max()),
                              "loss": objective(x, y, m.coef_, m.intercept_, C, m.classes_),
                              "coef": m.coef_.tolist(), "intercept": m.intercept_.tolist(),
                              "predict": m.predict(x).tolist()})
            print(kind, "C", C, "loss", repr(out[kind][-1]["loss"]), "iterations",
                  out[kind][-1]["n_iter"])
    path = os.path.join(HERE, "..", "data", "logreg_sklearn.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")


def bench(xpath, ypath, C, threads, reps):
    from threadpoolctl import threadpool_limits
    x, y = np.load(xpath), np.load(ypath)
    times, m = [], None
    with threadpool_limits(limits=threads):
        for _ in range(reps):
            m = LogisticRegression(C=C, tol=1e-10, max_iter=10000, solver="lbfgs")
            t0 = time.perf_counter()
            m.fit(x, y)
            times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"bench": "logreg_sklearn", "sklearn": sklearn.__version__,
                      "threads": threads, "n": x.shape[0], "d": x.shape[1],
                      "fit_s_median": times[len(times) // 2], "fit_s_all": times,
                      "n_iter": int(m.n_iter_.max()),
                      "loss": objective(x, y, m.coef_, m.intercept_, C, m.classes_)}),
          flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bench":
        bench(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        figures()
