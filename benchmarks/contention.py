"""BLAS threads under contention: mlplab train's default choice vs 1 and 2 fixed threads, on the
machine as it is and with one extra CPU-bound process competing for the cores.

Each timing is a fresh process (so every BLAS starts from its own default) that trains the README's
network (784-100-100-100-100-10, ReLU, He init, Adam, batch 128) for ``--steps`` steps on
MNIST-shaped random data (the cost of a step does not depend on the pixel values). A run of
``--steps`` steps (default: the README's command, 5 epochs) is timed as its median step over
``--measure`` steps times ``--steps`` (steadier than wall time on a shared machine where other jobs
come and go, and it keeps two-thread runs under contention from taking many minutes), plus for
"default" the 0.1 s sample of /proc/stat it chooses from (mlplab.runtime.threads.auto_blas_threads).
The contenders take turns within each round, in a rotating order; the ratio reported is the
median over rounds of (the better fixed count's time / the default's time) within a round, which
cancels most of the load that other jobs put on the machine (the ratio of the medians is printed
too).

    python benchmarks/contention.py [--steps 2345] [--measure 150] [--rounds 7] [--part all|runs|networks]

``--part networks`` answers why the choice is "the free cores" and nothing finer: it times one
training step at 1 and at 2 threads for six networks (small to large, SGD and Adam), the counts
taking turns in one process, once with glibc's default malloc thresholds (``MLPLAB_MALLOC_PAD=0``)
and once with freed memory kept (mlplab.runtime.allocator, what ``mlplab train`` does).

Targets (issue 12): with one competing process the default reaches >= 0.8x the better fixed
choice; on an idle machine >= 0.95x. "x" is speed: (time of the better fixed count) / (time of
the default).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("default", "1", "2")

WORKER = """
import json, statistics, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
from mlplab import nn, optim
from mlplab.runtime.threads import auto_blas_threads
from mlplab.train import Callback, Trainer
mode, steps, measure = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
n, why = auto_blas_threads() if mode == "default" else (int(mode), "fixed")
choose = time.perf_counter() - t0 if mode == "default" else 0.0
rng = np.random.default_rng(0)
X = rng.random((measure * 128, 784), dtype=np.float32)
y = rng.integers(0, 10, measure * 128)

class Clock(Callback):
    def __init__(self):
        self.stamps = []

    def on_step_end(self, trainer, step, loss):
        self.stamps.append(time.perf_counter())

clock = Clock()
with threadpool_limits(limits=n, user_api="blas"):
    net = nn.MLP([784, 100, 100, 100, 100, 10], activation="relu", weight_init="he", rng=0)
    t1 = time.perf_counter()
    Trainer(net, optim.Adam(net.parameters(), lr=1e-3), callbacks=[clock]).fit(X, y, epochs=1, batch_size=128, rng=0)
# the run of `steps` steps: its median step (steadier than the wall time of a shared machine) times
# the steps, plus the default's choice
step = statistics.median(np.diff([t1] + clock.stamps))
print(json.dumps({"threads": n, "why": why, "seconds": choose + step * steps, "choose": choose}))
"""


NETWORKS = r"""
import json, statistics, sys, time
import numpy as np
from threadpoolctl import ThreadpoolController
from mlplab import nn, optim
from mlplab.runtime.allocator import keep_freed_memory
from mlplab.train import Trainer
pad = keep_freed_memory()
rounds = int(sys.argv[1])
rng = np.random.default_rng(0)
X = rng.random((4096, 784), dtype=np.float32)
y = rng.integers(0, 10, 4096)
controller = ThreadpoolController()
rows = []
for sizes, batch, opt in [([784, 16, 10], 128, "adam"), ([784, 100, 10], 32, "adam"),
                          ([784, 100, 100, 100, 100, 10], 128, "sgd"), ([784, 100, 100, 100, 100, 10], 128, "adam"),
                          ([784, 512, 512, 10], 128, "adam"), ([784, 100, 100, 100, 100, 10], 1000, "adam")]:
    net = nn.MLP(sizes, activation="relu", weight_init="he", rng=0)
    o = optim.Adam(net.parameters()) if opt == "adam" else optim.SGD(net.parameters(), lr=0.01)
    tr = Trainer(net, o)
    batches = [(X[i:i + batch], y[i:i + batch]) for i in range(0, 4 * batch, batch)]
    times = {1: [], 2: []}
    for r in range(rounds):
        for n in ((1, 2) if r % 2 == 0 else (2, 1)):
            with controller.limit(limits=n, user_api="blas"):
                for k in range(12):
                    t0 = time.perf_counter()
                    tr.train_step(*batches[k % 4])
                    if k >= 2:  # the first steps after a change of count wake or park the threads
                        times[n].append(time.perf_counter() - t0)
    rows.append({"net": "-".join(map(str, sizes)), "batch": batch, "opt": opt,
                 "ms": {n: statistics.median(v) * 1e3 for n, v in times.items()}})
print(json.dumps({"pad": pad, "rows": rows}))
"""


def networks(rounds):
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = {}
    for mode in ("glibc", "kept"):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (src, os.environ.get("PYTHONPATH")))),
               "MLPLAB_MALLOC_PAD": "0" if mode == "glibc" else ""}
        r = subprocess.run([sys.executable, "-c", NETWORKS, str(rounds)], capture_output=True, text=True, env=env)
        if r.returncode:
            sys.exit(f"worker failed:\n{r.stderr}")
        out[mode] = json.loads(r.stdout)["rows"]
    print(f"\none training step at 1 and 2 BLAS threads, taking turns in one process ({rounds} rounds x 10 "
          f"steps each; medians in ms); load average {os.getloadavg()[0]:.1f}")
    print(f"  {'network':28s} {'batch':>5s} {'opt':>4s} | {'glibc defaults: 1':>17s} {'2':>6s} {'2/1':>5s} | "
          f"{'memory kept: 1':>14s} {'2':>6s} {'2/1':>5s}")
    for g, k in zip(out["glibc"], out["kept"]):
        print(f"  {g['net']:28s} {g['batch']:5d} {g['opt']:>4s} | {g['ms']['1']:17.3f} {g['ms']['2']:6.3f} "
              f"{g['ms']['2'] / g['ms']['1']:5.2f} | {k['ms']['1']:14.3f} {k['ms']['2']:6.3f} "
              f"{k['ms']['2'] / k['ms']['1']:5.2f}")


def run_worker(mode, steps, measure):
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (src, os.environ.get("PYTHONPATH"))))}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)  # each BLAS starts from its own default
    r = subprocess.run([sys.executable, "-c", WORKER, mode, str(steps), str(measure)], capture_output=True,
                       text=True, env=env)
    if r.returncode:
        sys.exit(f"worker failed:\n{r.stderr}")
    return json.loads(r.stdout)


def scenario(name, steps, measure, rounds, competitors):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(competitors)]
    try:
        time.sleep(0.5 if competitors else 0)
        load = os.getloadavg()[0]
        times = {m: [] for m in MODES}
        chosen, choose = [], []
        for r in range(rounds):
            order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]
            for m in order:
                res = run_worker(m, steps, measure)
                times[m].append(res["seconds"])
                if m == "default":
                    chosen.append(res["threads"])
                    choose.append(res["choose"])
    finally:
        for p in procs:
            p.kill()
            p.wait()
    med = {m: statistics.median(v) for m, v in times.items()}
    better = "1" if med["1"] <= med["2"] else "2"
    paired = statistics.median(b / d for b, d in zip(times[better], times["default"]))
    print(f"\n{name} ({competitors} competing process{'es' if competitors != 1 else ''}; load average "
          f"{load:.1f} at the start; {rounds} rounds; runs of {steps} steps, each timed over {measure})")
    for m in MODES:
        print(f"  {m:>8} threads: median {med[m]:7.2f} s  ({', '.join(f'{t:.2f}' for t in times[m])})")
    print(f"  default chose {chosen} (choosing took a median {statistics.median(choose):.3f} s)")
    print(f"  the better fixed count: {better}; 2 threads / 1 thread: "
          f"{med['2'] / med['1']:.2f}x the time")
    print(f"  default reaches {med[better] / med['default']:.2f}x the better fixed count (ratio of medians), "
          f"{paired:.2f}x (median of the rounds' paired ratios)")
    return paired


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # so the competing process is stopped too
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2345, help="the run length compared (default 2345: the README's "
                                                             "command, 5 epochs of batch 128)")
    ap.add_argument("--measure", type=int, default=150, help="steps actually timed per run (their median step)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--part", choices=["all", "runs", "networks"], default="all")
    args = ap.parse_args()
    from mlplab.runtime.threads import usable_cores

    print(f"== BLAS threads under contention: python {sys.version.split()[0]}, {usable_cores()} usable cores, "
          f"{os.cpu_count()} CPUs")
    if args.part in ("all", "networks"):
        networks(args.rounds)
    if args.part == "networks":
        return
    idle = scenario("as the machine is", args.steps, args.measure, args.rounds, 0)
    busy = scenario("one competing CPU-bound process", args.steps, args.measure, args.rounds, 1)
    print(f"\nratios: machine as is {idle:.2f}x (target >= 0.95x on an idle machine), "
          f"one competitor {busy:.2f}x (target >= 0.8x)")


if __name__ == "__main__":
    main()
