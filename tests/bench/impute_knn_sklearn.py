#!/usr/bin/python3
"""scikit-learn's KNNImputer (nan_euclidean, uniform weights) on a matrix with holes, written
to tests/data/impute_knn_sklearn.json for tests/mpi/impute_spec.lua: the matrix (null for
NaN) and the imputed copies for k = 1, 3 and 5. Row 3 keeps only feature 1 and row 4 only
feature 2, so they share no feature (no distance between them), and column 5 is missing on
most rows, so some receivers have fewer than k donors at a distance.

tide, like scikit-learn from 1.6 on (scikit-learn#29135), never averages a donor that shares no
feature with the receiver (no distance). scikit-learn before 1.6 counted such donors with
uniform weights; a weights function that gives them NaN (which scikit-learn zeroes) asks any
version for the fixed behaviour. Rerun after changing either side."""
import json
import os

import numpy as np
import sklearn
from sklearn.impute import KNNImputer, SimpleImputer

N, D = 41, 5
rng = np.random.default_rng(16)
x = rng.normal(size=(N, D)) * np.arange(1, D + 1) + np.arange(D)
x[rng.random((N, D)) < 0.2] = np.nan
x[2, 1:] = np.nan
x[3, :] = np.nan
x[3, 1] = 1.5
x[5:, 4] = np.where(rng.random(N - 5) < 0.8, np.nan, x[5:, 4])
out = {"n": N, "d": D, "X": [[None if np.isnan(v) else float(v) for v in row] for row in x],
       "sklearn": sklearn.__version__}


def uniform_among_distances(dist):
    return np.where(np.isnan(dist), np.nan, 1.0)


for k in (1, 3, 5):
    imputer = KNNImputer(n_neighbors=k, weights=uniform_among_distances)
    out["knn%d" % k] = imputer.fit_transform(x).tolist()
ind = SimpleImputer(add_indicator=True).fit_transform(x)
out["mean_with_indicator"] = ind.tolist()
path = os.path.join(os.path.dirname(__file__), "..", "data", "impute_knn_sklearn.json")
with open(path, "w") as f:
    json.dump(out, f)
    f.write("\n")
print("wrote", path, "columns with holes:", int(np.isnan(x).any(axis=0).sum()))
