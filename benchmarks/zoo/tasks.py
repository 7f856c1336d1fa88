"""The zoo's tasks and its short training run: MNIST images (flat or 1×28×28, normalised as
pytorch/examples mnist/main.py does: (x − 0.1307) / 0.3081) and two synthetic-token tasks drawn from a seed:

* ``tokens-next``: 8 tokens uniform over 27; the label is the token 3 positions from the end (a copy at a
  fixed lag: every sequence model of the zoo can learn it, and a network that does not train stays at
  chance, 1/27);
* ``tokens-bag``: 20 tokens uniform over 200; the label is which residue class mod 4 occurs most often
  (first one on ties) — a linear function of the bag of words, so the EmbeddingBag classifier can learn it.

:func:`train` is the ground truth of the benchmark: ``steps`` minibatch steps (batch 64) with SGD with
momentum (lr 0.01, μ 0.9, as pytorch/examples' and the issue's "SGD + momentum") or Adam (lr 1e-3), then
the accuracy on 1000 held-out examples, of the trained model and of the model a user keeps: its ``state_dict``
loaded into a new instance built from another seed (what ``torch.save(model.state_dict())`` and a later
``load_state_dict`` give; tensors the model does not register are not in it, so the new instance has its own).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from .models import BLOCK, VOCAB

MEAN, STD = 0.1307, 0.3081
_MNIST: dict = {}


def _mnist(split):
    if split not in _MNIST:
        from mlplab import data

        X, y = data.load("mnist", split)
        _MNIST[split] = (((X - MEAN) / STD).astype(np.float32), y.astype(np.int64))
    return _MNIST[split]


def batch(task: str, n: int, seed: int, split: str = "train"):
    """(x, y) torch tensors: ``n`` examples of ``task`` drawn from ``seed``."""
    rng = np.random.default_rng([seed, 11, 0 if split == "train" else 1])
    if task.startswith("mnist"):
        X, y = _mnist(split)
        i = rng.choice(len(X), size=n, replace=False)
        x = torch.from_numpy(X[i])
        return (x if task == "mnist-flat" else x.reshape(n, 1, 28, 28)), torch.from_numpy(y[i])
    if task == "tokens-next":
        t = rng.integers(0, VOCAB, size=(n, BLOCK))
        return torch.from_numpy(t), torch.from_numpy(t[:, -3].copy())
    if task == "tokens-bag":
        t = rng.integers(0, 200, size=(n, 20))
        counts = np.stack([(t % 4 == c).sum(1) for c in range(4)], 1)
        return torch.from_numpy(t), torch.from_numpy(counts.argmax(1))
    raise ValueError(task)


def _loss(out, y):
    return torch.nn.functional.cross_entropy(out, y)


def accuracy(model, x, y) -> float:
    """The fraction of ``x`` that ``model`` (put in eval mode) classifies as ``y``; NaN on a non-finite output."""
    model.eval()
    with torch.no_grad():
        out = model(x)
    return float((out.argmax(1) == y).float().mean()) if torch.isfinite(out).all() else float("nan")


def kept(model, rebuild) -> torch.nn.Module:
    """The model as saved and loaded: ``rebuild()`` (a new instance of the architecture, from another seed) with
    ``model.state_dict()`` loaded (strict: the same keys)."""
    fresh = rebuild()
    fresh.load_state_dict(model.state_dict())
    return fresh


def train(model, task: str, optimizer: str, steps: int = 200, seed: int = 0, batch_size: int = 64,
          rebuild=None) -> dict:
    """Train ``model`` in place; the outcome: accuracy on 1000 held-out examples, losses, seconds; with
    ``rebuild`` (a function making a new instance of the architecture) also ``kept_accuracy``, the accuracy of
    :func:`kept` — what a user who saves the ``state_dict`` has."""
    torch.manual_seed(seed)
    opt = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=1e-3))
    xs, ys = batch(task, steps * batch_size, seed)
    xt, yt = batch(task, 1000, seed, "test")
    t0 = time.perf_counter()
    model.train()
    first = last = float("nan")
    diverged = False
    for s in range(steps):
        xb, yb = xs[s * batch_size:(s + 1) * batch_size], ys[s * batch_size:(s + 1) * batch_size]
        opt.zero_grad()
        loss = _loss(model(xb), yb)
        if not torch.isfinite(loss):
            diverged = True
            break
        loss.backward()
        opt.step()
        last = loss.item()
        first = last if s == 0 else first
    acc = accuracy(model, xt, yt)
    r = {"accuracy": None if diverged or math.isnan(acc) else acc, "loss_first": first, "loss_last": last,
         "diverged": diverged, "seconds": time.perf_counter() - t0, "steps": steps}
    if rebuild is not None:
        k = accuracy(kept(model, rebuild), xt, yt)
        r["kept_accuracy"] = None if diverged or math.isnan(k) else k
    return r
