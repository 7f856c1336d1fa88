"""Network modules: z_{i+1} = σ_i(z_i W_i + b_i), written as in the source texts.

``Linear`` keeps its weight as (in_features, out_features), so a batch of row vectors ``x``
(shape (batch, in)) maps to ``x @ W + b``; the bias row broadcasts over the batch. A weight may
carry leading "stack" axes: ``MLP(sizes, stack=K)`` builds K independent networks whose weights
are (K, in, out) and runs all K with one batched matmul per layer (the lab races optimizers and
sweeps initializations this way).
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from functools import partial

import numpy as np

from . import init as _init
from .activations import canonical_activation
from .tensor import Tensor, cross_entropy, linear

__all__ = [
    "Module", "Parameter", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Identity",
    "Sequential", "MLP", "CrossEntropyLoss", "MSELoss", "ACTIVATIONS", "get_activation",
]


def Parameter(data, dtype=None):
    """A leaf Tensor that requires grad (what a Module's parameters are)."""
    return Tensor(np.array(data, dtype=dtype), requires_grad=True)


class Module:
    """Base class. Parameters are the ``requires_grad`` Tensors found by walking attributes
    (and Modules, lists and tuples of them), in the order they were assigned."""

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def _children(self):
        for name, value in vars(self).items():
            if isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    yield f"{name}.{i}", v
            else:
                yield name, value

    def named_parameters(self, prefix=""):
        for name, value in self._children():
            if isinstance(value, Tensor) and value.requires_grad:
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def modules(self):
        yield self
        for _, value in self._children():
            if isinstance(value, Module):
                yield from value.modules()

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    # ----------------------------------------------------------------- state
    def state_dict(self):
        """An ordered dict name -> copy of the parameter's array."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state):
        """Copy arrays into the parameters in place; every key must match in name and shape."""
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        extra = sorted(set(state) - set(params))
        if missing or extra:
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {extra}")
        bad = [f"{k}: expected {params[k].shape}, got {np.shape(state[k])}"
               for k in params if np.shape(state[k]) != params[k].shape]
        if bad:
            raise ValueError("load_state_dict: shape mismatch: " + "; ".join(bad))
        for k, p in params.items():
            p.data[...] = np.asarray(state[k], dtype=p.dtype)

    def save(self, path):
        """Write the parameters to an ``.npz`` file (atomically: a temporary file, then renamed)."""
        from .runtime.fileio import atomic_write

        with atomic_write(path, "wb") as f:
            np.savez(f, allow_pickle=False, **self.state_dict())

    def load(self, path):
        """Read parameters written by :meth:`save`; never unpickles (an object array is refused)."""
        with np.load(path, allow_pickle=False) as f:
            self.load_state_dict({k: f[k] for k in f.files})
        return self


class _Activation(Module):
    fn = None

    def forward(self, x):
        return getattr(x, self.fn)()

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    fn = "relu"


class Sigmoid(_Activation):
    fn = "sigmoid"


class Tanh(_Activation):
    fn = "tanh"


class Identity(Module):
    def forward(self, x):
        return x

    def __repr__(self):
        return "Identity()"


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        return x.leaky_relu(self.negative_slope)

    def __repr__(self):
        return f"LeakyReLU({self.negative_slope})"


#: canonical name (see :mod:`mlplab.activations`) -> module class
ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid, "identity": Identity}


def get_activation(name):
    """An activation module from a name in any spelling (``"ReLU"``, ``"leaky-relu"``, ``"linear"``);
    a module passes through."""
    if isinstance(name, Module):
        return name
    return ACTIVATIONS[canonical_activation(name)]()


def _takes_fan_in(fn):
    """Bias initializers that scale with the weight's fan-in (PyTorch's default) take it as a keyword."""
    func = fn.func if isinstance(fn, partial) else fn
    bound = fn.keywords if isinstance(fn, partial) else {}
    try:
        return "fan_in" in inspect.signature(func).parameters and "fan_in" not in bound
    except (TypeError, ValueError):
        return False


class Linear(Module):
    """``y = x @ W + b`` with W of shape (in_features, out_features) (or (K, in, out)).

    Default initialization is PyTorch's ``nn.Linear`` default (weight U(±1/√in), bias
    U(±1/√in)); pass ``weight_init`` / ``bias_init`` (names or callables from
    :mod:`mlplab.init`) and an explicit ``rng`` (Generator or seed) for anything else.
    """

    def __init__(self, in_features, out_features, bias=True, weight_init="torch", bias_init=None,
                 rng=None, dtype=np.float32, stack=None, activation=None):
        if int(in_features) <= 0 or int(out_features) <= 0:
            raise ValueError(f"Linear: feature sizes must be positive, got ({in_features}, {out_features})")
        rng = _init.as_generator(rng)
        self.in_features, self.out_features = int(in_features), int(out_features)
        lead = () if stack is None else (int(stack),)
        wshape = lead + (self.in_features, self.out_features)
        winit = _init.get_initializer(weight_init, activation=activation)
        self.weight = Parameter(winit(wshape, rng, dtype=dtype))
        if bias:
            if bias_init is None:
                bias_init = "torch_bias" if weight_init == "torch" else "zeros"
            binit = _init.get_initializer(bias_init, activation=activation)
            bshape = lead + ((1,) if lead else ()) + (self.out_features,)
            extra = {"fan_in": self.in_features} if _takes_fan_in(binit) else {}
            self.bias = Parameter(binit(bshape, rng, dtype=dtype, **extra))
        else:
            self.bias = None

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class Sequential(Module):
    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        layers, i, n = self.layers, 0, len(self.layers)
        while i < n:
            layer = layers[i]
            # Linear then ReLU run as one fused node (same values and gradients, one array less)
            if type(layer) is Linear and i + 1 < n and type(layers[i + 1]) is ReLU:
                x = linear(x, layer.weight, layer.bias, activation="relu")
                i += 2
            else:
                x = layer(x)
                i += 1
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = "\n".join(f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}(\n{inner}\n)"


class MLP(Sequential):
    """A fully-connected network: Linear layers with ``activation`` between them, none after the
    last (it outputs logits; the loss applies softmax).

    ``MLP([784, 100, 100, 100, 100, 10], activation="relu")`` is the source book's network.
    ``weight_init`` defaults to the source book's choice, "book": std √(2/n) for ReLU and
    √(1/n) (Xavier as the texts write it) for sigmoid/tanh; biases start at zero.
    ``stack=K`` builds K independent networks evaluated together (weights (K, in, out)).
    """

    def __init__(self, sizes, activation="relu", weight_init="book", bias_init="zeros", bias=True,
                 rng=None, dtype=np.float32, stack=None, output_activation=None):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) <= 0:
            raise ValueError(f"MLP: sizes must list at least two positive layer widths, got {sizes}")
        rng = _init.as_generator(rng)
        self.sizes = sizes
        self.activation = canonical_activation(activation)  # "leaky_relu" for "LeakyReLU" or LeakyReLU(0.1)
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, bias=bias, weight_init=weight_init, bias_init=bias_init,
                                 rng=rng, dtype=dtype, stack=stack, activation=self.activation))
            last = i == len(sizes) - 2
            if not last:
                layers.append(get_activation(activation))
            elif output_activation is not None:
                layers.append(get_activation(output_activation))
        super().__init__(*layers)

    @property
    def linears(self):
        return [m for m in self.layers if isinstance(m, Linear)]


class CrossEntropyLoss(Module):
    """Softmax cross-entropy on logits and integer labels (fused, numerically stable)."""

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, logits, target):
        return cross_entropy(logits, target, self.reduction)


class MSELoss(Module):
    """Mean squared error ½-free: mean((pred - target)²), reduction 'mean' | 'sum' | 'none'."""

    def __init__(self, reduction="mean"):
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"MSELoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def forward(self, pred, target):
        if not isinstance(target, Tensor):
            target = Tensor(np.asarray(target, dtype=pred.dtype))
        if pred.shape != target.shape:
            raise ValueError(f"MSELoss: prediction shape {pred.shape} differs from target shape {target.shape}")
        d = pred - target
        sq = d * d
        return sq.mean() if self.reduction == "mean" else sq.sum() if self.reduction == "sum" else sq
