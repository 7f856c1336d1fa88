# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A tour of mlplab: a network by hand, then the same with the Trainer
#
# Source: *Deep Learning Systems: Algorithms and Implementation* (CMU 10-414/714), lecture 6,
# "Fully connected networks, optimization, initialization", and *Deep Learning from Scratch* ch. 6.
#
# A fully-connected network computes, layer after layer,
#
# $$z_{i+1} = \sigma(z_i W_i + b_i), \qquad \ell = -\frac{1}{B}\sum_{n} \log \operatorname{softmax}(z_L)_{n, y_n},$$
#
# and plain gradient descent updates every parameter by $\theta \leftarrow \theta - \eta\, \nabla_\theta \ell$.
# First we write this loop by hand with `mlplab.Tensor` (autodiff on NumPy), then hand the same
# network to `mlplab.train.Trainer`, and check that both take exactly the same steps.

# %% tags=["parameters"]
steps = 60  # full-batch gradient steps (quick)
lr = 0.5
hidden = 16
seed = 0

# %%
import numpy as np

from mlplab import Tensor
from mlplab.nn import MLP
from mlplab.optim import SGD
from mlplab.tensor import cross_entropy
from mlplab.toydata import load_toy
from mlplab.train import Trainer, evaluate

X, y = load_toy("spirals", "train", seed=seed, n_train=300)
print(X.shape, y.shape, np.bincount(y))

# %% [markdown]
# ## By hand: two weight matrices, the forward pass, `backward()`, the update

# %%
rng = np.random.default_rng(seed)
W1 = Tensor(rng.normal(0, np.sqrt(2 / 2), (2, hidden)), requires_grad=True)  # He: var 2/fan_in
b1 = Tensor(np.zeros(hidden), requires_grad=True)
W2 = Tensor(rng.normal(0, np.sqrt(1 / hidden), (hidden, 3)), requires_grad=True)
b2 = Tensor(np.zeros(3), requires_grad=True)
params = [W1, b1, W2, b2]
Xt = Tensor(X.astype(np.float64))

by_hand = []
for _ in range(steps):
    logits = (Xt @ W1 + b1).relu() @ W2 + b2
    loss = cross_entropy(logits, y)
    for p in params:
        p.grad = None
    loss.backward()
    for p in params:
        p.data -= lr * p.grad
    by_hand.append(float(loss.data))
print(f"loss {by_hand[0]:.4f} -> {by_hand[-1]:.4f}")

# %% [markdown]
# The gradient `backward()` gives is the derivative: compare one entry with a central difference
# $(\ell(w + h) - \ell(w - h)) / 2h$ in float64.

# %%
def loss_at():
    return float(cross_entropy((Xt @ W1 + b1).relu() @ W2 + b2, y).data)


for p in params:
    p.grad = None
loss = cross_entropy((Xt @ W1 + b1).relu() @ W2 + b2, y)
loss.backward()
h = 1e-6
W2.data[0, 1] += h
up = loss_at()
W2.data[0, 1] -= 2 * h
down = loss_at()
W2.data[0, 1] += h
numeric = (up - down) / (2 * h)
print(f"autodiff {W2.grad[0, 1]:.8f}, finite difference {numeric:.8f}")
assert abs(W2.grad[0, 1] - numeric) < 1e-6 * max(1.0, abs(numeric))

# %% [markdown]
# ## The same with `MLP`, `SGD` and the `Trainer`
#
# The same initial weights, copied into an `MLP([2, hidden, 3])`, trained full-batch with `SGD(lr)`:
# the Trainer's losses must equal the hand-written loop's, step by step.

# %%
rng = np.random.default_rng(seed)
model = MLP([2, hidden, 3], activation="relu", dtype=np.float64)
init = [rng.normal(0, np.sqrt(2 / 2), (2, hidden)), np.zeros(hidden), rng.normal(0, np.sqrt(1 / hidden), (hidden, 3)),
        np.zeros(3)]
for p, v in zip(model.parameters(), init):
    p.data[...] = v
history = Trainer(model, SGD(model.parameters(), lr=lr)).fit(X.astype(np.float64), y, iterations=steps,
                                                             batch_size=len(X), shuffle=False)
history  # shows itself: the loss curve and the evaluations

# %%
print("largest difference per step:", np.max(np.abs(np.asarray(history.loss) - by_hand)))
assert np.allclose(history.loss, by_hand, rtol=1e-10, atol=1e-12)
loss_end, acc_end = evaluate(model, X.astype(np.float64), y)
print(f"training accuracy {acc_end:.1%}")
assert by_hand[-1] < 0.8 * by_hand[0] and acc_end > 0.5  # it learns (chance is 1/3)
