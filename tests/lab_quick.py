"""One run of each lab study's quick variant per test session, shared by every test that checks it.

The quick variants are the suite's largest cost, and each ran three times: tests/test_lab_redraw.py ran all of them
(`lab run all --quick` is over a minute on 2 cores), tests/test_lab_init.py, test_lab_optim.py, test_lab_theory.py,
test_lab_trainability.py and test_lab_eos.py ran each again to check its claims, and tests/test_notebooks.py ran
each again in its notebook. Now each runs once, in its notebook (notebooks/NAME.py, a fresh kernel): the study's
cell is `run_study(study, out, quick=True, seed=0, workers=2)`, the lab runner's quick run, and the test sets the
notebook's parameter ``out`` to this session's lab folder, so the same run is the notebook test's run and the
claims' tests' numbers. Nothing is checked less: the notebook still runs top to bottom and asserts on its numbers,
and the claims' tests read the numbers, figures and section that run wrote (`parallel_map` makes a study's
numbers independent of its workers; every study seeds itself from the seed). A study without a notebook
(optimizers-tuned), or a session without the notebook packages, runs in this process as `mlplab lab run --quick`
does (the lab runner, seed 0, one BLAS thread).

The fixture ``quick_study`` is a :class:`QuickLab`: ``quick_study("depth")`` runs that study the first time any
test asks for it (only the studies the selected tests need run) and returns its :class:`mlplab.lab.Result`;
``quick_study.notebook(path)`` runs a notebook (a study's notebook once per session, into the lab folder);
``quick_study.drawn("depth")`` gives per figure what matplotlib drew it with (axis labels, the most patches of an
axis, width, smallest font, what its legends cover), recorded through :data:`mlplab.lab.plots.LAYOUT_HOOKS` while
the study's figures are drawn; if the kernel drew them, while ``quick_study.redrawn("depth")`` brings them back from
numbers.json alone in a copy (once per session: the report's redraw that tests/test_lab_redraw.py checks byte for
byte, so no study is drawn a third time; in a session that runs that check, each study's redraw starts as soon as the
study has run, in a spawned drawing process, and so draws on the second core while the tests go on);
``quick_study.everything()`` runs every study and returns the folder holding them. Tests read the folders and never
write into them (copy first).

Registered as a pytest plugin in ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
# the notebooks that train on MNIST: their kernel is told where the verified files are (MLPLAB_DATA)
MNIST = {"optimizers_mnist", "init_mnist", "depth", "symmetry", "edge_of_stability", "watch"}


def runner():
    """scripts/run_notebooks.py as a module."""
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def recording(fn):
    """``fn()``, while every figure saved (in this process) is recorded: (its result, file name -> what was
    drawn: its axes' y labels, the most patches of an axis, its width, its smallest font, and per visible axes
    legend (axes index, data points it covers, data points))."""
    from matplotlib.text import Text

    from mlplab.lab import plots

    drawn = {}

    def record(fig, path):
        renderer = fig.canvas.get_renderer()
        fonts = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        legends = []
        for i, ax in enumerate(fig.axes):
            leg = ax.get_legend()
            if leg is not None and leg.get_visible():
                pts = plots.data_points(ax, renderer)
                legends.append((i, plots.covered(leg, pts, renderer), len(pts)))
        drawn[Path(path).name] = {"ylabels": [ax.get_ylabel() for ax in fig.axes],
                                  "max_patches": max((len(ax.patches) for ax in fig.axes), default=0),
                                  "width_in": float(fig.get_size_inches()[0]),
                                  "min_font_pt": min(fonts), "legends": legends}

    plots.LAYOUT_HOOKS.append(record)
    try:
        return fn(), drawn
    finally:
        plots.LAYOUT_HOOKS.remove(record)



def _redraw(copy: str):
    """In another process (:class:`QuickLab`'s drawing process): the report's redraw of the study folder ``copy``
    from its numbers.json, recorded: (the problem it reports, or None; file name -> what was drawn)."""
    from mlplab.lab import report

    return recording(lambda: report.redraw(Path(copy)))


def _can_run_notebooks() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("nbclient", "jupytext", "ipykernel"))


class QuickLab:
    """Every study's quick variant, each run at most once, into one lab folder."""

    def __init__(self, root: Path):
        self.root = root
        self._results = {}
        self._drawn = {}
        self._redrawn = {}  # study -> (its copy redrawn from numbers.json, file name -> what was drawn)
        self._pending = {}  # study -> its redraw, running in the drawing process
        self._pool = None  # the drawing process (see :meth:`redraw_soon`)
        self.redraw_early = False  # set when the session's tests will ask for every study's redraw
        self._notebooks = {}  # stem -> the executed notebook, or the error it raised

    # ------------------------------------------------------------------------------- notebooks
    def notebook(self, path: Path, timeout: int = 300):
        """Run notebook ``path`` in a fresh kernel and return it executed (its error raised). A study's notebook
        runs once per session, with ``out`` set to the lab folder; any other notebook runs as written."""
        from mlplab import lab

        stem = Path(path).stem
        study = stem.replace("_", "-")
        is_study = study in lab.studies()
        if is_study and stem in self._notebooks:
            got = self._notebooks[stem]
            if isinstance(got, BaseException):
                raise got
            return got
        old = os.environ.get("MLPLAB_DATA")
        if stem in MNIST:
            from mlplab.data import fetch  # as the fixture mnist_dir: the verified files, fetched once

            os.environ["MLPLAB_DATA"] = str(Path(fetch("mnist")).parent)  # the kernel inherits where it is
        try:
            nb = runner().run_notebook(Path(path), timeout=timeout,
                                       parameters={"out": str(self.root)} if is_study else None)
        except Exception as e:
            if is_study:
                self._notebooks[stem] = e
            raise
        finally:
            if stem in MNIST:
                if old is None:
                    os.environ.pop("MLPLAB_DATA", None)
                else:
                    os.environ["MLPLAB_DATA"] = old
        if is_study:
            self._notebooks[stem] = nb
        return nb

    # ------------------------------------------------------------------------------- studies
    def __call__(self, name: str):
        """The :class:`mlplab.lab.Result` of study ``name``'s quick variant (seed 0), run on first use."""
        from mlplab.lab import get_study

        study = get_study(name)
        if study.name not in self._results:
            path = NOTEBOOKS / (study.name.replace("-", "_") + ".py")
            result = None
            if path.exists() and _can_run_notebooks():
                try:
                    self.notebook(path)
                    ran = True
                except Exception:  # noqa: BLE001 (test_notebook_runs reports it; the run may have finished)
                    ran = False
                result = self._load(study.name)
                assert result is not None or not ran, f"{path.name} ran but wrote no study into its `out`"
            if result is None:
                result = self._run_here(study)
            self._results[study.name] = result
            if self.redraw_early:
                self.redraw_soon(study.name)
        return self._results[study.name]

    def _load(self, name: str):
        """The Result the lab runner wrote into the lab folder (None if it did not finish: no meta.json)."""
        from mlplab.lab.base import Figure, Result

        d = self.root / name
        if not (d / "meta.json").exists():
            return None
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        assert meta["quick"] is True and meta["seed"] == 0, meta
        return Result(numbers=json.loads((d / "numbers.json").read_text(encoding="utf-8")),
                      markdown=(d / "section.md").read_text(encoding="utf-8"),
                      figures=[Figure(**f) for f in meta["figures"]], settings=meta["settings"], directory=d)

    def _run_here(self, study):
        from threadpoolctl import threadpool_limits

        from mlplab.lab import run_study

        def run():
            with threadpool_limits(limits=1, user_api="blas"):  # as `mlplab lab run`
                return run_study(study, self.root, quick=True, seed=0)

        result, self._drawn[study.name] = recording(run)
        return result

    def drawn(self, name: str) -> dict:
        """file name -> what was drawn (:func:`recording`) for each figure of study ``name``: recorded as it was
        drawn if it was drawn in this process, else as :meth:`redrawn` drew it here."""
        from mlplab.lab import get_study

        study = get_study(name)
        self(name)
        if study.name not in self._drawn:  # drawn in the notebook's kernel
            return self.redrawn(study.name)[1]
        return self._drawn[study.name]

    @property
    def redrawn_root(self) -> Path:
        """The lab folder of :meth:`redrawn`'s copies."""
        return self.root.parent / f"{self.root.name}-redrawn"

    def redrawn(self, name: str) -> tuple[Path, dict]:
        """Study ``name``'s folder copied without its figures and section.md, both brought back from numbers.json
        alone by the report's redraw (:func:`mlplab.lab.report.redraw`, what ``build_report`` does for each study),
        in this process, once per session: (the copy, file name -> what was drawn). tests/test_lab_redraw.py
        compares the copies with the originals byte for byte; :meth:`drawn` reads what was drawn."""
        from mlplab.lab import get_study, report

        study = get_study(name)
        if study.name not in self._redrawn:
            if study.name in self._pending:
                copy = self.redrawn_root / study.name
                problem, drawn = self._pending.pop(study.name).result()
            else:
                copy = self._stripped_copy(study.name)
                problem, drawn = recording(lambda: report.redraw(copy))
            assert problem is None, problem
            self._redrawn[study.name] = (copy, drawn)
        return self._redrawn[study.name]

    def _stripped_copy(self, name: str) -> Path:
        copy = self.redrawn_root / name
        shutil.copytree(self(name).directory, copy)
        for p in [*copy.glob("*.png"), copy / "section.md"]:
            p.unlink()
        return copy

    def redraw_soon(self, name: str) -> None:
        """Start :meth:`redrawn`'s redraw of study ``name`` in the drawing process: one fresh interpreter (spawned,
        so no state of this one reaches it) that draws one study after another on the second core while the tests
        go on here; :meth:`redrawn` waits for it. The same redraw, in a process of its own."""
        if name in self._redrawn or name in self._pending:
            return
        if self._pool is None:
            import concurrent.futures
            import multiprocessing

            self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self._pending[name] = self._pool.submit(_redraw, str(self._stripped_copy(name)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def everything(self) -> Path:
        """The lab folder, once every study's quick variant is in it."""
        from mlplab import lab

        for name in lab.studies():
            self(name)
        return self.root


@pytest.fixture(scope="session")
def quick_study(tmp_path_factory, request):
    lab = QuickLab(tmp_path_factory.mktemp("quick-lab"))
    # a session that redraws every study (tests/test_lab_redraw.py) starts each redraw as soon as its study has run
    lab.redraw_early = any("redrawn" in getattr(item, "fixturenames", ()) for item in request.session.items)
    yield lab
    lab.close()
