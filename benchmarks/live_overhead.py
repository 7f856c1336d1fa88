"""What watching costs: `mlplab live` against the plain training loop, and the page's speed.

1. Training throughput on MNIST with the book's network (784-100-100-100-100-10, ReLU, He, Adam,
   batch 128): the plain Trainer as ``mlplab train`` runs it (run directory, checkpoints,
   evaluation at the end) against the same run in a live session, with a thread reading its
   frames and encoding them as the event stream does. Runs alternate, ``--rounds`` each; the
   medians of their steps/s and the ratio live / plain are printed (target >= 0.95), with the
   frames per second the live run made. Each round runs every kind once, each kind first in turn,
   so no kind gains from its place in the round.
2. ``--blocks PAIRS``: one long live run whose frames are switched on and off in alternating
   blocks of steps; the median of each on-block's time against its off neighbours is the cost of
   the frames alone, far less noisy than separate runs (see :func:`blocks`).
3. ``--browser``: the real server and headless Chromium. Frames per second the page receives
   while training the book's network on MNIST (target >= 10), and the time from a drag of the
   start point to the redrawn paths of all seven optimizers, 200 steps each (target p95 <= 100 ms).

    python benchmarks/live_overhead.py [--steps 300] [--rounds 5] [--threads 1] [--frames all] [--blocks 60] [--browser]
                                       [--sharpness-ab]   (with --blocks: the worker's blocks with and without the
                                                            Train view's sharpness, live/sharpness.py)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import header, limit_threads  # noqa: E402

SHARPNESS: list = []  # per live run, the sharpness measurements it made
BOOK = {"dataset": "mnist", "layers": "784,100,100,100,100,10", "activation": "relu", "init": "he",
        "optimizer": "adam", "batch_size": "128", "seed": "0"}


def plain(steps):
    from mlplab import data, nn, optim
    from mlplab.train import Trainer

    X, y = data.load("mnist", "train")
    Xt, yt = data.load("mnist", "test")
    model = nn.MLP([784, 100, 100, 100, 100, 10], activation="relu", weight_init="he", rng=0)
    opt = optim.get_optimizer("adam", model.parameters())
    with tempfile.TemporaryDirectory() as d:
        trainer = Trainer(model, opt, run_dir=d, checkpoint_every=500)
        t0, c0 = time.perf_counter(), time.thread_time()
        trainer.fit(X, y, iterations=steps, batch_size=128, rng=0, val=(Xt, yt))
        return steps / (time.perf_counter() - t0), None, steps / (time.thread_time() - c0)


def _stream(session, stop, by_worker: list) -> None:
    """What the event stream does (``live.app``): poll the session's frames every 20 ms and encode
    each as an event; ``by_worker`` gets, per frame, whether the worker made it."""
    from mlplab.live.app import _event_json

    last = 0
    while not stop.is_set():
        for f in session.frames_after(last):
            last = f["seq"]
            by_worker.append(bool(f.get("worker")))
            _event_json(dict(f, run="bench", member=0))
        time.sleep(0.02)


def live(steps, worker=None, fps=12.0):
    """One live run; ``worker``: a started FrameWorker (as ``mlplab live`` hands each run one) or None
    (frames inline); ``fps`` ~ 0: no frames but the first and last (the control). Returns steps/s,
    frames/s, steps per CPU-second of the training thread, the worker to hand to the next run and
    the share of frames the worker made."""
    from mlplab.live.session import TrainSession

    session = TrainSession({**BOOK, "iterations": str(steps)}, worker=worker, fps=fps)
    stop = threading.Event()
    by_worker = []

    cpu = []
    train = session._train

    def timed_train():  # the training thread's CPU time (what load on the machine inflates least)
        c0 = time.thread_time()
        train()
        cpu.append(time.thread_time() - c0)

    session._train = timed_train
    th = threading.Thread(target=_stream, args=(session, stop, by_worker), daemon=True)
    th.start()
    t0 = time.perf_counter()
    session.start()
    session.thread.join()
    seconds = time.perf_counter() - t0
    stop.set()
    th.join()
    frames = session.seq - 1  # the last is the "done" status
    SHARPNESS.append(list(session.sharpness))  # (measured by the worker: live.sharpness)
    worker = session.close(keep_worker=True)
    assert session.status in ("done", "stopped"), session.message
    return steps / seconds, frames / seconds, steps / cpu[0], worker, sum(by_worker) / max(1, len(by_worker))


def throughput(steps, rounds, modes):
    from mlplab.live.framer import FrameWorker

    rates = {"plain": [], **{m: [] for m in modes}}
    cpu = {k: [] for k in rates}
    fps = {m: [] for m in modes}
    share = {m: [] for m in modes}
    paired = {m: [] for m in modes}
    worker = FrameWorker() if "worker" in modes else None  # started ahead, as `mlplab live` does
    if worker is not None and not worker.wait_ready(60):
        raise SystemExit(f"the frame worker did not start: {worker.broken}")
    _, _, _, worker, _ = live(20, worker)  # warm-up: data loaded, code paths hot
    plain(20)
    kinds = ["plain", *modes]
    for r in range(rounds):
        got = {}
        for k in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:  # each kind takes each place in turn
            if k == "plain":
                got[k] = plain(steps)
                continue
            got[k] = live(steps, worker if k == "worker" else None, 1e-9 if k == "off" else 12.0)
            if k == "worker":
                worker = got[k][3]
        rates["plain"].append(got["plain"][0])
        cpu["plain"].append(got["plain"][2])
        for m in modes:
            rate, f, c, _, sh = got[m]
            rates[m].append(rate)
            cpu[m].append(c)
            fps[m].append(f)
            share[m].append(sh)
            paired[m].append(rate / got["plain"][0])  # neighbours in time share the machine's load
    if worker is not None:
        worker.close()
    med = {k: statistics.median(v) for k, v in rates.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"   training {steps} steps x {rounds} rounds, alternating, each kind first in turn (medians):")
    print(f"     {'plain Trainer (as mlplab train)':44s} {med['plain']:7.1f} steps/s   "
          f"{sorted(round(v) for v in rates['plain'])}")
    for m in modes:
        label = {"worker": "live, frames by a worker process (default)", "inline": "live, frames made inline",
                 "off": "live, no frames but the first and last"}[m]
        print(f"     {label:44s} {med[m]:7.1f} steps/s   {sorted(round(v) for v in rates[m])}")
        print(f"       median of the rounds' ratios live / plain   {statistics.median(paired[m]):7.3f}   "
              f"(target >= 0.95)  {sorted(round(v, 2) for v in paired[m])}")
        print(f"       ratio of the medians                        {med[m] / med['plain']:7.3f}")
        print(f"       training thread's CPU time                  {c[m] / c['plain']:7.3f}   (steps per CPU-second, "
              f"live / plain: {c[m]:.0f} / {c['plain']:.0f})")
        print(f"       frames made per second                      {statistics.median(fps[m]):7.1f}   "
              f"({statistics.median(share[m]):.0%} of them by the worker)")
    made = [s for run in SHARPNESS for s in run]
    if made:
        print(f"   sharpness: {len(made)} measurements over {len(SHARPNESS)} live runs (inline and control runs "
              f"make none), median {statistics.median(s['ms'] for s in made):.0f} ms each in the frame worker")


def blocks(pairs, block_steps, modes):
    """Frames on and off in alternating blocks of one long live run: the cost of the frames alone.

    A run of ``2 * pairs * block_steps`` steps makes frames at 12/s in every other block of
    ``block_steps`` steps and none in the blocks between (the callback's interval is switched at
    each block's first step). Blocks half a second apart share the machine's state far better than
    separate runs seconds apart, so each on-block's time against the mean of its off neighbours
    is a much steadier paired ratio; their median is printed per mode. Blocks holding
    an epoch's end (and so the test set's evaluation) are left out."""
    from mlplab.live import sharpness as sharp
    from mlplab.live.framer import FrameWorker
    from mlplab.live.session import LiveCallback, TrainSession

    every = sharp.EVERY
    for mode in modes:
        worker = None
        sharp.EVERY = 10**12 if mode == "worker-no-sharpness" else every  # (the worker's frames without it)
        if mode.startswith("worker"):
            worker = FrameWorker()
            worker.wait_ready(60)
        marks = []  # (block, perf_counter at its first step, frames made so far)
        original = LiveCallback.on_step_end

        def switched(self, trainer, step, loss, original=original, marks=marks):
            if step % block_steps == 0:
                block = step // block_steps
                marks.append((block, time.perf_counter(), self.s.seq, len(self.s.evals)))
                self.interval = 1 / 12 if block % 2 else 1e9  # odd blocks: frames on
            original(self, trainer, step, loss)

        LiveCallback.on_step_end = switched
        stop = threading.Event()
        try:
            session = TrainSession({**BOOK, "iterations": str(2 * pairs * block_steps + block_steps)}, worker=worker)
            th = threading.Thread(target=_stream, args=(session, stop, []), daemon=True)
            th.start()
            session.start()
            session.thread.join()
            session.close()
        finally:
            stop.set()
            LiveCallback.on_step_end = original
        # a block holding an epoch's end also holds its evaluation of the test set: left out
        times = {b: (t1 - t0, f1 - f0) for (b, t0, f0, e0), (_, t1, f1, e1) in zip(marks, marks[1:]) if e0 == e1}
        ratios = []
        for b in times:
            off = [times[n][0] for n in (b - 1, b + 1) if n in times]
            if b % 2 and off:
                ratios.append(statistics.mean(off) / times[b][0])
        fps = statistics.median(times[b][1] / times[b][0] for b in times if b % 2)
        label = {"worker": "frames by a worker process", "inline": "frames made inline",
                 "worker-no-sharpness": "frames by a worker process, no sharpness"}[mode]
        print(f"   blocks of {block_steps} steps, frames on / off alternating, {len(ratios)} on-blocks, {label}:")
        q = statistics.quantiles(ratios, n=4)
        print(f"     throughput on / off: median {statistics.median(ratios):.3f} (quartiles {q[0]:.3f}-{q[2]:.3f}), "
              f"{fps:.1f} frames/s in the on-blocks")
        if session.sharpness:  # (the worker's; they come with frames, so in the on-blocks only)
            print(f"     sharpness: {len(session.sharpness)} measurements in the frame worker, median "
                  f"{statistics.median(s['ms'] for s in session.sharpness):.0f} ms each")
        if worker is not None:
            worker.close()
    sharp.EVERY = every


def frame_cost(repeats=40):
    """Median time of one frame (probe forward, 19 histograms, statistics, ‖ΔW‖/‖W‖) against one
    training step, measured alternately on the same model: the frames/s the budget (OVERHEAD)
    allows; and the training thread's part of a frame made by the worker (copies into shared
    memory, the request, collecting the answer)."""
    from mlplab.diagnose import statistics as dg
    from mlplab.live.framer import FrameWorker
    from mlplab.live.session import OVERHEAD, TrainSession, update_ratios

    session = TrainSession({**BOOK, "iterations": "20"})
    session.start()
    session.thread.join()
    trainer, X, y = session.trainer, session.X[:128], session.y[:128]
    before = dg.weight_arrays(session.model)
    worker = FrameWorker()
    worker.wait_ready(60)
    worker.attach(session.plan, session.probe, session.sizes, session.settings["activation"])
    frames, steps, ours, theirs = [], [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.frame(trainer, 1.0, update_ratios(session.weights, before))
        t1 = time.perf_counter()
        trainer.train_step(X, y)
        t2 = time.perf_counter()
        frames.append(t1 - t0)
        steps.append(t2 - t1)
        while not worker.idle:
            time.sleep(0.001)
        t0 = time.perf_counter()
        worker.snapshot_before(session.plan)
        worker.request(0, session.plan, True, True)
        t1 = time.perf_counter()
        while not worker.collect():
            time.sleep(0.0002)
        t2 = time.perf_counter()
        worker.collect()
        ours.append(t1 - t0 + time.perf_counter() - t2)
        theirs.append(t2 - t1)
    f, s = statistics.median(frames), statistics.median(steps)
    worker.close()
    session.close()
    print(f"   one frame {f * 1e3:.2f} ms, one training step {s * 1e3:.2f} ms (medians, alternating): at the "
          f"{OVERHEAD:.0%} budget frames inline can come {min(12.0, OVERHEAD / f):.1f} times per second (cap 12)")
    print(f"   a frame by the worker: {statistics.median(ours) * 1e3:.2f} ms of the training thread (copies, request), "
          f"answered {statistics.median(theirs) * 1e3:.2f} ms later")


def browser(threads):
    import signal
    import socket
    import subprocess
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "mlplab", "live", "--no-open", "--port", str(port),
                             "--blas-threads", str(threads)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while not line.startswith("mlplab live: http") and proc.poll() is None:
            line = proc.stdout.readline()  # the URL it prints carries the server's token
        token = line.split()[2].split("?token=")[1]
        for _ in range(300):
            try:
                urllib.request.urlopen(urllib.request.Request(base + "/api/meta",
                                                              headers={"Authorization": f"token {token}"}), timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1500, "height": 1300})
            outside = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
            page.goto(base + f"/?token={token}&autostart=1&" + "&".join(f"{k}={v}" for k, v in BOOK.items())
                      + "&epochs=20")
            page.wait_for_function("window.mlplabLive.frames >= 5", timeout=120_000)
            f0, t0 = page.evaluate("window.mlplabLive.frames"), time.perf_counter()
            page.wait_for_timeout(10_000)
            fps = (page.evaluate("window.mlplabLive.frames") - f0) / (time.perf_counter() - t0)
            print(f"   browser: {fps:.1f} frames/s received while training the book's network on MNIST (target >= 10)")
            sh = page.evaluate("window.mlplabLive.viz.sharpness")
            print(f"   browser: {len(sh)} sharpness measurements drawn by then (steps "
                  f"{', '.join(str(s['step']) for s in sh)}), median "
                  f"{statistics.median([s['ms'] for s in sh]) if sh else float('nan'):.0f} ms each in the frame worker")
            page.close()
            page = b.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(base + f"/?token={token}&view=paths&fn=f2&steps=200")
            page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=30_000)
            box = page.locator("#paths-canvas").bounding_box()
            page.mouse.move(box["x"] + 100, box["y"] + 150)
            page.mouse.down()
            for k in range(150):
                page.mouse.move(box["x"] + 100 + 2.5 * k, box["y"] + 150 + 1.5 * k)
                page.wait_for_timeout(16)  # one move per display frame
            page.mouse.up()
            page.wait_for_timeout(1000)
            lat = sorted(page.evaluate("window.mlplabLive.pathLatencies")[1:])
            server = sorted(page.evaluate("window.mlplabLive.pathServerMs")[1:])
            p95 = lat[int(0.95 * (len(lat) - 1))]
            print(f"   browser: drag -> all 7 optimizers recomputed (200 steps) and redrawn: {len(lat)} redraws, "
                  f"median {statistics.median(lat):.0f} ms, p95 {p95:.0f} ms (target p95 <= 100 ms); of which the "
                  f"server's computation: median {statistics.median(server):.0f} ms, "
                  f"p95 {server[int(0.95 * (len(server) - 1))]:.0f} ms")
            print(f"   requests outside the local server: {len(outside)}")
            b.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)


@contextlib.contextmanager
def _killing(procs):
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1: steadier on a shared machine)")
    ap.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    ap.add_argument("--frames", choices=("worker", "inline", "off", "all"), default="worker",
                    help="where the live runs make their frames (default: a worker process, as mlplab live does "
                         "on two cores or more); off: none but the first and last (a control); all: each round "
                         "runs worker, inline and off")
    ap.add_argument("--blocks", type=int, default=0, metavar="PAIRS",
                    help="also time frames on and off in PAIRS alternating block pairs of one run (--block-steps each)")
    ap.add_argument("--block-steps", type=int, default=100)
    ap.add_argument("--sharpness-ab", action="store_true",
                    help="with --blocks: the worker's blocks run twice, with the sharpness (default) and without, "
                         "each first in turn (the sharpness' cost in throughput and frames per second)")
    ap.add_argument("--competitors", type=int, default=0,
                    help="CPU-bound processes running meanwhile (1 on a 2-core machine: no core left for frames)")
    args = ap.parse_args()
    modes = ["worker", "inline", "off"] if args.frames == "all" else [args.frames]
    import subprocess

    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.competitors)]
    with _killing(burners):  # the competitors run through every part, the browser's included
        with limit_threads(args.threads):
            header(f"mlplab live: the cost of watching ({args.competitors} competing processes)")
            if args.rounds:
                throughput(args.steps, args.rounds, modes)
            if args.blocks:
                bm = [m for m in modes if m != "off"]
                if args.sharpness_ab and "worker" in bm:
                    bm = ["worker", "worker-no-sharpness", "worker-no-sharpness", "worker"] + \
                        [m for m in bm if m != "worker"]
                blocks(args.blocks, args.block_steps, bm)
            frame_cost()
        if args.browser:
            browser(args.threads)
    np.seterr(all="ignore")


if __name__ == "__main__":
    main()
