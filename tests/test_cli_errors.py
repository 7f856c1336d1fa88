"""Every subcommand against a table of bad inputs (issue 12): files and permissions, resume states,
TOML types, sizes, seeds, names, a folder in use. Each must end with a non-zero exit status, one
line naming the option or file, no traceback, and nothing half-written left behind. Failures that are not a bad
input (a bug, an interrupt, a diverged run) are tests/test_cli_failures.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_error_table import CASES, OFFLINE, _dead_url, unwritable  # noqa: E402  (tests/ is on the path)

from mlplab.cli import main as cli_main

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    """A finished small run, and the checkpoint of a run of another network."""
    base = tmp_path_factory.mktemp("runs")
    common = ["--iterations", "3", "--subset", "300", "--quiet", "--checkpoint-every", "1"]
    assert cli_main(["train", "--layers", "784,16,10", "--out", str(base / "run"), *common]) == 0
    assert cli_main(["train", "--layers", "784,8,10", "--out", str(base / "other"), *common]) == 0
    return base


# a tiny real sweep for the `kinds` fixture: spirals, one optimizer, two learning rates, two seeds, five steps (the
# table's own rows use cli_error_table.SWEEP; both were named SWEEP here once, and the fixture ran the table's)
KIND_SWEEP = ["--dataset", "spirals", "--layers", "2,8,2", "--optimizers", "sgd", "--lr-grid", "2", "--seeds", "2",
              "--iterations", "5", "--val-split", "500", "--jobs", "1", "--executor", "local", "--no-book"]


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """A folder of each other kind, written by the real commands: a sweep (reported) and lab results."""
    base = tmp_path_factory.mktemp("kinds")
    assert cli_main(["sweep", *KIND_SWEEP, "--out", str(base / "sweep"), "--report"]) == 0
    assert cli_main(["lab", "run", "linear-chain", "--quick", "--jobs", "1", "--out", str(base / "lab")]) == 0
    return base


@pytest.fixture(scope="module")
def lab_study(tmp_path_factory):
    """A real study folder (linear-chain, quick: seconds) written by `mlplab lab run`."""
    base = tmp_path_factory.mktemp("lab")
    assert cli_main(["lab", "run", "linear-chain", "--quick", "--out", str(base)]) == 0
    return base / "linear-chain"


@pytest.fixture(scope="module")
def holder(tmp_path_factory):
    """A folder locked by another live process (mlplab train), for the 'in use' rows."""
    folder = tmp_path_factory.mktemp("locked")
    code = ("import sys; from mlplab.runtime.runlock import RunLock\n"
            "with RunLock(sys.argv[1], command='train'):\n    print('held', flush=True); sys.stdin.read()")
    p = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env={**os.environ, "PYTHONPATH": SRC})
    assert p.stdout.readline().strip() == "held"
    yield folder, p.pid
    p.stdin.close()
    p.wait(timeout=60)


def _snapshot(root: Path) -> dict:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = p.stat().st_size
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch, capsys, request):
    name, needs, argv, status, words, absent = case
    fixtures = {n: request.getfixturevalue(n) for n in needs}
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "afile").write_text("a file, not a folder")
    (ws / "empty").mkdir()
    monkeypatch.chdir(ws)
    if name == "data-cache-unwritable":
        monkeypatch.setenv("MLPLAB_DATA", str(unwritable(ws) / "cache"))
    if name == "data-info-cache-is-a-file":
        monkeypatch.setenv("MLPLAB_DATA", str(ws / "afile"))
    if name in OFFLINE:  # an empty cache, a download host that refuses, and no npm
        from dataclasses import replace

        from mlplab import data

        monkeypatch.setenv("MLPLAB_DATA", str(tmp_path / "cache"))
        monkeypatch.delenv("MLPLAB_MIRROR", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path / "nobin"))
        monkeypatch.setitem(data.DATASETS, "mnist", replace(data.DATASETS["mnist"], mirrors=(_dead_url(),)))
    monkeypatch.delenv("MLPLAB_DEBUG", raising=False)
    args = argv(ws, fixtures)
    before = _snapshot(ws)
    locked_before = _snapshot(fixtures["holder"][0]) if "holder" in fixtures else None
    capsys.readouterr()
    code = cli_main(args)
    err = capsys.readouterr().err
    assert code == status, (args, code, err)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("note:")]
    assert len(lines) == 1, err  # one line, a data error too (--debug lists every source's failure)
    assert lines[0].startswith("mlplab "), err
    for w in words:
        assert w in err, (w, err)
    if "holder" in fixtures:
        assert f"process {fixtures['holder'][1]} " in err
        assert _snapshot(fixtures["holder"][0]) == locked_before  # the owner's folder untouched
    for rel in absent:
        assert not (ws / rel).exists(), f"{rel} was left behind"
    after = _snapshot(ws)
    assert after == before, "files were added, removed or changed: " + str(set(after) ^ set(before))


def test_the_table_is_long_enough_and_walks_every_subcommand(tmp_path):
    fake = tmp_path / "t"
    for d in ("run", "other", "sweep", "lab"):
        (fake / d).mkdir(parents=True)
        for name in ("checkpoint.npz", "config.json", "model.npz"):
            (fake / d / name).write_text("{}")
    study = tmp_path / "linear-chain"
    study.mkdir()
    (study / "numbers.json").write_text('{"series": 1}')
    commands = set()
    for i, c in enumerate(CASES):
        (tmp_path / f"w{i}").mkdir()
        commands.add(c[2](tmp_path / f"w{i}", {"trained": fake, "holder": (tmp_path, 1), "kinds": fake,
                                              "lab_study": study})[0])
    assert len(CASES) >= 40
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"through {len(CASES)} bad inputs" in " ".join(readme.split()), "update the README's count of bad inputs"
    assert commands == {"train", "lab", "report", "diagnose", "data", "demo", "sweep", "live", "init", "optim",
                        "exercises", "curvature"}
