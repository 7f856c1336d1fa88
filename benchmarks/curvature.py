"""Curvature speed (issue 27): one Hessian-vector product against one gradient, mlplab's HVP against torch's
double backward on the same network and batch, and the top eigenvalue over 5,000 images.

Network 784-100-100-100-100-10 ReLU, float32, cross-entropy, batch 1,000 MNIST images, one BLAS thread (and one
torch thread). Targets: HVP ≤ 2.5× a gradient; mlplab's HVP ≥ 1.2× faster than torch's; the top eigenvalue over
5,000 images to 1e-3 relative (against ARPACK run to machine precision) in ≤ 3 s.

Timings alternate between contenders in short rounds (:func:`_common.interleaved_medians`) and report medians;
the ratios are also computed per round (paired), and their median is printed. The load average is in the header:
on a shared machine the absolute times move, the paired ratios much less.

    PYTHONPATH=src python benchmarks/curvature.py [--repeats 40]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import header, interleaved_medians, limit_threads

from mlplab import data, nn
from mlplab.curvature import NetworkCurvature, sharpness, top_eigen

SIZES = [784, 100, 100, 100, 100, 10]


def paired(fa, fb, rounds):
    """Median over rounds of time(fa)/time(fb), each round timing both back to back."""
    ratios = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fa()
        t1 = time.perf_counter()
        fb()
        t2 = time.perf_counter()
        ratios.append((t1 - t0) / (t2 - t1))
    return statistics.median(ratios)


def torch_double_backward(model, X, y):
    import torch

    net = torch.nn.Sequential(*[m for lin in model.linears for m in (torch.nn.Linear(lin.in_features,
                                                                                      lin.out_features),
                                                                     torch.nn.ReLU())][:-1])
    with torch.no_grad():
        for t, lin in zip([m for m in net if isinstance(m, torch.nn.Linear)], model.linears):
            t.weight.copy_(torch.from_numpy(lin.weight.data.T.copy()))
            t.bias.copy_(torch.from_numpy(lin.bias.data.copy()))
    params = list(net.parameters())
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    vs = [torch.randn_like(p) for p in params]

    def hvp():
        loss = torch.nn.functional.cross_entropy(net(Xt), yt)
        g = torch.autograd.grad(loss, params, create_graph=True)
        dot = sum((gi * vi).sum() for gi, vi in zip(g, vs))
        return torch.autograd.grad(dot, params)

    return hvp


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    with limit_threads(args.threads):
        header("curvature: Hessian-vector products")
        X, y = data.load("mnist", "train")
        rng = np.random.default_rng(0)
        rows = rng.choice(len(X), 5000, replace=False)
        X5, y5 = np.asarray(X[rows], dtype=np.float32), np.asarray(y[rows])
        Xb, yb = X5[:1000], y5[:1000]
        model = nn.MLP(SIZES, activation="relu", weight_init="he", rng=1, dtype=np.float32)
        curv = NetworkCurvature(model, Xb, yb, chunk_size=1000)
        v = rng.standard_normal(curv.n_params)
        th = torch_double_backward(model, Xb, yb)
        med = interleaved_medians({"gradient": curv.loss_and_grad, "hvp": lambda: curv.hvp(v), "torch_hvp": th},
                                  repeats=args.repeats, per_round=5)
        r_grad = paired(lambda: curv.hvp(v), curv.loss_and_grad, args.repeats)
        r_torch = paired(th, lambda: curv.hvp(v), args.repeats)
        print(f"   median times (batch 1000): gradient {med['gradient'] * 1e3:.1f} ms, mlplab HVP "
              f"{med['hvp'] * 1e3:.1f} ms, torch double-backward HVP {med['torch_hvp'] * 1e3:.1f} ms")
        print(f"   HVP / gradient: {med['hvp'] / med['gradient']:.2f} (paired median {r_grad:.2f}; target ≤ 2.5)")
        print(f"   torch HVP / mlplab HVP: {med['torch_hvp'] / med['hvp']:.2f} (paired median {r_torch:.2f}; "
              "target ≥ 1.2)")

        full = NetworkCurvature(model, X5, y5, chunk_size=1000)
        exact = top_eigen(full.hvp, full.n_params, k=1, tol=0, rng=0)[0][0]
        print(f"   top eigenvalue over 5000 images: {exact:.6g} (ARPACK, tol 0); Lanczos from a random start:")
        for steps in (6, 8, 10, 12):
            times, rels = [], []
            for seed in range(3):
                t0 = time.perf_counter()
                lam, _ = sharpness(full.hvp, full.n_params, steps=steps, rng=seed)
                times.append(time.perf_counter() - t0)
                rels.append(abs(lam - exact) / exact)
            print(f"     {steps:2d} steps: median {statistics.median(times):.2f} s, worst relative error "
                  f"{max(rels):.1e} over 3 starts (target 1e-3 in ≤ 3 s)")

if __name__ == "__main__":
    main()
