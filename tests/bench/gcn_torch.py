#!/usr/bin/python3
"""The PyTorch twin of examples/gcn.lua: the same synthetic SBM graph, split and initial
weights (tide.graph.sbm's LCG, repeated here line for line), a dense 2-layer GCN trained by
torch.optim.Adam, and its test accuracy.

  /usr/bin/python3 tests/bench/gcn_torch.py            writes tests/data/gcn_torch.json and
                                                       tests/data/gcn_karate.json (the figures
                                                       on Zachary's karate club, the graph of
                                                       tests/bench/karate_graph.py), which
                                                       tests/lua/graph_spec.lua reads
  /usr/bin/python3 tests/bench/gcn_torch.py --bench N  times epochs of the sparse GCN
                                                       (torch.sparse.mm, 2 threads) on an
                                                       N-vertex graph, printing JSON

Run it with Debian's /usr/bin/python3 (python3-torch); tide does not depend on it."""
import json
import math
import os
import sys
import time

import torch

A, C, MASK = 6364136223846793005, 1442695040888963407, (1 << 64) - 1

# examples/gcn.lua's defaults
GRAPH = dict(n=2000, classes=4, degree_in=4, degree_out=2, features=8, signal=0.8, train=0.1,
             seed=1)
TRAIN = dict(hidden=16, epochs=200, lr=0.01, weight_decay=5e-4)


def lcg(seed):
    """tide.graph.sbm's generator: doubles from the top 53 bits of a 64-bit LCG."""
    state = seed & MASK

    def rand():
        nonlocal state
        state = (state * A + C) & MASK
        return (state >> 11) * 2.0 ** -53
    return rand


def normal(rand):
    u1, u2 = rand(), rand()
    return math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)


def init(rows, cols, seed):
    rand, bound = lcg(seed), math.sqrt(6 / (rows + cols))
    return torch.tensor([[(2 * rand() - 1) * bound for _ in range(cols)] for _ in range(rows)],
                        dtype=torch.float32)


def sbm(n, classes, degree_in, degree_out, features, signal, train, seed):
    """The graph of tide.graph.sbm with 0-based vertex ids and labels."""
    k, rand, per = classes, lcg(seed), n // classes
    src, dst = [], []

    def edge(v, u):
        if u != v:
            src.extend((v, u))
            dst.extend((u, v))
    for v in range(1, n + 1):
        c = (v - 1) % k
        for _ in range(degree_in):
            edge(v, math.floor(rand() * per) * k + c + 1)
        for _ in range(degree_out):
            other = (c + 1 + math.floor(rand() * (k - 1))) % k
            edge(v, math.floor(rand() * per) * k + other + 1)
    x, labels = [], []
    for v in range(1, n + 1):
        c = (v - 1) % k
        labels.append(c)
        row = [normal(rand) for _ in range(features)]
        row[c % features] += signal
        x.append(row)
    tr, te = [], []
    for v in range(n):
        (tr if rand() < train else te).append(v)
    return (torch.tensor(src) - 1, torch.tensor(dst) - 1, torch.tensor(labels),
            torch.tensor(x, dtype=torch.float32), torch.tensor(tr), torch.tensor(te))


def propagation(src, dst, n, sparse):
    """D^-1/2 (A + I) D^-1/2 with A[dst, src] counting the edges u -> v."""
    loops = torch.arange(n)
    rows, cols = torch.cat([dst, loops]), torch.cat([src, loops])
    vals = torch.ones(rows.numel())
    deg = torch.zeros(n).index_add_(0, rows, vals)
    dinv = deg.rsqrt()
    vals = dinv[rows] * vals * dinv[cols]
    a = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n)).coalesce()
    return a if sparse else a.to_dense()


def train_gcn(g, epochs, hidden, lr, weight_decay, seed, sparse=False):
    src, dst, labels, x, tr, te = g
    n, f = x.shape
    k = int(labels.max()) + 1
    a = propagation(src, dst, n, sparse)
    mm = torch.sparse.mm if sparse else torch.mm
    w1 = init(f, hidden, seed + 100).requires_grad_()
    w2 = init(hidden, k, seed + 101).requires_grad_()
    b1 = torch.zeros(hidden, requires_grad=True)
    b2 = torch.zeros(k, requires_grad=True)
    opt = torch.optim.Adam([w1, b1, w2, b2], lr=lr, weight_decay=weight_decay)

    def forward():
        h = torch.relu(mm(a, x @ w1) + b1)
        return mm(a, h @ w2) + b2
    seconds = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward()[tr], labels[tr])
        loss.backward()
        opt.step()
        seconds.append(time.perf_counter() - t0)
    with torch.no_grad():
        pred = forward().argmax(1)
    acc = (pred[te] == labels[te]).float().mean().item()
    return acc, loss.item(), seconds


def karate():
    """Zachary's karate club (tests/bench/karate_graph.py): identity features, one labelled
    member per club."""
    import karate_graph
    import networkx
    src, dst, labels, tr, te = karate_graph.karate()
    acc, loss, _ = train_gcn((torch.tensor(src), torch.tensor(dst), torch.tensor(labels),
                              torch.eye(34), torch.tensor(tr), torch.tensor(te)),
                             TRAIN["epochs"], TRAIN["hidden"], TRAIN["lr"],
                             TRAIN["weight_decay"], GRAPH["seed"])
    return {"networkx": networkx.__version__, "torch": torch.__version__, "train": TRAIN,
            "seed": GRAPH["seed"], "edges": len(src), "final_loss": loss,
            "test_accuracy": 100 * acc}


def write(name, out):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", name)
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
        fh.write("\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--bench":
        torch.set_num_threads(2)
        n = int(sys.argv[2])
        g = sbm(**dict(GRAPH, n=n, features=16))
        _, _, seconds = train_gcn(g, 5, 16, 0.01, 5e-4, GRAPH["seed"], sparse=True)
        seconds.sort()
        print(json.dumps({"torch": torch.__version__, "threads": 2, "n": n,
                          "edges": int(g[0].numel()), "epoch_median_s": seconds[2]}))
        return
    torch.set_num_threads(1)
    g = sbm(**GRAPH)
    acc, loss, _ = train_gcn(g, TRAIN["epochs"], TRAIN["hidden"], TRAIN["lr"],
                             TRAIN["weight_decay"], GRAPH["seed"])
    out = {"torch": torch.__version__, "graph": GRAPH, "train": TRAIN,
           "edges": int(g[0].numel()), "final_loss": loss, "test_accuracy": 100 * acc}
    write("gcn_torch.json", out)
    print(json.dumps(out))
    k = karate()
    write("gcn_karate.json", k)
    print("karate club: test accuracy %.2f%%" % k["test_accuracy"])


if __name__ == "__main__":
    main()
