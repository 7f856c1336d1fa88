"""One run of each lab study's quick variant per test session, shared by every test file that checks it.

The quick variants are the suite's largest cost (`lab run all --quick` is over a minute on 2 cores), and several
files check the same runs: tests/test_lab_redraw.py redraws all of them, tests/test_lab_init.py,
test_lab_optim.py, test_lab_theory.py, test_lab_trainability.py and test_lab_eos.py check each study's claims on
them. Running each once saves a minute and a half of `make test` and checks exactly the same numbers: the runs are
`mlplab lab run --quick` (the lab runner, seed 0, the default workers, one BLAS thread); `parallel_map` makes a
study's numbers independent of its workers, and every study seeds itself from the seed.

The fixture ``quick_study`` is a :class:`QuickLab`: ``quick_study("depth")`` runs that study the first time any
test asks for it (only the studies the selected tests need are run) and returns its :class:`mlplab.lab.Result`;
``quick_study.drawn("depth")`` gives per figure what matplotlib drew it with (axis labels, the most patches of an
axis), recorded through :data:`mlplab.lab.plots.LAYOUT_HOOKS` while the study drew; ``quick_study.everything()``
runs every study and returns the folder holding them. Tests read the folder and never write into it (copy first).

Registered as a pytest plugin in ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

from pathlib import Path

import pytest


class QuickLab:
    """Every study's quick variant, each run at most once, into one lab folder."""

    def __init__(self, root: Path):
        self.root = root
        self._results = {}
        self._drawn = {}

    def __call__(self, name: str):
        """The :class:`mlplab.lab.Result` of study ``name``'s quick variant (seed 0), run on first use."""
        from threadpoolctl import threadpool_limits

        from mlplab.lab import get_study, plots, run_study

        study = get_study(name)
        if study.name not in self._results:
            drawn = {}

            def record(fig, path):
                drawn[Path(path).name] = {"ylabels": [ax.get_ylabel() for ax in fig.axes],
                                          "max_patches": max((len(ax.patches) for ax in fig.axes), default=0)}

            plots.LAYOUT_HOOKS.append(record)
            try:
                with threadpool_limits(limits=1, user_api="blas"):  # as `mlplab lab run`
                    result = run_study(study, self.root, quick=True, seed=0)
            finally:
                plots.LAYOUT_HOOKS.remove(record)
            self._results[study.name], self._drawn[study.name] = result, drawn
        return self._results[study.name]

    def drawn(self, name: str) -> dict:
        """file name -> {"ylabels": [...], "max_patches": n} for each figure of study ``name``, as drawn."""
        from mlplab.lab import get_study

        self(name)
        return self._drawn[get_study(name).name]

    def everything(self) -> Path:
        """The lab folder, once every study's quick variant is in it."""
        from mlplab import lab

        for name in lab.studies():
            self(name)
        return self.root


@pytest.fixture(scope="session")
def quick_study(tmp_path_factory) -> QuickLab:
    return QuickLab(tmp_path_factory.mktemp("quick-lab"))
