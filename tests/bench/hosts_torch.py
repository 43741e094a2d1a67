#!/usr/bin/python3
"""PyTorch's side of tests/bench/hosts.lua: the train_mnist recipe (784-256-128-10 MLP, ReLU,
cross-entropy, SGD lr 0.1 momentum 0.9, global batch 128 split over the ranks) under
DistributedDataParallel with the gloo backend, with no hook or with PyTorch's own fp16
(fp16_compress_hook) or PowerSGD (rank 4, warm start, error feedback) hook.

Launched by mpirun (scripts/hosts.sh mpirun -n 4 -- /usr/bin/python3 hosts_torch.py ...): the
rank and size come from Open MPI's variables, rank 0's address from --master. Prints one JSON
line on rank 0: the seconds of each epoch and the final test accuracy."""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks, powerSGD_hook
from torch.nn.parallel import DistributedDataParallel as DDP

DATA = "/usr/share/datasets/fashion-mnist"


def idx(name, offset):
    with gzip.open(os.path.join(DATA, name)) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hook", choices=["none", "fp16", "powersgd"], default="none")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--master", default="10.77.0.11")
    ap.add_argument("--port", default="29517")
    ap.add_argument("--ifname", default="eth0")
    a = ap.parse_args()
    rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
    size = int(os.environ["OMPI_COMM_WORLD_SIZE"])
    os.environ.setdefault("GLOO_SOCKET_IFNAME", a.ifname)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://{a.master}:{a.port}", rank=rank,
                            world_size=size)
    x = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
    y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    tx = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
    ty = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                              torch.nn.ReLU(), torch.nn.Linear(128, 10))
    model = DDP(net)
    if a.hook == "fp16":
        model.register_comm_hook(dist.group.WORLD, default_hooks.fp16_compress_hook)
    elif a.hook == "powersgd":
        state = powerSGD_hook.PowerSGDState(process_group=None, matrix_approximation_rank=4,
                                            start_powerSGD_iter=2, use_error_feedback=True,
                                            warm_start=True)
        model.register_comm_hook(state, powerSGD_hook.powerSGD_hook)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    crit = torch.nn.CrossEntropyLoss()
    per = 128 // size
    g = torch.Generator().manual_seed(1)
    secs = []
    for _ in range(a.epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        dist.barrier()
        t0 = time.time()
        for s in range(x.shape[0] // 128):
            ids = perm[s * 128 + rank * per:s * 128 + (rank + 1) * per]
            opt.zero_grad()
            crit(model(x[ids]), y[ids]).backward()
            opt.step()
        dist.barrier()
        secs.append(time.time() - t0)
    with torch.no_grad():
        acc = (net(tx).argmax(1) == ty).float().mean().item()
    if rank == 0:
        print(json.dumps({"hook": a.hook, "epoch_s": secs, "accuracy": acc, "ranks": size,
                          "torch": torch.__version__}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
