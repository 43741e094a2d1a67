#!/usr/bin/python3
"""numpy's nanmean and nanmedian per column of the matrix tests/mpi/model_selection_spec.lua
builds (x[i][j] = sin(i * j) * 10 + j for 1-based i, j; NaN where (i + 2 j) % 5 == 0), written
to tests/data/impute_numpy.json for the spec to read. Rerun after changing either side."""
import json
import os

import numpy as np

N, D = 37, 6
i = np.arange(1, N + 1)[:, None].astype(np.float64)
j = np.arange(1, D + 1)[None, :].astype(np.float64)
x = np.sin(i * j) * 10 + j
x[((i + 2 * j) % 5) == 0] = np.nan
out = {"n": N, "d": D, "nanmean": np.nanmean(x, axis=0).tolist(),
       "nanmedian": np.nanmedian(x, axis=0).tolist(), "numpy": np.__version__}
path = os.path.join(os.path.dirname(__file__), "..", "data", "impute_numpy.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(json.dumps(out))
