"""Figure helpers shared by the studies: one look, headless rendering, atomic saving.

matplotlib is imported here and only here (and only when a study draws), with the Agg backend,
so the library core never needs it and figures render on machines without a screen.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# One colour per optimizer / initializer, the same in every figure.
COLORS = {
    "sgd": "#d62728", "momentum": "#1f77b4", "nesterov": "#17becf", "adagrad": "#2ca02c",
    "rmsprop": "#9467bd", "adam": "#ff7f0e", "newton": "#000000", "ema_momentum": "#8c564b",
    "unbiased_momentum": "#e377c2",
}

plt.rcParams.update({
    "figure.dpi": 100, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "font.size": 10,
    "axes.titlesize": 11, "legend.fontsize": 9, "legend.framealpha": 0.85,
})


def subplots(nrows=1, ncols=1, size=(4.0, 3.2), **kw):
    """A figure of nrows x ncols panels, each about ``size`` inches."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **kw)
    return fig, axes


def save(fig, path: Path, title: str | None = None, rect=None) -> str:
    """Save ``fig`` as PNG (temporary name, then rename) and close it; returns the file name.
    ``rect`` (left, bottom, right, top in figure fractions) keeps room outside the panels, e.g. for a
    legend placed below them with ``fig.legend``."""
    if title:
        fig.suptitle(title, fontsize=12, fontweight="bold")
    fig.tight_layout(rect=rect)
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path.name


def color(name: str, i: int = 0) -> str:
    return COLORS.get(name.lower(), f"C{i % 10}")


def line(color: str, marker: str = "", label: str = "", ls: str = "-"):
    """A legend entry drawn nowhere (for a legend shared by several panels)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, marker=marker, ls=ls, ms=4, lw=1.2, label=label)
