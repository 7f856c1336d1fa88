"""A live run written out: :func:`export_run` copies it to a folder as ``mlplab train --out`` writes one (a
paused run as it stands), and :func:`retrain_command` is the ``mlplab train`` command line that retrains it.
:meth:`mlplab.live.session.TrainSession.export` and ``.command`` call them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from pathlib import Path

from .validate import SettingsError


def _create(path: Path):
    """A new file opened for writing: never an existing one, never through a symbolic link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    return os.fdopen(fd, "wb")


def export_run(session, out, root=None) -> Path:
    """Copy the run (config.json, metrics.jsonl, model.npz, summary.json, its checkpoint) to ``out``,
    with config.json's ``out`` naming it, as ``mlplab train --out out`` writes it.

    A finished or stopped run has all of these (a stopped run is one of ``trainer.step`` steps).
    A paused run is written as it stands: the training thread waits in the pause, so the model
    is saved now (model.npz) with a summary.json of the steps so far; its metrics.jsonl holds the
    lines written so far (the Trainer writes them buffered, so the newest may be missing).

    ``out`` must be new or empty (:func:`mlplab.live.runsdir.check_empty`); with ``root`` (the
    server's runs folder) it must also lie below it once made, links followed. Each file is created
    exclusively, so nothing is written through a link or over a file that appeared meanwhile."""
    import json

    from .runsdir import check_below, check_empty

    if session.status not in ("done", "stopped", "paused") or session.trainer is None:
        raise SettingsError(f"export needs a finished, stopped or paused run (this one is {session.status})")
    paused = session.status == "paused"
    if paused and not session.held.wait(10.0):  # "paused" is said at once; the thread ends its step first
        raise SettingsError("the run has not reached its pause yet: export again in a moment")
    out = Path(out)
    check_empty(out)
    out.mkdir(parents=True, exist_ok=True)
    if root is not None:
        check_below(root, out, str(out))
    check_empty(out)
    config = json.loads((session.run_dir / "config.json").read_text())
    config["out"] = str(out)
    config.update(session.changes.settings())  # the changes made while it trained, at their steps
    skip = {"config.json"} | ({"model.npz", "summary.json"} if paused else set())
    sources = [p for p in sorted(session.run_dir.iterdir()) if p.is_file() and not p.is_symlink()
               and p.name not in skip and not p.name.startswith(".")]
    for src in sources:
        with open(src, "rb") as f, _create(out / src.name) as g:
            shutil.copyfileobj(f, g, 1 << 20)
    if paused:  # the model as it stands (saved beside, then copied in without following links)
        scratch = Path(tempfile.mkdtemp(prefix="mlplab-live-export-"))
        try:
            session.model.save(scratch / "model.npz")
            with open(scratch / "model.npz", "rb") as f, _create(out / "model.npz") as g:
                shutil.copyfileobj(f, g, 1 << 20)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        with _create(out / "summary.json") as g:
            g.write(json.dumps({"steps": session.trainer.step, "paused": True,
                                "final": session.evals[-1] if session.evals else {}}, indent=2, default=float).encode())
    with _create(out / "config.json") as g:
        g.write(json.dumps(config, indent=2, default=float).encode())
    from .. import folderkind

    folderkind.mark(out, "run")  # a run folder, marked as the Trainer marks one (mlplab.folderkind)
    return out


def retrain_command(session, out) -> str:
    """The ``mlplab train`` command line that retrains this run (MNIST-family sets only), into a
    folder beside ``out`` (``out``-again, -again2, ...: never the export itself). A run stopped
    or paused at step k is retrained for k steps (``--iterations k``: the same batches, the same
    k updates; with a schedule, whose shape depends on the run's length, not the same rates)."""
    s = session.settings
    step = session.trainer.step if session.trainer is not None else 0
    cut = session.status in ("stopped", "paused") and 0 < step < session.total
    parts = ["mlplab train", f"--dataset {s['dataset']}", f"--layers {s['layers']}",
             f"--activation {s['activation']}", f"--init {s['init']}", f"--bias-init {s['bias_init']}",
             f"--optimizer {s['optimizer']}", f"--batch-size {s['batch_size']}", f"--seed {s['seed']}",
             f"--iterations {step}" if cut else
             f"--epochs {s['epochs']}" if s["epochs"] else f"--iterations {s['iterations']}",
             f"--dtype {s['dtype']}"]
    threads = session.config().get("blas_threads")
    if threads:  # float32 rounding depends on the BLAS thread count: the same count, the same bits
        parts.append(f"--blas-threads {threads}")
    for key in ("lr", "momentum", "weight_decay", "schedule"):
        if s.get(key):
            parts.append(f"--{key.replace('_', '-')} {s[key]}")
    for name, value in session.changes.settings().items():
        if value:
            parts.append(f"--{name.replace('_', '-')} {value}")
    out = Path(out)
    again = out.with_name(f"{out.name}-again")
    k = 2
    while again.exists():
        again, k = out.with_name(f"{out.name}-again{k}"), k + 1
    return " ".join(parts + [f"--out {shlex.quote(str(again))}"])
