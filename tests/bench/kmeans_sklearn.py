#!/usr/bin/python3
"""scikit-learn's Lloyd k-means, the peer of tests/bench/kmeans.lua, timed in the same run.

  kmeans_sklearn.py N D K ITERS [THREADS] [REPEATS]

The data follow tide.data.blobs (and /work/shared/peers/kmeans_data.py): K centres uniform in
[-5, 5)^D, every row a centre plus N(0, 1) noise, float32, made here with numpy (the same
distribution as tide's rows, not the same numbers; nothing is written to disk). KMeans(K,
init = K random rows, n_init = 1, max_iter = ITERS, tol = 0, algorithm = "lloyd") on THREADS
OpenMP threads (default 2); REPEATS fits (default 3). Prints one JSON line: the median fit
time per iteration, and the marginal cost per iteration (fit of ITERS minus fit of 1, over
ITERS - 1) that leaves out the fixed setup, as the peers' script does."""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits


def fit(x, init, iters):
    km = KMeans(n_clusters=init.shape[0], init=init, n_init=1, max_iter=iters, tol=0.0,
                algorithm="lloyd")
    t0 = time.perf_counter()
    km.fit(x)
    return time.perf_counter() - t0, km


def main():
    n, d, k, iters = (int(v) for v in sys.argv[1:5])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    repeats = int(sys.argv[6]) if len(sys.argv) > 6 else 3
    rng = np.random.default_rng(0)
    centres = rng.uniform(-5, 5, (k, d)).astype(np.float32)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x += centres[rng.integers(0, k, n)]
    init = x[np.sort(np.random.default_rng(1).choice(n, k, replace=False))].copy()
    with threadpool_limits(limits=threads, user_api="openmp"):
        fit(x, init, iters)   # warm-up
        runs = sorted(fit(x, init, iters)[0] for _ in range(repeats))
        ones = sorted(fit(x, init, 1)[0] for _ in range(repeats))
    full, one = runs[repeats // 2], ones[repeats // 2]
    print(json.dumps({"impl": "sklearn", "sklearn": sklearn.__version__, "threads": threads,
                      "N": n, "d": d, "k": k, "iters": iters, "fit_s": full,
                      "per_iter_s": full / iters,
                      "per_iter_marginal_s": (full - one) / (iters - 1) if iters > 1 else full}),
          flush=True)


if __name__ == "__main__":
    main()
