"""What every study is made of, and the runner that writes its results to disk.

A study is one module with a ``STUDY = Study(...)`` made of three functions::

    measure(settings, ctx) -> numbers     # the only part that trains or computes; JSON-able result
    draw(numbers, out_dir) -> [Figure]    # figures, from the numbers alone
    write(numbers) -> str                 # the Markdown section, from the numbers alone

``settings`` is the study's ``quick`` or ``reference`` dict (what the variant changes); ``ctx`` is the
run's :class:`Context`: its seed and the independent random streams derived from it
(``ctx.rng(k) = default_rng([seed, k])``), how many worker processes :func:`parallel_map` may use, and a
progress hook. The runner turns the numbers into JSON *before* drawing and writing (NaN and inf become
the strings "nan"/"inf"), so a figure or a sentence is the same whether it is made right after
``measure`` or later from the saved ``numbers.json`` by ``mlplab report``: :func:`render_study` redraws
a study directory without re-running anything. Drawing code reads arrays with :func:`array`, which
turns those strings back into floats.
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
    directory: Path | None = None  # the study's folder (numbers.json, meta.json, figures), once run

    def _repr_html_(self) -> str:
        """Jupyter's view: the study's section of the report (figures inline)."""
        from ..display import html  # by name, as the core's results: lab.display reads this module

        return html(self)


def default_workers() -> int:
    return os.cpu_count() or 1


Progress = Callable[[int, int], None]  # progress(done, total): units of work (trainings, runs) finished


@dataclass
class Context:
    """What a study's ``measure`` receives besides its settings: the seed and the random streams
    derived from it, how many worker processes independent trainings may use (:func:`parallel_map`),
    and a progress hook the runner listens to (``ctx.plan(total)`` then ``ctx.advance()`` per unit)."""

    seed: int = 0
    workers: int = field(default_factory=default_workers)
    progress: Progress | None = None
    _done: int = 0
    _total: int = 0

    def rng(self, offset: int = 0) -> np.random.Generator:
        """A Generator derived from the run's seed (``offset`` gives independent streams)."""
        return np.random.default_rng([self.seed, offset])

    def plan(self, total: int) -> None:
        """Announce how many units of work ``measure`` will do (may be called again to add more)."""
        self._total = int(total)
        self._emit()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` units of work as finished."""
        self._done += n
        self._emit()

    def _emit(self):
        if self.progress is not None and self._total > 0:
            self.progress(min(self._done, self._total), self._total)


@dataclass
class Study:
    """A study of the lab: its names and sources, its two variants' settings, and its three functions."""

    name: str
    title: str
    description: str  # one line, for `mlplab lab list`
    source: str  # the works it re-creates, in words (titles, chapter, script)
    measure: Callable[[dict, Context], dict]
    draw: Callable[[dict, Path], list[Figure]]
    write: Callable[[dict], str]
    reference: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    claims: tuple[str, ...] = ()  # top-level keys of numbers.json whose tables carry the study's claim
    works: tuple[str, ...] = ()  # keys of mlplab.lab.sources.WORKS (docs/sources.md)
    reproduces: tuple[str, ...] = ()  # the papers' numbers it checks, in words (docs/studies.md lists them)

    def settings(self, quick: bool = False) -> dict:
        return json.loads(json.dumps(self.quick if quick else self.reference))  # a fresh copy


def array(x, dtype=float) -> np.ndarray:
    """A numbers.json list back as an array ("nan"/"inf" strings and None become floats)."""
    if dtype is float:
        return np.array(_unstring(x), dtype=float)
    return np.asarray(x, dtype=dtype)


def _unstring(x):
    if isinstance(x, list):
        return [_unstring(v) for v in x]
    if isinstance(x, str):
        return float(x)
    return np.nan if x is None else x


_SHARED = None  # the data of the parallel_map call in progress, inherited by forked workers


def shared():
    """Inside a :func:`parallel_map` task: the ``shared`` object of the call (e.g. the datasets)."""
    return _SHARED


def _one_blas_thread(parent_pid=None):
    """A pool worker's start: one BLAS thread, and (given ``parent_pid``) killed with the study's process,
    so ``kill -9`` of ``mlplab lab run`` leaves no worker training networks nobody will read."""
    from threadpoolctl import threadpool_limits

    from ..runtime.children import die_with_parent

    if parent_pid is not None:
        die_with_parent(parent_pid)
    threadpool_limits(limits=1, user_api="blas")


def parallel_map(fn, tasks, shared=None, workers=1, on_done: Callable[[], None] | None = None):
    """``[fn(t) for t in tasks]``, run by ``workers`` forked processes when there are several.

    The studies train many independent networks of small matrices; one process cannot keep two
    cores busy with them (BLAS threads do not pay at this size, and Python holds the GIL between
    products), two processes can. Every task seeds itself, so results equal a sequential run, in
    the same order. ``shared`` (the datasets, say) reaches the workers through fork, without
    copying or pickling: tasks read it with :func:`shared`. ``fn`` must be a module-level function.
    Where fork is unavailable (Windows, macOS defaults) or workers <= 1, tasks run here, in order.
    Tasks always run with one BLAS thread, here as in the workers: a product's rounding depends on
    how BLAS splits it, so this keeps the numbers independent of ``workers``. ``on_done()`` is
    called here after each finished task (e.g. :meth:`Context.advance`).
    """
    global _SHARED
    from threadpoolctl import threadpool_limits

    tasks = list(tasks)
    _SHARED = shared
    tick = on_done or (lambda: None)
    try:
        if workers <= 1 or len(tasks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            out = []
            with threadpool_limits(limits=1, user_api="blas"):  # as in the workers: same rounding
                for t in tasks:
                    out.append(fn(t))
                    tick()
            return out
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), initializer=_one_blas_thread,
                                 initargs=(os.getpid(),), mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(fn, t) for t in tasks]
            for _ in as_completed(futures):
                tick()
            return [f.result() for f in futures]
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


def as_json(obj):
    """``obj`` exactly as it reads back from numbers.json (a deep copy made of JSON types)."""
    return json.loads(json.dumps(_jsonable(obj)))


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(obj), indent=2))
    tmp.replace(path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def versions() -> dict:
    import matplotlib

    from .. import __version__

    return {"mlplab": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "matplotlib": matplotlib.__version__}


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have ended and been waited for:
    a study's worker processes are joined when its ``measure`` returns, so the difference around it is the
    study's whole CPU time, which, unlike wall time, another job on the same cores hardly changes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def draw_and_write(study: Study, numbers: dict, out: Path) -> Result:
    """The figures (saved into ``out``) and the section of ``numbers``; section.md is written too."""
    out.mkdir(parents=True, exist_ok=True)
    figures = study.draw(numbers, out)
    markdown = study.write(numbers).strip() + "\n"
    _write_text(out / "section.md", markdown)
    return Result(numbers=numbers, markdown=markdown, figures=figures)


@dataclass
class Measured:
    """A study measured but not yet drawn (:func:`measure_study`): where its numbers.json is, its settings and
    what the measuring cost; ``numbers`` as they read back from numbers.json (None once handed to another
    process, which reads the file)."""

    name: str
    directory: Path
    settings: dict
    quick: bool
    seed: int
    seconds: float  # measure's wall time
    cpu_seconds: float  # measure's CPU time, worker processes included
    numbers: dict | None = None


def run_study(study: Study, out_root: Path, quick: bool = False, seed: int = 0, quiet: bool = True,
              workers: int | None = None, progress: Progress | None = None, extra=(), blas_threads: int = 1) -> Result:
    """Run one study into ``out_root / study.name``: measure, save numbers.json, then draw the
    figures and write section.md from the saved numbers; meta.json records settings, seed,
    versions and run time. ``progress(done, total)`` hears about each finished unit of work. ``extra``: a
    student's optimizers ("hw1:Adam") for optimizers-mnist, recorded in the settings. The two halves are
    :func:`measure_study` and :func:`finish_study` (``mlplab lab run`` of a group draws one study while it
    measures the next). ``blas_threads``: NumPy's BLAS threads while measuring, 1 as ``mlplab lab run``'s
    default (0: the BLAS library's own count): a product's rounding depends on how BLAS splits it, so a notebook
    and the command give the same numbers bit for bit only at the same count (a notebook's kernel has the
    library's count, 2 on a 2-core machine, and the symmetry study's numbers differed in their last digits)."""
    return finish_study(study, measure_study(study, out_root, quick, seed, workers, progress, extra, blas_threads))


def measure_study(study: Study, out_root: Path, quick: bool = False, seed: int = 0, workers: int | None = None,
                  progress: Progress | None = None, extra=(), blas_threads: int = 1) -> Measured:
    """The first half of :func:`run_study`: measure and save numbers.json."""
    import contextlib

    from threadpoolctl import threadpool_limits

    from .. import folderkind

    folderkind.claim(out_root, "lab", "mlplab lab run")  # lab results, marked as such; a run or sweep is refused
    out = Path(out_root) / study.name
    out.mkdir(parents=True, exist_ok=True)
    settings = study.settings(quick)
    if extra:
        settings["extra"] = list(extra)
    ctx = Context(seed=seed, workers=default_workers() if workers is None else max(1, int(workers)),
                  progress=progress)
    t0, c0 = time.perf_counter(), cpu_seconds()
    limit = threadpool_limits(limits=int(blas_threads), user_api="blas") if blas_threads else contextlib.nullcontext()
    with limit:
        numbers = as_json(study.measure(settings, ctx))
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    write_json(out / "numbers.json", numbers)
    return Measured(study.name, out, settings, quick, seed, seconds, cpu, numbers)


def finish_study(study: Study, measured: Measured) -> Result:
    """The second half of :func:`run_study`: the figures and section.md from the numbers, then meta.json
    (settings, seed, versions, the measuring's wall and CPU time, the drawing's seconds)."""
    out = measured.directory
    numbers = measured.numbers
    if numbers is None:  # measured in another process: the numbers as saved
        numbers = json.loads((out / "numbers.json").read_text(encoding="utf-8"))
    t1 = time.perf_counter()
    result = draw_and_write(study, numbers, out)
    result.settings = measured.settings
    result.directory = out
    meta = {"name": study.name, **_names(study), "quick": measured.quick, "seed": measured.seed,
            "seconds": round(measured.seconds, 2), "cpu_seconds": round(measured.cpu_seconds, 2),
            "draw_seconds": round(time.perf_counter() - t1, 2),
            "settings": measured.settings, "figures": [f.__dict__ for f in result.figures],
            "versions": versions(), "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(out / "meta.json", meta)
    return result


def render_study(study: Study, study_dir: Path) -> Result:
    """Redraw every figure and re-write section.md of a study directory from its numbers.json
    (nothing is re-run); meta.json's figure list and the study's names are brought up to date.
    Everything is drawn into a temporary folder first, so a failure leaves the directory as it was."""
    import shutil

    d = Path(study_dir)
    numbers = json.loads((d / "numbers.json").read_text(encoding="utf-8"))
    tmp = d / f".redraw-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        result = draw_and_write(study, numbers, tmp)
        for f in tmp.iterdir():
            f.replace(d / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta_path = d / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {"name": study.name}
    meta.update(_names(study))
    meta["figures"] = [f.__dict__ for f in result.figures]
    write_json(meta_path, meta)
    result.settings = meta.get("settings", {})
    result.directory = d
    return result


def _names(study: Study) -> dict:
    return {"title": study.title, "description": study.description, "source": study.source,
            "claims": list(study.claims)}
