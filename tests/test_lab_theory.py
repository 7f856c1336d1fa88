"""The signal-propagation studies' claims on their quick variants: each claim is {measured, paper, tolerance,
source, holds} in numbers.json, and here the key ones are checked again from the numbers themselves (so a study
that wrote `holds: true` beside a wrong number would fail)."""

from __future__ import annotations

import numpy as np
import pytest

from mlplab.lab.base import array


def _run(name, quick_study):
    """The study's quick variant (run once per session by tests/lab_quick.py, seed 0): its numbers."""
    result = quick_study(name)
    out = result.directory
    for fig in result.figures:
        assert (out / fig.file).stat().st_size > 10_000, fig.file
    assert (out / "numbers.json").exists() and (out / "section.md").read_text().strip()
    return result.numbers


def _holds(c):
    dev = abs(c["measured"] / c["paper"] - 1) if c.get("relative") else abs(c["measured"] - c["paper"])
    return dev <= c["tolerance"]


@pytest.fixture(scope="module")
def phase(quick_study):
    return _run("phase-diagram", quick_study)


@pytest.fixture(scope="module")
def isometry(quick_study):
    return _run("isometry", quick_study)


def test_phase_diagram_reproduces_the_paper(phase):
    c = phase["claims"]
    assert all(_holds(v) == v["holds"] for v in c.values())  # the flag says what the numbers say
    assert all(v["holds"] for v in c.values()), [k for k, v in c.items() if not v["holds"]]
    assert abs(c["tanh_critical_sigma_w2"]["measured"] - 1.761) <= 1e-3
    for w, xi in {1.0: 3.63, 1.5: 15.8, 2.0: 25.2, 2.5: 11.8, 4.0: 6.98}.items():
        assert c[f"tanh_xi_c_at_sigma_w2_{w:g}"]["measured"] == pytest.approx(xi, rel=0.01)


def test_phase_diagram_networks_follow_the_maps(phase):
    """Random networks of width 500: the measured correlation moves the way the map says in each phase."""
    m, p = phase["series"]["measured"], phase["series"]["predicted"]
    assert phase["width"] >= 500
    ordered, chaotic = array(m["tanh ordered"]["c"]), array(m["tanh chaotic"]["c"])
    assert ordered[-1] > 0.95 and chaotic[-1] < 0.35  # inputs merge / separate towards c* = 0.165
    for key in m:
        np.testing.assert_allclose(array(m[key]["c"]), array(p[key]["c"]), atol=0.1)
        np.testing.assert_allclose(array(m[key]["q"]) / array(p[key]["q"]), 1.0, atol=0.3 if "relu" in key else 0.15)


def test_phase_diagram_grid_has_both_phases(phase):
    s = phase["series"]
    xi = array(s["tanh_xi_c"])
    chi = array(s["tanh_chi_1"])
    assert (chi < 1).any() and (chi > 1).any()
    assert np.nanmax(xi) > 100 > 2 > np.nanmin(xi)  # diverges at the line, short deep in either phase
    assert np.isposinf(array(s["relu_q_star"])[1:, array(s["sigma_w2"]) > 2.0]).all()


def test_isometry_matches_pennington_et_al(isometry):
    c = isometry["claims"]
    checks = {k: v for k, v in c.items() if "holds" in v}
    assert all(_holds(v) == v["holds"] for v in checks.values())
    assert all(v["holds"] for v in checks.values()), [k for k, v in checks.items() if not v["holds"]]
    assert c["orthogonal_linear_is_isometric"]["measured"] < 1e-9
    r = isometry["results"]
    deepest = str(max(isometry["depths"]))
    # orthogonal tanh at q* = 1/64 is near isometry, Gaussian tanh at the same point is not
    assert r["tanh orthogonal"]["depths"][deepest]["var"] < 0.1 < 10 < r["tanh gaussian"]["depths"][deepest]["var"]
    assert c["tanh_orthogonal_within_2x_deepest"]["measured"] > 0.95 > 0.2 > c["tanh_gaussian_within_2x_deepest"][
        "measured"]
    # the theory's ordering of the spreads at the checked depth: relu Gaussian ≈ 2L > relu orthogonal ≈ L
    L = str(isometry["check_depth"])
    assert r["relu gaussian"]["depths"][L]["var"] > r["relu orthogonal"]["depths"][L]["var"]


def test_isometric_tanh_trains_faster(isometry):
    """Pennington et al. 2017's race (quick: depth 48): every seed of orthogonal tanh at q* = 1/64 reaches the
    target accuracy before the same seed of Gaussian tanh and of He relu; recomputed from the accuracy curves."""
    r = isometry["race"]
    target = r["target_accuracy"]
    first = {}
    for kind, v in r["kinds"].items():
        acc, steps = array(v["accuracy"]), array(v["eval_steps"])
        assert acc.shape == (len(steps), r["seeds"]) and steps[0] == 0
        first[kind] = np.array([steps[np.argmax(acc[:, g] >= target)] if (acc[:, g] >= target).any() else np.inf
                                for g in range(r["seeds"])])
        np.testing.assert_array_equal(np.where(np.isinf(first[kind]), np.nan, first[kind]),
                                      array(v["steps_to_target"]))
    assert np.isfinite(first["tanh orthogonal"]).all()
    for kind in ("tanh gaussian", "relu gaussian"):
        assert np.all(first[kind] > first["tanh orthogonal"]), (kind, first)
    assert r["claim"]["holds"] and r["claim"]["measured"] > 1


def test_deep_linear_modes_follow_saxe_et_al(quick_study):
    n = _run("deep-linear", quick_study)
    c = n["claims"]
    checks = {k: v for k, v in c.items() if "holds" in v}
    assert all(v["holds"] for v in checks.values()), [k for k, v in checks.items() if not v["holds"]]
    for key in ("D=2 decoupled", "D=4 decoupled"):
        got, want = array(n["half_times"][key]), array(n["half_time_theory"][key])
        np.testing.assert_allclose(got, want, rtol=0.02)
        assert np.all(np.diff(got) > 0)  # the strongest mode first
    # a deeper network waits longer on its plateau for the same mode from the same u₀
    assert np.all(array(n["half_times"]["D=4 decoupled"]) > array(n["half_times"]["D=2 decoupled"]))
    # time to learn against depth (Saxe et al. §4): the balanced orthogonal init's time stops growing, the scaled
    # Gaussian's grows past it; recomputed from the seeds' steps
    tv = n["time_vs_depth"]
    budget = tv["max_steps"]

    def median(init, D):
        st = array(tv["table"][init][str(D)]["steps"])
        return float(np.median(np.where(np.isfinite(st), st, budget)))

    deep = [D for D in tv["depths"] if D >= tv["flat_from"]]
    bal = [median("balanced orthogonal", D) for D in deep]
    assert max(bal) / min(bal) <= 1.5 and max(bal) < budget
    g = [median("gaussian", D) for D in tv["depths"]]
    assert g[-1] >= 5 * g[0] and g[-1] > 2 * bal[-1]


def test_width_spread_is_5_beta(quick_study):
    n = _run("width", quick_study)
    c = n["claims"]
    assert all(_holds(v) == v["holds"] for v in c.values())
    assert all(v["holds"] for v in c.values()), [k for k, v in c.items() if not v["holds"]]
    r = n["results"]
    # narrower networks spread more: constant 40 (β = 0.225) well above constant 100 (β = 0.09)
    assert r["constant 40"]["var_log_M"] > 2 * r["constant 100"]["var_log_M"]
