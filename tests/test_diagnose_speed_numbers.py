"""Issue 30's time target: the cheaper computations of the check-up's statistics and theory, each against what it
replaced (np.mean, np.var, np.linalg.norm, the full quadrature, the per-layer calls): the same numbers, bit for bit
(the set-ups, imports, steps and walks it stopped paying for are tests/test_diagnose_speed.py)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_batched_quadratures_are_the_per_layer_ones():
    """The check-up's batched theory (every layer at once) gives the per-layer functions' numbers: the Gaussian
    expectations on one array of grids (the fixed grid's far points moved onto the ends instead of cut) and the
    moments by one theory call per activation, to rounding (1e-12), for variances from 0 to 1e8."""
    from mlplab.diagnose import statistics as dg

    var = np.array([0.0, 1e-6, 0.01, 0.3, 1.0, 2.5, 40.0, 1e4, 1e8])
    for act in ("relu", "tanh", "sigmoid", "gelu", "relu6", "identity", "elu", "silu"):
        phi, _ = dg.activation_fn(act)
        sat = (lambda z, phi=phi: (np.abs(phi(z)) > 0.5).astype(float))
        got = dg.gaussian_expectations_at([phi, sat], var)
        for j, v in enumerate(var):
            want = dg.gaussian_expectations([phi, sat], v)
            for g, w in zip(got, want):
                assert abs(g[j] - w) <= 1e-12 * max(abs(w), 1.0), (act, v, g[j], w)
        for which, one in (("phi", dg.second_moment), ("dphi", dg.derivative_moment)):
            m = dg.moments_at(which, [act] * len(var), [0.01] * len(var), var)
            for j, v in enumerate(var):
                w = one(act, v)
                assert abs(m[j] - w) <= 1e-12 * max(abs(w), 1e-300), (act, which, v, m[j], w)


def test_relu_means_on_the_half_grid_are_the_full_grids():
    """A ReLU's mean on the grids' halves z >= 0 (``zero_below``: the check-up's theory for ReLU layers) is the full
    grid's to rounding (1e-12), from variance 0 to 1e8: the intervals below 0 add exactly 0; and a function that
    is not 0 below 0 (tanh) shows the half grid is a different sum, so the comparison can fail."""
    from mlplab.diagnose import statistics as dg

    var = np.array([0.0, 1e-8, 1e-6, 0.01, 0.3, 1.0, 2.5, 40.0, 1e4, 1e8])
    relu, _ = dg.activation_fn("relu")
    full, half = dg.gaussian_expectations_at([relu], var)[0], dg.gaussian_expectations_at([relu], var, True)[0]
    assert np.all(np.abs(full - half) <= 1e-12 * np.abs(full)), (full, half)
    assert np.all(full[1:] > 0)
    sq = (lambda z: np.tanh(z) ** 2)  # even: the half grid holds half of it
    full, half = dg.gaussian_expectations_at([sq], var[1:])[0], dg.gaussian_expectations_at([sq], var[1:], True)[0]
    assert np.all(np.abs(full - 2 * half) <= 1e-6 * full) and np.all(full > 0)


def test_theory_of_all_chains_at_once_is_predict_signals():
    """The check-up's theory (the recursion run for every chain in lockstep) is predict_signal's chain by chain: a
    network with a break (a concatenation restarts the chain) and a tanh, a relu and an identity layer."""
    from mlplab.diagnose import statistics as dg
    from mlplab.diagnose.pytorch.measure import _measure, _segments, _theory
    from mlplab.diagnose.pytorch.trace import layers as layers_of
    from mlplab.diagnose.pytorch.trace import trace

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(12, 16), torch.nn.Linear(16, 16)
            self.c, self.d = torch.nn.Linear(28, 16), torch.nn.Linear(16, 5)

        def forward(self, x):
            h = torch.relu(self.b(torch.tanh(self.a(x))))
            return self.d(torch.tanh(self.c(torch.cat([h, x], 1))))

    torch.manual_seed(0)
    x, y = torch.randn(64, 12), torch.arange(64) % 5
    ops, out = trace(Net(), x)
    lays, _ = layers_of(ops)
    torch.nn.functional.cross_entropy(out, y).backward()
    meas = _measure(lays, 64)
    th = _theory(lays, meas)
    segs = _segments(lays)
    assert [len(s) for s in segs] == [2, 2]
    for seg in segs:
        m = [meas[i] for i in seg]
        pred = dg.predict_signal([mm["weight"].shape[0] for mm in m], [mm["bwd_fan"] for mm in m],
                                 [float(np.mean(mm["weight"].astype(np.float64) ** 2)) for mm in m],
                                 [lays[i].activation for i in seg], m[0]["in_sq"], [mm["bias_sq"] for mm in m],
                                 output_grad_sq=m[-1]["grad_sq"])
        for k, i in enumerate(seg):
            assert th[i]["pre_std"] == pytest.approx(np.sqrt(pred.pre_var[k]), rel=1e-12)
            assert th[i]["pre_grad_norm"] == pytest.approx(np.sqrt(m[k]["elements"] * pred.grad_sq[k]), rel=1e-12)
            mean = dg.gaussian_expectation(dg.activation_fn(lays[i].activation)[0], pred.pre_var[k])
            assert th[i]["act_mean"] == pytest.approx(mean, rel=1e-12, abs=1e-12)


def test_input_spread_is_numpys():
    """The input's mean, biased and unbiased std and E[x²] from one deviation pass are NumPy's and torch's."""
    from mlplab.diagnose.pytorch.measure import _spread

    x = (np.random.default_rng(0).standard_normal((300, 7)) * 3 + 5).astype(np.float32)
    n, mean, ss = _spread(x)
    x64 = x.astype(np.float64)
    assert n == x.size and mean == pytest.approx(x64.mean(), rel=1e-14)
    assert np.sqrt(ss / n) == pytest.approx(x64.std(), rel=1e-13)
    assert np.sqrt(ss / (n - 1)) == pytest.approx(float(torch.from_numpy(x64).std()), rel=1e-13)
    assert ss / n + mean**2 == pytest.approx(np.mean(x64**2), rel=1e-13)


def test_label_coherence_of_float32_values_is_that_of_their_float64_copies():
    """label_coherence centres float32 errors and features in float64 without a float64 copy of them first: the
    same cosine, bit for bit, as from the float64 copies (2-D and sequence-shaped), and the gate likewise."""
    from mlplab.diagnose.verdicts import label_coherence, label_signal_gated

    rng = np.random.default_rng(3)
    for shape_d, shape_x in (((256, 10), (256, 784)), ((64, 8, 27), (64, 8, 32))):
        d = rng.standard_normal(shape_d).astype(np.float32)
        x = (rng.standard_normal(shape_x) * 2 + 1).astype(np.float32)
        x[..., : shape_x[-1] // 2] += d[..., :1]  # some signal: a cosine away from 0
        got, want = label_coherence(d, x), label_coherence(d.astype(np.float64), x.astype(np.float64))
        assert got == want and abs(got) > 0.05, (got, want)
    d = rng.standard_normal((256, 10)).astype(np.float32)
    x0 = (d @ rng.standard_normal((10, 784)) + rng.standard_normal((256, 784))).astype(np.float32)
    h = np.tanh(x0[:, :64] + d[:, :1]).astype(np.float32)
    got, want = label_signal_gated(d, h, x0), label_signal_gated(d.astype(np.float64), h.astype(np.float64),
                                                                 x0.astype(np.float64))
    assert got is not None and got == want


def test_saturation_bounds_in_float32_are_the_float64_comparison():
    """A bounded layer's saturated fraction compares float32 values with float32 bounds chosen so that the
    comparison is the float64 one exactly: values a hair either side of the bounds, and the bounds themselves."""
    from mlplab.diagnose.statistics import _at_least, _at_most

    rng = np.random.default_rng(0)
    for c in (0.01, 0.99, -0.99, 1.0 - 1e-9, 1e-30, 0.5, 3.0):
        near = np.float32(c) + (np.arange(-40, 41) * np.spacing(np.float32(c))).astype(np.float32)
        a = np.concatenate([near, rng.standard_normal(200).astype(np.float32), [np.nan, np.inf, -np.inf]]
                           ).astype(np.float32)
        assert np.array_equal(a <= _at_most(a.dtype, c), a.astype(np.float64) <= c), c
        assert np.array_equal(a >= _at_least(a.dtype, c), a.astype(np.float64) >= c), c
        assert _at_most(np.float32, c).dtype == np.float32 and _at_most(np.float64, c) == c


def test_scratch_buffer_gives_the_fresh_arrays_numbers_and_is_reused():
    """The check-up's per-layer float64 temporaries in one reused buffer (dg.Scratch: no page faults per layer):
    the layer statistics, the input's spread and the distinct-unit count are those of fresh arrays, bit for bit,
    for float32 layers of several sizes in a row (the buffer grown, then reused by smaller ones), a channels-last
    view (a conv's units moved last), and a float64 array (no copy); an array over Scratch.MAX is made fresh."""
    from types import SimpleNamespace

    from mlplab.diagnose import statistics as dg
    from mlplab.diagnose.pytorch.measure import _spread

    rng = np.random.default_rng(0)
    scratch = dg.Scratch()
    arrays = [rng.standard_normal((256, 64)).astype(np.float32), rng.standard_normal((256, 128)).astype(np.float32),
              np.maximum(rng.standard_normal((64, 40)), 0).astype(np.float32),
              np.moveaxis(rng.standard_normal((8, 6, 5, 5)).astype(np.float32), 1, -1),
              rng.standard_normal((100, 30)), np.tanh(rng.standard_normal((50, 20))).astype(np.float32)]
    arrays[1][:, :5] = arrays[1][:, 5:10]  # identical units
    for a in arrays:
        for act in ("relu", "tanh", "identity"):
            lay = SimpleNamespace(linear=SimpleNamespace(weight=SimpleNamespace(data=np.ones((3, a.shape[-1])))),
                                  activation=act)
            fresh = dg._summary(0, lay, None, a, dg.SATURATION_EPS, full=False)
            reused = dg._summary(0, lay, None, a, dg.SATURATION_EPS, full=False, scratch=scratch)
            f, r = fresh.as_dict(), reused.as_dict()
            assert f.keys() == r.keys() and all(f[k] == r[k] or (f[k] != f[k] and r[k] != r[k]) for k in f), act
        assert _spread(a) == _spread(a, scratch)
        flat = a.reshape(-1, a.shape[-1])
        assert dg.count_distinct_units(flat) == dg.count_distinct_units(flat, amax=float(np.max(np.abs(flat))),
                                                                         scratch=scratch)
    assert dg.count_distinct_units(arrays[1], scratch=scratch) == 123
    assert scratch.buf.size == 256 * 128  # grown once to the largest, then reused
    base = scratch.buf
    assert scratch.f64((10, 7)).base is base and scratch.f64((dg.Scratch.MAX + 1,)).base is not base


def test_weight_moments_are_numpys_var_and_mean_bit_for_bit():
    """_moments takes the mean once (np.var's steps after it) and rules a constant array out by a positive float32
    variance: the same var, mean and std-0-for-constant as np.var, np.mean and the element comparison, bit for bit,
    on weights as the check-up holds them (transposed views), constant, huge, NaN and inf ones, float64 too."""
    from mlplab.diagnose.pytorch.measure import _moments

    rng = np.random.default_rng(1)
    cases = []
    for shape in [(64, 64), (128, 784), (27, 64), (3,), (1,)]:
        w = (rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 1e3])).astype(np.float32)
        nan, inf = w.copy(), w.copy()
        nan.flat[0], inf.flat[-1] = np.nan, np.inf
        cases += [w, w.T, w.reshape(w.shape[0], -1).T, np.zeros(shape, np.float32), np.full(shape, 0.1, np.float32),
                  w.astype(np.float64), np.full(shape, 0.1), np.full(shape, 3e38, np.float32), nan, inf]
    with np.errstate(invalid="ignore"):
        for w in cases:
            std, mean, var, _ = _moments(w)
            want_var, want_mean = float(w.var(dtype=np.float64)), float(w.mean(dtype=np.float64))
            assert (var == want_var or (np.isnan(var) and np.isnan(want_var))) and (
                mean == want_mean or (np.isnan(mean) and np.isnan(want_mean))), (w.shape, w.dtype)
            if bool(np.all(w == w.flat[0])):
                assert std == 0.0
            else:
                assert std == math.sqrt(var) or (np.isnan(std) and np.isnan(var))


@pytest.mark.parametrize("scale", [0.3, 3.0, 40.0])
def test_tanh_theory_mean_is_zero_and_its_saturation_the_full_quadrature(scale):
    """The theory of a tanh layer takes E[tanh z] = 0 (odd, on grids symmetric about 0: the full quadrature gave 0
    to rounding) and the saturated fraction as twice the integral over z ≥ 0 (its band is even): the full grid's
    trapezoid sums to 1e-13, at variances where almost none, some and most of the units saturate."""
    from mlplab.diagnose import statistics as dg
    from mlplab.diagnose.pytorch.measure import _measure, _theory
    from mlplab.diagnose.pytorch.trace import layers as layers_of
    from mlplab.diagnose.pytorch.trace import trace

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 5))
    with torch.no_grad():
        for m in net[::2]:
            m.weight.mul_(scale)
    x, y = torch.randn(64, 12), torch.arange(64) % 5
    ops, out = trace(net, x)
    lays, _ = layers_of(ops)
    torch.nn.functional.cross_entropy(out, y).backward()
    th = _theory(lays, _measure(lays, 64))
    phi, _ = dg.activation_fn("tanh")
    lo, hi = dg._BOUNDS["tanh"]
    for row in th[:2]:
        var = row["pre_std"] ** 2
        mean, sat = dg.gaussian_expectations(
            [phi, lambda z: ((phi(z) <= lo + dg.SATURATION_EPS) | (phi(z) >= hi - dg.SATURATION_EPS)).astype(float)],
            var)
        assert row["act_mean"] == 0.0 and abs(mean) < 1e-15
        assert row["saturated"] == pytest.approx(sat, rel=1e-13, abs=1e-300)
    assert th[1]["saturated"] > (0.5 if scale > 10 else -1)


def test_means_without_numpys_wrapper_are_np_mean_bit_for_bit():
    """The statistics' means summed by ``np.add.reduce`` and divided (np.mean's own steps, without its Python
    wrapper): the input's spread, a layer's act_mean, a weight's mean and the label signal's centred halves are
    np.mean's numbers bit for bit, float32 and float64 arrays, odd sizes."""
    from types import SimpleNamespace

    from mlplab.diagnose import statistics as dg
    from mlplab.diagnose.pytorch.measure import _moments, _spread
    from mlplab.diagnose.verdicts import _centred_halves

    rng = np.random.default_rng(5)
    for shape in ((257, 31), (64, 128), (3, 1)):
        for dt in (np.float32, np.float64):
            a = (rng.standard_normal(shape) * 3 + 0.7).astype(dt)
            assert _spread(a)[1] == float(np.mean(a, dtype=np.float64))
            assert _moments(a)[1] == float(np.mean(a, dtype=np.float64))
            lay = SimpleNamespace(linear=SimpleNamespace(weight=SimpleNamespace(data=np.zeros((2, shape[1])))),
                                  activation="identity")
            assert dg._summary(0, lay, None, a, dg.SATURATION_EPS, full=False).act_mean == \
                float(np.mean(a, dtype=np.float64))
            b = a.reshape(shape[0], 1, shape[1])
            h = shape[0] // 2
            want = np.subtract(b[:2 * h].reshape(2, h, 1, shape[1]),
                               b[:2 * h].reshape(2, h, 1, shape[1]).mean(1, keepdims=True, dtype=np.float64),
                               dtype=np.float64).reshape(2, h, shape[1])
            assert np.array_equal(_centred_halves(b), want)


def test_both_moments_at_once_are_moments_at_bit_for_bit():
    """The theory's E[φ²] and E[φ′²] at a layer's variance from one evaluation of φ (``moments_both_at``) are
    ``moments_at``'s "phi" and "dphi", bit for bit: quadrature activations, closed forms, relu6 and two leaky
    slopes, variances from 1e-6 to 1e6."""
    from mlplab.diagnose.gaussian import moments_at, moments_both_at

    acts = ["tanh", "sigmoid", "gelu", "silu", "elu", "relu", "leaky_relu", "leaky_relu", "identity", "relu6"] * 3
    slopes = [0.01] * 7 + [0.2, 0.01, 0.01] + [0.01] * 7 + [0.2, 0.01, 0.01] + [0.01] * 7 + [0.2, 0.01, 0.01]
    q = np.repeat([1e-6, 0.7, 1e6], 10) * np.linspace(1.0, 1.5, 30)
    phi, dphi = moments_both_at(acts, slopes, q)
    assert np.array_equal(phi, moments_at("phi", acts, slopes, q))
    assert np.array_equal(dphi, moments_at("dphi", acts, slopes, q))


def test_expectations_at_one_variance_are_the_rows_bit_for_bit():
    """``gaussian_expectations_at`` at one variance takes the same steps on one 1-D row as the batched rows (here two
    rows of that variance): the same numbers bit for bit, full and half grids, variances from 1e-10 to 1e10."""
    from mlplab.diagnose import statistics as dg

    phi, _ = dg.activation_fn("tanh")
    relu, _ = dg.activation_fn("relu")
    fs = [phi, relu, lambda z: (np.abs(phi(z)) > 0.5).astype(float)]
    for v in np.concatenate([10 ** np.random.default_rng(1).uniform(-10, 10, 60), [1.0, 1 / 144, 400 / 144]]):
        for half in (False, True):
            one, two = dg.gaussian_expectations_at(fs, [v], half), dg.gaussian_expectations_at(fs, [v, v], half)
            assert all(a.shape == (1,) and a[0] == b[0] == b[1] for a, b in zip(one, two))
    assert [float(a[0]) for a in dg.gaussian_expectations_at(fs, [0.0])] == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        dg.gaussian_expectations_at(fs, [-1.0])


def test_coherence_is_the_cosine_np_linalg_norm_gives_bit_for_bit():
    """The label signal's cosine with the norms as ``np.linalg.norm`` takes them (the dot of the raveled G with
    itself) and the sum of the 1-D products: the number the 2-D ``np.linalg.norm``/``np.sum`` gave, bit for bit."""
    from mlplab.diagnose.verdicts import _centred_halves, _coherence

    rng = np.random.default_rng(7)
    for n, c, f in ((256, 27, 128), (64, 10, 784), (33, 3, 5)):
        d = _centred_halves(rng.standard_normal((n, 1, c)).astype(np.float32))
        x = _centred_halves(rng.standard_normal((n, 1, f)).astype(np.float32))
        g = np.matmul(d.transpose(0, 2, 1), x)
        want = float(np.sum(g[0] * g[1])) / float(np.linalg.norm(g[0]) * np.linalg.norm(g[1]))
        assert _coherence(d, x) == want


def test_largest_magnitude_without_the_absolute_copy():
    """The distinct-unit count's largest |value| as max(max a, −min a) is np.max(np.abs(a)) exactly, and NaN (the
    check-up's "not finite") propagates as through np.abs, wherever it sits."""
    rng = np.random.default_rng(3)
    for a in (rng.standard_normal((256, 64)).astype(np.float32), -np.abs(rng.standard_normal((5, 3))),
              np.array([[np.inf, 1.0]], np.float32), np.array([[-np.inf, 1.0]])):
        assert float(np.maximum(a.max(), -a.min())) == float(np.max(np.abs(a)))
    for where in ((0, 0), (3, 1), (4, 2)):
        a = rng.standard_normal((5, 3))
        a[where] = np.nan
        assert np.isnan(float(np.maximum(a.max(), -a.min()))) and np.isnan(float(np.max(np.abs(a))))


def test_centred_halves_are_the_cast_sums_bit_for_bit():
    """The label signal's halves centred in their one float64 array (the values cast once, the means summed and
    subtracted there) are the numbers of summing and subtracting with casts from the float32 values, bit for bit:
    sequences (B, T, C), odd batches, float32 and float64."""
    from mlplab.diagnose.verdicts import _centred_halves

    rng = np.random.default_rng(11)
    for shape in ((256, 1, 128), (255, 1, 784), (64, 8, 32), (9, 3, 2)):
        for dt in (np.float32, np.float64):
            a = (rng.standard_normal(shape) * 4 + 2).astype(dt)
            h = shape[0] // 2
            b = a[:2 * h].reshape(2, h, shape[1], shape[2])
            want = np.subtract(b, np.add.reduce(b, 1, dtype=np.float64, keepdims=True) / h, dtype=np.float64)
            assert np.array_equal(_centred_halves(a), want.reshape(2, h * shape[1], shape[2]))


def test_logit_spread_is_np_means_bit_for_bit():
    """The initial-loss sentence's logit spread with the rows' means as ``a.mean(axis=-1, keepdims=True)`` takes
    them (its sum and its division by the count, without its wrapper): the number of the mean's own call, bit for
    bit (float32 logits, odd class counts, positions)."""
    from mlplab.diagnose.pytorch.checks import _row_std_mean

    rng = np.random.default_rng(13)
    for shape, classes in (((256, 27), 27), ((8, 5, 11), 11), ((16, 3, 4), 12), ((7, 1), 1)):
        a = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
        r = a.reshape(-1, classes)
        d = r - r.mean(axis=-1, keepdims=True)
        with np.errstate(all="ignore"):
            want = float(np.sqrt(np.einsum("ij,ij->i", d, d) / (classes - 1)).mean())
        got = _row_std_mean(a, classes)
        assert got == want or (math.isnan(got) and math.isnan(want))
