"""The lab report: Markdown subset, number tables, HTML/Markdown pages, the CLI, and a real browser.

The browser test renders the report in headless Chromium (Debian's ``chromium``, installed by
``make system-deps``), checks with an injected script that every image decoded and every table of
contents link resolves, and saves a screenshot (to ``$MLPLAB_ARTIFACTS`` if set, else tmp).
"""

from __future__ import annotations

import html
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from mlplab.lab import report
from mlplab.lab.base import write_json

CHROMIUM = "/usr/bin/chromium"


# ------------------------------------------------------------------------------------ fixtures
def _png(path: Path, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.plot(np.cumsum(rng.normal(size=50)), label="a walk")
    ax.set_title(f"synthetic figure {seed}")
    ax.legend()
    fig.savefig(path, dpi=60)
    plt.close(fig)


SECTION = """The variance of each layer follows **Var z = n σ² E[φ(z)²]**: with `std=0.01` it shrinks
by 0.0128 per layer, so after *five* layers nothing is left (see [the paper](https://example.org/he)).

| init | std after 5 layers | verdict |
|---|--:|:-:|
| He | 0.82 | healthy |
| `std=0.01` | 1.2e-7 | vanishing |

- a bullet with <script>alert("x")</script> in it
- a second bullet, with `a | b` code

1. numbered one
2. numbered two
"""


def _study(root: Path, name: str, title: str, n_figs: int = 2, quick: bool = True, numbers=None,
           section: str = SECTION, seconds: float = 1.5) -> Path:
    d = root / name
    d.mkdir(parents=True)
    figs = []
    for i in range(n_figs):
        _png(d / f"fig{i}.png", i + len(name))
        figs.append({"file": f"fig{i}.png", "caption": f"Figure {i} of {title}: the `act_std` per layer."})
    numbers = numbers if numbers is not None else {
        "final_loss": 0.123456789, "accuracy": 0.9731, "diverged": False, "note": "nan",
        "curve": list(np.linspace(1.0, 0.1, 200)),
        "per_init": {"he": {"std": 0.82, "loss": 0.3}, "xavier": {"std": 0.41, "loss": 0.35},
                     "std=0.01": {"std": 1.2e-7, "loss": 2.302}},
        "matrix": np.arange(12.0).reshape(3, 4).tolist(),
        "layers": [{"layer": i, "act_std": 0.5 / (i + 1)} for i in range(3)],
    }
    write_json(d / "numbers.json", numbers)
    (d / "section.md").write_text(section)
    write_json(d / "meta.json", {
        "name": name, "title": title, "description": f"what {title} shows <b>not bold</b>",
        "source": "001_source.txt (section 6.2)", "quick": quick, "seed": 3, "seconds": seconds,
        "settings": {"layers": [784, 100, 10], "optimizer": {"name": "sgd", "lr": 0.01}},
        "figures": figs, "versions": {"mlplab": "0.1.0", "numpy": np.__version__},
        "finished": "2026-01-01 12:00:00"})
    return d


@pytest.fixture
def two_studies(tmp_path):
    return _two_studies(tmp_path / "lab")


def _two_studies(root):
    return [_study(root, "symmetry", "Symmetry <of> units", 1),
            _study(root, "paths", "Optimizer paths & co", 2, quick=False)]


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.imgs, self.scripts, self.tags = set(), [], [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "script":
            self.scripts += 1


def _parse(path: Path) -> _Collect:
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    return p


# ------------------------------------------------------------------------------------ Markdown
def test_markdown_subset():
    out = report.markdown_to_html(SECTION)
    assert "<strong>Var z = n σ² E[φ(z)²]</strong>" in out
    assert "<code>std=0.01</code>" in out and "<em>five</em>" in out
    assert '<a href="https://example.org/he">the paper</a>' in out
    assert out.count("<tr>") == 3 and '<th style="text-align:right">std after 5 layers</th>' in out
    assert '<td style="text-align:center">healthy</td>' in out
    assert "<ul><li>" in out and "<ol><li>numbered one</li><li>numbered two</li></ol>" in out
    assert "<code>a | b</code>" in out  # a pipe inside code is not a cell border in a list either
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert report.markdown_to_html("# Title\n\ntext", heading_offset=2).startswith("<h3>Title</h3>")


def test_markdown_edge_cases():
    assert report.markdown_to_html("") == ""
    assert "javascript" not in report.markdown_to_html("[x](javascript:alert)")
    assert report.markdown_to_html("2*3 and x*y*z stay") == "<p>2*3 and x*y*z stay</p>"
    assert "<pre><code" in report.markdown_to_html("```\na < b\n```") and "a &lt; b" in \
        report.markdown_to_html("```\na < b\n```")
    # a table right after a paragraph line, and a pipe in code inside a cell
    out = report.markdown_to_html("intro\n| a | b |\n|---|---|\n| `x|y` | 2 |")
    assert out.startswith("<p>intro</p>") and "<td><code>x|y</code></td>" in out
    assert "<hr>" in report.markdown_to_html("a\n\n---\n\nb")
    assert "<blockquote>" in report.markdown_to_html("> quoted **text**")
    # a number at the start of a wrapped line does not start a list (only "1." interrupts a paragraph)
    assert report.markdown_to_html("falls to 0.09 at step\n1000. RMSProp forgets") == \
        "<p>falls to 0.09 at step\n1000. RMSProp forgets</p>"
    assert "<ol><li>first</li>" in report.markdown_to_html("text\n1. first\n2. second")


# ------------------------------------------------------------------------------------ numbers
def test_number_tables_are_readable():
    numbers = json.loads(json.dumps({
        "loss": 0.5, "big": 123456789.0, "tiny": 1.5e-9, "n": 7, "flag": True, "inf": "inf",
        "curve": list(range(1000)), "pair": [1.0, 2.0],
        "runs": {"sgd": {"loss": 0.1, "acc": 0.9}, "adam": {"loss": 0.05, "acc": 0.95}},
        "hp": {"sgd": {"lr": 0.1}, "rms": {"lr": 0.01, "alpha": 0.9}, "adam": {"lr": 0.3}, "x": {"lr": 1},
               "y": {"b": 1}},
        "deep": {"a": {"b": {"c": 1.0}}, "grid": [[1, 2], [3, 4]]},
    }))
    tables = {t.title: t for t in report.number_tables(numbers)}
    top = dict(tables[""].rows)
    assert top["loss"] == "0.5" and top["big"] == "1.235e8" and top["tiny"] == "1.500e-9"
    assert top["flag"] == "yes" and top["inf"] == "inf" and top["pair"] == "[1, 2]"
    assert top["curve"] == "1000 values: 0 … 999 (min 0, max 999)"
    assert tables["runs"].header == ["", "loss", "acc"] and tables["runs"].rows[1] == ["adam", "0.05", "0.95"]
    assert dict(tables["hp"].rows)["rms"] == "lr = 0.01, alpha = 0.9"  # ragged: one compact row each
    assert "deep" in tables or any(t.startswith("deep") for t in tables)
    assert "array 2×2" in " ".join(c for t in tables.values() for r in t.rows for c in r)
    many = report.number_tables({"m": {f"k{i}": float(i) for i in range(100)}})[0]
    assert len(many.rows) == report.MAX_TABLE_ROWS and many.hidden == 100 - report.MAX_TABLE_ROWS


def test_format_value():
    f = report.format_value
    assert f(None) == "—" and f(0.0) == "0" and f(1 / 3) == "0.3333" and f(-2.5e-5) == "-2.500e-5"
    assert f([[1.0, 2.0], [3.0, 4.0]]).startswith("array 2×2: min 1")
    assert f(float("nan")) == "nan"


# ------------------------------------------------------------------------------------ the pages
def test_build_report_html_and_markdown(two_studies, tmp_path):
    out = tmp_path / "out"
    html_path, md_path = report.build_report(two_studies, out)
    assert html_path == out / "report.html" and md_path == out / "report.md"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.md"]  # no temporary files left
    page = _parse(html_path)
    text = html_path.read_text()
    # self-contained: every image is an embedded PNG, no scripts, no external resources
    assert len(page.imgs) == 3 and all(s.startswith("data:image/png;base64,") for s in page.imgs)
    assert page.scripts == 0 and not re.search(r'(src|href)="https?://', text.replace(
        'href="https://example.org/he"', ""))
    # the table of contents: every anchor resolves, registry order (paths before symmetry)
    internal = [h[1:] for h in page.hrefs if h.startswith("#")]
    assert {"study-paths", "study-symmetry", "appendix"} <= set(internal) <= page.ids
    assert text.index('id="study-paths"') < text.index('id="study-symmetry"')
    # escaping: titles/descriptions/markdown cannot inject markup
    assert "Symmetry &lt;of&gt; units" in text and "<b>not bold</b>" not in text and "<script>" not in text
    # per study: description, source, captions, explanation, numbers; appendix with versions and settings
    for needle in ("001_source.txt (section 6.2)", "Figure 1.2", "Figure 2.1", "What it shows", "Measured numbers",
                   "200 values: 1 … 0.1", "<caption>per_init</caption>", "std=0.01", "1.200e-7",
                   "numpy " + np.__version__, "layers=[784, 100, 10]", "optimizer={name: sgd, lr: 0.01}",
                   "1.5 s", "quick", "reference", "2026-01-01 12:00:00"):
        assert html.escape(needle, quote=False) in text or needle in text, needle
    # the Markdown page: same content, figures by relative path that exist
    md = md_path.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 3 and all((out / link).is_file() for link in links)
    assert links[0] == "../lab/paths/fig0.png"
    assert "## 1. Optimizer paths & co" in md and "(#1-optimizer-paths--co)" in md
    assert "## Appendix: settings, seeds, versions, run times" in md and "| symmetry | quick | 3 |" in md
    assert "| He | 0.82 | healthy |" in md and "| he | 0.82 | 0.3 |" in md


def test_report_survives_missing_pieces_and_duplicates(tmp_path):
    a = _study(tmp_path / "run1", "paths", "Paths", 2)
    b = _study(tmp_path / "run2", "paths", "Paths again", 1, numbers={})
    (a / "fig1.png").unlink()
    (b / "section.md").unlink()
    html_path, md_path = report.build_report([a, b], tmp_path / "out")
    page = _parse(html_path)
    assert len(page.imgs) == 2  # the missing figure is reported, not shown as a broken image
    assert {"study-paths", "study-paths-2"} <= page.ids
    text = html_path.read_text()
    assert "figure fig1.png is missing" in text and "section.md is missing" in text
    with pytest.raises(FileNotFoundError, match="meta.json"):
        report.build_report([tmp_path], tmp_path / "out2")


def test_cli_report_rebuilds_from_saved_results(two_studies, tmp_path, capsys):
    from mlplab.cli import main

    lab_dir = two_studies[0].parent
    # the synthetic studies carry real studies' names but not their numbers: they cannot be redrawn
    assert main(["report", str(lab_dir)]) == 2
    err = capsys.readouterr().err
    assert "study paths" in err and "study symmetry" in err and not (lab_dir / "report.html").exists()
    assert main(["report", str(lab_dir), "--keep-going"]) == 0
    assert "report: " in capsys.readouterr().out
    assert (lab_dir / "report.html").exists() and (lab_dir / "report.md").exists()
    assert main(["report", str(two_studies[1]), "--out", str(tmp_path / "one"), "--keep-going"]) == 0
    assert _parse(tmp_path / "one" / "report.html").imgs.__len__() == 2
    assert main(["report", str(tmp_path / "nothing-here")]) == 2


@pytest.fixture(scope="module")
def real_study(quick_study):
    """A real quick study run by the lab runner (the fastest committed one): the session's run of it
    (tests/lab_quick.py), which tests/test_lab_redraw.py's `everything()` needs anyway. Read only."""
    from mlplab import lab

    available = lab.studies()
    name = next((n for n in ("linear-chain", "quadratic", "paths") if n in available), None)
    if name is None:
        pytest.skip("no quick study available to render")
    return quick_study(name).directory


@pytest.fixture(scope="module")
def real_report(real_study, tmp_path_factory):
    """The report of the two synthetic studies and the real one (which the report redraws from its numbers:
    seconds, so built once for the tests below)."""
    root = tmp_path_factory.mktemp("report")
    html_path, _ = report.build_report([*_two_studies(root / "lab"), real_study], root / "site")
    return html_path


def test_real_study_report(real_study, real_report):
    meta = json.loads((real_study / "meta.json").read_text())
    page = _parse(real_report)
    assert len(page.imgs) == 3 + len(meta["figures"]) and len(meta["figures"]) >= 1  # the synthetic ones: 3
    assert all(s.startswith("data:image/png;base64,") for s in page.imgs)
    assert html.escape(meta["title"], quote=False) in real_report.read_text()


# ------------------------------------------------------------------------------------ the browser
CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                   .map(function (i) { return i.alt; });
  var toc = Array.from(document.querySelectorAll('nav a[href^="#"], a[href^="#"]'));
  var bad = toc.filter(function (a) {
    return !document.getElementById(decodeURIComponent(a.getAttribute('href').slice(1)));
  }).map(function (a) { return a.getAttribute('href'); });
  document.body.dataset.check = JSON.stringify({images: imgs.length, broken: broken, badLinks: bad,
    tocLinks: document.querySelectorAll('nav a[href^="#"]').length,
    width: document.documentElement.scrollWidth});
});
</script>"""


@pytest.mark.browser
@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                    reason="chromium not installed (run `make system-deps` or `apt-get install chromium`)")
def test_report_in_headless_chromium(real_study, real_report, tmp_path, browser):
    """In the session's headless Chromium (tests/live_fixtures.py), a page 1280 px wide."""
    html_path = real_report
    n_figures = 3 + len(json.loads((real_study / "meta.json").read_text())["figures"])
    checked = tmp_path / "checked.html"  # a copy with the checking script; the report itself has none
    checked.write_text(html_path.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    try:
        page.goto(checked.as_uri(), wait_until="load")
        page.wait_for_function("document.body.dataset.check !== undefined", timeout=30_000)
        m = re.search(r'data-check="([^"]*)"', page.content())
        assert m, "the check script did not run"
        check = json.loads(html.unescape(m.group(1)))
        assert check["images"] == n_figures and check["broken"] == []
        assert check["badLinks"] == [] and check["tocLinks"] == 4  # three studies and the appendix
        assert check["width"] <= 1280  # nothing overflows the page sideways

        shots = Path(os.environ.get("MLPLAB_ARTIFACTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        shot = shots / "report.png"
        shot.unlink(missing_ok=True)
        page.goto(html_path.as_uri(), wait_until="load")  # the report itself, without the checking script
        page.screenshot(path=str(shot), full_page=False)
    finally:
        page.close()
    assert shot.exists()
    assert shot.stat().st_size > 50_000  # a rendered page with figures, not a blank one
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[:2] == (2000, 1280) and float(np.std(img[..., :3])) > 0.05



# ------------------------------------------------------------------------------------ content model
def test_claim_tables_shown_the_rest_folded(tmp_path):
    """Tables under the study's claims keys are shown; the others sit in a <details>; series are left out."""
    numbers = {"per_init": {"he": {"std": 0.82, "loss": 0.3}, "xavier": {"std": 0.41, "loss": 0.35}},
               "other": {"a": 1.5, "b": 2.5}, "series": {"curve": list(range(500))}}
    d = _study(tmp_path / "lab", "somestudy", "Some study", 1, numbers=numbers)
    meta = json.loads((d / "meta.json").read_text())
    write_json(d / "meta.json", {**meta, "claims": ["per_init"]})
    html_path, md_path = report.build_report([d], tmp_path / "out")
    text = html_path.read_text()
    shown, folded = text.split("<details", 1)
    assert "<caption>per_init</caption>" in shown and "<caption>other</caption>" not in shown
    assert "<caption>other</caption>" in folded.split("</details>")[0]
    assert "curve" not in text and "500 values" not in text  # the figures' series are not tabulated
    md = md_path.read_text()
    assert md.index("**per_init**") < md.index("<details>") < md.index("**other**") < md.index("</details>")


def test_html_and_markdown_render_the_same_content(two_studies, tmp_path):
    """One content model: every figure, table caption and heading appears in both renderings."""
    html_path, md_path = report.build_report(two_studies, tmp_path / "out")
    page = report.build_page(report._order([report.load_study(d) for d in two_studies]), "now")
    text, md = html_path.read_text(), md_path.read_text()
    from mlplab.lab import render

    def walk(blocks):
        for b in blocks:
            yield b
            if isinstance(b, render.Fold):
                yield from walk(b.blocks)

    n = 0
    for s in page.sections:
        assert html.escape(s.title, quote=False) in text and s.title in md
        for b in walk(s.blocks):
            if isinstance(b, render.Table) and b.caption:
                assert f"<caption>{html.escape(b.caption)}</caption>" in text and f"**{b.caption}**" in md
                n += 1
            if isinstance(b, render.Fig):
                assert b.label in text and b.label in md
                n += 1
    assert n >= 6


def test_wide_figures_span_the_page_and_open_full_size(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = _study(tmp_path / "lab", "wide", "Wide", 1)
    fig, ax = plt.subplots(figsize=(12, 3))
    ax.plot([0, 1])
    fig.savefig(d / "fig1.png", dpi=50)
    plt.close(fig)
    meta = json.loads((d / "meta.json").read_text())
    meta["figures"].append({"file": "fig1.png", "caption": "a wide one"})
    write_json(d / "meta.json", meta)
    html_path, _ = report.build_report([d], tmp_path / "out")
    text = html_path.read_text()
    assert text.count('<figure class="wide">') == 1 and text.count('<figure class="narrow">') == 1
    assert text.count('type="checkbox" class="zoom"') == 2  # click to open at full size, no script
    assert '<a href="../lab/wide/fig1.png">fig1.png</a>' in text  # and the PNG itself is linked
    assert "<script" not in text
