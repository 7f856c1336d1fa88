"""The training loop: learning, metrics files, bit-identical resume, Ctrl-C, divergence."""

import json
import os
import signal

import numpy as np
import pytest

from mlplab import nn, optim
from mlplab.train import Callback, Trainer, TrainingDiverged, evaluate, load_checkpoint


def blobs(n=300, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    X = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return X, y


def make(seed=0, lr=0.05, opt="adam"):
    net = nn.MLP([5, 16, 16, 3], activation="relu", weight_init="he", rng=seed)
    return net, optim.get_optimizer(opt, net.parameters(), lr=lr)


def test_fit_learns_and_reports_metrics():
    X, y = blobs()
    net, opt = make()
    loss0, _ = evaluate(net, X, y)
    hist = Trainer(net, opt).fit(X, y, epochs=5, batch_size=32, rng=1, val=(X, y))
    assert hist.steps == 5 * 10 and len(hist.loss) == 50 and len(hist.evals) == 5
    assert hist.final["val_loss"] < 0.3 * loss0 and hist.final["val_acc"] > 0.9
    assert hist.final["train_loss"] == pytest.approx(np.mean(hist.loss[-10:]), rel=0.2)
    loss, acc = evaluate(net, X, y)
    assert loss == pytest.approx(hist.final["val_loss"]) and acc == hist.final["val_acc"]


def test_iterations_and_same_seed_same_run():
    X, y = blobs()
    runs = []
    for _ in range(2):
        net, opt = make()
        runs.append(Trainer(net, opt).fit(X, y, iterations=23, batch_size=32, rng=5, replacement=True).loss)
    assert len(runs[0]) == 23
    np.testing.assert_array_equal(runs[0], runs[1])
    net, opt = make()
    other = Trainer(net, opt).fit(X, y, iterations=23, batch_size=32, rng=6, replacement=True).loss
    assert not np.array_equal(runs[0], other)


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("stop_at", [7, 10, 25])
def test_resume_is_bit_identical(tmp_path, replacement, stop_at):
    """Stop after `stop_at` steps (mid-epoch, at an epoch boundary, later), resume, compare."""
    X, y = blobs()
    net, opt = make(opt="adam")
    full = Trainer(net, opt, run_dir=tmp_path / "full").fit(
        X, y, epochs=3, batch_size=30, rng=3, replacement=replacement, val=(X, y))

    class StopAt(Callback):
        def on_step_end(self, trainer, step, loss):
            if step == stop_at:
                trainer.stop_training = True

    net2, opt2 = make(opt="adam")
    part = tmp_path / "part"
    Trainer(net2, opt2, run_dir=part, callbacks=[StopAt()]).fit(
        X, y, epochs=3, batch_size=30, rng=3, replacement=replacement, val=(X, y))
    assert load_checkpoint(part)["step"] == stop_at
    net3, opt3 = make(seed=99, opt="adam")  # different weights: the checkpoint must overwrite them
    resumed = Trainer(net3, opt3, run_dir=part).fit(
        X, y, epochs=3, batch_size=30, rng=3, replacement=replacement, val=(X, y), resume=True)
    np.testing.assert_array_equal(resumed.loss, full.loss)
    for a, b in zip(net.parameters(), net3.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert resumed.evals == full.evals
    assert (part / "metrics.jsonl").read_text() == (tmp_path / "full" / "metrics.jsonl").read_text()


def test_ctrl_c_writes_checkpoint_and_stops_cleanly(tmp_path):
    X, y = blobs()
    net, opt = make()

    class SendSigint(Callback):
        def on_step_end(self, trainer, step, loss):
            if step == 4:
                os.kill(os.getpid(), signal.SIGINT)

    hist = Trainer(net, opt, run_dir=tmp_path, callbacks=[SendSigint()]).fit(X, y, epochs=2, batch_size=30, rng=0)
    assert hist.interrupted and hist.steps == 4
    ck = load_checkpoint(tmp_path)
    assert ck["step"] == 4
    np.testing.assert_array_equal(ck["model"]["layers.0.weight"], net.layers[0].weight.data)
    assert not (tmp_path / "model.npz").exists()  # the final model is only written by a finished run


def test_ctrl_c_without_a_run_folder_stops_after_the_step(tmp_path):
    """No checkpoint to resume from: Ctrl-C raises after the current step, so a lab study or a sweep trial
    does not go on with a history cut short (`lab run optimizers-mnist` then failed on uneven arrays)."""
    X, y = blobs()
    net, opt = make()
    steps = []

    class SendSigint(Callback):
        def on_step_end(self, trainer, step, loss):
            steps.append(step)
            if step == 4:
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        Trainer(net, opt, callbacks=[SendSigint()]).fit(X, y, epochs=2, batch_size=30, rng=0)
    assert steps == [1, 2, 3, 4]  # the step under way was finished, no further one started


def test_divergence_is_reported_and_last_good_checkpoint_kept(tmp_path):
    X, y = blobs()
    net = nn.MLP([5, 16, 16, 3], activation="relu", weight_init="std=1", rng=0)
    opt = optim.SGD(net.parameters(), lr=1e4)
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+ .*the loss is (nan|inf)") as e:
        Trainer(net, opt, run_dir=tmp_path, checkpoint_every=1).fit(X, y, epochs=5, batch_size=30, rng=0)
    ck = load_checkpoint(tmp_path)
    assert ck["step"] == e.value.step - 1
    assert all(np.all(np.isfinite(v)) for v in ck["model"].values())
    assert "layer" in str(e.value)
    net2 = nn.MLP([5, 16, 16, 3], activation="relu", weight_init="std=1", rng=0)
    hist = Trainer(net2, optim.SGD(net2.parameters(), lr=1e4), on_divergence="stop").fit(
        X, y, epochs=5, batch_size=30, rng=0)
    assert hist.diverged["step"] == e.value.step and len(hist.loss) == e.value.step - 1


def test_run_dir_files(tmp_path):
    X, y = blobs()
    net, opt = make()
    Trainer(net, opt, run_dir=tmp_path, log_every=2).fit(X, y, epochs=2, batch_size=50, rng=0,
                                                          val=(X, y), config={"lr": 0.05})
    assert json.loads((tmp_path / "config.json").read_text()) == {"lr": 0.05}
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "kind" not in r] == [2, 4, 6, 8, 10, 12]
    assert [r["epoch"] for r in rows if r.get("kind") == "eval"] == [1, 2]
    loaded = nn.MLP([5, 16, 16, 3], rng=1).load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.layers[0].weight.data, net.layers[0].weight.data)


def test_bad_arguments():
    X, y = blobs()
    net, opt = make()
    t = Trainer(net, opt)
    with pytest.raises(ValueError, match="exactly one of epochs= or iterations="):
        t.fit(X, y)
    with pytest.raises(ValueError, match="batch_size"):
        t.fit(X, y, epochs=1, batch_size=0)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        Trainer(net, opt, run_dir="/nonexistent-dir-for-test").fit(X, y, epochs=1, resume=True)


def test_history_prints_as_one_short_line():
    """`print(history)` after the README's example: the steps, time, loss and last evaluation, not 469 losses."""
    from mlplab.train import History

    h = History(loss=np.linspace(2.3, 0.1, 469), evals=[{"epoch": 1, "step": 469, "train_loss": 0.1575,
                                                         "train_acc": 0.9523}], steps=469, seconds=10.6)
    text = repr(h)
    assert "\n" not in text and len(text) < 200, text
    assert text == "History(469 steps in 10.6 s, loss 2.3 → 0.1, train_loss 0.1575, train_acc 0.9523)"
