"""The command line as a user meets it: options checked before work, a real run, resume."""

import json
from pathlib import Path

import pytest

from mlplab.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv,message", [
    (["train", "--optimizer", "adamm"], "unknown optimizer 'adamm' for training a network; valid: sgd, momentum"),
    (["train", "--init", "hee"], "unknown initializer 'hee'; valid names: book"),
    (["train", "--layers", "784,100,9"], "must start with 784 and end with 10"),
    (["train", "--layers", "784,x,10"], "comma-separated integers"),
    (["train", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["train", "--activation", "swish"], "--activation: unknown activation 'swish'; valid: relu, leaky_relu"),
    (["train", "--dataset", "cifar"], "unknown dataset 'cifar'; valid: mnist, fashion-mnist"),
    (["train", "--optimizer", "sgd", "--lr", "-1"], "lr"),
    (["train", "--schedule", "bogus"], "unknown schedule 'bogus'"),
    (["lab", "run", "nosuchstudy"], "unknown study 'nosuchstudy'"),
    (["data", "fetch", "cifar"], "unknown dataset 'cifar'"),
    (["lab", "run", "paths", "--blas-threads", "-1"], "--blas-threads must be 0"),
    (["train", "--blas-threads", "-1"], "--blas-threads must be 0"),
    (["lab", "run", "paths", "--jobs", "0"], "--jobs must be a positive number"),
])
def test_bad_options_are_rejected_before_work(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, *argv, *(["--out", str(tmp_path / "r")] if argv[0] == "train" else []))
    assert code == 2
    assert message in err
    assert not (tmp_path / "r").exists()  # nothing was started


def test_config_file_errors(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("optimiser = 'sgd'\n")
    code, _, err = run(capsys, "train", "--config", str(bad))
    assert code == 2 and "unknown keys ['optimiser']" in err
    code, _, err = run(capsys, "train", "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and "no such file" in err


def test_train_resume_and_config(capsys, tmp_path, mnist_dir):
    cfg = tmp_path / "run.toml"
    cfg.write_text('layers = [784, 32, 10]\noptimizer = "sgd"\nlr = 0.1\nbatch_size = 100\n'
                   'iterations = 60\nsubset = 2000\nseed = 3\ncheckpoint_every = 20\n')
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "train", "--config", str(cfg), "--out", str(out), "--quiet")
    assert code == 0, stdout
    acc = float(stdout.split("test_acc ")[1].split()[0])
    assert acc > 0.7  # 60 SGD steps on 2000 images already classify most test digits
    summary = json.loads((out / "summary.json").read_text())  # the printed test figures are kept with the run
    assert round(summary["test"]["acc"], 4) == acc and summary["test"]["images"] == 10000
    assert summary["per_epoch_eval_on"] == "test" and summary["steps"] == 60
    saved = json.loads((out / "config.json").read_text())
    assert saved["optimizer"] == "sgd" and saved["lr"] == 0.1 and saved["layers"] == "784,32,10"
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind"' not in r for r in rows) == 60
    # an existing run is not overwritten by accident
    code, _, err = run(capsys, "train", "--config", str(cfg), "--out", str(out), "--quiet")
    assert code == 2 and "--resume" in err
    # resuming a finished run changes nothing and reports the same result
    code, stdout2, err = run(capsys, "train", "--out", str(out), "--resume", "--quiet")
    assert code == 0 and stdout2 == stdout
    assert f"note: {out} had already finished (60 of 60 steps); nothing is trained" in err and err.count("\n") == 1


def test_lab_run_report_does_not_draw_the_figures_twice(capsys, tmp_path, monkeypatch):
    """`lab run ... --report` (and `lab run all`) builds the report from the figures the study just drew from its
    saved numbers; redrawing them all again took 30 s of `lab run all --quick`'s 110 s."""
    from mlplab.lab import report

    redrawn = []
    monkeypatch.setattr(report, "redraw", lambda d: redrawn.append(d))
    monkeypatch.setattr(report, "_redraw", lambda d: redrawn.append(d))
    code, out, _ = run(capsys, "lab", "run", "linear-chain", "--quick", "--report", "--out", str(tmp_path / "lab"))
    assert code == 0 and (tmp_path / "lab" / "report.html").exists() and "report:" in out
    assert redrawn == []


def test_report_says_on_the_terminal_what_it_could_not_redraw(capsys, tmp_path):
    """A damaged numbers.json: an error naming the study and what to do, status 2, no report from the stale
    figures (before: exit 0); with --keep-going the report is built from the saved figures, the section marked,
    and the command says so in one warning line."""
    out = tmp_path / "lab"
    assert run(capsys, "lab", "run", "linear-chain", "--quick", "--out", str(out))[0] == 0
    (out / "linear-chain" / "numbers.json").write_text('{"half": ')
    code, stdout, err = run(capsys, "report", str(out))
    assert code == 2 and stdout == "" and not (out / "report.html").exists()
    assert err.count("\n") == 1 and err.startswith("mlplab report: error: study linear-chain"), err
    assert "numbers.json is damaged (not valid JSON" in err and "--keep-going" in err
    code, stdout, err = run(capsys, "report", str(out), "--keep-going")
    assert code == 0 and "report:" in stdout
    assert err.count("\n") == 1 and err.startswith("warning: linear-chain: numbers.json is damaged"), err
    assert "`mlplab lab run linear-chain`" in err and "not redrawn" in err
    assert "not redrawn, so they may be stale" in (out / "report.html").read_text()


def test_lab_list_names_every_study(capsys):
    from mlplab.lab import studies

    code, out, _ = run(capsys, "lab", "list")
    assert code == 0
    for name in studies():
        assert name in out


def test_data_info(capsys, mnist_dir):
    code, out, _ = run(capsys, "data", "info")
    assert code == 0 and "mnist" in out and "train-images" in out
    assert "train-images-idx3-ubyte" in out and "…" not in out  # piped: file names whole, not cut to 80 columns


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--optimizer", "--init", "--resume", "--config", "--batch-size"):
        assert opt in out
    assert main([]) == 2  # no subcommand: help and a usage exit status


def _parsers(parser, prog="mlplab"):
    import argparse

    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{prog} {name}")


def test_every_option_of_every_subcommand_says_what_it_does():
    """`mlplab X --help` has a line for every option (demo's --out, lab run's --seed, data fetch's --quiet had none)."""
    from mlplab.cli import build_parser

    missing = [f"{prog} {action.option_strings[0]}" for prog, p in _parsers(build_parser()) for action in p._actions
               if action.option_strings and not action.help]
    assert missing == []


def test_train_blas_threads_help_says_what_the_default_does(capsys):
    """Without --blas-threads a new run takes the free cores (mlplab.runtime.threads), not the BLAS
    library's own count."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: as many as there are free cores" in text and "default: 0" not in text


def test_the_first_line_names_every_setting_that_is_not_the_default(capsys, tmp_path, mnist_dir):
    code, out, _ = run(capsys, "train", "--layers", "784,8,10", "--subset", "400", "--val-split", "100",
                       "--iterations", "2", "--schedule", "Cosine", "--dtype", "float64", "--out", str(tmp_path / "r"))
    first = " ".join(out.split("per-epoch results")[0].split())
    assert code == 0
    for words in ("schedule cosine", "first 400 training images", "100 held out for validation", "float64"):
        assert words in first, (words, first)


def test_val_split_evaluates_each_epoch_on_held_out_images(capsys, tmp_path, mnist_dir):
    out = tmp_path / "v"
    code, stdout, _ = run(capsys, "train", "--layers", "784,16,10", "--subset", "1000", "--val-split", "200",
                          "--epochs", "2", "--out", str(out), "--quiet")
    assert code == 0 and "test_acc" in stdout
    evals = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines() if '"eval"' in r]
    assert [e["step"] for e in evals] == [7, 14]  # 800 training images in batches of 128
    code, _, err = run(capsys, "train", "--subset", "1000", "--val-split", "1000", "--out", str(tmp_path / "w"))
    assert code == 2 and "--val-split" in err


def test_resume_keeps_the_blas_thread_count_the_run_was_trained_with(capsys, tmp_path, mnist_dir, monkeypatch):
    """OpenBLAS rounds float32 products differently for another thread count, so config.json
    records the count and --resume reuses it (bit-identical end) unless told otherwise."""
    import mlplab.cli.options as options
    import mlplab.cli.train as cli_train

    out = tmp_path / "t"
    args = ["train", "--layers", "784,16,10", "--subset", "500", "--iterations", "8", "--out", str(out), "--quiet"]
    code, _, _ = run(capsys, *args, "--blas-threads", "1")
    assert code == 0
    assert json.loads((out / "config.json").read_text())["blas_threads"] == 1
    used = []
    real = options.blas_threads
    monkeypatch.setattr(cli_train, "blas_threads", lambda n: used.append(n) or real(n))
    code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--quiet")
    assert code == 0 and used == [1] and "continues with" not in err  # no note on another thread count
    with real(2):
        two_threads = options.blas_threads_in_use() == 2  # not on a 1-core machine
    if two_threads:  # asking for another count is allowed, with a note on what it costs
        code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--quiet", "--blas-threads", "2")
        assert code == 0 and used[-1] == 2
        assert "trained with 1 BLAS threads and continues with 2" in " ".join(err.split())


@pytest.mark.parametrize("toml,message", [
    ("batch_size = true\n", "batch_size in {cfg} must be a whole number, got the boolean true"),
    ('lr = "0.1"\n', "lr in {cfg} must be a number, got the string '0.1'"),
    ("epochs = 2\niterations = 10\n", "give epochs in {cfg} or iterations in {cfg}, not both"),
    ('optimizer = "adam"\nmomentum = 0.9\n', "adam has no momentum (momentum in {cfg}); its settings are lr, betas"),
    ("out = 3\n", "out in {cfg} must be a folder name"),
])
def test_toml_types_are_checked_and_named(capsys, tmp_path, toml, message):
    cfg = tmp_path / "run.toml"
    cfg.write_text(toml)
    code, _, err = run(capsys, "train", "--config", str(cfg))
    assert code == 2 and message.format(cfg=cfg) in err, err
    assert "Traceback" not in err


def test_flag_and_file_conflict_and_bad_flags(capsys, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text("epochs = 2\n")
    code, _, err = run(capsys, "train", "--config", str(cfg), "--iterations", "5")
    assert code == 2 and f"give epochs in {cfg} or --iterations, not both" in err
    code, _, err = run(capsys, "train", "--epochs", "2", "--iterations", "5")
    assert code == 2 and "give --epochs or --iterations, not both" in err
    code, _, err = run(capsys, "train", "--optimizer", "adam", "--momentum", "0.9")
    assert code == 2 and "adam has no momentum (--momentum); its settings are lr, betas, eps" in err
    code, _, err = run(capsys, "train", "--blas-threads", "999")
    assert code == 2 and "--blas-threads must be 0 (the BLAS library's default) or a thread count from 1 to" in err
    code, _, err = run(capsys, "train", "--config", str(tmp_path))
    assert code == 2 and "is a folder" in err


def test_resume_refuses_other_settings_and_a_folder_without_config(capsys, tmp_path, mnist_dir):
    out = tmp_path / "r"
    cfg = tmp_path / "run.toml"  # the file's `out` is where the run goes
    cfg.write_text(f'out = "{out}"\nlayers = "784,16,10"\nsubset = 500\niterations = 8\noptimizer = "sgd"\n'
                   "lr = 0.1\n")
    code, _, err = run(capsys, "train", "--config", str(cfg), "--quiet")
    assert code == 0, err
    assert (out / "model.npz").exists()
    code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--lr", "0.01", "--quiet")
    assert code == 2 and "--lr 0.01 (the run has 0.1)" in err and "Resume without these options" in err
    code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--epochs", "2", "--quiet")
    assert code == 2 and "--epochs 2 (the run has no epoch count: it trains for 8 iterations)" in err
    code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--momentum", "0.5", "--quiet")
    assert code == 2 and "sgd has no momentum (--momentum)" in err
    code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--optimizer", "momentum", "--quiet")
    assert code == 2 and "--optimizer 'momentum' (the run has 'sgd')" in err
    code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--lr", "0.1", "--optimizer", "SGD", "--quiet")
    assert code == 0, err  # the same settings, spelled differently, are not a difference
    (out / "config.json").unlink()
    code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--quiet")
    assert code == 2 and "config.json is missing" in err


def test_init_and_optim_lists_print_the_registries(capsys):
    from mlplab.init import SCHEMES
    from mlplab.optim import OPTIMIZER_ALIASES, OPTIMIZERS, optimizer_defaults

    code, out, _ = run(capsys, "init", "list")
    flat = " ".join(out.replace("│", " ").split())
    assert code == 0 and "N(0, 1/n_in)" in flat and "2/(n_in + n_out)" in flat and "\"Xavier\" means two things" in flat
    for s in SCHEMES.values():
        assert s.name in out and all(a in out for a in s.aliases)
    code, out, _ = run(capsys, "optim", "list")
    assert code == 0
    for name in [*OPTIMIZERS, *OPTIMIZER_ALIASES]:
        assert name in out
    assert f"lr={optimizer_defaults('adam')['lr']}" in out and "β1" in out
    # piped (as here), no setting is cut short: every default reads whole, nothing ends in "…"
    assert "…" not in out
    for name in OPTIMIZERS:
        for k, v in optimizer_defaults(name).items():
            assert f"{k}={v}" in out, (name, k)



def _on_a_terminal(argv, timeout=300):
    """Run ``python -m mlplab ARGV`` with standard error on a pseudo-terminal; returns (status, what it showed)."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[1] / "src")
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": src, "COLUMNS": "120", "TERM": "xterm"}
    p = subprocess.Popen([sys.executable, "-m", "mlplab", *argv], stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return p.wait(timeout=timeout), shown.decode("utf-8", "replace")


def test_report_shows_progress_on_a_terminal(capsys, tmp_path, quick_study):
    """`mlplab report` redraws every study's figures (30 s for the nine) with a progress bar naming the study
    (it was silent); into a pipe it stays quiet."""
    import re
    import shutil

    for i in range(2):  # two copies of the session's quick run of linear-chain (tests/lab_quick.py)
        shutil.copytree(quick_study("linear-chain").directory, tmp_path / f"lab{i}" / "linear-chain")
    dirs = [str(tmp_path / f"lab{i}" / "linear-chain") for i in range(2)]
    code, shown = _on_a_terminal(["report", *dirs, "--out", str(tmp_path / "rep")])
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert code == 0, shown[-2000:]
    assert "report: redrawing linear-chain" in shown and "1/2" in shown and "2/2" in shown, shown[-2000:]
    code, _, err = run(capsys, "report", *dirs, "--out", str(tmp_path / "rep2"))
    assert code == 0 and err == ""


def test_study_time_left_moves_with_the_clock_and_uses_every_completed_unit():
    """The time-left column of `lab run`'s bar, on a fake clock: ten units of 10 s each. After the first unit it
    says 1:30; while the second one runs 40 s over, it grows (rich's column stood still at 1:30: the estimate
    'froze'); after five units at t = 50 s, it says 0:50."""
    import io

    from rich.console import Console

    from mlplab.cli.lab import _study_bar, time_left
    from mlplab.lab import get_study

    now = [0.0]
    bar = _study_bar(Console(file=io.StringIO()), get_study("paths"), get_time=lambda: now[0])
    task = bar.bar.tasks[0]
    column = bar.bar.columns[-1]

    def shown(t):
        now[0] = t
        return str(column.render(task))

    bar.update(0, 10)
    assert shown(0.0) == "-:--:--"  # nothing done yet: no guess
    now[0] = 10.0
    bar.update(1, 10)
    assert shown(10.0) == "0:01:30"
    assert shown(30.0) == "0:04:30" and shown(50.0) == "0:07:30"  # a slow unit: the estimate grows
    bar.update(5, 10)
    assert shown(51.0) == "0:00:51"  # 51 s for 5 units: 51 s for the other 5
    assert time_left(51.0, 10, 10) == 0.0 and time_left(5.0, 0, None) is None


def test_lab_groups_select_the_textbook_and_the_frontier_studies(tmp_path, capsys):
    """`make demo` runs `lab run textbook` (the source texts' experiments); `frontier` is every other study, so a
    new study is frontier unless listed; the two groups together are `all`, in report order."""
    from mlplab import lab

    every = list(lab.studies())
    textbook = [s.name for s in lab.select("textbook")]
    frontier = [s.name for s in lab.select("Frontier")]
    assert textbook == [n for n in every if n in lab.TEXTBOOK] and len(textbook) == len(lab.TEXTBOOK)
    assert sorted(textbook + frontier) == sorted(every) and not set(textbook) & set(frontier)
    assert [s.name for s in lab.select("all")] == every
    assert {"paths", "symmetry"} <= set(textbook) and {"phase-diagram", "edge-of-stability"} <= set(frontier)
    assert main(["lab", "run", "nonsense", "--out", str(tmp_path / "o")]) == 2
    assert "or a group: all, textbook, frontier" in capsys.readouterr().err
    assert "lab run textbook --out lab-report" in (Path(__file__).parents[1] / "Makefile").read_text()
