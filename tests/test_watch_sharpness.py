"""watch(..., sharpness=): λ₁ against a dense Hessian's top eigenvalue (and Adam's preconditioned one against
the dense P^{-1/2} H P^{-1/2} built from its state), the stability limits against torch's own optimizers on a
quadratic, the user's training bit-identical with and without it, bad settings in one line, and the replayed
recording's sharpness chart in real Chromium."""

from __future__ import annotations

import json
import math
import shutil
import time

import numpy as np
import pytest
from live_fixtures import Page, browser_test, replayed

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

from mlplab.watch import Sharpness, read, watch  # noqa: E402
from mlplab.watch.sharpness import Tracker, limit_for  # noqa: E402


def _dense_top(model, params, x, y, precondition=None):
    """λ₁ of the dense Hessian (torch.autograd.functional.hessian) of the cross-entropy on (x, y) at ``params``;
    with ``precondition`` (the flat P), of P^{-1/2} H P^{-1/2}."""
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for p in params]

    def f(flat):
        parts, i = [], 0
        for s in shapes:
            parts.append(flat[i:i + math.prod(s)].reshape(s))
            i += math.prod(s)
        return F.cross_entropy(torch.func.functional_call(model, dict(zip(names, parts)), (x,)), y)

    flat = torch.cat([p.detach().reshape(-1) for p in params]).double()
    H = torch.autograd.functional.hessian(f, flat)
    if precondition is not None:
        d = 1 / torch.sqrt(torch.as_tensor(precondition))
        H = d[:, None] * H * d[None, :]
    return float(torch.linalg.eigvalsh((H + H.T) / 2)[-1])


class _Tiny(nn.Module):
    """4-6-3, tanh: 51 parameters, more than the 20 Lanczos steps of a cold measurement."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 3)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def _run(tmp_path, opt_name, form, steps=9):
    torch.manual_seed(0)
    model = _Tiny().double()
    x, y = torch.randn(40, 4, dtype=torch.float64) * 2, torch.randint(0, 3, (40,))
    opt = (torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.5) if opt_name == "sgd"
           else torch.optim.Adam(model.parameters(), lr=0.05))
    spec = (Sharpness(F.cross_entropy, x, y, every=3, share=None) if form == "tuple"
            else Sharpness(lambda m: F.cross_entropy(m(x), y), every=3, share=None))
    # through watch() (the entries read back from the recording's frames), or the tracker alone (no frames)
    w = watch(model, opt, every=3, record=tmp_path / f"{opt_name}-{form}", sharpness=spec) if form == "tuple" else None
    tracker = Tracker(spec, model, opt) if w is None else None
    after, entries = {}, []
    for s in range(1, steps + 1):
        opt.zero_grad()
        F.cross_entropy(model(x[:16]), y[:16]).backward()  # trains on other rows than the sharpness batch's
        opt.step()
        state = {}
        if opt_name == "adam":
            state = {id(p): {k: v.clone() for k, v in opt.state[p].items()} for p in model.parameters()}
        after[s] = ([p.detach().clone() for p in model.parameters()], state)
        if tracker is not None:
            tracker.after_step(s)
            entries += [tracker.take()] if tracker.pending else []
    if w is not None:
        w.close()
        entries = [f["sharpness"] for f in read(w.folder).frames if "sharpness" in f]
    return model, opt, x, y, after, entries


@pytest.mark.parametrize("opt_name,form", [("sgd", "tuple"), ("adam", "callable")])
def test_lambda_is_the_dense_hessians_top_eigenvalue(tmp_path, opt_name, form):
    model, opt, x, y, after, got = _run(tmp_path, opt_name, form)
    assert [s["step"] for s in got] == [1, 4, 7]  # the first step, then every 3 (the last at 10 is after the end)
    for s in got:
        params, state = after[s["step"]]
        P = None
        if opt_name == "adam":  # P = √(v/(1 − β₂ᵗ)) + ε from the state at that step, written out here
            b2, eps = opt.param_groups[0]["betas"][1], opt.param_groups[0]["eps"]
            P = torch.cat([(state[id(p)]["exp_avg_sq"] / (1 - b2 ** float(state[id(p)]["step"]))).sqrt().reshape(-1)
                           + eps for p in model.parameters()]).numpy()
        dense = _dense_top(model, params, x, y, P)
        assert s["value"] == pytest.approx(dense, rel=1e-3), (s, dense)
        assert s["preconditioned"] is (opt_name == "adam") and s["dtype"] == "float64" and s["parameters"] == 51
        assert s["products"] == (21 if s["step"] == 1 else 9)  # 20 cold, 8 warm-started, + 1 for the residual
        assert s["residual"] < 1e-2 * dense
        if opt_name == "sgd":
            assert s["limit"] == pytest.approx((2 + 2 * 0.5) / 0.5) and s["formula"].startswith("(2 + 2β)/η")
        else:
            assert s["limit"] == pytest.approx((2 + 2 * 0.9) / ((1 - 0.9) * 0.05))  # 38/η


def test_the_tuple_and_the_callable_measure_the_same():
    torch.manual_seed(1)
    model = _Tiny().double()
    x, y = torch.randn(40, 4, dtype=torch.float64), torch.randint(0, 3, (40,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    a = Tracker(Sharpness(F.cross_entropy, x, y), model, opt).measure()
    b = Tracker(Sharpness(lambda m: F.cross_entropy(m(x), y)), model, opt).measure()
    assert a["value"] == pytest.approx(b["value"], rel=1e-12) and a["examples"] == 40 and b["examples"] is None
    assert a["value"] == pytest.approx(_dense_top(model, list(model.parameters()), x, y), rel=1e-3)


def _settles(opt_factory, lam, steps=1500) -> float:
    """|θ| after ``steps`` of torch's optimizer on the quadratic λθ²/2 from θ = 1."""
    th = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = opt_factory([th])
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * lam * th * th).sum().backward()
        opt.step()
    return float(th.detach().abs())


@pytest.mark.parametrize("kwargs,formula", [
    ({"lr": 0.1}, lambda: 2 / 0.1),
    ({"lr": 0.1, "weight_decay": 0.5}, lambda: 2 / 0.1 - 0.5),
    ({"lr": 0.05, "momentum": 0.9}, lambda: (2 + 1.8) / 0.05),
    ({"lr": 0.05, "momentum": 0.8, "dampening": 0.5}, lambda: (2 + 1.6) / (0.5 * 0.05)),
    ({"lr": 0.05, "momentum": 0.9, "nesterov": True}, lambda: (2 + 1.8) / ((1 + 1.8) * 0.05)),
])
def test_sgds_limit_is_where_torchs_sgd_stops_settling_on_a_quadratic(kwargs, formula):
    lim = limit_for(torch.optim.SGD([torch.zeros(1, requires_grad=True)], **kwargs))
    assert lim["limit"] == pytest.approx(formula(), rel=1e-12) and not lim["preconditioned"] and lim["reason"] is None

    def make(ps):
        return torch.optim.SGD(ps, **kwargs)

    assert _settles(make, 0.97 * lim["limit"]) < 1e-3
    assert _settles(make, 1.03 * lim["limit"]) > 1e3


def test_the_limits_of_the_other_optimizers():
    p = [torch.zeros(2, requires_grad=True)]
    for cls in (torch.optim.Adam, torch.optim.AdamW):
        lim = limit_for(cls(p, lr=1e-3, betas=(0.9, 0.999)))
        assert lim["preconditioned"] and lim["limit"] == pytest.approx(38 / 1e-3) and "β₁ = 0.9" in lim["formula"]
    assert limit_for(torch.optim.Adam(p, lr=1e-3, betas=(0.8, 0.99)))["limit"] == pytest.approx(3.6 / (0.2 * 1e-3))
    assert limit_for(torch.optim.RMSprop(p, lr=0.01))["limit"] == pytest.approx(200)
    assert limit_for(torch.optim.RMSprop(p, lr=0.01, momentum=0.5))["limit"] == pytest.approx(300)
    ada = limit_for(torch.optim.Adagrad(p, lr=0.1))
    assert ada["limit"] is None and "Adagrad" in ada["reason"] and not ada["preconditioned"]
    assert "no optimizer" in limit_for(None)["reason"]
    two = torch.optim.SGD([{"params": p}, {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.5}], lr=0.1)
    assert limit_for(two)["limit"] is None and "param groups differ" in limit_for(two)["reason"]


def test_measurements_are_spaced_by_steps_and_by_their_share_of_the_time():
    torch.manual_seed(2)
    model = _Tiny().double()
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def slow(m):  # one forward per measurement: its cost is at least this sleep
        time.sleep(0.3)
        return F.cross_entropy(m(x), y)

    t = Tracker(Sharpness(slow, every=1, share=0.5), model, opt)
    assert t.due(1)
    t.after_step(1)
    assert t.measurements == 1 and t.seconds >= 0.3 and not t.due(2)  # a frame has not carried it yet
    assert t.take()["step"] == 1 and not t.due(2)  # at most half the time: another ≥ cost later
    assert t.next_time - time.monotonic() > 0.2
    time.sleep(max(0.0, t.next_time - time.monotonic()) + 0.01)
    assert t.due(2)
    steps = Tracker(Sharpness(F.cross_entropy, x, y, share=None), model, opt)  # the default: every 200 steps
    steps.after_step(1)
    steps.take()
    assert not steps.due(200) and steps.due(201)
    assert "maximize" in limit_for(torch.optim.SGD(model.parameters(), lr=0.1, maximize=True))["reason"]


class _Net(nn.Module):
    """BatchNorm (buffers updated in training mode) and Dropout (draws from torch's generator)."""

    def __init__(self):
        super().__init__()
        self.a, self.bn, self.b = nn.Linear(10, 16), nn.BatchNorm1d(16), nn.Linear(16, 3)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        return self.b(self.drop(torch.relu(self.bn(self.a(x)))))


def _train(tmp_path, opt_name, sharp, steps=12):
    torch.manual_seed(7)
    model = _Net()
    opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3) if opt_name == "sgd"
           else torch.optim.AdamW(model.parameters(), lr=1e-2))
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(128, 10, generator=g), torch.randint(0, 3, (128,), generator=g)
    w = None
    if sharp is not None:
        spec = (Sharpness(F.cross_entropy, X[:64], y[:64], every=2, share=None) if sharp == "tuple"
                else Sharpness(lambda m: F.cross_entropy(m(X[64:]), y[64:]), every=2, share=None))
        w = watch(model, opt, every=3, record=tmp_path / f"{opt_name}-{sharp}", sharpness=spec)
    for s in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(X[(s * 16) % 128:][:16]), y[(s * 16) % 128:][:16])
        loss.backward()
        opt.step()
    out = ({k: v.clone() for k, v in model.state_dict().items()},
           {n: p.grad.clone() for n, p in model.named_parameters()},
           {k: {kk: torch.as_tensor(vv).clone() for kk, vv in v.items()} for k, v in opt.state_dict()["state"].items()},
           torch.get_rng_state().clone(), model.training)
    if w is not None:
        w.close()
        # steps 1, 3, then 6, 9, 12: a measurement waits until a frame (every 3rd step) has carried the previous
        assert w._sharp.measurements == 5 and w._sharp.off is None
        rec = read(w.folder)  # the entries: plain JSON numbers on the frames, the format's version unchanged
        entries = [f["sharpness"] for f in rec.frames if "sharpness" in f]
        assert [e["step"] for e in entries] == [1, 3, 6, 9] and rec.meta["version"] == 1  # (12's after the end)
        assert all(isinstance(e["value"], float) and np.isfinite(e["value"]) and e["limit"] > 0 for e in entries)
    return out


@pytest.mark.parametrize("opt_name,sharp", [("sgd", "tuple"), ("adamw", "callable")])
def test_measuring_leaves_the_training_bit_identical(tmp_path, opt_name, sharp):
    plain, measured = _train(tmp_path, opt_name, None), _train(tmp_path, opt_name, sharp)
    for a, b in zip(plain[:3], measured[:3]):  # parameters and BatchNorm's running statistics; .grad; the moments
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], dict):
                for kk in a[k]:
                    assert torch.equal(a[k][kk], b[k][kk]), (k, kk)
            else:
                assert torch.equal(a[k], b[k]), k
    assert torch.equal(plain[3], measured[3])  # torch's random state: dropout drew the same numbers
    assert plain[4] is measured[4] is True  # still in training mode


def test_bad_settings_are_one_line_and_claim_nothing(tmp_path):
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 3), torch.randint(0, 2, (4,))
    cases = [(42, TypeError, "sharpness= takes (loss_fn, inputs, targets), a callable"),
             ((F.cross_entropy, x), TypeError, "a tuple of 3, got 2"),
             (("mse", x, y), TypeError, "not callable"),
             ((F.cross_entropy, x.numpy(), y), TypeError, "inputs must be a torch.Tensor"),
             ((F.cross_entropy, x, [0, 1, 0, 1]), TypeError, "targets must be a torch.Tensor"),
             ((F.cross_entropy, x, y[:3]), ValueError, "batches of the same, non-zero length")]
    for i, (value, exc, msg) in enumerate(cases):
        with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)")) as e:
            watch(model, opt, record=tmp_path / f"r{i}", sharpness=value)
        assert "\n" not in str(e.value)
        assert not (tmp_path / f"r{i}").exists()  # refused before the folder is made
    for kwargs, msg in (({"every": 0}, "every= is a whole number ≥ 1"), ({"share": 2.0}, "share= is a fraction"),
                        ({"steps_warm": 1}, "steps_warm= is a whole number ≥ 2")):
        with pytest.raises(ValueError, match=msg):
            Sharpness(F.cross_entropy, x, y, **kwargs)


def test_a_failing_loss_is_recorded_once_and_training_goes_on(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    w = watch(model, opt, every=1, record=tmp_path / "r", sharpness=lambda m: m(x))  # not a scalar
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    w.close()
    entries = [f["sharpness"] for f in read(w.folder).frames if "sharpness" in f]
    assert len(entries) == 1 and entries[0]["value"] is None and entries[0]["step"] == 1
    assert "one-element float tensor" in entries[0]["error"] and "no more are taken" in entries[0]["error"]
    assert w.steps == 5 and w.broken is None


# ---------------------------------------------------------------------- the page, in Chromium


def _record(folder, sharp: bool) -> list[dict]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    spec = Sharpness(F.cross_entropy, x, y, every=4, share=None) if sharp else None
    with watch(model, opt, every=2, record=folder, sharpness=spec):
        for _ in range(30):
            opt.zero_grad()
            F.cross_entropy(model(x[:32]), y[:32]).backward()
            opt.step()
    return [f["sharpness"] for f in read(folder).frames if "sharpness" in f]


@browser_test
def test_the_replayed_recordings_sharpness_chart_shows_the_points(browser, tmp_path):
    entries = _record(tmp_path / "with", True)
    assert [s["step"] for s in entries] == [1, 5, 9, 13, 17, 21, 25, 29]
    # a recording without measurements (as before sharpness= existed): the same frames without the entries
    (tmp_path / "without").mkdir()
    for name in (".mlplab-folder.json", "meta.json"):
        shutil.copy(tmp_path / "with" / name, tmp_path / "without" / name)
    lines = [json.loads(line) for line in (tmp_path / "with" / "frames.jsonl").read_text().splitlines()]
    (tmp_path / "without" / "frames.jsonl").write_text("".join(
        json.dumps({k: v for k, v in obj.items() if k != "sharpness"}) + "\n" for obj in lines))
    for name in ("with", "without"):
        with replayed(tmp_path / name) as url:
            p = Page.at(browser, url, {"width": 1300, "height": 1000})
            page = p.page
            page.wait_for_function("window.mlplabLive && window.mlplabLive.ready", timeout=30_000)
            if name == "without":  # a recording without measurements (or an older one): no chart
                assert page.locator("#sharp-fig").is_hidden()
                assert page.evaluate("window.mlplabLive.sharpness.length") == 0
            else:
                assert page.locator("#sharp-fig").is_visible()
                drawn = page.evaluate("window.mlplabLive.sharpChart.data")
                n = len(entries)
                last_step = page.evaluate("window.mlplabLive.lastFrame.step")
                assert drawn[0] == [s["step"] for s in entries] + [last_step]  # the limit carried to the last frame
                assert drawn[1][:n] == pytest.approx([s["value"] for s in entries], rel=1e-12)
                assert drawn[2][:n] == pytest.approx([2 / 0.5] * n) and drawn[2][n] == pytest.approx(4.0)
                note = page.locator("#sharp-note").inner_text()
                assert f"Step {entries[-1]['step']}: λ₁(H) = " in note and "2/η = 4.00" in note
                # the canvas has the points on it (not blank), and the slider's frame 2 names the first measurement
                assert page.evaluate("""(() => { const c = document.querySelector('#chart-sharp canvas');
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let k = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) k++; return k; })()""") > 500
                page.locator("#slider").fill("1")
                page.wait_for_function("window.mlplabLive.shown === 1")
                assert "Step 1: λ₁(H) = " in page.locator("#sharp-note").inner_text()
            p.done()
