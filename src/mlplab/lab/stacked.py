"""Many networks of one shape trained side by side, as one ``mlplab.nn.MLP(stack=G)``: weights (G, n_in, n_out),
one batched ``np.matmul`` per layer for all G.

The trainability grid (depth × σ_w²) and the isometry race train dozens of networks that differ only in their
initial weights. One network of width 128 is a chain of small products (a 32 × 128 batch times 128 × 128
weights) where NumPy's per-call cost and Python's loop weigh; stacking the G networks of one depth turns G
products into one (G, B, n) @ (G, n, n) product: 20 SGD steps of 10 tanh networks of depth 20 took 1.7× less CPU
time stacked than one by one at width 128, 3.2× less at width 48 (batch 32, one BLAS thread, median of 3, load
average 19). Every member sees the same minibatches (common random numbers:
the cells of a grid differ only in their initialization), and its gradient is exactly that of its own mean
loss: the stack's loss is Σ_g mean_i ℓ(g, i) (G times the mean over all G·B rows), as in the sweep's stacked
trials (:func:`mlplab.sweep.trial.run_stacked`). Training is the library's: ``Tensor`` autodiff and
:class:`mlplab.optim.SGD`, θ ← θ − η ∇L.
"""

from __future__ import annotations

import numpy as np

from ..init import critical
from ..nn import MLP
from ..optim import SGD
from ..tensor import Tensor, cross_entropy, no_grad


def stacked_mlp(rng: np.random.Generator, sizes: list[int], sigma_w2, sigma_b2, activation: str = "tanh",
                weights: str = "gaussian", dtype=np.float32) -> MLP:
    """G = len(sigma_w2) networks (one per value) of layer ``sizes`` in one ``MLP(stack=G)``.

    ``weights="gaussian"``: every layer (the readout too, as Schoenholz et al. 2017) N(0, σ_w²/n_in);
    ``"orthogonal"``: σ_w·Q with Q Haar-orthogonal, scaled as :func:`mlplab.init.critical` does for a rectangular
    layer (the same variance); biases N(0, σ_b²). ``sigma_b2`` one value or one per network."""
    sw2 = np.atleast_1d(np.asarray(sigma_w2, dtype=float))
    sb2 = np.broadcast_to(np.asarray(sigma_b2, dtype=float), sw2.shape)
    G = len(sw2)
    net = MLP(sizes, activation=activation, weight_init="zeros", bias_init="zeros", stack=G, dtype=dtype)
    for lin, n_in, n_out in zip(net.linears, sizes[:-1], sizes[1:]):
        if weights == "gaussian":
            w = rng.standard_normal((G, n_in, n_out)) * np.sqrt(sw2 / n_in)[:, None, None]
        elif weights == "orthogonal":  # σ_w² = 1 for 'linear' at q* = 1: gain² = σ_w² max(n_in, n_out)/n_in
            w = np.stack([critical((n_in, n_out), rng, np.float64, activation="identity", bias_var=0.0,
                                   weights="orthogonal") * np.sqrt(s) for s in sw2])
        else:
            raise ValueError(f"stacked_mlp: weights must be gaussian or orthogonal, got {weights!r}")
        lin.weight.data[...] = w
        lin.bias.data[...] = rng.standard_normal((G, 1, n_out)) * np.sqrt(sb2)[:, None, None]
    return net


def accuracy(net: MLP, X: np.ndarray, y: np.ndarray, chunk: int = 1000) -> np.ndarray:
    """Fraction of (X, y) classified right by each member (G,); a member with non-finite logits scores 0 there."""
    right = None
    with no_grad(), np.errstate(invalid="ignore", over="ignore"):
        for i in range(0, len(X), chunk):
            z = net(Tensor(X[i:i + chunk])).data
            ok = (z.argmax(axis=-1) == y[i:i + chunk]) & np.isfinite(z).all(axis=-1)
            right = ok.sum(axis=1) if right is None else right + ok.sum(axis=1)
    return right / len(X)


def train(net: MLP, X, y, steps: int, batch: int, lr: float, rng: np.random.Generator, eval_at=(), eval_X=None,
          eval_y=None, log_every: int = 0):
    """``steps`` SGD steps of all members on minibatches drawn with replacement from (X, y) (the same for all).

    Returns ``(accuracy, losses)``: each member's accuracy on (eval_X, eval_y) after each step count of
    ``eval_at`` (shape (len(eval_at), G)) and, with ``log_every``, each member's mean batch loss over each
    ``log_every`` steps (shape (steps // log_every, G)). A member whose loss is not finite keeps training (its
    accuracy then reads as chance or 0): the grid records what the budget gives."""
    G = net.linears[0].weight.shape[0]
    eval_at = sorted({int(t) for t in eval_at})
    acc = np.full((len(eval_at), G), np.nan)
    opt = SGD(net.parameters(), lr=lr)
    losses, run = [], np.zeros(G)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(1, steps + 1):
            i = rng.integers(0, len(X), batch)
            z = net(Tensor(X[i]))  # (G, B, classes): the batch broadcasts over the stack
            loss = cross_entropy(z.reshape(G * batch, -1), np.tile(y[i], G), reduction="none")
            per = loss.data.reshape(G, batch).mean(axis=1)
            opt.zero_grad()
            (loss.sum() * (1.0 / batch)).backward()  # Σ_g mean_i ℓ: member g's gradient is its own mean's
            opt.step()
            if log_every:
                run += per
                if t % log_every == 0:
                    losses.append(run / log_every)
                    run = np.zeros(G)
            if t in eval_at:
                acc[eval_at.index(t)] = accuracy(net, eval_X, eval_y)
    return acc, np.array(losses)
