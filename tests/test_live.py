"""mlplab live without a browser: training sessions, export, frames, the event stream's encoding, the page's
files.

The browser half (frames arriving, dragging, errors in the page) is in test_live_browser.py; toy data, settings,
histograms, paths and comparisons are test_toydata.py, test_live_validate.py, test_live_histograms.py,
test_live_paths.py and test_live_compare.py.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import time

import numpy as np
import pytest

from mlplab import nn, optim, toydata
from mlplab.live.session import TrainSession
from mlplab.live.validate import SettingsError
from mlplab.train import Callback, Trainer


# ------------------------------------------------------------------------------------ sessions
def _wait(predicate, timeout=60.0):
    t0 = time.perf_counter()
    while not predicate():
        if time.perf_counter() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_watching_does_not_change_the_training():
    """The live run's weights equal a plain Trainer's bit for bit: frames only read the model."""
    raw = {"dataset": "spirals", "layers": "2,16,16,3", "optimizer": "momentum", "lr": "0.05", "epochs": "5",
           "batch_size": "20", "seed": "4"}
    session = TrainSession(raw, fps=1000, overhead=1.0)  # a frame after nearly every step
    session.start()
    session.thread.join(60)
    assert session.status == "done", session.message
    s = session.settings
    model = nn.MLP(session.sizes, activation="relu", weight_init="he", rng=4, dtype=np.float32)
    opt = optim.get_optimizer("momentum", model.parameters(), lr=0.05)
    X, y = toydata.load_toy("spirals", "train", seed=4)
    Xt, yt = toydata.load_toy("spirals", "test", seed=4)
    hist = Trainer(model, opt).fit(X, y, epochs=5, batch_size=s["batch_size"], rng=4, val=(Xt, yt))
    for a, b in zip(session.model.parameters(), model.parameters()):
        assert np.array_equal(a.data, b.data)
    assert session.evals[-1]["val_acc"] == hist.evals[-1]["val_acc"]
    frames = [f for f in session.frames if f["kind"] == "frame"]
    assert len(session.frames) <= 64 and session.seq > 64  # many frames made, few kept
    last = frames[-1]
    assert last["step"] == hist.steps == 250
    for layer, width in zip(last["layers"], session.sizes[1:]):
        assert sum(layer["z"]["counts"]) == 64 * width  # the probe batch, every unit
        assert sum(layer["w"]["counts"]) == layer["shape"][0] * width
        assert layer["update_ratio"] is None or layer["update_ratio"] > 0
    session.close()
    assert not session.run_dir.exists()


def test_pause_step_and_stop():
    session = TrainSession({"dataset": "xor", "layers": "2,8,2", "iterations": "1000", "batch_size": "16"})
    session.pause()
    session.start()
    _wait(lambda: session.status == "paused")
    assert session.trainer.step == 1  # the first step ran, then the pause held
    session.step_once()
    _wait(lambda: session.trainer.step == 2)
    time.sleep(0.2)
    assert session.trainer.step == 2 and session.status == "paused"
    session.resume()
    _wait(lambda: session.trainer.step > 20)
    session.stop()
    session.thread.join(10)
    assert session.status == "stopped" and session.trainer.step < 1000
    with pytest.raises(SettingsError, match="already holds a run"):  # a stopped run exports (not over itself)
        session.export(session.run_dir)
    session.close()
    never = TrainSession({"dataset": "xor", "layers": "2,8,2", "iterations": "10"})
    with pytest.raises(SettingsError, match="needs a finished, stopped or paused run"):  # nothing trained yet
        never.export(never.run_dir / "nope")
    never.close()


def test_divergence_is_reported_with_the_layer(tmp_path):
    session = TrainSession({"dataset": "spirals", "layers": "2,64,64,3", "optimizer": "sgd", "lr": "1e6",
                            "init": "std=10", "iterations": "200"})
    session.start()
    session.thread.join(30)
    assert session.status == "diverged"
    assert "training diverged at step" in session.message and "Lower the learning rate" in session.message
    assert session.frames[-1]["kind"] == "status" and session.frames[-1]["message"] == session.message
    session.close()


def test_export_writes_a_train_run(tmp_path):
    session = TrainSession({"dataset": "circles", "layers": "2,8,2", "epochs": "2"})
    session.start()
    session.thread.join(30)
    out = session.export(tmp_path / "run")
    config = json.loads((out / "config.json").read_text())
    assert config["out"] == str(out) and config["dataset"] == "circles" and config["epochs"] == 2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "kind" not in r] == list(range(1, session.trainer.step + 1))
    assert sum(r.get("kind") == "eval" for r in rows) == 2
    with np.load(out / "model.npz") as f:
        assert np.array_equal(f["layers.0.weight"], session.model.linears[0].weight.data)
    with pytest.raises(SettingsError, match="already holds a run"):
        session.export(out)
    session.close()


@pytest.mark.mnist
def test_export_is_reproduced_bit_for_bit_by_the_cli(mnist_dir, tmp_path, capsys):
    """Train on MNIST in the live view, export, run the printed `mlplab train` command: same
    metrics.jsonl, same model.npz, same config.json (but its out)."""
    from mlplab.cli import main

    raw = {"dataset": "mnist", "layers": "784,32,32,10", "optimizer": "adam", "lr": "0.002", "iterations": "60",
           "batch_size": "64", "seed": "5", "schedule": "cosine"}
    session = TrainSession(raw)
    session.start()
    session.thread.join(120)
    assert session.status == "done", session.message
    live_dir = session.export(tmp_path / "live")
    command = session.command(live_dir)
    assert command.startswith("mlplab train ")
    assert command.endswith(f"--out {tmp_path / 'live-again'}")  # beside the export, never over it
    assert main(shlex.split(command)[1:] + ["--quiet"]) == 0
    capsys.readouterr()
    cli_dir = tmp_path / "live-again"
    assert (live_dir / "metrics.jsonl").read_text() == (cli_dir / "metrics.jsonl").read_text()
    with np.load(live_dir / "model.npz") as a, np.load(cli_dir / "model.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert np.array_equal(a[k], b[k]), k
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (live_dir, cli_dir))
    assert sa["test"] == sb["test"] and sa["final"] == sb["final"] and sa["steps"] == sb["steps"]
    ca, cb = (json.loads((d / "config.json").read_text()) for d in (live_dir, cli_dir))
    assert ca.pop("out") != cb.pop("out") and ca == cb
    # the comparison can fail: another seed gives other metrics
    other = shlex.split(command.replace("--seed 5", "--seed 6"))[1:-2] + ["--out", str(tmp_path / "other"), "--quiet"]
    assert main(other) == 0
    assert (tmp_path / "other" / "metrics.jsonl").read_text() != (cli_dir / "metrics.jsonl").read_text()
    session.close()


# ------------------------------------------------------------------------------------ the page, frames, events
def test_every_static_file_ships_in_the_package():
    """pyproject's package-data patterns cover every file the page loads (no CDN, nothing missing)."""
    import fnmatch
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mlplab.live"]
    live_dir = root / "src" / "mlplab" / "live"
    files = [p.relative_to(live_dir).as_posix() for p in (live_dir / "static").rglob("*") if p.is_file()]
    assert len(files) > 20 and any(f.endswith(".woff2") for f in files)
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert not missing, missing
    for license_file in ("static/vendor/uplot/LICENSE", "static/vendor/katex/LICENSE"):
        assert license_file in files
    scripts = sorted((live_dir / "static").glob("*.js"))  # the page's modules (app.js imports the others)
    assert len(scripts) > 5 and "app.js" in [p.name for p in scripts]
    page = (live_dir / "static" / "index.html").read_text() + "".join(p.read_text() for p in scripts)
    assert "http://" not in page and "https://" not in page  # everything from the local server
    imported = set(re.findall(r"from '\./([\w-]+\.js)'", page))
    assert imported and imported <= {p.name for p in scripts}  # every module a module imports is shipped


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_update_ratios_match_diagnostics(dtype):
    """The frame's ‖ΔW‖/‖W‖ (dot products in the weights' dtype) equals diagnostics.relative_change
    (float64 norms) to float32 precision, for small and large updates, and 0 / inf at a zero reference."""
    from mlplab.diagnose import statistics as dg
    from mlplab.live.session import update_ratios

    rng = np.random.default_rng(5)
    model = nn.MLP([784, 100, 30, 10], rng=0, dtype=np.dtype(dtype))
    before = dg.weight_arrays(model)
    for scale, p in zip((1e-4, 1e-2, 1.0), model.parameters()[::2]):
        p.data = p.data + (scale * rng.standard_normal(p.data.shape)).astype(dtype)
    ours = update_ratios([p.data for p in model.parameters()[::2]], before)
    want = dg.relative_change(model, before)
    np.testing.assert_allclose(ours, want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert np.all(np.diff(np.log10(ours)) > 1.5)  # 1e-4, 1e-2, 1 apart: the check sees which layer is which
    zero = np.zeros((3, 2), dtype)
    assert update_ratios([zero, zero + 1], [zero, zero]) == [0.0, math.inf]


def test_events_are_strict_json_even_when_a_value_is_not_finite():
    from mlplab.live.app import _event_json

    ok = {"loss": 0.5, "layers": [{"counts": [1, 2]}]}
    assert json.loads(_event_json(ok)) == ok
    bad = {"loss": float("nan"), "layers": [{"pred_z_std": float("inf"), "counts": [1]}]}
    text = _event_json(bad)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"loss": None, "layers": [{"pred_z_std": None, "counts": [1]}]}


def test_the_frame_at_initialization_has_no_gradient_yet_and_is_not_called_exploding():
    """The step-0 frame comes before any backward pass: no gradient is not a NaN gradient. It used to
    read as "exploding: activations or gradients overflowed to inf/NaN" in every layer of a healthy
    network (a paused comparison, frozen at initialization, showed it on every run)."""
    s = TrainSession({"dataset": "spirals", "layers": "2,16,16,3", "iterations": "30", "batch_size": "16",
                      "seed": "1"}, fps=12)
    try:
        s.start()
        t0 = time.time()
        while s.status not in ("done", "diverged", "error") and time.time() - t0 < 60:
            time.sleep(0.05)
        frames = [f for f in s.frames_after(0) if f.get("kind") == "frame"]
    finally:
        s.close(timeout=2)
    first, last = frames[0], frames[-1]
    assert first["step"] == 0 and all(lay["grad_norm"] is None for lay in first["layers"])
    assert [lay["verdict"] for lay in first["layers"]] == ["healthy"] * 3, [lay["reason"] for lay in first["layers"]]
    assert last["step"] == 30 and [lay["verdict"] for lay in last["layers"]] == ["healthy"] * 3


def test_the_loss_curves_start_at_step_0_with_the_loss_before_any_update():
    """The step-0 frame comes before the first forward pass, so its loss is None and the page's loss
    curves began at the first frame after it (step 130-210 on a busy machine). The first step's loss is
    the loss at W_0: the frames after it carry it as ``initial_loss`` (the curves' point at step 0), the
    same number, bit for bit, as a plain Trainer's first step with the same seed."""
    raw = {"dataset": "spirals", "layers": "2,16,16,3", "iterations": "30", "batch_size": "16", "seed": "1"}
    s = TrainSession(raw, fps=12)
    try:
        s.start()
        s.thread.join(60)
        assert s.status == "done", s.message
        frames = [f for f in s.frames_after(0) if f.get("kind") == "frame"]
    finally:
        s.close(timeout=2)

    class First(Callback):
        def on_step_end(self, trainer, step, loss):
            self.loss = getattr(self, "loss", loss)

    first = First()
    model = nn.MLP(s.sizes, activation="relu", weight_init="he", bias_init="zeros", rng=1, dtype=np.float32)
    X, y = toydata.load_toy("spirals", "train", seed=1)
    Trainer(model, optim.get_optimizer(s.opt_name, model.parameters(), **s.hp),
            callbacks=[first]).fit(X, y, iterations=30, batch_size=16, rng=1)
    assert frames[0]["step"] == 0 and frames[0]["loss"] is None and frames[0]["initial_loss"] is None
    assert all(f["initial_loss"] == first.loss for f in frames[1:]) and len(frames) > 1
    assert s.loss_history.points[0] == (0, first.loss)  # the run's loss history starts there too
