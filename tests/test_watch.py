"""mlplab.watch on real PyTorch training loops: the user's training untouched bit for bit, every recorded
histogram and statistic against the model's own tensors at that step, a layer killed mid-training named,
the recording's format and its reading after a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from mlplab.watch import RecordingError, read, watch  # noqa: E402
from mlplab.watch import stats as wstats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOOP = ROOT / "tests" / "watch_loop.py"


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def _bins(x, lo, hi, bins=32):
    """The documented binning, written out: bin i holds lo + i·w ≤ x < lo + (i+1)·w, x = hi in the last bin."""
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    w = (hi - lo) / bins
    inside = x[(x >= lo) & (x <= hi)]
    idx = np.minimum(np.floor((inside - lo) / w), bins - 1).astype(int)
    return np.bincount(idx, minlength=bins), int(np.sum(x < lo)), int(np.sum(x > hi))


def _check_hist(h, x):
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n, cap = x.size, wstats.SAMPLE
    # the documented subset of a large array: sorted default_rng(0).choice(n, SAMPLE, replace=False)
    s = x[np.sort(np.random.default_rng(0).choice(n, cap, replace=False))] if n > cap else x
    counts, below, above = _bins(s, h["lo"], h["hi"])
    assert h["size"] == n and h["sampled"] == s.size
    assert h["counts"] == counts.tolist() and h["below"] == below and h["above"] == above
    assert h["mean"] == pytest.approx(float(x.mean()), rel=1e-6, abs=1e-9)
    assert h["std"] == pytest.approx(float(x.std()), rel=1e-6, abs=1e-9)
    assert h["min"] == pytest.approx(float(x.min()), rel=1e-7, abs=1e-12)
    assert h["max"] == pytest.approx(float(x.max()), rel=1e-7, abs=1e-12)
    # the range is the 0.1 % and 99.9 % quantiles of the (sampled) values
    assert h["lo"] == pytest.approx(float(np.quantile(s, 0.001)), rel=1e-9, abs=1e-12)
    assert h["hi"] == pytest.approx(float(np.quantile(s, 0.999)), rel=1e-9, abs=1e-12)


def _check_hist_near(h, x):
    x = np.asarray(x, dtype=np.float64).ravel()
    assert h["size"] == x.size and h["sampled"] == x.size <= wstats.SAMPLE
    for key, value in (("lo", np.quantile(x, 0.001)), ("hi", np.quantile(x, 0.999)), ("mean", x.mean()),
                       ("std", x.std()), ("min", x.min()), ("max", x.max())):
        assert h[key] == pytest.approx(float(value), rel=1e-5, abs=1e-7), key
    counts, below, above = _bins(x, h["lo"], h["hi"])
    assert sum(h["counts"]) + h["below"] + h["above"] == x.size
    assert np.abs(np.array(h["counts"]) - counts).sum() <= 0.002 * x.size  # values within an ulp of an edge


def test_a_histogram_survives_an_outlier_and_a_narrow_distribution_gets_every_bin():
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, 5000)
    x[0] = 1e6  # one outlier: TensorBoard's range would put all other values in one bin
    h = wstats.histogram(x)
    _check_hist(h, x)
    assert h["max"] == 1e6 and h["above"] >= 1 and h["hi"] < 4.5
    assert sum(c > 0 for c in h["counts"]) == 32  # the normal's shape is there, over 32 bins
    assert max(h["counts"]) < 0.1 * x.size
    narrow = 1.0 + 1e-6 * rng.normal(size=4000)  # a narrow distribution far from 0: its own range
    hn = wstats.histogram(narrow)
    _check_hist(hn, narrow)
    assert hn["hi"] - hn["lo"] < 1e-5 and sum(c > 0 for c in hn["counts"]) >= 30
    hc = wstats.histogram(np.full(10, 3.0))  # a constant: a range around it, every value in one bin
    assert hc["lo"] < 3.0 < hc["hi"] and sum(hc["counts"]) == 10
    hnan = wstats.histogram(np.array([1.0, np.nan, np.inf, 2.0]))
    assert hnan["nonfinite"] == 2 and sum(hnan["counts"]) + hnan["below"] + hnan["above"] == 2
    big = rng.normal(size=50_000)  # binned on the fixed subset of SAMPLE values, the same for every frame
    hb = wstats.histogram(big)
    _check_hist(hb, big)
    assert hb["sampled"] == wstats.SAMPLE and hb == wstats.histogram(big.copy())
    assert wstats.SATURATION_EPS == __import__("mlplab.diagnose.statistics", fromlist=["x"]).SATURATION_EPS


def test_the_spread_from_the_sum_of_squares_keeps_its_digits_far_from_zero():
    """std from Σ x² − mean·Σ x (one pass) where that keeps all but 10 bits, two passes where it would not: against
    np.std in float64 for means from 0 to 10⁶ spreads, at the sizes of a frame's arrays (float32 and float64)."""
    rng = np.random.default_rng(7)
    for n in (1000, 12800, 78400):
        for ratio in (0.0, 1.0, 10.0, 31.0, 33.0, 1e3, 1e6):
            for dt in (np.float32, np.float64):
                x = (ratio + rng.normal(size=n)).astype(dt)
                h, _, sq = wstats._histogram(x)
                ref = x.astype(np.float64)
                assert h["std"] == pytest.approx(float(ref.std()), rel=1e-9), (n, ratio, dt)
                assert h["mean"] == pytest.approx(float(ref.mean()), rel=1e-12), (n, ratio, dt)
                assert sq == pytest.approx(float(ref @ ref), rel=1e-12), (n, ratio, dt)


def test_the_worker_gives_its_core_back_once_per_quantum(monkeypatch):
    """SLICES' pause (between histograms) yields only when QUANTUM has passed since the last yield: about one yield per
    0.5 ms of the frame's run, whatever the number of pauses."""
    from mlplab.watch import worker

    yields = []
    monkeypatch.setattr(worker.os, "sched_yield", lambda: yields.append(time.perf_counter()), raising=False)
    pause = worker._Slicer(worker.QUANTUM)
    t0 = time.perf_counter()
    calls = 0
    while time.perf_counter() - t0 < 0.02:  # 20 ms of "work", a pause every few µs
        pause()
        calls += 1
    gaps = np.diff(yields)
    assert calls > 200 and len(yields) <= 0.02 / worker.QUANTUM + 1
    assert gaps.min() >= worker.QUANTUM and np.median(gaps) < 2 * worker.QUANTUM  # (a preemption makes one longer)


def test_a_large_weight_by_blocks_is_its_own_histogram():
    """A weight of more than two BLOCKs and its previous value go through one blocked pass (_weights): the same
    range, counts, min and max as W's and ΔW's own histograms, the moments to the last bits; a NaN, or a narrow
    W far from 0 (where the one-pass spread would lose digits), take the arrays one by one."""
    rng = np.random.default_rng(3)
    info = {"kind": "Linear", "activation": "relu", "shape": [100, 784]}
    w = (0.05 * rng.normal(size=(100, 784))).astype(np.float32)
    before = w - (1e-4 * rng.normal(size=w.shape)).astype(np.float32)
    dw = w.astype(np.float64) - before
    gw = rng.normal(size=w.shape).astype(np.float32)
    for ww, bb in ((w, before), (1 + 1e-6 * w, 1 + 1e-6 * before)):
        row = wstats.layer_row(info, None, None, None, ww, bb, gw, None)
        assert row["grad_norm"] == pytest.approx(np.linalg.norm(gw.astype(np.float64)), rel=1e-12)
        ref = ww.astype(np.float64) - bb
        for got, own in ((row["w"], wstats.histogram(ww)), (row["dw"], wstats.histogram(ref))):
            for k in own:
                if k in ("mean", "std"):
                    assert got[k] == pytest.approx(own[k], rel=1e-12, abs=1e-300), k
                else:
                    assert got[k] == own[k], k
        assert row["update_ratio"] == pytest.approx(np.linalg.norm(ref) / np.linalg.norm(bb.astype(np.float64)),
                                                    rel=1e-12)
    assert wstats._weights(w, before) is not None and wstats._weights(1 + 1e-6 * w, 1 + 1e-6 * before) is None
    _check_hist(wstats._weights(w, before)[1], dw)
    bad = w.copy()
    bad[3, 5] = np.nan
    assert wstats._weights(bad, before) is None
    row = wstats.layer_row(info, None, None, None, bad, before, None, None)
    assert row["w"]["nonfinite"] == 1 and row["dw"]["nonfinite"] == 1


def test_a_layer_row_reuses_work_without_changing_a_number():
    """What layer_row takes from work already done (φ(z)'s sorted sample from z's for a monotone φ, ‖∂L/∂z‖ and
    ‖ΔW‖ from the histograms' moments, dead channels by a max) against each number computed on its own."""
    rng = np.random.default_rng(4)
    for act, conv, shape in (("relu", False, (128, 100)), ("relu6", True, (10, 8, 28, 28)),
                             ("leaky_relu", True, (3, 4, 5, 5)), ("tanh", False, (64, 100))):
        z = (3 * rng.normal(size=shape)).astype(np.float32)
        z[:, 1:3] = -np.abs(z[:, 1:3])  # a dead unit (channel), and one alive at one example and position only
        z[(0, 2, *([0] * (len(shape) - 2)))] = 1.0
        gz = rng.normal(size=shape).astype(np.float32)
        w = rng.normal(size=(shape[1], 9)).astype(np.float32)
        before = w - 1e-3 * rng.normal(size=w.shape).astype(np.float32)
        info = {"kind": "Conv2d" if conv else "Linear", "activation": act, "slope": 0.1, "shape": list(w.shape)}
        row = wstats.layer_row(info, z, z, gz, w, before, gz[:1], 1.0)
        a = wstats.activate(act, z, 0.1)
        assert row["a"] == wstats.histogram(a), act  # bit for bit
        _check_hist(row["a"], a)
        assert row["gz_norm"] == pytest.approx(np.linalg.norm(gz.astype(np.float64)), rel=1e-12)
        dw = w.astype(np.float64) - before
        assert row["update_ratio"] == pytest.approx(np.linalg.norm(dw) / np.linalg.norm(before.astype(np.float64)),
                                                    rel=1e-12)
        if act in ("relu", "relu6"):
            units = np.moveaxis(a, 1, -1).reshape(-1, shape[1]) if conv else a  # the definition: per unit
            assert row["zero"] == np.mean(units <= 0) and row["dead"] == np.mean((units <= 0).all(axis=0)) > 0
    z = rng.normal(size=(40, 50)).astype(np.float32)
    z[3, 4] = np.nan  # not finite: φ(z) is binned on its own
    row = wstats.layer_row({"kind": "Linear", "activation": "relu", "shape": [50, 2]}, z, z, None, None, None, None,
                           None)
    assert row["a"] == wstats.histogram(wstats.activate("relu", z)) and row["a"]["nonfinite"] == 1


def test_activations_match_torch():
    z = torch.linspace(-8, 8, 1001)
    for name, f in (("relu", torch.relu), ("tanh", torch.tanh), ("sigmoid", torch.sigmoid),
                    ("gelu", nn.functional.gelu), ("silu", nn.functional.silu), ("elu", nn.functional.elu),
                    ("relu6", nn.functional.relu6)):
        np.testing.assert_allclose(wstats.activate(name, z.numpy()), f(z).numpy(), rtol=2e-6, atol=1e-6,
                                   err_msg=name)
    np.testing.assert_allclose(wstats.activate("leaky_relu", z.numpy(), 0.2),
                               nn.functional.leaky_relu(z, 0.2).numpy(), rtol=1e-7)


class _Net(nn.Module):
    """Dropout (draws from torch's generator), BatchNorm (buffers), an in-place ReLU and a functional tanh."""

    def __init__(self):
        super().__init__()
        self.a, self.bn, self.b, self.c = nn.Linear(20, 32), nn.BatchNorm1d(32), nn.Linear(32, 32), nn.Linear(32, 4)
        self.drop, self.relu = nn.Dropout(0.3), nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.drop(self.relu(self.bn(self.a(x))))
        return self.c(torch.tanh(self.b(h)))


def _train(watched: bool, tmp_path, steps=12, worker="process"):
    torch.manual_seed(3)
    model = _Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(5)
    X, y = torch.randn(256, 20, generator=g), torch.randint(0, 4, (256,), generator=g)
    w = watch(model, opt, every=2, record=tmp_path / f"rec-{worker}", worker=worker) if watched else None
    for s in range(steps):
        xb, yb = X[(s * 32) % 256:][:32], y[(s * 32) % 256:][:32]
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if w is not None:
            w.step(loss)
    with torch.no_grad():
        model.eval()
        out = model(X[:8])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    opt_state = {k: {kk: vv.clone() if torch.is_tensor(vv) else vv for kk, vv in v.items()}
                 for k, v in opt.state_dict()["state"].items()}
    rng = torch.get_rng_state().clone()
    if w is not None:
        w.close()
    return state, grads, opt_state, rng, out, w


@pytest.mark.parametrize("worker", ["process", "inline"])
def test_watching_leaves_the_training_bit_identical(tmp_path, worker):
    plain = _train(False, tmp_path)
    watched = _train(True, tmp_path, worker=worker)
    for a, b in zip(plain[:2], watched[:2]):  # parameters and BatchNorm's buffers; gradients
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k
    for k in plain[2]:  # Adam's moments and step counts
        for kk in plain[2][k]:
            assert torch.equal(torch.as_tensor(plain[2][k][kk]), torch.as_tensor(watched[2][k][kk])), (k, kk)
    assert torch.equal(plain[3], watched[3])  # torch's random state (dropout drew the same numbers)
    assert torch.equal(plain[4], watched[4])
    w = watched[5]
    rec = read(w.folder)
    assert [f["step"] for f in rec.frames] == [1, 2, 4, 6, 8, 10, 12] and rec.end["reason"] == "closed"
    assert rec.meta["worker"] == worker and w.worker == worker and rec.end["frames"] == 7
    names = [lay["name"] for lay in rec.meta["layers"]]
    assert names == ["a", "b", "c"]
    assert [lay["activation"] for lay in rec.meta["layers"]] == ["relu", "tanh", "identity"]
    assert rec.meta["layers"][0]["norm_module"] == "bn"
    assert not model_hooks_left(w.model)


def model_hooks_left(model) -> list:
    return [n for n, m in model.named_modules() if m._forward_hooks or m._forward_pre_hooks]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The MLP and the CNN trained on MNIST in subprocesses, at once; a layer killed at step 10. The MLP's frames
    are made on its training thread, the CNN's by a worker process (the two ways of watch(worker=...))."""
    tmp = tmp_path_factory.mktemp("watch")
    procs = {}
    for kind, kill_layer, worker in (("mlp", 1, "inline"), ("cnn", 0, "process")):
        procs[kind] = subprocess.Popen(
            [sys.executable, str(LOOP), str(tmp / kind), "--model", kind, "--steps", "22", "--every", "4",
             "--kill-at", "10", "--kill-layer", str(kill_layer), "--capture", "--worker", worker],
            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for p in procs.values():
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert "DONE 6" in out, out
    return tmp


@pytest.mark.parametrize("kind,kill_layer", [("mlp", 1), ("cnn", 0)])
def test_each_frame_matches_the_models_tensors_at_that_step(recorded, kind, kill_layer):
    rec = read(recorded / kind)
    cap = np.load(recorded / f"capture-{kind}.npz")
    steps = [f["step"] for f in rec.frames]
    assert steps == [1, 4, 8, 12, 16, 20]
    assert rec.meta["worker"] == ("inline" if kind == "mlp" else "process")
    layers = rec.meta["layers"]
    assert [lay["kind"] for lay in layers] == (["Linear"] * 4 if kind == "mlp" else ["Conv2d", "Conv2d", "Linear"])
    if kind == "cnn":
        assert {n["what"] for n in rec.meta["not_watched"]} == {"MaxPool2d"}
        assert layers[1]["norm"] == "batch_norm" and layers[1]["norm_module"] == "4"
    for f in rec.frames:
        s = f["step"]
        for i, (lay, row) in enumerate(zip(layers, f["layers"])):
            r = lay["rows"]  # the first rows of the batch, up to 65,536 values (the script kept 64 rows)
            assert r <= 64
            _check_hist(row["z"], cap[f"{s}/{i}/z"][:r])
            _check_hist(row["gz"], cap[f"{s}/{i}/gz"][:r])
            a = cap[f"{s}/{i}/a"][:r] if lay["activation"] != "identity" else None
            if lay["activation"] in ("relu", "relu6"):  # φ(z), after the BatchNorm where there is one: exact
                _check_hist(row["a"], a)
            elif a is not None:  # NumPy's tanh is within an ulp of torch's: the same histogram up to edge values
                _check_hist_near(row["a"], a)
            w, before = cap[f"{s}/{i}/w"], cap[f"{s}/{i}/before"]
            _check_hist(row["w"], w)
            _check_hist(row["dw"], w.astype(np.float64) - before)
            ratio = np.linalg.norm(w.astype(np.float64) - before) / np.linalg.norm(before.astype(np.float64))
            assert row["update_ratio"] == pytest.approx(ratio, rel=1e-9)
            assert row["grad_norm"] == pytest.approx(float(np.linalg.norm(cap[f"{s}/{i}/gw"].astype(np.float64))),
                                                     rel=1e-9)
    # the mean-field view at init (meta.json): σ_w² = fan_in·Var W, and the recursion through ReLU,
    # E[relu(z)²] = q/2, beside the spread the first frame measured
    th = [lay["theory"] for lay in layers]
    for i, lay in enumerate(layers):
        fan_in = int(np.prod(lay["shape"][1:]))
        assert th[i]["sigma_w2"] == pytest.approx(fan_in * cap[f"1/{i}/before"].astype(np.float64).var(), rel=1e-9)
    if kind == "mlp":
        q1 = th[0]["pred_z_std"] ** 2
        assert th[1]["pred_z_std"] ** 2 == pytest.approx(th[1]["sigma_w2"] * q1 / 2 + th[1]["sigma_b2"], rel=1e-6)
        assert th[0]["phase"] == "ordered" and th[0]["chi1"] == pytest.approx(th[0]["sigma_w2"] / 2, rel=1e-6)
        for i in range(3):  # the prediction holds at init to within the sampling of 64 examples
            assert rec.frames[0]["layers"][i]["z_std"] == pytest.approx(th[i]["pred_z_std"], rel=0.2)
    # the killed layer: dead in the first frame after step 10 (at most two frames later), and said so
    verdicts = [(f["step"], f["layers"][kill_layer]["verdict"]) for f in rec.frames]
    first_dead = next(s for s, v in verdicts if v == "dead")
    assert all(v != "dead" for s, v in verdicts if s <= 10) and first_dead in (12, 16), verdicts
    event = next(e for f in rec.frames for e in f["events"] if e["to"] == "dead")
    assert event["layer"] == kill_layer and "ReLU units output 0" in event["reason"]
    assert rec.frames[-1]["layers"][kill_layer]["dead"] == 1.0


def test_a_run_killed_mid_write_reads_to_its_last_complete_frame(recorded, tmp_path):
    import shutil

    src = recorded / "mlp"
    dst = tmp_path / "crashed"
    shutil.copytree(src, dst)
    lines = (dst / "frames.jsonl").read_bytes().splitlines(keepends=True)
    frames = [ln for ln in lines if b'"type":"frame"' in ln]
    (dst / "frames.jsonl").write_bytes(b"".join(frames[:5]) + frames[5][: len(frames[5]) // 2])  # cut mid-line
    rec = read(dst)
    assert len(rec.frames) == 5 and rec.end is None and rec.partial
    (dst / "frames.jsonl").write_bytes(b"".join(frames[:2]) + b"{damaged\n" + frames[3])
    with pytest.raises(RecordingError, match="line 3: damaged"):
        read(dst)
    (dst / "meta.json").write_text(json.dumps({"format": "mlplab-watch", "version": 99, "layers": []}))
    with pytest.raises(RecordingError, match="newer than this mlplab reads"):
        read(dst)
    with pytest.raises(RecordingError, match="not a watch recording"):
        read(tmp_path)  # a folder of no kind
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "numbers.json").write_text("{}")
    with pytest.raises(RecordingError, match="holds lab results"):
        read(lab)


def test_a_diverging_run_ended_by_an_exception_is_recorded_to_its_end(tmp_path):
    """NaN weights are counted and judged "exploding", and the exception that ends a `with` block is the end
    line's reason; without an optimizer, w.step(loss) drives the frames."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2))
    X, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
    with pytest.raises(RuntimeError, match="planted"):
        with watch(model, every=1, record=tmp_path / "nan") as w:
            for s in range(6):
                loss = nn.functional.cross_entropy(model(X), y)
                model.zero_grad()
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p -= 1e30 * p.grad  # a learning rate that diverges at once
                w.step(loss)
                if s == 4:
                    raise RuntimeError("planted")
    rec = read(tmp_path / "nan")
    assert [f["step"] for f in rec.frames] == [1, 2, 3, 4, 5]
    assert rec.end["reason"] == "an exception: RuntimeError: planted" and rec.end["step"] == 5
    last = rec.frames[-1]["layers"]
    assert any(lay["nonfinite"] > 0 for lay in last) and any(lay["verdict"] == "exploding" for lay in last)
    torch.manual_seed(0)
    fresh = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2))
    with torch.no_grad():  # the first frame's loss is the loss given at step 1: that of the initial weights
        assert rec.frames[0]["loss"] == pytest.approx(float(nn.functional.cross_entropy(fresh(X), y)), rel=1e-6)


def test_bad_arguments_are_one_line(tmp_path):
    model = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        watch(object())
    with pytest.raises(ValueError, match="every= is a whole number"):
        watch(model, every=0, record=tmp_path / "a")
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "numbers.json").write_text("{}")
    with pytest.raises(ValueError, match="holds lab results"):
        watch(model, record=lab)
