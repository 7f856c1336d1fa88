"""What watching costs a user's own PyTorch loop: ``mlplab.watch`` at its default frame rate (11 a second).

Two models on MNIST, batch 128, SGD with momentum, torch's thread count from the free cores
(``mlplab.runtime.threads``, as the tests and ``diagnose`` choose it): the 784-100×4-10 ReLU MLP and a small CNN
(conv 1→8 3×3, ReLU, max-pool, conv 8→16 3×3, ReLU, max-pool, linear 784→10). Two measurements:

1. **Blocks** (``--blocks PAIRS``): one long watched run whose frames are paused and resumed in alternating
   blocks of ``--block-seconds`` worth of steps (:meth:`mlplab.watch.Watch.pause`); each on-block's steps/s is divided
   by the mean of its two off neighbours', which ran a fraction of a second before and after, so the
   machine's load drifts out. The median and quartiles of those ratios are the frames' cost. (The off
   blocks keep the step hook, one Python call per step, measured by 2.)
2. **Paired runs** (``--rounds R``): per round a plain run and a watched run of ``--run-seconds`` worth of steps
   from the
   same initial weights, each first in turn; the median of the rounds' ratios watched / plain. Separate
   runs are noisier on a shared machine: the spread is printed with them.

Printed per model: steps/s, the ratios (target ≥ 0.95), the same ratio by the training thread's CPU time per
step (less sensitive to other processes taking the core), the frames per second the watched run made, the
CPU a frame costs the training thread and the worker, and the load average before and after (the VM's two
cores are shared: say so with the figures).

    python benchmarks/watch_overhead.py [--blocks 20] [--block-seconds 1] [--rounds 5] [--run-seconds 4]
                                        [--models mlp,cnn] [--threads N] [--worker-policy batch|idle]
                                        [--worker-slices on|off] [--worker process|inline] [--breakdown]

``--threads``: torch's thread count instead of the free cores' (the quiet machine's choice is 2, a loaded one's
1). ``--worker-policy idle``: the frame worker is switched to ``SCHED_IDLE`` once started (it then runs only on
a core nothing else wants, and any waking thread preempts it at once) instead of the shipped niced
``SCHED_BATCH``: an A/B of the scheduling policy, for a quiet machine. ``--worker-slices on``: the worker also gives
its core back once per ``mlplab.watch.worker.QUANTUM`` (0.5 ms) of a frame's run, between histograms
(``mlplab.watch.worker.SLICES``, off as shipped), the A/B of that. ``--worker inline``: ``watch(worker="inline")``,
frames made on the training thread (``--breakdown``'s parts then measure the worker process's way).
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import header  # noqa: E402


def _models(torch):
    nn = torch.nn
    return {
        "mlp": lambda: nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                                     nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                                     nn.Linear(100, 10)),
        "cnn": lambda: nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                     nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                     nn.Linear(16 * 7 * 7, 10)),
    }


def _data(torch, kind, n=60000):
    import numpy as np

    from mlplab.data import load

    X, y = load("mnist")
    X = torch.from_numpy(np.array(X[:n]))
    if kind == "cnn":
        X = X.reshape(-1, 1, 28, 28)
    return X, torch.from_numpy(np.array(y[:n]))


class Loop:
    """The user's loop: forward, cross-entropy, zero_grad, backward, step (and w.step(loss) when watched)."""

    def __init__(self, torch, model, X, y, w=None):
        self.torch, self.model, self.X, self.y, self.w = torch, model, X, y, w
        self.opt = w.optimizer if w is not None else torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        self.i = 0

    def run(self, steps):
        F = self.torch.nn.functional
        n = len(self.X) // 128
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(steps):
            k = self.i % n
            self.i += 1
            loss = F.cross_entropy(self.model(self.X[k * 128:(k + 1) * 128]), self.y[k * 128:(k + 1) * 128])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            if self.w is not None:
                self.w.step(loss)
        self.cpu = (time.thread_time() - c0) / steps  # the training thread's CPU seconds per step
        return steps / (time.perf_counter() - t0)


POLICY = "batch"
WORKER = "process"  # watch(worker=...) (main: --worker)
FPS = None  # watch()'s default frame rate (main)


def _watched(torch, make, X, y, d):
    from mlplab.watch import watch

    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    w = watch(model, opt, record=os.path.join(d, f"rec{time.perf_counter_ns()}"), worker=WORKER)
    loop = Loop(torch, model, X, y, w)
    loop.run(30)  # the first batch (layers found, meta.json) and the worker's start-up
    deadline = time.monotonic() + 30
    while w._worker.proc is not None and not w._worker.ready and time.monotonic() < deadline:
        w._worker._handle(0.1)
        loop.run(5)
    if POLICY == "idle" and w._worker.ready and w._worker.proc is not None:  # after the worker's own _yield_to_training
        os.sched_setscheduler(w._worker.proc.pid, os.SCHED_IDLE, os.sched_param(0))
    return loop, w


def _q(xs):
    qs = statistics.quantiles(xs, n=4) if len(xs) >= 2 else [xs[0]] * 3
    return f"{statistics.median(xs):.3f} ({qs[0]:.3f}–{qs[2]:.3f})"


def _cpu(pid) -> float:
    """User + system CPU seconds of a process so far (/proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def blocks(torch, make, X, y, pairs, seconds):
    with tempfile.TemporaryDirectory() as d:
        loop, w = _watched(torch, make, X, y, d)
        w.pause()
        rate = loop.run(20)
        rate = loop.run(max(20, round(0.25 * rate)))  # (the first steps after the start-up are slow: 20 made blocks
        steps = max(10, round(seconds * rate))  # of 0.1 s, with one frame at each resume)
        on, off, fps, cpu_on, cpu_off = [], [], [], [], []
        off.append(loop.run(steps))
        cpu_off.append(loop.cpu)
        pid = w._worker.proc.pid if w._worker.proc is not None else None  # (inline: no worker process)
        frames0, worker0 = w.frames, _cpu(pid) if pid else 0.0
        for _ in range(pairs):
            w.resume()
            f0, t0 = w.frames, time.perf_counter()
            on.append(loop.run(steps))
            cpu_on.append(loop.cpu)
            fps.append((w.frames - f0) / (time.perf_counter() - t0))
            w.pause()
            off.append(loop.run(steps))
            cpu_off.append(loop.cpu)
        w._worker.wait_free()
        worker_ms = 1000 * (_cpu(pid) - worker0) / max(1, w.frames - frames0) if pid else 0.0
        w.close()
    ratios = [on[i] / ((off[i] + off[i + 1]) / 2) for i in range(len(on))]
    cpu_ratios = [((cpu_off[i] + cpu_off[i + 1]) / 2) / cpu_on[i] for i in range(len(on))]
    # the training thread's CPU per frame: the extra CPU of an on-block over its neighbours, per frame made
    extra = [(cpu_on[i] - (cpu_off[i] + cpu_off[i + 1]) / 2) * steps / max(1e-9, fps[i] * steps / on[i])
             for i in range(len(on))]
    return {"ratios": ratios, "cpu_ratios": cpu_ratios, "on": statistics.median(on), "off": statistics.median(off),
            "fps": statistics.median(fps), "frames": w.frames, "broken": w.broken, "steps": steps,
            "thread_ms": 1000 * statistics.median(extra), "worker_ms": worker_ms,
            "step_ms": 1000 * statistics.median(cpu_off)}


def paired(torch, make, X, y, rounds, seconds):
    ratios, cpu_ratios, plain_s, watched_s, fps = [], [], [], [], []
    steps = None
    with tempfile.TemporaryDirectory() as d:
        for r in range(rounds):
            torch.manual_seed(r)
            base = make()
            res = {}
            for kind in (("plain", "watched") if r % 2 == 0 else ("watched", "plain")):
                if kind == "plain":
                    loop = Loop(torch, copy.deepcopy(base), X, y)
                    rate = loop.run(30)
                else:
                    loop, w = _watched(torch, lambda b=base: copy.deepcopy(b), X, y, d)
                    rate = loop.run(10)
                steps = steps or max(30, round(seconds * rate))
                f0, t0 = (w.frames, time.perf_counter()) if kind == "watched" else (0, 0)
                res[kind] = loop.run(steps)
                res[kind + " cpu"] = loop.cpu
                if kind == "watched":
                    fps.append((w.frames - f0) / (time.perf_counter() - t0))
                    w.close()
            ratios.append(res["watched"] / res["plain"])
            cpu_ratios.append(res["plain cpu"] / res["watched cpu"])
            plain_s.append(res["plain"])
            watched_s.append(res["watched"])
    return (ratios, cpu_ratios, statistics.median(plain_s), statistics.median(watched_s), statistics.median(fps),
            steps)


def breakdown(torch, make, X, y, frames=200):
    """The training thread's CPU per frame, by part (in-process, the worker told nothing, so only this thread's
    own work counts): arming (W copied, hooks put on), the armed step's extra over the plain step before it
    (hooks, z and ∂L/∂z copied, then W and ∂L/∂W copied and the message made), and the same with the copies
    left out (``_put`` a no-op): the difference is what the copies cost. Medians of ``frames`` pairs."""
    with tempfile.TemporaryDirectory() as d:
        loop, w = _watched(torch, make, X, y, d)
        w._worker.wait_free()
        w._worker.send_frame = lambda info, direct=None: None  # (the frames go nowhere: no frame is made)
        real, T = w._put, time.thread_time_ns
        res = {"with copies": ([], []), "copies left out": ([], [])}
        for _ in range(frames):
            for kind, (arm, extra) in res.items():
                w._put = real if kind == "with copies" else (lambda *a, **k: None)
                c = T()
                loop.run(1)
                plain = T() - c
                c = T()
                w._arm()
                arm.append(T() - c)
                c = T()
                loop.run(1)  # armed: the frame is captured and "sent" in its step post-hook
                extra.append(T() - c - plain)
        w._put = real
        w.close()
    return {k: (statistics.median(a) / 1e3, statistics.median(e) / 1e3) for k, (a, e) in res.items()}


def capture_frame(torch, model, X, y, every: int, steps: int):
    """(meta, info, arrays) of a real frame: ``model`` trained ``steps`` steps watched with ``every``; the last
    frame's arrays as the worker process would read them (copied out of the shared buffer)."""
    from mlplab.watch import watch

    with tempfile.TemporaryDirectory() as d:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        w = watch(model, opt, every=every, record=os.path.join(d, "rec"), worker="process")
        got, send = {}, w._worker.send_frame

        def grab(info):
            got["info"] = {**json.loads(json.dumps(info)), "buffer": 0}
            got["arrays"] = [{k: v.copy() for k, v in row.items()} for row in w._buffers[w._worker.next]]
            send(info)

        w._worker.send_frame = grab
        Loop(torch, model, X, y, w).run(steps)
        with open(os.path.join(d, "rec", "meta.json")) as f:
            meta = json.load(f)
        w.close()
    return meta, got["info"], got["arrays"]


def worker_parts(torch, make, X, y, frames=100):
    """The worker's CPU per frame by part, in this process on one thread (``time.thread_time``, medians of
    ``frames``): a real frame's arrays (captured from the watched loop's shared buffer as the worker gets them),
    made into a frame by the worker's own code (:class:`mlplab.watch.worker._Frames`, written to /dev/null),
    and its parts apart: the layers' rows (histograms and statistics), the verdicts, the JSON line."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from mlplab.watch import stats
    from mlplab.watch.record import encode_line
    from mlplab.watch.worker import _Frames

    torch.manual_seed(0)
    meta, info, arrays = capture_frame(torch, make(), X, y, every=1, steps=20)
    rec = _Frames([arrays], meta, os.devnull)
    layers = meta["layers"]
    arrays = rec.take(info)
    T = time.thread_time_ns
    res = {"frame": [], "rows": [], "verdicts": [], "json": []}
    quiet = getattr(stats, "QUIET", False)
    stats.QUIET = True  # as the worker: NumPy's floating-point errors ignored once, not around each activation
    with threadpool_limits(1), np.errstate(all="ignore"):  # as the worker (OPENBLAS_NUM_THREADS=1, np.seterr)
        for _ in range(frames):
            c = T()
            rec.frame(info, rec.take(info))
            res["frame"].append(T() - c)
            c = T()
            pending = []  # (the counts of all the frame's histograms made together, as the worker does)
            rows = [stats.layer_row(lay, a.get("z"), a.get("zn") if lay.get("norm_module") else a.get("z"),
                                    a.get("gz"), a.get("w"), a.get("before"), a.get("gw"), 0.3, pending)
                    for lay, a in zip(layers, arrays)]
            stats.bin_all(pending)
            res["rows"].append(T() - c)
            c = T()
            verdicts = stats.judge(rows, [lay["activation"] for lay in layers], [lay.get("norm") for lay in layers],
                                   meta.get("optimizer_rules"))
            res["verdicts"].append(T() - c)
            for r, v in zip(rows, verdicts):
                r.update(v)
                r.pop("weight_equal", None)
            c = T()
            encode_line({"type": "frame", "layers": rows, "events": []})
            res["json"].append(T() - c)
    stats.QUIET = quiet
    rec.out.close()
    return {**{k: statistics.median(v) / 1e6 for k, v in res.items()}, "frame min": min(res["frame"]) / 1e6}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=20, help="on/off block pairs (0: skip)")
    ap.add_argument("--block-seconds", type=float, default=1.0, help="length of a block (steps: from the speed)")
    ap.add_argument("--rounds", type=int, default=5, help="paired separate runs (0: skip)")
    ap.add_argument("--run-seconds", type=float, default=4.0, help="length of a paired run (steps: from the speed)")
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the free cores)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also the training thread's CPU per frame by part (arming, the armed step, the copies)")
    ap.add_argument("--worker-policy", choices=("batch", "idle"), default="batch",
                    help="the frame worker's scheduling: as shipped (niced SCHED_BATCH) or SCHED_IDLE")
    ap.add_argument("--worker", choices=("process", "inline"), default="process",
                    help="watch(worker=...): frames made in a worker process (as shipped) or on the training thread")
    ap.add_argument("--worker-slices", choices=("on", "off"), default="off",
                    help="the worker gives its core back every 0.5 ms of a frame (os.sched_yield), or not (as shipped)")
    args = ap.parse_args()
    global POLICY, FPS, WORKER
    POLICY, WORKER = args.worker_policy, args.worker
    import torch

    from mlplab.watch import watch

    FPS = inspect.signature(watch).parameters["fps"].default
    from mlplab.watch import worker

    worker.SLICES = args.worker_slices == "on"

    from mlplab.runtime.threads import auto_blas_threads

    n, why = auto_blas_threads()
    if args.threads:
        n, why = args.threads, "--threads"
    torch.set_num_threads(n)
    header(f"mlplab.watch overhead (torch threads {n}: {why}; frames made: {WORKER}"
           + (f"; worker {POLICY}, slices {args.worker_slices})" if WORKER == "process" else ")"))
    for kind in args.models.split(","):
        make = _models(torch)[kind]
        X, y = _data(torch, kind)
        load0 = os.getloadavg()[0]
        print(f"-- {kind}: batch 128, SGD momentum 0.9, watch at its default {FPS:g} frames/s")
        if args.blocks:
            b = blocks(torch, make, X, y, args.blocks, args.block_seconds)
            print(f"   blocks of {b['steps']} steps: on/off steps/s ratio, median (quartiles) of {len(b['ratios'])}: "
                  f"{_q(b['ratios'])}; by the training thread's CPU time per step: {_q(b['cpu_ratios'])}")
            print(f"      steps/s on {b['on']:.0f}, off {b['off']:.0f}; frames/s while on {b['fps']:.1f} "
                  f"({b['frames']} frames); per frame: training thread {b['thread_ms']:.2f} ms CPU, worker "
                  f"{b['worker_ms']:.1f} ms CPU; a step: {b['step_ms']:.2f} ms CPU"
                  + (f"; frames stopped: {b['broken']}" if b["broken"] and b["broken"] != "closed" else ""))
        if args.breakdown:
            wp = worker_parts(torch, make, X, y)
            print(f"   the worker's CPU per frame, in-process on one thread, median of 100: {wp['frame']:.2f} ms (the "
                  f"layers' rows {wp['rows']:.2f} ms, verdicts {wp['verdicts']:.2f} ms, JSON {wp['json']:.2f} ms); "
                  f"minimum {wp['frame min']:.2f} ms")
            parts = breakdown(torch, make, X, y)
            (arm, extra), (arm0, extra0) = parts["with copies"], parts["copies left out"]
            print(f"   the training thread's CPU per frame, median of 200: arming {arm:.0f} µs, the armed step's extra "
                  f"{extra:.0f} µs; without the copies {arm0:.0f} + {extra0:.0f} µs (the copies: "
                  f"{arm + extra - arm0 - extra0:.0f} µs)")
        if args.rounds:
            ratios, cpu_ratios, p, wch, fps, steps = paired(torch, make, X, y, args.rounds, args.run_seconds)
            print(f"   paired runs of {steps} steps: watched/plain, median (quartiles) of {len(ratios)}: {_q(ratios)}; "
                  f"by the training thread's CPU time per step: {_q(cpu_ratios)}; steps/s plain {p:.0f}, "
                  f"watched {wch:.0f}; frames/s {fps:.1f}")
        print(f"   load average: {load0:.1f} before, {os.getloadavg()[0]:.1f} after (2 shared cores)")


if __name__ == "__main__":
    main()
