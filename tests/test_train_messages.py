"""Messages of the training loop that must not mislead: divergence before a checkpoint, resuming a finished run."""

import json

import numpy as np
import pytest

from mlplab import nn, optim
from mlplab.train import CHECKPOINT_FILE, Trainer, TrainingDiverged, load_checkpoint


def blobs(n=300, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = (rng.standard_normal((k, d))[y] * 3 + rng.standard_normal((n, d))).astype(np.float32)
    return X, y


def diverging():
    net = nn.MLP([5, 16, 16, 3], activation="relu", weight_init="std=1", rng=0)
    return net, optim.SGD(net.parameters(), lr=1e4)


def test_divergence_before_the_first_checkpoint_does_not_claim_one(tmp_path):
    X, y = blobs()
    net, opt = diverging()
    with pytest.raises(TrainingDiverged) as e:
        Trainer(net, opt, run_dir=tmp_path, checkpoint_every=500).fit(X, y, epochs=5, batch_size=30, rng=0)
    assert not (tmp_path / CHECKPOINT_FILE).exists()
    assert "checkpoint is kept" not in str(e.value)
    assert "before its first checkpoint" in str(e.value) and "nothing to resume" in str(e.value)


def test_divergence_after_a_checkpoint_names_it(tmp_path):
    X, y = blobs()
    net, opt = diverging()
    with pytest.raises(TrainingDiverged) as e:
        Trainer(net, opt, run_dir=tmp_path, checkpoint_every=1).fit(X, y, epochs=5, batch_size=30, rng=0)
    assert load_checkpoint(tmp_path)["step"] == e.value.step - 1
    assert f"the last good checkpoint (before the divergence) is kept in {tmp_path / CHECKPOINT_FILE}" in str(e.value)


def test_resuming_a_finished_run_keeps_its_training_time_and_files(tmp_path):
    X, y = blobs()

    def make():
        net = nn.MLP([5, 16, 3], rng=0)
        return net, optim.Adam(net.parameters(), lr=0.01)

    net, opt = make()
    first = Trainer(net, opt, run_dir=tmp_path).fit(X, y, epochs=2, batch_size=30, rng=0)
    summary = (tmp_path / "summary.json").read_text()
    model = (tmp_path / "model.npz").read_bytes()
    assert json.loads(summary)["seconds"] == pytest.approx(first.seconds)
    assert load_checkpoint(tmp_path)["seconds"] == pytest.approx(first.seconds, rel=0.05, abs=0.05)
    net2, opt2 = make()
    again = Trainer(net2, opt2, run_dir=tmp_path).fit(X, y, epochs=2, batch_size=30, rng=0, resume=True)
    assert again.steps == first.steps
    assert again.seconds >= load_checkpoint(tmp_path)["seconds"]  # the earlier session's time, not ~0
    assert (tmp_path / "summary.json").read_text() == summary
    assert (tmp_path / "model.npz").read_bytes() == model


def test_training_time_adds_up_over_sessions(tmp_path):
    X, y = blobs()
    net = nn.MLP([5, 16, 3], rng=0)
    opt = optim.Adam(net.parameters(), lr=0.01)

    class Stop:
        def on_train_begin(self, t): ...
        def on_epoch_end(self, t, e, m): ...
        def on_train_end(self, t): ...

        def on_step_end(self, t, step, loss):
            if step == 7:
                t.stop_training = True

    Trainer(net, opt, run_dir=tmp_path, callbacks=[Stop()]).fit(X, y, epochs=2, batch_size=30, rng=0)
    part = load_checkpoint(tmp_path)["seconds"]
    assert part > 0
    net2 = nn.MLP([5, 16, 3], rng=0)
    hist = Trainer(net2, optim.Adam(net2.parameters(), lr=0.01), run_dir=tmp_path).fit(
        X, y, epochs=2, batch_size=30, rng=0, resume=True)
    assert hist.seconds > part
    assert json.loads((tmp_path / "summary.json").read_text())["seconds"] == pytest.approx(hist.seconds)


def test_layer_numbers_are_the_linear_layers_of_layers_counted_from_one():
    from mlplab.train import _first_nonfinite, _layer_names

    net = nn.MLP([5, 4, 4, 3], activation="relu", rng=0)
    names = _layer_names(net)
    assert [names[i] for i in range(5)] == ["layer 1 (5→4)", "the ReLU after layer 1 (5→4)", "layer 2 (4→4)",
                                            "the ReLU after layer 2 (4→4)", "layer 3 (4→3)"]
    assert names["layers.4.weight"] == "layer 3's weights"
    net.layers[4].weight.data[0, 0] = np.nan  # the last Linear layer: "layer 3", as `mlplab diagnose` numbers it
    assert _first_nonfinite(net, np.ones((2, 5), np.float32)).startswith("layer 3's weights (shape (4, 3))")
    net = nn.MLP([5, 4, 4, 3], activation="relu", rng=0)
    net.layers[2].weight.data[:] = 1e38
    msg = _first_nonfinite(net, np.ones((2, 5), np.float32) * 1e3)
    assert msg.startswith("the output of layer 2 (4→4)") or msg.startswith("the output of the ReLU after layer 2")


# --------------------------------------------------------------- extending a finished run (issue 23 §4)
def _train_cli(capsys, *argv):
    from mlplab.cli import main

    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().err


COMMON = ("--layers", "784,16,10", "--subset", "600", "--batch-size", "100", "--optimizer", "momentum",
          "--blas-threads", "1", "--quiet")


def _same_run(a, b, extra_row_at=None):
    ma, mb = np.load(a / "model.npz"), np.load(b / "model.npz")
    assert ma.files == mb.files and all(np.array_equal(ma[k], mb[k]) for k in ma.files)
    rows = (a / "metrics.jsonl").read_text().splitlines(keepends=True)
    if extra_row_at is not None:  # the first run's evaluation when it ended inside an epoch: said in the note
        ends = [r for r in rows if json.loads(r) == {**json.loads(r), "kind": "eval", "step": extra_row_at}]
        assert len(ends) == 1
        rows.remove(ends[0])
    assert "".join(rows) == (b / "metrics.jsonl").read_text()
    ca, cb = (json.loads((d / "config.json").read_text()) for d in (a, b))
    assert {**ca, "out": ""} == {**cb, "out": ""}


@pytest.mark.parametrize("key, short, long", [("--epochs", "1", "2"), ("--iterations", "4", "9")])
def test_a_finished_run_extended_equals_the_longer_run_uninterrupted(key, short, long, tmp_path, capsys, mnist_dir):
    """`--resume --epochs 2` on a 1-epoch run without a schedule: allowed, said, and bit for bit the 2-epoch run
    (model.npz, metrics.jsonl, config.json); the same with iterations, from a checkpoint inside an epoch."""
    ext, whole = tmp_path / "ext", tmp_path / "whole"
    assert _train_cli(capsys, "train", *COMMON, key, short, "--out", str(ext))[0] == 0
    code, err = _train_cli(capsys, "train", "--out", str(ext), "--resume", key, long, "--quiet")
    assert code == 0, err
    assert f"continues to {key[2:]} {long} (it had {key[2:]} {short})" in err and "exactly" in err
    inside = key == "--iterations"  # 4 steps of an epoch of 6: the run ended with an evaluation inside the epoch
    assert ("keeps the evaluation made when the run ended at step 4" in err) == inside
    assert _train_cli(capsys, "train", *COMMON, key, long, "--out", str(whole))[0] == 0
    _same_run(ext, whole, extra_row_at=4 if inside else None)
    code, err = _train_cli(capsys, "train", "--out", str(ext), "--resume", "--quiet")  # its new length is kept
    assert code == 0 and "had already finished" in err


def test_extending_refuses_what_would_change_the_result(tmp_path, capsys, mnist_dir):
    """A cosine schedule is fitted to the run's length: a longer run would change every step's learning rate, so
    that is refused with the reason; so is a length shorter than what was trained. Nothing is touched."""
    run = tmp_path / "cos"
    assert _train_cli(capsys, "train", *COMMON, "--epochs", "1", "--schedule", "cosine", "--out", str(run))[0] == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    code, err = _train_cli(capsys, "train", "--out", str(run), "--resume", "--epochs", "2", "--quiet")
    assert code == 2 and err.count("\n") == 1 and "--epochs 2 would change" in err and "cosine schedule" in err
    plain = tmp_path / "plain"
    assert _train_cli(capsys, "train", *COMMON, "--iterations", "5", "--out", str(plain))[0] == 0
    code, err = _train_cli(capsys, "train", "--out", str(plain), "--resume", "--iterations", "3", "--quiet")
    assert code == 2 and "has trained 5 steps, more than the 3 of --iterations 3" in err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert json.loads((plain / "config.json").read_text())["iterations"] == 5
