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
    # save() lays each figure out itself (and leaves no layout engine: set_layout_engine(None) reads these two)
    "figure.autolayout": False, "figure.constrained_layout.use": False,
})


def subplots(nrows=1, ncols=1, size=(4.0, 3.2), **kw):
    """A figure of nrows x ncols panels, each about ``size`` inches."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **kw)
    return fig, axes


MAX_WIDTH_IN = 12.0  # a figure's width: the report shows it ~950 px wide in a 1280 px window, so text stays >= 8 px
MIN_FONT_PT = 8.0  # the smallest text drawn (8 pt at 110 dpi is 12 px, 8.2 px at 12 in shown 950 px wide)
LAYOUT_HOOKS: list = []  # called as hook(fig, path) once the layout is final, before saving (the tests listen)


def save(fig, path: Path, title: str | None = None, rect=None) -> str:
    """Save ``fig`` as PNG (temporary name, then rename) and close it; returns the file name.
    ``rect`` (left, bottom, right, top in figure fractions) keeps room outside the panels, e.g. for a
    legend placed below them with ``fig.legend``. A legend that covers data is moved first
    (:func:`place_legends`); text and width are kept readable at the report's size (:func:`readable`)."""
    if title:
        fig.suptitle(title, fontsize=12, fontweight="bold")
    readable(fig)
    fig.tight_layout(rect=rect)
    for _ in range(2):  # a label wrapped to fit: the layout again, which may move its centre (checked once more)
        if not fit_labels(fig):
            break
        fig.tight_layout(rect=rect)
    below = place_legends(fig)
    if below:  # the figure grows by the legends' height (per row of panels), so the panels keep theirs
        renderer, rows = fig.canvas.get_renderer(), {}
        for ax in below:
            row = round(ax.get_position().y0, 2)
            rows[row] = max(rows.get(row, 0.0), ax.get_legend().get_window_extent(renderer).height / fig.dpi)
        w, h = fig.get_size_inches()
        fig.set_size_inches(w, h + sum(rows.values()))
    for _ in range(2 if below else 0):  # the layout makes room for them, then they follow their axes' labels
        fig.tight_layout(rect=rect)
        for ax in below:
            _anchor_below(ax, fig.canvas.get_renderer())
    for hook in LAYOUT_HOOKS:
        hook(fig, Path(path))
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    # tight_layout leaves a placeholder layout engine behind, and savefig lays out (a whole draw without the
    # rendering: 40 % of a save) before any figure that has one; the layout is final here, so none is left
    fig.set_layout_engine(None)
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


# ------------------------------------------------------------------ legends that hide no data
_INSIDE = ("upper right", "upper left", "lower left", "lower right", "center right", "center left", "upper center",
           "lower center", "center")


def data_points(ax, renderer=None, step: float = 2.0):
    """The drawn data of ``ax`` as points in display pixels, inside the axes: every line sampled every
    ``step`` px along its segments (so a line crossing a legend counts, not only its vertices), scatter
    points, and the top edge and middle of bars. Grid lines, contours, images and filled bands are left out."""
    import numpy as np
    from matplotlib.collections import PathCollection
    from matplotlib.patches import Rectangle

    box = ax.get_window_extent(renderer)
    out = []
    for ln in ax.lines:  # in data coordinates only: not axhline/axvline reference lines across the axes
        if not ln.get_visible() or not ln.get_transform().contains_branch(ax.transData):
            continue
        drawn = ln.get_linestyle() not in ("None", "none", "", " ")
        xy = np.column_stack([ln.get_xdata(orig=False), ln.get_ydata(orig=False)]).astype(float)
        xy = ln.get_transform().transform(xy)
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy) > 1 and drawn:
            seg = np.diff(xy, axis=0)
            n = np.minimum(np.ceil(np.hypot(*seg.T) / step).astype(int), 2000)
            xy = np.concatenate([xy[:-1][i] + seg[i] * np.linspace(0, 1, k, endpoint=False)[:, None]
                                 for i, k in enumerate(n) if k > 0] + [xy[-1:]])
        out.append(xy)
    for c in ax.collections:
        if isinstance(c, PathCollection) and c.get_visible() and len(c.get_offsets()):
            out.append(c.get_offset_transform().transform(np.asarray(c.get_offsets(), dtype=float)))
    for p in ax.patches:
        if isinstance(p, Rectangle) and p.get_visible() and p.get_height() and p.get_width():
            (x0, y0), (x1, y1) = p.get_transform().transform([(0, 0), (1, 1)])  # its unit square, drawn
            # within the axes (a log axis puts a bar's 0 far below it, or at -inf)
            y0, y1 = (float(np.clip(v, box.y0, box.y1)) if np.isfinite(v) else box.y0 for v in (y0, y1))
            top = y1 if abs(y1 - box.y0) > abs(y0 - box.y0) else y0
            out.append(np.column_stack([np.linspace(x0, x1, 5), np.full(5, top)]))  # its top edge, and its body
            k = max(2, min(500, int(abs(y1 - y0) / 4)))
            out.append(np.column_stack([np.full(k, (x0 + x1) / 2), np.linspace(y0, y1, k)]))
    if not out:
        return np.zeros((0, 2))
    pts = np.concatenate(out)
    pts = pts[np.isfinite(pts).all(axis=1)]
    inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
    return pts[inside]


def covered(legend, points, renderer=None, margin: float = 1.0) -> int:
    """How many of ``points`` (display pixels) the legend's box covers."""
    bb = legend.get_window_extent(renderer)
    x, y = points[:, 0], points[:, 1]
    return int(((x > bb.x0 + margin) & (x < bb.x1 - margin) & (y > bb.y0 + margin) & (y < bb.y1 - margin)).sum())


def place_legends(fig) -> list:
    """Move every axes legend that covers drawn data (:func:`data_points`) to the place inside its axes
    where it covers the least, and below the axes if every place inside covers some. matplotlib's
    ``loc="best"`` weighs only line vertices, so a line crossing the legend between two vertices, or a
    legend given a fixed place, could hide data. Returns the axes whose legend went below (relayout)."""
    renderer = fig.canvas.get_renderer()
    moved_out = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None or not leg.get_visible():
            continue
        pts = data_points(ax, renderer)
        if not len(pts) or not covered(leg, pts, renderer):
            continue
        best = min(_INSIDE, key=lambda loc: (_try(leg, loc, pts, renderer), _INSIDE.index(loc)))
        if _try(leg, best, pts, renderer):  # below the axes, under its tick labels and x label
            leg.set_loc("upper center")
            _anchor_below(ax, renderer)
            moved_out.append(ax)
    return moved_out


def _anchor_below(ax, renderer) -> None:
    leg = ax.get_legend()
    leg.set_visible(False)
    below = ax.get_tightbbox(renderer).y0
    leg.set_visible(True)
    box = ax.get_window_extent(renderer)
    leg.set_bbox_to_anchor((0.5, (below - box.y0) / box.height - 4 / box.height), transform=ax.transAxes)


def readable(fig) -> None:
    """The report shows a figure at most ~950 px wide (a 1280 px window beside its table of contents): a
    figure wider than :data:`MAX_WIDTH_IN` is scaled down to it (its text keeps its size), and text
    smaller than :data:`MIN_FONT_PT` is raised to it, so that no text is drawn below ~8 px on screen."""
    from matplotlib.text import Text

    w, h = fig.get_size_inches()
    if w > MAX_WIDTH_IN:
        fig.set_size_inches(MAX_WIDTH_IN, h * max(0.8, MAX_WIDTH_IN / w))
    for t in fig.findobj(Text):
        if t.get_fontsize() < MIN_FONT_PT:
            t.set_fontsize(MIN_FONT_PT)


def fit_labels(fig, margin_px: float = 4.0) -> bool:
    """Wrap, at spaces, every axis label and title (and the figure's title) whose drawn extent runs past the
    figure's edge, into lines that fit; returns whether any was wrapped (the caller lays the figure out
    again). tight_layout cannot help a label wider than the figure: a caption that names its interval in
    full ("95 % Wilson interval of the pooled answers (n = 2: too few seeds for a seed interval)") was cut
    at both edges of the PNG. A label is centred on its axes (the figure's title on the figure), not on the
    figure, so the room it has is twice the distance from that centre to the nearer edge. The words are
    kept, only the line breaks change; text with mathtext (``$...$``) is left as it is (a break inside it
    would not parse). The centre is taken from the axes' box, which the layout has moved, not from the
    label, which follows its axes only when drawn (a draw here would cost as much as the saving)."""
    import textwrap

    renderer = fig.canvas.get_renderer()
    sup = getattr(fig, "_suptitle", None)
    texts = [(sup, None)] if sup is not None else []
    for ax in fig.axes:
        texts += [(ax.title, ax), (ax.xaxis.label, ax), (ax.yaxis.label, ax)]
    wrapped = False
    for t, ax in texts:
        if not t.get_visible() or not t.get_text().strip() or "$" in t.get_text() or t.get_ha() != "center":
            continue
        vertical = abs((t.get_rotation() % 180) - 90) < 1
        limit = fig.bbox.height if vertical else fig.bbox.width
        if ax is None:
            centre = t.get_position()[0] * fig.bbox.width  # the figure's title, at a figure fraction
        else:
            box = ax.get_window_extent(renderer)
            centre = (box.y0 + box.y1) / 2 if vertical else (box.x0 + box.x1) / 2

        def length(t=t, vertical=vertical):
            bb = t.get_window_extent(renderer)  # (its size is right; its place may not be)
            return bb.height if vertical else bb.width

        drawn = length()
        if centre - drawn / 2 >= -0.5 and centre + drawn / 2 <= limit + 0.5:
            continue
        room = 2 * min(centre, limit - centre) - 2 * margin_px
        room = room if room > 0.25 * limit else limit - 2 * margin_px  # (the layout will move it back in)
        lines = t.get_text().split("\n")
        per_px = max(len(line) for line in lines) / max(drawn, 1.0)  # characters per pixel, as drawn
        width = max(int(room * per_px), 10)

        def fill(width, lines=lines):
            return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)
                             for line in lines)

        while True:
            t.set_text(fill(width))
            if length() <= room or width <= 10:
                break
            width -= max(1, width // 20)
        n = fill(width).count("\n")
        while width > 10 and fill(width - 1).count("\n") == n:  # as many lines, of even length
            width -= 1
        t.set_text(fill(width))
        wrapped = True
    return wrapped


def _try(leg, loc, pts, renderer) -> int:
    leg.set_loc(loc)
    return covered(leg, pts, renderer)
