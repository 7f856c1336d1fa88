"""Initializers: sample statistics against the formulas, exact bounds, structure, name resolution,
agreement with torch.nn.init and the documented Keras formulas, and argument validation.

Statistical tolerance: 5 standard errors for n = 120000 samples. SE of the mean: sigma / sqrt(n). Relative
SE of a sample variance: sqrt(kurtosis - 1) / sqrt(n), i.e. sqrt(2/n) normal, sqrt(0.8/n) uniform, about
1.17/sqrt(n) for the 2-sigma-truncated normal. All draws use fixed seeds, so the tests are deterministic.
"""

import math
from functools import partial

import numpy as np
import pytest

from mlplab import init
from mlplab.init import (
    INITIALIZERS,
    TRUNCATED_STD_2SIGMA,
    as_generator,
    book,
    calculate_gain,
    compute_fans,
    constant,
    critical,
    critical_variances,
    get_initializer,
    he_normal,
    he_uniform,
    identity,
    lecun_normal,
    lecun_uniform,
    list_initializers,
    normal,
    ones,
    orthogonal,
    small_random,
    standard_normal,
    theoretical_std,
    torch_linear_bias,
    torch_linear_weight,
    truncated_normal,
    truncated_std_factor,
    uniform,
    uniform_fan_in,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
    zeros,
)

SHAPE = (400, 300)  # (in, out): fan_in 400, fan_out 300
N_IN, N_OUT = SHAPE
N = N_IN * N_OUT
SEED = 1234


def _truncated_rel_se(b=2.0):
    """sqrt(kurtosis - 1) of N(0, 1) truncated to [-b, b] (E x^4 = 3 - 2 (b^3 + 3b) phi(b) / Z)."""
    phi, z = math.exp(-b * b / 2) / math.sqrt(2 * math.pi), math.erf(b / math.sqrt(2))
    m2, m4 = 1 - 2 * b * phi / z, 3 - 2 * (b**3 + 3 * b) * phi / z
    return math.sqrt(m4 / m2**2 - 1)


REL_SE_VAR = {"normal": math.sqrt(2.0), "uniform": math.sqrt(0.8), "truncated": _truncated_rel_se()}
SLACK = {"uniform": 1e-3, "truncated": 1e-2}  # extremes must come this close (fraction of the width)
KERAS_TRUNC = 0.87962566103423978


def row(id, fn, mean, std, kind, support=None, shape=SHAPE):
    return pytest.param(fn, shape, mean, std, kind, support, id=id)


def sym(limit):
    return (-limit, limit)


STATS = [
    row("normal", partial(normal, mean=0.5, std=2.0), 0.5, 2.0, "normal"),
    row("small_random", small_random, 0.0, 0.01, "normal"),
    row("standard_normal", standard_normal, 0.0, 1.0, "normal"),
    row("uniform", partial(uniform, low=-3.0, high=1.0), -1.0, 4 / math.sqrt(12), "uniform", (-3.0, 1.0)),
    row("xavier_normal_fan_avg", partial(xavier_normal, gain=2.0), 0, 2 * math.sqrt(2 / 700), "normal"),
    row("xavier_normal_fan_in", partial(xavier_normal, mode="fan_in"), 0, 1 / 20, "normal"),
    row("xavier_uniform", xavier_uniform, 0, math.sqrt(2 / 700), "uniform", sym(math.sqrt(6 / 700))),
    row("xavier_uniform_fan_in_gain", partial(xavier_uniform, gain=5 / 3, mode="fan_in"), 0, 5 / 3 / 20,
        "uniform", sym(5 / 3 * math.sqrt(3 / 400))),
    row("he_normal", he_normal, 0, math.sqrt(2 / 400), "normal"),
    row("he_normal_fan_out_leaky", partial(he_normal, a=0.2, mode="fan_out"), 0,
        math.sqrt(2 / 1.04 / 300), "normal"),
    row("he_normal_tanh", partial(he_normal, nonlinearity="tanh"), 0, 5 / 3 / 20, "normal"),
    row("he_uniform", he_uniform, 0, math.sqrt(2 / 400), "uniform", sym(math.sqrt(6 / 400))),
    row("he_uniform_fan_out_selu", partial(he_uniform, mode="fan_out", nonlinearity="selu"), 0,
        0.75 / math.sqrt(300), "uniform", sym(0.75 * math.sqrt(3 / 300))),
    row("lecun_normal", lecun_normal, 0, 1 / 20, "normal"),
    row("lecun_uniform", lecun_uniform, 0, 1 / 20, "uniform", sym(math.sqrt(3 / 400))),
    row("uniform_fan_in", uniform_fan_in, 0, 1 / math.sqrt(1200), "uniform", sym(1 / 20)),
    row("truncated_normal", partial(truncated_normal, std=0.5, mean=0.1), 0.1, 0.5 * KERAS_TRUNC,
        "truncated", (0.1 - 1.0, 0.1 + 1.0)),
    row("truncated_normal_corrected", partial(truncated_normal, std=0.5, correct_std=True), 0, 0.5,
        "truncated", sym(1.0 / KERAS_TRUNC)),
    # Keras' documented formulas: VarianceScaling(scale, mode, "truncated_normal") has std sqrt(scale/n),
    # drawn as N(0, (sqrt(scale/n) / .87962566103423978)^2) cut at 2 of those std.
    row("keras_glorot_normal", partial(variance_scaling, scale=1.0, mode="fan_avg"), 0, math.sqrt(2 / 700),
        "truncated", sym(2 * math.sqrt(2 / 700) / KERAS_TRUNC)),
    row("keras_he_normal_fan_out", partial(variance_scaling, scale=2.0, mode="fan_out"), 0,
        math.sqrt(2 / 300), "truncated", sym(2 * math.sqrt(2 / 300) / KERAS_TRUNC)),
    row("keras_lecun_normal", variance_scaling, 0, 1 / 20, "truncated", sym(2 / 20 / KERAS_TRUNC)),
    row("variance_scaling_normal", partial(variance_scaling, scale=3.0, mode="fan_avg", distribution="normal"),
        0, math.sqrt(3 / 350), "normal"),
    row("variance_scaling_uniform", partial(variance_scaling, scale=0.5, distribution="uniform"), 0,
        math.sqrt(0.5 / 400), "uniform", sym(math.sqrt(1.5 / 400))),
    row("book_relu", book, 0, math.sqrt(2 / 400), "normal"),
    row("book_sigmoid", partial(book, activation="sigmoid"), 0, math.sqrt(1 / 400), "normal"),
    row("orthogonal", partial(orthogonal, gain=1.5), 0, 1.5 / 20, "normal"),
    row("torch_linear_weight", torch_linear_weight, 0, 1 / math.sqrt(1200), "uniform", sym(1 / 20)),
    row("torch_linear_bias", partial(torch_linear_bias, fan_in=400), 0, 1 / math.sqrt(1200), "uniform",
        sym(1 / 20), shape=(N,)),
    row("he_normal_stacked", he_normal, 0, math.sqrt(2 / 100), "normal", shape=(24, 100, 50)),
    # σ_w² from mlplab.theory's critical line (tanh at σ_b² = 0.05: 1.761, checked against the paper below)
    row("critical_tanh", partial(critical, bias_var=0.05), 0, math.sqrt(critical_variances("tanh", 0.05)[0] / 400),
        "normal"),
    row("critical_relu_orthogonal", partial(critical, activation="relu", weights="orthogonal"), 0,
        math.sqrt(2 / 400), "normal"),
]
DETERMINISTIC = {init.zeros, init.ones, init.constant, init.identity}


def _base(fn):
    return fn.func if isinstance(fn, partial) else fn


@pytest.mark.parametrize("fn, shape, mean, std, kind, support", STATS)
def test_sample_statistics_match_formula(fn, shape, mean, std, kind, support):
    x = fn(shape, np.random.default_rng(SEED), dtype=np.float64)
    n = x.size
    assert x.shape == shape
    assert abs(x.mean() - mean) <= 5 * std / math.sqrt(n)
    assert abs(x.var() / std**2 - 1) <= 5 * REL_SE_VAR[kind] / math.sqrt(n)
    assert theoretical_std(fn, shape) == pytest.approx(std, rel=1e-12)
    if support is not None:  # exact bounds: nothing outside, and the extremes reach the bounds
        lo, hi = support
        slack = SLACK[kind] * (hi - lo)
        assert lo - 1e-12 <= x.min() <= lo + slack
        assert hi - slack <= x.max() <= hi + 1e-12


def test_every_registered_initializer_has_a_statistics_row():
    covered = {_base(p.values[0]) for p in STATS} | DETERMINISTIC
    assert {_base(fn) for fn in INITIALIZERS.values()} <= covered


def test_truncated_constants():
    assert truncated_std_factor(2.0) == pytest.approx(KERAS_TRUNC, rel=1e-14)
    assert TRUNCATED_STD_2SIGMA == KERAS_TRUNC
    assert REL_SE_VAR["truncated"] == pytest.approx(1.17, abs=0.005)


@pytest.mark.parametrize("name", list_initializers())
def test_seeds_and_dtype(name):
    fn = get_initializer(name)
    kw = {"fan_in": 40} if name == "torch_bias" else {}
    shape = (40, 30)
    a = fn(shape, 7, np.float64, **kw)
    assert a.dtype == np.float64 and a.shape == shape
    np.testing.assert_array_equal(a, fn(shape, np.random.default_rng(7), np.float64, **kw))
    if _base(fn) in DETERMINISTIC:
        np.testing.assert_array_equal(a, fn(shape, 8, np.float64, **kw))
    else:
        assert not np.array_equal(a, fn(shape, 8, np.float64, **kw))
    b = fn(shape, 7, np.float32, **kw)
    assert b.dtype == np.float32
    np.testing.assert_array_equal(b, a.astype(np.float32))  # one stream for every dtype


def test_as_generator():
    g = np.random.default_rng(3)
    assert as_generator(g) is g
    assert as_generator(5).random() == np.random.default_rng(5).random()
    assert isinstance(as_generator(None), np.random.Generator)
    with pytest.raises(TypeError, match="Generator"):
        as_generator("5")


def test_compute_fans_treats_leading_dims_as_a_stack():
    assert compute_fans((400, 300)) == (400, 300)
    assert compute_fans((7, 400, 300)) == (400, 300)
    assert compute_fans((2, 7, 400, 300)) == (400, 300)


def test_constant_schemes():
    np.testing.assert_array_equal(zeros((3, 4), None), np.zeros((3, 4)))
    np.testing.assert_array_equal(ones((3, 4), None, np.float64), np.ones((3, 4)))
    c = constant((3, 4), None, np.float64, value=0.3)
    assert c.dtype == np.float64 and np.all(c == 0.3)
    assert zeros((2,), None, dtype=np.int64).dtype == np.int64


@pytest.mark.parametrize("shape", [(120, 80), (80, 120), (5, 60, 20), (5, 20, 60)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal_is_gain_times_orthogonal(shape, gain):
    w = orthogonal(shape, SEED, np.float64, gain=gain)
    k = min(shape[-2:])
    gram = np.swapaxes(w, -1, -2) @ w if shape[-2] >= shape[-1] else w @ np.swapaxes(w, -1, -2)
    np.testing.assert_allclose(gram, np.broadcast_to(gain**2 * np.eye(k), gram.shape), atol=1e-10)
    if len(shape) == 3:
        assert not np.allclose(w[0], w[1])


def test_orthogonal_is_haar_distributed():
    """Without the diag(R) sign fix, LAPACK's QR gives a Q whose diagonal is biased to one sign."""
    w = orthogonal((200, 30, 20), SEED, np.float64)
    diag = np.diagonal(w, axis1=-2, axis2=-1).ravel()  # 4000 entries, each of std ~ 1/sqrt(30)
    assert abs(diag.mean()) <= 5 * diag.std() / math.sqrt(diag.size)


def test_identity():
    np.testing.assert_array_equal(identity((4, 4), None, np.float64, gain=1.5), 1.5 * np.eye(4))
    stacked = identity((3, 4, 4), None, np.float64, gain=0.5)
    np.testing.assert_array_equal(stacked, np.broadcast_to(0.5 * np.eye(4), (3, 4, 4)))
    wide = identity((3, 5), None, np.float64, gain=2.0)
    assert np.count_nonzero(wide) == 3 and np.all(np.diag(wide) == 2.0)


# ----------------------------------------------------------------------------- name resolution
RESOLVE = [
    ("he", None, he_normal), ("Kaiming-Normal", None, he_normal), ("kaiming", None, he_normal),
    ("he_normal(mode=fan_out)", None, partial(he_normal, mode="fan_out")),
    ("he_uniform", None, he_uniform), ("KAIMING_UNIFORM", None, he_uniform),
    ("kaiming_uniform(a=2.23606797749979)", None, torch_linear_weight),
    ("xavier", None, partial(xavier_normal, mode="fan_in")), ("xavier(2)", None,
                                                             partial(xavier_normal, mode="fan_in", gain=2)),
    ("xavier_normal", None, xavier_normal), ("glorot", None, xavier_normal),
    ("glorot_normal", None, xavier_normal), ("xavier-uniform", None, xavier_uniform),
    ("glorot_uniform", None, xavier_uniform), ("lecun", None, lecun_normal),
    ("lecun_uniform", None, lecun_uniform),
    ("std=0.01", None, partial(normal, std=0.01)), ("normal(0, 0.01)", None, partial(normal, std=0.01)),
    ("small", None, partial(normal, std=0.01)), ("standard_normal", None, partial(normal, std=1.0)),
    ("normal(0, 1)", None, partial(normal, std=1.0)), ("std=1", None, partial(normal, std=1.0)),
    ("uniform", None, partial(uniform, low=0.0, high=1.0)),
    ("uniform(-1, 1)", None, partial(uniform, low=-1.0, high=1.0)),
    ("uniform_fan_in", None, partial(uniform, low=-1 / 20, high=1 / 20)),
    ("truncated_normal", None, partial(truncated_normal, std=1.0)),
    ("truncated_normal(0.1)", None, partial(truncated_normal, std=0.1)),
    ("truncated_normal(std=0.1, correct_std=true)", None,
     partial(truncated_normal, std=0.1 / KERAS_TRUNC)),
    ("orthogonal(2)", None, partial(orthogonal, gain=2.0)),
    ("identity", None, partial(identity, gain=1.0)), ("identity(1.5)", None, partial(identity, gain=1.5)),
    ("scaled_identity(0.5)", None, partial(identity, gain=0.5)),
    ("zero", None, zeros), ("ones", None, ones), ("constant(0.3)", None, partial(constant, value=0.3)),
    (0.3, None, partial(constant, value=0.3)), ("0.3", None, partial(constant, value=0.3)),
    ("book", None, partial(normal, std=math.sqrt(2 / 400))),
    ("book", "relu", partial(normal, std=math.sqrt(2 / 400))),
    ("book", "sigmoid", partial(normal, std=math.sqrt(1 / 400))),
    ("torch", None, partial(uniform, low=-1 / 20, high=1 / 20)),
    ("torch_default", None, partial(uniform, low=-1 / 20, high=1 / 20)),
    (he_uniform, None, he_uniform),
]


@pytest.mark.parametrize("spec, activation, expected", RESOLVE, ids=[str(r[0]) for r in RESOLVE])
def test_names_resolve(spec, activation, expected):
    got = get_initializer(spec, activation=activation)(SHAPE, SEED, np.float64)
    np.testing.assert_allclose(got, expected(SHAPE, SEED, np.float64), rtol=1e-9, atol=0)


# The named schemes are instances of variance_scaling (Keras' presets for the uniform ones).
INSTANCES = [
    (he_normal, 2.0, "fan_in", "normal"), (he_uniform, 2.0, "fan_in", "uniform"),
    (partial(he_uniform, mode="fan_out"), 2.0, "fan_out", "uniform"),
    (xavier_normal, 1.0, "fan_avg", "normal"), (xavier_uniform, 1.0, "fan_avg", "uniform"),
    (partial(xavier_normal, mode="fan_in"), 1.0, "fan_in", "untruncated_normal"),
    (lecun_normal, 1.0, "fan_in", "normal"), (lecun_uniform, 1.0, "fan_in", "uniform"),
    (partial(book, activation="tanh"), 1.0, "fan_in", "normal"), (book, 2.0, "fan_in", "normal"),
    (torch_linear_weight, 1 / 3, "fan_in", "uniform"), (uniform_fan_in, 1 / 3, "fan_in", "uniform"),
]


@pytest.mark.parametrize("fn, scale, mode, distribution", INSTANCES)
def test_named_schemes_are_variance_scaling(fn, scale, mode, distribution):
    vs = variance_scaling(SHAPE, SEED, np.float64, scale=scale, mode=mode, distribution=distribution)
    np.testing.assert_allclose(fn(SHAPE, SEED, np.float64), vs, rtol=1e-12)


def test_theoretical_std_of_names():
    assert theoretical_std("he", SHAPE) == pytest.approx(math.sqrt(2 / 400))
    assert theoretical_std("xavier", SHAPE) == pytest.approx(1 / 20)
    assert theoretical_std("glorot_uniform", SHAPE) == pytest.approx(math.sqrt(2 / 700))
    assert theoretical_std("book", SHAPE, activation="sigmoid") == pytest.approx(1 / 20)
    assert theoretical_std("std=0.01", SHAPE) == 0.01
    assert theoretical_std("zeros", SHAPE) == 0.0
    eye = identity((30, 20), None, np.float64, gain=1.5)
    assert theoretical_std("identity(1.5)", (30, 20)) == pytest.approx(eye.std(), rel=1e-12)


def test_calculate_gain_table():
    assert calculate_gain("linear") == calculate_gain("identity") == calculate_gain("sigmoid") == 1.0
    assert calculate_gain("tanh") == pytest.approx(5 / 3)
    assert calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert calculate_gain("selu") == 0.75


# ----------------------------------------------------------------------------- agreement with torch
def ks_statistic(a, b):
    """Two-sample Kolmogorov-Smirnov distance max |F_a - F_b|."""
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    grid = np.concatenate([a, b])
    return np.abs(np.searchsorted(a, grid, "right") / a.size - np.searchsorted(b, grid, "right") / b.size).max()


def ks_critical(n, m, alpha=1e-6):
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def _torch_pairs():
    nn = pytest.importorskip("torch").nn
    return {  # name: (torch init on an (out, in) tensor, ours on (in, out))
        "xavier_normal": (lambda t: nn.init.xavier_normal_(t, gain=1.3), partial(xavier_normal, gain=1.3)),
        "xavier_uniform": (lambda t: nn.init.xavier_uniform_(t, gain=0.7), partial(xavier_uniform, gain=0.7)),
        "kaiming_normal": (lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"),
                           partial(he_normal, nonlinearity="relu")),
        "kaiming_normal_fan_out": (lambda t: nn.init.kaiming_normal_(t, a=0.3, mode="fan_out"),
                                   partial(he_normal, a=0.3, mode="fan_out")),
        "kaiming_uniform": (nn.init.kaiming_uniform_, he_uniform),
        "kaiming_uniform_tanh": (lambda t: nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="tanh"),
                                 partial(he_uniform, mode="fan_out", nonlinearity="tanh")),
        "trunc_normal": (lambda t: nn.init.trunc_normal_(t, std=0.5, a=-1.0, b=1.0),
                         partial(truncated_normal, std=0.5)),
        "orthogonal": (lambda t: nn.init.orthogonal_(t, gain=2.0), partial(orthogonal, gain=2.0)),
        "normal": (lambda t: nn.init.normal_(t, 0.2, 0.01), partial(normal, mean=0.2, std=0.01)),
        "uniform": (lambda t: nn.init.uniform_(t, -2.0, 1.0), partial(uniform, low=-2.0, high=1.0)),
        "linear_weight": (lambda t: nn.Linear(N_IN, N_OUT, dtype=t.dtype).weight, torch_linear_weight),
    }


TORCH_NAMES = ["xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_normal_fan_out",
               "kaiming_uniform", "kaiming_uniform_tanh", "trunc_normal", "orthogonal", "normal", "uniform",
               "linear_weight"]


def _torch_sample(torch_init):
    torch = pytest.importorskip("torch")
    torch.manual_seed(SEED)
    with torch.no_grad():
        return torch_init(torch.empty(N_OUT, N_IN, dtype=torch.float64)).detach().numpy().T  # -> (in, out)


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_agrees_with_torch_in_distribution(name):
    torch_init, ours_fn = _torch_pairs()[name]
    theirs, ours = _torch_sample(torch_init), ours_fn(SHAPE, SEED, np.float64)
    assert theirs.shape == ours.shape == SHAPE
    assert ks_statistic(ours, theirs) <= ks_critical(N, N)
    sigma, tol = theoretical_std(ours_fn, SHAPE), 5 * math.sqrt(2 / N)  # normal's SE bounds the others'
    assert abs(ours.std() / sigma - 1) <= tol and abs(theirs.std() / sigma - 1) <= tol
    if name == "trunc_normal":  # torch's bounds a, b are absolute: [-1, 1] = 2 sigma for sigma = 0.5
        assert np.abs(theirs).max() <= 1.0 and np.abs(ours).max() <= 1.0


def test_ks_check_can_fail():
    """The KS check sees a fan_in/fan_out mix-up (std ratio sqrt(4/3))."""
    torch_init, _ = _torch_pairs()["kaiming_normal"]
    wrong = he_normal(SHAPE, SEED, np.float64, mode="fan_out")
    assert ks_statistic(wrong, _torch_sample(torch_init)) > ks_critical(N, N)


def test_torch_linear_bias_and_eye():
    torch = pytest.importorskip("torch")
    torch.manual_seed(SEED)
    theirs = torch.nn.Linear(4, N, dtype=torch.float64).bias.detach().numpy()
    ours = torch_linear_bias((N,), SEED, np.float64, fan_in=4)
    assert ks_statistic(ours, theirs) <= ks_critical(N, N)
    assert np.abs(ours).max() <= 0.5 and np.abs(theirs).max() <= 0.5
    for rows, cols in [(4, 4), (5, 3), (3, 5)]:  # torch's eye_ on (out, in) is our identity transposed
        eye = torch.nn.init.eye_(torch.empty(cols, rows, dtype=torch.float64)).numpy().T
        np.testing.assert_array_equal(identity((rows, cols), None, np.float64), eye)


@pytest.mark.parametrize("nonlinearity, param", [("linear", None), ("sigmoid", None), ("tanh", None),
                                                 ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                                 ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    torch = pytest.importorskip("torch")
    assert calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


# ----------------------------------------------------------------------------- validation
INVALID = [
    (lambda: normal(SHAPE, 0, std=-1.0), "std"),
    (lambda: truncated_normal(SHAPE, 0, std=-0.1), "std"),
    (lambda: truncated_normal(SHAPE, 0, bound=0.0), "bound"),
    (lambda: uniform(SHAPE, 0, low=1.0, high=0.0), "low <= high"),
    (lambda: he_normal(SHAPE, 0, mode="fan_sum"), "mode"),
    (lambda: xavier_uniform(SHAPE, 0, mode="avg"), "mode"),
    (lambda: variance_scaling(SHAPE, 0, mode="fan"), "mode"),
    (lambda: he_uniform(SHAPE, 0, nonlinearity="swish"), "nonlinearity"),
    (lambda: calculate_gain("softsign"), "nonlinearity"),
    (lambda: calculate_gain("leaky_relu", "0.1"), "slope"),
    (lambda: compute_fans((300,)), "2 dimensions"),
    (lambda: xavier_normal((300,), 0), "2 dimensions"),
    (lambda: he_normal((300,), 0), "2 dimensions"),
    (lambda: lecun_uniform((300,), 0), "2 dimensions"),
    (lambda: orthogonal((300,), 0), "2 dimensions"),
    (lambda: identity((300,), None), "2 dimensions"),
    (lambda: he_normal((0, 5), 0), "fan_in"),
    (lambda: variance_scaling(SHAPE, 0, distribution="cauchy"), "distribution"),
    (lambda: variance_scaling(SHAPE, 0, scale=-1.0), "scale"),
    (lambda: xavier_normal(SHAPE, 0, gain=-1.0), "gain"),
    (lambda: book(SHAPE, 0, activation="softsign"), "activation"),
    (lambda: torch_linear_bias((300,), 0), "fan_in"),
    (lambda: he_normal(SHAPE, 0, dtype=np.int32), "dtype"),
    (lambda: get_initializer("he_normall"), "valid names: .*glorot_uniform.*he_normal.*std="),
    (lambda: get_initializer("normal(0, 1, 2)"), "normal"),
    (lambda: get_initializer("xavier(slope=2)"), "slope"),
    (lambda: theoretical_std(lambda shape, rng, dtype: None, SHAPE), "formula"),
]


@pytest.mark.parametrize("call, match", INVALID, ids=range(len(INVALID)))
def test_invalid_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_critical_init_sits_on_the_papers_critical_line():
    """Schoenholz et al. 2017: tanh at σ_b² = 0.05 is critical at σ_w² = 1.761; relu at (2, 0); Pennington et al.
    2017's tanh at q* = 1/64 needs σ_w² ≈ 1.03 (and a tiny σ_b² ≈ 4.7e-6)."""
    assert critical_variances("tanh", 0.05)[0] == pytest.approx(1.761, abs=1e-3)
    assert critical_variances("relu") == (2.0, 0.0)
    assert critical_variances("leaky_relu")[0] == pytest.approx(2 / (1 + 0.01**2))
    w, b = critical_variances("tanh", q_star=1 / 64)
    assert 1.02 < w < 1.04 and 0 < b < 1e-5
    fn = get_initializer("critical(bias_var=0.05)", activation="tanh")
    assert theoretical_std(fn, SHAPE) == pytest.approx(math.sqrt(1.761 / N_IN), rel=1e-3)


@pytest.mark.parametrize("shape", [(400, 300), (300, 400)])
def test_critical_orthogonal_is_gain_times_orthogonal(shape):
    w = critical(shape, SEED, np.float64, activation="tanh", q_star=1 / 64, weights="orthogonal")
    sw2, _ = critical_variances("tanh", q_star=1 / 64)
    n_in, n_out = shape
    gram = w.T @ w if n_in >= n_out else w @ w.T
    np.testing.assert_allclose(gram, sw2 * max(shape) / n_in * np.eye(min(shape)), atol=1e-10)
    assert w.var() * n_in == pytest.approx(sw2, rel=1e-3)  # Var(W) = σ_w²/n_in as for the normal draw


@pytest.mark.parametrize("kwargs, message", [
    ({"bias_var": 0.1, "q_star": 0.5}, "not both"),
    ({"activation": "sigmoid", "q_star": 1.0}, "no critical point of sigmoid has q"),  # needs σ_b² ≈ −4
    ({"activation": "relu", "q_star": 0.5}, "for every q"),
    ({"weights": "uniform"}, "normal or orthogonal"),
    ({"bias_var": -1.0}, ">= 0"),
    ({"activation": "softplus"}, "does not know activation"),
])
def test_critical_init_refuses_what_it_cannot_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        critical((20, 10), SEED, **kwargs)
