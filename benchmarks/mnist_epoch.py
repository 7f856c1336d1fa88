"""One MNIST epoch at batch 128 with the source book's network (784-100-100-100-100-10, ReLU,
He init, Adam), data shuffling included: mlplab's Trainer vs the equivalent PyTorch CPU loop, in
one process, alternating rounds; then the peak resident memory of an mlplab training run measured
in a fresh child process (so torch's own footprint is not counted).

    python benchmarks/mnist_epoch.py [--rounds 3] [--threads 1]

Targets (issue 5): mlplab at least 1.5x faster than PyTorch; peak RSS under 600 MiB.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from _common import header, limit_threads

from mlplab import data, nn, optim
from mlplab.train import Trainer

SIZES = [784, 100, 100, 100, 100, 10]


def mlplab_epoch(X, y, seed):
    net = nn.MLP(SIZES, activation="relu", weight_init="he", rng=seed)
    opt = optim.Adam(net.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    Trainer(net, opt).fit(X, y, epochs=1, batch_size=128, rng=seed)
    return time.perf_counter() - t0


def torch_epoch(X, y, seed):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        lin = torch.nn.Linear(a, b)
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        layers += [lin, torch.nn.ReLU()] if i < len(SIZES) - 2 else [lin]
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(np.array(X)), torch.from_numpy(np.array(y))
    t0 = time.perf_counter()
    perm = torch.randperm(len(Xt))
    for i in range(0, len(Xt), 128):
        idx = perm[i:i + 128]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


# VmHWM (peak RSS of this process image): ru_maxrss would also count the parent's peak, since
# Linux keeps it across fork and exec.
CHILD = """
import re
from mlplab import data, nn, optim
from mlplab.train import Trainer
X, y = data.load("mnist", "train")
net = nn.MLP([784, 100, 100, 100, 100, 10], activation="relu", weight_init="he", rng=0)
Trainer(net, optim.Adam(net.parameters(), lr=1e-3)).fit(X, y, epochs=1, batch_size=128, rng=0)
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, metavar="N",
                    help="limit numpy's BLAS and torch to N threads each (default 0: each library's default)")
    args = ap.parse_args()
    with limit_threads(args.threads):
        run(args)


def run(args):
    header("mnist_epoch")
    X, y = data.load("mnist", "train")
    times = {"mlplab": [], "pytorch": []}
    for r in range(args.rounds):
        times["mlplab"].append(mlplab_epoch(X, y, r))
        times["pytorch"].append(torch_epoch(X, y, r))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"   {k:8s} {v:6.2f} s/epoch (median of {args.rounds}; all: {', '.join(f'{t:.2f}' for t in times[k])})")
    print(f"   mlplab vs pytorch: {med['pytorch'] / med['mlplab']:.2f}x faster (target >= 1.5x)")
    rss = float(subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout)
    print(f"   peak RSS of an mlplab training run (child process): {rss:.0f} MiB (target < 600 MiB)")


if __name__ == "__main__":
    main()
