"""The optimizer race of ``mlplab lab run optimizers-mnist`` (reference settings: SGD, Momentum,
AdaGrad, Adam × 2000 iterations, batch 128, 784-100-100-100-100-10 ReLU, real MNIST) through mlplab,
against a hand-written float64 NumPy implementation in the style of the source book (layers as
classes with forward/backward like ``MultiLayerNet``, optimizers like the book's ``optimizer.py``,
the loop of ``optimizer_compare_mnist.py``), in one process.

    python benchmarks/optimizers_mnist.py                    # 2000 iterations (the study's setting)
    python benchmarks/optimizers_mnist.py --iterations 300   # shorter

Prints both times and the ratio (target: mlplab takes at most a quarter of the book loop's time).
The machine is shared: the two contenders run alternately, ``--rounds`` times, and the medians count.
OpenBLAS threads matter a lot on a busy 2-core machine; the value of OPENBLAS_NUM_THREADS is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import OrderedDict

import numpy as np

from mlplab.data import load
from mlplab.lab.optimizers_mnist import BATCH, MAIN, SIZES, race


# ------------------------------------------------------------------------------ the book-style reference
class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.dW = self.db = None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


class SoftmaxWithLoss:
    def __init__(self):
        self.y = self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        n = self.y.shape[0]
        return -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class MultiLayerNet:
    """The book's fully-connected net: He init (std √(2/n)), zero biases, ReLU, softmax loss."""

    def __init__(self, sizes, rng, weight_decay_lambda=0.0):
        self.params = {}
        self.n_affine = len(sizes) - 1
        self.weight_decay_lambda = weight_decay_lambda
        for i in range(1, len(sizes)):
            self.params[f"W{i}"] = np.sqrt(2.0 / sizes[i - 1]) * rng.standard_normal((sizes[i - 1], sizes[i]))
            self.params[f"b{i}"] = np.zeros(sizes[i])
        self.layers = OrderedDict()
        for i in range(1, len(sizes)):
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i < len(sizes) - 1:
                self.layers[f"Activation_function{i}"] = Relu()
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        y = self.predict(x)
        weight_decay = 0.0
        for i in range(1, self.n_affine + 1):
            W = self.params[f"W{i}"]
            weight_decay += 0.5 * self.weight_decay_lambda * np.sum(W ** 2)
        return self.last_layer.forward(y, t) + weight_decay

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for i in range(1, self.n_affine + 1):
            layer = self.layers[f"Affine{i}"]
            grads[f"W{i}"] = layer.dW + self.weight_decay_lambda * layer.W
            grads[f"b{i}"] = layer.db
        return grads


class BookSGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params:
            params[key] -= self.lr * grads[key]


class BookMomentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class BookAdaGrad:
    def __init__(self, lr=0.01):
        self.lr, self.h = lr, None

    def update(self, params, grads):
        if self.h is None:
            self.h = {k: np.zeros_like(v) for k, v in params.items()}
        for key in params:
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class BookAdam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2, self.iter, self.m, self.v = lr, beta1, beta2, 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(v) for k, v in params.items()}
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


def book_race(x_train, t_train, iterations, seed):
    """optimizer_compare_mnist.py: one batch per iteration shared by the four networks; the loss is
    recorded with a second forward pass after the update, as the book does."""
    rng = np.random.default_rng(seed)
    optimizers = {"sgd": BookSGD(), "momentum": BookMomentum(), "adagrad": BookAdaGrad(), "adam": BookAdam()}
    networks = {k: MultiLayerNet(SIZES, rng) for k in optimizers}
    train_loss = {k: [] for k in optimizers}
    train_size = x_train.shape[0]
    for _ in range(iterations):
        batch_mask = rng.choice(train_size, BATCH)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        for key in optimizers:
            grads = networks[key].gradient(x_batch, t_batch)
            optimizers[key].update(networks[key].params, grads)
            train_loss[key].append(networks[key].loss(x_batch, t_batch))
    return {k: np.array(v) for k, v in train_loss.items()}


# ------------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=1, help="alternate the two contenders this many times")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads for mlplab's race (default 1, as `mlplab lab run`; 0 = BLAS default); "
                         "the book loop keeps the BLAS default")
    ap.add_argument("--jobs", type=int, default=os.cpu_count(),
                    help="processes training mlplab's networks side by side (default: the CPU count, as `lab run`)")
    args = ap.parse_args()
    from mlplab.cli.options import blas_threads

    X, y = load("mnist", "train")
    X64 = X.astype(np.float64)  # the book's normalize: uint8 / 255.0 -> float64
    print(f"== optimizers-mnist race: 4 optimizers x {args.iterations} iterations, batch {BATCH}, "
          f"{'-'.join(map(str, SIZES))}, real MNIST ({len(X)} images)")
    threads = args.blas_threads or "default"
    print(f"   numpy {np.__version__}, mlplab: {args.jobs} process(es) x {threads} BLAS thread(s), "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    times = {"mlplab": [], "book": []}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        with blas_threads(args.blas_threads):
            ours = race(X, y, list(MAIN), args.iterations, seed=0, workers=args.jobs)
        times["mlplab"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        book = book_race(X64, y, args.iterations, seed=0)
        times["book"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    w = max(1, min(100, args.iterations // 10))
    print(f"   final loss, mean of the last {w} iterations:")
    print(f"   {'':10s} {'mlplab (float32)':>18s} {'book loop (float64)':>20s}")
    for k in MAIN:
        print(f"   {k:10s} {ours[k]['loss'][-w:].mean():18.4f} {book[k][-w:].mean():20.4f}")
    print(f"   mlplab race   {med['mlplab']:7.2f} s  ({1e3 * med['mlplab'] / (4 * args.iterations):.2f} ms per step)")
    print(f"   book loop     {med['book']:7.2f} s  ({1e3 * med['book'] / (4 * args.iterations):.2f} ms per step)")
    ratio = med["mlplab"] / med["book"]
    print(f"   mlplab / book = {ratio:.3f}  ({1 / ratio:.1f}x faster; target: <= 0.25)")


if __name__ == "__main__":
    main()
