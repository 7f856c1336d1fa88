"""mlplab.theory against the papers' numbers, an independent recomputation with adaptive quadrature (QUADPACK
through scipy), the closed forms, and the identities the maps must satisfy.

Paper numbers: Schoenholz, Gilmer, Ganguli, Sohl-Dickstein 2017, *Deep Information Propagation* (tanh phase
diagram, ξ_c), and Xiao, Bahri, Sohl-Dickstein, Schoenholz, Pennington 2018, *Dynamical Isometry and a Mean
Field Theory of CNNs* (the critical point σ_w² = 1.05, σ_b² = 2.01e-5 with q* ≈ 0.0259). The table's values are
given to 3–4 significant digits, so their tolerances are half a unit of the last digit plus the quadrature's
error (≤ 1e-6 here).
"""

import math

import numpy as np
import pytest
from scipy import integrate, optimize

from mlplab import theory as T
from mlplab.theory import gauss, isometry
from mlplab.theory.functions import THEORY_ACTIVATIONS, TheoryActivation

# --------------------------------------------------------------------------- the papers' numbers
CRITICAL_SIGMA_W2 = [(0.01, 1.424), (0.05, 1.761), (0.1, 1.986), (0.3, 2.505), (1.0, 3.443)]
XI_C = [(1.0, 3.63), (1.5, 15.8), (2.0, 25.2), (2.5, 11.8), (4.0, 6.98)]  # tanh, σ_b² = 0.05


@pytest.mark.parametrize("sb2, sw2", CRITICAL_SIGMA_W2)
def test_tanh_critical_line_matches_the_paper(sb2, sw2):
    w, q = T.critical_line(sb2, "tanh")
    assert abs(w - sw2) <= 1e-3
    assert T.chi_1(w, sb2, "tanh") == pytest.approx(1.0, abs=1e-9)  # it is on the line
    assert T.q_star(w, sb2, "tanh") == pytest.approx(q, rel=1e-8)


def test_tanh_critical_q_star_at_sigma_b2_005():
    w, q = T.critical_line(0.05, "tanh")
    assert abs(q - 0.570) <= 1e-3
    assert abs(w - 1.761) <= 1e-3


@pytest.mark.parametrize("sw2, xi", XI_C)
def test_tanh_xi_c_matches_the_paper(sw2, xi):
    assert T.xi_c(sw2, 0.05, "tanh") == pytest.approx(xi, rel=0.01)


def test_tanh_c_star_falls_to_0165_at_sigma_w2_4():
    assert abs(T.c_star(4.0, 0.05, "tanh") - 0.165) <= 1e-3
    assert T.c_star(1.5, 0.05, "tanh") == 1.0  # ordered: inputs merge


def test_xiao_2018_critical_point():
    q = T.q_star(1.05, 2.01e-5, "tanh")
    assert abs(q - 0.0259) <= 5e-5
    assert abs(T.chi_1(1.05, 2.01e-5, "tanh") - 1.0) <= 1e-6


def test_relu_is_critical_at_2_0_only():
    assert T.phase(2.0, 0.0, "relu") == "critical"
    assert T.chi_1(2.0, 0.0, "relu") == 1.0
    assert np.isnan(T.q_star(2.0, 0.0, "relu"))  # every length is a fixed point
    assert T.phase(1.9, 0.0, "relu") == "ordered" and T.q_star(1.9, 0.1, "relu") == pytest.approx(0.1 / 0.05)
    assert T.phase(2.0, 0.1, "relu") == "unbounded" and np.isposinf(T.q_star(2.0, 0.1, "relu"))
    w, q = T.critical_line([0.0, 0.3], "relu")
    np.testing.assert_array_equal(w, [2.0, 2.0])
    assert np.isnan(q[0]) and np.isposinf(q[1])


def test_a_wrong_derivative_fails_the_paper_check():
    """The checks above can fail: tanh with φ′ off by 1 % moves the critical σ_w² by more than 1e-3."""
    tanh = THEORY_ACTIVATIONS["tanh"]
    wrong = TheoryActivation("tanh", tanh.phi, lambda x: 1.01 * tanh.dphi(x), "wrong", bounded=True, odd=True)
    w, _ = T.critical_line(0.05, wrong)
    assert abs(w - 1.761) > 1e-3


# --------------------------------------------------------------------------- independent recomputation
_PDF = 1.0 / math.sqrt(2.0 * math.pi)


def _quad(f, q):
    r = math.sqrt(q)
    return integrate.quad(lambda z: f(r * z) * _PDF * math.exp(-z * z / 2), -40, 40, points=[0.0], limit=400,
                          epsabs=1e-14, epsrel=1e-13)[0]


def _dblquad(f, q, c):
    r, s = math.sqrt(q), math.sqrt(1 - c * c)
    g = lambda z2, z1: f(r * z1) * f(r * (c * z1 + s * z2)) * _PDF**2 * math.exp(-(z1 * z1 + z2 * z2) / 2)
    return integrate.dblquad(g, -12, 12, -12, 12, epsabs=1e-12)[0]


def _dblquad_split(f, q, c):
    """As _dblquad for f with a kink or jump at 0: the four regions u₁ ≷ 0, u₂ ≷ 0 integrated separately."""
    r, s = math.sqrt(q), math.sqrt(1 - c * c)
    g = lambda z2, z1: f(r * z1) * f(r * (c * z1 + s * z2)) * _PDF**2 * math.exp(-(z1 * z1 + z2 * z2) / 2)
    edge = lambda z1: -c * z1 / s  # u₂ = 0
    total = 0.0
    for lo, hi in ((-12.0, 0.0), (0.0, 12.0)):
        total += integrate.dblquad(g, lo, hi, -12.0, edge, epsabs=1e-13)[0]
        total += integrate.dblquad(g, lo, hi, edge, 12.0, epsabs=1e-13)[0]
    return total


def _tanh_q_star(sw2, sb2):
    return optimize.brentq(lambda q: sw2 * _quad(lambda u: math.tanh(u) ** 2, q) + sb2 - q, 1e-9, 50, xtol=1e-14)


def test_critical_sigma_w2_recomputed_with_quadpack():
    """σ_w² with χ₁ = 1 at σ_b² = 0.05 by nested root finding on QUADPACK integrals (no Gauss–Hermite)."""

    def chi_minus_1(sw2):
        q = _tanh_q_star(sw2, 0.05)
        return sw2 * _quad(lambda u: (1 - math.tanh(u) ** 2) ** 2, q) - 1

    w = optimize.brentq(chi_minus_1, 1.5, 2.0, xtol=1e-12)
    assert T.critical_line(0.05, "tanh")[0] == pytest.approx(w, abs=1e-8)
    assert round(w, 3) == 1.761


def test_xi_c_in_the_chaotic_phase_recomputed_with_quadpack():
    """c* and χ_c at σ_w² = 2.5, σ_b² = 0.05 from 2-D adaptive quadrature, root found by brentq."""
    sw2, sb2 = 2.5, 0.05
    q = _tanh_q_star(sw2, sb2)
    c = optimize.brentq(lambda c: (sw2 * _dblquad(math.tanh, q, c) + sb2) / q - c, 0.1, 0.9, xtol=1e-10)
    chi_c = sw2 * _dblquad(lambda u: 1 - math.tanh(u) ** 2, q, c)
    p = T.propagation(sw2, sb2, "tanh")
    assert p.q_star == pytest.approx(q, rel=1e-10)
    assert p.c_star == pytest.approx(c, abs=1e-6)
    assert p.xi_c == pytest.approx(-1 / math.log(chi_c), rel=1e-4)
    assert p.xi_c == pytest.approx(11.8, rel=0.01)


# --------------------------------------------------------------------------- closed forms against quadrature
def _quadrature_twin(name):
    """The same φ, φ′ with the closed forms removed: everything by Gauss–Hermite."""
    a = THEORY_ACTIVATIONS[name]
    return TheoryActivation(name + "_quadrature", a.phi, a.dphi, a.formula, odd=a.odd)


@pytest.mark.parametrize("q1, q2, q12", [(0.3, 0.3, 0.1), (1.0, 1.0, 0.9), (2.0, 0.5, -0.4), (4.0, 4.0, 3.9)])
def test_erf_arcsine_kernel_agrees_with_gauss_hermite(q1, q2, q12):
    g = _quadrature_twin("erf")
    assert T.kernel("erf", q1, q2, q12) == pytest.approx(T.kernel(g, q1, q2, q12), rel=1e-5)
    assert T.derivative_kernel("erf", q1, q2, q12) == pytest.approx(T.derivative_kernel(g, q1, q2, q12), rel=1e-4)
    assert T.mean_square("erf", q1) == pytest.approx(T.mean_square(g, q1), rel=1e-9)
    assert T.mean_square_slope("erf", q1) == pytest.approx(T.mean_square_slope(g, q1), rel=1e-7)


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
@pytest.mark.parametrize("q, c", [(1.0, -0.6), (0.7, 0.3), (2.0, 0.95)])
def test_relu_arc_cosine_kernel_agrees_with_quadrature(name, q, c):
    a = THEORY_ACTIVATIONS[name]
    phi = lambda u: float(a.phi(np.float64(u)))
    dphi = lambda u: float(a.dphi(np.float64(u)))
    assert T.kernel(name, q, q, c * q) == pytest.approx(_dblquad_split(phi, q, c), rel=1e-7)
    assert T.derivative_kernel(name, q, q, c * q) == pytest.approx(_dblquad_split(dphi, q, c), rel=1e-7)
    # the product Gauss–Hermite rule converges only slowly on the kink, but it does converge
    g = _quadrature_twin(name)
    assert T.kernel(g, q, q, c * q, order=160) == pytest.approx(T.kernel(name, q, q, c * q), abs=1e-3 * q)


@pytest.mark.parametrize("q", [0.01, 1.0, 7.0, 300.0])
def test_elu_closed_forms_agree_with_quadrature(q):
    a = THEORY_ACTIVATIONS["elu"]
    phi2 = lambda u: float(a.phi(np.float64(u))) ** 2
    assert T.mean_square("elu", q) == pytest.approx(_quad(phi2, q), rel=1e-9)
    assert T.derivative_mean_square("elu", q) == pytest.approx(_quad(lambda u: float(a.dphi(np.float64(u))) ** 2, q),
                                                              rel=1e-9)
    h = 1e-5 * q
    fd = (_quad(phi2, q + h) - _quad(phi2, q - h)) / (2 * h)
    assert T.mean_square_slope("elu", q) == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "erf", "gelu", "silu"])
@pytest.mark.parametrize("q", [0.01, 1.0, 5.0, 50.0])
def test_gauss_hermite_accuracy_in_one_variable(name, q):
    a = THEORY_ACTIVATIONS[name]
    g = _quadrature_twin(name)
    assert T.mean_square(g, q) == pytest.approx(_quad(lambda u: float(a.phi(np.float64(u))) ** 2, q), rel=1e-7)
    assert T.derivative_mean_square(g, q) == pytest.approx(_quad(lambda u: float(a.dphi(np.float64(u))) ** 2, q),
                                                          rel=1e-7)


@pytest.mark.parametrize("q, c", [(0.5, 0.2), (2.2, 0.9), (5.0, 0.5)])
def test_gauss_hermite_accuracy_in_two_variables(q, c):
    d = lambda u: 1 - math.tanh(u) ** 2
    assert T.kernel("tanh", q, q, c * q) == pytest.approx(_dblquad(math.tanh, q, c), rel=1e-4)
    assert T.derivative_kernel("tanh", q, q, c * q) == pytest.approx(_dblquad(d, q, c), rel=1e-4)


# --------------------------------------------------------------------------- identities
SMOOTH = ["tanh", "sigmoid", "erf", "gelu", "silu", "elu"]


@pytest.mark.parametrize("name", SMOOTH)
def test_slopes_are_derivatives_of_the_maps(name):
    q, h = 0.8, 1e-5
    fd = (T.mean_square(name, q + h) - T.mean_square(name, q - h)) / (2 * h)
    assert T.mean_square_slope(name, q) == pytest.approx(fd, rel=1e-6)
    for c in (0.2, 0.7):  # Price: d/dc of the correlation map is σ_w² E[φ′(u₁)φ′(u₂)]
        fd = (T.correlation_map(c + h, q, 1.7, 0.1, name) - T.correlation_map(c - h, q, 1.7, 0.1, name)) / (2 * h)
        assert T.correlation_slope(c, q, 1.7, name) == pytest.approx(fd, rel=2e-4)
    assert T.correlation_slope(1.0, q, 1.7, name) == pytest.approx(T.chi_1(1.7, 0.1, name, q=q), rel=1e-5)
    assert T.kernel(name, q, q, q) == pytest.approx(T.mean_square(name, q), rel=1e-5)
    assert T.correlation_map(1.0, T.q_star(1.7, 0.1, name), 1.7, 0.1, name) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("name", SMOOTH)
def test_critical_line_is_where_chi_is_one(name):
    sb2 = np.array([0.0, 0.05, 0.3, 1.0])
    w, q = T.critical_line(sb2, name)
    ok = np.isfinite(w)
    assert ok[1:].all() or name == "sigmoid", (name, w)  # sigmoid needs σ_b² ≳ 0.3 (its φ(0) = ½ feeds q)
    assert ok.sum() >= 2
    np.testing.assert_allclose(T.chi_1(w[ok], sb2[ok], name, q=q[ok]), 1.0, atol=1e-7)
    np.testing.assert_allclose(T.length_map(q[ok], w[ok], sb2[ok], name), q[ok], rtol=1e-7, atol=1e-12)
    if THEORY_ACTIVATIONS[name].bounded:  # and it is the fixed point the length map is drawn to
        np.testing.assert_allclose(T.q_star(w[ok], sb2[ok], name), q[ok], rtol=1e-6, atol=1e-12)
    sw2, sb2_back = T.critical_point(q[ok & (q > 0)], name)
    np.testing.assert_allclose(sb2_back, sb2[ok & (q > 0)], atol=1e-9)


def test_gelu_critical_length_can_be_unstable():
    """gelu's critical point at σ_b² = 0.05 has σ_w² ≈ 2.3 > 2 = 1/lim E[φ²]/q: q* is a fixed point of the
    length map but the map runs away from it above (no stable length: q_star reports inf); at σ_b² = 0.3 the
    critical σ_w² < 2 and q* is the stable fixed point."""
    w, q = T.critical_line([0.05, 0.3], "gelu")
    assert w[0] > 2.0 and np.isposinf(T.q_star(w[0], 0.05, "gelu"))
    assert w[1] < 2.0 and T.q_star(w[1], 0.3, "gelu") == pytest.approx(q[1], rel=1e-9)


def test_elu_kernels_agree_with_two_dimensional_quadrature():
    a = THEORY_ACTIVATIONS["elu"]
    for q, c in ((1.0, 0.3), (2.0, -0.7), (0.5, 0.97)):
        phi = lambda u: float(a.phi(np.float64(u)))
        dphi = lambda u: float(a.dphi(np.float64(u)))
        assert T.kernel("elu", q, q, c * q) == pytest.approx(_dblquad_split(phi, q, c), rel=1e-8)
        assert T.derivative_kernel("elu", q, q, c * q) == pytest.approx(_dblquad_split(dphi, q, c), rel=1e-8)


def test_grids_broadcast_and_equal_pointwise_calls():
    sw2 = np.linspace(1.0, 4.0, 5)[:, None]
    sb2 = np.array([0.0, 0.05, 0.5])[None, :]
    p = T.propagation(sw2, sb2, "tanh")
    assert p.xi_c.shape == (5, 3) and p.phase().shape == (5, 3)
    for i, j in [(0, 1), (2, 2), (4, 0), (3, 1)]:
        one = T.propagation(float(sw2[i, 0]), float(sb2[0, j]), "tanh")
        assert p.xi_c[i, j] == pytest.approx(float(one.xi_c), rel=1e-6)  # 1-D order follows the grid's largest q
        assert p.c_star[i, j] == pytest.approx(float(one.c_star), abs=1e-8)
    names = set(p.phase().ravel())
    assert {"ordered", "chaotic"} <= names
    assert T.phase(1.0, 0.0, "tanh") == "critical"  # the origin: χ₁ = 1 at q* = 0


def test_sigma_b2_zero_chaotic_tanh_has_c_star_zero():
    """Odd φ without bias: the correlation map fixes c = 0, the chaotic fixed point."""
    assert T.c_star(2.0, 0.0, "tanh") == pytest.approx(0.0, abs=1e-12)


def test_iterates_follow_the_maps():
    q, c = T.iterates(1.0, 0.5, 2.5, 0.05, "tanh", 300)  # ξ_c ≈ 11.8 layers: 300 is many of them
    p = T.propagation(2.5, 0.05, "tanh")
    assert q[-1] == pytest.approx(p.q_star, rel=1e-6)
    assert c[-1] == pytest.approx(p.c_star, abs=1e-5)
    assert q[1] == pytest.approx(T.length_map(1.0, 2.5, 0.05, "tanh"))


def test_names_and_errors():
    assert T.theory_activation("ReLU").name == "relu"
    assert T.theory_activation("linear").name == "identity"
    assert T.theory_activation("Swish").name == "silu"
    assert T.theory_activation("leaky-relu", slope=0.2).slope2 == pytest.approx((1 + 0.04) / 2)
    with pytest.raises(ValueError, match="valid: identity, relu"):
        T.theory_activation("softplus")
    with pytest.raises(ValueError, match=">= 0"):
        T.q_star(-1.0, 0.0, "tanh")
    assert len(T.theory_activation_names()) == 9


# --------------------------------------------------------------------------- dynamical isometry
@pytest.mark.parametrize("L", [1, 2, 5, 20])
def test_fuss_catalan_law(L):
    lam, rho = isometry.fuss_catalan_density(L, 20000)
    assert lam.max() == pytest.approx(isometry.fuss_catalan_edge(L), rel=1e-6)
    assert np.trapezoid(rho * lam, lam) == pytest.approx(1.0, rel=1e-4)  # the mean (1/√λ singularity at 0 aside)
    assert np.trapezoid(rho * lam**2, lam) == pytest.approx(isometry.fuss_catalan_moment(L, 2), rel=1e-4)
    assert isometry.fuss_catalan_moment(L, 2) == pytest.approx(L + 1, rel=1e-12)
    assert isometry.fuss_catalan_moment(L, 3) == pytest.approx(math.comb(3 * (L + 1), 3) / (3 * L + 1))


def test_jacobian_moments_of_the_paper():
    L = 50
    assert isometry.jacobian_moments(1.0, 0.0, "linear", L, "orthogonal") == (1.0, 0.0)
    assert isometry.jacobian_moments(1.0, 0.0, "linear", L, "gaussian") == (1.0, L)
    assert isometry.jacobian_moments(2.0, 0.0, "relu", L, "gaussian") == (1.0, 2 * L)
    assert isometry.jacobian_moments(2.0, 0.0, "relu", L, "orthogonal") == (1.0, L)
    w, b = T.critical_point(1 / 64, "tanh")
    mean, var = isometry.jacobian_moments(w, b, "tanh", 200, "orthogonal")
    assert mean == pytest.approx(1.0, rel=1e-9) and 0 < var < 0.5  # near isometry even at depth 200
    mu1, mu2 = isometry.derivative_moments("tanh", 1 / 64)
    assert var == pytest.approx(200 * (mu2 / mu1**2 - 1), rel=1e-12)


def test_gauss_nodes_are_normalized():
    for n in (gauss.ORDER_1D, 48, 4001):
        x, w = gauss.nodes(n)
        assert w.sum() == pytest.approx(1.0) and (w * x * x).sum() == pytest.approx(1.0, rel=1e-10)


# --------------------------------------------------------------------------- deep linear networks
def test_deep_linear_closed_form_solves_the_mode_ode():
    """Saxe et al. 2014: u(t) = s e^{2st/τ}/(e^{2st/τ} − 1 + s/u₀) solves τ du/dt = 2u(s − u); the D = 4 solution
    (integrated) solves τ du/dt = 4u^{3/2}(s − u); half times agree with both."""
    from mlplab.theory import deep_linear as dl

    s, u0, tau, h = 1.5, 0.01, 100.0, 1e-3
    t = np.linspace(1.0, 600.0, 50)
    for depth in (2, 4):
        u = dl.mode_strength(t, s, u0, tau, depth)
        du = (dl.mode_strength(t + h, s, u0, tau, depth) - dl.mode_strength(t - h, s, u0, tau, depth)) / (2 * h)
        np.testing.assert_allclose(tau * du, depth * u ** (2 - 2 / depth) * (s - u), rtol=1e-5, atol=1e-7)
        t_half = float(dl.half_time(s, u0, tau, depth))
        assert float(dl.mode_strength(t_half, s, u0, tau, depth)) == pytest.approx(s / 2, rel=1e-6)
    assert float(dl.half_time(s, u0, tau)) == pytest.approx(tau / (2 * s) * math.log(s / u0 - 1))


# --------------------------------------------------------------------------- finite width
def test_log_length_variance_is_the_exact_sum_and_about_5_beta():
    """Hanin & Rolnick 2018: Var log M_L ≈ 5β; the exact sum against a direct simulation of the per-layer factors
    (2/n)·χ²_K, K ~ Binomial(n, ½), and the last layer's χ²_n/n."""
    from mlplab.theory import width as tw

    widths = [30, 50, 20, 40]
    rng = np.random.default_rng(3)
    draws = 400_000
    logm = np.zeros(draws)
    for n in widths[:-1]:
        k = rng.binomial(n, 0.5, draws)
        logm += np.log(rng.chisquare(np.maximum(k, 1)))  # K = 0 (probability 2^-n ≤ 1e-6) counted as 1
    logm += np.log(rng.chisquare(widths[-1], draws))
    assert tw.log_length_variance(widths) == pytest.approx(np.var(logm), rel=0.01)
    assert tw.log_length_variance([1000] * 20) == pytest.approx(5 * tw.beta([1000] * 19) + 2 / 1000, rel=0.01)
    assert tw.log_length_variance([24, 60, 120, 40]) == pytest.approx(tw.log_length_variance([120, 60, 24, 40]))


def test_he_relu_is_critical_whatever_the_rounding_of_n_times_2_over_n():
    """σ_w² = n·(2/n) is 2 ± 1 ulp for some n; at σ_b² = 0 that made q* = inf and the phase "unbounded" (the live
    page then said the activations blow up with depth, for He with ReLU)."""
    for sw2 in (2.0, np.nextafter(2.0, 3.0), np.nextafter(2.0, 1.0)):
        assert T.phase(sw2, 0.0, "relu") == "critical", sw2
        assert not np.isposinf(T.q_star(sw2, 0.0, "relu"))
    assert T.phase(2.0 * (1 + 1e-9), 0.0, "relu") == "unbounded"  # a real gain above 1 still grows without bound


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "gelu", "silu"])
def test_critical_line_newton_agrees_with_bisection(name):
    """Up to 4 targets are solved by Newton's method in ln q* (issue 30's time), more by 60 bisection steps: the
    two solvers give one root (the sigmoid's at q* ≈ 46 is the one mlp5_sigmoid's note asks for)."""
    sb2 = np.array([0.0026572270207500586, 0.05, 0.3, 1.0, 2.5])
    w_one = np.array([float(T.critical_line(s, name)[0]) for s in sb2])  # one target each: Newton
    w_all, q_all = T.critical_line(sb2, name)  # five at once: bisection
    ok = np.isfinite(w_all)
    assert ok.sum() >= 4
    np.testing.assert_array_equal(np.isfinite(w_one), ok)
    np.testing.assert_allclose(w_one[ok], w_all[ok], rtol=1e-12)
    np.testing.assert_allclose(T.chi_1(w_one[ok], sb2[ok], name, q=q_all[ok]), 1.0, atol=1e-9)


@pytest.mark.parametrize("name,sw2,sb2", [("tanh", 0.334, 0.0026), ("gelu", 1.5, 0.05), ("sigmoid", 16.0, 0.0)])
def test_q_star_newton_stops_at_a_step_below_its_tolerance(name, sw2, sb2, monkeypatch):
    """q*'s Newton iteration converges in a few quadratures: a step below the tolerance that lands on the end of the
    bracket x has just become (F at rounding level) is convergence. It once bisected from there to the tolerance:
    18 quadratures for mlp10_tanh's (0.334, 0.0026), 35 for GELU at (1.5, 0.05), against 6 and 7. The root is
    brentq's on the same F to 1e-12."""
    from mlplab.theory import maps

    calls = []
    real = maps.gauss.expect_with_slope
    monkeypatch.setattr(maps.gauss, "expect_with_slope", lambda *a, **k: calls.append(1) or real(*a, **k))
    q = float(T.q_star(sw2, sb2, name))
    assert 0 < len(calls) <= 8
    root = optimize.brentq(lambda x: sw2 * float(T.mean_square(name, x)) + sb2 - x, 1e-9, 200.0, xtol=1e-300,
                           rtol=4 * np.finfo(float).eps)
    assert q == pytest.approx(root, rel=1e-12)


def test_critical_line_newton_stops_at_a_step_below_its_tolerance(monkeypatch):
    """The critical line's Newton iteration in ln q*: sigmoid at σ_b² = 0.01 (mlp5_sigmoid's note) in 4 quadratures;
    it took 9, bisecting from the end of the bracket where a step at rounding level had landed."""
    from mlplab.theory import critical

    calls = []
    real = critical._sigma_b2_and_slope
    monkeypatch.setattr(critical, "_sigma_b2_and_slope", lambda *a: calls.append(1) or real(*a))
    w, q = T.critical_line(0.01, "sigmoid")
    assert len(calls) <= 5
    assert float(T.chi_1(w, 0.01, "sigmoid", q=q)) == pytest.approx(1.0, abs=1e-9)
    assert float(w) == pytest.approx(float(T.critical_line(np.array([0.01] * 5), "sigmoid")[0][0]), rel=1e-12)


def test_shared_quadratures_are_the_separate_ones_bit_for_bit():
    """q*'s Newton step and the critical line read E[φ²] with its Stein slope, and E[φ²] with E[φ′²], from one
    evaluation of φ on the nodes: the same numbers as the separate calls."""
    from mlplab.theory.maps import mean_squares

    q = np.array([1e-6, 0.3, 4.0, 45.6, 99.0, 150.0, 1e5])
    for name in ("tanh", "sigmoid", "gelu", "silu"):
        act = THEORY_ACTIVATIONS[name]
        m, d = mean_squares(act, q)
        np.testing.assert_array_equal(m, T.mean_square(act, q))
        np.testing.assert_array_equal(d, T.derivative_mean_square(act, q))
        e, s = gauss.expect_with_slope(lambda u, act=act: act.phi(u) ** 2, q)
        np.testing.assert_array_equal(e, T.mean_square(act, q))
        np.testing.assert_array_equal(s, T.mean_square_slope(act, q))
    # one variance's rule, read without array calls, is the one the array path gives it (at the orders' edges too)
    edges = [n / 80.0 for n in gauss.ORDERS_1D] + [gauss.WIDE_Q, 4.0**5, 1e12]
    near = [*np.nextafter(edges, 0), *np.nextafter(edges, 1e13)]
    for v in [0.0, -1.0, np.nan, np.inf, 1e-9, 0.3, *edges, *near]:
        assert gauss._levels(np.array([v]))[0] == gauss._levels(np.array([v, v]))[0], v


def test_dropped_nodes_carry_no_weight():
    """Gauss–Hermite nodes whose weight underflows to 0 are dropped: the rule's sums are the full rule's."""
    from scipy.special import roots_hermitenorm

    for order in (101, 3201, 8001):
        x, w = gauss.nodes(order)
        xf, wf = roots_hermitenorm(order)
        wf = wf / wf.sum()
        assert (x.size < order) == (order > 401) and np.all(w > 0)
        np.testing.assert_array_equal(np.sort(wf[wf > 0]), np.sort(w))
        f = np.tanh(np.sqrt(45.6) * xf) ** 2
        assert float(np.tanh(np.sqrt(45.6) * x) ** 2 @ w) == pytest.approx(float(f @ wf), rel=1e-14)
