"""A check-up of a network's initialization, layer by layer, against theory.

For a fresh network (``--layers 784,256,256,10 --activation tanh --init he``) or a trained one
(``mlplab diagnose RUN_DIR``, a directory written by ``mlplab train``), on one batch of real MNIST
(default) or of Gaussian input (``--input-std S``), :func:`diagnose_model` measures per layer,
with :func:`mlplab.diagnostics.probe`:

* the activation mean and std, the fraction saturated (sigmoid/tanh within 0.01 of a bound) or
  dead (ReLU units zero on every example of the batch), the weight-gradient norm ‖∂L/∂W‖;
* after a few optimizer steps through the real :class:`~mlplab.train.Trainer` (default 5 SGD
  steps, ``--optimizer/--lr``), the size of the last update relative to the weights ‖ΔW‖/‖W‖
  (the :class:`~mlplab.diagnostics.StatsRecorder`), the total change ‖W − W₀‖/‖W₀‖, and how many
  distinct units each layer still has (:func:`~mlplab.diagnostics.count_distinct_units`);

beside what the mean-field theory of :mod:`mlplab.diagnostics` predicts for that init and
activation (Var z_l = n σ² E[φ(z_{l-1})²]; the expected activation std and saturated fraction for
z ~ N(0, Var z_l); the weight-gradient norms anchored at the measured output gradient).

Verdicts, per layer (the first rule that applies, in this order):

========== =========================================================================================
symmetric  all weights of the layer are equal (e.g. zero init): every unit computes and learns the
           same thing
dead       ReLU: more than 50 % of the layer's units output 0 on every example of the batch, or
           more than 90 % of all its outputs are 0
symmetric  a hidden layer's units are still all identical after the steps (checked after "dead":
           units that are all 0 are trivially identical)
saturating sigmoid/tanh: more than 40 % of the activations lie within 0.01 of the bounds
exploding  the activation std is more than 10x the input's (signal gain > 10), or the gradient
           ‖∂L/∂z_l‖ is more than 100x the output layer's (gradient gain > 100), or values are
           not finite (or training diverged within the steps)
vanishing  signal gain < 0.1, or gradient gain < 0.01
healthy    none of the above
========== =========================================================================================

The overall verdict is "symmetric" if any layer is, else that of the first layer (from the input)
that is not healthy: problems compound from there (a 50-layer ReLU net with σ² = 3/n explodes from
the start, and only its last, narrowest layers also lose units); "exploding" if training diverged
within the steps although every layer looked healthy. The recommendation comes from
a table keyed by (activation, init family) — e.g. tanh with He: n σ² = 2 doubles the variance per
layer while tanh is linear; use xavier_normal — or, if the init matches the activation, from the
verdict (a dead network after training: lower the learning rate, etc.).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from . import diagnostics as dg
from .activations import canonical_activation
from .init import init_family as _init_family
from .init import theoretical_std
from .settings import DIAGNOSE_DEFAULTS, parse_layers

__all__ = ["diagnose_model", "diagnose_config", "diagnose_run", "init_family",
           "recommendation", "VERDICTS", "THRESHOLDS"]

VERDICTS = ("symmetric", "dead", "saturating", "exploding", "vanishing", "healthy")  # per-layer rule order
THRESHOLDS = {
    "dead_units": 0.5,  # fraction of ReLU units zero on the whole batch
    "zero_outputs": 0.9,  # fraction of ReLU outputs that are zero
    "saturated": 0.4,  # fraction of sigmoid/tanh activations within SATURATION_EPS of a bound
    "signal_high": 10.0,  # activation std / input std
    "signal_low": 0.1,
    "grad_high": 100.0,  # ‖∂L/∂z_l‖ / ‖∂L/∂z_L‖
    "grad_low": 0.01,
}
DEFAULTS = DIAGNOSE_DEFAULTS  # mlplab.settings holds them, with the checks of every option


# ------------------------------------------------------------------------------ init families
def init_family(spec, activation: str | None = None) -> str:
    """The family of an init spec, from the initializer registry (:func:`mlplab.init.init_family`):
    he, xavier, lecun, torch, orthogonal, identity, constant, fixed (an explicit std / distribution),
    or other."""
    return _init_family(spec, activation)


def _matched_init(activation: str) -> str:
    return "he" if activation in ("relu", "leaky_relu") else "xavier_normal"


def _small_signal_factor(activation: str, n_sigma2: float) -> float:
    """Var z_{l+1} / Var z_l while the activation is in its small-signal regime: n σ² / 2 for ReLU,
    n σ² for tanh and the identity (slope 1 at 0), n σ² / 16 for sigmoid's fluctuations (slope 1/4)."""
    return n_sigma2 * {"relu": 0.5, "leaky_relu": 0.5 * (1 + 0.01**2), "sigmoid": 1 / 16}.get(activation, 1.0)


# (activation group, family) -> (matched?, template). Templates see: act, init, f (per-layer small-signal
# factor of the variance), nsig (n σ²), n (a typical fan-in), std_rec (recommended std at that fan-in).
_TABLE = {
    ("relu", "he"): (True, "ReLU with He init: n σ² = 2 cancels ReLU's halving, Var z stays constant per layer"),
    ("relu", "xavier"): (False, "ReLU with Xavier init: ReLU halves E[φ²], so Var z shrinks about {inv:.2g}x per "
                                "layer (n σ²/2 = {f:.2g}); use he (σ² = 2/n, std {std_rec:.3g} at n = {n})"),
    ("relu", "lecun"): (False, "ReLU with LeCun/1/n init: n σ²/2 = 0.5, Var z halves every layer; use he "
                               "(σ² = 2/n, std {std_rec:.3g} at n = {n})"),
    ("relu", "torch"): (False, "ReLU with torch's default U(±1/√n): n σ²/2 = 1/6, Var z shrinks 6x per layer; "
                               "use he (std {std_rec:.3g} at n = {n})"),
    ("relu", "orthogonal"): (None, "ReLU with orthogonal init: use gain √2 (orthogonal(gain=1.414)) so ReLU's "
                                   "halving is cancelled"),
    ("tanh", "he"): (False, "tanh with He init: variance grows 2x per layer (n σ² = 2) while tanh is linear, "
                            "until the units saturate and gradients grow going back; use xavier_normal (n σ² ≈ 1)"),
    ("tanh", "xavier"): (True, "tanh with Xavier init: n σ² ≈ 1 keeps Var z about constant while tanh is linear"),
    ("tanh", "lecun"): (True, "tanh with LeCun/1/n init: n σ² = 1 keeps Var z about constant while tanh is linear"),
    ("tanh", "torch"): (False, "tanh with torch's default U(±1/√n): n σ² = 1/3, Var z shrinks 3x per layer; "
                               "use xavier_normal (std {std_rec:.3g} at n = {n})"),
    ("sigmoid", "he"): (False, "sigmoid with He init: n σ² = 2 on inputs with mean 0.5 pushes z into sigmoid's "
                               "flat tails in deeper layers; use xavier_normal (std {std_rec:.3g} at n = {n})"),
    ("sigmoid", "xavier"): (True, "sigmoid with Xavier init: the matched choice, though sigmoid's slope ≤ 1/4 still "
                                  "shrinks gradients about 4x per layer in deep nets (tanh or ReLU avoid it)"),
    ("sigmoid", "lecun"): (True, "sigmoid with LeCun/1/n init: the matched choice (the source book's Xavier)"),
    ("sigmoid", "torch"): (True, "sigmoid with torch's default: close to Xavier's scale"),
    ("identity", "he"): (False, "a linear network with He init: n σ² = 2 doubles the variance every layer; use "
                                "xavier_normal or lecun (n σ² = 1)"),
    ("identity", "xavier"): (True, "a linear network with Xavier init: n σ² ≈ 1 keeps the variance"),
    ("identity", "lecun"): (True, "a linear network with LeCun init: n σ² = 1 keeps the variance"),
}


def recommendation(activation: str, init, fan_in: int, weight_std: float | None = None, depth: int = 0,
                   label: str | None = None) -> dict:
    """What the init table says for (activation, init family): ``{"family", "matched", "advice",
    "factor"}``; ``factor`` is the per-layer small-signal variance factor of the theory
    (``weight_std`` overrides the init's theoretical std, for trained or custom weights); ``depth``, the
    number of layers, adds the compounded factor to the advice; ``label`` names the weights in it."""
    act = canonical_activation(activation)
    group = "relu" if act in ("relu", "leaky_relu") else act
    fam = init_family(init, act)
    n = int(fan_in)
    try:
        std = weight_std if weight_std is not None else theoretical_std(init, (n, n), activation=act)
    except (ValueError, TypeError):
        std = float("nan")
    nsig = n * std**2
    f = _small_signal_factor(act, nsig)
    rec_init = _matched_init(act)
    std_rec = theoretical_std(rec_init, (n, n))
    ctx = {"act": act, "init": init, "f": f, "inv": 1 / f if f > 0 else math.inf, "nsig": nsig, "n": n,
           "std_rec": std_rec}
    if fam == "constant":
        return {"family": fam, "matched": False, "factor": f,
                "advice": f"{init!r} gives every unit of a layer the same weights, so all units compute the same "
                          f"output and receive the same gradient: symmetry never breaks; use {rec_init} "
                          f"(random, std {std_rec:.3g} at n = {n})"}
    if (group, fam) in _TABLE:
        matched, text = _TABLE[(group, fam)]
        if matched is None:
            matched = abs(math.log(max(f, 1e-300))) < math.log(1.5)
        return {"family": fam, "matched": bool(matched), "factor": f, "advice": text.format(**ctx)}
    if not math.isfinite(f):
        return {"family": fam, "matched": True, "factor": f,
                "advice": f"no variance formula known for {init!r}; compare the measured std per layer"}
    act_name = {"relu": "ReLU", "leaky_relu": "leaky ReLU"}.get(act, act)
    if act == "sigmoid":
        # sigmoid's outputs have mean 0.5, so Var z_{l+1} ≈ n σ² · 0.25 whatever came before
        z_std = math.sqrt(nsig * 0.25)
        if z_std > 2.0:
            return {"family": fam, "matched": False, "factor": f,
                    "advice": f"sigmoid with std {std:.3g}: Var z ≈ n σ² E[a²] ≈ {nsig * 0.25:.3g} (std {z_std:.2g}) "
                              f"puts z in sigmoid's flat tails, where φ' ≈ 0; use xavier_normal "
                              f"(std {std_rec:.3g} at n = {n})"}
        if z_std < 0.1:
            return {"family": fam, "matched": False, "factor": f,
                    "advice": f"sigmoid with std {std:.3g}: z stays within ±{2 * z_std:.2g}, every output ≈ 0.5 and "
                              f"carries almost no signal; use xavier_normal (std {std_rec:.3g} at n = {n})"}
        return {"family": fam, "matched": True, "factor": f,
                "advice": f"sigmoid with std {std:.3g}: Var z ≈ {nsig * 0.25:.3g}, within sigmoid's useful range"}
    what = f"{act_name} with {label or init}" + (
        "" if str(init).startswith("std=") and not label else f" (std {std:.3g} at n = {n})")
    compound = f", {f ** (depth - 1):.3g}x over the {depth} layers" if depth > 2 else ""
    if f > 1.25:
        return {"family": fam, "matched": False, "factor": f,
                "advice": f"{what}: Var z grows {f:.3g}x per layer (n σ² = {nsig:.3g}){compound}; "
                          f"use {rec_init} (std {std_rec:.3g} at n = {n})"}
    if f < 0.8:
        return {"family": fam, "matched": False, "factor": f,
                "advice": f"{what}: Var z shrinks {1 / f:.3g}x per layer (factor {f:.3g}){compound}; "
                          f"use {rec_init} (std {std_rec:.3g} at n = {n})"}
    return {"family": fam, "matched": True, "factor": f,
            "advice": f"{what}: Var z changes {f:.3g}x per layer, close to 1"}


# ------------------------------------------------------------------------------ theory per layer
def _theory(plan, X, activation, init, fan_in, fan_out, output_grad_sq, batch):
    """Predicted act mean/std, saturated fraction and weight-gradient norm per layer."""
    wv, basis = [], f"init {init}" if init is not None else "measured weight variance"
    for lay in plan:
        w = lay.linear.weight.data
        v = None
        if init is not None:
            try:
                v = theoretical_std(init, w.shape, activation=activation) ** 2
            except (ValueError, TypeError):
                basis = "measured weight variance"
        wv.append(v if v is not None else float(np.mean(w.astype(np.float64) ** 2)))
    bv = [float(np.mean(lay.linear.bias.data.astype(np.float64) ** 2)) if lay.linear.bias is not None else 0.0
          for lay in plan]
    acts = [lay.activation for lay in plan]
    input_sq = float(np.mean(np.asarray(X, dtype=np.float64) ** 2))
    with np.errstate(all="ignore"):
        pred = dg.predict_signal(fan_in, fan_out, wv, acts, input_sq, bv,
                                 output_grad_sq=output_grad_sq if np.isfinite(output_grad_sq) else None)
        out = []
        wgn = pred.weight_grad_norm(batch)
        pgn = pred.pre_grad_norm(batch)
        for i, (a, var) in enumerate(zip(acts, pred.pre_var)):
            if not np.isfinite(var):
                out.append({"act_mean": float("nan"), "act_std": float("nan"), "saturated": float("nan"),
                            "pre_var": float(var), "factor": float(pred.factor[i]), "weight_grad_norm": float("nan"),
                            "grad_gain": float("nan")})
                continue
            phi, _ = dg.activation_fn(a)
            mean = dg.gaussian_expectation(phi, var)
            sq = float(pred.act_sq[i])
            sat = float("nan")
            if a in ("sigmoid", "tanh"):
                lo, hi = (0.0, 1.0) if a == "sigmoid" else (-1.0, 1.0)
                eps = dg.SATURATION_EPS

                def near(z, lo=lo, hi=hi, eps=eps, phi=phi):
                    y = phi(z)
                    return ((y <= lo + eps) | (y >= hi - eps)).astype(float)

                sat = dg.gaussian_expectation(near, var)
            out.append({"act_mean": mean, "act_std": math.sqrt(max(sq - mean**2, 0.0)), "saturated": sat,
                        "pre_var": float(var), "factor": float(pred.factor[i]),
                        "weight_grad_norm": float(wgn[i]) if wgn is not None else float("nan"),
                        "grad_gain": float(pgn[i] / pgn[-1]) if pgn is not None and pgn[-1] > 0 else float("nan")})
    return out, basis, wv


# ------------------------------------------------------------------------------ the check-up
def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _ratio(x: float) -> str:
    return "0" if x == 0 else f"{x:.2g}" if x < 1 else f"{x:.3g}"


def _layer_verdict(row: dict, hidden: bool) -> tuple[str, str, str]:
    """(verdict, reason, which measure decided it: weights/units/dead/saturated/nonfinite/signal/grad/-)."""
    t = THRESHOLDS
    sig, grad = row["signal_gain"], row["grad_gain"]
    if row["weight_std0"] == 0.0 and row["fan_out"] > 1:  # symmetry is between units: one unit has none
        return "symmetric", (f"all {row['fan_in']}×{row['fan_out']} weights start equal "
                             f"({row['weight_mean0']:.3g}), so every unit gets the same input weights"), "weights"
    if _finite(row["dead"]) and row["dead"] > t["dead_units"]:
        return "dead", f"{row['dead']:.0%} of the ReLU units output 0 on every example of the batch", "dead"
    if _finite(row["zero"]) and row["zero"] > t["zero_outputs"]:
        return "dead", (f"{row['zero']:.0%} of the ReLU outputs are 0 ({row['dead']:.0%} of the units on every "
                        f"example): almost no gradient gets through"), "dead"
    if hidden and row["fan_out"] > 1 and row.get("distinct_units") == 1:
        return "symmetric", f"all {row['fan_out']} units are still identical after the steps", "units"
    if _finite(row["saturated"]) and row["saturated"] > t["saturated"]:
        return "saturating", (f"{row['saturated']:.0%} of the {row['activation']} outputs are within "
                              f"{dg.SATURATION_EPS} of a bound, where φ' ≈ 0"), "saturated"
    if not all(_finite(row[k]) for k in ("act_std", "weight_grad_norm")):
        return "exploding", "activations or gradients overflowed to inf/NaN", "nonfinite"
    if _finite(sig) and sig > t["signal_high"]:
        return "exploding", f"the activation std is {_ratio(sig)}x the input's", "signal"
    if _finite(grad) and grad > t["grad_high"]:
        return "exploding", f"the gradient ‖∂L/∂z‖ is {_ratio(grad)}x the output layer's", "grad"
    if sig == 0:
        return "vanishing", "the activations are constant (std 0): no signal reaches this layer", "signal"
    if _finite(sig) and sig < t["signal_low"]:
        return "vanishing", f"the activation std is only {_ratio(sig)}x the input's", "signal"
    if grad == 0:
        return "vanishing", ("no gradient reaches this layer (‖∂L/∂z‖ = 0: it underflowed, or every path back "
                             "is blocked)"), "grad"
    if _finite(grad) and grad < t["grad_low"]:
        return "vanishing", f"the gradient ‖∂L/∂z‖ is only {_ratio(grad)}x the output layer's", "grad"
    return "healthy", "signal and gradient within range", "-"


def _nan_to_none(x):
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def diagnose_model(model, X, y, X_train=None, y_train=None, *, init=None, activation=None, steps: int = 5,
                   optimizer: str = "sgd", lr: float | None = None, batch_size: int | None = None, seed: int = 0,
                   config: dict | None = None) -> dict:
    """Measure ``model`` on the probe batch (X, y), take ``steps`` optimizer steps on (X_train,
    y_train) (default: the probe batch) through the Trainer, and judge every layer. ``init`` (the
    spec the model was built with, if known) selects the theory; without it the theory uses the
    measured weight variance. The model is trained in place. Returns a JSON-ready dict."""
    from . import optim
    from .train import Trainer

    plan = dg.layer_plan(model)
    act = activation or next((lay.activation for lay in plan if lay.activation != "identity"), "identity")
    X = np.asarray(X)
    batch = len(X)
    with np.errstate(all="ignore"):
        before = dg.probe(model, X, y)
    fan_in = [lay.linear.in_features for lay in plan]
    fan_out = [lay.linear.out_features for lay in plan]
    w0 = dg.weight_arrays(model)
    last = before.layers[-1]
    out_grad_sq = last.pre_grad_norm**2 / (batch * last.fan_out) if np.isfinite(last.pre_grad_norm) else float("nan")
    theory, basis, wv = _theory(plan, X, act, init, fan_in, fan_out, out_grad_sq, batch)

    # a few steps through the real training loop
    hp = {"lr": lr} if lr is not None else {}
    opt = optim.get_optimizer(optimizer, model.parameters(), **hp)
    rec = dg.StatsRecorder(X, y, every=steps)
    Xt, yt = (X, y) if X_train is None else (X_train, y_train)
    trainer = Trainer(model, opt, callbacks=[rec], on_divergence="stop")
    with np.errstate(all="ignore"):
        hist = trainer.fit(Xt, yt, iterations=steps, batch_size=batch_size or batch, rng=seed)
        after = dg.probe(model, X, y, keep_activations=True)
    update = rec.records[-1] if len(rec.records) > 1 else None
    total_change = dg.relative_change(model, w0)

    in_std = float(np.std(np.asarray(X, dtype=np.float64)))
    out_pre = last.pre_grad_norm
    rows = []
    for i, (s, th) in enumerate(zip(before.layers, theory)):
        hidden = i < len(plan) - 1
        w = w0[i].astype(np.float64)
        row = {
            "layer": s.layer, "fan_in": s.fan_in, "fan_out": s.fan_out, "activation": s.activation,
            "weight_std0": 0.0 if np.all(w == w.flat[0]) else float(w.std()),
            "weight_mean0": float(w.mean()),
            "act_mean": s.act_mean, "act_std": s.act_std, "saturated": s.saturated, "zero": s.zero, "dead": s.dead,
            "weight_grad_norm": s.weight_grad_norm, "pre_grad_norm": s.pre_grad_norm,
            "signal_gain": s.act_std / in_std if in_std > 0 else float("nan"),
            "grad_gain": s.pre_grad_norm / out_pre if np.isfinite(out_pre) and out_pre > 0 else float("nan"),
            "update_ratio": float(update[i].update_ratio) if update is not None else float("nan"),
            "total_change": float(total_change[i]),
            "distinct_units": int(dg.count_distinct_units(after.activations[i])) if hidden
            and np.all(np.isfinite(after.activations[i])) else None,
            "theory": {"act_mean": th["act_mean"], "act_std": th["act_std"], "saturated": th["saturated"],
                       "dead": 0.0 if s.activation in ("relu", "leaky_relu") else float("nan"),
                       "variance_factor": th["factor"], "weight_grad_norm": th["weight_grad_norm"],
                       "grad_gain": th["grad_gain"],
                       "weight_std": math.sqrt(wv[i])},
        }
        row["verdict"], row["reason"], row["decided_by"] = _layer_verdict(row, hidden)
        rows.append(row)

    unhealthy = [r["verdict"] for r in rows if r["verdict"] != "healthy"]
    worst = "symmetric" if "symmetric" in unhealthy else unhealthy[0] if unhealthy else "healthy"
    if hist.diverged and VERDICTS.index(worst) > VERDICTS.index("exploding"):
        worst = "exploding"
    bad = [r for r in rows if r["verdict"] == worst]
    typical_n = int(np.median(fan_in[1:])) if len(fan_in) > 1 else fan_in[0]
    rec_info = recommendation(act, init if init is not None else f"std={math.sqrt(wv[min(1, len(wv) - 1)]):.3g}",
                              typical_n, depth=len(plan), label=None if init is not None else "its current weights")
    overall = _overall(worst, bad, rows, rec_info, hist, act, init)
    result = {
        "config": {**(config or {}), "activation": act, "init": init, "layers": [fan_in[0], *fan_out]},
        "input": {"examples": batch, "std": in_std, "mean_square": float(np.mean(np.asarray(X, np.float64) ** 2))},
        "theory_basis": basis,
        "steps": {"optimizer": optimizer, "lr": opt.lr if isinstance(getattr(opt, "lr", None), float) else lr,
                  "steps": hist.steps, "requested": steps, "loss_before": before.loss, "loss_after": after.loss,
                  "diverged": hist.diverged["message"] if hist.diverged else None},
        "layers": rows,
        "verdict": worst,
        "reason": overall["reason"],
        "recommendation": overall["recommendation"],
        "init_table": rec_info,
        "thresholds": THRESHOLDS,
    }
    return _nan_to_none(result)


def _overall(worst, bad, rows, rec_info, hist, act, init) -> dict:
    layers = ", ".join(str(r["layer"]) for r in bad)
    which = f"layer {layers}" if len(bad) == 1 else f"layers {layers}"
    if len(bad) > 6:
        which = f"{len(bad)} of {len(rows)} layers (from layer {bad[0]['layer']})"
    first = bad[0] if bad else rows[0]
    f = rec_info["factor"]
    theory = ""
    if worst in ("vanishing", "exploding") and first.get("decided_by") == "signal" and _finite(f):
        theory = f"; theory: Var z changes {f:.3g}x per layer"
    elif worst in ("vanishing", "exploding") and first.get("decided_by") == "grad":
        g0, depth = first["theory"]["grad_gain"], len(rows) - first["layer"]
        if _finite(g0) and g0 > 0 and depth > 0:
            theory = (f"; theory: ‖∂L/∂z‖ changes {g0 ** (1 / depth):.3g}x per layer going back "
                      f"({_ratio(g0)}x over {depth} layers)")
    if worst == "healthy":
        reason = (f"every layer's signal and gradient stay within {THRESHOLDS['signal_low']}–"
                  f"{THRESHOLDS['signal_high']}x of the input's and no units are saturated, dead or identical")
        if not rec_info["matched"]:
            reason += " at this depth, but the init does not match the activation"
    else:
        reason = f"{which}: {first['reason']}{theory}"
        if hist.diverged:
            reason += f" (training diverged at step {hist.diverged['step']})"
    advice = rec_info["advice"]
    if rec_info["matched"] and worst != "healthy":
        generic = {
            "symmetric": "give the weights random values (the init table's choice for the activation)",
            "dead": "lower the learning rate, start biases at 0 (or slightly positive), or use leaky_relu",
            "saturating": "scale the weights down (xavier_normal) or normalise the input",
            "exploding": "scale the weights down or lower the learning rate" + (
                "; the network is deep: consider fewer layers or residual connections" if len(rows) > 20 else ""),
            "vanishing": "scale the weights up to the matched init (he for ReLU, xavier_normal for tanh/sigmoid)"
            + ("; sigmoid's slope ≤ 1/4 shrinks gradients every layer: use tanh or ReLU" if act == "sigmoid" else ""),
        }[worst]
        advice = f"{advice}; measured {worst}: {generic}"
    return {"reason": reason, "recommendation": advice}


# ------------------------------------------------------------------------------ building inputs
def _parse_layers(text) -> list[int]:
    return parse_layers(text)


def _inputs(dataset, input_std, n_in, n_out, n, rng, need_train: int):
    """(probe X, y, train X, y): real images or Gaussian N(0, input_std²) with random labels."""
    if input_std is not None:
        if not input_std > 0:
            raise ValueError(f"--input-std must be positive, got {input_std}")
        X = rng.normal(0.0, input_std, size=(n + need_train, n_in)).astype(np.float32)
        y = rng.integers(0, n_out, size=n + need_train)
        return X[:n], y[:n], X[n:], y[n:]
    from . import data

    if dataset not in data.DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(data.DATASETS)} (or --input-std S)")
    Xall, yall = data.load(dataset, "train")
    if n_in != Xall.shape[1] or n_out != int(yall.max()) + 1:
        raise ValueError(f"the network {n_in}→…→{n_out} does not fit {dataset} ({Xall.shape[1]} pixels, "
                         f"{int(yall.max()) + 1} classes): start the layers with {Xall.shape[1]} and end with "
                         f"{int(yall.max()) + 1}, or use --input-std S for Gaussian input")
    probe = rng.choice(len(Xall), size=n, replace=False)  # the same probe batch whatever the steps
    train = rng.choice(len(Xall), size=need_train, replace=False)
    return np.array(Xall[probe]), np.array(yall[probe]), np.array(Xall[train]), np.array(yall[train])


def diagnose_config(layers, activation="relu", init="he", bias_init="zeros", dataset="mnist",
                    input_std=None, batch_size=256, steps=5, optimizer="sgd", lr=None, seed=0,
                    dtype="float32") -> dict:
    """Build a fresh MLP from a configuration and diagnose it (see :func:`diagnose_model`)."""
    from . import nn

    sizes = _parse_layers(layers) if isinstance(layers, str) else [int(v) for v in layers]
    model = nn.MLP(sizes, activation=activation, weight_init=init, bias_init=bias_init, rng=seed,
                   dtype=np.dtype(dtype))
    rng = np.random.default_rng([seed, 1])
    X, y, Xt, yt = _inputs(dataset, input_std, sizes[0], sizes[-1], batch_size, rng, steps * batch_size)
    cfg = {"source": "config", "dataset": None if input_std is not None else dataset, "input_std": input_std,
           "bias_init": bias_init, "seed": seed}
    return diagnose_model(model, X, y, Xt, yt, init=init, activation=activation, steps=steps, optimizer=optimizer,
                          lr=lr, batch_size=batch_size, seed=seed, config=cfg)


def diagnose_run(run_dir, input_std=None, dataset=None, batch_size=256, steps=5, optimizer=None, lr=None,
                 seed=0) -> dict:
    """Diagnose a trained model from a run directory of ``mlplab train`` (config.json and model.npz
    or checkpoint.pkl). The theory uses the weights' measured variance (they are no longer the init's)."""
    from . import nn
    from .train import CHECKPOINT_FILE, MODEL_FILE, load_checkpoint

    d = Path(run_dir)
    if not (d / "config.json").is_file():
        raise ValueError(f"{d} holds no config.json: not a run directory written by `mlplab train`")
    try:
        cfg = json.loads((d / "config.json").read_text())
        if not isinstance(cfg, dict):
            raise ValueError("not a JSON object")
    except (ValueError, OSError) as e:
        raise ValueError(f"{d / 'config.json'} is damaged ({e}); it cannot say which network to build") from None
    sizes = _parse_layers(cfg.get("layers", DEFAULTS["layers"]))
    activation = cfg.get("activation", "relu")
    model = nn.MLP(sizes, activation=activation, weight_init="zeros", bias_init="zeros",
                   dtype=np.dtype(cfg.get("dtype", "float32")))
    if (d / MODEL_FILE).exists():
        try:
            model.load(d / MODEL_FILE)
        except Exception as e:  # not a zip, cut short, foreign arrays: numpy's message would talk about pickles
            raise ValueError(f"{d / MODEL_FILE} cannot be read as this run's network ({type(e).__name__}); it is "
                             f"damaged or from another run: delete it to diagnose {CHECKPOINT_FILE}, or train "
                             "again") from None
        source = MODEL_FILE
    elif (d / CHECKPOINT_FILE).exists():
        model.load_state_dict(load_checkpoint(d)["model"])
        source = CHECKPOINT_FILE
    else:
        raise ValueError(f"{d} holds neither {MODEL_FILE} nor {CHECKPOINT_FILE}: nothing to diagnose")
    rng = np.random.default_rng([seed, 1])
    ds = dataset or cfg.get("dataset", "mnist")
    X, y, Xt, yt = _inputs(ds, input_std, sizes[0], sizes[-1], batch_size, rng, steps * batch_size)
    opt = optimizer or cfg.get("optimizer", "sgd")
    lr = lr if lr is not None else cfg.get("lr")
    conf = {"source": f"{d}/{source}", "dataset": None if input_std is not None else ds, "input_std": input_std,
            "trained_with": {k: cfg.get(k) for k in ("init", "optimizer", "lr", "epochs", "iterations") if k in cfg}}
    result = diagnose_model(model, X, y, Xt, yt, init=None, activation=activation, steps=steps, optimizer=opt,
                            lr=lr, batch_size=batch_size, seed=seed, config=conf)
    # the init table still speaks about how the run started
    if cfg.get("init") is not None:
        fan = sizes[1] if len(sizes) > 2 else sizes[0]
        result["init_table"] = _nan_to_none(recommendation(activation, cfg["init"], fan, depth=len(sizes) - 1))
        result["config"]["init"] = cfg["init"]
    return _as_trained(result, cfg)


#: What still means something in a trained network: units that are dead, identical or saturated, and
#: values that are not finite. The signal and gradient gains are judged against what an
#: initialization should give (0.1-10x); trained weights set their own scale, so those get no verdict.
TRAINED_VERDICTS = ("symmetric", "dead", "saturating", "exploding")


def _as_trained(result: dict, cfg: dict) -> dict:
    """Re-word a diagnosis of trained weights: measurements, with verdicts only where they mean something."""
    for r in result["layers"]:
        init_only = r["decided_by"] in ("signal", "grad", "-") or r["verdict"] not in TRAINED_VERDICTS
        if init_only and r["decided_by"] != "nonfinite":
            gains = ", ".join(f"{k} {_ratio(r[key])}x" for k, key in (("signal gain", "signal_gain"),
                                                                       ("gradient gain", "grad_gain"))
                              if _finite(r.get(key)))
            r["verdict"], r["decided_by"] = "measured", "-"
            r["reason"] = (f"trained weights ({gains}): an initialization's 0.1-10x range does not apply"
                           if gains else "trained weights")
    bad = [r for r in result["layers"] if r["verdict"] != "measured"]
    ran = cfg.get("epochs") or cfg.get("iterations")
    what = f"network trained for {ran} {'epochs' if cfg.get('epochs') else 'steps'}" if ran else "trained network"
    if bad:
        first = bad[0]
        result["verdict"] = first["verdict"]
        result["reason"] = (f"a {what}: layer {first['layer']}: {first['reason']}"
                            + (f" ({len(bad)} layers in all)" if len(bad) > 1 else ""))
    else:
        result["verdict"] = "measured"
        result["reason"] = (f"a {what}: the table gives its statistics on this batch; no unit is dead, "
                            "saturated or identical and all values are finite. Signal and gradient gains of learned "
                            "weights are not judged (they are an initialization's check)")
        init = cfg.get("init")
        result["recommendation"] = (
            "nothing to change from these statistics; to check the initialization this run started from, run "
            f"`mlplab diagnose --layers {cfg.get('layers')} --activation {cfg.get('activation', 'relu')}"
            + (f" --init {init}`" if init else "`"))
    result["trained"] = True
    return result
