"""A user's own PyTorch training loop on MNIST, watched, for tests/test_watch*.py (run as a subprocess).

    python tests/watch_loop.py OUT --model mlp|cnn --steps N --every K [--kill-at S] [--slow SECONDS]
                               [--capture] [--port]

``--capture``: the script also records, with hooks of its own registered before watch()'s, what watch() should
have seen at every step that is a multiple of K (and step 1): each watched module's output z and ∂L/∂z (first 64
rows), the activation module's output, the weights before and after the step and ∂L/∂W; saved to
OUT/../capture-<model>.npz for the test to compare with the recording. ``--kill-at S``: after step S the bias of
layer ``--kill-layer`` (default 1) is set to -1000, so its ReLU units die. ``--slow``: sleep between steps
(a run the page follows).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from mlplab.data import load
from mlplab.runtime.threads import auto_blas_threads
from mlplab.watch import watch

ROWS = 64


def make(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                             nn.Linear(100, 100), nn.Tanh(), nn.Linear(100, 10))
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 7 * 7, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--kill-at", type=int, default=None)
    ap.add_argument("--kill-layer", type=int, default=1)
    ap.add_argument("--slow", type=float, default=0.0)
    ap.add_argument("--capture", action="store_true")
    ap.add_argument("--port", action="store_true")
    ap.add_argument("--worker", default="process", help="watch(worker=...)")
    a = ap.parse_args()
    torch.set_num_threads(auto_blas_threads()[0])
    torch.manual_seed(0)
    X, y = load("mnist")
    n = a.steps * a.batch
    X = torch.from_numpy(np.array(X[:n])).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(np.array(y[:n]))
    model = make(a.model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    weights = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    acts = {}
    mods = list(model)
    for m in weights:  # the module whose output is the layer's activation: the first ReLU/Tanh after it
        i = mods.index(m)
        acts[m] = next((x for x in mods[i + 1:] if isinstance(x, (nn.ReLU, nn.Tanh))), None) \
            if m is not weights[-1] else None
    got: dict = {}
    step = [0]

    def frame_step(s):
        return s == 1 or s % a.every == 0

    if a.capture:
        def fwd(i, m):
            def hook(module, args, out):
                s = step[0] + 1
                if frame_step(s) and torch.is_grad_enabled():
                    got[f"{s}/{i}/z"] = out.detach()[:ROWS].clone().numpy()
                    out.register_hook(lambda g: got.__setitem__(f"{s}/{i}/gz", g.detach()[:ROWS].clone().numpy()))
                    got[f"{s}/{i}/before"] = m.weight.detach().clone().numpy()
            return hook

        def act_hook(i):
            def hook(module, args, out):
                s = step[0] + 1
                if frame_step(s) and torch.is_grad_enabled():
                    got[f"{s}/{i}/a"] = out.detach()[:ROWS].clone().numpy()
            return hook

        for i, m in enumerate(weights):
            m.register_forward_hook(fwd(i, m))
            if acts[m] is not None:
                acts[m].register_forward_hook(act_hook(i))
    w = watch(model, opt, every=a.every, record=a.out, port=0 if a.port else None, worker=a.worker)
    if a.port:
        print("URL", w.url, flush=True)
    print("START", flush=True)
    for s in range(a.steps):
        xb, yb = X[s * a.batch:(s + 1) * a.batch], y[s * a.batch:(s + 1) * a.batch]
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step[0] += 1
        w.step(loss)
        if a.capture and frame_step(step[0]):
            for i, m in enumerate(weights):
                got[f"{step[0]}/{i}/w"] = m.weight.detach().clone().numpy()
                got[f"{step[0]}/{i}/gw"] = m.weight.grad.detach().clone().numpy()
        if a.kill_at is not None and step[0] == a.kill_at:
            with torch.no_grad():
                weights[a.kill_layer].bias.fill_(-1000.0)
        print("STEP", step[0], flush=True)
        if a.slow:
            time.sleep(a.slow)
    w.close()
    if a.capture:
        np.savez(Path(a.out).parent / f"capture-{a.model}.npz", **got)
    print("DONE", w.frames, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
