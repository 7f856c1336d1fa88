"""The lab: the source texts' experiments, one command each (``mlplab lab run NAME``).

Each study is a module of this package with a ``STUDY`` object (see :mod:`.base`): its
``measure(settings, ctx) -> numbers`` is the only part that trains, ``draw(numbers, out_dir)`` and
``write(numbers)`` make the figures and the section from the numbers alone. The registry below lists
the modules in report order; adding a study means adding its module name there.
Studies use only the library's public API: the optimizers of
:mod:`mlplab.optim`, the initializers of :mod:`mlplab.init`, :class:`mlplab.nn.MLP`, the one
training loop of :mod:`mlplab.train` and the statistics of :mod:`mlplab.diagnose.statistics`.
"""

from __future__ import annotations

import importlib

from .base import Context, Figure, Result, Study, render_study, run_study

# module names, in the order the report presents them
_MODULES = ["paths", "quadratic", "optimizers_mnist", "optimizers_tuned", "optimizers_choi", "batching",
            "activations", "init_mnist", "depth", "linear_chain", "symmetry", "phase_diagram", "isometry",
            "deep_linear", "width", "trainability", "edge_of_stability"]


# the source texts' own experiments: what `make demo` runs (220 s of studies on a quiet 2-core machine until
# Choi et al.'s protocol, 153 of optimizers-tuned's 237 trials, became the frontier study optimizers-choi on
# 2026-12-06; README, "Measured", gives the figures since). Every other study is "frontier": the
# signal-propagation, curvature and optimizer-comparison papers beyond the source texts, minutes each at
# reference settings.
TEXTBOOK = ("paths", "quadratic", "optimizers-mnist", "optimizers-tuned", "batching", "activations", "init-mnist",
            "depth", "linear-chain", "symmetry")
GROUPS = ("all", "textbook", "frontier")


def group_of(name: str) -> str:
    """"textbook" or "frontier"."""
    return "textbook" if name in TEXTBOOK else "frontier"


def select(name: str) -> list[Study]:
    """The studies a name stands for: a group (all, textbook, frontier), in report order, or one study."""
    key = name.lower().replace("_", "-")
    if key in GROUPS:
        return [s for n, s in studies().items() if key == "all" or group_of(n) == key]
    return [get_study(name)]


def studies() -> dict[str, Study]:
    """name -> Study for every study module that is present."""
    found = {}
    for mod in _MODULES:
        try:
            m = importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{mod}":
                continue  # not written yet
            raise
        found[m.STUDY.name] = m.STUDY
    return found


def get_study(name: str) -> Study:
    all_ = studies()
    key = name.lower().replace("_", "-")
    if key not in all_:
        raise ValueError(f"unknown study {name!r}; valid: {', '.join(all_)} (or a group: {', '.join(GROUPS)})")
    return all_[key]


__all__ = ["Context", "Figure", "Result", "Study", "render_study", "run_study", "studies", "get_study", "select",
           "group_of", "GROUPS", "TEXTBOOK"]
