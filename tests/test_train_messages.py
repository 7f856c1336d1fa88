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
