#!/usr/bin/python3
"""scipy's peer of tests/bench/sparse.lua: csr_matrix @ dense on the very matrix tide used
(rowptr.npy, col.npy, val.npy and x.npy in the directory given), median seconds of `rounds`
products, printed as one JSON line. Run with Debian's /usr/bin/python3 (python3-scipy)."""
import json
import os
import sys
import time

import numpy as np
import scipy
import scipy.sparse


def main():
    d, rounds = sys.argv[1], int(sys.argv[2])
    load = lambda name: np.load(os.path.join(d, name + ".npy"))
    x, rowptr = load("x"), load("rowptr")
    a = scipy.sparse.csr_matrix((load("val"), load("col"), rowptr),
                                shape=(rowptr.size - 1, x.shape[0]))
    secs = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        a @ x
        secs.append(time.perf_counter() - t0)
    secs.sort()
    med = secs[len(secs) // 2]
    print(json.dumps({"impl": "scipy", "scipy": scipy.__version__, "seconds": med,
                      "gflops": 2 * a.nnz * x.shape[1] / med * 1e-9}))


if __name__ == "__main__":
    main()
