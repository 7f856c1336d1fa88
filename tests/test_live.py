"""mlplab live without a browser: toy data, settings, histograms, paths, training sessions, export.

The browser half (frames arriving, dragging, errors in the page) is in test_live_browser.py.
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
from mlplab.functions import run_optimizer
from mlplab.live import paths as live_paths
from mlplab.live.histograms import histogram, histograms
from mlplab.live.session import Downsampled, TrainSession
from mlplab.live.validate import SettingsError, check_settings
from mlplab.train import Callback, Trainer


# ------------------------------------------------------------------------------------ toy data
@pytest.mark.parametrize("name", list(toydata.TOY_DATASETS))
def test_toy_sets_are_seeded_balanced_and_typed(name):
    X, y = toydata.load_toy(name, "train", seed=3)
    X2, y2 = toydata.load_toy(name, "train", seed=3)
    X3, _ = toydata.load_toy(name, "train", seed=4)
    Xt, _ = toydata.load_toy(name, "test", seed=3)
    k = toydata.toy_info(name)["classes"]
    assert X.dtype == np.float32 and X.shape == (1000, 2) and y.dtype == np.int64
    assert np.array_equal(X, X2) and np.array_equal(y, y2)  # same seed, same numbers
    assert not np.array_equal(X, X3)  # another seed, other numbers
    assert not np.array_equal(X[:500], Xt)  # the test split is another draw
    counts = np.bincount(y, minlength=k)
    # spirals and circles alternate the classes; xor's labels follow uniform points (binomial, sd ≈ 16)
    assert len(counts) == k and counts.max() - counts.min() <= (80 if name == "xor" else 1)
    assert y[:50].tolist() != sorted(y[:50].tolist())  # shuffled: no class order leaks into batches


def test_toy_geometry_matches_the_definitions():
    X, y = toydata.xor(n=2000, margin=0.1, rng=0)
    assert np.all((X[:, 0] * X[:, 1] < 0) == (y == 1)) and np.min(np.abs(X)) >= 0.1
    X, y = toydata.circles(n=4000, factor=0.4, noise=0.0, rng=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.allclose(r[y == 0], 1.0, atol=1e-6) and np.allclose(r[y == 1], 0.4, atol=1e-6)
    X, y = toydata.spirals(n=3000, classes=3, noise=0.0, rng=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.min() >= 0.05 - 1e-6 and r.max() <= 1.0 + 1e-6
    # an arm: angle = 2π(turns·r + k/K) (mod 2π), exactly, without noise
    angle = np.arctan2(X[:, 1], X[:, 0])
    expected = 2 * np.pi * (0.75 * r + y / 3)
    assert np.allclose(np.angle(np.exp(1j * (angle - expected))), 0, atol=1e-4)
    with pytest.raises(ValueError, match="unknown toy dataset"):
        toydata.load_toy("moons")


# ------------------------------------------------------------------------------------ settings
BAD = [
    ({"layers": "2,32,10"}, "does not fit spirals: its points have 2 coordinates and it has 3 classes"),
    ({"layers": "2,x,3"}, "comma-separated integers"),
    ({"dataset": "cifar"}, "unknown dataset 'cifar'; valid: spirals, circles, xor, mnist"),
    ({"lr": "fast"}, "--lr must be a number"),
    ({"lr": "-0.1"}, "--lr must be positive, got -0.1"),
    ({"batch_size": "0"}, "--batch-size must be a positive integer"),
    ({"optimizer": "newton"}, "Newton's method is for small problems"),
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"init": "bogus"}, "--init: unknown initializer 'bogus'"),
    ({"schedule": "weekly"}, "unknown schedule 'weekly'"),
    ({"epochs": "", "iterations": ""}, "give --epochs or --iterations"),
    ({"epochs": "3", "iterations": "10"}, "not both"),
    ({"layers": "2,10000000000,3"}, "needs about"),  # ~10^11 bytes of parameters alone: no machine here has it
    ({"iterations": "10000000000000"}, "10,000,000,000,000 steps) needs about"),  # 40 bytes a step: 400 TB
    ({"colour": "red"}, "unknown settings ['colour']"),
]


@pytest.mark.parametrize("raw, message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_settings_give_one_line(raw, message):
    with pytest.raises(SettingsError) as e:
        check_settings(raw)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_settings_share_the_command_lines_messages():
    """For an MNIST set the page's message is the settings module's, word for word (one validation)."""
    from mlplab import settings

    raw = {"dataset": "mnist", "layers": "784,100,10", "optimizer": "adamm"}
    with pytest.raises(settings.SettingsError) as cli_error:
        settings.validate_train(raw)
    with pytest.raises(SettingsError) as page_error:
        check_settings(raw)
    assert str(page_error.value) == str(cli_error.value)


def test_memory_limits_come_from_the_estimate():
    """The limit on widths, depth and steps is the memory estimate, not a fixed number: a run fits
    exactly when its estimate (the Trainer's peak plus 40 bytes per step) is at most what is
    available, so a deep, a wide and a long run are refused at the same byte."""
    from mlplab.live.validate import PER_STEP_BYTES, check_memory
    from mlplab.runtime import memory

    for layers, iters in (("2," + ",".join(["64"] * 40) + ",3", 10), ("2,50000,3", 10), ("2,8,3", 10 ** 7)):
        s, sizes, name, hp = check_settings({"layers": layers, "iterations": str(iters)})
        est = memory.estimate_training(sizes, s["batch_size"], name, hp, s["dtype"], s["activation"],
                                       data_bytes=1500 * 2 * 4 + 1500 * 8)
        need = est.total + iters * PER_STEP_BYTES
        check_memory(s, sizes, available=(need, "a test"))  # fits exactly
        with pytest.raises(SettingsError) as e:
            check_memory(s, sizes, available=(need - 1, "a test"))
        assert f"{iters:,} steps) needs about" in str(e.value) and "only" in str(e.value) and "a test" in str(e.value)
        assert "fewer steps" in str(e.value) and "\n" not in str(e.value)


def test_good_settings_are_typed():
    s, sizes, name, hp = check_settings({"dataset": "xor", "layers": "2,8,2", "lr": "0.5", "momentum": "0.8",
                                         "optimizer": "momentum", "iterations": "20", "seed": "7"})
    assert sizes == [2, 8, 2] and name == "momentum" and hp == {"lr": 0.5, "momentum": 0.8}
    assert s["iterations"] == 20 and s["epochs"] is None and s["seed"] == 7


# ------------------------------------------------------------------------------------ binning
def test_histogram_counts_everything_once():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 10_000), [50.0, np.inf, np.nan]])  # an outlier, two non-finite
    h = histogram(x, bins=16, cap=20_000)
    assert sum(h["counts"]) == 10_001 and h["nonfinite"] == 2
    assert h["hi"] < 50  # the range is mean ± 4 std, not the outlier's
    assert h["counts"][-1] >= 1  # ... which is counted in the last bin
    inside = x[np.isfinite(x) & (x >= h["lo"]) & (x <= h["hi"])]
    ref, _ = np.histogram(inside, bins=16, range=(h["lo"], h["hi"]))
    assert np.array_equal(np.array(h["counts"]) - ref, [0] * 15 + [1])
    assert sum(histogram(np.full(7, 3.0))["counts"]) == 7  # a constant still gets a range
    big = rng.normal(2.0, 0.5, 100_000)  # more than MAX_SAMPLE: a fixed subset stands for it
    h1, h2 = histogram(big), histogram(big.copy())
    assert h1 == h2 and sum(h1["counts"]) == h1["sampled"] == 2048 and h1["size"] == 100_000
    centers = h1["lo"] + (np.arange(32) + 0.5) * (h1["hi"] - h1["lo"]) / 32
    assert np.average(centers, weights=h1["counts"]) == pytest.approx(2.0, abs=0.045)  # 4 standard errors (0.5 / √2048)


def test_many_histograms_in_one_pass_equal_each_one_binned_alone():
    """The frame bins all its arrays at once (rows of one matrix, padded with copies of their own
    first value): every array's counts equal np.histogram's over its own range, whatever its
    neighbours hold, and equal what binning it alone gives."""
    rng = np.random.default_rng(1)
    arrays = [rng.normal(0, 1, 6400).astype(np.float32), np.zeros(0), np.full(5, -2.0),
              np.concatenate([rng.normal(3, 0.1, 500), [np.nan, -np.inf, 1e6]]), rng.uniform(-1, 1, (784, 100)),
              np.array([7.0]), np.array([np.nan, np.inf]), rng.exponential(1.0, 1000) + 40.0]
    hists = histograms(arrays, 16)
    for x, h in zip(arrays, hists):
        alone = histogram(x, bins=16)  # the same up to float64 summation order
        assert h["counts"] == alone["counts"] and h["nonfinite"] == alone["nonfinite"]
        assert (h["lo"], h["hi"]) == (pytest.approx(alone["lo"], rel=1e-9), pytest.approx(alone["hi"], rel=1e-9))
        flat = np.asarray(x, np.float64).ravel()
        assert h["size"] == flat.size and h["sampled"] == min(flat.size, 2048)
        if flat.size > 2048:
            continue  # the subset: checked in test_histogram_counts_everything_once
        fin = flat[np.isfinite(flat)]
        assert h["nonfinite"] == flat.size - fin.size and sum(h["counts"]) == fin.size
        if fin.size:
            lo, hi = max(fin.min(), fin.mean() - 4 * fin.std()), min(fin.max(), fin.mean() + 4 * fin.std())
            if hi > lo:
                assert (h["lo"], h["hi"]) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
            ref, _ = np.histogram(np.clip(fin, h["lo"], h["hi"]), bins=16, range=(h["lo"], h["hi"]))
            assert h["counts"] == ref.tolist()


def test_downsampled_history_stays_bounded():
    d = Downsampled(cap=100)
    for i in range(100_000):
        d.add(i)
    assert len(d.points) <= 100 and d.points[0] == 0
    steps = np.diff(d.points)
    assert len(set(steps.tolist())) == 1  # evenly spaced over the whole run
    assert d.points[-1] > 90_000


# ------------------------------------------------------------------------------------ paths
@pytest.mark.parametrize("function", ["f1", "f2", "quadratic", "rosenbrock", "saddle"])
@pytest.mark.parametrize("lr", [1.0, 0.5])
def test_newton_with_closed_form_hessian_follows_the_autodiff_path(function, lr):
    fn = live_paths.make_function(function)
    for start in ([-1.5, 2.5], [0.3, -0.4]):
        fast = live_paths.newton_path(fn, start, 60, lr=lr, on_indefinite="regularize")
        ref = run_optimizer(fn, "newton", start, 60, lr=lr, on_indefinite="regularize")
        np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-9)


def test_paths_are_the_library_optimizers():
    r = live_paths.compute_paths("f2", [-7, 2], 50, {"sgd": {"lr": 0.9}, "adam": {"lr": 0.2, "beta1": 0.8}})
    fn = live_paths.make_function("f2")
    assert np.array_equal(np.array(r["paths"]["sgd"]), run_optimizer(fn, "sgd", [-7, 2], 50, lr=0.9))
    adam = run_optimizer(fn, "adam", [-7, 2], 50, lr=0.2, betas=(0.8, 0.999))
    assert np.array_equal(np.array(r["paths"]["adam"]), adam)
    assert r["f"]["sgd"][0] == pytest.approx(0.05 * 49 + 4)
    diverged = live_paths.compute_paths("f2", [-7, 2], 400, {"sgd": {"lr": 1.5}})  # 1.5 > 2/λ_max = 1
    assert diverged["paths"]["sgd"][-1] == [None, None] or abs(diverged["paths"]["sgd"][-1][1]) > 1e10
    for bad, msg in [(("f9", [0, 0], 10, None), "unknown function"), (("f1", [0], 10, None), "two finite"),
                     (("f1", [0, 0], 0, None), "steps must be"), (("f1", [0, 0], 5, {"sgd": {"mu": 1}}), "unknown")]:
        with pytest.raises(SettingsError, match=msg):
            live_paths.compute_paths(*bad)


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


# ------------------------------------------------------------------------------------ compare
def test_compared_runs_are_paired():
    """Same seed, same batches: two learning rates give the same first loss (same weights, same
    batch), then part; variants may not change what pairs them."""
    from mlplab.live.compare import CompareGroup

    base = {"dataset": "circles", "layers": "2,16,2", "optimizer": "sgd", "iterations": "30", "batch_size": "25"}
    group = CompareGroup(base, [{"lr": "0.5"}, {"lr": "0.05"}, {"init": "xavier"}])
    group.start()
    for m in group.members:
        m.thread.join(30)
    assert group.status == "done"
    rows = [[json.loads(line) for line in (m.run_dir / "metrics.jsonl").read_text().splitlines()]
            for m in group.members]
    assert rows[0][0]["loss"] == rows[1][0]["loss"]  # the same first batch through the same weights
    assert rows[0][1]["loss"] != rows[1][1]["loss"]  # then the learning rates tell
    assert rows[2][0]["loss"] != rows[0][0]["loss"]  # another init: other weights
    group.close()
    with pytest.raises(SettingsError, match="run 2 sets seed"):
        CompareGroup(base, [{"lr": "0.5"}, {"seed": "3"}])
    with pytest.raises(SettingsError, match="run 1: --lr must be a number"):
        CompareGroup(base, [{"lr": "x"}, {"lr": "0.1"}])
    with pytest.raises(SettingsError, match="two to 4"):
        CompareGroup(base, [{"lr": "0.5"}])


def test_compare_over_several_seeds_pairs_seed_by_seed():
    """seeds=3: each configuration runs from seeds s, s+1, s+2 (member j·3 + k has seed s+k); the
    k-th runs of the two configurations start from the same weights and batches, runs of one
    configuration from different ones (else the spread over seeds would be zero)."""
    from mlplab.live.compare import CompareGroup

    base = {"dataset": "circles", "layers": "2,16,2", "optimizer": "sgd", "iterations": "5", "batch_size": "25",
            "seed": "7"}
    group = CompareGroup(base, [{"lr": "0.5"}, {"lr": "0.05"}], seeds="3")
    assert [m.settings["seed"] for m in group.members] == [7, 8, 9, 7, 8, 9]
    w = [m.model.parameters()[0].data.copy() for m in group.members]
    for k in range(3):
        assert np.array_equal(w[k], w[3 + k])  # paired: same seed, same initial weights
    assert not np.array_equal(w[0], w[1]) and not np.array_equal(w[1], w[2])
    group.start()
    for m in group.members:
        m.thread.join(30)
    rows = [[json.loads(line) for line in (m.run_dir / "metrics.jsonl").read_text().splitlines()]
            for m in group.members]
    assert rows[1][0]["loss"] == rows[4][0]["loss"] and rows[1][0]["loss"] != rows[2][0]["loss"]
    group.close()
    for bad, message in (("0", "between 1 and 5"), ("6", "between 1 and 5"), ("two", "whole number")):
        with pytest.raises(SettingsError, match=message):
            CompareGroup(base, [{"lr": "0.5"}, {"lr": "0.1"}], seeds=bad)


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


def test_a_diverging_path_is_sent_as_nulls_and_encodes_as_strict_json():
    """SGD with lr 50 on F2 overflows: the non-finite points become None (the fast ``tolist`` path
    is taken only when every number is finite), so the server's strict encoding accepts it."""
    r = live_paths.compute_paths("f2", (-7.0, 2.0), 200, methods={"sgd": {"lr": 50}, "adam": {}})
    assert r["paths"]["sgd"][-1] == [None, None] and r["f"]["sgd"][-1] is None
    assert r["paths"]["sgd"][0] == [-7.0, 2.0] and all(v is not None for v in r["f"]["adam"])
    json.loads(json.dumps(r, allow_nan=False))


def test_compared_runs_are_refused_together_when_they_do_not_fit(monkeypatch):
    """Each member fits alone, but the group's summed estimate does not: refused in one line,
    and the members built so far are closed (their scratch directories gone)."""
    from mlplab.live import compare, validate
    from mlplab.runtime import memory

    base = {"dataset": "circles", "layers": "2,64,2", "iterations": "5"}
    s, sizes, _, _ = check_settings(base)
    one = validate.estimate(s, sizes).total
    made = []
    real = compare.TrainSession

    def spy(*a, **k):
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(compare, "TrainSession", spy)
    monkeypatch.setattr(memory, "available_memory", lambda: (int(3.5 * one), "a test"))
    compare.CompareGroup(base, [{"lr": "0.1"}, {"lr": "0.2"}], seeds=1).close()  # 2 runs: fit
    with pytest.raises(SettingsError, match=r"6 runs of --layers 2,64,2-like networks .* needs about .*\(a test\)"):
        compare.CompareGroup(base, [{"lr": "0.1"}, {"lr": "0.2"}], seeds=3)
    assert all(not m.run_dir.exists() for m in made[2:])


def test_events_are_strict_json_even_when_a_value_is_not_finite():
    from mlplab.live.app import _event_json

    ok = {"loss": 0.5, "layers": [{"counts": [1, 2]}]}
    assert json.loads(_event_json(ok)) == ok
    bad = {"loss": float("nan"), "layers": [{"pred_z_std": float("inf"), "counts": [1]}]}
    text = _event_json(bad)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"loss": None, "layers": [{"pred_z_std": None, "counts": [1]}]}


def test_a_variant_naming_another_optimizer_uses_its_own_default_rate():
    """"Adam vs Momentum" from a Train form set for momentum (η 0.1, μ 0.8): Adam runs at its own
    default η (0.001), not at momentum's 0.1; a variant keeping the optimizer keeps the form's values."""
    from mlplab.live.compare import CompareGroup

    base = {"dataset": "xor", "layers": "2,8,2", "iterations": "10", "optimizer": "momentum", "lr": "0.1",
            "momentum": "0.8"}
    group = CompareGroup(base, [{"optimizer": "adam"}, {"optimizer": "momentum", "lr": "0.01"}, {"init": "xavier"},
                                {"optimizer": "nesterov", "lr": "0.05"}])
    try:
        (adam, mom, same, nest) = (m.optimizer for m in group.members)
        assert type(adam).__name__ == "Adam" and adam.lr == optim.DEFAULT_HPARAMS["adam"]["lr"] == 0.001
        assert (mom.lr, mom.momentum) == (0.01, 0.8) and (same.lr, same.momentum) == (0.1, 0.8)
        assert nest.lr == 0.05 and nest.momentum == optim.DEFAULT_HPARAMS["nesterov"]["momentum"]
    finally:
        group.close()


def test_a_comparison_pauses_and_steps_all_its_runs_together():
    """Frozen at initialization (started paused), one step at a time: every run of the comparison
    takes the same steps, so He and Xavier are compared step for step."""
    from mlplab.live.compare import CompareGroup

    group = CompareGroup({"dataset": "spirals", "layers": "2,16,16,3", "iterations": "100000", "batch_size": "16"},
                         [{"init": "he"}, {"init": "xavier"}], seeds=2)
    try:
        assert group.thread is None
        group.pause()
        group.start()
        _wait(lambda: all(m.held.is_set() for m in group.members))
        assert [m.trainer.step for m in group.members] == [1, 1, 1, 1]  # the first step, then the pause
        for k in (2, 3):
            group.step_once()
            _wait(lambda k=k: all(m.trainer.step == k and m.held.is_set() for m in group.members))
        time.sleep(0.2)
        assert [m.trainer.step for m in group.members] == [3] * 4 and group.status == "paused"
        group.resume()
        _wait(lambda: all(m.trainer.step > 50 for m in group.members))
    finally:
        group.close()


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
