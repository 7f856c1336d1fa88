"""What ``watch(..., sharpness=...)`` costs a user's own PyTorch loop, at its defaults (mlplab.watch.sharpness).

The 784-100×4-10 ReLU MLP on MNIST, batch 128, SGD with momentum 0.9 (lr 0.01), watched at the default 12
frames/s; the sharpness measured on a fixed batch of ``--examples`` training examples with cross-entropy, at
the defaults (at least every 200 steps, at most 5 % of the loop's time). Paired runs, per round one watched
run without ``sharpness=`` and one with it, from the same initial weights, each first in turn; printed: the
median ratio of steps/s (with / without) and its range, and from the tracker's own clock the share of the run's
wall time spent measuring, the measurements taken and the milliseconds of a warm-started one (8 Lanczos steps
+ the residual: 9 Hessian-vector products). ``--blocks PAIRS``: also one long watched run in which measuring is
switched off and on in alternating blocks of ``--block-seconds``, each on-block's steps/s divided by the mean
of its two off neighbours' (the machine's load drifts out, as in benchmarks/watch_overhead.py). The load
average before and after is printed (the VM's two cores are shared: say so with the figures).

    python benchmarks/watch_sharpness.py [--rounds 3] [--run-seconds 20] [--examples 256] [--blocks 0]
                                         [--block-seconds 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import header  # noqa: E402


def _mlp(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 100),
                         nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))


def _run(torch, state, X, y, d, seconds, examples, sharp: bool):
    from mlplab.watch import watch

    F = torch.nn.functional
    model = _mlp(torch)
    model.load_state_dict(state)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    spec = (F.cross_entropy, X[:examples], y[:examples]) if sharp else None
    w = watch(model, opt, record=os.path.join(d, f"rec{time.perf_counter_ns()}"), sharpness=spec)
    n = len(X) // 128
    i, t0 = 0, time.perf_counter()
    while True:
        k = i % n
        i += 1
        loss = F.cross_entropy(model(X[k * 128:(k + 1) * 128]), y[k * 128:(k + 1) * 128])
        opt.zero_grad()
        loss.backward()
        opt.step()
        w.step(loss)
        if i % 50 == 0 and time.perf_counter() - t0 > seconds:
            break
    wall = time.perf_counter() - t0
    w.close()
    from mlplab.watch import read

    ms = [f["sharpness"]["ms"] for f in read(w.folder).frames if "sharpness" in f]
    t = w._sharp
    return {"rate": i / wall, "share": (t.seconds / wall) if t else 0.0, "measurements": t.measurements if t else 0,
            "cold_ms": ms[0] if ms else None, "warm_ms": statistics.median(ms[1:]) if len(ms) > 1 else None,
            "frames": w.frames}


def blocks(torch, X, y, d, pairs, seconds, examples):
    """Steps/s of on-blocks (measuring) over their off neighbours' in one watched run."""
    from mlplab.watch import watch

    F = torch.nn.functional
    torch.manual_seed(0)
    model = _mlp(torch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    w = watch(model, opt, record=os.path.join(d, "blocks"), sharpness=(F.cross_entropy, X[:examples], y[:examples]))
    n, i = len(X) // 128, 0

    def run(on):
        nonlocal i
        w._sharp.off = None if on else "an off-block"  # (the tracker's switch: measurements stop while set)
        m0, s0, t0 = w._sharp.measurements, w._sharp.seconds, time.perf_counter()
        k0 = i
        while time.perf_counter() - t0 < seconds:
            k = i % n
            i += 1
            loss = F.cross_entropy(model(X[k * 128:(k + 1) * 128]), y[k * 128:(k + 1) * 128])
            opt.zero_grad()
            loss.backward()
            opt.step()
        wall = time.perf_counter() - t0
        return (i - k0) / wall, w._sharp.measurements - m0, (w._sharp.seconds - s0) / wall

    run(True)  # the cold first measurement and the worker's start-up
    off, on = [run(False)], []
    for _ in range(pairs):
        on.append(run(True))
        off.append(run(False))
    w.close()
    ratios = [on[j][0] / ((off[j][0] + off[j + 1][0]) / 2) for j in range(pairs)]
    return ratios, [o[1] for o in on], [o[2] for o in on]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--run-seconds", type=float, default=20.0)
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--blocks", type=int, default=0, help="on/off block pairs in one run (0: skip)")
    ap.add_argument("--block-seconds", type=float, default=8.0)
    args = ap.parse_args()
    import numpy as np
    import torch

    from mlplab.data import load
    from mlplab.runtime.threads import auto_blas_threads

    nthreads, why = auto_blas_threads()
    torch.set_num_threads(nthreads)
    header(f"watch(sharpness=) cost (torch threads {nthreads}: {why})")
    X, y = load("mnist")
    X, y = torch.from_numpy(np.array(X[:60000])), torch.from_numpy(np.array(y[:60000]))
    load0 = os.getloadavg()[0]
    ratios, shares, warm, cold, count = [], [], [], [], []
    with tempfile.TemporaryDirectory() as d:
        if args.blocks:
            br, bm, bs = blocks(torch, X, y, d, args.blocks, args.block_seconds, args.examples)
            q = statistics.quantiles(br, n=4) if len(br) >= 2 else [br[0]] * 3
            print(f"blocks of {args.block_seconds:g} s: steps/s measuring on / off median {statistics.median(br):.3f} "
                  f"(quartiles {q[0]:.3f}–{q[2]:.3f}, {len(br)} on-blocks, {sum(bm)} measurements); time measuring "
                  f"in the on-blocks median {100 * statistics.median(bs):.1f} %; load average {os.getloadavg()[0]:.1f}",
                  flush=True)
        for r in range(args.rounds):
            torch.manual_seed(r)
            state = _mlp(torch).state_dict()
            res = {}
            for sharp in ((False, True) if r % 2 == 0 else (True, False)):
                res[sharp] = _run(torch, state, X, y, d, args.run_seconds, args.examples, sharp)
            ratios.append(res[True]["rate"] / res[False]["rate"])
            shares.append(res[True]["share"])
            count.append(res[True]["measurements"])
            warm.append(res[True]["warm_ms"])
            cold.append(res[True]["cold_ms"])
            print(f"round {r + 1}: {res[False]['rate']:.0f} steps/s without, {res[True]['rate']:.0f} with "
                  f"(ratio {ratios[-1]:.3f}); measuring took {100 * shares[-1]:.1f} % of the run "
                  f"({count[-1]} measurements, cold {cold[-1]} ms, warm median {warm[-1]} ms)", flush=True)
    if not ratios:
        return
    print(f"MLP 784-100×4-10, batch 128, sharpness on {args.examples} examples: steps/s with / without "
          f"median {statistics.median(ratios):.3f} (range {min(ratios):.3f}–{max(ratios):.3f}); time measuring "
          f"median {100 * statistics.median(shares):.1f} % of the loop; a warm measurement "
          f"{statistics.median([w for w in warm if w] or [float('nan')]):.0f} ms; "
          f"load average {load0:.1f} → {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
