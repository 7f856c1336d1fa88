"""``plots.save`` draws a figure once: tight_layout leaves a placeholder layout engine on the figure, and savefig
lays out (a whole draw, without the rendering) any figure that has one before it renders: 22 % of the lab's
drawing time went to that second draw. The PNG is the same byte for byte."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mlplab.lab import plots


def _figure():
    fig, axes = plots.subplots(1, 2, size=(4.0, 3.0))
    x = np.linspace(0, 1, 50)
    for k, ax in enumerate(axes[0]):
        ax.plot(x, x ** (k + 1), label="measured")
        ax.plot(x, x ** (k + 1) + 0.1, "--", label="predicted")
        ax.set_yscale("log" if k else "linear")
        ax.set_xlabel("step")
        ax.legend(loc="upper left")  # over the curves: place_legends moves it (a relayout)
    return fig


def test_save_draws_once_and_the_png_is_the_one_drawn_twice(tmp_path, monkeypatch):
    draws = []
    real_draw, real_set = Figure.draw, Figure.set_layout_engine
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: (draws.append(1), real_draw(self, renderer))[1])
    plots.save(_figure(), tmp_path / "once.png", "a title")
    assert len(draws) == 1  # savefig's own rendering, nothing before it

    # as before: the placeholder layout engine tight_layout leaves is kept, and savefig lays the figure out again
    monkeypatch.setattr(Figure, "set_layout_engine",
                        lambda self, layout=None, **kw: None if layout is None else real_set(self, layout, **kw))
    draws.clear()
    plots.save(_figure(), tmp_path / "twice.png", "a title")
    assert len(draws) == 2
    assert (tmp_path / "once.png").read_bytes() == (tmp_path / "twice.png").read_bytes()
