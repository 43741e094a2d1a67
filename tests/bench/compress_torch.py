#!/usr/bin/python3
"""PyTorch's peer of tests/bench/compress.lua: the main job's MLP (784-256-128-10) at batch
256 in f32 and after torch.ao.quantization.quantize_dynamic (int8 Linear layers), one thread
(as a tide rank runs). Prints two lines, "f32 <ms>" and "int8 <ms>": medians of `rounds`
rounds of `reps` forwards. Run with /usr/bin/python3; says "absent" when torch is missing."""
import sys
import time

try:
    import torch
except ImportError:
    print("absent")
    sys.exit(0)

rounds, reps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(1)
torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                            torch.nn.ReLU(), torch.nn.Linear(128, 10)).eval()
qmodel = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
x = torch.rand(256, 784)


def median_ms(m):
    times = []
    with torch.no_grad():
        m(x)
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(reps):
                m(x)
            times.append((time.perf_counter() - t0) / reps * 1e3)
    times.sort()
    return times[len(times) // 2]


print("f32 %.4f" % median_ms(model))
print("int8 %.4f" % median_ms(qmodel))
