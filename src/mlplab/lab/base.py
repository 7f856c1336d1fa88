"""What every study is made of, and the runner that writes its results to disk.

A study is a module with a ``STUDY = Study(...)`` whose ``run(ctx)`` does the experiment with the
library's public API and returns a :class:`Result`: the measured numbers (JSON), the figures it
saved, and a Markdown section that explains the figure and quotes the numbers. The runner gives
each study its own directory and records settings, seed, versions and run time beside them, so
``mlplab report`` can rebuild the report from disk without re-running anything.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Figure:
    file: str  # file name inside the study's directory
    caption: str


@dataclass
class Result:
    numbers: dict
    markdown: str
    figures: list[Figure] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def default_workers() -> int:
    return os.cpu_count() or 1


@dataclass
class Context:
    """What a study's ``run`` receives: where to write, which variant, which seed, and how many
    worker processes independent trainings may use (:func:`parallel_map`)."""

    out: Path
    quick: bool = False
    seed: int = 0
    quiet: bool = True
    workers: int = field(default_factory=default_workers)

    def rng(self, offset: int = 0) -> np.random.Generator:
        """A Generator derived from the run's seed (``offset`` gives independent streams)."""
        return np.random.default_rng([self.seed, offset])

    def path(self, name: str) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        return self.out / name


@dataclass
class Study:
    name: str
    title: str
    description: str  # one line, for `mlplab lab list`
    source: str  # which source text / original it reproduces
    run: Callable[[Context], Result]


_SHARED = None  # the data of the parallel_map call in progress, inherited by forked workers


def shared():
    """Inside a :func:`parallel_map` task: the ``shared`` object of the call (e.g. the datasets)."""
    return _SHARED


def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def parallel_map(fn, tasks, shared=None, workers=1):
    """``[fn(t) for t in tasks]``, run by ``workers`` forked processes when there are several.

    The studies train many independent networks of small matrices; one process cannot keep two
    cores busy with them (BLAS threads do not pay at this size, and Python holds the GIL between
    products), two processes can. Every task seeds itself, so results equal a sequential run, in
    the same order. ``shared`` (the datasets, say) reaches the workers through fork, without
    copying or pickling: tasks read it with :func:`shared`. ``fn`` must be a module-level function.
    Where fork is unavailable (Windows, macOS defaults) or workers <= 1, tasks run here, in order.
    Tasks always run with one BLAS thread, here as in the workers: a product's rounding depends on
    how BLAS splits it, so this keeps the numbers independent of ``workers``.
    """
    global _SHARED
    from threadpoolctl import threadpool_limits

    tasks = list(tasks)
    _SHARED = shared
    try:
        if workers <= 1 or len(tasks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            with threadpool_limits(limits=1, user_api="blas"):  # as in the workers: same rounding
                return [fn(t) for t in tasks]
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), initializer=_one_blas_thread,
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(fn, tasks))
    finally:
        _SHARED = None


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else str(x)  # JSON has no NaN/inf: keep them readable
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(obj), indent=2))
    tmp.replace(path)


def versions() -> dict:
    import matplotlib

    from .. import __version__

    return {"mlplab": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "matplotlib": matplotlib.__version__}


def run_study(study: Study, out_root: Path, quick: bool = False, seed: int = 0, quiet: bool = True,
              workers: int | None = None) -> Result:
    """Run one study into ``out_root / study.name`` and write numbers.json, section.md, meta.json."""
    out = Path(out_root) / study.name
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(out=out, quick=quick, seed=seed, quiet=quiet,
                  workers=default_workers() if workers is None else max(1, int(workers)))
    t0 = time.perf_counter()
    result = study.run(ctx)
    seconds = time.perf_counter() - t0
    write_json(out / "numbers.json", result.numbers)
    (out / "section.md").write_text(result.markdown.strip() + "\n")
    meta = {"name": study.name, "title": study.title, "description": study.description,
            "source": study.source, "quick": quick, "seed": seed, "seconds": round(seconds, 2),
            "settings": result.settings, "figures": [f.__dict__ for f in result.figures],
            "versions": versions(), "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(out / "meta.json", meta)
    return result
