"""Running a group of studies (`mlplab lab run textbook`, what `make demo` runs): each study's figures are drawn by
a separate process while the next study measures, giving the files a one-by-one run gives; a drawing's error
or Ctrl-C stops that process and cleans the folder up; and each study's meta.json records the CPU time its
measuring took, worker processes included (wall time on a shared machine says how busy the cores were)."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from mlplab import lab
from mlplab.cli import main
from mlplab.lab import plots
from mlplab.lab.base import Study, parallel_map, run_study

CHEAP = ("linear-chain", "symmetry")  # two studies of seconds, one figure and two
pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="forks its workers")


def _new_children(before) -> set:
    """The child processes alive now that were not before the test (the session's own, such as
    tests/lab_quick.py's drawing process, are not the group's)."""
    return set(multiprocessing.active_children()) - before


def _two_studies(monkeypatch, studies=None):
    chosen = studies or [lab.get_study(n) for n in CHEAP]
    monkeypatch.setattr(lab, "select", lambda name: chosen)  # a "group" of cheap studies
    return chosen


def test_a_group_draws_in_another_process_and_writes_what_one_by_one_writes(tmp_path, monkeypatch, mnist_dir,
                                                                              capsys):
    before = set(multiprocessing.active_children())
    drew_in = tmp_path / "pids"
    monkeypatch.setattr(plots, "LAYOUT_HOOKS", [lambda fig, path: drew_in.open("a").write(f"{os.getpid()}\n")])
    _two_studies(monkeypatch)
    assert main(["lab", "run", "textbook", "--quick", "--out", str(tmp_path / "group")]) == 0
    out = " ".join(capsys.readouterr().out.split())  # as read, not as the terminal's width wraps it
    assert "its figures are drawn while the next study runs" in out and "report:" in out
    pids = {int(p) for p in drew_in.read_text().split()}
    assert pids and os.getpid() not in pids  # every figure drawn by the drawing process, none here

    for name in CHEAP:  # the same study run alone (same BLAS threads), drawn here after measuring
        assert main(["lab", "run", name, "--quick", "--out", str(tmp_path / "one")]) == 0
        g, one = tmp_path / "group" / name, tmp_path / "one" / name
        assert (g / "numbers.json").read_text() == (one / "numbers.json").read_text()
        assert (g / "section.md").read_text() == (one / "section.md").read_text()
        meta, alone = (json.loads((d / "meta.json").read_text()) for d in (g, one))
        assert meta["figures"] == alone["figures"] and meta["figures"] and meta["draw_seconds"] > 0
        for f in meta["figures"]:
            assert (g / f["file"]).read_bytes() == (one / f["file"]).read_bytes()
    assert not _new_children(before)  # the drawing process has ended


def _broken_draw(numbers, out):
    raise RuntimeError("planted: a figure that cannot be drawn")


def test_a_drawing_that_fails_fails_the_run_and_leaves_no_folder(tmp_path, monkeypatch, mnist_dir, capsys):
    import dataclasses

    before = set(multiprocessing.active_children())
    first = lab.get_study(CHEAP[0])
    _two_studies(monkeypatch, [dataclasses.replace(first, draw=_broken_draw), lab.get_study(CHEAP[1])])
    out = tmp_path / "o"
    assert main(["lab", "run", "textbook", "--quick", "--out", str(out)]) == 1  # an internal error
    assert "planted: a figure that cannot be drawn" in " ".join(capsys.readouterr().err.split())
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".mlplab")]
    assert not _new_children(before)


def _interrupt(settings, ctx):
    time.sleep(0.5)  # the first study is being drawn meanwhile
    raise KeyboardInterrupt


def test_ctrl_c_during_the_next_study_stops_the_drawing(tmp_path, monkeypatch, mnist_dir):
    import dataclasses

    before = set(multiprocessing.active_children())
    second = lab.get_study(CHEAP[1])
    _two_studies(monkeypatch, [lab.get_study(CHEAP[0]), dataclasses.replace(second, measure=_interrupt)])
    assert main(["lab", "run", "textbook", "--quick", "--out", str(tmp_path / "o")]) == 130
    assert not _new_children(before)


def _burn(seconds):
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        pass
    return seconds


def _busy_measure(settings, ctx):
    return {"burnt": parallel_map(_burn, [0.3] * 4, workers=2)}


def test_meta_records_the_cpu_time_of_the_measuring_workers_included(tmp_path):
    """4 tasks of 0.3 s of CPU on 2 forked workers: the study's CPU time counts them (≥ 1.2 s), its wall time
    cannot tell (about 0.6 s on an idle machine, anything on a busy one)."""
    study = Study(name="busy", title="t", description="d", source="s", measure=_busy_measure,
                  draw=lambda numbers, out: [], write=lambda numbers: "busy\n")
    r = run_study(study, tmp_path)
    meta = json.loads((Path(r.directory) / "meta.json").read_text())
    assert meta["cpu_seconds"] >= 1.2 and "draw_seconds" in meta
