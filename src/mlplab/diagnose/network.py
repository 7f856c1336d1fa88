"""A check-up of a network's initialization, layer by layer, against theory.

For a fresh network (``--layers 784,256,256,10 --activation tanh --init he``) or a trained one
(``mlplab diagnose RUN_DIR``, a directory written by ``mlplab train``), on one batch of real MNIST
(default) or of Gaussian input (``--input-std S``), :func:`diagnose_model` measures per layer,
with :func:`mlplab.diagnose.statistics.probe`:

* the activation mean and std, the fraction saturated (sigmoid/tanh within 0.01 of a bound) or
  dead (ReLU units zero on every example of the batch), the weight-gradient norm ‖∂L/∂W‖;
* after a few optimizer steps through the real :class:`~mlplab.train.Trainer` (default 5 SGD
  steps, ``--optimizer/--lr``), the size of the last update relative to the weights ‖ΔW‖/‖W‖
  (the :class:`~mlplab.diagnose.statistics.StatsRecorder`), the total change ‖W − W₀‖/‖W₀‖, and how many
  distinct units each layer still has (:func:`~mlplab.diagnose.statistics.count_distinct_units`);

beside what the mean-field theory of :mod:`mlplab.diagnose.statistics` predicts for that init and
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

from ..init import theoretical_std
from ..settings import DIAGNOSE_DEFAULTS, parse_layers
from . import statistics as dg
from .theory_note import critical_advice, note_for_chain
from .verdicts import (  # noqa: F401 - the rules live in verdicts.py (shared with diagnose_torch); names kept here
    LEVELS,
    RULE,
    THRESHOLDS,
    VERDICTS,
    _finite,
    _layer_verdict,
    _matched_init,
    _nan_to_none,
    _ratio,
    _small_signal_factor,
    init_family,
    judge_rows,
    recommendation,
)

__all__ = ["diagnose_model", "checkup", "diagnose_config", "diagnose_run", "init_family",
           "recommendation", "VERDICTS", "THRESHOLDS"]

DEFAULTS = DIAGNOSE_DEFAULTS  # mlplab.settings holds them, with the checks of every option


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
def _label_signal(probe, X, y):
    """verdicts.label_coherence of the output layer: its softmax cross-entropy errors softmax(z) − onehot(y)
    and its input (the probe's activations); None for labels that are not class indices."""
    from .verdicts import label_signal_gated

    y = np.asarray(y)
    z = np.asarray(probe.activations[-1], dtype=np.float64)
    if y.ndim != 1 or y.dtype.kind not in "iu" or z.ndim != 2 or len(y) != len(z) or y.max(initial=0) >= z.shape[1]:
        return None
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    x_in = probe.activations[-2] if len(probe.activations) > 1 else np.asarray(X)
    return label_signal_gated(p, x_in, np.asarray(X))


def diagnose_model(model, X, y=None, X_train=None, y_train=None, *, init=None, activation=None,
                   steps: int | None = None, optimizer: str = "sgd", lr: float | None = None,
                   batch_size: int | None = None, seed: int = 0, sharpness: bool = False, **torch_options):
    """The check-up of a network, one contract for both kinds: an mlplab network (``nn.MLP``/``Sequential``)
    or a ``torch.nn.Module``. Either way it works on a copy (the model keeps its weights, gradients and flags
    bit for bit), takes ``steps`` (default 3) ``optimizer`` steps on that copy, judges every layer by
    :data:`mlplab.diagnose.verdicts.RULES` and returns a :class:`mlplab.diagnose.pytorch.Diagnosis` (``overall``
    ok|warning|error, ``problem``, the layers, ``to_dict()`` in the versioned JSON schema
    ``docs/diagnosis.schema.json``). Without labels ``y``, random labels are drawn from ``seed``.

    The mlplab-specific table (theory per layer, init-table advice) is :func:`checkup`'s dict. ``torch_options``
    (``output``, ``overfit_batch``, ``max_memory``, ``threads``) go to
    :func:`mlplab.diagnose.pytorch.diagnose_torch`; an mlplab network refuses them. ``sharpness=True`` adds
    ``checks["sharpness"]`` (:mod:`mlplab.diagnose.sharpness`: λ_max(H) against 2/η; tens of Hessian-vector
    products, so off by default)."""
    from .pytorch import is_torch_module

    steps = 3 if steps is None else steps
    if is_torch_module(model):
        from .pytorch import diagnose_torch

        d = diagnose_torch(model, X, y, optimizer=optimizer, lr=lr, seed=seed, steps=steps, **torch_options)
        if sharpness:
            from .sharpness import for_torch

            d.checks["sharpness"] = for_torch(model, X, d.steps["lr"], optimizer, seed, labels=y,
                                              threads=torch_options.get("threads"))
        return d
    if torch_options:
        raise TypeError(f"{', '.join(sorted(torch_options))}: options of a torch model's check-up, not of an mlplab "
                        "network's")
    from .pytorch.result import from_result

    return from_result(checkup(model, X, y, X_train, y_train, init=init, activation=activation, steps=steps,
                               optimizer=optimizer, lr=lr, batch_size=batch_size, seed=seed, sharpness=sharpness))


def checkup(model, X, y=None, X_train=None, y_train=None, *, init=None, activation=None,
            steps: int | None = None, optimizer: str = "sgd", lr: float | None = None,
            batch_size: int | None = None, seed: int = 0, config: dict | None = None,
            sharpness: bool = False) -> dict:
    """Measure an mlplab ``model`` on the probe batch (X, y), take ``steps`` (default 5) optimizer steps on
    (X_train, y_train) (default: the probe batch) through the Trainer, and judge every layer. ``init`` (the
    spec the model was built with, if known) selects the theory; without it the theory uses the
    measured weight variance. It works on a deep copy: the model is left as it was. Without ``y``, random
    labels from ``seed``. Returns a JSON-ready dict (the CLI's table; :func:`diagnose_model` makes it a
    ``Diagnosis``)."""
    import copy

    model = copy.deepcopy(model)  # the user's network is not trained in place
    given = y is not None  # the no_label_signal rule reads the user's labels only
    if y is None:
        n_out = dg.layer_plan(model)[-1].linear.out_features
        y = np.random.default_rng([seed, 2]).integers(0, max(n_out, 2), size=len(X))
    steps = 5 if steps is None else steps
    from .. import optim
    from ..train import Trainer

    plan = dg.layer_plan(model)
    act = activation or next((lay.activation for lay in plan if lay.activation != "identity"), "identity")
    X = np.asarray(X)
    batch = len(X)
    with np.errstate(all="ignore"):
        before = dg.probe(model, X, y, keep_activations=given)
    signal = _label_signal(before, X, y) if given else None
    fan_in = [lay.linear.in_features for lay in plan]
    fan_out = [lay.linear.out_features for lay in plan]
    w0 = dg.weight_arrays(model)
    b0 = [None if lay.linear.bias is None else lay.linear.bias.data.copy() for lay in plan]
    last = before.layers[-1]
    out_grad_sq = last.pre_grad_norm**2 / (batch * last.fan_out) if np.isfinite(last.pre_grad_norm) else float("nan")
    theory, basis, wv = _theory(plan, X, act, init, fan_in, fan_out, out_grad_sq, batch)

    # a few steps through the real training loop
    hp = {"lr": lr} if lr is not None else {}
    opt = optim.get_optimizer(optimizer, model.parameters(), **hp)
    sharp = None
    if sharpness:  # the weights diagnosed (the steps below move them), the run's lr (mlplab.diagnose.sharpness)
        from .sharpness import for_mlplab

        sharp = for_mlplab(model, X, y, float(opt.lr), optimizer, float(getattr(opt, "momentum", 0.0) or 0.0), seed)
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
        if not hidden:
            row["label_signal"] = signal
        rows.append(row)
    judge_rows(rows, optimizer)

    top = max((LEVELS.index(r["level"]) for r in rows), default=0)  # the problem of the worst level, as Diagnosis
    unhealthy = [r["verdict"] for r in rows if r["verdict"] != "healthy" and LEVELS.index(r["level"]) == top]
    worst = "symmetric" if "symmetric" in unhealthy else unhealthy[0] if unhealthy else "healthy"
    if hist.diverged and VERDICTS.index(worst) > VERDICTS.index("exploding"):
        worst = "exploding"
    bad = [r for r in rows if r["verdict"] == worst]
    # a fan-in the network has: the lower middle one (np.median of 128 and 64 is 96, which no layer has)
    typical_n = sorted(fan_in[1:])[(len(fan_in) - 2) // 2] if len(fan_in) > 1 else fan_in[0]
    rec_info = recommendation(act, init if init is not None else f"std={math.sqrt(wv[min(1, len(wv) - 1)]):.3g}",
                              typical_n, depth=len(plan), label=None if init is not None else "its current weights")
    note = note_for_chain([lay.activation for lay in plan], w0, b0)  # the weights as they started
    if critical_advice(note) and not rec_info["matched"]:  # the table knows n σ² only: 1.76 is right for tanh here
        rec_info = {**rec_info, "matched": True, "advice": critical_advice(note)}
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
        "theory": note,
    }
    if sharp is not None:
        result["sharpness"] = sharp
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
    elif worst in ("vanishing", "exploding") and first.get("decided_by") in ("grad", "update"):
        g0, depth = first["theory"]["grad_gain"], len(rows) - first["layer"]
        if _finite(g0) and g0 > 0 and depth > 0:
            theory = (f"; theory: ‖∂L/∂z‖ changes {g0 ** (1 / depth):.3g}x per layer going back "
                      f"({_ratio(g0)}x over {depth} layers)")
    if worst == "healthy":
        reason = (f"every layer's signal and gradient stay within {RULE['signal_low'].warning}–"
                  f"{RULE['signal_high'].error}x of the input's and no units are saturated, dead or identical")
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
            "no_signal": "a larger learning rate, Adam, or many more steps: the loss sits on a plateau at first",
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
    from .. import data

    if dataset not in data.DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(data.DATASETS)} (or --input-std S)")
    Xall, yall = data.load(dataset, "train")
    if n_in != Xall.shape[1] or n_out != int(yall.max()) + 1:
        raise ValueError(f"the network {n_in}→…→{n_out} does not fit {dataset} ({Xall.shape[1]} pixels, "
                         f"{int(yall.max()) + 1} classes): start the layers with {Xall.shape[1]} and end with "
                         f"{int(yall.max()) + 1}, or use --input-std S for Gaussian input")
    if n > len(Xall) or need_train > len(Xall):  # each drawn without replacement from the training images
        raise ValueError(f"--batch-size {n} and --steps {need_train // n} need {max(n, need_train)} {dataset} "
                         f"training images ({'the batch' if n > len(Xall) else 'batch size × steps'}), but there "
                         f"are {len(Xall)}; lower --steps or --batch-size, or use --input-std S for Gaussian input")
    probe = rng.choice(len(Xall), size=n, replace=False)  # the same probe batch whatever the steps
    train = rng.choice(len(Xall), size=need_train, replace=False)
    return np.array(Xall[probe]), np.array(yall[probe]), np.array(Xall[train]), np.array(yall[train])


def _with_fix(result, model, fix, fix_weights, seed, X, y, Xt, yt, kw) -> dict:
    """``result`` with ``result["fix"]``: the check-up of a re-initialised copy (:func:`.fix.fix_network`) on the
    same batches: ``{"method", "weights", "critical" (per layer σ_w², σ_b²), "model", "result"}`` (``model``: the
    fixed network, for the caller to save; not JSON)."""
    if not fix:
        return result
    from .fix import fix_network

    fixed, notes = fix_network(model, fix, fix_weights, seed)
    after = checkup(fixed, X, y, Xt, yt, init=None, **kw)
    result["fix"] = {"method": fix, "weights": fix_weights if fix == "critical" else None,
                     "critical": _nan_to_none(notes), "model": fixed, "result": after}
    return result


def diagnose_config(layers, activation="relu", init="he", bias_init="zeros", dataset="mnist",
                    input_std=None, batch_size=256, steps=5, optimizer="sgd", lr=None, seed=0,
                    dtype="float32", fix=None, fix_weights="normal", sharpness=False) -> dict:
    """Build a fresh MLP from a configuration and diagnose it (see :func:`diagnose_model`); ``fix``
    (critical, he, xavier) also diagnoses a re-initialised copy (``result["fix"]``)."""
    from .. import nn

    sizes = _parse_layers(layers) if isinstance(layers, str) else [int(v) for v in layers]
    model = nn.MLP(sizes, activation=activation, weight_init=init, bias_init=bias_init, rng=seed,
                   dtype=np.dtype(dtype))
    rng = np.random.default_rng([seed, 1])
    X, y, Xt, yt = _inputs(dataset, input_std, sizes[0], sizes[-1], batch_size, rng, steps * batch_size)
    cfg = {"source": "config", "dataset": None if input_std is not None else dataset, "input_std": input_std,
           "bias_init": bias_init, "seed": seed}
    kw = {"activation": activation, "steps": steps, "optimizer": optimizer, "lr": lr, "batch_size": batch_size,
          "seed": seed}
    return _with_fix(checkup(model, X, y, Xt, yt, init=init, config=cfg, sharpness=sharpness, **kw), model, fix,
                     fix_weights, seed,
                     X, y, Xt, yt, {**kw, "config": {**cfg, "fix": fix}})


def diagnose_run(run_dir, input_std=None, dataset=None, batch_size=256, steps=5, optimizer=None, lr=None,
                 seed=0, fix=None, fix_weights="normal", sharpness=False) -> dict:
    """Diagnose a trained model from a run directory of ``mlplab train`` (config.json and model.npz
    or checkpoint.npz). The theory uses the weights' measured variance (they are no longer the init's)."""
    from .. import folderkind, nn
    from ..train import CHECKPOINT_FILE, LEGACY_CHECKPOINT_FILE, MODEL_FILE, load_checkpoint

    d = Path(run_dir)
    folderkind.check(d, "run", "mlplab diagnose", reads=True)  # a sweep's or lab's folder: say what it holds
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
    elif (d / CHECKPOINT_FILE).exists() or (d / LEGACY_CHECKPOINT_FILE).exists():  # an old pickle: refused, one line
        try:
            model.load_state_dict(load_checkpoint(d)["model"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"{d / CHECKPOINT_FILE} does not hold this run's network ({type(e).__name__}); it is "
                             "damaged or from another run") from None
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
    result = checkup(model, X, y, Xt, yt, init=None, activation=activation, steps=steps, optimizer=opt,
                     lr=lr, batch_size=batch_size, seed=seed, config=conf, sharpness=sharpness)
    # the init table still speaks about how the run started
    if cfg.get("init") is not None:
        fan = sizes[1] if len(sizes) > 2 else sizes[0]
        result["init_table"] = _nan_to_none(recommendation(activation, cfg["init"], fan, depth=len(sizes) - 1))
        result["config"]["init"] = cfg["init"]
    return _with_fix(_as_trained(result, cfg), model, fix, fix_weights, seed, X, y, Xt, yt,
                     {"activation": activation, "steps": steps, "optimizer": opt, "lr": lr, "batch_size": batch_size,
                      "seed": seed, "config": {**conf, "fix": fix}})


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
            r["verdict"], r["decided_by"], r["level"], r["rule"], r["assumes"] = "measured", "-", "ok", None, None
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
