"""deep-linear: a deep linear network learning a linear map, one singular mode at a time (Saxe, McClelland,
Ganguli 2014, *Exact solutions to the nonlinear dynamics of learning in deep linear neural networks*).

The target is y = x T with T = V diag(s) Uᵀ, N = 8 inputs and outputs, singular values s = 3, 1.5, 0.75, 0.375
(the other four 0), on P = 64 exactly whitened inputs (XᵀX = P·I). `mlplab.nn.MLP` with identity activations,
no biases, float64, trained by full-batch gradient descent (`mlplab.optim.SGD`, learning rate λ) on
`MSELoss` (mean over examples and outputs), so the learning rule's time constant is τ = N/(2λ) steps. Three runs:
D = 2 and D = 4 weight layers from the paper's decoupled initial conditions (every layer aligned with T's modes,
each contributing u₀^{1/D} to every mode, u₀ = 0.01), and D = 2 from small random Gaussian weights (std 0.05).
The strength of mode α in the network's map, u_α = v_αᵀ W₁⋯W_D u_α, is measured every step against
`mlplab.theory.deep_linear.mode_strength`: the closed form u(t) = s e^{2st/τ}/(e^{2st/τ} − 1 + s/u₀) for D = 2,
the integrated τ du/dt = D u^{2−2/D}(s − u) for D = 4. Gradient descent is the flow discretized with steps of
1/τ of its time constant, so the measured curves lag the flow by a few steps: the half-learning times agree to
~1 % at τ = 100 (the checks allow 2 %), and the trajectories to ~2 % of s for D = 2 (allowed 5 %); D = 4's sharper
transitions turn the same lag into a larger gap in u, reported but not checked.

Time to learn against depth (settings ``time_vs_depth``, the paper's §4): the same map learned by networks of
D = 2 … 64 layers from random orthogonal weights (every layer Haar-orthogonal: the product is orthogonal, all
its singular values 1) or scaled Gaussian ones (N(0, 1/N): the product's singular values spread and shrink with
depth at width N), full-batch gradient descent at η = c/D (the balanced network's flow moves ∝ D·η) with c the
best of a few per depth and initialization, as the paper tuned the rate per depth; time = steps until the loss is
below a fraction of the zero map's. All inits, seeds and factors of one depth are one `MLP(stack=G)`; the depths
run on the sweep's executor. The claims: the orthogonal time stops growing with depth (a finite, depth-independent
delay), the Gaussian time grows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..nn import MLP, MSELoss
from ..optim import SGD
from ..tensor import Tensor
from ..theory import deep_linear as dl
from .base import Context, Figure, Study, array
from .plots import save, subplots

N, P = 8, 64
S = np.array([3.0, 1.5, 0.75, 0.375])
U0 = 1e-2
SOURCE = "Saxe, McClelland, Ganguli 2014, Exact solutions to the nonlinear dynamics of learning in deep linear networks"
COLORS = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"]
# the inits of the time-vs-depth runs: Saxe et al.'s decoupled balanced condition at u₀ = 1 (each layer orthogonal,
# the product aligned with the task's modes), random orthogonal layers, scaled Gaussian N(0, 1/N)
TIME_INITS = ("balanced orthogonal", "random orthogonal", "gaussian")
TIME_STYLE = {"balanced orthogonal": ("#2ca02c", "s"), "random orthogonal": ("#9467bd", "^"),
              "gaussian": ("#1f77b4", "o")}


def _problem(rng):
    U, _ = np.linalg.qr(rng.standard_normal((N, N)))
    V, _ = np.linalg.qr(rng.standard_normal((N, N)))
    s_full = np.concatenate([S, np.zeros(N - len(S))])
    T = V @ np.diag(s_full) @ U.T
    Q, _ = np.linalg.qr(rng.standard_normal((P, N)))
    X = np.sqrt(P) * Q  # XᵀX = P·I: whitened inputs
    return U, V, T, X, X @ T


def _run(depth: int, init: str, lr: float, steps: int, rng) -> dict:
    U, V, T, X, Y = _problem(rng)
    net = MLP([N] * (depth + 1), activation="identity", bias=False, dtype=np.float64,
              weight_init="normal(0, 0.05)", rng=rng)
    if init == "decoupled":  # W₁ = V diag(a) R₁ᵀ, W_k = R_{k−1} diag(a) R_kᵀ, W_D = R_{D−1} diag(a) Uᵀ, a = u₀^{1/D}
        a = np.full(N, U0 ** (1.0 / depth))
        R = [V] + [np.linalg.qr(rng.standard_normal((N, N)))[0] for _ in range(depth - 1)] + [U]
        for k, lin in enumerate(net.linears):
            lin.weight.data[...] = R[k] @ np.diag(a) @ R[k + 1].T
    opt = SGD(net.parameters(), lr=lr)
    loss_fn = MSELoss()
    Xt = Tensor(X)
    u = np.empty((steps + 1, len(S)))
    losses = np.empty(steps + 1)
    for t in range(steps + 1):
        weights = [lin.weight.data for lin in net.linears]
        prod = np.linalg.multi_dot(weights) if depth > 1 else weights[0]
        u[t] = np.einsum("ia,ij,ja->a", V[:, :len(S)], prod, U[:, :len(S)])
        loss = loss_fn(net(Xt), Y)
        losses[t] = float(loss.data)
        if t == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"u": u, "loss": losses, "u0_measured": u[0]}


def measure(settings: dict, ctx: Context) -> dict:
    lr, steps = settings["lr"], settings["steps"]
    tau = N / (2 * lr)
    runs = {"D=2 decoupled": (2, "decoupled"), "D=4 decoupled": (4, "decoupled"), "D=2 small random": (2, "random")}
    ctx.plan(len(runs))
    out, claims = {}, {}
    t = np.arange(steps + 1)
    for i, (key, (depth, init)) in enumerate(runs.items()):
        r = _run(depth, init, lr, steps, ctx.rng(i))
        theory = dl.mode_strength(t[:, None], S[None, :], U0, tau, depth) if init == "decoupled" else None
        half = np.array([np.argmax(r["u"][:, a] >= S[a] / 2) if (r["u"][:, a] >= S[a] / 2).any() else np.nan
                         for a in range(len(S))], dtype=float)
        out[key] = {"depth": depth, "init": init, "u": r["u"], "loss": r["loss"], "half_time": half,
                    "theory": theory}
        if theory is not None:
            dev = float(np.max(np.abs(r["u"] - theory) / S))
            ht = dl.half_time(S, U0, tau, depth)
            name = key.replace(" ", "_").replace("=", "")
            claims[f"{name}_half_times"] = {
                "measured": float(np.max(np.abs(half / ht - 1))), "paper": 0.0, "tolerance": 0.02,
                "source": SOURCE + f": steps to s/2 against {'τ/(2s) ln(s/u₀ − 1)' if depth == 2 else 'the ODE'}, "
                                   "relative, max over modes"}
            claims[f"{name}_half_times"]["holds"] = bool(claims[f"{name}_half_times"]["measured"] <= 0.02)
            if depth == 2:
                claims[f"{name}_trajectories"] = {
                    "measured": dev, "paper": 0.0, "tolerance": 0.05, "holds": bool(dev <= 0.05),
                    "source": SOURCE + ": the closed form; largest distance between u and it over modes and steps, "
                                       "in units of s"}
            else:
                claims[f"{name}_trajectories"] = {
                    "measured": dev,
                    "note": "largest distance between u and the ODE over modes and steps, in units of s: the few "
                            "steps' lag of gradient descent behind the flow, at D = 4's sharp transitions"}
            out[key]["half_time_theory"] = ht
        ctx.advance()
    hr = out["D=2 small random"]["half_time"]
    ordered = bool(np.all(np.isfinite(hr)) and np.all(np.diff(hr) > 0))
    claims["random_init_learns_strong_modes_first"] = {
        "measured": ordered, "paper": True, "holds": ordered,
        "source": SOURCE + ": from small random weights the modes are learned in the order of s (one seed)"}
    extra = {}
    if settings.get("time_vs_depth"):
        extra["time_vs_depth"] = time_vs_depth(settings["time_vs_depth"], ctx)
    return {**extra, "claims": claims, "tau": tau, "lr": lr, "steps": steps, "s": S, "u0": U0,
            "half_time_theory": {k: v["half_time_theory"] for k, v in out.items() if "half_time_theory" in v},
            "half_times": {k: v["half_time"] for k, v in out.items()},
            "series": {k: {kk: vv for kk, vv in v.items() if kk not in ("half_time", "half_time_theory")}
                       for k, v in out.items()}}


def _time_task(task: dict) -> dict:
    """Time to learn of deep linear networks of one depth: every init × seed × learning-rate factor as one
    ``MLP(stack=G)``, trained by full-batch gradient descent until each member's loss is below the criterion.

    Member g's learning rate is c_g/D: one SGD with η = 1/D on the loss Σ_g c_g·L_g gives member g the gradient
    c_g ∇L_g, the same as its own SGD at η = c_g/D. A pure function of ``task``."""
    from ..init import orthogonal
    from ..tensor import no_grad

    depth, seeds, factors, steps = task["depth"], task["seeds"], task["lr_factors"], task["max_steps"]
    U, V, T, X, Y = _problem(np.random.default_rng(task["problem_seed"]))
    members = [(init, s, c) for init in TIME_INITS for s in seeds for c in factors]
    G = len(members)
    net = MLP([N] * (depth + 1), activation="identity", bias=False, dtype=np.float64, weight_init="zeros", stack=G)
    for g, (init, s, _) in enumerate(members):
        rng = np.random.default_rng([s, depth])
        if init == "balanced orthogonal":  # W_k = R_{k−1} R_kᵀ, R_0 = V, R_D = U: every layer orthogonal, W₁⋯W_D = V Uᵀ
            R = [V] + [orthogonal((N, N), rng, np.float64) for _ in range(depth - 1)] + [U]
            for k, lin in enumerate(net.linears):
                lin.weight.data[g] = R[k] @ R[k + 1].T
            continue
        for lin in net.linears:  # random orthogonal (scale 1), or scaled Gaussian N(0, 1/N)
            lin.weight.data[g] = (orthogonal((N, N), rng, np.float64) if init == "random orthogonal"
                                  else rng.standard_normal((N, N)) / np.sqrt(N))
    c = np.array([m[2] for m in members], dtype=np.float64)[:, None, None]
    opt = SGD(net.parameters(), lr=1.0 / depth)
    Xt, zero_loss = Tensor(X), float(np.mean(Y ** 2))
    done = np.full(G, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            out = net(Xt)
            err = out - Tensor(np.broadcast_to(Y, out.shape))
            per = (err.data ** 2).mean(axis=(1, 2))
            newly = np.isnan(done) & (per <= task["criterion"] * zero_loss)
            done[newly] = t
            if t == steps or not np.isnan(done).any():
                break  # (each member's final loss is checked below: one that crossed and left is not counted)
            opt.zero_grad()
            ((err * err) * (Tensor(c) / (X.shape[0] * N))).sum().backward()
            opt.step()
    with no_grad():
        final = ((net(Xt).data - Y) ** 2).mean(axis=(1, 2)) / zero_loss
    done[~(final <= task["criterion"])] = np.nan  # crossed it on the way to diverging or oscillating: not learned
    return {"depth": depth, "members": members, "steps_to_criterion": done, "final_relative_loss": final}


def time_vs_depth(settings: dict, ctx: Context) -> dict:
    """Steps to learn against depth for orthogonal and scaled-Gaussian inits (Saxe et al. 2014, §4), at η = c/D
    with one factor c per initialization for every depth: the factor whose median times over the depths are
    smallest (geometric mean; an unlearned run counts as the budget). The paper tuned the rate per depth; a
    single c per init keeps the 1/D scaling the argument rests on and lets the depth alone change."""
    from ..sweep.executor import make_executor
    from ..sweep.stats import describe

    tasks = [{"depth": D, "seeds": [ctx.seed * 100 + k for k in range(settings["seeds"])],
              "lr_factors": settings["lr_factors"], "max_steps": settings["max_steps"],
              "criterion": settings["criterion"], "problem_seed": ctx.seed} for D in settings["depths"]]
    ex = make_executor("local", workers=min(ctx.workers, len(tasks)))
    try:
        runs = [f.result() for f in [ex.submit(_time_task, t) for t in sorted(tasks, key=lambda t: -t["depth"])]]
    finally:
        ex.shutdown(wait=True)
    runs.sort(key=lambda r: r["depth"])
    budget = settings["max_steps"]
    table = {init: {} for init in TIME_INITS}
    chosen = {}
    for init in TIME_INITS:
        steps = {}  # (c, depth) -> the seeds' steps (NaN: not learned within the budget)
        for r in runs:
            for c in settings["lr_factors"]:
                steps[c, r["depth"]] = np.array([r["steps_to_criterion"][g] for g, m in enumerate(r["members"])
                                                 if m[0] == init and m[2] == c])

        typical = {c: np.mean([np.log(np.median(np.where(np.isfinite(steps[c, r["depth"]]), steps[c, r["depth"]],
                                                          budget))) for r in runs])
                   for c in settings["lr_factors"]}  # the factor's typical time over all depths (unlearned: budget)
        c = chosen[init] = min(settings["lr_factors"], key=typical.get)
        for r in runs:
            t = steps[c, r["depth"]]
            table[init][str(r["depth"])] = {"lr_factor": c, "lr": c / r["depth"], "steps": t,
                                            "reached": int(np.isfinite(t).sum()), "seeds": len(t),
                                            "summary": describe(t, bounds=(0.0, float(budget))),
                                            "median": float(np.median(np.where(np.isfinite(t), t, budget)))}
    depths = [str(D) for D in settings["depths"]]
    med = {init: np.array([table[init][d]["median"] for d in depths]) for init in table}
    o, g = med["balanced orthogonal"], med["gaussian"]
    deep = np.array([int(d) >= settings["flat_from"] for d in depths])
    flat = float(o[deep].max() / o[deep].min())
    claims = {
        "orthogonal_time_flat": {
            "measured": flat, "paper": 1.0, "tolerance": settings["flat_tolerance"],
            "holds": bool(flat <= 1 + settings["flat_tolerance"] and np.all(o < budget)),
            "source": SOURCE + ": from the balanced (decoupled, orthogonal) initial condition learning takes a finite, "
                               "depth-independent time as the depth grows; the largest over smallest median steps "
                               f"over depths ≥ {settings['flat_from']}"},
        "gaussian_time_grows": {
            "measured": float(g[-1] / g[0]), "paper": "grows", "tolerance": settings["growth_min"],
            "holds": bool(g[-1] / g[0] >= settings["growth_min"]),
            "source": SOURCE + f": with scaled Gaussian weights the time grows with depth; median steps at depth "
                               f"{depths[-1]} over depth {depths[0]} (a run that never learns counts as the budget "
                               f"{budget}: a lower bound)"}}
    return {"claims": claims, "table": table, "depths": settings["depths"], "max_steps": budget,
            "flat_from": settings["flat_from"], "lr_factor": chosen,
            "criterion": settings["criterion"], "lr_factors": settings["lr_factors"], "seeds": settings["seeds"]}


def _draw_time(tv: dict, out: Path) -> Figure:
    fig, axes = subplots(1, 1, size=(6.0, 4.0))
    ax = axes[0, 0]
    depths = np.array(tv["depths"], dtype=float)
    for init, (color, mk) in TIME_STYLE.items():
        rows = [tv["table"][init][str(int(D))] for D in depths]
        med = np.array([r["median"] for r in rows])
        steps = [array(r["steps"]) for r in rows]
        for D, st in zip(depths, steps):
            shown = np.where(np.isfinite(st), st, tv["max_steps"])
            ax.plot(np.full(len(st), D), shown, mk, color=color, ms=3, alpha=0.4)
        ax.plot(depths, med, "-" + mk, color=color, lw=1.5,
                label=f"{init} (median over seeds, η = {tv['lr_factor'][init]:g}/D)")
    ax.axhline(tv["max_steps"], color="0.5", ls=":", lw=1, label=f"budget ({tv['max_steps']} steps: not learned)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("depth D (weight layers)")
    ax.set_ylabel(f"steps until the loss ≤ {tv['criterion']:g} × the zero map's")
    ax.set_title("time to learn against depth (dots: seeds)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return Figure(save(fig, out / "deep_linear_time.png", "Time to learn against depth (Saxe et al. 2014)"),
                  "Steps of gradient descent to learn the map, per depth at its best learning rate: random orthogonal "
                  "weights against scaled Gaussian N(0, 1/N)")


def _verdict(claim: dict) -> str:
    return "holds" if claim["holds"] else "**does not hold**"


def _write_time(tv: dict) -> str:
    rows = []
    for D in tv["depths"]:
        cells = []
        for init in TIME_INITS:
            r = tv["table"][init][str(D)]
            sm = r["summary"]
            ci = f" [{sm['ci'][0]:.0f}, {sm['ci'][1]:.0f}]" if sm.get("ci") and r["reached"] == r["seeds"] else ""
            med = f"{r['median']:.0f}" if r["reached"] * 2 > r["seeds"] else f"≥ {tv['max_steps']} (not learned)"
            cells.append(f"{med}{ci} ({r['reached']}/{r['seeds']}, η = {r['lr']:.3g})")
        rows.append(f"| {D} | {' | '.join(cells)} |")
    cl = tv["claims"]
    return f"""
**Time to learn against depth** (Saxe et al. 2014, §4): deep linear networks (N = {N}) learning the same map by
full-batch gradient descent, {tv['seeds']} seeds per depth and initialization, at η = c/D with one factor per
initialization, the best of c ∈ {{{', '.join(f'{c:g}' for c in tv['lr_factors'])}}} over all depths (chosen:
{', '.join(f'{k} {v:g}' for k, v in tv['lr_factor'].items())}; a run counts only if it ends below the
criterion), time = steps until the loss falls below {tv['criterion']:g} of the zero
map's (`deep_linear_time.png`). Median steps [95 % t-interval of the mean over seeds, cut at 0, when all reached
it] (seeds that reached it, η):

| D | balanced orthogonal | random orthogonal | scaled Gaussian N(0, 1/N) |
|---|---|---|---|
{chr(10).join(rows)}

From the balanced condition (every layer orthogonal, the product V Uᵀ aligned with the map's modes: each mode
starts at strength 1) the flow τ du/dt = D u^{{2−2/D}}(s − u) at η = c/D tends to a depth-independent one as D grows,
so the time stops growing: over depths ≥ {tv['flat_from']} (largest over smallest median
{cl['orthogonal_time_flat']['measured']:.2g}, allowed
{1 + cl['orthogonal_time_flat']['tolerance']:.2g}: {_verdict(cl['orthogonal_time_flat'])}). Random orthogonal layers
(isometric, but their product not aligned with the modes: some start near 0 or negative) are reported beside it.
A product of scaled Gaussian matrices has singular values spread over decades that shrink with depth at width N
(the Lyapunov spectrum), so its weak modes start near 0 and wait on a plateau: the time grows
({cl['gaussian_time_grows']['measured']:.2g}× from depth {tv['depths'][0]} to {tv['depths'][-1]}, required ≥
{cl['gaussian_time_grows']['tolerance']:g}: {_verdict(cl['gaussian_time_grows'])}).
"""


def draw(numbers: dict, out: Path) -> list[Figure]:
    runs = numbers["series"]
    s = array(numbers["s"])
    fig, axes = subplots(1, 3, size=(4.2, 3.4), sharey=True)
    for ax, (key, r) in zip(axes[0], runs.items()):
        u = array(r["u"])
        t = np.arange(len(u))
        every = max(1, len(t) // 60)
        for a in range(len(s)):
            ax.plot(t[::every], u[::every, a] / s[a], "o", ms=3, color=COLORS[a], label=f"s = {s[a]:g}")
            if r["theory"] is not None:
                ax.plot(t, array(r["theory"])[:, a] / s[a], "-", lw=1, color=COLORS[a])
        ax.set_xlabel("gradient-descent step")
        ax.set_title(key + (" (lines: theory)" if r["theory"] is not None else " (no theory line)"), fontsize=10)
        ax.set_ylim(-0.05, 1.1)
    axes[0, 0].set_ylabel("mode strength u_α / s_α")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    figures = [Figure(save(fig, out / "deep_linear_modes.png",
                           f"Deep linear networks learn mode by mode (τ = {numbers['tau']:g} steps)"),
                      "Strength of each singular mode of the network's map over training: measured (dots) against "
                      "Saxe et al.'s closed form (D = 2) and integrated ODE (D = 4), and from small random weights")]
    if "time_vs_depth" in numbers:
        figures.append(_draw_time(numbers["time_vs_depth"], out))
    return figures


def _check_row(key: str, v: dict) -> str:
    if "holds" not in v:  # reported beside the checks
        return f"| `{key}` | {v['measured']:.3g} | — | — | — | {v['note']} |"
    got = v["measured"] if isinstance(v["measured"], bool) else f"{v['measured']:.3g}"
    return (f"| `{key}` | {got} | {v['paper']} | {v.get('tolerance', '—')} | {'yes' if v['holds'] else '**no**'} | "
            f"{v['source']} |")


def write(numbers: dict) -> str:
    cl = numbers["claims"]
    h, ht = numbers["half_times"], numbers["half_time_theory"]
    rows = "\n".join(f"| {s:g} | {array(ht['D=2 decoupled'])[a]:.1f} | {array(h['D=2 decoupled'])[a]:.0f} | "
                     f"{array(ht['D=4 decoupled'])[a]:.1f} | {array(h['D=4 decoupled'])[a]:.0f} | "
                     f"{array(h['D=2 small random'])[a]:.0f} |" for a, s in enumerate(numbers["s"]))
    checks = "\n".join(_check_row(k, v) for k, v in cl.items())
    return f"""
A deep linear network computes a linear map, yet its training is nonlinear: Saxe, McClelland and Ganguli (2014)
show that from initial weights aligned with the target's singular modes each mode grows on its own, along
u(t) = s e^{{2st/τ}}/(e^{{2st/τ}} − 1 + s/u₀) for one hidden layer: a plateau while u is small, then a sudden rise at
t ≈ τ/(2s) ln(s/u₀). The strongest mode is learned first, the weakest last, and a deeper network (D = 4) has longer
plateaus and sharper transitions (τ du/dt = D u^{{2−2/D}}(s − u)). `deep_linear_modes.png` measures each mode's
strength in `mlplab.nn.MLP` networks trained by plain gradient descent (λ = {numbers['lr']}, τ = {numbers['tau']:g}
steps) against the theory; from small random weights (right) the modes are not aligned at the start, yet they are
learned in the same order with the same plateaus.

Steps to reach half of each mode's strength, measured and from the theory:

| s | theory, D = 2 | D = 2 decoupled | theory, D = 4 | D = 4 decoupled | D = 2 small random |
|---|---|---|---|---|---|
{rows}

| check | measured | paper or theory | tolerance | holds | source |
|---|---|---|---|---|---|
{checks}
""" + (_write_time(numbers["time_vs_depth"]) if "time_vs_depth" in numbers else "")


STUDY = Study(
    name="deep-linear",
    title="Deep linear networks learn one singular mode at a time",
    description="mode strengths of D = 2 and 4 linear networks under gradient descent against Saxe et al.'s "
                "closed form; plateaus, transitions, strong modes first",
    source="Saxe, McClelland, Ganguli 2014, Exact solutions to the nonlinear dynamics of learning in deep linear "
           "neural networks (§1–3)",
    works=("saxe2014",),
    reproduces=("each mode's strength u(t) = s e^(2st/τ)/(e^(2st/τ) − 1 + s/u₀) for D = 2 (within 5 % of s)",
                "half-learning times: τ/(2s) ln(s/u₀ − 1) for D = 2, the integral of τ du/dt = D u^(2−2/D)(s − u) "
                "for D = 4 (2 %)", "from small random weights, modes learned in the order of s",
                "time to learn against depth: flat (saturating) for random orthogonal weights, growing for scaled "
                "Gaussian ones"),
    measure=measure, draw=draw, write=write,
    reference={"lr": 0.02, "steps": 3000,
               "time_vs_depth": {"depths": [2, 4, 8, 16, 32, 64], "seeds": 3, "max_steps": 2000, "criterion": 0.01,
                                 "lr_factors": [0.35, 0.5, 0.7, 1.0, 1.4, 2.0], "flat_from": 16,
                                 "flat_tolerance": 0.5, "growth_min": 5.0}},
    quick={"lr": 0.04, "steps": 1500,
           "time_vs_depth": {"depths": [2, 16, 32], "seeds": 3, "max_steps": 600, "criterion": 0.01,
                             "lr_factors": [0.5, 0.7, 1.0, 2.0], "flat_from": 16,
                             "flat_tolerance": 0.5, "growth_min": 5.0}},
    claims=("claims", "time_vs_depth"),
)
