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
def quick_lab(tmp_path_factory, mnist_dir):
    """Every study's quick variant, run once by the lab runner (one BLAS thread, as `mlplab lab run`)."""
    from threadpoolctl import threadpool_limits

    out = tmp_path_factory.mktemp("lab")
    with threadpool_limits(limits=1, user_api="blas"):
        for study in lab.studies().values():
            lab.run_study(study, out, quick=True, seed=0)
    return out


def _drawn(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.glob("*/*")) if p.suffix in (".png", ".md")}


def test_report_redraws_every_figure_and_section(quick_lab, tmp_path):
    before = _drawn(quick_lab)
    names = set(lab.studies())
    assert {p.parts[0] for p in before} == names
    for study in names:  # every study drew at least one figure and wrote its section, citing works by name
        assert any(p.parts[0] == study and p.suffix == ".png" for p in before), study
        section = (quick_lab / study / "section.md").read_text()
        assert len(section) > 200 and not re.search(r"\b00[0-9]_", section), study
    copy = tmp_path / "lab"
    shutil.copytree(quick_lab, copy)
    for p in list(copy.glob("*/*.png")) + list(copy.glob("*/section.md")):
        p.unlink()
    assert not list(copy.glob("*/*.png"))
    html_path, md_path = report.build_report(sorted(p.parent for p in copy.glob("*/meta.json")), copy)
    after = _drawn(copy)
    assert set(after) == set(before)
    changed = [str(p) for p in before if before[p] != after[p]]
    assert not changed, f"redrawn from numbers.json but different: {changed}"
    page = html_path.read_text()
    assert "is missing" not in page and "could not redraw" not in page


def test_cli_report_redraws(quick_lab, tmp_path):
    from mlplab.cli import main

    copy = tmp_path / "lab"
    shutil.copytree(quick_lab / "paths", copy / "paths")
    (copy / "paths" / "paths_F2.png").unlink()
    (copy / "paths" / "section.md").unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / "paths" / "paths_F2.png").read_bytes() == (quick_lab / "paths" / "paths_F2.png").read_bytes()
    assert (copy / "paths" / "section.md").read_text() == (quick_lab / "paths" / "section.md").read_text()


def test_a_changed_number_changes_the_redrawn_section(quick_lab, tmp_path):
    """The section is written from numbers.json, not copied: edit a number, the sentence follows."""
    d = tmp_path / "quadratic"
    shutil.copytree(quick_lab / "quadratic", d)
    numbers = json.loads((d / "numbers.json").read_text())
    numbers["gd"]["slow"]["final_gap"] = 123456.0
    (d / "numbers.json").write_text(json.dumps(numbers))
    lab.render_study(lab.get_study("quadratic"), d)
    assert "1.23e+05" in (d / "section.md").read_text()
    assert (d / "section.md").read_text() != (quick_lab / "quadratic" / "section.md").read_text()


def test_studies_measure_json_numbers_and_report_progress():
    """measure's numbers survive the trip through JSON unchanged, and progress counts up to its total."""
    seen = []
    ctx = Context(seed=0, workers=1, progress=lambda done, total: seen.append((done, total)))
    numbers = as_json(lab.get_study("paths").measure(lab.get_study("paths").settings(quick=True), ctx))
    assert as_json(numbers) == numbers
    assert seen[-1][0] == seen[-1][1] and seen[0][0] == 0
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
