"""mlplab.curvature against exact oracles: dense Hessians from autodiff and finite differences, numpy's
eigvalsh, exact traces and moments; and a planted wrong product that these checks must catch."""

import math

import numpy as np
import pytest

from mlplab import nn, optim
from mlplab.curvature import (
    AutodiffHVP,
    NetworkCurvature,
    adam_limit,
    block_hvp,
    dense_matrix,
    gd_limit,
    heavy_ball_limit,
    hutchinson_trace,
    power_iteration,
    preconditioned_hvp,
    preconditioner,
    slq,
    top_eigen,
)
from mlplab.tensor import Tensor


def _net(act="tanh", sizes=(6, 8, 7, 3), dtype=np.float64, seed=1):
    return nn.MLP(list(sizes), activation=act, weight_init="torch", bias_init="torch_bias", rng=seed, dtype=dtype)


def _data(n=20, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


def _fd_hessian(curv, eps=1e-5):
    """Central differences of the exact gradient, column by column (float64)."""
    theta = curv.theta()
    H = np.empty((curv.n_params, curv.n_params))
    for i in range(curv.n_params):
        t = theta.copy()
        t[i] += eps
        curv.set_theta(t)
        gp = curv.loss_and_grad()[1]
        t[i] -= 2 * eps
        curv.set_theta(t)
        gm = curv.loss_and_grad()[1]
        H[:, i] = (gp - gm) / (2 * eps)
    curv.set_theta(theta)
    return H


CASES = [(act, loss) for act in ("tanh", "sigmoid", "relu", "leaky_relu")
         for loss in ("cross_entropy", "mse", "half_mse")]


@pytest.mark.parametrize("act,loss", CASES)
def test_hvp_equals_autodiff_and_finite_differences(act, loss):
    X, y = _data()
    model = _net(act)
    before = [p.data.copy() for p in model.parameters()]
    curv = NetworkCurvature(model, X, y, loss=loss, chunk_size=7)  # chunks of 7, 7, 6: summed over the whole set
    H = dense_matrix(curv.hvp, curv.n_params, symmetrize=False)
    H_auto = dense_matrix(AutodiffHVP(model, X, y, loss=loss).hvp, curv.n_params, symmetrize=False)
    scale = np.abs(H_auto).max()
    assert np.abs(H - H_auto).max() <= 1e-12 * scale
    assert np.abs(H - H.T).max() <= 1e-13 * scale
    assert np.abs(H - _fd_hessian(curv)).max() <= 1e-8 * scale
    whole = NetworkCurvature(model, X, y, loss=loss, chunk_size=10**6)
    assert np.abs(dense_matrix(whole.hvp, curv.n_params) - (H + H.T) / 2).max() <= 1e-13 * scale
    assert all(np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))  # the model is only read


def test_loss_and_gradient_match_the_autodiff():
    X, y = _data()
    model = _net("tanh")
    for loss in ("cross_entropy", "mse", "half_mse"):
        value, g = NetworkCurvature(model, X, y, loss=loss, chunk_size=3).loss_and_grad()
        auto = AutodiffHVP(model, X, y, loss=loss)
        assert value == pytest.approx(auto.value, rel=1e-13)
        np.testing.assert_allclose(g, auto.gradient(), rtol=0, atol=1e-14)


def test_float32_network_agrees_with_float64():
    X, y = _data(n=50)
    m64 = _net("tanh")
    m32 = _net("tanh", dtype=np.float32)
    m32.load_state_dict(m64.state_dict())
    v = np.random.default_rng(3).standard_normal(m64.num_parameters())
    h64 = NetworkCurvature(m64, X, y).hvp(v)
    h32 = NetworkCurvature(m32, X, y, chunk_size=16).hvp(v)
    assert h32.dtype == np.float64
    assert np.linalg.norm(h32 - h64) <= 1e-5 * np.linalg.norm(h64)


def _ggn_oracle(model, X, y):
    """Jᵀ (∇²_f ℓ) J with J the output Jacobian by central differences, ℓ cross-entropy."""
    curv = NetworkCurvature(model, X, y)
    theta = curv.theta()

    def out(t):
        curv.set_theta(t)
        return model(Tensor(X)).data.ravel()

    J = np.empty((X.shape[0] * 3, curv.n_params))
    for i in range(curv.n_params):
        t = theta.copy()
        t[i] += 1e-6
        fp = out(t)
        t[i] -= 2e-6
        J[:, i] = (fp - out(t)) / 2e-6
    curv.set_theta(theta)
    f = model(Tensor(X)).data
    p = np.exp(f - f.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    Hf = np.zeros((len(X) * 3, len(X) * 3))
    for i in range(len(X)):
        Hf[3 * i:3 * i + 3, 3 * i:3 * i + 3] = (np.diag(p[i]) - np.outer(p[i], p[i])) / len(X)
    return J.T @ Hf @ J


def test_gauss_newton_product_is_jt_h_j():
    X, y = _data()
    model = _net("tanh")
    G = dense_matrix(NetworkCurvature(model, X, y, kind="ggn", chunk_size=6).hvp, model.num_parameters(), False)
    G_exact = _ggn_oracle(model, X, y)
    assert np.abs(G - G_exact).max() <= 1e-7 * np.abs(G_exact).max()
    assert np.linalg.eigvalsh((G + G.T) / 2).min() >= -1e-12 * np.abs(G).max()  # positive semi-definite
    H = dense_matrix(NetworkCurvature(model, X, y).hvp, model.num_parameters())
    assert np.abs(H - G).max() > 1e-3 * np.abs(G).max()  # and not the Hessian (the net is not linear)


# ------------------------------------------------------------------------------- the spectrum on ~300 parameters
SIZES = (10, 12, 10, 4)  # 306 parameters


def _problem(seed=0, act="tanh", loss="cross_entropy"):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((60, 10)), rng.integers(0, 4, 60)
    model = _net(act, SIZES, seed=seed + 5)
    return model, X, y, NetworkCurvature(model, X, y, loss=loss, chunk_size=25)


_EXACT = {}


def _exact(model, X, y, loss="cross_entropy"):
    """The dense Hessian by the independent reverse-over-reverse path (cached: the problems are fixed)."""
    key = (loss, model.parameters()[0].data.tobytes(), X.tobytes())
    if key not in _EXACT:
        _EXACT[key] = dense_matrix(AutodiffHVP(model, X, y, loss=loss).hvp, model.num_parameters())
    return _EXACT[key]


def _check_lanczos(hvp, n, w_exact):
    """Lanczos top-5 and bottom-3 equal the exact eigenvalues to 1e-8 relative (of the spectral radius)."""
    top, U = top_eigen(hvp, n, k=5, which="LA", rng=1)
    bottom, _ = top_eigen(hvp, n, k=3, which="SA", rng=2)
    scale = np.abs(w_exact).max()
    np.testing.assert_allclose(top, w_exact[::-1][:5], rtol=1e-8, atol=1e-8 * scale)
    np.testing.assert_allclose(bottom, w_exact[:3], rtol=1e-8, atol=1e-8 * scale)
    return top, U


@pytest.mark.parametrize("loss", ["cross_entropy", "half_mse"])
def test_lanczos_top5_bottom3_equal_eigvalsh(loss):
    model, X, y, curv = _problem(loss=loss)
    H = _exact(model, X, y, loss)
    w = np.linalg.eigvalsh(H)
    assert w[0] < 0 < w[-1]  # an indefinite Hessian: the most negative eigenvalues are a real test
    top, U = _check_lanczos(curv.hvp, curv.n_params, w)
    assert np.abs(H @ U[:, 0] - top[0] * U[:, 0]).max() <= 1e-7 * top[0]  # an eigenvector too
    value, vec, used = power_iteration(curv.hvp, curv.n_params, iters=3000, tol=1e-13, rng=0)
    assert value == pytest.approx(w[np.argmax(np.abs(w))], rel=1e-6)


def test_per_layer_blocks_equal_the_dense_blocks():
    model, X, y, curv = _problem()
    H = _exact(model, X, y)
    for name, sl in curv.blocks:
        if sl.stop - sl.start < 12:
            continue  # ARPACK needs room; the biases are covered by the dense fallback below
        f, size = block_hvp(curv.hvp, curv.n_params, sl)
        w = np.linalg.eigvalsh(H[sl, sl])
        top, _ = top_eigen(f, size, k=3, rng=0)
        np.testing.assert_allclose(top, w[::-1][:3], rtol=1e-8, atol=1e-8 * np.abs(w).max(), err_msg=name)
    name, sl = curv.blocks[-1]  # a bias of 4 entries: k ≥ n − 1 goes through the dense matrix
    f, size = block_hvp(curv.hvp, curv.n_params, sl)
    np.testing.assert_allclose(top_eigen(f, size, k=4)[0], np.linalg.eigvalsh(H[sl, sl])[::-1], rtol=1e-10, atol=1e-12)


def test_k_larger_than_the_parameter_count_is_refused():
    _, _, _, curv = _problem()
    with pytest.raises(ValueError, match="at most 306"):
        top_eigen(curv.hvp, curv.n_params, k=307)


def test_hutchinson_within_three_standard_errors_over_many_seeds():
    model, X, y, curv = _problem()
    H = _exact(model, X, y)
    exact = np.trace(H)
    z_scores, estimates = [], []
    for seed in range(100):
        t = hutchinson_trace(curv.hvp, curv.n_params, samples=20, rng=seed)
        z_scores.append((t.value - exact) / t.stderr)
        estimates.append(t.value)
    z = np.abs(z_scores)
    # |z| ≤ 3 with probability ≈ 0.993 (Student t, 19 degrees of freedom): ≥ 0.96 of 100 seeds
    assert np.mean(z <= 3) >= 0.96
    # unbiased: the mean of 100 estimates is within 4 of its standard errors of the exact trace
    assert abs(np.mean(estimates) - exact) <= 4 * np.std(estimates, ddof=1) / math.sqrt(len(estimates))
    # and its variance is Hutchinson's 2(‖H‖²_F − Σ H_ii²) per sample (chi-square, 99 degrees of freedom:
    # the ratio lies in [0.67, 1.38] with probability 0.995)
    var_formula = 2 * (np.sum(H * H) - np.sum(np.diag(H) ** 2)) / 20
    assert 0.67 <= np.var(estimates, ddof=1) / var_formula <= 1.38


def test_slq_quadrature_is_exact_for_low_moments_and_estimates_the_spectrum():
    model, X, y, curv = _problem()
    H = _exact(model, X, y)
    n = curv.n_params
    w = np.linalg.eigvalsh(H)
    steps = 20
    res = slq(curv.hvp, n, probes=30, steps=steps, rng=7)
    # the same probes, redrawn: Gauss quadrature with m nodes is exact for degree ≤ 2m − 1
    rng = np.random.default_rng(7)
    for i in range(30):
        q = (rng.integers(0, 2, n).astype(float) * 2 - 1) / math.sqrt(n)
        assert np.sum(res.weights[i]) == pytest.approx(1, abs=1e-12)
        Hq = q.copy()
        for p in range(1, 8):
            Hq = H @ Hq
            exact_p = q @ Hq  # qᵀHᵖq
            got = np.sum(res.weights[i] * res.nodes[i] ** p)
            assert got == pytest.approx(exact_p, rel=1e-8, abs=1e-10 * np.abs(w).max() ** p)
    # averaged over probes: tr(Hᵖ)/n within 3.5 standard errors of the probes' spread
    for p in (1, 2, 3, 4):
        per = res.moments_per_probe(p)
        assert abs(per.mean() - np.mean(w ** p)) <= 3.5 * per.std(ddof=1) / math.sqrt(len(per)) + 1e-12
    # enough steps: the nodes of one probe are the whole spectrum's distinct eigenvalues
    full = slq(curv.hvp, n, probes=1, steps=n, rng=3)
    assert full.nodes[0].max() == pytest.approx(w[-1], rel=1e-8)
    assert full.nodes[0].min() == pytest.approx(w[0], rel=1e-8)


# ------------------------------------------------------------------------------- a planted bug must fail the checks
class _MissingTerm(NetworkCurvature):
    """The product rule's σ″ term dropped: a plausible HVP bug (the result is symmetric and near H)."""

    def _act_backward_r(self, d1, d2, rz, g, rg):
        return d1 * rg


class _MissingCrossTerm(NetworkCurvature):
    """R{∇_W L} without its R{a}ᵀ δ term (the hidden layers' weights lose half of the product rule)."""

    def _weight_r(self, x, rx, g, rg):
        return x.T @ rg


@pytest.mark.parametrize("buggy", [_MissingTerm, _MissingCrossTerm])
def test_a_planted_bug_fails_the_checks(buggy):
    model, X, y, _ = _problem()
    w = np.linalg.eigvalsh(_exact(model, X, y))
    bad = buggy(model, X, y, chunk_size=25)
    with pytest.raises(AssertionError):
        _check_lanczos(bad.hvp, bad.n_params, w)
    exact = dense_matrix(AutodiffHVP(model, X, y).hvp, bad.n_params)
    assert np.abs(dense_matrix(bad.hvp, bad.n_params) - exact).max() > 1e-6 * np.abs(exact).max()


# ------------------------------------------------------------------------------- stability limits, preconditioner
def _heavy_ball_radius(eta_lam, beta):
    return np.abs(np.roots([1, -(1 + beta - eta_lam), beta])).max()


def test_stability_limits_are_where_the_iteration_stops_contracting():
    lr = 0.05
    assert gd_limit(lr) == pytest.approx(40)
    for beta in (0.0, 0.5, 0.9):
        lim = heavy_ball_limit(lr, beta)
        assert _heavy_ball_radius(lr * lim * 0.999, beta) < 1 < _heavy_ball_radius(lr * lim * 1.001, beta)
    # Adam's EMA momentum m ← β₁m + (1−β₁)g is heavy ball with step η(1−β₁): (2+2β₁)/((1−β₁)η)
    assert adam_limit(lr, 0.9) == pytest.approx(38 / lr)
    lim = adam_limit(lr, 0.9)
    assert _heavy_ball_radius(lr * 0.1 * lim * 0.999, 0.9) < 1 < _heavy_ball_radius(lr * 0.1 * lim * 1.001, 0.9)
    with pytest.raises(ValueError, match="learning rate"):
        gd_limit(0)


@pytest.mark.parametrize("name,kwargs", [("Adam", {}), ("Adam", {"eps_on": "v", "eps": 1e-3}),
                                          ("RMSProp", {"eps": 1e-3}), ("RMSProp", {"centered": True, "eps": 1e-2})])
def test_preconditioner_is_the_one_the_optimizer_divides_by(name, kwargs):
    model, X, y, curv = _problem()
    opt = getattr(optim, name)(model.parameters(), lr=1e-3, **kwargs)
    with pytest.raises(ValueError, match="no step"):
        preconditioner(opt)
    for _ in range(3):
        _, g = curv.loss_and_grad()
        for p, gi in zip(model.parameters(), np.split(g, np.cumsum([p.size for p in model.parameters()])[:-1])):
            p.grad = gi.reshape(p.shape)
        before = curv.theta()
        opt.step()
    P = preconditioner(opt)
    step = curv.theta() - before
    if name == "Adam":  # Δθ = −η m̂ / P
        b1 = opt.betas[0]
        m_hat = np.concatenate([s["m"].ravel() for s in opt.state]) / (1 - b1 ** 3)
        np.testing.assert_allclose(step, -1e-3 * m_hat / P, rtol=1e-10, atol=1e-18)
    else:  # Δθ = −η g / P
        np.testing.assert_allclose(step, -1e-3 * g / P, rtol=1e-10, atol=1e-18)
    # λ₁(P⁻¹H) by Lanczos on the symmetric form equals the largest eigenvalue of the non-symmetric P⁻¹H
    H = dense_matrix(curv.hvp, curv.n_params)  # at the new θ (the product is checked against autodiff above)
    exact = np.linalg.eigvals(H / P[:, None]).real.max()
    got = top_eigen(preconditioned_hvp(curv.hvp, P), curv.n_params, k=1)[0][0]
    assert got == pytest.approx(exact, rel=1e-8)


def test_preconditioner_refuses_sgd():
    model, *_ = _problem()
    with pytest.raises(ValueError, match="Adam or RMSProp"):
        preconditioner(optim.SGD(model.parameters(), lr=0.1))


def test_sharpness_by_a_few_lanczos_steps():
    from mlplab.curvature import sharpness

    model, X, y, curv = _problem()
    w, U = np.linalg.eigh(_exact(model, X, y))
    lam, vec = sharpness(curv.hvp, curv.n_params, steps=60, rng=0)
    assert lam == pytest.approx(w[-1], rel=1e-8)
    assert abs(vec @ U[:, -1]) == pytest.approx(1, abs=1e-6)
    # warm-started from (nearly) the eigenvector, two steps suffice; a Ritz value never exceeds λ_max
    near = U[:, -1] + 1e-4 * np.random.default_rng(0).standard_normal(curv.n_params)
    lam2, _ = sharpness(curv.hvp, curv.n_params, v0=near, steps=2)
    assert lam2 == pytest.approx(w[-1], rel=1e-6) and lam2 <= w[-1] * (1 + 1e-12)
    cold, _ = sharpness(curv.hvp, curv.n_params, steps=2, rng=0)
    assert cold < 0.9 * w[-1]  # and from a random start two steps are far off: the warm start is what helps


def test_the_exact_check_is_refused_when_it_cannot_fit():
    from mlplab.curvature.summary import check_dense_fits
    from mlplab.runtime.memory import NotEnoughMemory

    check_dense_fits(1000, available=(10**9, "test"))  # 24 MB: fits
    with pytest.raises(NotEnoughMemory, match="10000×10000 Hessian, 2.4 GB, but only 1 GB"):
        check_dense_fits(10_000, available=(10**9, "test"))
    with pytest.raises(NotEnoughMemory, match="8 GB is assumed"):
        check_dense_fits(10**6, available=(None, "unknown"))
