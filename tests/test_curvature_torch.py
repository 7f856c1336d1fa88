"""The curvature of a PyTorch model: torch's own products (double backward and torch.func) against
mlplab's on the same weights and data, and the model left exactly as it was."""

import numpy as np
import pytest

from mlplab import nn
from mlplab.curvature import NetworkCurvature, dense_matrix, hutchinson_trace, top_eigen

torch = pytest.importorskip("torch")
from mlplab.curvature.torch_hvp import TorchCurvature  # noqa: E402


def _pair(sizes=(10, 12, 10, 4), act="tanh", seed=0):
    """The same network in mlplab and in torch (torch's Linear stores Wᵀ)."""
    ours = nn.MLP(list(sizes), activation=act, weight_init="torch", bias_init="torch_bias", rng=seed, dtype=np.float64)
    acts = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}
    layers = []
    for i, lin in enumerate(ours.linears):
        t = torch.nn.Linear(lin.in_features, lin.out_features).double()
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.weight.data.T.copy()))
            t.bias.copy_(torch.from_numpy(lin.bias.data.copy()))
        layers.append(t)
        if i < len(ours.linears) - 1:
            layers.append(acts[act]())
    return ours, torch.nn.Sequential(*layers)


def _data(n=60, d=10, c=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


def _torch_order(ours, mine):
    """torch orders (weight (out, in), bias); mlplab (weight (in, out), bias): torch's flat index i is
    mlplab's perm[i]."""
    blocks = dict(mine.blocks)
    perm = []
    weights = iter(ours.linears)
    for name, sl in mine.blocks:
        if name.endswith("weight"):
            n_in, n_out = next(weights).weight.shape
            perm.append(np.arange(sl.start, sl.stop).reshape(n_in, n_out).T.ravel())
            bias = blocks[name[:-len("weight")] + "bias"]
            perm.append(np.arange(bias.start, bias.stop))
    return np.concatenate(perm)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "half_mse"])
@pytest.mark.parametrize("method", ["double_backward", "func"])
def test_torch_products_equal_mlplabs(loss, method):
    ours, theirs = _pair()
    X, y = _data()
    mine = NetworkCurvature(ours, X, y, loss=loss)
    tc = TorchCurvature(theirs, X, y, loss=loss, chunk_size=25, method=method)
    perm = _torch_order(ours, mine)
    rng = np.random.default_rng(2)
    for _ in range(3):
        v = rng.standard_normal(mine.n_params)
        np.testing.assert_allclose(tc.hvp(v[perm]), mine.hvp(v)[perm], rtol=1e-10, atol=1e-12)
    value, g = tc.loss_and_grad()
    value_m, g_m = mine.loss_and_grad()
    assert value == pytest.approx(value_m, rel=1e-12)
    np.testing.assert_allclose(g, g_m[perm], atol=1e-13)


def test_top5_and_trace_agree_with_torch():
    ours, theirs = _pair()
    X, y = _data()
    mine = NetworkCurvature(ours, X, y)
    tc = TorchCurvature(theirs, X, y)
    top_m, _ = top_eigen(mine.hvp, mine.n_params, k=5, rng=0)
    top_t, _ = top_eigen(tc.hvp, tc.n_params, k=5, rng=1)
    np.testing.assert_allclose(top_m, top_t, rtol=1e-4)
    w = np.linalg.eigvalsh(dense_matrix(mine.hvp, mine.n_params))  # equal to torch's product (the test above)
    np.testing.assert_allclose(top_t, w[::-1][:5], rtol=1e-8)
    # the trace: Hutchinson with the same probes through both products, and each against the exact trace
    tr_m = hutchinson_trace(mine.hvp, mine.n_params, samples=30, rng=0)
    perm = _torch_order(ours, mine)
    inverse = np.argsort(perm)
    tr_t = hutchinson_trace(lambda z: tc.hvp(z[perm])[inverse], tc.n_params, samples=30, rng=0)  # the same probes
    assert tr_t.value == pytest.approx(tr_m.value, rel=1e-4)
    assert abs(tr_m.value - w.sum()) <= 4 * tr_m.stderr


class _WithBatchNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(10, 8)
        self.bn = torch.nn.BatchNorm1d(8)
        self.frozen = torch.nn.Linear(8, 8)
        self.frozen.requires_grad_(False)
        self.b = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.b(torch.tanh(self.frozen(self.bn(self.a(x)))))


def test_the_model_is_left_untouched():
    torch.manual_seed(0)
    model = _WithBatchNorm().train()  # training mode: BatchNorm would update its running statistics
    X, y = _data()
    model.a.weight.grad = torch.ones_like(model.a.weight)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {k: (p.requires_grad, p.dtype) for k, p in model.named_parameters()}
    grads = {k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()}
    tc = TorchCurvature(model, X.astype(np.float32), y, dtype=torch.float64)
    top, _ = top_eigen(tc.hvp, tc.n_params, k=2, rng=0)
    tc.loss_and_grad()
    assert tc.n_params == sum(p.numel() for p in model.parameters() if p.requires_grad)  # the frozen layer is not
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert {k: (p.requires_grad, p.dtype) for k, p in model.named_parameters()} == flags
    for k, p in model.named_parameters():
        assert (p.grad is None and grads[k] is None) or torch.equal(p.grad, grads[k])
    assert model.training
    # and the products are those of the model in its mode, at float64 (a symmetric matrix, finite)
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((2, tc.n_params))
    assert u @ tc.hvp(v) == pytest.approx(v @ tc.hvp(u), rel=1e-10)  # symmetric
