"""The watch worker's CPU a frame, this checkout's code against an older commit's, on the same frame, alternately.

A change to the frame worker (``mlplab.watch.stats``, ``bins``, ``record``) saves a few per cent of a 2-3 ms frame,
less than the drift of a shared machine's load between two runs. So both versions make the same real frame in one
process, one after the other in alternating order, and the median of the per-pair ratios new/old is the change:

    python benchmarks/watch_frame_ab.py --ref da6d1b2 [--frames 300] [--repeats 3] [--models mlp,cnn]
    python benchmarks/watch_frame_ab.py --without weights,activations,bins,verdicts,json
    python benchmarks/watch_frame_ab.py --variant sample=4096,rows=64,sample=4096+rows=64

``--variant NAME=VALUE``: what a product decision would save, the frame with it against the frame as it is (both this
checkout's code, the same alternation; not shipped settings): ``sample=N`` bins N values of an array instead of
``stats.SAMPLE``, ``rows=N`` gives the frame the first N captured rows of z, ∂L/∂z (watch's ``sample=`` capturing
fewer examples); ``+`` joins the settings of one variant.

``--without PART``: what a part of the frame costs in the frame, as the frame without it against the whole frame (both
this checkout's code, the same alternation): ``weights`` (W, W_before and ∂L/∂W: their histograms and norms),
``activations`` (z, φ(z) and ∂L/∂z), ``bins`` (the counts of every histogram, ``bin_all``), ``verdicts``, ``json``
(the line written). 1 − the ratio is the part's share: a part alone, timed apart, runs with its data in the cache.

The frame: the arrays the worker gets for the 784-100×4-10 MLP and the small CNN of ``watch_overhead.py`` after 50
steps of its loop (captured from the shared buffer as ``watch_overhead.worker_parts`` does). The older code is
``git archive REF src/mlplab`` unpacked in a temporary folder as the package ``mlplab_ref`` (its imports are
relative, so it runs as it was). CPU time of this thread (``time.thread_time``), one BLAS thread, NumPy's
floating-point errors ignored, as in the worker; the frame's line written to /dev/null.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import ROOT, header, ref_package  # noqa: E402


def _capture(torch, kind):
    """(meta, info, arrays) of a real frame of ``kind`` at step 50."""
    from watch_overhead import _data, _models, capture_frame

    X, y = _data(torch, kind, n=12800)
    torch.manual_seed(0)
    return capture_frame(torch, _models(torch)[kind](), X, y, every=25, steps=60)


def _recorder(pkg, meta, arrays):
    worker = importlib.import_module(pkg + ".watch.worker")
    record = importlib.import_module(pkg + ".watch.record")
    stats = importlib.import_module(pkg + ".watch.stats")
    stats.QUIET = True
    rec = worker._Recorder.__new__(worker._Recorder)
    rec.meta, rec.views, rec.frames, rec.verdicts = meta, [arrays], 0, None
    rec.out = record.LineWriter(os.devnull)
    return rec


def _working_package(into: str) -> str:
    import shutil

    shutil.copytree(os.path.join(ROOT, "src", "mlplab"), os.path.join(into, "mlplab_part"))
    if into not in sys.path:
        sys.path.insert(0, into)
    return "mlplab_part"


PARTS = ("weights", "activations", "bins", "verdicts", "json")


def _leave_out(rec, pkg: str, part: str) -> None:
    """Make ``rec`` (a recorder of package ``pkg``, a copy of this checkout's) skip ``part`` of every frame."""
    stats = importlib.import_module(pkg + ".watch.stats")
    if part in ("weights", "activations"):
        real = stats.layer_row

        def row(info, z, zn, gz, w, before, gw, in_std, pending=None):
            if part == "weights":
                w = before = gw = None
            else:
                z = zn = gz = None
            return real(info, z, zn, gz, w, before, gw, in_std, pending)

        stats.layer_row = row
    elif part == "bins":
        def no_counts(pending):
            for h, _s, bins in pending:
                h["counts"] = [0] * bins
            pending.clear()

        stats.bin_all = no_counts
    elif part == "verdicts":
        stats.judge = lambda rows, *a, **k: [{"verdict": "ok", "level": 0, "reason": ""} for _ in rows]
    elif part == "json":
        rec.out.write = lambda obj: None


def _with_sample(stats, cap: int) -> None:
    """The copy's histograms bin ``cap`` values (their default argument, bound when the module was made)."""
    for f in (stats.histogram, stats._histogram, stats._weights):
        names = f.__code__.co_varnames[:f.__code__.co_argcount]
        f.__defaults__ = tuple(cap if n == "cap" else d
                               for n, d in zip(names[len(names) - len(f.__defaults__):], f.__defaults__))


def _first_rows(rec, rows: int) -> None:
    """``rec`` gets the first ``rows`` captured rows of z, its norm's output and ∂L/∂z of every layer."""
    take = rec.take

    def first(info):
        return [{k: (v[:rows] if k in ("z", "zn", "gz") else v) for k, v in layer.items()} for layer in take(info)]

    rec.take = first


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", help="the older commit (or branch) to compare with")
    ap.add_argument("--without", help=f"parts of the frame to leave out, one at a time ({', '.join(PARTS)})")
    ap.add_argument("--variant", help="product decisions to measure, one at a time: sample=N, rows=N")
    ap.add_argument("--frames", type=int, default=300, help="frames per version and repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="mlp,cnn")
    args = ap.parse_args()
    parts = [p for p in (args.without or "").split(",") if p]
    variants = [[s.split("=", 1) for s in v.split("+")] for v in (args.variant or "").split(",") if v]
    if (bool(args.ref) + bool(parts) + bool(variants) != 1 or any(p not in PARTS for p in parts)
            or any(len(s) != 2 or s[0] not in ("sample", "rows") or not s[1].isdigit() or int(s[1]) < 1
                   for v in variants for s in v)):
        ap.error(f"give one of --ref COMMIT, --without PARTS (of {', '.join(PARTS)}), --variant sample=N,rows=N "
                 "(settings of one variant joined by +)")
    if variants:
        parts = [("variant", {name: int(value) for name, value in v}) for v in variants]
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(2)
    header(f"mlplab.watch: the worker's frame, this checkout against {args.ref}" if args.ref else
           f"mlplab.watch: the worker's frame with {args.variant}, one at a time, against the frame as it is"
           if variants else
           f"mlplab.watch: the worker's frame without each of {', '.join(parts)}, against the whole frame")
    np.seterr(all="ignore")
    with tempfile.TemporaryDirectory() as d:
        other = ref_package(args.ref, d) if args.ref else _working_package(d)
        for kind in args.models.split(","):
            meta, info, arrays = _capture(torch, kind)
            print(f"-- {kind}: {len(meta['layers'])} layers")
            for part in parts or [None]:
                if part is None:
                    recs = [_recorder(other, meta, arrays), _recorder("mlplab", meta, arrays)]
                    names = (args.ref, "this checkout")
                elif isinstance(part, tuple):
                    settings = part[1]
                    stats = importlib.reload(importlib.import_module(other + ".watch.stats"))
                    if "sample" in settings:
                        _with_sample(stats, settings["sample"])
                    recs = [_recorder("mlplab", meta, arrays), _recorder(other, meta, arrays)]
                    names = ("as it is", "+".join(f"{k}={v}" for k, v in settings.items()))
                    if "rows" in settings:
                        _first_rows(recs[1], settings["rows"])
                else:
                    importlib.reload(importlib.import_module(other + ".watch.stats"))  # (the last part back in)
                    recs = [_recorder("mlplab", meta, arrays), _recorder(other, meta, arrays)]
                    _leave_out(recs[1], other, part)
                    names = ("the whole frame", f"without {part}")
                _pairs(recs, names, info, args, np, threadpool_limits)


def _pairs(recs, names, info, args, np, threadpool_limits):
    """The two recorders' frames alternately, ``args.repeats`` times ``args.frames`` pairs: medians and ratios."""
    with threadpool_limits(1):
        for _ in range(args.repeats):
            ts = [[], []]
            for i in range(args.frames):
                for j in ((0, 1) if i % 2 else (1, 0)):
                    c = time.thread_time_ns()
                    recs[j].frame(info, recs[j].take(info))
                    ts[j].append(time.thread_time_ns() - c)
            old, new = (np.array(t) / 1e6 for t in ts)
            print(f"   {names[0]}: median {np.median(old):.2f} ms (minimum {old.min():.2f}); {names[1]}: "
                  f"median {np.median(new):.2f} ms (minimum {new.min():.2f}); new/old, median of "
                  f"{args.frames} pairs: {np.median(new / old):.3f}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
