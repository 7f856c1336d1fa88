"""What keeping freed memory (mlplab.allocator) buys: one training step of the book network with
glibc's default malloc thresholds vs with :func:`mlplab.allocator.keep_freed_memory`, for mlplab,
PyTorch CPU and the hand-written NumPy loop of train_step.py, and for a whole ``Trainer`` step.

Each round starts two fresh processes, one per allocator setting (``MLPLAB_MALLOC_PAD=0`` keeps
glibc's defaults), in alternating order; each process times the contenders side by side
(interleaved, medians) and counts its minor page faults per step. Printed: the medians over
rounds, and per contender the median over rounds of (time with glibc's defaults / time with the
memory kept), so > 1 means keeping the memory is faster.

    python benchmarks/allocator.py [--rounds 5] [--optimizer adam|sgd] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import json, resource, sys, time
sys.path[:0] = [sys.argv[1]]
import numpy as np
import train_step as ts
from _common import interleaved_medians, limit_threads
from mlplab import nn, optim
from mlplab.allocator import keep_freed_memory
from mlplab.train import Trainer

pad = keep_freed_memory()  # MLPLAB_MALLOC_PAD=0: nothing, glibc's defaults
ts.OPTIMIZER = sys.argv[2]
sizes = [784, 100, 100, 100, 100, 10]
X, y = ts.make_data(128)
Xt, yt = ts.make_data(128 * 40, seed=1)


def trainer_step():
    net = nn.MLP(sizes, activation="relu", weight_init="he", rng=0)
    opt = optim.SGD(net.parameters(), lr=0.01) if ts.OPTIMIZER == "sgd" else optim.Adam(net.parameters())
    tr = Trainer(net, opt)
    tr.fit(Xt, yt, epochs=1, batch_size=128, rng=0)  # warm; then one batch a call
    batches = [(Xt[i:i + 128], yt[i:i + 128]) for i in range(0, len(Xt), 128)]
    k = [0]

    def step():
        xb, yb = batches[k[0] % len(batches)]
        k[0] += 1
        tr.train_step(xb, yb)
    return step


with limit_threads(int(sys.argv[3])):
    fns = {"mlplab": ts.mlplab_step(sizes, X, y), "pytorch": ts.torch_step(sizes, X, y),
           "numpy": ts.numpy_step(sizes, X, y), "trainer": trainer_step()}
    faults = {}
    for k, fn in fns.items():
        for _ in range(5):
            fn()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(50):
            fn()
        faults[k] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 50
    med = interleaved_medians(fns, 400)
print(json.dumps({"pad": pad, "seconds": med, "faults": faults}))
"""


def run(mode, optimizer, threads):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(HERE.parent / "src"),
                                                                      os.environ.get("PYTHONPATH"))))}
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    env.pop("MALLOC_TOP_PAD_", None)
    env["MLPLAB_MALLOC_PAD"] = "0" if mode == "glibc" else ""
    r = subprocess.run([sys.executable, "-c", WORKER, str(HERE), optimizer, str(threads)], capture_output=True,
                       text=True, env=env)
    if r.returncode:
        sys.exit(f"worker failed:\n{r.stderr}")
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (0: each library's default)")
    args = ap.parse_args()
    modes = ("glibc", "kept")
    res = {m: [] for m in modes}
    for r in range(args.rounds):
        for m in (modes if r % 2 == 0 else modes[::-1]):
            res[m].append(run(m, args.optimizer, args.threads))
    names = list(res["kept"][0]["seconds"])
    print(f"== allocator: one {args.optimizer} step of 784-100-100-100-100-10, batch 128, float32, "
          f"{args.threads or 'default'} thread(s); {args.rounds} rounds of two fresh processes; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"   pad in effect: glibc {res['glibc'][0]['pad']} B, kept {res['kept'][0]['pad'] >> 20} MiB")
    print(f"   {'':9s} {'glibc ms':>9s} {'kept ms':>8s} {'faults/step':>17s} {'glibc/kept':>11s}")
    for k in names:
        g = [x["seconds"][k] for x in res["glibc"]]
        p = [x["seconds"][k] for x in res["kept"]]
        fg = statistics.median(x["faults"][k] for x in res["glibc"])
        fp = statistics.median(x["faults"][k] for x in res["kept"])
        ratio = statistics.median(a / b for a, b in zip(g, p))
        print(f"   {k:9s} {statistics.median(g) * 1e3:9.3f} {statistics.median(p) * 1e3:8.3f} "
              f"{fg:8.0f} -> {fp:5.0f} {ratio:10.2f}x")
    for m in modes:
        s = {k: statistics.median(x["seconds"][k] for x in res[m]) for k in names}
        print(f"   {m}: mlplab vs pytorch {s['pytorch'] / s['mlplab']:.2f}x faster, "
              f"vs the numpy loop {s['numpy'] / s['mlplab']:.2f}x the speed")


if __name__ == "__main__":
    main()
