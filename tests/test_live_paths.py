"""The Paths view's optimizer paths (mlplab.live.paths): Newton with the closed-form Hessian, the library's
optimizers, a diverging path sent as nulls."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlplab.functions import run_optimizer
from mlplab.live import paths as live_paths
from mlplab.live.validate import SettingsError


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


def test_a_diverging_path_is_sent_as_nulls_and_encodes_as_strict_json():
    """SGD with lr 50 on F2 overflows: the non-finite points become None (the fast ``tolist`` path
    is taken only when every number is finite), so the server's strict encoding accepts it."""
    r = live_paths.compute_paths("f2", (-7.0, 2.0), 200, methods={"sgd": {"lr": 50}, "adam": {}})
    assert r["paths"]["sgd"][-1] == [None, None] and r["f"]["sgd"][-1] is None
    assert r["paths"]["sgd"][0] == [-7.0, 2.0] and all(v is not None for v in r["f"]["adam"])
    json.loads(json.dumps(r, allow_nan=False))
