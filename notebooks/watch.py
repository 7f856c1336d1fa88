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
# # Watching your own PyTorch training loop, layer by layer
#
# Source: *Deep Learning from Scratch* (Koki Saitō), ch. 6.2 (the activation histograms of each layer, and
# why dead or saturated layers stop learning), and A. Karpathy, "A Recipe for Training Neural Networks"
# (visualise the layers' statistics while the network trains, not only the loss).
#
# `mlplab.watch` adds three lines to a plain PyTorch loop. At every frame it records, per layer, the
# histograms of the pre-activations $z_l = W_l a_{l-1} + b_l$, of $\varphi(z_l)$, of $\partial L/\partial z_l$,
# of $W_l$ and of the last update $\Delta W_l$, the update size $\lVert \Delta W_l\rVert / \lVert W_l\rVert$,
# and `mlplab diagnose`'s verdict, which is named when it changes. Here a layer is killed halfway (its bias
# set to $-1000$, so every ReLU unit outputs 0) and the recording says so at the next frame.

# %% tags=["parameters"]
steps = 60
every = 5
kill_at = 30  # after this step, layer 2's bias is set to -1000 (None: train normally)
seed = 0

# %%
import tempfile

import numpy as np
import torch
import torch.nn as nn

from mlplab.data import load
from mlplab.runtime.threads import auto_blas_threads
from mlplab.watch import read, watch

torch.set_num_threads(auto_blas_threads()[0])
torch.manual_seed(seed)
X, y = load("mnist")
X, y = torch.from_numpy(np.array(X[: steps * 64])), torch.from_numpy(np.array(y[: steps * 64]))
model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
folder = tempfile.mkdtemp(prefix="watch-notebook-") + "/run"

# %% [markdown]
# The three lines: `from mlplab.watch import watch`, `w = watch(model, opt, ...)` before the loop, and
# `w.close()` after it (or `with watch(...) as w:`). `w.step(loss)` is optional with an optimizer: it adds
# the loss to the curve.

# %%
w = watch(model, opt, every=every, record=folder)
for s in range(steps):
    xb, yb = X[s * 64:(s + 1) * 64], y[s * 64:(s + 1) * 64]
    loss = nn.functional.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    w.step(loss)
    if kill_at is not None and s + 1 == kill_at:
        with torch.no_grad():
            model[2].bias.fill_(-1000.0)
w.close()
w

# %% [markdown]
# `w` as a cell's value shows the page (the Train view's histogram strips, one panel per layer, and a time
# slider over the frames); outside a notebook, `mlplab live --replay FOLDER` shows the same. The recording
# is JSON lines, readable with `mlplab.watch.read`:

# %%
rec = read(folder)
print(f"{len(rec.frames)} frames at steps {[f['step'] for f in rec.frames]}; ended: {rec.end['reason']}")
for f in rec.frames:
    for e in f["events"]:
        if e["from"] is not None:
            print(f"step {f['step']}: layer {e['layer'] + 1} ({e['name']}) {e['from']} -> {e['to']}: {e['reason']}")
assert len(rec.frames) == 1 + steps // every
if kill_at is not None:
    dead = [f["step"] for f in rec.frames if f["layers"][1]["verdict"] == "dead"]
    assert dead and dead[0] <= kill_at + 2 * every, dead  # named within two frames of the kill
    assert rec.frames[-1]["layers"][1]["dead"] == 1.0

# %%
print(w.url.split("?")[0])  # the page's address (with its token, w.url) while the kernel runs
assert w.url.startswith("http://127.0.0.1:") and "token=" in w.url
w.stop_page()  # the page's server (started when `w` was shown)

# %% [markdown]
# ## The sharpness against 2/η
#
# Source: Cohen, Kaur, Li, Kolter, Talwalkar 2021, *Gradient Descent on Neural Networks Typically Occurs at
# the Edge of Stability*: gradient descent at step size η is stable along the top Hessian eigenvector only
# while the sharpness $\lambda_1(H) < 2/\eta$, and full-batch training drives $\lambda_1$ up toward that limit.
# `sharpness=(loss_fn, x, y)` measures $\lambda_1$ of the loss on that fixed batch while the loop trains
# (warm-started Lanczos, about 5 % of the loop's time by default; `mlplab.watch.Sharpness(..., every=,
# share=)` sets how often) and the page draws it against the optimizer's limit. Here full-batch gradient
# descent on 512 images, measured every 10 steps.

# %%
from mlplab.watch import Sharpness

torch.manual_seed(seed)
gd_model = nn.Sequential(nn.Linear(784, 100), nn.Tanh(), nn.Linear(100, 100), nn.Tanh(), nn.Linear(100, 10))
lr = 0.2
gd = torch.optim.SGD(gd_model.parameters(), lr=lr)
xs, ys = X[:512], y[:512]
spec = Sharpness(nn.functional.cross_entropy, xs, ys, every=10, share=None)
with watch(gd_model, gd, every=10, record=folder + "-sharpness", sharpness=spec) as w2:
    for s in range(steps):
        gd.zero_grad()
        nn.functional.cross_entropy(gd_model(xs), ys).backward()
        gd.step()
for f in read(w2.folder).frames:
    if "sharpness" in f:
        m = f["sharpness"]
        print(f"step {m['step']:3d}: λ₁ = {m['value']:.3f}  (2/η = {m['limit']:.1f}; ±{m['residual']:.1e}, "
              f"{m['products']} products, {m['ms']:.0f} ms)")
measured = [f["sharpness"] for f in read(w2.folder).frames if "sharpness" in f]
assert measured and all(m["value"] > 0 and m["limit"] == 2 / lr for m in measured)
