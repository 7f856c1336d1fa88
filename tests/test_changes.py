"""Setting changes during a run (mlplab.changes): read and written back, checked like the setting they
change, applied by `mlplab train` after their steps (flags and TOML alike), and a live run whose
learning rate changed mid-run exported and retrained bit for bit by the command it prints."""

from __future__ import annotations

import json
import shlex
import time

import numpy as np
import pytest

from mlplab.changes import ChangeError, SettingChanges, format_changes, parse_changes
from mlplab.settings import SettingsError, validate_train


def test_changes_read_the_same_from_text_tables_and_pairs():
    want = [(300, 0.01), (800, 0.001)]
    assert parse_changes("800:0.001, 300:0.01") == want
    assert parse_changes({"300": 0.01, "800": 0.001}) == want  # a TOML table's keys are strings
    assert parse_changes([[300, 0.01], [800, 0.001]]) == want
    assert parse_changes(format_changes([(7, 0.1 + 0.2)])) == [(7, 0.1 + 0.2)]  # written back exactly
    for bad, msg in [("300", "is not STEP:VALUE"), ("a:0.1", "not a whole number"), ("3:x", "not a number"),
                     ("3:0.1,3:0.2", "changed twice"), ("-1:0.1", "step >= 0"), ("", "is empty"), (5, "must be")]:
        with pytest.raises(ChangeError, match=msg):
            parse_changes(bad)


@pytest.mark.parametrize("given, message", [
    ({"lr_changes": "10:0.1", "schedule": "cosine"}, "--lr-changes and --schedule both set the learning rate"),
    ({"momentum_changes": "10:0.5"}, "--momentum-changes: adam has no momentum"),
    ({"optimizer": "momentum", "momentum_changes": "10:1.5"}, "--momentum-changes at step 10 must be >= 0 and < 1"),
    ({"lr_changes": "10:0"}, "--lr-changes at step 10 must be positive"),
    ({"weight_decay_changes": "10:-1"}, "--weight-decay-changes at step 10 must be >= 0"),
])
def test_a_change_is_checked_as_the_setting_it_changes(given, message):
    with pytest.raises(SettingsError, match=message):
        validate_train(given)


def _metrics(folder):
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "kind" not in r]


def _same_model(a, b):
    with np.load(a / "model.npz") as x, np.load(b / "model.npz") as y:
        return sorted(x.files) == sorted(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)


@pytest.mark.mnist
def test_mlplab_train_applies_the_changes_after_their_steps_from_flags_and_toml(mnist_dir, tmp_path, capsys):
    from mlplab.cli import main

    base = ["train", "--layers", "784,16,10", "--optimizer", "momentum", "--lr", "0.1", "--iterations", "40",
            "--batch-size", "32", "--quiet", "--blas-threads", "1"]
    assert main([*base, "--lr-changes", "20:0.01", "--momentum-changes", "30:0.5", "--out", str(tmp_path / "a")]) == 0
    toml = tmp_path / "run.toml"
    toml.write_text("[train.lr_changes]\n20 = 0.01\n[train.momentum_changes]\n30 = 0.5\n")
    assert main([*base, "--config", str(toml), "--out", str(tmp_path / "b")]) == 0
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    capsys.readouterr()
    a, b, plain = (_metrics(tmp_path / d) for d in ("a", "b", "plain"))
    assert [r["lr"] for r in a] == [0.1] * 20 + [0.01] * 20  # the step after 20 is the first at 0.01
    assert a == b and _same_model(tmp_path / "a", tmp_path / "b")  # the TOML table: the same run
    assert [r["loss"] for r in a[:21]] == [r["loss"] for r in plain[:21]]  # the same until the change holds
    assert a[21]["loss"] != plain[21]["loss"]
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["lr_changes"] == "20:0.01" and config["momentum_changes"] == "30:0.5"


@pytest.mark.mnist
def test_a_live_run_changed_mid_run_is_retrained_bit_for_bit(mnist_dir, tmp_path, capsys):
    """The learning rate and momentum changed while the live run trains (the page's /api/set): the
    change is recorded at the step it took hold, exported, and the printed command reproduces
    metrics.jsonl and model.npz bit for bit."""
    from mlplab.cli import main
    from mlplab.live.session import TrainSession

    session = TrainSession({"dataset": "mnist", "layers": "784,16,10", "optimizer": "momentum", "lr": "0.05",
                            "iterations": "400", "batch_size": "32", "seed": "2"})
    try:
        session.start()
        for key, value, after in (("lr", 0.005, 60), ("momentum", 0.6, 150)):
            t0 = time.time()
            while session.trainer.step < after:
                assert time.time() - t0 < 60
                time.sleep(0.005)
            session.request_change(key, value)
        session.thread.join(120)
        assert session.status == "done", session.message
        changes = session.change_list()
        assert [c["key"] for c in changes] == ["lr", "momentum"] and changes[0]["step"] >= 60
        out = session.export(tmp_path / "live")
        rows = _metrics(out)
        k = changes[0]["step"]
        assert rows[k - 1]["lr"] == 0.05 and rows[k]["lr"] == 0.005  # step k+1 is the first at the new rate
        command = session.command(out)
        assert f"--lr-changes {k}:0.005" in command and f"--momentum-changes {changes[1]['step']}:0.6" in command
        assert main(shlex.split(command)[1:] + ["--quiet"]) == 0
        capsys.readouterr()
        again = tmp_path / "live-again"
        assert (out / "metrics.jsonl").read_text() == (again / "metrics.jsonl").read_text()
        assert _same_model(out, again)
        ca, cb = (json.loads((d / "config.json").read_text()) for d in (out, again))
        assert ca.pop("out") != cb.pop("out") and ca == cb
    finally:
        session.close()


def test_a_change_requested_while_paused_holds_from_the_step_after_the_next():
    """Paused after step s, the callback of step s has run: the change holds after step s + 1 and is
    recorded there, so a retraining applies it at the same place."""
    from mlplab.live.session import TrainSession

    session = TrainSession({"dataset": "xor", "layers": "2,8,2", "iterations": "100000", "batch_size": "8",
                            "optimizer": "sgd", "lr": "0.1"})
    try:
        session.pause()
        session.start()
        t0 = time.time()
        while not session.held.is_set():
            assert time.time() - t0 < 30
            time.sleep(0.01)
        s = session.trainer.step
        session.request_change("lr", 0.02)
        assert session.optimizer.lr == 0.1  # not yet: the thread is waiting
        session.step_once()
        while session.trainer.step < s + 1 or not session.held.is_set():
            time.sleep(0.01)
        assert session.change_list() == [{"step": s + 1, "key": "lr", "value": 0.02}] and session.optimizer.lr == 0.02
        session.request_change("lr", "0.02")  # the same value again (a form's repeated change event): nothing new
        session.step_once()
        while session.trainer.step < s + 2 or not session.held.is_set():
            time.sleep(0.01)
        assert len(session.change_list()) == 1
        with pytest.raises(Exception, match="only lr, momentum, weight_decay"):
            session.request_change("betas", 0.5)
    finally:
        session.close()


def test_a_run_resumed_after_a_change_continues_as_if_never_stopped(tmp_path):
    """Changes at step 0 hold from the first step; a run stopped at step 20 and resumed continues
    with the changes made before (the checkpoint's optimizer state) and after: the same weights as an
    unbroken run."""
    from mlplab import nn, optim, toydata
    from mlplab.train import Callback, Trainer

    X, y = toydata.load_toy("spirals", "train", seed=0)

    class StopAt(Callback):
        def on_step_end(self, trainer, step, loss):
            trainer.stop_training = trainer.stop_training or step == 20

    def run(folder, resume=False, stop=False):
        model = nn.MLP([2, 16, 3], rng=1)
        opt = optim.get_optimizer("momentum", model.parameters(), lr=0.1)
        changes = SettingChanges({"lr": [(0, 0.2), (10, 0.01), (30, 0.05)], "momentum": [(5, 0.5)]})
        trainer = Trainer(model, opt, callbacks=[changes] + ([StopAt()] if stop else []), run_dir=folder,
                          checkpoint_every=1000)
        trainer.fit(X, y, iterations=40, batch_size=16, rng=3, resume=resume)
        return model, opt

    whole, _ = run(tmp_path / "whole")
    run(tmp_path / "cut", stop=True)
    resumed, opt = run(tmp_path / "cut", resume=True)
    assert opt.lr == 0.05 and opt.momentum == 0.5
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert np.array_equal(a.data, b.data)
    rows = _metrics(tmp_path / "whole")
    assert [r["lr"] for r in rows] == [0.2] * 10 + [0.01] * 20 + [0.05] * 10
