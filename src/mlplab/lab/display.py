"""Rich display in Jupyter: a training History, a study's Result, a PyTorch Diagnosis and a sweep's
summary, each as one section of the report's content model rendered by the report's own renderer
(:func:`mlplab.lab.render.fragment_html`), figures inline as PNG ``data:`` URIs.

The objects live in the core (:mod:`mlplab.train`, :mod:`mlplab.diagnose.pytorch`, :mod:`mlplab.sweep`),
which neither draws nor imports the lab; their ``_repr_html_`` asks :func:`mlplab.display.html`, which
finds :func:`html` here by name only when a notebook asks for HTML. What a section holds is decided
here once; how it looks is decided by :mod:`.render` for the report and the notebook alike.

Size: a fragment stays under :data:`MAX_BYTES` (200 KB). The report's PNGs are drawn for print (100-250 KB
each), so a cell shows them scaled to at most :data:`MAX_WIDTH` pixels and reduced to a 64-colour palette
(:func:`shrink`: flat-coloured plots lose nothing visible); if a study's figures still do not fit, the last
ones are left out with a note naming their files.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np

from .render import Fig, Heading, Note, Prose, Section, Table, fragment_html, png_size

MAX_BYTES = 200_000
MAX_WIDTH = 640
DPI = 72


def shrink(png: bytes, max_width: int = MAX_WIDTH) -> bytes:
    """``png`` at most ``max_width`` pixels wide, as a palette PNG (64 colours)."""
    from PIL import Image

    im = Image.open(io.BytesIO(png))
    im.load()
    if im.width > max_width:
        im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
    im = im.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    im.save(out, format="PNG", optimize=True)
    return out.getvalue() if len(out.getvalue()) < len(png) else png


def _png(fig) -> bytes:
    from .plots import plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _g(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.4g}"
    return str(x)


# ------------------------------------------------------------------------------ training history
def history_section(h) -> Section:
    """The loss per step (and the evaluations) of a :class:`mlplab.train.History`."""
    from .plots import subplots

    blocks: list = []
    loss = np.asarray(h.loss, dtype=float)
    meta = [f"{h.steps} steps", f"{h.seconds:.2f} s"]
    if h.diverged:
        blocks.append(Note(f"diverged at step {h.diverged.get('step')}: {h.diverged.get('message', '')}"))
    if h.interrupted:
        blocks.append(Note("interrupted before the end"))
    if loss.size:
        fig, axes = subplots(1, 2 if h.evals else 1, size=(8.0 if h.evals else 4.5, 3.0))
        ax = axes[0, 0]
        ax.plot(np.arange(1, loss.size + 1), loss, lw=0.8, color="#2f5fb3")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        if np.all(loss[np.isfinite(loss)] > 0):
            ax.set_yscale("log")
        if h.evals:
            ax2 = axes[0, 1]
            x = [e.get("step", i) for i, e in enumerate(h.evals)]
            for key in ("train_acc", "test_acc", "val_acc", "accuracy"):
                ys = [e.get(key) for e in h.evals]
                if any(y is not None for y in ys):
                    ax2.plot(x, [np.nan if y is None else y for y in ys], "o-", ms=3, label=key)
            ax2.set_xlabel("step")
            ax2.set_ylabel("accuracy")
            if ax2.lines:
                ax2.legend(fontsize=8)
        png = _png(fig)
        size = png_size_bytes(png)
        blocks.append(Fig("Figure", "", "training loss per step" + (" and accuracy at each evaluation"
                                                                   if h.evals else ""), None,
                          wide=bool(size and size[0] >= 2 * size[1]), png=png))
    if h.evals:
        keys = list(dict.fromkeys(k for e in h.evals for k in e))
        rows = [[_g(e.get(k)) for k in keys] for e in h.evals[-20:]]
        blocks.append(Table("evaluations" + (f" (the last 20 of {len(h.evals)})" if len(h.evals) > 20 else ""),
                            keys, rows))
    if loss.size:
        meta.append(f"final loss {_g(loss[-1])}")
    return Section("history", "", "Training history", meta=meta, blocks=blocks)


def png_size_bytes(png: bytes):
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


# ------------------------------------------------------------------------------ a study's result
def result_section(result) -> Section:
    """A :class:`mlplab.lab.Result` run into a folder: the report's own section of that study."""
    from .report import _section, load_study

    if result.directory is None:
        return Section("study", "", "Study result", blocks=[Prose(result.markdown)])
    s = load_study(result.directory)
    sec = _section(1, s, s.name)
    sec.number = ""
    for b in sec.blocks:
        if isinstance(b, Fig) and b.path is not None and b.png is None:
            b.png = shrink(b.path.read_bytes())
    return _within_budget(sec)


def _within_budget(sec: Section) -> Section:
    """Drop figures (last first) until the fragment fits :data:`MAX_BYTES`; say which were left out."""
    dropped = []
    while len(fragment_html(sec).encode()) > MAX_BYTES:
        figs = [b for b in sec.blocks if isinstance(b, Fig)]
        if not figs:
            break
        sec.blocks.remove(figs[-1])
        dropped.append(figs[-1].file)
    if dropped:
        sec.blocks.insert(0, Note(f"{len(dropped)} figure(s) left out to keep this view under "
                                  f"{MAX_BYTES // 1000} KB: {', '.join(reversed(dropped))} (in the study folder)"))
    return sec


# ------------------------------------------------------------------------------ diagnosis of a torch model
def diagnosis_section(d) -> Section:
    from ..diagnose.pytorch import _COLUMNS, _cells

    blocks: list = [Prose(d.summary),
                    Table("measured (theory)", list(_COLUMNS), _cells(d))]
    notes = [f"not analysed: {s['what']} in {s['where']}" for s in d.not_analysed] + list(d.notes)
    notes += [f"layer {lay.index} ({lay.name}): {lay.sentence}" for lay in d.layers if lay.verdict != "ok"]
    if notes:
        blocks.append(Prose("\n".join(f"- {n}" for n in notes)))
    blocks.append(Prose(f"**Recommendation:** {d.recommendation}"))
    return Section("diagnosis", "", "Diagnosis of a PyTorch model", badge=d.overall, blocks=blocks)


# ------------------------------------------------------------------------------ a sweep's summary
def sweep_section(summary: dict) -> Section:
    """The figures and section of :mod:`.optimizers_tuned` for any sweep's summary."""
    from .optimizers_tuned import draw_sweep, write_sweep

    blocks: list = [Note(w) for w in summary.get("warnings", [])]
    with tempfile.TemporaryDirectory() as d:
        for j, (f, cap) in enumerate(draw_sweep(summary, Path(d)), 1):
            p = Path(d) / f
            size = png_size(p)
            blocks.append(Fig(f"Figure {j}", f, cap, None, wide=bool(size and size[0] >= 2 * size[1]),
                              png=shrink(p.read_bytes())))
    blocks += [Heading("What it shows"), Prose(write_sweep(summary))]
    t = summary.get("trials", {})
    meta = [f"metric: {summary.get('metric')}", f"{t.get('total', '—')} trials",
            f"{t.get('diverged', 0)} diverged"]
    return _within_budget(Section("sweep", "", "Sweep summary", meta=meta, blocks=blocks))


def html(obj) -> str:
    """The HTML fragment of a History, Result, Diagnosis or sweep summary."""
    from ..diagnose.pytorch import Diagnosis
    from ..train import History
    from .base import Result

    if isinstance(obj, History):
        sec = history_section(obj)
    elif isinstance(obj, Result):
        sec = result_section(obj)
    elif isinstance(obj, Diagnosis):
        sec = diagnosis_section(obj)
    elif isinstance(obj, dict) and "optimizers" in obj and "metric" in obj:
        sec = sweep_section(obj)
    else:
        raise TypeError(f"no HTML view for {type(obj).__name__}")
    return fragment_html(sec, Path.cwd())  # a figure's file is linked relative to the notebook's folder


__all__ = ["html", "history_section", "result_section", "diagnosis_section", "sweep_section"]
