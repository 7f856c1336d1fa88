"""Every figure and section of the lab comes from numbers.json alone: delete them, and `mlplab report`
brings them back byte for byte, without re-running a study."""

import json
import re
import shutil

import pytest

from mlplab import lab
from mlplab.lab import report
from mlplab.lab.base import Context, as_json


@pytest.fixture(scope="module")
def quick_lab(quick_study, mnist_dir):
    """Every study's quick variant, run by the lab runner (one BLAS thread, as `mlplab lab run`) once per session
    (tests/lab_quick.py: the claims' tests read the same runs). Read only: the tests below copy it first."""
    return quick_study.everything()


def _drawn(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.glob("*/*")) if p.suffix in (".png", ".md")}


@pytest.fixture(scope="module")
def redrawn(quick_lab, quick_study, tmp_path_factory):
    """A copy of the quick lab whose figures and sections were deleted and brought back by the report's redraw of
    each study from its numbers.json (tests/lab_quick.py's `redrawn`, once per session: test_lab_init.py reads what
    two of them drew), then the report of the copy: (the copy, the report's HTML, per figure "study/file" what
    matplotlib drew it with)."""
    drawn = {}
    for name in sorted(p.parent.name for p in quick_lab.glob("*/meta.json")):
        _, of_study = quick_study.redrawn(name)
        drawn.update({f"{name}/{f}": d for f, d in of_study.items()})
    copy = quick_study.redrawn_root
    html_path, _ = report.build_report(sorted(p.parent for p in copy.glob("*/meta.json")),
                                       tmp_path_factory.mktemp("report"), redraw_figures=False)
    return copy, html_path, drawn


def test_report_redraws_every_figure_and_section(quick_lab, redrawn):
    before = _drawn(quick_lab)
    names = set(lab.studies())
    assert {p.parts[0] for p in before} == names
    for study in names:  # every study drew at least one figure and wrote its section, citing works by name
        assert any(p.parts[0] == study and p.suffix == ".png" for p in before), study
        section = (quick_lab / study / "section.md").read_text()
        assert len(section) > 200 and not re.search(r"\b00[0-9]_", section), study
    copy, html_path, _ = redrawn
    after = _drawn(copy)
    assert set(after) == set(before)
    changed = [str(p) for p in before if before[p] != after[p]]
    assert not changed, f"redrawn from numbers.json but different: {changed}"
    page = html_path.read_text()
    assert "is missing" not in page and "could not redraw" not in page


# the two tests below redraw optimizers-mnist: one figure, drawn in about a second (paths' four took ten)
def test_cli_report_redraws(quick_lab, tmp_path):
    from mlplab.cli import main

    name, fig = "optimizers-mnist", "optimizers_mnist.png"
    copy = tmp_path / "lab"
    shutil.copytree(quick_lab / name, copy / name)
    (copy / name / fig).unlink()
    (copy / name / "section.md").unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / name / fig).read_bytes() == (quick_lab / name / fig).read_bytes()
    assert (copy / name / "section.md").read_text() == (quick_lab / name / "section.md").read_text()


def test_a_changed_number_changes_the_redrawn_section(quick_lab, tmp_path):
    """The section is written from numbers.json, not copied: edit a number, the sentence follows."""
    d = tmp_path / "optimizers-mnist"
    shutil.copytree(quick_lab / "optimizers-mnist", d)
    numbers = json.loads((d / "numbers.json").read_text())
    numbers["optimizers"]["sgd"]["final_loss_mean"] = 123456.0
    (d / "numbers.json").write_text(json.dumps(numbers))
    lab.render_study(lab.get_study("optimizers-mnist"), d)
    assert "is 123456.000." in (d / "section.md").read_text()  # SGD's final loss, in the prose
    assert (d / "section.md").read_text() != (quick_lab / "optimizers-mnist" / "section.md").read_text()


def test_studies_measure_json_numbers_and_report_progress():
    """measure's numbers survive the trip through JSON unchanged, and progress counts up to its total."""
    seen = []
    ctx = Context(seed=0, workers=1, progress=lambda done, total: seen.append((done, total)))
    numbers = as_json(lab.get_study("paths").measure(lab.get_study("paths").settings(quick=True), ctx))
    assert as_json(numbers) == numbers
    assert seen[-1][0] == seen[-1][1] and seen[0][0] == 0
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


# ------------------------------------------------------- the report in Chromium: figure sizes and legends
MIN_TEXT_PX = 8.0  # the smallest text of a figure, as shown in the report in a 1280 px wide window


@pytest.mark.browser
def test_report_figures_are_readable_and_legends_hide_no_data(redrawn, tmp_path, request):
    """Every figure of the report, in headless Chromium at 1280 x 900: its smallest text is shown >= 8 px
    (its width as displayed against its natural width, the PNG's pixels per inch, and the smallest font
    matplotlib drew it with); and no legend box covers a drawn data point (lines sampled every 2 px, in the
    pixels of the saved PNG, from the figure matplotlib saved). Before: five panels in a row were shown at
    half size (5-6 px text), and legends sat on curves."""
    import os
    from pathlib import Path

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium not installed (run `make system-deps` or `apt-get install chromium`)")
    _, html_path, drawn = redrawn
    assert len(drawn) >= 20
    hidden = {name: [leg for leg in d["legends"] if leg[1]] for name, d in drawn.items()}
    assert not {k: v for k, v in hidden.items() if v}, "legends covering data (axes, points covered, of): " \
        + str({k: v for k, v in hidden.items() if v})
    assert sum(len(d["legends"]) for d in drawn.values()) >= 15  # the check saw the legends

    browser = request.getfixturevalue("browser")  # the session's Chromium (tests/live_fixtures.py)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(html_path.as_uri())
        page.wait_for_load_state("load")
        shown = page.evaluate("""() => Array.from(document.querySelectorAll('figure')).map(f => {
            const img = f.querySelector('img'), a = f.querySelector('figcaption a');
            return {file: a ? a.getAttribute('href') : null, natural: img.naturalWidth,
                    displayed: img.getBoundingClientRect().width,
                    container: f.getBoundingClientRect().width - 26};
        })""")
        shots = Path(os.environ.get("MLPLAB_ARTIFACTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "report_1280.png"), full_page=False)
    finally:
        page.close()
    assert len(shown) == len(drawn)
    small = []
    for f in shown:
        name = "/".join(Path(f["file"]).parts[-2:])
        d = drawn[name]
        px_per_pt = f["natural"] / d["width_in"] / 72  # the PNG's pixels per point
        text_px = d["min_font_pt"] * px_per_pt * f["displayed"] / f["natural"]
        if text_px < MIN_TEXT_PX:
            small.append((name, round(text_px, 1), f["natural"], round(f["displayed"])))
        assert f["displayed"] >= 0.9 * f["natural"] or f["displayed"] >= 0.95 * f["container"], f
    assert not small, f"text shown below {MIN_TEXT_PX} px (figure, px, natural width, displayed width): {small}"
