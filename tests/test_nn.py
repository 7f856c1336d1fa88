"""Network modules: parameters, state dicts, whole-network gradients and torch parity."""

import numpy as np
import pytest
import torch
from gradcheck import check_grads

from mlplab import Tensor, nn
from mlplab.tensor import cross_entropy


def test_linear_layout_and_forward():
    lin = nn.Linear(3, 2, weight_init="std=1", bias_init="ones", rng=0)
    assert lin.weight.shape == (3, 2) and lin.bias.shape == (2,)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(lin(Tensor(x)).data, x @ lin.weight.data + 1, rtol=1e-6)
    assert nn.Linear(3, 2, bias=False, rng=0).bias is None


def test_parameters_found_by_walking_attributes():
    net = nn.MLP([4, 8, 8, 3], activation="tanh", rng=0)
    names = [n for n, _ in net.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
                     "layers.4.weight", "layers.4.bias"]
    assert net.num_parameters() == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3
    assert [type(m).__name__ for m in net.layers] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]


def test_same_seed_same_weights_bit_for_bit():
    a = nn.MLP([784, 100, 100, 10], rng=7).state_dict()
    b = nn.MLP([784, 100, 100, 10], rng=np.random.default_rng(7)).state_dict()
    c = nn.MLP([784, 100, 100, 10], rng=8).state_dict()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes()
    assert not np.array_equal(a["layers.0.weight"], c["layers.0.weight"])


def test_default_init_is_the_books_scheme():
    relu = nn.MLP([1000, 500, 10], activation="relu", rng=0).layers[0].weight.data
    sig = nn.MLP([1000, 500, 10], activation="sigmoid", rng=0).layers[0].weight.data
    assert relu.std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    assert sig.std() == pytest.approx(np.sqrt(1 / 1000), rel=0.02)
    assert np.all(nn.MLP([10, 5, 2], rng=0).layers[0].bias.data == 0)


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_whole_network_gradient_check(act):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    net = nn.MLP([5, 7, 6, 3], activation=act, rng=1, dtype=np.float64)
    params = net.parameters()

    def f(*ws):  # run the network with the checker's tensors as its parameters
        for m, w, b in zip(net.linears, ws[::2], ws[1::2]):
            m.weight, m.bias = w, b
        return cross_entropy(net(Tensor(X)), y)

    check_grads(f, [p.data.copy() for p in params], rng=2)


def _torch_mlp(net):
    layers = []
    for m in net.layers:
        if isinstance(m, nn.Linear):
            lin = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(m.weight.data.T))  # torch stores (out, in)
                lin.bias.copy_(torch.tensor(m.bias.data))
            layers.append(lin)
        else:
            acts = {"ReLU": torch.nn.ReLU, "Tanh": torch.nn.Tanh, "Sigmoid": torch.nn.Sigmoid}
            layers.append(acts[type(m).__name__]())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_four_layer_mlp_matches_torch_float64(act):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((32, 20)), rng.integers(0, 10, 32)
    net = nn.MLP([20, 30, 30, 30, 10], activation=act, weight_init="xavier", bias_init="normal(0, 0.1)",
                 rng=3, dtype=np.float64)
    tnet = _torch_mlp(net)
    loss = cross_entropy(net(Tensor(X)), y)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(tnet(torch.tensor(X)), torch.tensor(y))
    tloss.backward()
    assert abs(loss.item() - tloss.item()) < 1e-10
    tlin = [m for m in tnet if isinstance(m, torch.nn.Linear)]
    for m, t in zip(net.linears, tlin):
        np.testing.assert_allclose(m.weight.grad, t.weight.grad.numpy().T, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(m.bias.grad, t.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_stacked_networks_equal_separate_ones():
    K, rng = 3, np.random.default_rng(0)
    X, y = rng.standard_normal((8, 4)).astype(np.float32), rng.integers(0, 2, 8)
    stack = nn.MLP([4, 6, 2], stack=K, rng=0)
    assert stack.layers[0].weight.shape == (K, 4, 6) and stack.layers[0].bias.shape == (K, 1, 6)
    logits = stack(Tensor(X))
    assert logits.shape == (K, 8, 2)
    cross_entropy(logits, y, reduction="none").mean(axis=-1).sum().backward()
    for k in range(K):
        single = nn.MLP([4, 6, 2], rng=0)
        single.load_state_dict({n: p.data[k].reshape(sp.shape) for (n, p), sp in
                                zip(stack.named_parameters(), single.parameters())})
        out = single(Tensor(X))
        np.testing.assert_allclose(out.data, logits.data[k], rtol=1e-5, atol=1e-6)
        cross_entropy(out, y).backward()
        np.testing.assert_allclose(single.layers[0].weight.grad, stack.layers[0].weight.grad[k], rtol=1e-4, atol=1e-6)


def test_state_dict_round_trip_and_file(tmp_path):
    net = nn.MLP([5, 4, 3], rng=0)
    path = tmp_path / "m.npz"
    net.save(path)
    other = nn.MLP([5, 4, 3], rng=1).load(path)
    for a, b in zip(net.parameters(), other.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_errors_name_the_keys():
    net = nn.MLP([5, 4, 3], rng=0)
    sd = net.state_dict()
    missing = dict(sd)
    del missing["layers.0.bias"]
    with pytest.raises(KeyError, match=r"missing keys \['layers.0.bias'\]"):
        net.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        net.load_state_dict({**sd, "extra": np.zeros(1)})
    bad = {**sd, "layers.2.weight": np.zeros((3, 4))}
    with pytest.raises(ValueError, match=r"layers.2.weight: expected \(4, 3\), got \(3, 4\)"):
        net.load_state_dict(bad)


def test_bad_configurations_are_clear():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.MLP([4, 3, 2], activation="swish")
    with pytest.raises(ValueError, match="at least two positive"):
        nn.MLP([4])
    with pytest.raises(ValueError, match="unknown initializer"):
        nn.MLP([4, 3, 2], weight_init="nonsense")
    net = nn.MLP([4, 3, 2], rng=0)
    with pytest.raises(ValueError, match=r"input of shape \(2, 5\) has 5 features, but the weight \(4, 3\) expects 4"):
        net(Tensor(np.ones((2, 5), dtype=np.float32)))


def test_mse_loss():
    pred = Tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    loss = nn.MSELoss()(pred, np.array([[0.0, 0.0]]))
    assert loss.item() == pytest.approx(2.5)
    loss.backward()
    np.testing.assert_allclose(pred.grad, [[1.0, 2.0]])


def test_sequential_fuses_linear_relu_without_changing_results():
    """Sequential runs Linear + ReLU as one fused node; values and gradients are bit-identical
    to running the two modules one after the other (and a Linear followed by anything else is
    not fused)."""
    rng = np.random.default_rng(3)
    X = rng.random((16, 8), dtype=np.float32)
    y = rng.integers(0, 3, 16)
    net = nn.MLP([8, 6, 5, 3], activation="relu", weight_init="he", rng=0)
    loss = cross_entropy(net(X), y)
    ops = _op_chain(loss)
    assert ops.count("linear_relu") == 2 and "relu" not in ops
    loss.backward()
    fused = [p.grad.copy() for p in net.parameters()]
    net.zero_grad()
    h = Tensor(X)
    for layer in net.layers:  # one module at a time: unfused
        h = layer(h)
    unfused = cross_entropy(h, y)
    unfused.backward()
    assert unfused.item() == loss.item()
    for a, b in zip(fused, net.parameters()):
        np.testing.assert_array_equal(a, b.grad)
    tanh_net = nn.MLP([8, 6, 3], activation="tanh", rng=0)
    ops = _op_chain(cross_entropy(tanh_net(X), y))
    assert ops.count("linear") == 2 and ops.count("tanh") == 1 and "linear_relu" not in ops


def _op_chain(node):
    """The ops met walking the first-parent chain from ``node`` back to the input."""
    ops = []
    while node._parents:
        ops.append(node._op)
        node = node._parents[0]
    return ops
