"""mlplab live in a real browser: Debian's Chromium, headless, driven by Playwright.

The server is the real command (``python -m mlplab live --no-open --port P``) in a subprocess.
Every network request the page makes is recorded: none may leave the local server. Screenshots
of each view go to the test's tmp directory (and to ``$MLPLAB_LIVE_SHOTS`` if set), to look at.
The tests that need a server of their own (a closed tab, Ctrl-C, binding, another origin, the run limit) are
tests/test_live_browser_servers.py, so this module's one shared server is started once.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from live_fixtures import BROWSER_MARKS, CHROMIUM, Page, Server, _alive, _free_port, _get  # noqa: F401 (re-exported)

pytestmark = BROWSER_MARKS


def _canvas(page, selector):
    return page.evaluate(f"document.querySelector({json.dumps(selector)}).toDataURL()")


def test_a_run_started_from_the_url_streams_frames(server, browser, tmp_path):
    p = Page(browser, server)
    page = p.open("autostart=1&dataset=spirals&layers=2,32,32,3&epochs=400&optimizer=adam&seed=1")
    page.wait_for_function("window.mlplabLive.frames >= 5", timeout=30_000)
    first_step = p.live("lastFrame.step")
    # the loss curve starts at step 0, at the loss before any update (not at the first frame after it)
    steps, losses = p.live("trainLoss[0]"), p.live("trainLoss[1]")
    assert steps[0] == 0 and losses[0] == p.live("lastFrame.initial_loss") > 0 and steps[1] > 0
    hist = _canvas(page, "#layers .layer .hist canvas")
    loss = _canvas(page, "#chart-loss canvas")
    page.wait_for_function(f"window.mlplabLive.lastFrame.step > {first_step} + 500", timeout=30_000)
    # frames are rationed to a share of the training time, so on a busy machine they come slower:
    # wait for them rather than assuming a rate (the rate is measured in benchmarks/live_overhead.py)
    page.wait_for_function("window.mlplabLive.frames >= 10", timeout=60_000)
    assert _canvas(page, "#layers .layer .hist canvas") != hist  # the histograms move
    assert _canvas(page, "#chart-loss canvas") != loss  # and the curves
    frame = p.live("lastFrame")
    assert [len(layer["z"]["counts"]) for layer in frame["layers"]] == [32, 32, 32]
    info = server.runs()  # on two cores or more, the frames are made by a process of their own
    assert frame["worker"] == info["frame_workers"] and len(info["worker_pids"]) == int(info["frame_workers"])
    assert page.locator(".verdict").first.inner_text() in ("healthy", "dead", "saturating", "exploding",
                                                           "vanishing", "symmetric")
    assert page.locator(".verdict").first.get_attribute("class") in ("verdict good", "verdict bad", "verdict warn")
    assert "autostart" not in page.url and "layers=2%2C32%2C32%2C3" in page.url  # the state is in the URL
    assert "token" not in page.url  # ... but never the token: the URL is what a user shares
    assert page.locator("#formula-update .katex").count() == 1  # the update rule, typeset
    p.shot(tmp_path, "live-train")
    p.done()


def test_invalid_settings_show_one_line_in_the_page(server, browser, tmp_path):
    p = Page(browser, server)
    page = p.open("dataset=circles&layers=2,16,3")
    page.click("#btn-start")
    err = page.locator("#train-error")
    err.wait_for(state="visible", timeout=10_000)
    assert "does not fit circles" in err.inner_text() and "must start with 2 and end with 2" in err.inner_text()
    page.fill("input[name=layers]", "2,16,2")
    page.fill("input[name=lr]", "fast")
    page.click("#btn-start")
    page.wait_for_function("document.querySelector('#train-error').textContent.includes('--lr must be a number')")
    page.fill("input[name=lr]", "")
    page.fill("input[name=layers]", "2,10000000000,2")  # refused by the memory estimate, in one line
    page.click("#btn-start")
    page.wait_for_function("document.querySelector('#train-error').textContent.includes('needs about')")
    text = err.inner_text()
    assert "--layers 2,10000000000,2" in text and "is available" in text and "\n" not in text
    assert "Traceback" not in text and "MemoryError" not in text
    assert p.live("frames") == 0
    p.shot(tmp_path, "live-memory-refusal")
    p.done()


def test_any_verdict_string_displays(server, browser):
    """diagnose's verdicts grow (\"measured\" for trained networks): the page shows any string it is
    given, colours the ones it knows, and never fails on a missing one."""
    p = Page(browser, server)
    page = p.open("dataset=xor&layers=2,8,2")
    table = [("healthy", "good"), ("dead", "bad"), ("measured", "info"), ("some future verdict", "other"),
             (None, "other"), ("", "other"), (3, "other")]
    for verdict, tone in table:
        text, cls, title = page.evaluate("""([v]) => { const el = document.createElement('span');
            window.mlplabLive.showVerdict(el, v, v === 'measured' ? 'trained: measured, not predicted' : undefined);
            return [el.textContent, el.className, el.title]; }""", [verdict])
        assert cls == f"verdict {tone}", (verdict, cls)
        assert text == (verdict if isinstance(verdict, str) and verdict else "3" if verdict == 3 else "—")
        assert title == ("trained: measured, not predicted" if verdict == "measured" else "")
    p.done()


def test_pause_and_single_step(server, browser):
    p = Page(browser, server)
    page = p.open("dataset=xor&layers=2,8,2&iterations=100000&batch_size=8")
    page.click("#btn-step")
    page.wait_for_function("window.mlplabLive.lastFrame && window.mlplabLive.lastFrame.step >= 1", timeout=15_000)
    page.wait_for_timeout(400)
    step = p.live("lastFrame.step")
    page.click("#btn-step")
    page.wait_for_function(f"window.mlplabLive.lastFrame.step === {step} + 1", timeout=10_000)
    page.wait_for_timeout(400)
    assert p.live("lastFrame.step") == step + 1 and p.live("status") == "paused"
    page.click("#btn-pause")  # Resume
    page.wait_for_function(f"window.mlplabLive.lastFrame.step > {step} + 100", timeout=15_000)
    p.done()


# every frame's step, η and ‖ΔW‖/‖W‖ per layer, as the page receives them (polled in the page: a frame
# missed now and then does not matter, the medians below take what came)
_RECORD_FRAMES = """() => { const seen = window._ratioFrames = [];
    setInterval(() => { const f = window.mlplabLive.lastFrame;
      if (f && (!seen.length || seen[seen.length - 1].step !== f.step) && f.layers[0].update_ratio)
        seen.push({step: f.step, lr: f.lr, ratios: f.layers.map((l) => l.update_ratio)}); }, 5); }"""


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def test_a_learning_rate_changed_mid_run_takes_hold_and_is_marked(server, browser, tmp_path):
    """η set anew in the form while the run trains: the run goes on (the same run), the frames carry
    the new rate and the step it took hold at, the update sizes ‖ΔW‖/‖W‖ fall with it (SGD: ∝ η),
    the loss and update charts mark the step (Export's command repeats it: tests/test_changes.py).

    One step's ‖ΔW‖/‖W‖ is one minibatch's gradient (batch 16): it scatters from frame to frame by
    more than the factor a test could ask of two single frames (once, one layer's 1.2e-4 read 1.3e-4
    after the change). So each layer's median over ``N`` frames before the change is set against the
    median over ``N`` frames after it: η falls 20×, and the medians must fall more than 4× (a change that
    did not take hold leaves them where they were, or lower only by as much as the loss fell)."""
    n = 7
    p = Page(browser, server)
    page = p.open("autostart=1&dataset=spirals&layers=2,32,32,3&iterations=10000000&batch_size=16"
                  "&optimizer=sgd&lr=0.1")
    page.evaluate(_RECORD_FRAMES)
    page.wait_for_function(f"window._ratioFrames.filter((f) => f.lr === 0.1).length >= {n}", timeout=60_000)
    run = p.live("run")
    page.fill("input[name=lr]", "0.005")
    page.dispatch_event("input[name=lr]", "change")
    page.wait_for_function("window.mlplabLive.lastFrame.lr === 0.005 && "
                           "(window.mlplabLive.changes || []).length === 1", timeout=15_000)
    change = p.live("changes[0]")
    assert change["key"] == "lr" and change["value"] == 0.005 and change["step"] > 0
    page.wait_for_function(f"window._ratioFrames.filter((f) => f.lr === 0.005 && f.step > {change['step']})"
                           f".length >= {n}", timeout=60_000)
    frames = page.evaluate("window._ratioFrames")
    before = [f["ratios"] for f in frames if f["lr"] == 0.1 and f["step"] <= change["step"]][-n:]
    after = [f["ratios"] for f in frames if f["lr"] == 0.005 and f["step"] > change["step"]][:n]
    assert len(before) == len(after) == n
    med_before = [_median(col) for col in zip(*before)]
    med_after = [_median(col) for col in zip(*after)]
    assert all(a < b / 4 for a, b in zip(med_after, med_before)), (med_before, med_after, before, after)
    assert p.live("run") == run and p.live("marksDrawn") > 0
    assert "η → 0.005 from the next step" in page.locator("#train-note").inner_text()
    page.click("#btn-pause")
    page.wait_for_function("window.mlplabLive.status === 'paused'", timeout=10_000)
    p.shot(tmp_path, "live-train-lr-change")
    page.click("#btn-reset")
    p.done()


def test_dragging_the_start_point_moves_every_path(server, browser, tmp_path):
    p = Page(browser, server)
    page = p.open("view=paths&fn=f2")
    page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=15_000)
    before = p.live("lastPaths.paths")
    assert set(before) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "newton"}
    assert all(len(path) == 201 for path in before.values())
    box = page.locator("#paths-canvas").bounding_box()
    draws = p.live("pathDraws")
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    for k in range(1, 31):  # a drag: 30 moves
        page.mouse.move(box["x"] + (0.2 + 0.02 * k) * box["width"], box["y"] + (0.3 + 0.012 * k) * box["height"])
        page.wait_for_timeout(15)
    page.mouse.up()
    page.wait_for_function(f"window.mlplabLive.pathDraws > {draws} + 3 && !document.hidden", timeout=15_000)
    page.wait_for_timeout(500)
    after = p.live("lastPaths.paths")
    # the canvas spans x, y in [-10, 10]: the drag ended at 0.8, 0.66 of the box
    assert after["sgd"][0] == pytest.approx([-10 + 20 * 0.8, 10 - 20 * 0.66], abs=0.2)
    for name in before:
        assert after[name][0] != before[name][0] and after[name][1] != before[name][1], name
    assert "sx=" in page.url and "fn=f2" in page.url
    latencies = sorted(p.live("pathLatencies"))
    print(f"path recompute+redraw: {len(latencies)} draws, median {latencies[len(latencies) // 2]:.0f} ms, "
          f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.0f} ms")
    # a slider recomputes too: SGD's step size above 2/λ_max = 1 makes it diverge on F2
    page.locator('[data-key="sgd.lr"] input').fill("0.2")  # 10^0.2 ≈ 1.58
    page.wait_for_function("window.mlplabLive.lastPaths.paths.sgd[200][1] === null || "
                           "Math.abs(window.mlplabLive.lastPaths.paths.sgd[200][1]) > 1e6", timeout=10_000)
    p.shot(tmp_path, "live-paths")
    p.done()


def _check_critical_damping_curves(curves, lams):
    """The rate map's dashed curves: every drawn point lies in the plot box (they used to run on past
    it, over the μ labels), each on a critical-damping edge ηλ = (1 ± √μ)² of one of ``lams`` (read back
    from the canvas position: η on 1e-3..10 log, μ on 0.99..0), and a curve cut by the box ends on it."""
    x0, y0, x1, y1 = curves["box"]
    # F2 (λ 0.1, 2): λ = 2's two edges enter the plot, λ = 0.1's lower one, and its upper one only at its corner
    assert len(curves["lines"]) == 3, curves
    for line in curves["lines"]:
        assert all(x0 - 0.5 <= x <= x1 + 0.5 and y0 - 0.5 <= y <= y1 + 0.5 for x, y in line), line
        on_edge = []
        for x, y in line:
            eta, mu = 10 ** ((x - x0) / (x1 - x0) * 4 - 3), (y1 - y) / (y1 - y0) * 0.99
            on_edge.append(min(abs(eta * lam - (1 + s * mu ** 0.5) ** 2) / (1 + s * mu ** 0.5) ** 2
                               for lam in lams for s in (-1, 1)) < 1e-6)
        assert all(on_edge), line
    ends = [pt for line in curves["lines"] for pt in (line[0], line[-1])]
    assert any(abs(x - x0) < 0.5 for x, _ in ends)  # the edge cut at η = 1e-3 ends on the box's left side


def test_paths_explains_the_function_and_each_opens_with_its_own_settings(server, browser, tmp_path):
    """Rosenbrock opens with settings that converge (it used to open with three optimizers diverged),
    its formula, the Hessian's eigenvalues at the start and each method's bound marked on its η slider;
    choosing F2 brings F2's own settings; a step size past the bound is said to diverge, in words."""
    p = Page(browser, server)
    page = p.open("view=paths&fn=rosenbrock")
    page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=30_000)
    r = p.live("lastPaths")
    assert all(k is None for k in r["diverged"].values()) and len(r["paths"]["sgd"]) == 501
    assert "diverged" not in page.locator("#paths-info").inner_text()
    assert page.locator("#fn-formula .katex").count() == 1
    assert not page.locator("#rate-fig").is_visible()  # Rosenbrock: its Hessian changes along the path
    explain = page.locator("#paths-explain").inner_text()
    assert "Hessian eigenvalues at the start point" in explain and "stable for η < 2/λmax = 0.00124" in explain
    marker = page.locator('[data-key="sgd.lr"] .bound')
    assert marker.is_visible() and marker.get_attribute("title") == "stable below 0.00124"
    p.shot(tmp_path, "live-paths-rosenbrock")
    page.select_option("#fn-select", "f2")
    page.wait_for_function("window.mlplabLive.lastPaths.paths.sgd.length === 201", timeout=15_000)
    assert page.locator('[data-key="sgd.lr"] output').inner_text() == "0.950"
    assert "λ = 0.100, 2.00 (exact" in page.locator("#paths-explain").inner_text()
    # on a quadratic, the (η, μ) rate map with the sliders' point on it (not on Rosenbrock: not exact)
    assert page.locator("#rate-fig").is_visible()
    marker = p.live("rateMarker")
    assert (marker["method"], marker["eta"], marker["mu"]) == ("momentum", 0.1, 0.9)
    _check_critical_damping_curves(p.live("rateCurves"), lams=(0.1, 2.0))
    page.locator('[data-key="momentum.momentum"] input').fill("0.5")
    page.wait_for_function("window.mlplabLive.rateMarker.mu === 0.5", timeout=10_000)
    assert p.live("rateMarker.y") > marker["y"]  # lower μ: lower on the map (larger y on the canvas)
    page.locator('[data-key="sgd.lr"] input').fill("0.2")  # 10^0.2 ≈ 1.58 > 2/λ_max = 1
    page.wait_for_function("document.querySelector('#paths-info').textContent.includes('SGD diverged (step')",
                           timeout=10_000)
    assert "SGD: diverged at step" in page.locator("#paths-explain").inner_text()
    assert "fn=f2" in page.url and "sgd.lr=1.58" in page.url
    p.done()


def test_what_to_look_for_follows_the_setting_and_the_run(server, browser, tmp_path):
    """The Train view's sentences change with the form (before any run), then come from the run's
    readings: a deep sigmoid network is told its first layers' updates vanish."""
    p = Page(browser, server)
    page = p.open("dataset=spirals&activation=tanh&init=xavier&layers=2," + "64," * 8 + "3&iterations=100000"
                  "&optimizer=sgd&lr=0.1")
    page.wait_for_function("document.querySelector('#train-explain').textContent.includes('Why Xavier suits tanh')",
                           timeout=15_000)
    # beside the histograms, the setting's place in signal-propagation theory (mlplab.theory's numbers):
    # tanh at σ_w² = 1, σ_b² = 0 is critical; at He's σ_w² = 2 chaotic, correlations lasting ξ_c ≈ 21.7 layers
    assert page.locator("#train-theory").inner_text().startswith("χ₁ = 1.00 · critical · ξ_c = ∞ — tanh at σ_w² = 1")
    page.fill("input[name=init]", "he")
    page.dispatch_event("input[name=init]", "change")
    page.wait_for_function("document.querySelector('#train-explain').textContent.includes('made for ReLU')",
                           timeout=15_000)
    assert "Why Xavier" not in page.locator("#train-explain").inner_text()
    assert page.locator("#train-theory").inner_text().startswith("χ₁ = 1.11 · chaotic · ξ_c = 21.7")
    page.select_option("select[name=activation]", "sigmoid")
    page.fill("input[name=init]", "xavier")
    page.dispatch_event("input[name=init]", "change")
    page.click("#btn-start")
    page.wait_for_function("document.querySelector('#train-explain').textContent"
                           ".includes('Vanishing updates: layer 1')", timeout=30_000)
    text = page.locator("#train-explain").inner_text()
    assert "Sigmoid saturates" in text and "Mean-field prediction at initialization" in text
    assert ("these 9 layers are beyond 6 ξ_c ≈ 2.08: correlations between inputs are lost"
            in page.locator("#train-theory").inner_text())  # sigmoid at σ_w² = 1: ξ_c = 0.346
    # a sigmoid layer's activations are drawn on all of [0, 1]: a collapse onto a bound looks like one
    assert page.locator("#layers .layer .hist >> nth=1").locator(".range").inner_text() == "0.00 … 1.00"
    p.shot(tmp_path, "live-train-explain")
    page.click("#btn-reset")
    p.done()


def test_teacher_flags_hide_controls(server, browser):
    p = Page(browser, server)
    page = p.open("hide=optimizer,lr,buttons&optimizer=sgd")
    page.wait_for_function("document.querySelector('select[name=optimizer]').options.length > 3")
    assert not page.locator('[data-key="optimizer"]').is_visible()
    assert not page.locator('[data-key="lr"]').is_visible()
    assert not page.locator("#btn-start").is_visible()
    assert page.locator('[data-key="layers"]').is_visible()
    p.close()


@pytest.mark.mnist
def test_mnist_book_network_frames(mnist_dir, server, browser, tmp_path):
    p = Page(browser, server)
    page = p.open("autostart=1&dataset=mnist&layers=784,100,100,100,100,10&batch_size=128&epochs=1")
    page.wait_for_function("window.mlplabLive.frames >= 3", timeout=60_000)
    f0, t0 = p.live("frames"), time.time()
    page.wait_for_timeout(4000)
    fps = (p.live("frames") - f0) / (time.time() - t0)
    print(f"MNIST 784-100-100-100-100-10, batch 128: {fps:.1f} frames/s in the browser")
    # frames keep coming; how many per second depends on the machine's load (frames are held to 4 % of
    # the training time): benchmarks/live_overhead.py --browser measures the >= 10 target
    assert fps >= 1
    assert len(p.live("lastFrame.layers")) == 5
    page.wait_for_function("window.mlplabLive.lastFrame.step >= 20", timeout=60_000)
    page.wait_for_timeout(300)  # a few redraws with the update ratios and the spread of every layer
    ticks = {c: page.get_attribute(c, "data-yticks") for c in ("#chart-ratio", "#chart-meanfield", "#chart-loss")}
    assert all(ticks.values()), ticks  # uPlot draws the labels on a canvas; the page keeps the last ones drawn
    assert "1e-3" in ticks["#chart-ratio"].split() or "0.001" in ticks["#chart-ratio"].split(), ticks  # ‖ΔW‖/‖W‖
    assert not any("Infinity" in t or "NaN" in t for t in ticks.values()), ticks
    p.shot(tmp_path, "live-train-mnist")
    p.done()


def test_compare_two_runs(server, browser, tmp_path):
    p = Page(browser, server)
    page = p.open("view=compare&dataset=spirals&layers=2,32,32,3&epochs=300")
    page.click("text=He vs Xavier")
    page.click("#btn-compare")
    page.wait_for_function("window.mlplabLive.compareFrames && window.mlplabLive.compareFrames.every(n => n >= 5)",
                           timeout=30_000)
    loss = _canvas(page, "#chart-cmp-loss canvas")
    # each run's loss line starts at step 0, at its loss before any update (He's and Xavier's differ),
    # not at the runs' first frames after it (steps 130-210 on a busy machine)
    data = p.live("compareLoss")
    assert data[0][0] == 0 and data[0][1] > 0
    assert all(col[0] is not None and col[0] > 0 for col in data[1:]) and data[1][0] != data[2][0], data
    page.wait_for_function("window.mlplabLive.compareFrames.every(n => n >= 12)", timeout=30_000)
    assert _canvas(page, "#chart-cmp-loss canvas") != loss
    assert "v1=init%3Dhe" in page.url and "v2=init%3Dxavier" in page.url
    page.wait_for_function("(window.mlplabLive.compareExplain || []).length >= 2", timeout=15_000)
    # the measured spread needs the runs' newest frames, which the next explanation (every 3 s) reads
    page.wait_for_function("document.querySelector('#compare-explain').textContent.includes('Measured now')",
                           timeout=20_000)
    said = page.locator("#compare-explain").inner_text()  # the He-vs-Xavier spread, from the runs' numbers
    assert "for init=he vs" in said and "for init=xavier: a spread of ×2" in said and "Measured now" in said
    page.fill(".variant >> nth=1", "seed=4")
    page.click("#btn-compare")
    page.wait_for_function("document.querySelector('#compare-error').textContent.includes('run 2 sets seed')")
    p.shot(tmp_path, "live-compare")
    # the three-way preset: the critical initializer (σ_b² = 0.05, biases drawn to match) against He and Xavier
    page.click("text=critical vs He vs Xavier")
    page.click("#btn-compare")
    page.wait_for_function("window.mlplabLive.compareFrames && window.mlplabLive.compareFrames.length === 3"
                           " && window.mlplabLive.compareFrames.every(n => n >= 2)", timeout=30_000)
    assert page.locator("#compare-formulas .formula").count() == 3
    assert "v1=init%3Dcritical" in page.url and "v3=init%3Dxavier" in page.url
    page.click("#btn-compare-stop")
    p.done()


def test_compare_steps_he_and_xavier_from_initialization(server, browser):
    """Step on no comparison starts one frozen at initialization; each Step moves every run one step;
    Resume lets them all go on."""
    p = Page(browser, server)
    page = p.open("view=compare&dataset=spirals&layers=2,32,32,3&iterations=1000000&v1=init%3Dhe&v2=init%3Dxavier")
    page.click("#btn-compare-step")
    page.wait_for_function("window.mlplabLive.comparePaused === true && window.mlplabLive.compareFrames"
                           " && window.mlplabLive.compareFrames.every((n) => n >= 1)", timeout=30_000)
    page.wait_for_timeout(800)
    assert page.locator("#btn-compare-pause").inner_text() == "Resume"
    steps = page.evaluate("fetch('/api/runs', {headers: {Authorization: 'token ' + "
                          "localStorage.getItem('mlplab-live-token')}}).then((r) => r.json())")
    assert "paused" in steps["states"]  # the comparison, paused (earlier tests' runs may still be in their grace)
    text = page.locator("#compare-progress").inner_text()
    first = [int(t.split("step ")[1].split("/")[0]) for t in text.split(" · ")]
    page.click("#btn-compare-step")
    page.wait_for_function(f"document.querySelector('#compare-progress').textContent.split(' · ')"
                           f".every((t) => t.includes('step {first[0] + 1}/'))", timeout=15_000)
    assert first[0] == first[1]  # paired: the runs are at the same step
    page.click("#btn-compare-pause")  # Resume
    page.wait_for_function("!window.mlplabLive.comparePaused && document.querySelector('#compare-progress')"
                           ".textContent.split(' · ').every((t) => +t.split('step ')[1].split('/')[0] > 50)",
                           timeout=30_000)
    page.click("#btn-compare-stop")
    p.done()


def test_compare_over_seeds_draws_bands_and_overlaid_histograms(server, browser, tmp_path):
    """seeds=3 from the URL: six runs; each configuration's loss is a mean with a band from the
    smallest to the largest of its three seeds (the band has width: the seeds differ), and every
    layer's histograms of the two configurations are drawn overlaid, changing as training moves."""
    p = Page(browser, server)
    page = p.open("view=compare&dataset=spirals&layers=2,16,16,3&epochs=300&v1=init%3Dhe&v2=init%3Dstd%3D0.01&seeds=3")
    assert page.input_value("#cmp-seeds") == "3"
    page.click("#btn-compare")
    page.wait_for_function("window.mlplabLive.compareFrames && window.mlplabLive.compareFrames.length === 6 && "
                           "window.mlplabLive.compareFrames.every(n => n >= 4)", timeout=60_000)
    hist = _canvas(page, "#cmp-hists .cmp-hist-row canvas")
    draws = p.live("compareHistDraws")
    page.wait_for_function(f"window.mlplabLive.compareHistDraws > {draws} + 3", timeout=30_000)
    assert _canvas(page, "#cmp-hists .cmp-hist-row canvas") != hist
    assert page.locator("#cmp-hists .cmp-hist-row").count() == 3  # one row per layer
    bands = p.live("compareBands")
    assert len(bands) == 1 + 2 * 3  # x, then mean / smallest / largest per configuration
    assert bands[0][0] == 0 and all(col[0] is not None for col in bands[1:])  # from the losses at step 0
    widths = []
    for j in range(2):
        mean, lo, hi = bands[1 + 3 * j:4 + 3 * j]
        rows = [(m, a, b) for m, a, b in zip(mean, lo, hi) if m is not None]
        assert rows and all(a <= m + 1e-12 and m <= b + 1e-12 for m, a, b in rows)
        widths.append(max(b - a for _, a, b in rows))
    assert min(widths) > 0  # three seeds, three different runs
    assert "seeds=3" in page.url
    ticks = {c: page.get_attribute(c, "data-yticks") for c in ("#chart-cmp-ratio", "#chart-cmp-z")}
    assert all(ticks.values()) and not any("Infinity" in t or "NaN" in t for t in ticks.values()), ticks
    p.shot(tmp_path, "live-compare-seeds")
    p.done()


def test_the_seeds_box_keeps_what_is_typed(server, browser):
    """Changing "seeds per run" in the page (not from the URL) goes into the URL and stays in the box
    when anything else rewrites the URL afterwards, so the comparison runs with the seeds shown."""
    p = Page(browser, server)
    page = p.open("view=compare&dataset=xor&layers=2,8,2")
    page.fill("#cmp-seeds", "2")
    page.dispatch_event("#cmp-seeds", "change")
    assert page.input_value("#cmp-seeds") == "2" and "seeds=2" in page.url
    page.fill(".variant >> nth=0", "lr=0.2")
    page.dispatch_event(".variant >> nth=0", "change")  # another control rewrites the URL
    assert page.input_value("#cmp-seeds") == "2" and "seeds=2" in page.url and "v1=lr%3D0.2" in page.url
    p.done()


def test_every_module_is_served_as_javascript(server):
    """The page is ES modules (static/app.js imports the others): a browser refuses a module served
    with any type but JavaScript, so each one the page loads comes from the server with that type."""
    import re

    static = Path(__file__).resolve().parents[1] / "src" / "mlplab" / "live" / "static"
    html = (static / "index.html").read_text()
    assert '<script type="module" src="/static/app.js">' in html
    modules = sorted(p.name for p in static.glob("*.js"))
    imported = {m for p in static.glob("*.js") for m in re.findall(r"from '\./([\w-]+\.js)'", p.read_text())}
    assert imported == set(modules) - {"app.js"}  # every module is reachable from the entry, none is missing
    for name in modules:
        with urllib.request.urlopen(f"{server.base}/static/{name}", timeout=10) as r:
            assert r.status == 200 and r.headers["Content-Type"].split(";")[0] == "text/javascript", name
            assert r.read() == (static / name).read_bytes()


# ------------------------------------------------------------------------------------ only its own page
# (a page of another origin and a server at its limit, each with a server of its own: test_live_browser_servers.py)
def test_the_page_without_its_token_says_what_to_do_and_keeps_it_out_of_links(server, browser):
    p = Page(browser, server)
    page = p.page  # opened without the token: `ready` never comes
    page.goto(f"{server.base}/?dataset=xor&layers=2,8,2")
    page.wait_for_function("window.mlplabLive && window.mlplabLive.blocked", timeout=30_000)
    alert = page.locator("#page-error")
    assert alert.is_visible() and "no token" in alert.inner_text() and "?token=" in alert.inner_text()
    assert not p.live("ready") and not any("/api/stream" in u for u in p.requests)
    # opened as `mlplab live` opens it: the token leaves the address bar at once and is kept for the page
    p.open("dataset=xor&layers=2,8,2")
    assert "token" not in page.url and "layers=2%2C8%2C2" in page.url
    page.select_option("select[name=activation]", "tanh")  # the page rewrites its URL: still no token
    assert "activation=tanh" in page.url and "token" not in page.url
    page.reload()  # the kept token still works, and a stale one is refused in the page
    page.wait_for_function("window.mlplabLive && window.mlplabLive.ready", timeout=30_000)
    page.evaluate("localStorage.setItem('mlplab-live-token', 'stale')")
    page.reload()
    page.wait_for_function("window.mlplabLive && window.mlplabLive.blocked", timeout=30_000)
    assert "wrong token" in page.inner_text("#page-error")
    p.close()
