"""isometry: the singular values of the input–output Jacobian at initialization (Pennington, Schoenholz, Ganguli
2017, *Resurrecting the sigmoid in deep learning through dynamical isometry: theory and practice*).

Square networks of width N, x^l = φ(h^l), h^l = W^l x^{l−1} + b^l, each at its critical point, weights drawn by
`mlplab.init.critical` (Gaussian N(0, σ_w²/N) or σ_w·Q with Q Haar-orthogonal): linear (σ_w² = 1), relu
(σ_w² = 2, the He scale) and tanh at q* = 1/64 (σ_w² ≈ 1.031, σ_b² ≈ 4.7e-6, from `mlplab.theory.critical_point`);
the input has the fixed length q*. The Jacobian J = Π_l D^l W^l (D^l = diag φ′(h^l)) is built layer by layer,
and the squared singular values λ of J at depths up to L are measured (one product serves every depth: the
Jacobian at depth l is its first l factors).

Theory (`mlplab.theory.isometry`): mean of λ = χ₁^L = 1 at criticality, variance L(μ₂/μ₁² − 1 − s₁) with
μ_k = E[φ′(√q* z)^{2k}] and s₁ = −1 (Gaussian) or 0 (orthogonal): 0 for orthogonal linear (exactly isometric),
L for Gaussian linear, 2L and L for relu, ≈ 0.0017 L for orthogonal tanh at q* = 1/64, and for Gaussian linear the
Fuss–Catalan law with largest λ at (L + 1)^{L+1}/L^L. The theory is for N → ∞ at fixed L; at L comparable to N
the measured spread of the heavy-tailed kinds departs from it (finite width), which the study shows rather than
hides; its checks of those kinds are made at a depth L ≪ N.

Then the training-speed race of the paper's §4 (settings ``race``): networks of depth 200 on MNIST — orthogonal
tanh at q* = 1/64 (dynamical isometry), Gaussian tanh at the same (σ_w², σ_b²) (critical, not isometric) and He
relu (σ_w² = 2, σ_b² = 0; relu cannot be isometric) — trained by plain SGD at one learning rate with the same
batches, ``seeds`` networks of each kind stacked in one `MLP(stack=seeds)` (`lab/stacked.py`), the three kinds
run by the sweep's executor. The measure is the steps each seed needs to reach a training accuracy, and the
speed-up of orthogonal tanh over each other kind, seed by seed (a run that never reaches the target counts as
the budget, so its speed-up is a lower bound). The paper tuned each network's rate; one rate is used here
(η = 0.5/L, where a deep network's output moves ∝ L·η), which the section states.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import theory as T
from ..init import critical, critical_variances
from .base import Context, Figure, Study, array, parallel_map
from .plots import save, subplots

Q_STAR = 1 / 64  # Pennington et al. 2017's small q* for tanh
CONFIGS = [(a, w) for w in ("gaussian", "orthogonal") for a in ("linear", "relu", "tanh")]
COLORS = {"linear": "#1f77b4", "relu": "#d62728", "tanh": "#2ca02c"}
SOURCE = "Pennington, Schoenholz, Ganguli 2017, Resurrecting the sigmoid (§2–3)"


def _point(act: str) -> dict:
    """The critical point the study uses for ``act``: σ_w², σ_b², q*."""
    if act == "tanh":
        w, b = critical_variances("tanh", q_star=Q_STAR)
        return {"sigma_w2": w, "sigma_b2": b, "q_star": Q_STAR}
    w, b = critical_variances("identity" if act == "linear" else act, 0.0)
    return {"sigma_w2": w, "sigma_b2": b, "q_star": 1.0}  # homogeneous: every length is a fixed point


def _jacobian_spectra(task) -> dict:
    """Squared singular values of one network's Jacobian at each depth in ``depths``."""
    act, weights, width, depths, seed = task
    rng = np.random.default_rng(seed)
    pt = _point(act)
    name = "identity" if act == "linear" else act
    phi = T.theory_activation(name)
    init_kw = {"q_star": Q_STAR} if act == "tanh" else {"bias_var": 0.0}
    x = rng.standard_normal(width)
    x *= np.sqrt(width * (pt["q_star"] - pt["sigma_b2"]) / pt["sigma_w2"]) / np.linalg.norm(x)
    J = np.eye(width)
    out = {}
    for layer in range(1, max(depths) + 1):
        W = critical((width, width), rng, np.float64, activation=name, weights="normal" if weights == "gaussian"
                     else "orthogonal", **init_kw)
        h = x @ W + np.sqrt(pt["sigma_b2"]) * rng.standard_normal(width)
        J = phi.dphi(h)[:, None] * (W.T @ J)  # row i of layer l's outputs: φ′(h_i) Σ_j W_ji J_j·
        x = phi.phi(h)
        if layer in depths:
            out[layer] = np.linalg.svd(J, compute_uv=False) ** 2
    return out


def _claim(measured, paper, tolerance, source, relative=False) -> dict:
    dev = abs(measured / paper - 1) if relative else abs(measured - paper)
    return {"measured": float(measured), "paper": float(paper), "tolerance": float(tolerance),
            "relative": relative, "source": source, "holds": bool(dev <= tolerance)}


def measure(settings: dict, ctx: Context) -> dict:
    from ..theory import isometry as iso  # here: its scipy.special only where it is used

    width, depths, nets, check = settings["width"], settings["depths"], settings["networks"], settings["check_depth"]
    tasks = [(a, w, width, depths, ctx.seed * 1000 + 10 * i + k) for i, (a, w) in enumerate(CONFIGS)
             for k in range(nets)]
    ctx.plan(len(tasks))
    runs = parallel_map(_jacobian_spectra, tasks, workers=ctx.workers, on_done=ctx.advance)
    results, claims = {}, {}
    for i, (act, weights) in enumerate(CONFIGS):
        key = f"{act} {weights}"
        pt = _point(act)
        name = "identity" if act == "linear" else act
        per_depth = {}
        for L in depths:
            lam = np.concatenate([runs[i * nets + k][L] for k in range(nets)])
            mean, var = iso.jacobian_moments(pt["sigma_w2"], pt["sigma_b2"], name, L, weights, q=pt["q_star"])
            per_depth[str(L)] = {
                "mean": lam.mean(), "var": lam.var(), "max": lam.max(), "min": lam.min(),
                "theory_mean": float(mean), "theory_var": float(var),
                "within_2x_of_1": float(np.mean((lam > 0.25) & (lam < 4.0))),  # s within a factor 2 of 1
                "max_dev_from_1": float(np.max(np.abs(np.sqrt(lam) - 1)))}
        results[key] = {**pt, "activation": act, "weights": weights, "depths": per_depth,
                        "lambda_deepest": np.concatenate([runs[i * nets + k][max(depths)] for k in range(nets)])}
    c = str(check)
    r = results
    claims["orthogonal_linear_is_isometric"] = _claim(
        max(d["max_dev_from_1"] for d in r["linear orthogonal"]["depths"].values()), 0.0, 1e-9,
        SOURCE + ": every singular value of a product of orthogonal matrices is 1")
    claims["mean_lambda_is_one"] = _claim(
        max(abs(v["depths"][c]["mean"] - 1) for v in r.values()), 0.0, settings["mean_tolerance"],
        SOURCE + f": mean λ = χ₁^L = 1 at criticality (depth {check}, {nets * width} values per network kind)")
    for key, factor in (("linear gaussian", 1.0), ("relu gaussian", 2.0), ("relu orthogonal", 1.0)):
        claims[f"var_{key.replace(' ', '_')}_over_depth"] = _claim(
            r[key]["depths"][c]["var"] / check, factor, settings["var_tolerance"],
            SOURCE + f": variance of λ ≈ {factor:g}·L (L = {check}), relative", relative=True)
    claims["linear_gaussian_max_at_fuss_catalan_edge"] = _claim(
        r["linear gaussian"]["depths"][c]["max"], iso.fuss_catalan_edge(check), settings["edge_tolerance"],
        f"Fuss–Catalan law: largest λ at (L+1)^(L+1)/L^L, L = {check}, relative", relative=True)
    deepest = str(max(depths))
    claims["tanh_orthogonal_var_at_deepest"] = _claim(
        r["tanh orthogonal"]["depths"][deepest]["var"], r["tanh orthogonal"]["depths"][deepest]["theory_var"],
        settings["tanh_var_tolerance"], SOURCE + f": L(μ₂/μ₁² − 1) at q* = 1/64, L = {deepest}, relative",
        relative=True)
    claims["tanh_orthogonal_within_2x_deepest"] = _claim(
        r["tanh orthogonal"]["depths"][deepest]["within_2x_of_1"], 1.0, 0.05,
        SOURCE + f": orthogonal tanh's singular values within a factor 2 of 1 at L = {deepest} (fraction)")
    claims["tanh_gaussian_within_2x_deepest"] = {
        "measured": r["tanh gaussian"]["depths"][deepest]["within_2x_of_1"],
        "note": "Gaussian tanh at the same (σ_w², σ_b²): the fraction of singular values within a factor 2 of 1"}
    extra = {}
    if settings.get("race"):
        extra["race"] = race(settings["race"], ctx)
    return {**extra, "claims": claims, "width": width, "depths": depths, "networks": nets, "check_depth": check,
            "results": {k: {kk: vv for kk, vv in v.items() if kk != "lambda_deepest"} for k, v in r.items()},
            "series": {"lambda_deepest": {k: v["lambda_deepest"] for k, v in r.items()}}}


RACE_KINDS = {"tanh orthogonal": ("tanh", "orthogonal"), "tanh gaussian": ("tanh", "gaussian"),
              "relu gaussian": ("relu", "gaussian")}  # kind -> (activation, weights)
RACE_COLORS = {"tanh orthogonal": "#2ca02c", "tanh gaussian": "#1f77b4", "relu gaussian": "#d62728"}


def _race_task(task: dict) -> dict:
    """One kind of network, all seeds stacked (one MLP(stack=seeds)), trained by SGD on MNIST; the training
    accuracy every ``eval_every`` steps. A pure function of ``task`` (runs on any executor)."""
    import time

    from threadpoolctl import threadpool_limits

    from ..data import load, subset
    from .stacked import accuracy, stacked_mlp, train

    t0 = time.process_time()
    act, weights = RACE_KINDS[task["kind"]]
    if act == "tanh":  # Pennington et al.'s q* = 1/64: σ_w² ≈ 1.031, σ_b² ≈ 4.7e-6, inputs scaled to q¹ = q*
        sw2, sb2 = critical_variances("tanh", q_star=Q_STAR)
    else:  # He: (2, 0), relu's critical point
        sw2, sb2 = 2.0, 0.0
    with threadpool_limits(limits=1, user_api="blas"):
        X, y = load("mnist", "train")
        X, y = subset(X, y, n=task["train_images"], rng=np.random.default_rng([task["seed"], 0]))
        if act == "tanh":
            X = X * np.float32(np.sqrt((Q_STAR - sb2) / (sw2 * np.mean(X.astype(np.float64) ** 2))))
        Xe, ye = X[:task["eval_images"]], y[:task["eval_images"]]
        nets = task["seeds"]
        net = stacked_mlp(np.random.default_rng([task["seed"], 1, list(RACE_KINDS).index(task["kind"])]),
                          [X.shape[1]] + [task["width"]] * task["depth"] + [10], [sw2] * nets, sb2, act, weights)
        every = task["eval_every"]
        steps = list(range(every, task["steps"] + 1, every))
        acc0 = accuracy(net, Xe, ye)  # at initialization
        acc, loss = train(net, X, y, task["steps"], task["batch"], task["lr"], np.random.default_rng([task["seed"], 2]),
                          steps, Xe, ye, log_every=every)
    return {"kind": task["kind"], "sigma_w2": sw2, "sigma_b2": sb2, "steps": [0] + steps,
            "accuracy": np.vstack([acc0[None, :], acc]), "loss": loss,
            "cpu_seconds": time.process_time() - t0}


def _steps_to(acc: np.ndarray, steps, target: float) -> np.ndarray:
    """First step count at which each member (column) reaches ``target``; NaN if it never does."""
    hit = acc >= target
    return np.array([steps[int(np.argmax(hit[:, g]))] if hit[:, g].any() else np.nan for g in range(acc.shape[1])])


def race(settings: dict, ctx: Context) -> dict:
    """Pennington et al. 2017's training-speed race at depth ``depth``: orthogonal tanh at q* = 1/64 against
    Gaussian tanh at the same (σ_w², σ_b²) and He relu, steps to a training accuracy, over seeds."""
    from ..sweep.executor import make_executor
    from ..sweep.stats import describe

    tasks = [{"kind": k, "seed": ctx.seed, **{key: settings[key] for key in (
        "depth", "width", "batch", "lr", "steps", "eval_every", "train_images", "eval_images", "seeds")}}
        for k in RACE_KINDS]
    ex = make_executor("local", workers=min(ctx.workers, len(tasks)))
    try:
        runs = [f.result() for f in [ex.submit(_race_task, t) for t in tasks]]
    finally:
        ex.shutdown(wait=True)
    target = settings["target_accuracy"]
    out = {}
    for r in runs:
        t = _steps_to(np.asarray(r["accuracy"])[1:], r["steps"][1:], target)
        out[r["kind"]] = {"sigma_w2": r["sigma_w2"], "sigma_b2": r["sigma_b2"], "steps_to_target": t,
                          "reached": int(np.isfinite(t).sum()), "summary": describe(t),
                          "final_accuracy": np.asarray(r["accuracy"])[-1], "accuracy": r["accuracy"],
                          "eval_steps": r["steps"], "cpu_seconds": r["cpu_seconds"]}
    o = out["tanh orthogonal"]["steps_to_target"]
    # a run that never reached the target counts as the budget (a lower bound on its time): ratios are then ≥
    cap = lambda v: np.where(np.isfinite(v), v, settings["steps"])  # noqa: E731
    ratios = {k: cap(v["steps_to_target"]) / cap(o) for k, v in out.items() if k != "tanh orthogonal"}
    claim = {
        "measured": float(min(np.mean(r) for r in ratios.values())), "paper": "> 1",
        "holds": bool(np.all(np.isfinite(o)) and all(np.all(r > 1) for r in ratios.values())),
        "source": "Pennington, Schoenholz, Ganguli 2017, Resurrecting the sigmoid (§4, training speed)"
                  f": isometric networks train faster (depth {settings['depth']}, MNIST): the smaller of "
                           "the mean speed-ups over seeds (steps of the other kind / steps of orthogonal tanh, same "
                           "seed, unreached counted as the budget); holds if every seed of orthogonal tanh reaches "
                           "the target first"}
    return {"kinds": out, "target_accuracy": target, "speedup": {k: {"per_seed": v, "mean": float(np.mean(v)),
                                                                       "censored": bool(not np.all(np.isfinite(
                                                                           out[k]["steps_to_target"])))}
                                                                   for k, v in ratios.items()},
            "claim": claim, **{k: settings[k] for k in ("depth", "width", "batch", "lr", "steps", "seeds",
                                                        "train_images", "eval_images")},
            "cpu_seconds": float(sum(r["cpu_seconds"] for r in runs))}


def _draw_race(race_numbers: dict, out: Path) -> Figure:
    fig, axes = subplots(1, 1, size=(6.4, 4.2))
    ax = axes[0, 0]
    for kind, r in race_numbers["kinds"].items():
        acc = array(r["accuracy"])
        steps = array(r["eval_steps"])
        for g in range(acc.shape[1]):
            ax.plot(steps, acc[:, g], "-", color=RACE_COLORS[kind], lw=1.2, alpha=0.8,
                    label=f"{kind} (σ_w² = {r['sigma_w2']:.3g}, σ_b² = {r['sigma_b2']:.2g})" if g == 0 else None)
    ax.axhline(race_numbers["target_accuracy"], color="0.4", ls=":", lw=1, label="target")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"depth {race_numbers['depth']}, width {race_numbers['width']}, η = {race_numbers['lr']:g}: "
                 f"one line per seed", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return Figure(save(fig, out / "isometry_race.png",
                       f"Training speed at depth {race_numbers['depth']} on MNIST (Pennington et al. 2017)"),
                  "Training accuracy over SGD steps: orthogonal tanh at q* = 1/64 (dynamical isometry) against "
                  "Gaussian tanh at the same (σ_w², σ_b²) and He relu, each seed a line")


def _write_race(r: dict) -> str:
    rows = []
    for kind, v in r["kinds"].items():
        sm = v["summary"]
        ci = f" [{sm['ci'][0]:.0f}, {sm['ci'][1]:.0f}]" if sm.get("ci") else ""
        mean = f"{sm['mean']:.0f}{ci}" if sm["mean"] is not None else "—"
        sp = r["speedup"].get(kind)
        speed = "1 (reference)" if sp is None else (f"{'≥ ' if sp['censored'] else ''}{sp['mean']:.2g}× "
                                                     f"(seeds: {', '.join(f'{x:.2g}' for x in sp['per_seed'])})")
        rows.append(f"| {kind} | {v['sigma_w2']:.4g} | {v['sigma_b2']:.2g} | {mean} | {v['reached']} of {r['seeds']} | "
                    f"{100 * float(np.mean(array(v['final_accuracy']))):.0f} % | {speed} |")
    c = r["claim"]
    return f"""
**Training speed** (Pennington et al. 2017, §4): networks of depth {r['depth']} and width {r['width']} trained by
SGD (η = {r['lr']:g}, batch {r['batch']}, {r['train_images']} MNIST training images, the same batches for every
kind), and the steps each seed needs before its accuracy on {r['eval_images']} of those images reaches
{100 * r['target_accuracy']:.0f} % (`isometry_race.png`; the tanh inputs are scaled so that the first layer's q is
q*; the interval is the 95 % t-interval over the seeds that reached it):

| network | σ_w² | σ_b² | steps to {100 * r['target_accuracy']:.0f} % | reached | final accuracy ({r['steps']} \
steps) | slower than orthogonal tanh by |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Isometric networks train faster: {'yes' if c['holds'] else '**not shown**'} (every seed of orthogonal tanh reached the
target before the same seed of the others; the smaller mean speed-up is {c['measured']:.2g}×, a lower bound where a
run did not reach the target within the budget). The race took {r['cpu_seconds']:.0f} s of CPU time.
"""


def draw(numbers: dict, out: Path) -> list[Figure]:
    from ..theory import isometry as iso  # here: its scipy.special only where it is used

    res, depths = numbers["results"], numbers["depths"]
    deepest = max(depths)
    fig, axes = subplots(2, 3, size=(3.6, 2.8), sharex=True)
    lo, hi = -6.0, 1.5
    bins = np.linspace(lo, hi, 46)
    for i, (act, weights) in enumerate(CONFIGS):
        ax = axes[i // 3, i % 3]
        key = f"{act} {weights}"
        lam = array(numbers["series"]["lambda_deepest"][key])
        u = 0.5 * np.log10(np.maximum(lam, 1e-300))
        below = float(np.mean(u < lo))
        # densities of the whole sample: the values below 1e-6 (relu's exact zeros among them) are in the note
        ax.hist(u[u >= lo], bins=bins, weights=np.full(int(np.sum(u >= lo)), 1.0 / (len(u) * (bins[1] - bins[0]))),
                color=COLORS[act], alpha=0.6, histtype="stepfilled", label="measured")
        if key == "linear gaussian":
            lam_t, rho = iso.fuss_catalan_density(deepest, 4000)
            ut = 0.5 * np.log10(lam_t)
            keep = ut >= lo
            ax.plot(ut[keep], (rho * lam_t * 2 * np.log(10))[keep], "k-", lw=1, label="Fuss–Catalan (N → ∞)")
            ax.legend(fontsize=7, loc="upper left")
        if below > 0:
            ax.text(0.03, 0.6, f"{100 * below:.0f} % below 1e-6\n(not drawn)", transform=ax.transAxes, fontsize=8)
        d = res[key]["depths"][str(deepest)]
        ax.axvline(0.0, color="0.3", lw=0.8, ls=":")
        ax.set_xlim(lo, hi)
        ax.set_title(f"{key}: var λ {d['var']:.3g} (theory {d['theory_var']:.3g})", fontsize=9)
        if i // 3 == 1:
            ax.set_xlabel("log10 singular value of J")
        if i % 3 == 0:
            ax.set_ylabel("density")
    figures = [Figure(save(fig, out / "isometry_hist.png",
                           f"Singular values of the input–output Jacobian at depth {deepest}, width "
                           f"{numbers['width']}"),
                      "Histograms of log10 of J's singular values at initialization, each network at criticality: "
                      "orthogonal linear is a spike at 1, orthogonal tanh at q* = 1/64 stays near 1, Gaussian "
                      "weights and relu spread over decades")]
    fig, axes = subplots(1, 1, size=(6.4, 4.2))
    ax = axes[0, 0]
    Ls = np.array(depths, dtype=float)
    for act, weights in CONFIGS:
        key = f"{act} {weights}"
        v = np.array([res[key]["depths"][str(L)]["var"] for L in depths])
        t = np.array([res[key]["depths"][str(L)]["theory_var"] for L in depths])
        if np.all(t == 0):  # orthogonal linear: exactly 0 in theory, round-off measured; not on a log axis
            continue
        ls = "-" if weights == "gaussian" else "--"
        mk = "o" if weights == "gaussian" else "s"
        ax.plot(Ls, v, mk, color=COLORS[act], ms=6, mfc="none" if weights == "orthogonal" else COLORS[act])
        ax.plot(Ls, t, ls, color=COLORS[act], lw=1.2, label=f"{key}: theory {t[-1] / Ls[-1]:.3g}·L")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel("variance of λ (squared singular values)")
    ax.set_title("markers measured (filled Gaussian, open orthogonal), lines theory;\northogonal linear: "
                 f"0 in theory, {max(res['linear orthogonal']['depths'][str(L)]['var'] for L in depths):.1g} "
                 "measured (not drawn)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    figures.append(Figure(save(fig, out / "isometry_variance.png",
                               f"Variance of JJᵀ's spectrum against depth (width {numbers['width']})"),
                          "Variance of the squared singular values against depth: measured against "
                          "L(μ₂/μ₁² − 1 − s₁) (Pennington et al. 2017)"))
    if "race" in numbers:
        figures.append(_draw_race(numbers["race"], out))
    return figures


def _check_row(key: str, v: dict) -> str:
    if "paper" not in v:  # a number reported beside the checks, not a check
        return f"| `{key}` | {v['measured']:.4g} | — | — | — | {v['note']} |"
    tol = f"{v['tolerance']:.2g}" + (" rel." if v["relative"] else "")
    return (f"| `{key}` | {v['measured']:.4g} | {v['paper']:.4g} | {tol} | {'yes' if v['holds'] else '**no**'} | "
            f"{v['source']} |")


def write(numbers: dict) -> str:
    res, depths, cl = numbers["results"], numbers["depths"], numbers["claims"]
    deepest = str(max(depths))
    rows = []
    for act, weights in CONFIGS:
        key = f"{act} {weights}"
        cells = " | ".join(f"{res[key]['depths'][str(L)]['var']:.3g} ({res[key]['depths'][str(L)]['theory_var']:.3g})"
                           for L in depths)
        rows.append(f"| {key} | {res[key]['sigma_w2']:.4g} | {cells} |")
    head = " | ".join(f"L = {L}" for L in depths)
    checks = "\n".join(_check_row(k, v) for k, v in cl.items())
    tg, to = res["tanh gaussian"]["depths"][deepest], res["tanh orthogonal"]["depths"][deepest]
    return f"""
Backpropagation multiplies the error by the input–output Jacobian J = Π D^l W^l, so J's singular values say
how evenly a deep network passes gradients at initialization. At criticality (χ₁ = 1) the mean squared singular
value is 1 at every depth, but the spread is not: free probability gives its variance as L(μ₂/μ₁² − 1 − s₁),
μ_k = E[φ′(√q* z)^{{2k}}], s₁ = −1 for Gaussian and 0 for orthogonal weights (Pennington, Schoenholz, Ganguli
2017). Measured here on {numbers['networks']} network(s) of width {numbers['width']} per kind (`isometry_hist.png`
at depth {deepest}, `isometry_variance.png` against depth): orthogonal linear networks are exactly isometric
(largest deviation of a singular value from 1: {cl['orthogonal_linear_is_isometric']['measured']:.1g}); Gaussian
linear ones spread like L (Fuss–Catalan: the largest λ at depth {numbers['check_depth']} is
{cl['linear_gaussian_max_at_fuss_catalan_edge']['measured']:.3g} against the edge
{cl['linear_gaussian_max_at_fuss_catalan_edge']['paper']:.3g}); relu, whose φ′ is 0 or 1, adds L to either; and
tanh at q* = 1/64, where φ′ ≈ 1 over the inputs it sees, is almost isometric with orthogonal weights (variance
{to['var']:.3g} at depth {deepest}, theory {to['theory_var']:.3g}; {100 * to['within_2x_of_1']:.0f} % of the
singular values within a factor 2 of 1) but not with Gaussian ones (variance {tg['var']:.3g}, theory
{tg['theory_var']:.3g}; {100 * tg['within_2x_of_1']:.0f} % within a factor 2). The theory holds for N → ∞ at
fixed L: where L is a sizeable fraction of N the measured variance of the Gaussian and relu kinds departs from it
in either direction, because it is carried by the few largest singular values, which a network of width N samples
poorly once L is not ≪ N; the checks are therefore made at depth {numbers['check_depth']} (and orthogonal tanh, whose
spectrum has no such tail, at the deepest L).

Variance of λ, measured (theory):

| network | σ_w² | {head} |
|---|---|{'---|' * len(depths)}
{chr(10).join(rows)}

| check | measured | paper or theory | tolerance | holds | source |
|---|---|---|---|---|---|
{checks}
""" + (_write_race(numbers["race"]) if "race" in numbers else "")


STUDY = Study(
    name="isometry",
    title="Dynamical isometry: the Jacobian's singular values at initialization",
    description="linear/relu/tanh × Gaussian/orthogonal at criticality: spectrum of J = Π D W against "
                "L(μ₂/μ₁² − 1 − s₁) and the Fuss–Catalan law",
    source="Pennington, Schoenholz, Ganguli 2017, Resurrecting the sigmoid in deep learning through dynamical "
           "isometry (§2–3)",
    works=("pennington2017",),
    reproduces=("orthogonal linear: every singular value 1 (1e-9)",
                "mean squared singular value χ₁^L = 1 at criticality",
                "variance of λ ≈ L (Gaussian linear), 2L (relu Gaussian), L (relu orthogonal) at L ≪ N (±25 %)",
                "Gaussian linear: largest λ at the Fuss–Catalan edge (L+1)^(L+1)/L^L (±20 %)",
                "orthogonal tanh at q* = 1/64: variance L(μ₂/μ₁² − 1) (±20 %), ≥ 95 % of singular values within a "
                "factor 2 of 1 at the deepest L",
                "training speed at depth 200 on MNIST: orthogonal tanh at q* = 1/64 reaches the target accuracy before "
                "Gaussian tanh and He relu, seed by seed (speed-up measured, with the steps' intervals)"),
    measure=measure, draw=draw, write=write,
    reference={"width": 400, "depths": [1, 4, 10, 50, 200], "networks": 3, "check_depth": 10,
               "mean_tolerance": 0.15, "var_tolerance": 0.25, "edge_tolerance": 0.2, "tanh_var_tolerance": 0.2,
               "race": {"depth": 200, "width": 128, "batch": 32, "lr": 0.0025, "steps": 600, "eval_every": 25,
                        "train_images": 5000, "eval_images": 500, "seeds": 3, "target_accuracy": 0.6}},
    quick={"width": 200, "depths": [1, 4, 16, 32], "networks": 2, "check_depth": 4,
           "mean_tolerance": 0.15, "var_tolerance": 0.25, "edge_tolerance": 0.2, "tanh_var_tolerance": 0.2,
           "race": {"depth": 48, "width": 48, "batch": 32, "lr": 0.01, "steps": 250, "eval_every": 25,
                    "train_images": 2000, "eval_images": 300, "seeds": 3, "target_accuracy": 0.5}},
    claims=("claims", "race"),
)
