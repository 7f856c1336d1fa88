"""What keeping freed memory (mlplab.runtime.allocator) buys, against glibc's default malloc thresholds
(``MLPLAB_MALLOC_PAD=0``), in fresh processes taking turns (the setting is process-wide):

1. the README's ``mlplab train`` command (book network, Adam, batch 128; ``--epochs``, one BLAS
   thread): wall time, the process's user and system CPU time and its minor page faults;
2. in fresh processes: first ``churn``, the Adam-like update of tests/test_allocator.py on a
   784×100 array (four 313 KB temporaries alive at once), before anything else has made and
   freed large arrays: the pattern where glibc's defaults hand the memory back and fault it in
   again on every update; then, once
   data and other networks have come and gone, one training step of mlplab, PyTorch CPU, the
   hand-written NumPy loop of train_step.py and a ``Trainer``, side by side (interleaved,
   medians), with page faults per step. By then glibc has raised its thresholds past the
   step's arrays, so this part shows that keeping the memory costs nothing where the defaults
   happen to work.

Per contender the median over rounds of (with glibc's defaults / with the memory kept) is
printed, so > 1 means keeping the memory is faster.

    python benchmarks/allocator.py [--rounds 5] [--epochs 2] [--optimizer adam|sgd] [--threads 1]
                                   [--part all|train|step]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import json, resource, statistics, sys, time
sys.path[:0] = [sys.argv[1]]
import numpy as np
from mlplab.runtime.allocator import keep_freed_memory

pad = keep_freed_memory()  # MLPLAB_MALLOC_PAD=0: nothing, glibc's defaults
# first, before anything else has made and freed large arrays: the update of tests/test_allocator.py
# (Adam-like arithmetic making four 313 KB temporaries alive at once) on a 784x100 float32 array
p = np.ones((784, 100), dtype=np.float32)
def churn():
    q = p * 0.9
    q += 0.1 * (p * p)
    r = np.sqrt(q)
    r += 1e-8
    q /= r
churn()
f0, ts = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, []
for _ in range(200):
    t0 = time.perf_counter()
    churn()
    ts.append(time.perf_counter() - t0)
pattern = {"seconds": statistics.median(ts), "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 200}

import train_step as ts
from _common import interleaved_medians, limit_threads
from mlplab import nn, optim
from mlplab.train import Trainer

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
print(json.dumps({"pad": pad, "seconds": {"churn": pattern["seconds"], **med},
                  "faults": {"churn": pattern["faults"], **faults}}))
"""


def run(mode, optimizer, threads):
    r = subprocess.run([sys.executable, "-c", WORKER, str(HERE), optimizer, str(threads)], capture_output=True,
                       text=True, env=env_for(mode))
    if r.returncode:
        sys.exit(f"worker failed:\n{r.stderr}")
    return json.loads(r.stdout)


def env_for(mode):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(HERE.parent / "src"),
                                                                      os.environ.get("PYTHONPATH"))))}
    for var in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_"):
        env.pop(var, None)
    env["MLPLAB_MALLOC_PAD"] = "0" if mode == "glibc" else ""
    return env


def train_runs(rounds, epochs, threads):
    """The README's command in fresh processes, the two settings taking turns."""
    import resource
    import tempfile

    modes = ("glibc", "kept")
    res = {m: {"wall": [], "user": [], "sys": [], "faults": []} for m in modes}
    for r in range(rounds):
        for m in (modes if r % 2 == 0 else modes[::-1]):
            with tempfile.TemporaryDirectory() as d:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                p = subprocess.run([sys.executable, "-m", "mlplab", "train", "--dataset", "mnist", "--layers",
                                    "784,100,100,100,100,10", "--activation", "relu", "--init", "he", "--optimizer",
                                    "adam", "--lr", "0.001", "--batch-size", "128", "--epochs", str(epochs),
                                    "--seed", "0", "--blas-threads", str(threads or 0), "--quiet", "--out",
                                    os.path.join(d, "run")], capture_output=True, text=True, env=env_for(m))
                wall = time.perf_counter() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if p.returncode:
                sys.exit(f"mlplab train failed:\n{p.stderr}")
            res[m]["wall"].append(wall)
            res[m]["user"].append(after.ru_utime - before.ru_utime)
            res[m]["sys"].append(after.ru_stime - before.ru_stime)
            res[m]["faults"].append(after.ru_minflt - before.ru_minflt)
    print(f"-- mlplab train, book network, Adam, {epochs} epoch(s), {threads or 'default'} BLAS thread(s); "
          f"{rounds} rounds (medians)")
    print(f"   {'':7s} {'wall s':>7s} {'user s':>7s} {'sys s':>7s} {'minor faults':>13s}")
    for m in modes:
        v = {k: statistics.median(x) for k, x in res[m].items()}
        print(f"   {m:7s} {v['wall']:7.2f} {v['user']:7.2f} {v['sys']:7.2f} {v['faults']:13.0f}")
    ratio = statistics.median(a / b for a, b in zip(res["glibc"]["wall"], res["kept"]["wall"]))
    print(f"   glibc / kept, wall time: {ratio:.2f}x (median of the rounds' ratios)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the mlplab train runs (default 2)")
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (0: each library's default)")
    ap.add_argument("--part", choices=["all", "train", "step"], default="all")
    args = ap.parse_args()
    print(f"== allocator: glibc's defaults vs freed memory kept (mlplab.runtime.allocator); load average "
          f"{os.getloadavg()[0]:.1f}")
    if args.part in ("all", "train"):
        train_runs(args.rounds, args.epochs, args.threads)
    if args.part == "train":
        return
    modes = ("glibc", "kept")
    res = {m: [] for m in modes}
    for r in range(args.rounds):
        for m in (modes if r % 2 == 0 else modes[::-1]):
            res[m].append(run(m, args.optimizer, args.threads))
    names = list(res["kept"][0]["seconds"])
    print(f"-- one {args.optimizer} step of 784-100-100-100-100-10, batch 128, float32, "
          f"{args.threads or 'default'} thread(s); {args.rounds} rounds of two fresh processes")
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
