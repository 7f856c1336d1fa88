"""What `mlplab diagnose --sharpness` costs, in forward+backward passes of the same network and batch (why it is
opt-in: the check-up's budget is ≤ 10 of them).

    PYTHONPATH=src python benchmarks/diagnose_sharpness.py [--repeats 3] [--threads 1]

For 784-100-100-100-100-10 and 784-256-256-10 (ReLU, He) on 256 MNIST training images: the median time of one
forward+backward pass (7 runs) and of the sharpness line (``mlplab.diagnose.sharpness.for_mlplab``, ``repeats``
runs), their ratio, the Hessian-vector products it took, and the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import header, limit_threads

from mlplab import data, nn
from mlplab.diagnose.sharpness import for_mlplab
from mlplab.tensor import Tensor, cross_entropy


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    with limit_threads(a.threads):
        header("diagnose --sharpness: cost in forward+backward passes")
        X, y = data.load("mnist", "train")
        X, y = X[:256], y[:256]
        for layers in ([784, 100, 100, 100, 100, 10], [784, 256, 256, 10]):
            m = nn.MLP(layers, activation="relu", weight_init="he", rng=0)
            fb = []
            for _ in range(7):
                t = time.perf_counter()
                for p in m.parameters():
                    p.grad = None
                cross_entropy(m(Tensor(X)), y).backward()
                fb.append(time.perf_counter() - t)
            line, products = [], []
            for _ in range(a.repeats):
                t = time.perf_counter()
                s = for_mlplab(m, X, y, 0.1)
                line.append(time.perf_counter() - t)
                products.append(s["hvp_products"])
            f, L = statistics.median(fb), statistics.median(line)
            print(f"   {'-'.join(map(str, layers))}: forward+backward {f * 1e3:.1f} ms; sharpness line {L:.2f} s = "
                  f"{L / f:.0f} forward+backward passes ({products} Hessian-vector products; λ_max = "
                  f"{s['sharpness']:.4g})")


if __name__ == "__main__":
    main()
