#!/usr/bin/python3
"""Zachary's karate club (python3-networkx's copy) as examples/gcn.lua --graph reads it: 34
members, 78 friendships listed in both directions, the two clubs as labels, one labelled
member per club (0 and 33: the instructor and the officer), 1-based ids and labels.

  /usr/bin/python3 tests/bench/karate_graph.py PATH     writes the graph to PATH as JSON

tests/bench/gcn_torch.py trains its twin on the same graph; tests/lua/graph_spec.lua writes
it to a temporary file (when networkx is installed) rather than keeping a copy in the tree."""
import json
import sys


def karate():
    """The graph with 0-based ids: src, dst, labels, train, test."""
    import networkx
    g = networkx.karate_club_graph()
    pairs = sorted(g.edges())
    src = [u for u, v in pairs] + [v for u, v in pairs]
    dst = [v for u, v in pairs] + [u for u, v in pairs]
    labels = [0 if g.nodes[v]["club"] == "Mr. Hi" else 1 for v in range(34)]
    return src, dst, labels, [0, 33], list(range(1, 33))


def main():
    src, dst, labels, tr, te = karate()
    one = lambda xs: [x + 1 for x in xs]
    with open(sys.argv[1], "w") as fh:
        json.dump({"src": one(src), "dst": one(dst), "labels": one(labels), "train": one(tr),
                   "test": one(te)}, fh)


if __name__ == "__main__":
    main()
