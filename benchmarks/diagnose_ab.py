"""The PyTorch check-up's CPU time, this checkout's code against an older commit's, on the same model, alternately.

A change to the check-up (``mlplab.diagnose``) saves a few per cent of a small model's 7-10 ms diagnosis, less than
the drift of a shared machine's load between two runs of ``diagnose_zoo.py --time-only``. So both versions diagnose
the same zoo model in one process, one after the other in alternating order, and the median of the per-pair ratios
new/old is the change (issue 30's time target):

    python benchmarks/diagnose_ab.py --ref be59b40 --models makemore_mlp [--pairs 400]

Each diagnosis is ``diagnose_zoo.py``'s timed one: the model at its default init, 256 examples with their labels,
3 SGD steps, one torch thread and one BLAS thread. CPU time of the process (``time.process_time``: the check-up
runs in the calling thread). The older code is ``git archive REF src/mlplab`` unpacked in a temporary folder as the
package ``mlplab_ref`` (its imports are relative, so it runs as it was); each version is called twice before the
pairs (imports, first-call set-ups).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import ref_package  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", required=True, help="the older commit (e.g. be59b40)")
    ap.add_argument("--models", default="makemore_mlp", help="comma-separated zoo names")
    ap.add_argument("--pairs", type=int, default=200)
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits
    from zoo.models import BY_NAME, build
    from zoo.tasks import batch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1, user_api="blas"):
        old = importlib.import_module(ref_package(args.ref, tmp) + ".diagnose.pytorch").diagnose_torch
        new = importlib.import_module("mlplab.diagnose.pytorch").diagnose_torch
        for name in args.models.split(","):
            model = build(BY_NAME[name], "default", 0)
            x, y = batch(BY_NAME[name].task, 256, 100)

            def run(f, model=model, x=x, y=y):
                t0 = time.process_time()
                f(model, x, y, steps=3, optimizer="sgd", threads=1)
                return time.process_time() - t0

            for f in (old, new, old, new):
                run(f)
            t_old, t_new, ratios = [], [], []
            for i in range(args.pairs):
                if i % 2:
                    b, a = run(new), run(old)
                else:
                    a, b = run(old), run(new)
                t_old.append(a)
                t_new.append(b)
                ratios.append(b / a)
            ratios.sort()
            q = len(ratios) // 4
            print(f"{name:22s} {args.ref} {statistics.median(t_old) * 1e3:8.2f} ms  this checkout "
                  f"{statistics.median(t_new) * 1e3:8.2f} ms  new/old median {statistics.median(ratios):.3f} "
                  f"(quartiles {ratios[q]:.3f}-{ratios[-q - 1]:.3f}), {args.pairs} pairs, load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
