"""cnn_torch.py -- the PyTorch twin of `examples/train_mnist.lua --model cnn` (issue 17).

Model: conv(1->32, 3x3) -> ReLU -> maxpool 2 -> conv(32->64, 3x3) -> ReLU -> maxpool 2 ->
Linear(1600->128) -> ReLU -> Linear(128->10), PyTorch's default initialisation; cross-entropy
(mean), SGD lr 0.05 momentum 0.9, global batch 128, a new shuffle every epoch (the last batch of
an epoch has 60000 mod 128 = 96 samples, kept). Data: Debian's dataset-fashion-mnist, pixels
scaled to [0, 1] as tide.data does.

Modes:
  single [T]  one process, T threads (2 by default) for torch and for its BLAS (threadpoolctl);
              run it with OMP_WAIT_POLICY=PASSIVE, or torch's spinning OpenMP workers and
              OpenBLAS's fight over 2 cores (see ../shared/peers/mlp_torch.py)
  ddp         DistributedDataParallel, gloo, one thread per rank, under mpirun (rank and size
              from OMPI_COMM_WORLD_*); each global batch is split evenly over the ranks
  step        one thread: the CPU milliseconds (time.process_time, which other processes on a
              loaded machine do not inflate as they do wall time) of one training step on a
              batch of 64 random images, a rank's share of the batch of 128 at 2 ranks; the
              median of 5 rounds of 40 steps

  /usr/bin/python3 cnn_torch.py single 2 [--epochs N] [--seed S]
  mpirun -np 2 /usr/bin/python3 cnn_torch.py ddp [--epochs N] [--seed S]

Prints one JSON line (rank 0): seconds of every epoch (training only; the test accuracy after
each epoch is measured outside the timing), their median, the CPU seconds of every epoch (all
threads, and in ddp mode all ranks, added up: time.process_time, which the load of other jobs
does not inflate as it inflates wall time) and their median, the accuracies. Used by
tests/bench/cnn.lua; tide does not depend on torch.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
BATCH, LR, MOM = 128, 0.05, 0.9


def load_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = load_idx(os.path.join(DATA, prefix + "-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = load_idx(os.path.join(DATA, prefix + "-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x.reshape(-1, 1, 28, 28)), torch.from_numpy(y)


def make_model():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    right = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
                for i in range(0, x.shape[0], 1000))
    model.train()
    return right / x.shape[0]


def step_time(seed):
    torch.manual_seed(seed)
    net = make_model()
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOM)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    rounds = []
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(40):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()
        rounds.append((time.process_time() - t0) / 40 * 1e3)
    print(json.dumps(dict(bench="cnn_torch_step", torch=torch.__version__, batch=64,
                          cpu_ms_per_step=round(float(np.median(rounds)), 3))), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["single", "ddp", "step"])
    ap.add_argument("threads", nargs="?", type=int)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    threads = a.threads or (2 if a.mode == "single" else 1)
    rank, world = 0, 1
    if a.mode == "ddp":
        import torch.distributed as dist
        rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("RANK", "0")))
        world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29517")
        dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world)
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=threads, user_api="blas")
    except ImportError:
        pass
    if a.mode == "step":
        return step_time(a.seed)
    xtr, ytr = load("train")
    xte, yte = load("test")
    torch.manual_seed(a.seed)
    net = make_model()
    model = net
    if a.mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(net)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOM)
    g = torch.Generator().manual_seed(a.seed)
    n = xtr.shape[0]
    epoch_s, cpu_s, acc = [], [], []
    for _ in range(a.epochs):
        perm = torch.randperm(n, generator=g)     # the same on every rank
        if a.mode == "ddp":
            dist.barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            m = idx.shape[0]
            idx = idx[rank * m // world:(rank + 1) * m // world]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        if a.mode == "ddp":
            dist.barrier()
        epoch_s.append(time.perf_counter() - t0)
        cpu = torch.tensor([time.process_time() - c0], dtype=torch.float64)
        if a.mode == "ddp":       # every rank's CPU seconds, added up
            dist.all_reduce(cpu)
        cpu_s.append(cpu.item())
        acc.append(round(accuracy(net, xte, yte), 4))
        if rank == 0:      # progress, for long runs on a loaded machine
            print("epoch %d: %.1f s, test accuracy %.4f" % (len(acc), epoch_s[-1], acc[-1]),
                  file=sys.stderr, flush=True)
    if rank == 0:
        print(json.dumps(dict(bench="cnn_torch_" + a.mode, torch=torch.__version__, np=world,
                              threads_per_rank=threads, seed=a.seed, epochs=a.epochs,
                              epoch_s=[round(t, 3) for t in epoch_s],
                              epoch_s_median=round(float(np.median(epoch_s)), 3),
                              cpu_s=[round(t, 3) for t in cpu_s],
                              cpu_s_median=round(float(np.median(cpu_s)), 3),
                              test_acc_per_epoch=acc, final_test_acc=acc[-1])), flush=True)
    if a.mode == "ddp":
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
