"""Captions stay inside their figure: :func:`mlplab.lab.plots.fit_labels`, run by ``save``, wraps an axis label or
title wider than the figure. The sweep's ranking figure (``draw_sweep``, drawn by the studies optimizers-tuned
and optimizers-choi and by `mlplab sweep report`) with two seeds names its interval in full in the x label,
"... (n = 2: too few seeds for a seed interval)", which ran past both edges of the PNG."""

from __future__ import annotations

import json

import pytest

from mlplab.cli import main
from mlplab.lab import plots

TINY = ["--dataset", "spirals", "--layers", "2,8,2", "--train-size", "300", "--val-split", "100",
        "--test-size", "200", "--batch-size", "32", "--jobs", "1"]


@pytest.fixture
def extents(monkeypatch):
    """Per figure saved, once its layout is final (plots.LAYOUT_HOOKS), through matplotlib's renderer: the
    figure's box, the drawn extent of each axis label and title and of everything drawn (the figure's tight
    box: ticks, annotations, legends too), in display pixels."""
    got = {}

    def record(fig, path):
        fig.draw_without_rendering()  # (an axis label takes its place when drawn: after the layout, it may be stale)
        renderer = fig.canvas.get_renderer()
        labels = [t for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)] + [fig._suptitle]
        got[path.name] = {"fig": (fig.bbox.width, fig.bbox.height), "texts": [
            (t.get_text(), tuple(t.get_window_extent(renderer).extents)) for t in labels
            if t is not None and t.get_visible() and t.get_text().strip()],
            "all": tuple(fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans).extents),
            "xlabels": [ax.get_xlabel() for ax in fig.axes]}

    monkeypatch.setattr(plots, "LAYOUT_HOOKS", [record])
    return got


def _outside(drawn, tol=0.5):
    w, h = drawn["fig"]
    return [(text, box) for text, box in [*drawn["texts"], ("everything drawn", drawn["all"])]
            if box[0] < -tol or box[1] < -tol or box[2] > w + tol or box[3] > h + tol]


def test_the_sweeps_ranking_caption_with_two_seeds_stays_inside_the_figure(tmp_path, capsys, extents):
    from mlplab.lab.optimizers_tuned import draw_sweep

    out = tmp_path / "sw"
    assert main(["sweep", "--optimizers", "sgd,adam", "--lr-grid", "2", "--seeds", "2", "--iterations", "5", *TINY,
                 "--out", str(out)]) == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    figs = draw_sweep(summary, out)
    assert [f for f, _ in figs] == ["lr_sensitivity.png", "tuned_vs_book.png", "ranking.png"]
    label = extents["ranking.png"]["xlabels"][0]
    assert "\n" in label  # wrapped, every word kept in its order
    assert " ".join(label.split()) == ("test accuracy (%) at the tuned setting: mean and 95 % Wilson interval of the "
                                       "pooled answers (n = 2: too few seeds for a seed interval)")
    for name, drawn in extents.items():
        assert len(drawn["texts"]) >= 3 and not _outside(drawn), (name, _outside(drawn))


def test_fit_labels_wraps_only_what_runs_past_the_edge():
    fig, axes = plots.subplots(1, 2, size=(2.0, 2.0))
    long = "a caption that is much wider than this small figure, which it would run past on both sides"
    axes[0, 0].set_xlabel(long)
    axes[0, 0].set_ylabel("short")
    axes[0, 1].set_xlabel(r"$\eta$ " + "x" * 120)  # mathtext: a line break inside would not parse, left as it is
    axes[0, 1].set_title("fits")
    fig.tight_layout()
    assert plots.fit_labels(fig)
    assert axes[0, 0].get_ylabel() == "short" and axes[0, 1].get_title() == "fits"
    assert axes[0, 1].get_xlabel() == r"$\eta$ " + "x" * 120
    wrapped = axes[0, 0].get_xlabel()
    assert wrapped.count("\n") >= 2 and " ".join(wrapped.split()) == long
    box = axes[0, 0].xaxis.label.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    assert not plots.fit_labels(fig)  # nothing left to wrap
    import matplotlib.pyplot as plt

    plt.close(fig)
