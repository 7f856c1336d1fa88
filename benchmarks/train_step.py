"""One SGD training step of an MLP with softmax cross-entropy: mlplab vs PyTorch CPU vs a
hand-written fused NumPy loop, in one process, median over many steps.

    python benchmarks/train_step.py            # batch 128, 784-100-100-100-100-10, float32
    python benchmarks/train_step.py --quick    # fewer repeats
    python benchmarks/train_step.py --threads 1  # numpy's BLAS and torch on one thread each
    python benchmarks/train_step.py --data-parallel  # also: two threads on half a batch each
    python benchmarks/train_step.py --optimizer adam  # Adam in all three (the NumPy loop's fused in place)

Prints steps per second and the ratios the foundation issue targets (mlplab >= 2x PyTorch,
>= 0.8x the NumPy loop), then the large case (batch 1024, width 1024) as a fraction of the
GFLOP/s a bare float32 matmul reaches in the same run (target >= 60%). It also times the step's
matrix products alone: what is left of half PyTorch's step after them is the budget that 2x
leaves for everything else.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from _common import header, interleaved_medians, limit_threads

from mlplab import nn, optim
from mlplab.tensor import cross_entropy


def make_data(batch, n_in=784, n_cls=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((batch, n_in), dtype=np.float32), rng.integers(0, n_cls, batch)


OPTIMIZER = "sgd"  # set by --optimizer: "sgd" (lr 0.01) or "adam" (lr 0.001, torch's defaults)


def mlplab_step(sizes, X, y, lr=0.01):
    net = nn.MLP(sizes, activation="relu", weight_init="he", rng=0)
    opt = optim.SGD(net.parameters(), lr=lr) if OPTIMIZER == "sgd" else optim.Adam(net.parameters(), lr=lr / 10)

    def step():
        opt.zero_grad()
        loss = cross_entropy(net(X), y)
        loss.backward()
        opt.step()
    return step


def torch_step(sizes, X, y, lr=0.01):
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=lr) if OPTIMIZER == "sgd" else torch.optim.Adam(net.parameters(),
                                                                                               lr=lr / 10)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(net(Xt), yt)
        loss.backward()
        opt.step()
    return step


def _book_weights(sizes):
    rng = np.random.default_rng(0)
    Ws = [(rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    return Ws, [np.zeros(b, np.float32) for b in sizes[1:]]


def _forward_to_logit_grad(X, y, Ws, bs, n):
    """Forward through ReLU layers, then d(mean loss over n)/d logits = (softmax − onehot) / n."""
    acts, h = [X], X
    for i, (W, b) in enumerate(zip(Ws, bs)):
        h = h @ W
        h += b
        if i < len(Ws) - 1:
            np.maximum(h, 0, out=h)
        acts.append(h)
    z = acts[-1]
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    z[np.arange(len(y)), y] -= 1
    return acts, z / n


def _numpy_update(lr):
    """The hand-written update of one array in place: SGD, or Adam fused (β 0.9/0.999, ε 1e-8,
    one scratch array, the bias corrections folded into the step size and ε)."""
    if OPTIMIZER == "sgd":
        def sgd(p, g, key):
            p -= lr * g
        return sgd
    lr, b1, b2, eps, state = lr / 10, 0.9, 0.999, 1e-8, {}

    def adam(p, g, key):
        m, v, t = state.setdefault(key, [np.zeros_like(p), np.zeros_like(p), 0])
        state[key][2] = t = t + 1
        d = np.subtract(g, m)
        d *= 1 - b1
        m += d
        np.multiply(g, g, out=d)
        d *= 1 - b2
        v *= b2
        v += d
        c1, c2 = 1 - b1 ** t, math.sqrt(1 - b2 ** t)
        np.sqrt(v, out=d)
        d += eps * c2
        np.divide(m, d, out=d)
        d *= lr * c2 / c1
        p -= d
    return adam


def numpy_step(sizes, X, y, lr=0.01):
    """The hand-written reference: forward, backward and update fused by hand, float32."""
    Ws, bs = _book_weights(sizes)
    update = _numpy_update(lr)

    def step():
        acts, g = _forward_to_logit_grad(X, y, Ws, bs, len(y))
        for i in range(len(Ws) - 1, -1, -1):
            a = acts[i]
            gW = a.T @ g
            gb = g.sum(axis=0)
            if i:
                g = g @ Ws[i].T
                g *= a > 0
            update(Ws[i], gW, ("W", i))
            update(bs[i], gb, ("b", i))
    return step


def numpy_data_parallel_step(sizes, X, y, lr=0.01):
    """The NumPy loop split over the two cores the other way: two Python threads, each computing
    the gradients of half the batch with one BLAS thread, then one summed update. It measures
    slower than one loop with two BLAS threads (the halves' Python work shares one GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas")  # found once: limiting it then costs ~10 us
    Ws, bs = _book_weights(sizes)
    update = _numpy_update(lr)
    n, half = len(y), len(y) // 2
    parts = [(X[:half], y[:half]), (X[half:], y[half:])]
    pool = ThreadPoolExecutor(2)

    def grads(Xp, yp):
        acts, g = _forward_to_logit_grad(Xp, yp, Ws, bs, n)
        out = []
        for i in range(len(Ws) - 1, -1, -1):
            a = acts[i]
            out.append((i, a.T @ g, g.sum(axis=0)))
            if i:
                g = g @ Ws[i].T
                g *= a > 0
        return out

    def step():
        with blas.limit(limits=1):
            first, second = (f.result() for f in [pool.submit(grads, *p) for p in parts])
        for (i, gW, gb), (_, gW2, gb2) in zip(first, second):
            update(Ws[i], gW + gW2, ("W", i))
            update(bs[i], gb + gb2, ("b", i))
    return step


def matmuls_only(sizes, X, y):
    """The step's matrix products alone (forward, weight gradients, input gradients except the
    data's; same shapes, dtype and threads) and nothing else: a floor for any implementation
    on this BLAS."""
    rng = np.random.default_rng(0)
    Ws = [rng.random((a, b), dtype=np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    acts = [X] + [rng.random((len(X), b), dtype=np.float32) for b in sizes[1:]]

    def products():
        for a, W in zip(acts, Ws):
            a @ W
        for i in range(len(Ws) - 1, -1, -1):
            acts[i].T @ acts[i + 1]
            if i:
                acts[i + 1] @ Ws[i].T
    return products


def flops_per_step(sizes, batch):
    mm = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    first = sizes[0] * sizes[1]
    return 2 * batch * (3 * mm - first)  # forward, weight grads, input grads (none for the data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=0, metavar="N",
                    help="limit numpy's BLAS and torch to N threads each (default 0: each library's default)")
    ap.add_argument("--data-parallel", action="store_true",
                    help="also time the NumPy loop as two threads on half a batch each")
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                    help="the update in all contenders (default sgd, lr 0.01; adam: lr 0.001)")
    args = ap.parse_args()
    global OPTIMIZER
    OPTIMIZER = args.optimizer
    with limit_threads(args.threads):
        run(args)


def run(args):
    reps = 100 if args.quick else 600
    header(f"train_step ({OPTIMIZER})")

    sizes = [784, 100, 100, 100, 100, 10]
    X, y = make_data(128)
    contenders = {"mlplab": mlplab_step(sizes, X, y), "pytorch": torch_step(sizes, X, y),
                  "numpy": numpy_step(sizes, X, y), "matmuls": matmuls_only(sizes, X, y)}
    if args.data_parallel:
        contenders["numpy-dp"] = numpy_data_parallel_step(sizes, X, y)
    med = interleaved_medians(contenders, reps)
    print(f"-- batch 128, {'-'.join(map(str, sizes))}, float32, median of {reps} steps")
    notes = {"matmuls": "  (the 14 matrix products alone)", "numpy-dp": "  (2 threads x half a batch)"}
    for k, v in med.items():
        print(f"   {k:8s} {v * 1e3:7.3f} ms/step  {1 / v:8.0f} steps/s{notes.get(k, '')}")
    print(f"   mlplab vs pytorch: {med['pytorch'] / med['mlplab']:.2f}x faster (target >= 2x)")
    print(f"   mlplab vs numpy loop: {med['numpy'] / med['mlplab']:.2f}x the speed (target >= 0.8x)")
    need, mm = med["pytorch"] / 2, med["matmuls"]
    rest = {k: (med[k] - mm) * 1e6 for k in ("numpy", "mlplab")}
    left = f"leaving {(need - mm) * 1e6:.0f} us" if need > mm else "leaving nothing"
    print(f"   2x pytorch needs <= {need * 1e3:.3f} ms/step; the products alone take {mm * 1e3:.3f} ms, {left} "
          f"for all the rest (the NumPy loop spends {rest['numpy']:.0f} us on it, mlplab {rest['mlplab']:.0f} us)")

    big = [784, 1024, 1024, 1024, 1024, 10]
    Xb, yb = make_data(1024)
    reps_big = 10 if args.quick else 30
    A = np.random.default_rng(1).random((1024, 1024), dtype=np.float32)
    # the bare matmul takes its turn among the contenders, so it meets the same neighbours
    med_big = interleaved_medians({"mlplab": mlplab_step(big, Xb, yb), "pytorch": torch_step(big, Xb, yb),
                                   "numpy": numpy_step(big, Xb, yb), "bare": lambda: A @ A},
                                  reps_big, warmup=2, per_round=3)
    mm_gflops = 2 * 1024 ** 3 / med_big.pop("bare") / 1e9
    f = flops_per_step(big, 1024)
    print(f"-- batch 1024, {'-'.join(map(str, big))}, float32, median of {reps_big} steps")
    print(f"   bare 1024x1024 float32 matmul: {mm_gflops:6.1f} GFLOP/s")
    for k, v in med_big.items():
        gf = f / v / 1e9
        print(f"   {k:8s} {v * 1e3:7.2f} ms/step  {gf:6.1f} GFLOP/s = {gf / mm_gflops:5.0%} of bare matmul")
    print(f"   mlplab at {f / med_big['mlplab'] / 1e9 / mm_gflops:.0%} of bare matmul (target >= 60%)")


if __name__ == "__main__":
    main()
