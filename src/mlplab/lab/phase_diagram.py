"""phase-diagram: where a deep random network keeps two inputs apart, for tanh and relu (Schoenholz, Gilmer,
Ganguli, Sohl-Dickstein 2017, *Deep Information Propagation*; Poole et al. 2016, *Exponential expressivity in
deep neural networks through transient chaos*).

Theory, from `mlplab.theory` alone: on a grid of (σ_w², σ_b²) the fixed length q*, the slope χ₁ of the
correlation map at c = 1, its stable fixed point c* and the depth scale ξ_c = −1/ln χ_c over which two inputs'
correlation reaches c*; the critical line χ₁ = 1 between the ordered phase (χ₁ < 1, c* = 1: all inputs merge)
and the chaotic one (χ₁ > 1, c* < 1: nearby inputs separate). For relu χ₁ = σ_w²/2 whatever q*, and for σ_w² ≥ 2
with σ_b² > 0 the length grows without bound: its only critical point is (2, 0).

Measured: two inputs of squared length N and correlation c₀ sent through random networks of width N (weights
N(0, σ_w²/N), biases N(0, σ_b²), the same standard normals for every setting), the pre-activations' mean square
q^l and the inputs' correlation c^l layer by layer, averaged over independent networks, against the iterates of
the length and covariance maps started from the first layer's (q¹, c¹) — for tanh in each phase (σ_b² = 0.05;
σ_w² = 1.0, the critical 1.761 and 4.0) and relu at its critical point (2, 0). Finite width adds an O(1/N) bias
and O(1/√N) noise; the tolerance of each claim is 5 standard errors over the networks plus 2/N.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import theory as T
from .base import Context, Figure, Study, array
from .plots import save, subplots

SIGMA_B2 = 0.05  # the paper's tanh phase diagram's bias variance of the checks
PAPER = {  # Schoenholz et al. 2017 (tanh, σ_b² = 0.05): ξ_c at these σ_w², the critical point, c* at σ_w² = 4
    "xi_c": {1.0: 3.63, 1.5: 15.8, 2.0: 25.2, 2.5: 11.8, 4.0: 6.98},
    "critical_sigma_w2": 1.761, "critical_q_star": 0.570, "c_star_at_4": 0.165,
}
SOURCE = "Schoenholz et al. 2017, Deep Information Propagation (tanh, σ_b² = 0.05)"
COLORS = {"tanh ordered": "#1f77b4", "tanh critical": "#2ca02c", "tanh chaotic": "#d62728", "relu critical": "#9467bd"}
C0 = 0.5  # the two inputs' correlation


def settings_to_measure() -> dict[str, tuple[str, float, float]]:
    w_crit, _ = T.critical_line(SIGMA_B2, "tanh")
    return {"tanh ordered": ("tanh", 1.0, SIGMA_B2), "tanh critical": ("tanh", float(w_crit), SIGMA_B2),
            "tanh chaotic": ("tanh", 4.0, SIGMA_B2), "relu critical": ("relu", 2.0, 0.0)}


def _claim(measured, paper, tolerance, source) -> dict:
    return {"measured": float(measured), "paper": float(paper), "tolerance": float(tolerance), "source": source,
            "holds": bool(abs(float(measured) - float(paper)) <= tolerance)}


def _propagate(task) -> dict:
    """One random network of width N: q^l and c^l of two inputs for every setting (common random numbers)."""
    seed, width, depth, settings = task
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((depth, width, width))
    zb = rng.standard_normal((depth, width))
    g = rng.standard_normal((2, width))
    x1 = g[0] / np.linalg.norm(g[0])
    perp = g[1] - (g[1] @ x1) * x1
    perp /= np.linalg.norm(perp)
    x = np.sqrt(width) * np.stack([x1, C0 * x1 + np.sqrt(1 - C0**2) * perp])  # ‖x‖² = N, correlation exactly c₀
    out = {}
    for key, (act, sw2, sb2) in settings.items():
        phi = T.theory_activation(act).phi
        a = x
        q, c = np.empty(depth), np.empty(depth)
        for layer in range(depth):
            h = a @ (np.sqrt(sw2 / width) * z[layer]) + np.sqrt(sb2) * zb[layer]
            sq = np.mean(h * h, axis=1)
            q[layer] = sq.mean()
            c[layer] = np.mean(h[0] * h[1]) / np.sqrt(sq[0] * sq[1])
            a = phi(h)
        out[key] = {"q": q, "c": c}
    return out


def measure(settings: dict, ctx: Context) -> dict:
    """The theory on a grid, the paper's checks, and the maps against random networks."""
    from .base import parallel_map

    n_w, n_b, width, depth, nets = (settings[k] for k in ("grid_w", "grid_b", "width", "depth", "networks"))
    ctx.plan(nets + 1)
    sw2 = np.linspace(0.5, 4.5, n_w)
    sb2 = np.linspace(0.0, 0.5, n_b)
    W, B = np.meshgrid(sw2, sb2)  # rows: σ_b², columns: σ_w²
    tanh = T.propagation(W, B, "tanh")
    relu = T.propagation(W, B, "relu")
    line_b = np.linspace(0.0, 0.5, 101)
    line_w, line_q = T.critical_line(line_b, "tanh")
    ctx.advance()

    which = settings_to_measure()
    runs = parallel_map(_propagate, [(ctx.seed * 1000 + k, width, depth, which) for k in range(nets)],
                        workers=ctx.workers, on_done=ctx.advance)
    measured, predicted, claims = {}, {}, {}
    for key, (act, w, b) in which.items():
        q = np.array([r[key]["q"] for r in runs])
        c = np.array([r[key]["c"] for r in runs])
        q1, c1 = w * 1.0 + b, (w * C0 + b) / (w * 1.0 + b)  # layer 1 from inputs of unit mean square
        q_map, c_map = T.iterates(q1, c1, w, b, act, depth - 1)
        se_q, se_c = q.std(axis=0, ddof=1) / np.sqrt(nets), c.std(axis=0, ddof=1) / np.sqrt(nets)
        measured[key] = {"activation": act, "sigma_w2": w, "sigma_b2": b, "q": q.mean(axis=0), "q_se": se_q,
                         "c": c.mean(axis=0), "c_se": se_c}
        predicted[key] = {"q": q_map, "c": c_map}
        dev_c = np.abs(c.mean(axis=0) - c_map)
        dev_q = np.abs(q.mean(axis=0) / q_map - 1)
        claims[f"network_vs_c_map_{key.replace(' ', '_')}"] = _claim(
            dev_c.max(), 0.0, 5 * se_c.max() + 2 / width,
            f"recomputed: max over {depth} layers of the distance between the mean c^l over {nets} networks "
            "and the c-map's iterate")
        claims[f"network_vs_q_map_{key.replace(' ', '_')}"] = _claim(
            dev_q.max(), 0.0, 5 * (se_q / q_map).max() + 2 / width,
            "recomputed: max over layers of the relative distance between the mean q^l and the q-map's "
            "iterate")

    w_crit, q_crit = T.critical_line(SIGMA_B2, "tanh")
    claims["tanh_critical_sigma_w2"] = _claim(w_crit, PAPER["critical_sigma_w2"], 1e-3, SOURCE)
    claims["tanh_critical_q_star"] = _claim(q_crit, PAPER["critical_q_star"], 1e-3, SOURCE)
    xi = T.propagation(np.array(list(PAPER["xi_c"])), SIGMA_B2, "tanh")
    for (w, paper), got in zip(PAPER["xi_c"].items(), xi.xi_c):
        claims[f"tanh_xi_c_at_sigma_w2_{w:g}"] = _claim(got, paper, 0.01 * paper, SOURCE + ", ±1 %")
    claims["tanh_c_star_at_sigma_w2_4"] = _claim(xi.c_star[-1], PAPER["c_star_at_4"], 1e-3, SOURCE)
    claims["relu_chi_1_at_2_0"] = _claim(T.chi_1(2.0, 0.0, "relu"), 1.0, 1e-12,
                                         "Schoenholz et al. 2017: relu is critical at (σ_w², σ_b²) = (2, 0)")
    return {
        "claims": claims,
        "settings": {k: {"activation": a, "sigma_w2": w, "sigma_b2": b} for k, (a, w, b) in which.items()},
        "width": width, "depth": depth, "networks": nets, "c0": C0,
        "series": {"sigma_w2": sw2, "sigma_b2": sb2, "tanh_xi_c": tanh.xi_c, "tanh_chi_1": tanh.chi_1,
                   "relu_xi_c": relu.xi_c, "relu_q_star": relu.q_star,
                   "critical_line": {"sigma_b2": line_b, "sigma_w2": line_w, "q_star": line_q},
                   "measured": measured, "predicted": predicted},
    }


def _heat(ax, fig, sw2, sb2, xi, title):
    from matplotlib.colors import LogNorm

    shown = np.where(xi > 0, np.clip(xi, 0.5, 300.0), np.nan)  # ξ_c = inf on the line: drawn at the top
    mesh = ax.pcolormesh(sw2, sb2, shown, shading="nearest", cmap="viridis", norm=LogNorm(0.5, 300.0))
    fig.colorbar(mesh, ax=ax, label="ξ_c (layers, log)")
    ax.set_xlabel("σ_w²")
    ax.set_ylabel("σ_b²")
    ax.set_title(title)
    ax.grid(False)


def draw(numbers: dict, out: Path) -> list[Figure]:
    s = numbers["series"]
    sw2, sb2 = array(s["sigma_w2"]), array(s["sigma_b2"])
    fig, axes = subplots(1, 2, size=(5.2, 4.0))
    ax = axes[0, 0]
    _heat(ax, fig, sw2, sb2, array(s["tanh_xi_c"]), "tanh: depth scale ξ_c of correlations")
    line = s["critical_line"]
    ax.plot(array(line["sigma_w2"]), array(line["sigma_b2"]), color="white", lw=2, label="χ₁ = 1 (critical line)")
    ax.text(1.25, 0.4, "ordered\nχ₁ < 1, c* = 1", color="white", ha="center", fontsize=9, fontweight="bold")
    ax.text(3.6, 0.08, "chaotic\nχ₁ > 1, c* < 1", color="white", ha="center", fontsize=9, fontweight="bold")
    for key, st in numbers["settings"].items():
        if st["activation"] == "tanh":
            ax.plot(st["sigma_w2"], st["sigma_b2"], "o", ms=7, mec="white", color=COLORS[key], label=key)
    ax.legend(loc="upper right", fontsize=7)
    ax.set_xlim(sw2[0], sw2[-1])
    ax.set_ylim(sb2[0], sb2[-1])
    ax = axes[0, 1]
    relu_xi = array(s["relu_xi_c"])
    unbounded = np.isposinf(array(s["relu_q_star"]))
    _heat(ax, fig, sw2, sb2, np.where(unbounded, np.nan, relu_xi), "relu: ξ_c = −1/ln(σ_w²/2)")
    ax.contourf(sw2, sb2, unbounded.astype(float), levels=[0.5, 1.5], colors="0.75", hatches=["//"])
    ax.text(3.3, 0.25, "unbounded:\nthe length q grows\nevery layer (no q*)", ha="center", fontsize=8)
    ax.plot([2.0], [0.0], "*", ms=14, color=COLORS["relu critical"], mec="white", clip_on=False,
            label="critical point (2, 0)")
    ax.legend(loc="upper left", fontsize=7)
    ax.set_xlim(sw2[0], sw2[-1])
    ax.set_ylim(sb2[0], sb2[-1])
    figures = [Figure(save(fig, out / "phase_diagram.png", "Phase diagrams of deep random networks (theory)"),
                      "ξ_c over (σ_w², σ_b²) from mlplab.theory: tanh with its critical line χ₁ = 1 between the "
                      "ordered and chaotic phases; relu, critical only at (2, 0)")]

    fig, axes = subplots(1, 2, size=(5.0, 3.6))
    meas, pred = s["measured"], s["predicted"]
    for key in numbers["settings"]:
        m, p = meas[key], pred[key]
        layers = np.arange(1, len(array(m["c"])) + 1)
        axes[0, 0].errorbar(layers, array(m["c"]), yerr=2 * array(m["c_se"]), fmt="o", ms=3, color=COLORS[key],
                            label=f"{key} (σ_w² = {m['sigma_w2']:.3g}, σ_b² = {m['sigma_b2']:g})")
        axes[0, 0].plot(layers, array(p["c"]), "-", lw=1.2, color=COLORS[key])
        axes[0, 1].errorbar(layers, array(m["q"]), yerr=2 * array(m["q_se"]), fmt="o", ms=3, color=COLORS[key])
        axes[0, 1].plot(layers, array(p["q"]), "-", lw=1.2, color=COLORS[key])
    ax = axes[0, 0]
    ax.set_xlabel("layer l")
    ax.set_ylabel("correlation c^l of the two inputs")
    ax.set_title("c^l: networks (dots ± 2 SE) vs the c-map (lines)", fontsize=10)
    ax.legend(fontsize=7, loc="center right")
    ax = axes[0, 1]
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("q^l = mean square pre-activation (log)")
    ax.set_title("q^l: networks vs the length map", fontsize=10)
    figures.append(Figure(save(fig, out / "propagation.png",
                               f"Two inputs through {numbers['networks']} random networks of width {numbers['width']}"),
                          "Correlation and length layer by layer, measured (dots, ± 2 standard errors over networks) "
                          "against the iterates of the maps (lines)"))
    return figures


def write(numbers: dict) -> str:
    cl = numbers["claims"]
    rows = "\n".join(f"| `{k}` | {v['measured']:.4g} | {v['paper']:.4g} | {v['tolerance']:.2g} | "
                     f"{'yes' if v['holds'] else '**no**'} | {v['source']} |" for k, v in cl.items())
    s = numbers["settings"]
    held = sum(v["holds"] for v in cl.values())
    return f"""
The mean-field theory of a wide random network (weights N(0, σ_w²/N), biases N(0, σ_b²)) follows one input's
squared length q^l through the length map q ↦ σ_w² E[φ(√q z)²] + σ_b² and two inputs' correlation c^l through
the correlation map; both have fixed points (q*, c*). The slope χ₁ = σ_w² E[φ′(√q* z)²] of the correlation map at
c = 1 splits the plane: below the critical line χ₁ = 1 every pair of inputs ends up perfectly correlated
(ordered), above it they settle at c* < 1 (chaotic). The approach takes ξ_c = −1/ln χ_c layers, which diverges on
the line (`phase_diagram.png`, computed by `mlplab.theory` on the grid drawn). For tanh at σ_b² = 0.05 the line
crosses at σ_w² = {cl['tanh_critical_sigma_w2']['measured']:.4f} with q* = {cl['tanh_critical_q_star']['measured']:.4f}
(the paper: 1.761 and 0.570); ξ_c is {cl['tanh_xi_c_at_sigma_w2_1']['measured']:.3g} layers at σ_w² = 1 and
{cl['tanh_xi_c_at_sigma_w2_2']['measured']:.3g} at σ_w² = 2 just past the line. relu has χ₁ = σ_w²/2: σ_w² > 2
makes the length grow without bound, σ_w² < 2 orders, and only He's (2, 0) is critical.

`propagation.png` sends two inputs (c⁰ = {numbers['c0']}) through {numbers['networks']} random networks of width
{numbers['width']} and depth {numbers['depth']}: tanh in the ordered phase (σ_w² = {s['tanh ordered']['sigma_w2']:g})
merges them within a few layers, at the critical σ_w² = {s['tanh critical']['sigma_w2']:.3f} the correlation creeps
towards 1 slowly, in the chaotic phase (σ_w² = {s['tanh chaotic']['sigma_w2']:g}) it falls to c* ≈
{cl['tanh_c_star_at_sigma_w2_4']['measured']:.3f}; relu at (2, 0) keeps the length and pulls the correlation up
like a power law. The dots follow the maps' iterates layer by layer within the stated tolerances (5 standard
errors over the networks plus 2/N for the finite width).

{held} of {len(cl)} checks hold:

| check | computed / measured | paper or theory | tolerance | holds | source |
|---|---|---|---|---|---|
{rows}
"""


STUDY = Study(
    name="phase-diagram",
    title="Ordered and chaotic phases: the critical line, ξ_c, and signals through random networks",
    description="tanh/relu (σ_w², σ_b²) plane: χ₁ = 1 line, ξ_c heat map; measured c^l, q^l through width-N "
                "networks vs the maps",
    source="Schoenholz et al. 2017, Deep Information Propagation (§2–3, the tanh phase diagram); Poole et al. 2016",
    works=("schoenholz2017", "poole2016"),
    reproduces=("tanh at σ_b² = 0.05 critical at σ_w² = 1.761 with q* = 0.570 (±1e-3)",
                "ξ_c at σ_b² = 0.05 and σ_w² = 1.0 / 1.5 / 2.0 / 2.5 / 4.0: 3.63 / 15.8 / 25.2 / 11.8 / 6.98 (±1 %)",
                "c* = 0.165 at σ_w² = 4 (±1e-3)", "relu critical at (σ_w², σ_b²) = (2, 0)",
                "c^l and q^l of random networks (width ≥ 500) follow the maps' iterates (5 SE + 2/N)"),
    measure=measure, draw=draw, write=write,
    reference={"grid_w": 100, "grid_b": 100, "width": 1000, "depth": 40, "networks": 20},
    quick={"grid_w": 40, "grid_b": 30, "width": 500, "depth": 20, "networks": 6},
    claims=("claims",),
)
