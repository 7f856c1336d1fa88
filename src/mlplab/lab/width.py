"""width: how much a finite-width relu network's output length varies from one He initialization to the next
(Hanin & Rolnick 2018, *How to start training: the effect of initialization and architecture*).

K random networks (one `mlplab.nn.MLP` with ``stack=K``: K independent weight draws evaluated in one batched
product), relu, He-normal weights N(0, 2/n_in), no biases, 10 layers from a fixed input of 100 units; for each
network M_L = ‖z^L‖²/n_L, the mean square of the last layer's pre-activations. Four width profiles: constant 40,
tapered (120 → 24, last layer 40), the same widths expanding (24 → 120), which has exactly the same β = Σ 1/n_j,
and constant 100. Measured: the variance of log M_L over the K networks and the mean of M_L, against
`mlplab.theory.width.log_length_variance` (the exact sum of independent per-layer terms, ≈ 5β) and He's
E[M_L] = 2‖x‖²/n_0. The tolerance of each check is 4 standard errors over the K networks (from the sample's own
kurtosis).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..nn import MLP
from ..tensor import Tensor, no_grad
from .base import Context, Figure, Study, array
from .plots import save, subplots

N0 = 100
PROFILES = {
    "constant 40": [40] * 10,
    "tapered 120→24": [120, 80, 60, 48, 40, 34, 30, 26, 24, 40],
    "expanding 24→120": [24, 26, 30, 34, 40, 48, 60, 80, 120, 40],
    "constant 100": [100] * 10,
}
COLORS = {"constant 40": "#d62728", "tapered 120→24": "#ff7f0e", "expanding 24→120": "#9467bd",
          "constant 100": "#1f77b4"}
SOURCE = "Hanin & Rolnick 2018, How to start training: the effect of initialization and architecture"


CHUNK = 100  # networks per stacked MLP: memory stays at CHUNK · Σ n_{l−1} n_l weights


def _log_lengths(widths, K, rng, x) -> np.ndarray:
    out = []
    for start in range(0, K, CHUNK):
        net = MLP([N0] + widths, activation="relu", weight_init="he_normal", bias=False,
                  stack=min(CHUNK, K - start), dtype=np.float64, rng=rng)
        with no_grad():
            z = net(Tensor(x[None, :])).data  # (networks, 1, n_L)
        out.append(np.log(np.mean(z[:, 0, :] ** 2, axis=1)))
    return np.concatenate(out)


def measure(settings: dict, ctx: Context) -> dict:
    from ..theory import width as tw  # here: its scipy.stats is ~0.9 s of CPU of every process listing the studies

    K = settings["networks"]
    ctx.plan(len(PROFILES))
    x = ctx.rng(99).standard_normal(N0)
    m0 = 2.0 * float(x @ x) / N0  # E[M_L] under He init, every layer
    results, claims = {}, {}
    for i, (key, widths) in enumerate(PROFILES.items()):
        logs = _log_lengths(widths, K, ctx.rng(i), x)
        var = float(np.var(logs, ddof=1))
        kurt = float(np.mean((logs - logs.mean()) ** 4) / np.var(logs) ** 2)
        se_var = var * np.sqrt((kurt - 1) / K)
        M = np.exp(logs)
        theory = tw.log_length_variance(widths)
        results[key] = {"widths": widths, "beta": tw.beta(widths[:-1]), "five_beta": 5 * tw.beta(widths[:-1]),
                        "var_log_M": var, "se_var": se_var, "theory_var": theory,
                        "mean_M_over_M0": float(M.mean() / m0), "se_mean": float(M.std(ddof=1) / np.sqrt(K) / m0),
                        "log_M": logs}
        name = key.split()[0] + ("_" + key.split()[1].replace("→", "_to_") if key.startswith("constant") else "")
        claims[f"var_log_length_{name}"] = {
            "measured": var, "paper": theory, "tolerance": 4 * se_var, "holds": bool(abs(var - theory) <= 4 * se_var),
            "source": SOURCE + ": Var log M_L = Σ per-layer terms ≈ 5β (exact sum; recomputed)"}
        claims[f"mean_length_{name}"] = {
            "measured": results[key]["mean_M_over_M0"], "paper": 1.0, "tolerance": 4 * results[key]["se_mean"],
            "holds": bool(abs(results[key]["mean_M_over_M0"] - 1) <= 4 * results[key]["se_mean"]),
            "source": "He et al. 2015: E[M_L] = M_0 at every width (mean over networks, relative)"}
        ctx.advance()
    a, b = results["tapered 120→24"], results["expanding 24→120"]
    diff = abs(a["var_log_M"] - b["var_log_M"])
    tol = 4 * np.hypot(a["se_var"], b["se_var"])
    claims["same_beta_same_spread"] = {
        "measured": diff, "paper": 0.0, "tolerance": float(tol), "holds": bool(diff <= tol),
        "source": SOURCE + ": the tapered and the expanding network (same β) fluctuate alike (difference of the "
                           "two variances)"}
    return {"claims": claims, "networks": K, "n0": N0,
            "results": {k: {kk: vv for kk, vv in v.items() if kk != "log_M"} for k, v in results.items()},
            "series": {"log_M": {k: v["log_M"] for k, v in results.items()}}}


def draw(numbers: dict, out: Path) -> list[Figure]:
    res = numbers["results"]
    fig, axes = subplots(1, 3, size=(4.2, 3.4))
    ax = axes[0, 0]
    for key, r in res.items():
        ax.plot(np.arange(1, len(r["widths"]) + 1), r["widths"], "o-", ms=3, color=COLORS[key],
                label=f"{key}: β = {r['beta']:.3f}")
    ax.set_yscale("log")
    ax.set_ylim(15, 1500)  # room above the profiles for the legend
    ax.set_xlabel("layer")
    ax.set_ylabel("width n_l (log)")
    ax.set_title("the four width profiles", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    ax = axes[0, 1]
    for key in res:
        logs = array(numbers["series"]["log_M"][key])
        c = logs - logs.mean()
        ax.hist(c, bins=50, range=(-5, 3), density=True, histtype="step", lw=1.2, color=COLORS[key])
        v = res[key]["theory_var"]
        g = np.linspace(-5, 3, 300)
        ax.plot(g, np.exp(-g * g / (2 * v)) / np.sqrt(2 * np.pi * v), ":", lw=1, color=COLORS[key])
    ax.set_xlabel("log M_L − its mean")
    ax.set_ylabel("density")
    ax.set_title(f"{numbers['networks']} networks each (dotted: normal\nwith the theory's variance)", fontsize=9)
    ax = axes[0, 2]
    keys = list(res)
    xs = np.arange(len(keys))
    ax.errorbar(xs, [res[k]["var_log_M"] for k in keys], yerr=[2 * res[k]["se_var"] for k in keys], fmt="o",
                color="k", label="measured ± 2 SE")
    ax.plot(xs, [res[k]["theory_var"] for k in keys], "s", mfc="none", ms=9, color="#2ca02c", label="exact theory")
    ax.plot(xs, [res[k]["five_beta"] for k in keys], "x", ms=8, color="#d62728", label="5β")
    ax.set_xticks(xs)
    ax.set_xticklabels([k.replace(" ", "\n") for k in keys], fontsize=8)
    ax.set_ylabel("Var log M_L")
    ax.set_title("spread of the output length", fontsize=10)
    ax.legend(fontsize=8)
    return [Figure(save(fig, out / "width.png", "Output length of He-initialized relu networks: width sets the spread"),
                   "Var log M_L over random networks for four width profiles, measured against the exact per-layer "
                   "sum and Hanin & Rolnick's 5β; the tapered and expanding profiles share β and the spread")]


def write(numbers: dict) -> str:
    res, cl = numbers["results"], numbers["claims"]
    rows = "\n".join(f"| {k} | {r['beta']:.3f} | {r['var_log_M']:.3f} ± {r['se_var']:.3f} | {r['theory_var']:.3f} | "
                     f"{r['five_beta']:.3f} | {r['mean_M_over_M0']:.3f} ± {r['se_mean']:.3f} |" for k, r in res.items())
    held = sum(v["holds"] for v in cl.values())
    return f"""
He's initialization keeps the *mean* squared length of a relu network's activations fixed through depth, but each
layer of finite width n multiplies it by a random factor: (2/n)·χ² of the ≈ n/2 active units, whose logarithm has
variance ≈ 5/n. Over L layers the log-length's variance is ≈ 5β, β = Σ 1/n_j (Hanin & Rolnick 2018): it is the sum
of the reciprocal widths that decides how far a given network's output length strays from the mean, not the depth
alone, and not the order of the widths. `width.png` measures it on {numbers['networks']} random networks per width
profile, all from the same input, next to the exact sum of per-layer terms (`mlplab.theory.width`) and 5β; the
tapered and the expanding profiles, which share their widths in opposite orders, spread alike.

| widths | β | Var log M_L measured | exact theory | 5β | E[M_L]/M_0 |
|---|---|---|---|---|---|
{rows}

{held} of {len(cl)} checks hold (tolerances: 4 standard errors over the networks).
"""


STUDY = Study(
    name="width",
    title="Finite width: the output length's spread at He initialization is 5β",
    description="Var log ‖z_L‖² over random relu networks for constant, tapered, expanding widths against the exact "
                "per-layer sum ≈ 5β",
    source="Hanin & Rolnick 2018, How to start training: the effect of initialization and architecture",
    works=("hanin2018",),
    reproduces=("Var log M_L ≈ 5β, β = Σ 1/n_j (exact per-layer sum; 4 standard errors)",
                "same β, same spread: tapered and expanding widths", "E[M_L] = M_0 at every width (He init)"),
    measure=measure, draw=draw, write=write,
    reference={"networks": 4000},
    quick={"networks": 600},
    claims=("claims",),
)
