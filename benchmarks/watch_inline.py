"""What a frame made on the training thread (``watch(worker="inline")``) costs the loop, against the worker process.

The MLP 784-100×4-10 of ``benchmarks/watch_overhead.py`` (batch 128, SGD with momentum), a frame at every step
(``every=1``), so the training thread's CPU per step minus the plain loop's is what one frame costs it:

* ``plain``: no watch;
* ``inline``: ``watch(worker="inline")`` as shipped (NumPy's BLAS held to one thread during the frame);
* ``inline, BLAS free``: the same with the BLAS limit taken away (OpenBLAS then splits the frame's dots of more
  than 10,000 values over its threads, beside torch's);
* ``process``: ``watch(worker="process")``: the training thread's part only (arming and the copies; the
  worker's CPU is its own, and with ``every=1`` the loop waits for each frame, so its wall time says little).

Rounds alternate the four, 200 steps each after 20 of warm-up; printed: the median and the range over the rounds.

    python benchmarks/watch_inline.py [--threads N] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header  # noqa: E402
from watch_overhead import Loop, _data, _models  # noqa: E402


class _Unlimited:
    def limit(self, limits):
        return contextlib.nullcontext()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch's threads")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    import torch

    from mlplab.watch import watch

    torch.set_num_threads(args.threads)
    header(f"mlplab.watch: a frame on the training thread (torch threads {args.threads})")
    make = _models(torch)["mlp"]
    X, y = _data(torch, "mlp")
    modes = ("plain", "inline", "inline, BLAS free", "process")
    cpu = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for mode in modes:
                torch.manual_seed(0)
                model = make()
                w = None
                if mode != "plain":
                    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
                    w = watch(model, opt, every=1, record=os.path.join(d, f"{r}-{modes.index(mode)}"),
                              worker="process" if mode == "process" else "inline")
                loop = Loop(torch, model, X, y, w)
                loop.run(20)
                if mode == "inline, BLAS free":
                    w._worker._blas = _Unlimited()
                if w is not None:
                    w._worker.wait_free()
                c = time.thread_time()
                loop.run(args.steps)
                cpu[mode].append(1000 * (time.thread_time() - c) / args.steps)
                if w is not None:
                    w.close()
    base = statistics.median(cpu["plain"])
    print(f"   the training thread's CPU per step, median (range) of {args.rounds} rounds of {args.steps} steps:")
    for m in modes:
        med = statistics.median(cpu[m])
        extra = "" if m == "plain" else f"; a frame costs it {med - base:.2f} ms"
        print(f"   {m:>18}: {med:.2f} ms ({min(cpu[m]):.2f}–{max(cpu[m]):.2f}){extra}")
    print(f"   load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
