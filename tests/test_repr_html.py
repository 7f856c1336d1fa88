"""Rich display in Jupyter: History, a study's Result, a Diagnosis and a sweep's summary show themselves
as HTML made by the report's renderer (one renderer), figures inline, under 200 KB each."""

from __future__ import annotations

import base64
import html
import io
import re
import subprocess
import sys

import numpy as np
import pytest

from mlplab.lab import display, get_study, render
from mlplab.nn import MLP
from mlplab.optim import SGD
from mlplab.toydata import load_toy
from mlplab.train import Trainer

LIMIT = 200_000


def images(page: str) -> list[bytes]:
    """The inline PNGs of a page, decoded (each must be a PNG)."""
    out = [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]
    assert all(b[:8] == b"\x89PNG\r\n\x1a\n" for b in out)
    return out


def check_fragment(page: str):
    assert page.startswith('<div class="mlplab-view"><style>') and page.endswith("</div>")
    assert len(page.encode()) < LIMIT
    assert "<body" not in page and "<html" not in page and "<script" not in page  # a fragment, no scripts
    # the CSS is scoped: a notebook's own elements are not restyled
    css = page[page.index("<style>") + 7:page.index("</style>")]
    for rule in re.findall(r"([^{}]+)\{", css):
        assert all(s.strip().startswith("div.mlplab-view") for s in rule.split(",")), rule


def test_history_shows_its_loss_curve_and_evaluations():
    X, y = load_toy("spirals", seed=0, n_train=300)
    model = MLP([2, 16, 3], rng=0)
    h = Trainer(model, SGD(model.parameters(), lr=0.3)).fit(X, y, epochs=3, batch_size=50, rng=0)
    page = h._repr_html_()
    check_fragment(page)
    assert len(images(page)) == 1
    assert page.count("<tr><td>") == 3  # one row per evaluation (epoch)
    assert f"final loss {float(h.loss[-1]):.4g}" in page and f"{h.steps} steps" in page
    for e in h.evals:
        assert f"<td>{e['epoch']}</td><td>{e['step']}</td>" in page


def test_history_of_a_diverged_run_says_so():
    X, y = load_toy("spirals", seed=0, n_train=200)
    model = MLP([2, 16, 3], rng=0)
    h = Trainer(model, SGD(model.parameters(), lr=1e30), on_divergence="stop").fit(X, y, epochs=2, batch_size=50)
    assert h.diverged is not None
    page = h._repr_html_()
    check_fragment(page)
    assert f"diverged at step {h.diverged['step']}" in page


def test_study_result_is_its_report_section(quick_study):
    study = get_study("paths")
    r = quick_study("paths")  # the lab runner's quick run, once per session (tests/lab_quick.py); read only
    assert r.directory.name == "paths" and (r.directory / "meta.json").exists()
    page = r._repr_html_()
    check_fragment(page)
    assert study.title in page and "quick" in page
    shown = images(page)
    left_out = re.search(r"(\d+) figure\(s\) left out", page)
    assert len(shown) + (int(left_out.group(1)) if left_out else 0) == len(r.figures) > 0
    # the report's figures, in order, scaled to at most display.MAX_WIDTH with their aspect ratio kept
    for png, f in zip(shown, r.figures):
        w, h = render.png_size(r.directory / f.file)
        w2, h2 = display.png_size_bytes(png)
        assert w2 == min(w, display.MAX_WIDTH) and abs(h2 - h * w2 / w) <= 1
    assert not left_out  # four figures fit once shrunk


def test_shrink_keeps_a_plot_readable():
    from PIL import Image

    from mlplab.lab.plots import plt

    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    ax.plot(np.linspace(0, 1, 50) ** 2, color="#ff0000", lw=6)
    png = display._png(fig)
    small = display.shrink(png, max_width=300)
    im = np.asarray(Image.open(io.BytesIO(small)).convert("RGB")).astype(int)
    assert im.shape[1] == 300 and len(small) < len(png)
    reds = (im[..., 0] > 200) & (im[..., 1] < 60) & (im[..., 2] < 60)
    assert reds.sum() > 100  # the line is still there, still red


def test_budget_drops_figures_and_names_them(tmp_path):
    big = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 8 + (100).to_bytes(4, "big") * 2 + rng.bytes(120_000))
    sec = render.Section("s", "", "t", blocks=[render.Fig(f"F{i}", f"f{i}.png", "c", big) for i in range(3)])
    assert len(render.fragment_html(sec).encode()) > LIMIT  # the planted problem: three 160 KB images
    page = render.fragment_html(display._within_budget(sec))
    assert len(page.encode()) < LIMIT and len(images(page)) == 1
    assert "2 figure(s) left out" in page and "f1.png, f2.png" in page


def test_diagnosis_uses_the_report_renderer():
    torch = pytest.importorskip("torch")
    from mlplab.diagnose.pytorch import diagnose_torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.Sigmoid(), torch.nn.Linear(30, 30),
                                torch.nn.Sigmoid(), torch.nn.Linear(30, 5))
    with torch.no_grad():
        for m in model:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(8.0)  # saturating sigmoids: an error with sentences to show
    d = diagnose_torch(model, torch.randn(64, 20))
    page = d._repr_html_()
    check_fragment(page)
    assert page.count("<tr><td>") == len(d.layers) == 3
    assert f'<span class="badge">{d.overall}</span>' in page
    assert html.escape(d.summary, quote=False) in page and html.escape(d.recommendation, quote=False) in page
    for lay in d.layers:
        if lay.verdict != "ok":
            assert f"layer {lay.index} ({lay.name})" in page


def test_sweep_summary_shows_figures_and_ranking(tmp_path):
    from mlplab.sweep.executor import InlineExecutor
    from mlplab.sweep.runner import Summary, run_sweep
    from mlplab.sweep.settings import SweepSettings

    s = SweepSettings.from_options(optimizers="sgd,adam", lr_grid=2, seeds=2, stack=False, dataset="spirals",
                                   layers="2,32,2", train_size=300, val_size=100, test_size=200, epochs=5,
                                   batch_size=16)  # a net that learns (a chance-level grid chooses nothing)
    summary = run_sweep(s, tmp_path, InlineExecutor(), log=lambda m: None)
    assert isinstance(summary, Summary) and isinstance(summary, dict)
    page = summary._repr_html_()
    check_fragment(page)
    assert len(images(page)) >= 2
    for row in summary["ranking"]:
        assert row["optimizer"] in page
    assert f"{summary['trials']['total']} trials" in page


def test_importing_the_core_loads_no_presentation():
    code = ("import sys, mlplab.train, mlplab.display, mlplab.sweep.runner, mlplab.diagnose.pytorch; "
            "print(sorted(m for m in ('matplotlib', 'rich', 'mlplab.lab') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_live_notebook_show_without_ipython_says_what_it_needs(monkeypatch):
    """`notebook.show()` run where IPython is missing (a plain script, `make demo`'s venv): an ImportError
    that says what it needs and what to run instead, and no server started for nothing."""
    import builtins

    from mlplab.live import notebook

    real_import = builtins.__import__

    def no_ipython(name, *a, **kw):
        if name.startswith("IPython"):
            raise ModuleNotFoundError("No module named 'IPython'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ipython)
    with pytest.raises(ImportError, match=r"needs IPython .*mlplab\[notebook\].*`mlplab live`"):
        notebook.show()
    assert notebook._SERVER is None
