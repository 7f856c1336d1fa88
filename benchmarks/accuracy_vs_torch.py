"""Issue 5's training command (784-100-100-100-100-10 ReLU, He init, Adam 0.001, batch 128, 5 epochs)
run by mlplab and by PyTorch from the *same* initial weights and the *same* batch order, seed by seed:
the paired difference of the final test accuracies separates implementation from seed luck.

    python benchmarks/accuracy_vs_torch.py [--seeds 0 1 2 ...]

Both start from torch's kaiming_normal_ weights (copied, transposed to mlplab's (in, out) layout) and
draw each epoch's permutation from numpy.random.default_rng(seed). Their first losses agree to about
7 digits; float32 rounding then makes the runs drift apart.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from mlplab import data, nn, optim
from mlplab.train import Trainer

SIZES = [784, 100, 100, 100, 100, 10]


def paired_run(seed, X, y, Xt, yt):
    torch.manual_seed(seed)
    layers, linears = [], []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        lin = torch.nn.Linear(a, b)
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        linears.append(lin)
        layers += [lin, torch.nn.ReLU()] if i < len(SIZES) - 2 else [lin]
    tnet = torch.nn.Sequential(*layers)
    net = nn.MLP(SIZES, activation="relu", weight_init="he", rng=seed)
    for m, lin in zip(net.linears, linears):
        m.weight.data[...] = lin.weight.detach().numpy().T
    hist = Trainer(net, optim.Adam(net.parameters(), lr=1e-3)).fit(
        X, y, epochs=5, batch_size=128, rng=seed, val=(Xt, yt))
    opt = torch.optim.Adam(tnet.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    Xtt, ytt = torch.from_numpy(np.array(X)), torch.from_numpy(np.array(y))
    for _ in range(5):
        perm = rng.permutation(len(X))
        for i in range(0, len(X), 128):
            idx = torch.from_numpy(perm[i:i + 128])
            opt.zero_grad()
            torch.nn.functional.cross_entropy(tnet(Xtt[idx]), ytt[idx]).backward()
            opt.step()
    with torch.no_grad():
        torch_acc = float((tnet(torch.from_numpy(np.array(Xt))).argmax(1).numpy() == yt).mean())
    return hist.final["val_acc"], torch_acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    args = ap.parse_args()
    X, y = data.load("mnist", "train")
    Xt, yt = data.load("mnist", "test")
    rows = []
    for s in args.seeds:
        rows.append(paired_run(s, X, y, Xt, yt))
        print(f"   seed {s:3d}: mlplab {rows[-1][0]:.2%}  pytorch {rows[-1][1]:.2%}", flush=True)
    r = np.array(rows)
    d = r[:, 0] - r[:, 1]
    print(f"   mean over {len(r)} seeds: mlplab {r[:, 0].mean():.2%}, pytorch {r[:, 1].mean():.2%}; "
          f"paired difference {d.mean() * 100:+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)) * 100:.3f} points (SE)")


if __name__ == "__main__":
    main()
