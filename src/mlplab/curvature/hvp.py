"""Hessian-vector products of a network's loss: the one function every curvature algorithm takes.

For parameters θ (all of a network's weights and biases, flattened in ``named_parameters`` order)
and the loss L(θ) = ℓ(f(X; θ), Y) over a data set, a Hessian-vector product is v ↦ H v with
H = ∇²L(θ). It costs a small multiple of one gradient and never forms H (n² numbers; 2·10⁵
parameters would need 320 GB), which is why every algorithm in :mod:`mlplab.curvature` takes only
this function ("matrix-free"; Pearlmutter 1994, *Fast Exact Multiplication by the Hessian*).

Two ways to compute it, the same numbers:

* :class:`NetworkCurvature` (fast, for ``Sequential``/``MLP`` networks of ``Linear`` layers and
  elementwise activations): forward-over-reverse, Pearlmutter's R-operator written out per layer.
  R{·} is the directional derivative along v = (dW_l, db_l). Forward: z_l = a_{l−1} W_l + b_l,
  a_l = σ(z_l); R{z_l} = R{a_{l−1}} W_l + a_{l−1} dW_l + db_l, R{a_l} = σ′(z_l) ⊙ R{z_l}.
  Backward: δ_L = ∂ℓ/∂f, g_{a_{l−1}} = δ_l W_lᵀ, δ_{l−1} = σ′ ⊙ g_a; the R of each line is
  the product rule:

      R{δ_L}       = ∇²_f ℓ · R{f}                           (the loss's own Hessian)
      R{∇_W L}     = R{a_{l−1}}ᵀ δ_l + a_{l−1}ᵀ R{δ_l}
      R{∇_b L}     = Σ_batch R{δ_l}
      R{g_{a}}     = R{δ_l} W_lᵀ + δ_l dW_lᵀ
      R{δ_{l−1}}   = σ′ ⊙ R{g_a} + σ″ ⊙ R{z_{l−1}} ⊙ g_a

  One HVP is one forward pass, its R, and one backward pass with its R: measured ≈ 2× a gradient
  (``benchmarks/curvature.py``). The parameter gradients ∇_W L themselves are not needed (only the
  δ's), so they are not computed unless asked for.

  ``kind="ggn"`` gives the generalized Gauss–Newton product G v = Jᵀ (∇²_f ℓ) J v instead (Schraudolph
  2002): the R-forward pass is J v, and the backward pass propagates only R{δ} (the terms with δ_l dW
  and σ″ vanish). G is positive semi-definite for cross-entropy and squared error.

* :class:`AutodiffHVP` (any mlplab Module and loss): reverse-over-reverse through :mod:`mlplab.tensor`:
  the gradient with ``create_graph=True``, then the gradient of ⟨∇L, v⟩. Slower (the graph is Tensor
  objects), but it shares no code with the above, so each is the other's test oracle.

The loss over a data set is the mean over its n examples. :class:`NetworkCurvature` runs it in
chunks of ``chunk_size`` examples, each scaled by its share 1/n (not 1/chunk), and sums the chunks
in float64: the product over the whole set, whatever the chunking, up to float64 rounding of the
sum (float32 networks compute each chunk in float32).

Losses (f the network's output for one example, y its one-hot target, C classes):

================= ==================================== ===========================================
name              ℓ over n examples                    ∇²_f ℓ per example
================= ==================================== ===========================================
``cross_entropy`` (1/n) Σ −log softmax(f)_y            (diag p − p pᵀ)/n,  p = softmax(f)
``mse``           (1/(nC)) Σ ‖f − y‖²  (``MSELoss``)   2 I/(nC)
``half_mse``      (1/(2n)) Σ ‖f − y‖²  (Cohen et al.)  I/n
================= ==================================== ===========================================
"""

from __future__ import annotations

import numpy as np

__all__ = ["NetworkCurvature", "AutodiffHVP", "LOSSES", "flatten", "unflatten", "param_blocks"]

LOSSES = ("cross_entropy", "mse", "half_mse")


def param_blocks(model) -> list[tuple[str, slice]]:
    """(name, slice of the flat vector) per parameter tensor, in ``named_parameters`` order."""
    out, start = [], 0
    for name, p in model.named_parameters():
        out.append((name, slice(start, start + p.size)))
        start += p.size
    return out


def flatten(arrays) -> np.ndarray:
    """Concatenate arrays into one float64 vector."""
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def unflatten(v, shapes, dtype) -> list[np.ndarray]:
    out, start = [], 0
    for s in shapes:
        size = int(np.prod(s))
        out.append(np.asarray(v[start:start + size], dtype=dtype).reshape(s))
        start += size
    return out


def _targets(y, n_out, loss, dtype):
    """Integer labels stay labels for cross-entropy; for squared errors they become one-hot rows."""
    y = np.asarray(y)
    if loss == "cross_entropy":
        if y.dtype.kind not in "iu":
            raise TypeError(f"cross_entropy: targets must be integer class indices, got {y.dtype}")
        return y
    if y.ndim == 1 and y.dtype.kind in "iu":
        onehot = np.zeros((len(y), n_out), dtype=dtype)
        onehot[np.arange(len(y)), y] = 1
        return onehot
    return y.astype(dtype, copy=False)


# ------------------------------------------------------------------------- the activations' σ′ and σ″
def _derivatives(name, slope, z, a):
    """σ′(z) and σ″(z) from the pre-activation z and the activation a = σ(z) (None for zero σ″)."""
    if name == "tanh":
        d1 = 1 - a * a
        return d1, -2 * a * d1
    if name == "sigmoid":
        d1 = a * (1 - a)
        return d1, d1 * (1 - 2 * a)
    if name == "relu":  # σ″ = 0 almost everywhere (the kink has measure zero)
        return (z > 0).astype(z.dtype), None
    if name == "leaky_relu":
        return np.where(z > 0, 1, slope).astype(z.dtype), None
    raise AssertionError(name)


def _layers(model):
    """The network as a list of ("linear", W, b) and ("act", name, slope) steps; ValueError if it is
    not a chain of Linear layers and elementwise activations."""
    from .. import nn

    layers = getattr(model, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__} is not a Sequential network; use AutodiffHVP for it")
    acts = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.LeakyReLU: "leaky_relu"}
    out = []
    for layer in layers:
        if type(layer) is nn.Linear:
            if layer.weight.ndim != 2:
                raise ValueError("a stacked network (MLP(..., stack=K)) holds K networks: take one of them")
            out.append(("linear", layer.weight, layer.bias))
        elif type(layer) in acts:
            out.append(("act", acts[type(layer)], getattr(layer, "negative_slope", None)))
        elif type(layer) is nn.Identity:
            continue
        else:
            raise ValueError(f"layer {type(layer).__name__} has no Hessian-vector rule here; use AutodiffHVP")
    if not out or out[0][0] != "linear":
        raise ValueError("the network must start with a Linear layer")
    return out


class NetworkCurvature:
    """H v (or G v) of ``loss`` over (X, y) for an mlplab ``Sequential``/``MLP``, by the R-operator.

    ``model`` is read, never changed: its parameters are the point θ at which H is taken (change them
    and the next product uses the new values). ``hvp(v)`` takes and returns float64 vectors of length
    ``n_params``; :meth:`operator` wraps it as a scipy ``LinearOperator``.
    """

    def __init__(self, model, X, y, loss="cross_entropy", kind="hessian", chunk_size=2000):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if kind not in ("hessian", "ggn"):
            raise ValueError(f"kind must be 'hessian' or 'ggn', got {kind!r}")
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive number of examples, got {chunk_size}")
        self.model, self.loss, self.kind, self.chunk_size = model, loss, kind, int(chunk_size)
        self.steps = _layers(model)
        self.params = model.parameters()
        self.dtype = self.params[0].dtype
        self.X = np.asarray(X, dtype=self.dtype)
        if self.X.ndim != 2 or len(self.X) == 0:
            raise ValueError(f"X must be a non-empty (examples, features) array, got shape {self.X.shape}")
        n_out = [s for s in self.steps if s[0] == "linear"][-1][1].shape[1]
        self.Y = _targets(y, n_out, loss, self.dtype)
        if len(self.Y) != len(self.X):
            raise ValueError(f"X has {len(self.X)} examples but y has {len(self.Y)}")
        self.n = len(self.X)
        self.blocks = param_blocks(model)
        self.n_params = sum(p.size for p in self.params)
        self.shapes = [p.shape for p in self.params]

    # ------------------------------------------------------------------ the loss's first and second derivative
    def _loss_grad(self, f, Y):
        """(ℓ summed over the chunk with the 1/n of the whole set, ∂ℓ/∂f, and p for cross-entropy)."""
        n = self.n
        if self.loss == "cross_entropy":
            z = f - f.max(axis=1, keepdims=True)
            e = np.exp(z)
            s = e.sum(axis=1, keepdims=True)
            p = e / s
            rows = np.arange(len(f))
            value = float((np.log(s[:, 0]) - z[rows, Y]).sum(dtype=np.float64)) / n
            g = p.copy()
            g[rows, Y] -= 1
            return value, g / self.dtype.type(n), p
        d = f - Y
        scale = 1.0 / (n * f.shape[1]) if self.loss == "mse" else 0.5 / n
        value = float((d * d).sum(dtype=np.float64)) * scale
        return value, d * self.dtype.type(2 * scale), None

    def _loss_hvp(self, p, r):
        """∇²_f ℓ · r for the chunk (the 1/n of the whole set included)."""
        n = self.n
        if self.loss == "cross_entropy":
            pr = p * r
            return (pr - p * pr.sum(axis=1, keepdims=True)) / self.dtype.type(n)
        scale = 2.0 / (n * r.shape[1]) if self.loss == "mse" else 1.0 / n
        return r * self.dtype.type(scale)

    # ------------------------------------------------------------------ one chunk
    def _act_backward_r(self, d1, d2, rz, g, rg):
        """R{δ} through an activation: σ′ ⊙ R{g} + σ″ ⊙ R{z} ⊙ g (the product rule's two terms)."""
        out = d1 * rg
        if d2 is not None and self.kind == "hessian":
            out += d2 * rz * g
        return out

    def _weight_r(self, x, rx, g, rg):
        """R{∇_W L} = R{a}ᵀ δ + aᵀ R{δ} (R{a} is None for the input layer: the data do not move)."""
        out = x.T @ rg
        if rx is not None and self.kind == "hessian":
            out += rx.T @ g
        return out

    def _chunk(self, X, Y, V, want_grad, want_hvp):
        forward = []  # per step, what its backward needs
        a, ra = X, None
        for step in self.steps:
            if step[0] == "linear":
                _, W, b = step
                if V is not None:
                    dW, db = V[W], (V[b] if b is not None else None)
                z = a @ W.data
                if b is not None:
                    z += b.data
                if V is not None:
                    rz = a @ dW if ra is None else ra @ W.data + a @ dW
                    if db is not None:
                        rz += db
                else:
                    rz = None
                forward.append((a, ra))
                a, ra = z, rz
            else:
                _, name, slope = step
                z = a
                a = np.tanh(z) if name == "tanh" else 1 / (1 + np.exp(-z)) if name == "sigmoid" else \
                    np.maximum(z, 0) if name == "relu" else np.where(z > 0, z, slope * z)
                d1, d2 = _derivatives(name, slope, z, a)
                forward.append((d1, d2, ra))
                ra = None if ra is None else d1 * ra
        value, g, p = self._loss_grad(a, Y)
        rg = self._loss_hvp(p, ra) if want_hvp else None
        grads, hv = {}, {}
        ggn = self.kind == "ggn"
        for i in range(len(self.steps) - 1, -1, -1):
            step, saved = self.steps[i], forward[i]
            first = i == 0
            if step[0] == "linear":
                _, W, b = step
                x, rx = saved
                if want_grad:
                    grads[W] = x.T @ g
                    if b is not None:
                        grads[b] = g.sum(axis=0)
                if want_hvp:
                    hv[W] = self._weight_r(x, rx, g, rg)
                    if b is not None:
                        hv[b] = rg.sum(axis=0)
                if not first:
                    new_g = g @ W.data.T
                    if want_hvp:
                        new_rg = rg @ W.data.T
                        if not ggn:
                            new_rg += g @ V[W].T
                        rg = new_rg
                    g = new_g
            else:
                d1, d2, rz = saved
                if want_hvp:
                    rg = self._act_backward_r(d1, d2, rz, g, rg)
                g = d1 * g
        return value, grads, hv

    def _run(self, v, want_grad, want_hvp):
        V = None
        if want_hvp:
            v = np.asarray(v, dtype=np.float64).ravel()
            if v.shape != (self.n_params,):
                raise ValueError(f"v has {v.size} entries; the network has {self.n_params} parameters")
            V = dict(zip(self.params, unflatten(v, self.shapes, self.dtype)))
        total, g_sum, h_sum = 0.0, None, None
        for start in range(0, self.n, self.chunk_size):
            sl = slice(start, start + self.chunk_size)
            value, grads, hv = self._chunk(self.X[sl], self.Y[sl], V, want_grad, want_hvp)
            total += value
            if want_grad:
                gflat = flatten(grads[p] for p in self.params)
                g_sum = gflat if g_sum is None else g_sum + gflat
            if want_hvp:
                hflat = flatten(hv[p] for p in self.params)
                h_sum = hflat if h_sum is None else h_sum + hflat
        return total, g_sum, h_sum

    # ------------------------------------------------------------------ public
    def hvp(self, v) -> np.ndarray:
        """H v (or G v for ``kind="ggn"``) over the whole data set, as a float64 vector."""
        return self._run(v, False, True)[2]

    def loss_and_grad(self):
        """(L, ∇L) over the whole data set; ∇L a float64 vector."""
        value, g, _ = self._run(None, True, False)
        return value, g

    def theta(self) -> np.ndarray:
        return flatten(p.data for p in self.params)

    def set_theta(self, theta) -> None:
        """Write a flat vector into the model's parameters (in place)."""
        for p, a in zip(self.params, unflatten(theta, self.shapes, self.dtype)):
            p.data[...] = a

    def operator(self):
        """The product as a scipy ``LinearOperator`` (symmetric, float64)."""
        return as_operator(self.hvp, self.n_params)


def as_operator(hvp, n):
    from scipy.sparse.linalg import LinearOperator

    return LinearOperator((n, n), matvec=hvp, rmatvec=hvp, dtype=np.float64)


class AutodiffHVP:
    """H v by reverse-over-reverse through :mod:`mlplab.tensor`, for any Module and a loss.

    ``loss_fn(output, target) -> scalar Tensor``; or one of :data:`LOSSES` by name. The gradient graph is
    built once (at the model's current parameters) and differentiated again for each v.
    """

    def __init__(self, model, X, y, loss="cross_entropy"):
        from ..tensor import Tensor, cross_entropy, enable_grad, grad

        self.params = model.parameters()
        dtype = self.params[0].dtype
        X = Tensor(np.asarray(X, dtype=dtype))
        with enable_grad():
            out = model(X)
            if callable(loss):
                value = loss(out, y)
            elif loss == "cross_entropy":
                value = cross_entropy(out, np.asarray(y))
            elif loss in ("mse", "half_mse"):
                Y = Tensor(_targets(y, out.shape[-1], loss, dtype))
                d = out - Y
                value = (d * d).mean() if loss == "mse" else (d * d).sum() * dtype.type(0.5 / out.shape[0])
            else:
                raise ValueError(f"loss must be one of {', '.join(LOSSES)} or a function, got {loss!r}")
            self.value = float(value.data)
            self.grads = grad(value, self.params, create_graph=True)
        self.shapes = [p.shape for p in self.params]
        self.dtype = dtype
        self.n_params = sum(p.size for p in self.params)
        self._grad = grad

    def gradient(self) -> np.ndarray:
        return flatten(g.data for g in self.grads)

    def hvp(self, v) -> np.ndarray:
        from ..tensor import Tensor, enable_grad

        vs = unflatten(np.asarray(v, dtype=np.float64), self.shapes, self.dtype)
        with enable_grad():
            dot = None
            for g, vi in zip(self.grads, vs):
                if not g.requires_grad:
                    continue
                term = (g * Tensor(vi)).sum()
                dot = term if dot is None else dot + term
            if dot is None:
                return np.zeros(self.n_params)
            parts = self._grad(dot, self.params)
        return flatten(p.data for p in parts)
