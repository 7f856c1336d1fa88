"""The autodiff engine: every op against finite differences (float64) and against PyTorch."""

import numpy as np
import pytest
import torch
from gradcheck import GradientCheckError, check_grads, check_second_order

import mlplab.tensor as T
from mlplab import Tensor, grad, hessian, no_grad

RNG = np.random.default_rng(0)


def _pos(shape):
    return RNG.uniform(0.5, 2.0, shape)


def _arr(shape):
    return RNG.standard_normal(shape)


LABELS = np.array([0, 2, 1, 2, 0])

# name, mlplab function, torch function, inputs (float64 arrays)
OPS = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, [_arr((3, 4)), _arr((4,))]),
    ("add_bcast_col", lambda a, b: a + b, lambda a, b: a + b, [_arr((2, 3, 4)), _arr((3, 1))]),
    ("sub", lambda a, b: a - b, lambda a, b: a - b, [_arr((3, 4)), _arr((1, 4))]),
    ("mul", lambda a, b: a * b, lambda a, b: a * b, [_arr((3, 4)), _arr((3, 4))]),
    ("div", lambda a, b: a / b, lambda a, b: a / b, [_arr((3, 4)), _pos((4,))]),
    ("neg", lambda a: -a, lambda a: -a, [_arr((3, 4))]),
    ("pow", lambda a: a ** 3, lambda a: a ** 3, [_arr((3, 4))]),
    ("pow_frac", lambda a: a ** 0.5, lambda a: a ** 0.5, [_pos((3, 4))]),
    ("scalar_ops", lambda a: (2.0 - a) * 3.0 / 1.5 + 1.0, lambda a: (2.0 - a) * 3.0 / 1.5 + 1.0, [_arr((5,))]),
    ("rdiv", lambda a: 1.0 / a, lambda a: 1.0 / a, [_pos((5,))]),
    ("exp", T.exp, torch.exp, [_arr((3, 4))]),
    ("log", T.log, torch.log, [_pos((3, 4))]),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [_arr((5, 3)), _arr((3, 4))]),
    ("matmul_stack", lambda a, b: a @ b, lambda a, b: a @ b, [_arr((5, 3)), _arr((2, 3, 4))]),
    ("matmul_vec", lambda a, b: a @ b, lambda a, b: a @ b, [_arr((5, 3)), _arr((3,))]),
    ("vec_matmul", lambda a, b: a @ b, lambda a, b: a @ b, [_arr((3,)), _arr((3, 4))]),
    ("linear", lambda x, w, b: T.linear(x, w, b), lambda x, w, b: x @ w + b,
     [_arr((5, 3)), _arr((3, 4)), _arr((4,))]),
    ("linear_stack", lambda x, w, b: T.linear(x, w, b), lambda x, w, b: x @ w + b,
     [_arr((5, 3)), _arr((2, 3, 4)), _arr((2, 1, 4))]),
    ("linear_relu", lambda x, w, b: T.linear(x, w, b, activation="relu"),
     lambda x, w, b: torch.relu(x @ w + b), [_arr((5, 3)), _arr((3, 4)), _arr((4,))]),
    ("linear_relu_nobias", lambda x, w: T.linear(x, w, activation="relu"),
     lambda x, w: torch.relu(x @ w), [_arr((5, 3)), _arr((3, 4))]),
    ("linear_relu_stack", lambda x, w, b: T.linear(x, w, b, activation="relu"),
     lambda x, w, b: torch.relu(x @ w + b), [_arr((5, 3)), _arr((2, 3, 4)), _arr((2, 1, 4))]),
    ("sum_all", lambda a: a.sum(), lambda a: a.sum(), [_arr((3, 4))]),
    ("sum_axis", lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), [_arr((3, 4, 2))]),
    ("sum_keep", lambda a: a.sum(axis=(0, 2), keepdims=True), lambda a: a.sum(dim=(0, 2), keepdim=True),
     [_arr((3, 4, 2))]),
    ("mean", lambda a: a.mean(axis=0), lambda a: a.mean(dim=0), [_arr((3, 4))]),
    ("mean_all", lambda a: a.mean(), lambda a: a.mean(), [_arr((3, 4))]),
    ("max_axis", lambda a: a.max(axis=1), lambda a: a.amax(dim=1), [_arr((3, 4))]),
    ("max_all", lambda a: a.max(), lambda a: a.amax(), [_arr((3, 4))]),
    ("reshape", lambda a: a.reshape(6, 2) * np.arange(12.0).reshape(6, 2),
     lambda a: a.reshape(6, 2) * torch.arange(12.0, dtype=torch.float64).reshape(6, 2), [_arr((3, 4))]),
    ("transpose", lambda a: a.transpose(2, 0, 1) @ np.ones((3, 1)),
     lambda a: a.permute(2, 0, 1) @ torch.ones(3, 1, dtype=torch.float64), [_arr((4, 3, 2))]),
    ("T", lambda a: a.T @ a, lambda a: a.T @ a, [_arr((3, 4))]),
    ("getitem", lambda a: a[np.array([0, 2, 2]), 1:3], lambda a: a[[0, 2, 2], 1:3], [_arr((3, 4))]),
    ("relu", T.relu, torch.relu, [_arr((3, 4))]),
    ("leaky_relu", lambda a: T.leaky_relu(a, 0.1), lambda a: torch.nn.functional.leaky_relu(a, 0.1),
     [_arr((3, 4))]),
    ("sigmoid", T.sigmoid, torch.sigmoid, [_arr((3, 4)) * 3]),
    ("tanh", T.tanh, torch.tanh, [_arr((3, 4))]),
    ("where", lambda a, b: T.where(np.arange(12).reshape(3, 4) % 3 == 0, a, b),
     lambda a, b: torch.where(torch.arange(12).reshape(3, 4) % 3 == 0, a, b), [_arr((3, 4)), _arr((4,))]),
    ("maximum", T.maximum, torch.maximum, [_arr((3, 4)), _arr((3, 4))]),
    ("log_softmax", T.log_softmax, lambda a: torch.log_softmax(a, -1), [_arr((5, 3)) * 4]),
    ("softmax", T.softmax, lambda a: torch.softmax(a, -1), [_arr((5, 3))]),
    ("cross_entropy", lambda a: T.cross_entropy(a, LABELS),
     lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(LABELS)), [_arr((5, 3)) * 4]),
    ("cross_entropy_none", lambda a: T.cross_entropy(a, LABELS, "none"),
     lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(LABELS), reduction="none"),
     [_arr((5, 3))]),
    ("pow_tensor", lambda a, b: a ** b, lambda a, b: a ** b, [_pos((3, 4)), _arr((4,))]),
    ("rpow", lambda b: 2.5 ** b, lambda b: 2.5 ** b, [_arr((3, 4))]),
    ("logsumexp", lambda a: T.logsumexp(a, axis=-1), lambda a: torch.logsumexp(a, -1), [_arr((3, 4)) * 3]),
    ("logsumexp_all", lambda a: a.logsumexp(), lambda a: torch.logsumexp(a, (0, 1)), [_arr((3, 4))]),
    ("transpose_neg", lambda a: a.transpose(-1, 0, 1), lambda a: a.permute(-1, 0, 1), [_arr((2, 3, 4))]),
    ("sigmoid_tails", T.sigmoid, torch.sigmoid, [np.array([-50.0, -20.0, -3.0, 0.0, 3.0, 20.0, 50.0])]),
    ("linear_unbatched", lambda x, w, b: T.linear(x, w, b), lambda x, w, b: x @ w + b,
     [_arr((3,)), _arr((3, 4)), _arr((4,))]),
    ("swapaxes", lambda a: a.swapaxes(0, -1), lambda a: a.transpose(0, -1), [_arr((2, 3, 4))]),
    ("broadcast_to", lambda a: a.broadcast_to((2, 3, 4)), lambda a: a.expand(2, 3, 4), [_arr((3, 1))]),
    ("sum_neg_keep", lambda a: a.sum(axis=(-1, 0), keepdims=True), lambda a: a.sum(dim=(-1, 0), keepdim=True),
     [_arr((2, 3, 4))]),
    ("max_neg", lambda a: a.max(axis=-2), lambda a: a.amax(dim=-2), [_arr((2, 3, 4))]),
    ("astype_roundtrip", lambda a: a.astype(np.float64) * 2, lambda a: a.double() * 2, [_arr((3,))]),
]


def _weights(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("name,fn,tfn,inputs", OPS, ids=[o[0] for o in OPS])
def test_op_gradient_matches_finite_differences(name, fn, tfn, inputs):
    out = fn(*[Tensor(x) for x in inputs])
    w = _weights(out.shape)  # a random linear functional makes every output component count
    check_grads(lambda *ts: (fn(*ts) * w).sum(), inputs, rng=1)


@pytest.mark.parametrize("name,fn,tfn,inputs", OPS, ids=[o[0] for o in OPS])
def test_op_matches_torch(name, fn, tfn, inputs):
    ts = [Tensor(x.copy(), requires_grad=True) for x in inputs]
    out = fn(*ts)
    tt = [torch.tensor(x, requires_grad=True) for x in inputs]
    tout = tfn(*tt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = _weights(out.shape)
    (out * w).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for t, ref in zip(ts, tt):
        np.testing.assert_allclose(t.grad, ref.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,fn,tfn,inputs", OPS, ids=[o[0] for o in OPS])
def test_op_second_derivative_matches_finite_differences(name, fn, tfn, inputs):
    """Every VJP, run on Tensors, is itself differentiated correctly (the contract of
    docs/adding-an-op.md). The loss Σ w1·y + w2·y² of the op's output y makes every second
    derivative of the op count, and the cross terms of its first derivatives too."""
    out = fn(*[Tensor(x) for x in inputs])
    w1, w2 = _weights(out.shape, seed=2), _weights(out.shape, seed=3)

    def loss(*ts):
        y = fn(*ts)
        return (y * w1 + y * y * w2).sum()
    check_second_order(loss, inputs, rng=4)


def test_second_order_checker_rejects_a_vjp_that_is_only_right_in_first_order(monkeypatch):
    """tanh's VJP written with the output's *data* is right in first order but a constant in
    second order: the second-order check must fail while the first-order one passes."""
    def frozen_tanh(self):
        return T._make(np.tanh(self.data), (self,), lambda g, out, a: (g * (1 - T._data(out) ** 2),), "tanh")
    monkeypatch.setattr(Tensor, "tanh", frozen_tanh)
    f = lambda t: (t.tanh() * _weights((5,))).sum()
    assert check_grads(f, [_arr((5,))])
    with pytest.raises(GradientCheckError, match="second-order"):
        check_second_order(f, [_arr((5,))])


def test_checker_rejects_a_planted_wrong_gradient():
    x = _arr((4,))
    right = [2 * x]
    assert check_grads(lambda t: (t * t).sum(), [x], grads=right)
    wrong = [2 * x + np.array([0, 0, 1e-3, 0])]  # one component off by 1e-3
    with pytest.raises(GradientCheckError):
        check_grads(lambda t: (t * t).sum(), [x], grads=wrong, directions=8)


def test_checker_rejects_a_wrong_vjp(monkeypatch):
    """A primitive whose VJP is wrong (tanh with derivative 1 - out instead of 1 - out²) fails."""
    def bad_tanh(self):
        return T._make(np.tanh(self.data), (self,), lambda g, out, a: (g * (1 - out),), "tanh")
    monkeypatch.setattr(Tensor, "tanh", bad_tanh)
    with pytest.raises(GradientCheckError):
        check_grads(lambda t: t.tanh().sum(), [_arr((5,))])


def test_gradients_accumulate_and_zero():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3)


def test_reused_node_sums_contributions():
    x = Tensor(np.array([0.3, -1.2]), dtype=np.float64, requires_grad=True)
    y = x.tanh()
    (y * y + y).sum().backward()
    t = np.tanh(x.data)
    np.testing.assert_allclose(x.grad, (2 * t + 1) * (1 - t * t))


def test_no_grad_and_detach_cut_the_graph():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad
    z = (x * 2).detach()
    assert not z.requires_grad and z._parents == ()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_dtype_preserved_and_mixing_rejected():
    a = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    assert Tensor([1.0, 2.0]).dtype == np.float32
    out = (a * 2.5 + np.float64(1.0)) @ np.ones((3, 2), dtype=np.float32)
    out = T.cross_entropy(out.tanh().exp(), np.array([0, 1]))
    assert out.dtype == np.float32
    out.backward()
    assert a.grad.dtype == np.float32
    b = Tensor(np.ones((2, 3), dtype=np.float64))
    with pytest.raises(TypeError, match="mixed dtypes float32 .* and float64"):
        a + b
    with pytest.raises(TypeError, match="mixed dtypes"):
        a * np.ones(3, dtype=np.float64)


def test_clear_errors_for_bad_shapes_and_seeds():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        a + Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) do not align"):
        a @ Tensor(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\); pass a gradient"):
        (a * 2).backward()
    (a * 2).backward(np.ones((2, 3)))
    np.testing.assert_allclose(a.grad, 2.0)
    with pytest.raises(ValueError, match="does not match output"):
        (a * 2).backward(np.ones(3))
    with pytest.raises(ValueError, match="target classes"):
        T.cross_entropy(a, np.array([0, 3]))


def test_hessian_matches_analytic():
    # f(x, y) = x^2 y + sin-free polynomial + exp(x y): H computed by hand
    def f(v):
        x, y = v[0], v[1]
        return x * x * y + (x * y).exp() + y ** 3
    v0 = np.array([0.3, -0.7])
    H = hessian(f, Tensor(v0, requires_grad=True))
    x, y = v0
    e = np.exp(x * y)
    expected = np.array([[2 * y + y * y * e, 2 * x + e + x * y * e],
                         [2 * x + e + x * y * e, x * x * e + 6 * y]])
    np.testing.assert_allclose(H, expected, rtol=1e-12)


def test_hessian_of_quadratic_and_network_loss():
    P = np.array([[3.0, 1.0], [1.0, 2.0]])
    q = np.array([1.0, -1.0])
    H = hessian(lambda t: 0.5 * (t @ (Tensor(P) @ t)) + (t * q).sum(), Tensor(np.zeros(2), requires_grad=True))
    np.testing.assert_allclose(H, P, atol=1e-14)
    # a small tanh network with softmax cross-entropy: compare with torch.autograd.functional.hessian
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 3)), np.array([0, 1, 2, 1, 0, 2])
    W1, W2 = rng.standard_normal((3, 4)), rng.standard_normal((4, 3))

    def loss(w1, w2):
        return T.cross_entropy((Tensor(X) @ w1).tanh() @ w2, y)

    ours = hessian(loss, [Tensor(W1, requires_grad=True), Tensor(W2, requires_grad=True)])

    def tloss(flat):
        w1, w2 = flat[:12].reshape(3, 4), flat[12:].reshape(4, 3)
        return torch.nn.functional.cross_entropy(torch.tanh(torch.tensor(X) @ w1) @ w2, torch.tensor(y))

    ref = torch.autograd.functional.hessian(tloss, torch.tensor(np.concatenate([W1.ravel(), W2.ravel()])))
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-9, atol=1e-12)


def test_create_graph_gradient_is_differentiable():
    x = Tensor(np.array([0.5, -1.5]), requires_grad=True)
    (g,) = grad((x.sigmoid() * x).sum(), [x], create_graph=True)
    (gg,) = grad(g.sum(), [x])
    s = 1 / (1 + np.exp(-x.data))
    ds = s * (1 - s)
    d2 = ds * (1 - 2 * s)
    np.testing.assert_allclose(gg.data, 2 * ds + x.data * d2, rtol=1e-12)
    assert x.grad is None  # grad() leaves .grad alone


def test_deep_chain_does_not_recurse():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad[0] == 1.0


def test_fused_linear_relu_second_derivatives_match_the_unfused_graph():
    """grad(create_graph=True) through the fused node equals the same through linear + relu."""
    x, w, b = _arr((6, 3)), _arr((3, 4)), _arr((4,))
    v = _weights((3, 4), seed=5)

    def hvp(fused):
        W = Tensor(w.copy(), requires_grad=True)
        h = T.linear(Tensor(x), W, Tensor(b), activation="relu") if fused else T.relu(T.linear(Tensor(x), W, Tensor(b)))
        loss = (h * h).sum()  # a curved loss, so the Hessian is not zero
        (g,) = grad(loss, [W], create_graph=True)
        (g * v).sum().backward()
        return g.data, W.grad

    (g1, h1), (g0, h0) = hvp(True), hvp(False)
    np.testing.assert_allclose(g1, g0, rtol=1e-12)
    np.testing.assert_allclose(h1, h0, rtol=1e-12)
    assert np.abs(h1).max() > 0


def test_linear_rejects_an_unknown_fused_activation():
    with pytest.raises(ValueError, match="activation must be None or 'relu'"):
        T.linear(Tensor(_arr((2, 3))), Tensor(_arr((3, 4))), activation="tanh")


def test_cross_entropy_mean_of_no_examples_is_nan_like_torch():
    logits = Tensor(np.zeros((0, 3)), requires_grad=True)
    loss = T.cross_entropy(logits, np.zeros(0, dtype=np.int64))
    ref = torch.nn.functional.cross_entropy(torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, dtype=torch.long))
    assert np.isnan(loss.item()) and torch.isnan(ref)
    with pytest.raises(ValueError, match="reduction must be"):
        T.cross_entropy(logits, np.zeros(0, dtype=np.int64), reduction="avg")


# ------------------------------------------------------------------------------ edge cases others' suites catch
def _torch_pair(fn, tfn, inputs, w_seed=1):
    """Value and gradients of fn and of torch's tfn at the same float64 inputs, under a random
    linear functional of the output."""
    ts = [Tensor(x.copy(), requires_grad=True) for x in inputs]
    tt = [torch.tensor(x, requires_grad=True) for x in inputs]
    out, tout = fn(*ts), tfn(*tt)
    w = _weights(out.shape, w_seed)
    (out * w).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    return (out.data, [t.grad for t in ts]), (tout.detach().numpy(), [t.grad.numpy() for t in tt])


def _assert_same(ours, theirs, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(ours[0], theirs[0], rtol=rtol, atol=atol)
    for g, ref in zip(ours[1], theirs[1]):
        assert g.shape == ref.shape
        np.testing.assert_allclose(g, ref, rtol=rtol, atol=atol)


NEGATIVE_AXES = [
    ("transpose_neg_cube", lambda a: a.transpose(-1, 0, 1), lambda a: a.permute(-1, 0, 1), (3, 3, 3)),
    ("transpose_neg", lambda a: a.transpose((-1, 0, 1)), lambda a: a.permute(-1, 0, 1), (2, 3, 4)),
    ("transpose_neg2", lambda a: a.transpose(1, -1, -3), lambda a: a.permute(1, -1, -3), (2, 3, 4)),
    ("sum_neg", lambda a: a.sum(axis=-1), lambda a: a.sum(dim=-1), (2, 3, 4)),
    ("sum_neg_tuple_keep", lambda a: a.sum(axis=(-1, 0), keepdims=True),
     lambda a: a.sum(dim=(-1, 0), keepdim=True), (2, 3, 4)),
    ("mean_neg", lambda a: a.mean(axis=-2), lambda a: a.mean(dim=-2), (2, 3, 4)),
    ("mean_neg_tuple", lambda a: a.mean(axis=(-3, -1)), lambda a: a.mean(dim=(-3, -1)), (2, 3, 4)),
    ("max_neg", lambda a: a.max(axis=-1), lambda a: a.amax(dim=-1), (2, 3, 4)),
    ("max_neg_tuple_keep", lambda a: a.max(axis=(0, -1), keepdims=True),
     lambda a: a.amax(dim=(0, -1), keepdim=True), (2, 3, 4)),
    ("swapaxes_neg", lambda a: a.swapaxes(-1, 0), lambda a: a.transpose(-1, 0), (2, 3, 4)),
    ("softmax_neg", lambda a: T.softmax(a, axis=-2), lambda a: torch.softmax(a, -2), (2, 3, 4)),
    ("log_softmax_0", lambda a: T.log_softmax(a, axis=0), lambda a: torch.log_softmax(a, 0), (2, 3, 4)),
    ("getitem_neg", lambda a: a[-1, ..., -2:], lambda a: a[-1, ..., -2:], (2, 3, 4)),
]


@pytest.mark.parametrize("fn, tfn, shape", [pytest.param(*r[1:], id=r[0]) for r in NEGATIVE_AXES])
def test_negative_axes_match_torch(fn, tfn, shape):
    _assert_same(*_torch_pair(fn, tfn, [_arr(shape)]))


def test_transpose_rejects_a_non_permutation():
    a = Tensor(_arr((2, 3, 4)))
    with pytest.raises(ValueError, match="permutation"):
        a.transpose(0, 1)
    with pytest.raises(ValueError, match="repeated axis"):
        a.transpose(0, -3, 1)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_accepts_an_unbatched_input_like_torch(bias):
    from mlplab import nn
    layer = nn.Linear(3, 4, bias=bias, rng=0, dtype=np.float64)
    x = Tensor(_arr((3,)), requires_grad=True)
    out = layer(x)
    assert out.shape == (4,)
    tl = torch.nn.Linear(3, 4, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(layer.weight.data.T))
        if bias:
            tl.bias.copy_(torch.tensor(layer.bias.data))
    tx = torch.tensor(x.data, requires_grad=True)
    w = _weights((4,))
    (out * w).sum().backward()
    (tl(tx) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, tl.weight.grad.numpy().T, rtol=1e-12)
    # the fused Linear + ReLU node and a stack of networks take it too
    check_grads(lambda x, w, b: (T.linear(x, w, b, activation="relu") * _weights((4,))).sum(),
                [_arr((3,)), _arr((3, 4)), _arr((4,))])
    check_grads(lambda x, w, b: (T.linear(x, w, b) * _weights((2, 4))).sum(),
                [_arr((3,)), _arr((2, 3, 4)), _arr((2, 1, 4))])


@pytest.mark.parametrize("p", [0, 1, 2, 0.5, -1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_at_zero_matches_torch(p, dtype):
    x = np.array([0.0, 0.0, 1.5, 2.0], dtype=dtype)
    a = Tensor(x, requires_grad=True)
    with np.errstate(divide="ignore"):  # 0 ** -1 = inf, and the gradient of 0 ** 0.5 is inf: as torch
        (a ** p).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    (t ** p).sum().backward()
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose((a ** p).data, (t ** p).detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-6)  # inf and nan must agree too


def test_mean_over_an_empty_axis_is_nan_like_numpy_and_torch():
    a = Tensor(np.zeros((0, 3)), requires_grad=True)
    m = a.mean(axis=0)
    assert m.shape == (3,) and np.isnan(m.data).all()
    assert np.isnan(a.mean().item())
    assert torch.zeros(0, 3).mean(0).isnan().all()
    m.sum().backward()
    assert a.grad.shape == (0, 3)
    assert a.mean(axis=1).shape == (0,)  # reducing the non-empty axis of an empty array: nothing to average


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_keeps_relative_accuracy_on_both_tails(dtype):
    far = -700.0 if dtype == np.float64 else -80.0  # σ there is still a normal number of the dtype
    x = np.array([far, -40.0, -20.0, -5.0, 0.0, 5.0, 20.0, 40.0, -far], dtype=dtype)
    a = Tensor(x, requires_grad=True)
    s = a.sigmoid()
    s.sum().backward()
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    exact_grad = np.exp(-np.abs(x.astype(np.float64))) / (1 + np.exp(-np.abs(x.astype(np.float64)))) ** 2
    tiny = np.finfo(dtype).tiny
    keep = exact > tiny
    np.testing.assert_allclose(s.data[keep], exact[keep], rtol=4 * np.finfo(dtype).eps)
    keep = exact_grad > tiny
    np.testing.assert_allclose(a.grad[keep], exact_grad[keep], rtol=8 * np.finfo(dtype).eps)
    assert np.isfinite(T.log(Tensor(np.array([-40.0, -20.0], dtype=dtype)).sigmoid()).data).all()


def test_scalar_and_tensor_powers_match_torch():
    a, b = np.abs(_arr((3, 4))) + 0.1, _arr((4,))
    _assert_same(*_torch_pair(lambda x, y: x ** y, lambda x, y: x ** y, [a, b]))
    _assert_same(*_torch_pair(lambda y: 2.5 ** y, lambda y: 2.5 ** y, [b]))
    _assert_same(*_torch_pair(lambda x: x ** np.array([1.0, 2.0, 0.5, 3.0]),
                              lambda x: x ** torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64), [a]))
    # exact zeros: the base's gradient is 0 where the exponent is 0, the exponent's where the base is 0
    z = np.array([0.0, 0.0, 0.0, 2.0])
    e = np.array([0.0, 1.0, 2.5, 0.0])
    _assert_same(*_torch_pair(lambda x, y: x ** y, lambda x, y: x ** y, [z, e]))
    _assert_same(*_torch_pair(lambda y: 0.0 ** y, lambda y: 0.0 ** y, [e]))
    check_grads(lambda x, y: (x ** y).sum(), [a, b])


@pytest.mark.parametrize("axis, keepdims", [(None, False), (-1, False), (0, True), ((0, -1), False)])
def test_logsumexp_matches_torch_and_is_stable(axis, keepdims):
    dims = tuple(range(3)) if axis is None else axis
    _assert_same(*_torch_pair(lambda a: T.logsumexp(a, axis=axis, keepdims=keepdims),
                              lambda a: torch.logsumexp(a, dim=dims, keepdim=keepdims), [_arr((2, 3, 4)) * 5]))
    check_grads(lambda a: (T.logsumexp(a, axis=axis, keepdims=keepdims) ** 2).sum(), [_arr((2, 3, 4))])
    big = Tensor(np.array([1e10, 1e10 - 1.0, -1e10]), requires_grad=True)
    out = big.logsumexp()
    out.backward()
    assert out.item() == pytest.approx(1e10 + np.log1p(np.exp(-1.0)), rel=1e-15)
    np.testing.assert_allclose(big.grad, [1 / (1 + np.exp(-1)), 1 / (1 + np.e), 0.0], rtol=1e-7)
