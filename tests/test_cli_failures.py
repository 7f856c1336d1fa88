"""When something other than a bad input goes wrong (issue 12's other half): a bug, an interrupt or a run that
diverges still ends with one line and its exit status (``--debug`` shows the traceback), a study that fails half way
leaves nothing behind, and what the commands write gets the umask's mode and is ignored by git in a checkout.
The table of bad inputs is tests/test_cli_errors.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlplab.cli import main as cli_main

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.mark.parametrize("argv", [["train", "--seed", "-1"], ["lab", "run", "paths", "--seed", "-1"],
                                  ["diagnose", "--layers", "784,x,10"]])
def test_real_command_one_line_and_debug_shows_the_traceback(argv, tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("MLPLAB_DEBUG", None)
    # the three commands side by side (each a fresh interpreter: mostly its imports, one core each)
    procs = [subprocess.Popen([sys.executable, "-m", "mlplab", *argv, *extra], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=e)
             for extra, e in (([], env), (["--debug"], env), ([], {**env, "MLPLAB_DEBUG": "1"}))]
    (err, code), (err_debug, code_debug), (err_env, code_env) = [(p.communicate(timeout=300)[1], p.returncode)
                                                                 for p in procs]
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert code_debug != 0 and "Traceback" in err_debug
    assert code_env != 0 and "Traceback" in err_env
    assert list(tmp_path.iterdir()) == []  # lab run's folder was not even started


def test_a_bug_is_one_line_too(monkeypatch, capsys):
    from mlplab.cli import train as cli_train

    def broken(args):
        raise RuntimeError("planted bug\nwith a second line")

    monkeypatch.setattr(cli_train, "cmd_train", broken)
    parser_func = {}
    import mlplab.cli as cli

    real_build = cli.build_parser

    def build():
        p = real_build()
        sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
        sub.choices["train"].set_defaults(func=broken)
        parser_func["ok"] = True
        return p

    monkeypatch.setattr(cli, "build_parser", build)
    assert cli.main(["train"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: planted bug with a second line" in err
    assert "--debug" in err and parser_func["ok"]


@pytest.mark.parametrize("exc, status", [(RuntimeError("planted failure"), 1), (KeyboardInterrupt(), 130)])
def test_a_study_that_fails_half_way_leaves_nothing(tmp_path, monkeypatch, capsys, exc, status):
    from mlplab import lab

    def half_then_fail(st, out, **kw):
        (out / st.name).mkdir()
        (out / st.name / "numbers.json").write_text('{"half": ')  # half-written
        raise exc

    monkeypatch.setattr(lab.base, "measure_study", half_then_fail)  # (what `lab run` calls: it draws apart)
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "mine.txt").write_text("was here before")
    for out, left in ((tmp_path / "new", None), (tmp_path / "keep", ["mine.txt"])):
        assert cli_main(["lab", "run", "paths", "--quick", "--out", str(out)]) == status
        assert "Traceback" not in capsys.readouterr().err
        if left is None:
            assert not out.exists()
        else:
            assert sorted(p.name for p in out.iterdir()) == left


def test_divergence_is_one_line_with_the_command_and_its_status(tmp_path, mnist_dir, capsys):
    """A run that diverges ends with one line naming the command (not four wrapped lines of rich),
    and with status 3, which the README's exit codes list."""
    out = tmp_path / "div"
    capsys.readouterr()
    code = cli_main(["train", "--layers", "784,16,10", "--subset", "300", "--iterations", "5", "--optimizer", "sgd",
                     "--lr", "1e30", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("mlplab train: error: training diverged at step "), err
    assert "Lower the learning rate" in lines[0] and "Traceback" not in err
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "3 for a training run that diverged" in " ".join(readme.split())


def test_a_runs_files_share_one_mode_from_the_umask(tmp_path, mnist_dir):
    """Every file of a run gets 0o666 & ~umask, as open() gives it (the atomic writes' mkstemp made 0600)."""
    old = os.umask(0o027)
    try:
        assert cli_main(["train", "--layers", "784,8,10", "--subset", "300", "--iterations", "3", "--quiet",
                         "--checkpoint-every", "1", "--out", str(tmp_path / "run")]) == 0
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (tmp_path / "run").iterdir() if p.is_file()
             and not p.name.startswith(".")}
    assert {"config.json", "metrics.jsonl", "model.npz", "summary.json"} <= set(modes)
    assert set(modes.values()) == {oct(0o640)}, modes


def test_gitignore_covers_what_the_commands_write_in_a_checkout(tmp_path):
    """`sweeps/` (the README's sweep commands) and every `--fix` method's FILE_FACTORY_METHOD.pt are ignored
    by git, as runs/ and lab-report/ are: asked of git itself, in a repository with the project's .gitignore."""
    import argparse

    from mlplab.cli import build_parser

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    fix = next(a for a in sub.choices["diagnose"]._actions if "--fix" in a.option_strings)
    shutil.copy(Path(__file__).resolve().parents[1] / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    paths = ["sweeps/race/summary.json", "runs/adam/model.npz", "lab-report/report.html",
             *(f"model_make_model_{m}.pt" for m in fix.choices)]
    r = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=tmp_path, capture_output=True, text=True)
    assert sorted(r.stdout.split()) == sorted(paths), r.stdout
    r = subprocess.run(["git", "check-ignore", "--no-index", "model.py", "weights.pt"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.stdout == ""  # the user's own files are not hidden
