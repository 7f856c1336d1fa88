"""The live page's lesson pictures (issue 25 and 27 §3), in real Chromium and against the library:

* the decision boundary of a toy 2-D set: its grid's classes are the network's own predictions at the
  grid's points (computed here, apart from the server's code), drawn under the data, absent for MNIST;
* the histograms' "at initialization vs now" pairs: the step-0 frame's histogram and the newest one;
* the sharpness chart: λ₁ from the frame worker equals mlplab.curvature's top eigenvalue on the same
  weights and batch, and the training process never computes it.

Screenshots go to the test's tmp directory (and ``$MLPLAB_LIVE_SHOTS``), to look at.
"""

from __future__ import annotations

import numpy as np
import pytest
from live_fixtures import CHROMIUM, Page, Server

from mlplab import diagnostics as dg
from mlplab import nn, optim, toydata
from mlplab.live import framer as fr
from mlplab.live import sharpness as sharp
from mlplab.live.boundary import grid_for, grid_points
from mlplab.live.frames import Probe
from mlplab.live.histograms import BINS, histograms
from mlplab.tensor import Tensor, no_grad

browser_only = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")]


@pytest.fixture(scope="module")
def viz_server(tmp_path_factory):
    """``mlplab live`` started in a scratch folder (the boundary test exports its run there); the
    ``browser`` fixture is the shared one (tests/live_fixtures.py)."""
    # --grace 30: the boundary test reloads its page and reattaches; under CI's load the reload took longer than
    # the default 3 s once, and the run was freed (the reattachment itself is test_live_lifecycle's)
    s = Server("--grace", "30", cwd=tmp_path_factory.mktemp("live-viz"))
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.communicate()


def _predict(W, b, activation, points):
    """The network's classes, by NumPy alone: (h W_l + b_l), φ between layers, argmax of the logits."""
    phi = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[activation]
    h = points.astype(np.float64)
    for i, (w, c) in enumerate(zip(W, b)):
        h = h @ w.astype(np.float64) + c.astype(np.float64)
        if i < len(W) - 1:
            h = phi(h)
    return np.argmax(h, axis=1)


def _paused_page(browser, server, query, steps):
    """A run started from the URL, paused after at least ``steps`` steps, its newest frame the state it
    stands in (the pause's frame)."""
    p = Page(browser, server)
    page = p.open(query)
    page.wait_for_function(f"window.mlplabLive.lastFrame && window.mlplabLive.lastFrame.step >= {steps}",
                           timeout=60_000)
    page.click("#btn-pause")
    page.wait_for_function("window.mlplabLive.status === 'paused'", timeout=30_000)
    page.wait_for_timeout(400)  # the pause's own frame
    return p, page


TOY = "autostart=1&dataset=circles&layers=2,16,16,2&activation=tanh&optimizer=adam&lr=0.02&iterations=100000&seed=3"


def test_the_decision_boundary_is_the_networks_prediction_and_the_pairs_are_init_and_now(viz_server, browser, tmp_path):
    p, page = _paused_page(browser, viz_server, TOY, 600)
    frame = p.live("lastFrame")
    b = frame["boundary"]
    assert b["n"] == 48 and len(b["classes"]) == len(b["conf"]) == 48 * 48
    # the grid covers the training points with a margin (toy sets come from the run's seed)
    X, y = toydata.load_toy("circles", "train", seed=3)
    assert b == {**b, **grid_for(X)} and b["x"][0] < X[:, 0].min() and b["y"][1] > X[:, 1].max()
    # the classes are the network's predictions at the cell centres: the model comes from the export
    export = page.evaluate("""async () => { const r = await fetch('/api/export', {method: 'POST', headers: {
        'Content-Type': 'application/json', 'Authorization': 'token ' + localStorage.getItem('mlplab-live-token')},
        body: JSON.stringify({sid: sessionStorage.getItem('mlplab-live-sid')})}); return r.json(); }""")
    assert "error" not in export, export
    from pathlib import Path

    with np.load(Path(export["root"]) / export["out"] / "model.npz") as z:
        names = sorted(z.files)
        W = [z[k] for k in names if k.endswith("weight")]
        bias = [z[k] for k in names if k.endswith("bias")]
    assert export["step"] == frame["step"], (export["step"], frame["step"])  # the frame is of these weights
    xs, ys = np.meshgrid(b["x"][0] + (np.arange(48) + 0.5) * (b["x"][1] - b["x"][0]) / 48,
                         b["y"][0] + (np.arange(48) + 0.5) * (b["y"][1] - b["y"][0]) / 48)
    want = _predict(W, bias, "tanh", np.stack([xs.ravel(), ys.ravel()], 1))
    assert np.array_equal(np.array(b["classes"]), want)
    assert len(set(b["classes"])) == 2 and min(b["conf"]) >= 50 and max(b["conf"]) <= 100
    # drawn: the canvas has both classes' shades and the points (pixels, not a blank canvas)
    pixels = page.evaluate("""() => { const c = document.querySelector('#boundary-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 7) seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
        return seen.size; }""")
    assert pixels > 50 and page.locator("#boundary-fig").is_visible()
    for viewport in ({"width": 390, "height": 844}, {"width": 1400, "height": 1000}):  # a phone, a desktop
        page.set_viewport_size(viewport)
        page.wait_for_timeout(200)
        box = page.locator("#boundary-canvas").bounding_box()
        assert box["width"] > 200 and box["x"] + box["width"] <= viewport["width"], (viewport, box)
        p.shot(tmp_path, f"live-boundary-{viewport['width']}")
    # the histograms' pair: the step-0 frame's histogram beside the newest; the step axis under each strip
    page.check("#hist-init")
    pair = p.live("histPair(0, 'w')")
    W0 = nn.MLP([2, 16, 16, 2], activation="tanh", weight_init="he", rng=3).layers[0].weight.data  # (init: the default)
    (h0,) = histograms([W0], BINS)
    assert pair["initStep"] == 0 and pair["init"]["counts"] == list(h0["counts"])
    assert pair["init"]["lo"] == pytest.approx(h0["lo"]) and pair["init"]["hi"] == pytest.approx(h0["hi"])
    assert pair["now"] == frame["layers"][0]["w"] and pair["step"] == frame["step"]
    assert pair["init"] != pair["now"]
    axis = page.locator("#layers .layer .hist .step-axis").first.inner_text().split()
    assert [int(v) for v in axis] == sorted(int(v) for v in axis) and int(axis[-1]) == frame["step"]
    assert page.locator("#layers .pair-box").first.is_visible()
    p.shot(tmp_path, "live-boundary-pairs")
    # a reload draws it all again: the points, the step-0 histograms, the sharpness so far
    measured = p.live("viz.sharpness.length")
    page.reload()
    page.wait_for_function("window.mlplabLive.ready && window.mlplabLive.reattached", timeout=30_000)
    assert p.live("viz.points") == len(X) and p.live("viz.sharpness.length") >= measured
    page.wait_for_function("window.mlplabLive.viz.boundaryDraws >= 1", timeout=30_000)  # (the pause's frame)
    page.check("#hist-init")
    again = p.live("histPair(0, 'w')")
    assert again["init"] == pair["init"] and again["now"] == pair["now"]
    p.check_local()
    p.close()


def test_mnist_has_no_boundary_and_its_sharpness_comes_from_the_worker(mnist_dir, viz_server, browser, tmp_path):
    p = Page(browser, viz_server)
    page = p.open("autostart=1&dataset=mnist&layers=784,64,10&optimizer=sgd&lr=0.1&batch_size=64&iterations=5000"
                  "&seed=0")
    page.wait_for_function("window.mlplabLive.lastFrame && window.mlplabLive.lastFrame.step >= 250", timeout=60_000)
    assert page.locator("#boundary-fig").is_hidden()
    assert "boundary" not in p.live("lastFrame")
    info = viz_server.runs()
    if info["frame_workers"]:  # (measured every 200 steps or more once the worker has started: the run goes on)
        page.wait_for_function("window.mlplabLive.viz.sharpness.length >= 1", timeout=60_000)
        s = p.live("viz.sharpness[0]")
        assert s["value"] > 0 and s["limit"] == pytest.approx(2 / 0.1) and not s["preconditioned"]
        assert "Step" in page.locator("#sharp-note").inner_text()
        assert page.evaluate("document.querySelector('#chart-sharp').dataset.yticks") != ""
    p.shot(tmp_path, "live-mnist-sharpness")
    p.check_local()
    p.close()


for _t in (test_the_decision_boundary_is_the_networks_prediction_and_the_pairs_are_init_and_now,
           test_mnist_has_no_boundary_and_its_sharpness_comes_from_the_worker):
    for _m in browser_only:
        _m(_t)


# ----------------------------------------------------------------------------- the worker's sharpness
def _small_run(optimizer, steps=30, seed=0):
    X, y = toydata.load_toy("spirals", "train", seed=seed)
    model = nn.MLP([2, 24, 24, 3], activation="tanh", weight_init="xavier", rng=seed)
    opt = optim.get_optimizer(optimizer, model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.integers(0, len(X), 32)
        opt.zero_grad()
        loss_fn(model(Tensor(X[idx])), y[idx]).backward()
        opt.step()
    return model, opt, X, y


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_workers_sharpness_is_the_top_eigenvalue_of_the_same_weights_and_batch(optimizer, monkeypatch):
    """λ₁ measured in the frame worker (a real process) against mlplab.curvature's top eigenvalue (ARPACK
    to machine precision) on the same weights and the same fixed batch; for Adam λ₁(P⁻¹H) with its
    preconditioner. The test process's own sharpness function is made to fail: the value can only come
    from the worker."""
    from mlplab import curvature

    model, opt, X, y = _small_run(optimizer)
    plan = dg.layer_plan(model)
    Xc, yc = X[:sharp.BATCH], y[:sharp.BATCH]
    P = sharp.preconditioner_of(opt, model.parameters()) if optimizer == "adam" else None
    assert (P is not None) == (optimizer == "adam")

    def refuse(*a, **k):
        raise AssertionError("the sharpness was computed in the training process")

    monkeypatch.setattr(curvature, "sharpness", refuse)
    monkeypatch.setattr(curvature.spectrum, "sharpness", refuse)
    w = fr.FrameWorker()
    try:
        assert w.wait_ready(60), w.broken
        w.attach(plan, Probe(X[:16], y[:16], [1.0, 1.0, 1.0], grid_for(X)), [2, 24, 24, 3], "tanh", (Xc, yc))
        got = []
        for token in (1, 2):  # cold (20 Lanczos steps), then warm-started (8) after the weights moved
            w.snapshot_before(plan)
            w.request(token, plan, False, True, curv={"P": P})
            done = w.drain()
            assert w.broken is None and len(done) == 1, w.broken
            got.append(done[0][3])
            # measured meanwhile, on a copy of this frame's weights: it rides on a later frame
            for later in range(100, 400):
                w.request(later, plan, False, True)
                (frame,) = w.drain()
                if "sharpness" in frame[3]:
                    break
            hvp = curvature.NetworkCurvature(model, Xc, yc).hvp
            op = curvature.preconditioned_hvp(hvp, P.astype(np.float64)) if P is not None else hvp
            want = curvature.top_eigen(op, sum(p.size for p in model.parameters()), k=1)[0][0]
            s = frame[3]["sharpness"]
            assert s["token"] == token and frame[0] == later  # (the frame that asked, the frame it rode on)
            assert s["value"] == pytest.approx(want, rel=1e-3), (token, s, want)
            assert s["preconditioned"] == (P is not None) and s["products"] == (21 if token == 1 else 9)
            for p_ in model.parameters():  # a few more steps: the second measurement is of new weights
                p_.data += np.random.default_rng(token).normal(0, 1e-3, p_.data.shape).astype(p_.data.dtype)
        # the boundary came with the same frames, for the grid of the toy set
        assert len(got[0]["boundary"]["classes"]) == 48 * 48
    finally:
        w.close()


def test_a_live_run_asks_the_worker_and_its_training_thread_pays_little(monkeypatch):
    """A live Adam run on a toy set with a frame worker: sharpness samples arrive every ``EVERY`` steps or
    more, each with Adam's limit 38/η at the run's η; the training thread's own time for them (the limit
    and copying P) is a small fraction of what the worker spent computing them."""
    from mlplab import curvature
    from mlplab.live.session import TrainSession

    monkeypatch.setattr(curvature.spectrum, "sharpness", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("computed in the training process")))
    # the next measurement waits its last one's cost / SHARE: at 5 % a cold first one slowed by a busy machine
    # (the niced worker) can put the second after the run's end (CI saw one sample once); here it waits its cost
    monkeypatch.setattr(sharp, "SHARE", 1.0)
    w = fr.FrameWorker()
    assert w.wait_ready(60), w.broken
    s = TrainSession({"dataset": "spirals", "layers": "2,32,32,3", "activation": "tanh", "init": "xavier",
                      "optimizer": "adam", "lr": "0.005", "batch_size": "32", "iterations": "2500", "seed": "0"},
                     worker=w)
    callback = None
    try:
        s.start()
        s.thread.join(120)
        callback = next(c for c in s.trainer.callbacks if hasattr(c, "sharp_cost"))
    finally:
        s.close()
    assert s.status == "done", s.message
    got = s.sharpness
    assert len(got) >= 2, got
    steps = [g["step"] for g in got]
    assert all(b - a >= sharp.EVERY for a, b in zip(steps, steps[1:]))
    assert all(g["preconditioned"] and g["limit"] == pytest.approx(38 / 0.005) and g["value"] > 0 for g in got)
    frames = [f for f in s.frames if f.get("sharpness")]
    assert frames and all(f["worker"] for f in frames)
    worker_ms = sum(g["ms"] for g in got)
    assert callback.sharp_cost * 1e3 < 0.2 * worker_ms, (callback.sharp_cost, worker_ms)


def test_grid_points_are_the_cell_centres():
    g = {"x": [-1.0, 3.0], "y": [0.0, 2.0], "n": 4}
    pts = grid_points(g)
    assert pts.shape == (16, 2)
    assert np.allclose(pts[:4, 0], [-0.5, 0.5, 1.5, 2.5]) and np.allclose(pts[:4, 1], 0.25)  # row 0: the bottom
    assert np.allclose(pts[4::4, 1], [0.75, 1.25, 1.75]) and grid_for(np.zeros((3, 5))) is None
    with no_grad():
        assert Tensor(pts).shape == (16, 2)


# ----------------------------------------------------------------------------- Paths: eigen-components
@pytest.mark.parametrize("function,eig,angle", [("quadratic", (1.0, 10.0), 0.0), ("eigen", (0.5, 8.0), 0.6)])
def test_the_eigen_components_are_the_error_projected_on_the_hessians_eigenvectors(function, eig, angle):
    """|u_iᵀ(θ_k − θ*)| from the server against NumPy: P built here, its eigenvectors by eigh, θ* by solve."""
    from mlplab.live.paths import compute_paths

    r = compute_paths(function, [-3.0, 2.5], 60, eig=eig, angle=angle)
    if function == "quadratic":
        P, q = np.array([[5.0, 4.5], [4.5, 5.0]]), np.array([1.0, -2.0])
    else:
        c, s = np.cos(angle), np.sin(angle)
        R = np.array([[c, -s], [s, c]])
        P, q = R @ np.diag(eig) @ R.T, np.zeros(2)
    lam, U = np.linalg.eigh(P)
    x_star = np.linalg.solve(P, -q)
    assert r["eigen"]["eigenvalues"] == pytest.approx(lam.tolist(), rel=1e-12) and r["eigen_absent"] is None
    for name, path in r["paths"].items():
        want = np.abs((np.array(path, dtype=np.float64) - x_star) @ U)
        got = np.array(r["eigen"]["components"][name], dtype=np.float64).T
        finite = np.isfinite(want) & (want < 1e6)
        assert np.allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12), name
        assert np.isnan(got[~finite]).all(), name
    # the words follow the recursion's roots: SGD at ηλ₂ = 0.95·10 > 2 diverges along λ₂ only; heavy-ball
    # momentum with complex roots ((1 − √μ)² < ηλ < (1 + √μ)²) oscillates along both; Newton is monotone
    if function == "quadratic":
        b = r["eigen"]["behaviour"]
        assert b["sgd"][1] == "diverges" and b["momentum"] == ["oscillates", "oscillates"]
        assert b["newton"] == ["monotone", "monotone"]


def test_a_non_quadratic_has_no_eigen_split_and_says_why():
    from mlplab.live.paths import compute_paths

    r = compute_paths("rosenbrock", [-1.5, 2.0], 20)
    assert r["eigen"] is None and "not a quadratic" in r["eigen_absent"]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_the_paths_view_draws_the_eigen_components_for_a_quadratic_only(viz_server, browser, tmp_path):
    p = Page(browser, viz_server)
    page = p.open("view=paths&fn=quadratic")
    page.wait_for_function("window.mlplabLive.eigen && window.mlplabLive.pathDraws >= 1", timeout=30_000)
    assert page.locator("#eigen-box").is_visible() and page.locator("#eigen-absent").is_hidden()
    for i in (0, 1):
        # drawn: the canvas holds Momentum's line (its colour, #D55E00 = 213, 94, 0) and SGD's (#0072B2)
        colours = page.evaluate(f"""() => {{ const c = document.querySelector('#chart-eig{i} canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const seen = new Set();
            for (let k = 0; k < d.length; k += 4) seen.add(d[k] + ',' + d[k + 1] + ',' + d[k + 2]);
            return [...seen]; }}""")
        assert {"213,94,0", "0,114,178"} <= set(colours), i
        assert f"λ{i + 1} = " in page.locator(f"#eig-cap-{i}").inner_text()
    eig = p.live("eigen")
    assert eig["components"].keys() == p.live("lastPaths.paths").keys()
    assert "Momentum: along λ1 " in page.locator("#eigen-words").inner_text()
    p.shot(tmp_path, "live-paths-eigen")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    p.shot(tmp_path, "live-paths-eigen-390")
    page.select_option("#fn-select", "rosenbrock")
    page.wait_for_function("window.mlplabLive.eigen === null", timeout=30_000)
    assert page.locator("#eigen-box").is_hidden()
    assert "not a quadratic" in page.locator("#eigen-absent").inner_text()
    p.check_local()
    p.close()


def test_a_measurement_past_its_budget_stops_and_a_large_network_has_none(monkeypatch):
    """A frame waiting more than 5 s gives the worker up: a measurement stops at its budget (and says
    why), and a network whose products would take seconds is not measured at all."""
    from mlplab.live.session import TrainSession

    model, _, X, y = _small_run("sgd", steps=1)
    with pytest.raises(sharp.TooSlow, match="took more than 0 s"):
        sharp.Tracker(model, X[:64], y[:64]).measure(budget=0.0)
    # in the worker's mirror: dropped twice (the next one 40 s later), given up the third time in a row
    mirror = fr._Mirror.__new__(fr._Mirror)
    mirror.copy, mirror.curv_batch, mirror.tracker = model, (X[:64], y[:64]), None
    assert mirror.sharpness(None)["value"] > 0
    monkeypatch.setattr(sharp, "BUDGET", 0.0)
    got = [mirror.sharpness(None) for _ in range(sharp.TRIES)]
    assert all(g["value"] is None for g in got) and mirror.curv_batch is None
    assert [g.get("ms") for g in got] == [0.0] * (sharp.TRIES - 1) + [None]
    assert "dropped" in got[0]["error"] and "measures no more" in got[-1]["error"]
    big = TrainSession({"dataset": "circles", "layers": "2,1200,1000,2", "iterations": "10", "seed": "0"})
    small = TrainSession({"dataset": "circles", "layers": "2,16,2", "iterations": "10", "seed": "0"})
    assert big.curv_batch is None and "1,206,602 parameters" in big.drawing()["sharpness_off"]
    assert small.curv_batch is not None and small.drawing()["sharpness_off"] is None
    big.close()
    small.close()
