"""`mlplab sweep` and `mlplab sweep report`: one-line errors, a tiny sweep end to end, resume, figures."""

from __future__ import annotations

import json
import re

import pytest

from mlplab.cli import main

TINY = ["--dataset", "spirals", "--layers", "2,8,2", "--train-size", "300", "--val-split", "100",
        "--test-size", "200", "--batch-size", "32", "--jobs", "1"]


@pytest.mark.parametrize("argv, msg", [
    (["--optimizers", "sgd,lbfgs"], "unknown optimizer 'lbfgs'"),
    (["--seeds", "0"], "seeds must be at least 1"),
    (["--lr-grid", "0"], "positive integer"),
    (["--lr-range", "1,x"], "--lr-range '1,x': give two numbers"),
    (["--layers", "784,10,3"], "must start with 784 and end with 10"),
    (["--activation", "swish"], "unknown activation"),
    (["--method", "bayes"], "unknown search method"),
    (["--jobs", "0"], "--jobs must be a positive number"),
    (["--executor", "local", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs the Dask executor"),
    (["--config", "/nonexistent/sweep.toml"], "no such file"),
    (["report"], "use `mlplab sweep [options]`"),
    (["report", "/nonexistent/dir"], "no summary.json in /nonexistent/dir"),
    (["--train-size", "100", "--val-split", "200"], "--val-split 200 must be smaller than --train-size 100"),
    (["--space", "bayes"], "unknown search space 'bayes'; valid: lr, lr+momentum, choi"),
    (["--budget", "0"], "--budget must be a positive number of settings per optimizer"),
    (["--budget", "4", "--method", "grid"], "it does not go with --method grid"),
    (["--budget", "4", "--lr-grid", "3"], "give --budget or --lr-grid/points, not both"),
    (["--target", "2"], "--target is a validation accuracy between 0 and 1"),
])
def test_bad_options_are_one_line_errors(capsys, argv, msg):
    assert main(["sweep", *argv]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_toml_key_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text("optimizers = ['sgd']\nlearning_rate = 0.1\n")
    assert main(["sweep", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown keys ['learning_rate']" in err and err.count("\n") == 1
    cfg.write_text("[problem]\nepoch = 1\n")
    assert main(["sweep", "--config", str(cfg)]) == 2
    assert "unknown problem settings ['epoch']" in capsys.readouterr().err


def test_a_failed_trial_says_why_and_retry_failed_runs_it_again(tmp_path, capsys, monkeypatch):
    """A trial whose training raises is a result (stored as failed); the command prints the reason once
    (not just "failed") and exits 0. `--retry-failed` runs the stored failures again."""
    from mlplab import train
    from mlplab.sweep.store import Store

    real_fit = train.Trainer.fit

    def planted(self, *a, **kw):
        raise ValueError("planted failure of the training")

    monkeypatch.setattr(train.Trainer, "fit", planted)
    out = tmp_path / "sw"
    argv = ["sweep", "--optimizers", "sgd", "--lr-grid", "2", "--seeds", "1", "--iterations", "2", "--stack", "off",
            *TINY, "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err.count("ValueError: planted failure of the training") == 1, captured.err
    assert "lr=0.01" in captured.err or "lr=" in captured.err and "{" not in captured.err  # settings, not a dict
    assert "3 trials failed" in captured.out and "--retry-failed" in captured.out
    monkeypatch.setattr(train.Trainer, "fit", real_fit)
    assert main(argv) == 0  # a failed trial is a result: the same command keeps it
    assert "note: 3 stored trials failed; `--retry-failed` runs them again" in capsys.readouterr().out
    assert main([*argv, "--retry-failed"]) == 0
    assert "--retry-failed: 3 stored failed trials will run again" in capsys.readouterr().out
    with Store(out) as store:
        assert {r["status"] for r in store.rows()} == {"done"}


def test_progress_lines_show_settings_not_dicts(tmp_path, capsys):
    argv = ["sweep", "--optimizers", "momentum", "--lr-grid", "2", "--seeds", "1", "--iterations", "2", "--stack",
            "off", *TINY, "--out", str(tmp_path / "sw")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "trials," in ln and "last:" in ln]
    assert lines, out
    assert all("{" not in ln and "'" not in ln for ln in lines), lines
    assert re.search(r"last: momentum lr=[0-9.e+-]+(, momentum=0.9)? seed 0 → done", lines[-1]), lines[-1]
    from mlplab.cli.sweep import _hparams_text

    assert _hparams_text({"lr": 0.01, "momentum": 0.9, "betas": [0.9, 0.999]}) == \
        "lr=0.01, momentum=0.9, betas=[0.9, 0.999]"


def test_ctrl_c_during_a_trial_stops_the_sweep(tmp_path, capsys, monkeypatch):
    """The Trainer answers Ctrl-C by stopping early; a trial cut short must not be stored as done (the sweep
    went on to the end, with the cut trial's numbers among the results)."""
    from mlplab import train

    real_fit = train.Trainer.fit

    def interrupted_fit(self, *a, **kw):
        history = real_fit(self, *a, **kw)
        history.interrupted = True  # as if Ctrl-C came during this trial
        return history

    monkeypatch.setattr(train.Trainer, "fit", interrupted_fit)
    out = tmp_path / "sw"
    argv = ["sweep", "--optimizers", "sgd", "--lr-grid", "2", "--seeds", "1", "--iterations", "2", "--stack", "off",
            *TINY, "--out", str(out)]
    assert main(argv) == 130
    assert "interrupted" in capsys.readouterr().out
    from mlplab.sweep.store import Store

    with Store(out) as store:
        assert not any(r["status"] == "done" for r in store.rows())


def test_sweep_end_to_end_resume_and_report(tmp_path, capsys):
    out = tmp_path / "sw"
    argv = ["sweep", "--optimizers", "sgd,adam", "--lr-grid", "2", "--seeds", "2", "--iterations", "5", *TINY,
            "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "selection: 8 trials" in text
    assert "n = 2: too few seeds for a seed interval" in " ".join(text.split())  # the table says why, no [-46, 206]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"]["select"] == 8 and set(summary["optimizers"]) == {"sgd", "adam"}
    assert summary["settings"]["problem"]["iterations"] == 5 and summary["settings"]["problem"]["epochs"] is None
    assert main(argv) == 0  # the same command again: everything is there
    assert "selection: 8 of 8 trials already done" in capsys.readouterr().out
    assert main(["sweep", "report", str(out)]) == 0
    for f in ("lr_sensitivity.png", "tuned_vs_book.png", "ranking.png", "section.md", "meta.json"):
        assert (out / f).exists(), f
    section = (out / "section.md").read_text()
    assert "| SGD |" in section and "Tie groups by test accuracy" in section
    # two seeds: no t-interval (t₀.₉₇₅,₁ = 12.7 gave [-46.27, 206.07]) but the reason, and the Wilson interval
    assert "n = 2: too few seeds for a seed interval" in section and "Wilson" in section
    import re

    numbers = [float(v) for lo_hi in re.findall(r"\[(-?[\d.]+), (-?[\d.]+)\]", section) for v in lo_hi]
    assert numbers and all(0 <= v <= 100 for v in numbers), numbers
    captions = " ".join(f["caption"] for f in json.loads((out / "meta.json").read_text())["figures"])
    assert "Wilson interval of the pooled answers (n = 2: too few seeds for a seed interval)" in captions
    # the folder now holds this sweep: another one there is refused (it mixed trials and overwrote the summary)
    other = ["sweep", "--optimizers", "sgd", "--lr-grid", "2", "--seeds", "2", "--iterations", "6", *TINY,
             "--out", str(out)]
    before = (out / "settings.json").read_text()
    assert main(other) == 2
    err = capsys.readouterr().err
    assert "holds a sweep with other settings (they differ in optimizers, space, problem.iterations)" in err, err
    assert err.count("\n") == 1 and (out / "settings.json").read_text() == before
    # a tuned setting that diverged on every test seed has no accuracy: the figures say so instead of failing
    lost = tmp_path / "lost"
    lost.mkdir()
    for f in ("settings.json", "summary.json", "trials.sqlite"):
        (lost / f).write_bytes((out / f).read_bytes())
    s = json.loads((lost / "summary.json").read_text())
    s["optimizers"]["sgd"]["test"]["accuracy"] = {"n": 0, "mean": None, "sd": None, "ci": None}
    (lost / "summary.json").write_text(json.dumps(s))
    assert main(["sweep", "report", str(lost)]) == 0, capsys.readouterr().err
    assert (lost / "ranking.png").exists() and (lost / "tuned_vs_book.png").exists()


def test_jobs_is_capped_at_the_tasks_and_the_cores_and_says_so(tmp_path, capsys, monkeypatch):
    """`--jobs 40` for two trials forked 40 workers on 2 cores."""
    from mlplab.sweep import executor
    from mlplab.sweep.executor import usable_cores

    made = []
    real = executor.make_executor
    monkeypatch.setattr(executor, "make_executor", lambda kind, workers, scheduler=None: made.append(workers) or
                        real(kind, workers, scheduler))
    argv = ["sweep", "--optimizers", "sgd", "--lr-grid", "2", "--seeds", "1", "--iterations", "2", "--stack", "off",
            *[a for a in TINY if a not in ("--jobs", "1")], "--jobs", "40", "--out", str(tmp_path / "sw")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    cores = usable_cores()
    jobs = min(2, cores)
    assert made == [jobs]
    assert f"note: --jobs 40: using {jobs} worker process{'es' if jobs > 1 else ''} (the sweep has 2 tasks to run " \
           f"at a time; this machine has {cores} usable core{'s' if cores > 1 else ''})" in out, out


def test_a_scheduler_where_nothing_listens_is_one_line_within_seconds(capsys):
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused at once
        t0 = time.monotonic()
        code = main(["sweep", *TINY[:-2], "--iterations", "2", "--scheduler", address, "--out", "/nonexistent/x"])
        took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert code == 5 and err.count("\n") == 1 and "cannot connect (nothing listens there)" in err, err
    assert took < 5, took  # Dask's own client retried for 10 s
