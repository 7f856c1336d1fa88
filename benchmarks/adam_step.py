"""The cost of writing Adam's update like its formula: mlplab's ``Adam.step`` (m, v, m_hat, v_hat
named, a few temporaries) against the earlier fused form (one scratch array, every operation in
place, the bias corrections folded into ε and the step size) and ``torch.optim.Adam``, side by
side in one process, on the parameters of the MLPs ``train_step.py`` times; then a whole
training step (forward, backward, Adam update) with each of the two mlplab forms.

    python benchmarks/adam_step.py            # medians of 300 steps (30 for the large net)
    python benchmarks/adam_step.py --quick
    python benchmarks/adam_step.py --threads 1
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from _common import header, interleaved_medians, limit_threads

from mlplab import nn, optim
from mlplab.tensor import cross_entropy


class FusedAdam(optim.Adam):
    """The update as it was before it was rewritten to read like the formula (eps_on="v_hat")."""

    def update(self, g, state, theta):
        (b1, b2), m, v, t = self.betas, state["m"], state["v"], state["t"]
        d = np.subtract(g, m)
        d *= 1.0 - b1
        m += d
        np.multiply(g, g, out=d)
        d *= 1.0 - b2
        v *= b2
        v += d
        if self.amsgrad:
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        c1, c2 = (1.0 - b1 ** t, math.sqrt(1.0 - b2 ** t)) if self.bias_correction else (1.0, 1.0)
        np.sqrt(v, out=d)
        d += self.eps * c2
        np.divide(m, d, out=d)
        d *= -self.lr * c2 / c1
        return d


def update_only(sizes, cls):
    """Just ``opt.step()`` on the MLP's parameters with fixed float32 gradients."""
    net = nn.MLP(sizes, activation="relu", weight_init="he", rng=0)
    rng = np.random.default_rng(1)
    for p in net.parameters():
        p.grad = rng.standard_normal(p.shape).astype(np.float32)
    return cls(net.parameters(), lr=1e-3).step


def torch_update_only(sizes):
    rng = np.random.default_rng(1)
    ps = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        for shape in ((b, a), (b,)):
            p = torch.zeros(shape, requires_grad=True)
            p.grad = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
            ps.append(p)
    return torch.optim.Adam(ps, lr=1e-3).step


def train_step(sizes, X, y, cls):
    net = nn.MLP(sizes, activation="relu", weight_init="he", rng=0)
    opt = cls(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        cross_entropy(net(X), y).backward()
        opt.step()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=0, metavar="N")
    args = ap.parse_args()
    with limit_threads(args.threads):
        run(args)


def run(args):
    header("adam_step")
    small, big = [784, 100, 100, 100, 100, 10], [784, 1024, 1024, 1024, 1024, 10]
    for sizes, batch, reps in ((small, 128, 60 if args.quick else 300), (big, 1024, 10 if args.quick else 30)):
        n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        med = interleaved_medians({"readable": update_only(sizes, optim.Adam), "fused": update_only(sizes, FusedAdam),
                                   "pytorch": torch_update_only(sizes)}, reps, per_round=10)
        print(f"-- Adam update alone, {'-'.join(map(str, sizes))} ({n} parameters), float32, median of {reps}")
        for k, v in med.items():
            print(f"   {k:9s} {v * 1e3:8.3f} ms/update")
        print(f"   readable / fused: {med['readable'] / med['fused']:.2f}x the time")
        rng = np.random.default_rng(0)
        X, y = rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)
        med = interleaved_medians({"readable": train_step(sizes, X, y, optim.Adam),
                                   "fused": train_step(sizes, X, y, FusedAdam)}, reps, per_round=10)
        print(f"-- whole training step with Adam, batch {batch}, median of {reps}")
        for k, v in med.items():
            print(f"   {k:9s} {v * 1e3:8.3f} ms/step")
        print(f"   readable / fused: {med['readable'] / med['fused']:.3f}x the time "
              f"(+{(med['readable'] - med['fused']) * 1e6:.0f} us per step)")


if __name__ == "__main__":
    main()
