"""Why the edge-of-stability study's sharpness peaks above 1.15·2/η (issue 27 §2): one GD run of the study's
reference setting, its sharpness measured every few steps instead of every 25.

The study's reference setting (5,000 standardized MNIST images, 784-200-200-10 tanh, ½‖f − onehot‖² averaged,
PyTorch's default initialization, float32) at one step size η = 2/(c·λ₀). Every ``--every`` steps λ₁ by the
study's tracker (10 Lanczos steps warm-started from the last eigenvector); every 50 steps also by a cold start
of 40 Lanczos steps, to check the tracker is converged. Printed: the first step with λ₁ ≥ 2/η, λ₁·η/2 around
it, and the band statistics (share inside [0.9, 1.15], median, peak) after settling windows of 0, 25, 50, 75
and 100 steps, for this measurement interval and for every 25th step (the study's). ``--float64`` runs the
same in float64 (the network's weights cast from the float32 initialization); ``--quick`` uses the quick
variant's data and network.

    PYTHONPATH=src python benchmarks/eos_overshoot.py [--c 1.5] [--steps 330] [--every 5] [--float64] [--quick]

Measured 2026-12-06 (c = 1.5, η = 0.230, every 5 steps, float32; 1,451 s wall at load average 15-25): the
tracker agrees with the cold 40-step Lanczos to 4 digits at every check; λ₁ first reaches 2/η at step 145,
rises linearly to 1.333·2/η at step 195 and falls to 0.99 at step 205 (the overshoot lasts 55 steps);
after it 81 % of the measurements lie in the band (median 1.091); after 75 steps 100 % (peak 1.149).
Precision, on the quick variant (``--quick --c 1.25 --steps 400``, every 5 steps): float32 and float64 both
cross at step 140; float32 peaks at 1.164 (step 215), float64 at 1.255 (step 270). Rounding seeds the
unstable component, so float32 shortens the overshoot; it does not cause it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import header, limit_threads

from mlplab.curvature import NetworkCurvature, sharpness
from mlplab.lab import edge_of_stability as eos


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--c", type=float, default=1.5, help="2/η as a multiple of the initial sharpness λ₀")
    ap.add_argument("--steps", type=int, default=330)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--quick", action="store_true", help="the quick variant's data and network (300 images, 32 wide)")
    a = ap.parse_args()
    with limit_threads(1):
        run(a)


def run(a):
    header("edge-of-stability overshoot")
    settings = dict(eos.STUDY.settings(quick=a.quick))
    ctx, model, curv = eos._setup(settings, 0)
    theta0 = curv.theta()
    lam0 = sharpness(curv.hvp, curv.n_params, steps=30, rng=ctx.rng(2))[0]
    lr = 2.0 / (a.c * lam0)
    if a.float64:
        from mlplab import nn

        m64 = nn.MLP(settings["sizes"], activation="tanh", weight_init="torch", bias_init="torch_bias",
                     rng=ctx.rng(1), dtype=np.float64)
        curv = NetworkCurvature(m64, curv.X.astype(np.float64), eos._data(settings, ctx)[1], loss="half_mse",
                                chunk_size=settings["examples"])
        curv.set_theta(theta0)
    print(f"λ₀ = {lam0:.4g}, η = {lr:.4g}, 2/η = {2 / lr:.4g}, {'float64' if a.float64 else 'float32'}")
    v = np.random.default_rng(3).standard_normal(curv.n_params)
    theta, steps, ratio, t0 = theta0.copy(), [], [], time.perf_counter()
    for k in range(a.steps + 1):
        curv.set_theta(theta)
        loss, g = curv.loss_and_grad()
        if k % a.every == 0:
            lam, v = sharpness(curv.hvp, curv.n_params, v0=v, steps=10)
            steps.append(k)
            ratio.append(lam * lr / 2)
            if k % 50 == 0:
                cold = sharpness(curv.hvp, curv.n_params, steps=40, rng=k)[0]
                print(f"step {k}: λ₁·η/2 tracker {ratio[-1]:.4f}, cold 40-step Lanczos {cold * lr / 2:.4f}, "
                      f"loss {loss:.4g}")
        theta = theta - lr * g
    steps, ratio = np.array(steps), np.array(ratio)
    cross = int(steps[np.argmax(ratio >= 1)]) if (ratio >= 1).any() else None
    print(f"{time.perf_counter() - t0:.0f} s; first λ₁ ≥ 2/η at step {cross}")
    if cross is None:
        return
    near = [f"{s}: {r:.3f}" for s, r in zip(steps, ratio) if cross - 20 <= s <= cross + 120]
    print("λ₁·η/2 around it:", ", ".join(near))
    for every in sorted({a.every, 25}):
        keep = steps % every == 0
        s, r = steps[keep], ratio[keep]
        c = int(s[np.argmax(r >= 1)])
        for settle in (0, 25, 50, 75, 100):
            x = r[s > c + settle]
            if len(x):
                inside = np.mean((x >= eos.BAND[0]) & (x <= eos.BAND[1]))
                print(f"every {every} steps, crossing {c}, settling {settle}: {len(x)} measurements, {inside:.0%} "
                      f"inside, median {np.median(x):.3f}, peak {x.max():.3f}")


if __name__ == "__main__":
    main()
