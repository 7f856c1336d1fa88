"""How much CPU a frame may cost when the user's PyTorch loop takes every core: the budget behind issue 28's target.

``benchmarks/watch_overhead.py`` measures ``mlplab.watch`` itself. This measures the machine: the plain
784-100×4-10 MLP loop of that benchmark (MNIST, batch 128, SGD with momentum, no watch), beside a stand-in for
the frame worker, a process scheduled as the worker is (niced, ``SCHED_BATCH``:
:func:`mlplab.live.framer._yield_to_training`) that burns ``D`` ms of its own CPU (``time.thread_time``; NumPy
sorts, as a histogram does) ``fps`` times a second and sleeps between. Blocks of steps alternate with the
stand-in running and stopped (``SIGSTOP``/``SIGCONT``); each running block's steps/s is divided by the mean of its
two stopped neighbours', as watch_overhead.py's blocks do. Printed per ``D``: the median ratio (quartiles), the
stand-in's measured CPU per period, and the loss per ms of stand-in CPU.

So it says what per-frame cost a frame worker can have and keep a loop at ≥ 0.95× its speed, for torch's
thread count: with torch on every core, a process taking a few ms of one core ``fps`` times a second delays
torch's intra-op threads, and the training thread waits for them; with a core free it costs nearly nothing.

    python benchmarks/watch_budget.py [--threads N] [--ms 0,1,2,3,4,5] [--fps 11] [--touch MiB]
                                      [--blocks 10] [--block-seconds 1]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import header  # noqa: E402
from watch_overhead import Loop, _data, _models, _q  # noqa: E402

STAND_IN = """
import os, sys, time
import numpy as np
from mlplab.live.framer import _yield_to_training
_yield_to_training()
ms, fps, touch = float(sys.argv[1]) / 1000, float(sys.argv[2]), int(float(sys.argv[3]) * 2**20) // 8
x = np.random.default_rng(0).standard_normal(8192).astype(np.float32)
big = np.ones(max(touch, 1))
period, nxt = 1.0 / fps, time.monotonic()
print("ready", flush=True)
while True:
    c = time.thread_time()
    if touch and ms:
        big.sum()  # the frame's arrays read once (the worker reads ~1.8 MB of shared memory a frame for the MLP)
    while time.thread_time() - c < ms:
        np.sort(x)
    nxt += period
    now = time.monotonic()
    if nxt < now:  # stopped (SIGSTOP) past its periods: no catching up in a burst
        nxt = now + period
    time.sleep(nxt - now)
"""


def _cpu(pid) -> float:
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def measure(loop, ms, fps, pairs, steps, touch=0.0) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-c", STAND_IN, str(ms), str(fps), str(touch)], env=env,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("ready")
        p.send_signal(signal.SIGSTOP)
        on, off, on_s = [], [loop.run(steps)], 0.0
        cpu0 = _cpu(p.pid)
        for _ in range(pairs):
            p.send_signal(signal.SIGCONT)
            t = time.perf_counter()
            on.append(loop.run(steps))
            on_s += time.perf_counter() - t
            p.send_signal(signal.SIGSTOP)
            off.append(loop.run(steps))
        used = 1000 * (_cpu(p.pid) - cpu0) / max(1e-9, on_s * fps)
    finally:
        p.kill()
        p.wait()
    ratios = [on[i] / ((off[i] + off[i + 1]) / 2) for i in range(len(on))]
    return {"ratios": ratios, "used_ms": used}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the free cores)")
    ap.add_argument("--ms", default="0,1,2,3,4,5", help="the stand-in's CPU per period, ms (comma-separated)")
    ap.add_argument("--fps", type=float, default=11.0, help="its periods a second (watch's default frame rate)")
    ap.add_argument("--touch", type=float, default=0.0,
                    help="MiB the stand-in reads once a period (as the worker reads a frame's arrays)")
    ap.add_argument("--blocks", type=int, default=10, help="running/stopped block pairs per --ms value")
    ap.add_argument("--block-seconds", type=float, default=1.0)
    args = ap.parse_args()
    import torch

    from mlplab.runtime.threads import auto_blas_threads

    n, why = auto_blas_threads()
    if args.threads:
        n, why = args.threads, "--threads"
    torch.set_num_threads(n)
    header(f"a frame's CPU budget: the plain MLP loop beside a niced stand-in (torch threads {n}: {why})")
    X, y = _data(torch, "mlp")
    loop = Loop(torch, _models(torch)["mlp"](), X, y)
    rate = loop.run(200)
    steps = max(10, round(args.block_seconds * loop.run(max(20, round(0.5 * rate)))))
    print(f"   blocks of {steps} steps; the stand-in at {args.fps:g} periods/s; load average {os.getloadavg()[0]:.1f}")
    for ms in (float(v) for v in args.ms.split(",")):
        r = measure(loop, ms, args.fps, args.blocks, steps, args.touch)
        loss = 1 - statistics.median(r["ratios"])
        share = r["used_ms"] * args.fps / 1000  # of one core
        per = f"; {loss / max(1e-9, share):.1f} % of the speed per 1 % of a core" if ms else ""
        print(f"   stand-in {ms:g} ms a period (measured {r['used_ms']:.2f} ms): running/stopped steps/s "
              f"{_q(r['ratios'])}{per}", flush=True)
    print(f"   load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
