"""A trial: one network trained with one optimizer configuration and one seed, scored once.

:func:`run_trial` is a pure function of its description (a JSON-able dict: phase, optimizer,
hyperparameters, seed, problem) to its result, so where it runs (this process, a forked worker, a
Dask worker on another machine) cannot change its numbers: it seeds everything from the trial's
seed (initial weights from ``default_rng([seed, 1])``, batch order from ``default_rng([seed, 2])``,
so every optimizer of a seed starts from the same weights and sees the same batches: comparisons
are paired) and runs with one BLAS thread (OpenBLAS rounds a product differently for another
thread count). It trains with the library's :class:`~mlplab.train.Trainer`; a diverging loss is a
result (``status`` "diverged", with the step), an exception of the training is a result too
("failed", with its message), never a crash of the sweep. Reading the data is not part of the
trial's result: an error there (a worker without the dataset, an unreadable cache) is raised, and
the runner treats it as the infrastructure's failure (nothing stored, the trial runs again next time).

:func:`run_stacked` trains several trials that share the problem and phase as **one stacked
model** (``MLP(stack=K)``: weights (K, in, out), one batched matmul per layer) with one optimizer
per run of members of the same rule, working on views of the stacked weights. For small networks
(the 2-D sets) a step's cost is Python overhead, not arithmetic, so K networks cost little more
than one. The loss of the stack
is Σ_k mean_i ℓ(k, i): member k's gradient is exactly its own mean loss's gradient (the seed of the
backward pass is 1/B for every example, as the fused mean uses), and a member whose loss becomes
NaN is marked diverged and no longer updated while the others go on.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import traceback

import numpy as np

from ..runtime.allocator import keep_freed_memory

__all__ = ["make_trial", "trial_key", "run_trial", "run_stacked", "run_group", "CURVE_POINTS"]

CURVE_POINTS = 100  # the per-step training loss is stored as at most this many means of consecutive steps


def make_trial(phase: str, optimizer: str, hparams: dict, seed: int, problem: dict) -> dict:
    """A trial's description. ``phase``: "select" (train on train, score on the validation split) or
    "test" (a chosen or the book's configuration: train on train + val, score once on test)."""
    if phase not in ("select", "test"):
        raise ValueError(f"unknown phase {phase!r}")
    return {"phase": phase, "optimizer": optimizer, "hparams": dict(hparams), "seed": int(seed),
            "problem": dict(problem)}


def trial_key(trial: dict) -> str:
    """A stable 20-hex-digit key: the SHA-1 of the trial's canonical JSON."""
    return hashlib.sha1(json.dumps(trial, sort_keys=True).encode()).hexdigest()[:20]


def _downsample(loss: np.ndarray, n: int = CURVE_POINTS) -> list:
    if len(loss) <= n:
        return [float(v) for v in loss]
    edges = np.linspace(0, len(loss), n + 1).astype(int)
    return [float(loss[a:b].mean()) for a, b in zip(edges[:-1], edges[1:])]


def _budget(problem, n_train):
    bs = min(int(problem["batch_size"]), n_train)
    per_epoch = -(-n_train // bs)
    return bs, (int(problem["iterations"]) if problem.get("iterations") else int(problem["epochs"]) * per_epoch)


def _splits(trial):
    from .problem import problem_data

    data = problem_data(trial["problem"])
    return (data["train"], data["val"]) if trial["phase"] == "select" else (data["full"], data["test"])


_CONTROLLER = []


def _one_blas_thread():
    """A context with BLAS at one thread. The process's ``ThreadpoolController`` is built once:
    ``threadpool_limits()`` walks every loaded library anew on each call (4 ms)."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        keep_freed_memory()  # also undoes Dask's MALLOC_TRIM_THRESHOLD_ (see mlplab.runtime.allocator)
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _nan_metrics():
    return {"loss": math.nan, "accuracy": math.nan}


def eval_steps(problem: dict, total: int) -> list[int]:
    """The steps after which a selection trial scores itself on the validation split, for time-to-target:
    ``eval_points`` evenly spaced steps ending at the last (none unless the problem asks)."""
    k = int(problem.get("eval_points") or 0)
    if k <= 0 or total <= 0:
        return []
    return sorted({max(1, round(total * (i + 1) / k)) for i in range(k)})


def _eval_subset(problem, Xe, ye):
    n = int(problem.get("eval_size") or len(Xe))
    return Xe[:n], ye[:n]


def run_trial(trial: dict) -> dict:
    """Train and score one trial; returns ``{"status", "metrics", "curve", "steps", "seconds"}``."""
    from ..nn import MLP
    from ..optim import get_optimizer
    from ..train import Trainer, evaluate

    t0 = time.perf_counter()
    p = trial["problem"]
    (X, y), (Xe, ye) = _splits(trial)  # raises if the data cannot be read here: not a result of the trial
    try:
        # a diverging run overflows on its way to NaN: the Trainer stops it and the trial says "diverged";
        # NumPy's warnings about it would only reach the terminal
        with _one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):
            model = MLP(p["layers"], activation=p["activation"], weight_init=p["init"], bias_init="zeros",
                        rng=np.random.default_rng([trial["seed"], 1]))
            opt = get_optimizer(trial["optimizer"], model.parameters(), **trial["hparams"])
            budget = {"iterations": p["iterations"]} if p.get("iterations") else {"epochs": p["epochs"]}
            checks = _ValCurve(model, *_eval_subset(p, Xe, ye), eval_steps(p, _budget(p, len(X))[1])) \
                if trial["phase"] == "select" and p.get("eval_points") else None
            history = Trainer(model, opt, on_divergence="stop", callbacks=[checks] if checks else ()).fit(
                X, y, batch_size=p["batch_size"], rng=np.random.default_rng([trial["seed"], 2]), **budget)
            if history.interrupted:  # the Trainer stops at Ctrl-C; a shortened trial is not a result
                raise KeyboardInterrupt
            result = {"curve": _downsample(history.loss), "steps": int(history.steps)}
            if history.diverged:
                result.update(status="diverged", metrics={**_nan_metrics(), "diverged_step": history.diverged["step"]})
            else:
                loss, acc = evaluate(model, Xe, ye)
                result.update(status="done", metrics={"loss": float(loss), "accuracy": float(acc)})
            if checks:
                result["metrics"].update(val_curve=checks.curve, eval_seconds=checks.seconds)
    except Exception as e:  # a result, not a crash of the sweep: recorded with its message
        result = {"status": "failed", "metrics": _nan_metrics(), "curve": [], "steps": 0,
                  "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=5)}
    result["seconds"] = time.perf_counter() - t0
    return result


class _ValCurve:
    """A Trainer callback: validation accuracy (on the first ``eval_size`` examples) after the given steps,
    as [[step, accuracy], ...], and the seconds spent on it (left out of the time to a target)."""

    def __init__(self, model, X, y, steps):
        self.model, self.X, self.y, self.steps = model, X, y, set(steps)
        self.curve, self.seconds = [], 0.0

    def on_train_begin(self, trainer): ...

    def on_epoch_end(self, trainer, epoch, metrics): ...

    def on_train_end(self, trainer): ...

    def on_step_end(self, trainer, step, loss):
        if step in self.steps:
            from ..train import evaluate

            t0 = time.perf_counter()
            with np.errstate(all="ignore"):
                acc = evaluate(self.model, self.X, self.y)[1] if math.isfinite(loss) else math.nan
            self.curve.append([int(step), float(acc)])
            self.seconds += time.perf_counter() - t0


def run_stacked(trials: list[dict]) -> list[dict]:
    """Train ``trials`` (same problem and phase; any seeds) as one stacked model; one result per trial,
    as :func:`run_trial` would give it (up to float32 rounding: the learning rate multiplies as an
    array, the final scores are computed in float64).

    Member k starts from the weights its seed draws and sees its seed's batches: with several seeds
    the input is a stack of batches (K, B, in) gathered from one batch per seed, so K networks of 32
    configurations x 5 seeds still cost one batched product per layer and step."""
    from ..data import BatchIterator
    from ..nn import MLP
    from ..tensor import Tensor, cross_entropy, no_grad

    if len({json.dumps((t["problem"], t["phase"]), sort_keys=True) for t in trials}) != 1:
        raise ValueError("run_stacked: the trials must share problem and phase")
    t0 = time.perf_counter()
    # members of one optimizer (and the same other hyperparameters) side by side: one optimizer each run
    order = sorted(range(len(trials)), key=lambda i: _signature(trials[i]))
    members = [trials[i] for i in order]
    first, K = members[0], len(members)
    p = first["problem"]
    seeds = sorted({t["seed"] for t in members})
    seed_index = np.array([seeds.index(t["seed"]) for t in members])
    (X, y), (Xe, ye) = _splits(first)  # raises if the data cannot be read here: not a result of the trials
    try:
        with _one_blas_thread():
            model = MLP(p["layers"], activation=p["activation"], weight_init="zeros", bias_init="zeros", stack=K)
            for s_i, s in enumerate(seeds):
                single = MLP(p["layers"], activation=p["activation"], weight_init=p["init"], bias_init="zeros",
                             rng=np.random.default_rng([s, 1]))
                for ps, pk in zip(single.parameters(), model.parameters()):
                    pk.data[seed_index == s_i] = ps.data  # the weights run_trial would draw for this seed
            opts, segments = _segment_optimizers(members, model)
            bs, total = _budget(p, len(X))
            its = [BatchIterator(X, y, batch_size=bs, shuffle=True, rng=np.random.default_rng([s, 2])) for s in seeds]
            losses = np.zeros((total, K))
            checks = set(eval_steps(p, total)) if first["phase"] == "select" else set()
            Xc, yc = _eval_subset(p, Xe, ye)
            val_curves, eval_seconds = [[] for _ in range(K)], 0.0
            alive = np.ones(K, dtype=bool)
            diverged_at = [None] * K
            step = 0
            while step < total and alive.any():
                for batches in zip(*its):  # one epoch of every seed's batch order, in lockstep
                    if len(seeds) == 1:
                        xb, yb = batches[0]  # (B, in), broadcast over the stack
                    else:
                        xb = np.stack([b[0] for b in batches])[seed_index]  # (K, B, in)
                        yb = np.stack([b[1] for b in batches])[seed_index]
                    model.zero_grad()
                    with np.errstate(all="ignore"):
                        per_example = cross_entropy(model(Tensor(xb)), yb, reduction="none")  # (K, B)
                        member_loss = per_example.data.mean(axis=1, dtype=np.float64)
                        grad_seed = np.full(per_example.shape, 1.0 / yb.shape[-1], dtype=per_example.dtype)
                        per_example.backward(grad_seed)
                    for k in np.flatnonzero(alive & ~np.isfinite(member_loss)):
                        alive[k], diverged_at[k] = False, step + 1
                    with np.errstate(all="ignore"):  # a dead member's NaNs stay in its own slices
                        for opt, (a, b) in zip(opts, segments):
                            if alive[a:b].any():
                                for v, pk in zip(opt.params, model.parameters()):
                                    v.grad = pk.grad[a:b]
                                opt.step()
                    losses[step] = member_loss
                    step += 1
                    if step in checks:
                        t1 = time.perf_counter()
                        with no_grad(), np.errstate(all="ignore"):
                            acc = (model(Tensor(Xc)).data.argmax(axis=-1) == yc).mean(axis=-1)
                        for k in np.flatnonzero(alive):
                            val_curves[k].append([step, float(acc[k])])
                        eval_seconds += time.perf_counter() - t1
                    if step >= total or not alive.any():
                        break
            with no_grad(), np.errstate(all="ignore"):
                logits = np.concatenate([model(Tensor(Xe[i:i + 2000])).data for i in range(0, len(Xe), 2000)], axis=1)
                z = logits - logits.max(axis=-1, keepdims=True)
                logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
                eval_loss = -logp[:, np.arange(len(ye)), ye].mean(axis=1, dtype=np.float64)
                eval_acc = (logits.argmax(axis=-1) == ye).mean(axis=1)
            results = [None] * K
            for k in range(K):
                n_steps = diverged_at[k] - 1 if diverged_at[k] else step
                res = {"curve": _downsample(losses[:n_steps, k]), "steps": int(n_steps)}
                if diverged_at[k]:
                    res.update(status="diverged", metrics={**_nan_metrics(), "diverged_step": diverged_at[k]})
                else:
                    res.update(status="done", metrics={"loss": float(eval_loss[k]), "accuracy": float(eval_acc[k])})
                if checks:
                    res["metrics"].update(val_curve=val_curves[k], eval_seconds=eval_seconds / K)
                results[order[k]] = res
    except Exception as e:
        msg = f"{type(e).__name__}: {e}"
        results = [{"status": "failed", "metrics": _nan_metrics(), "curve": [], "steps": 0, "error": msg}
                   for _ in trials]
    seconds = (time.perf_counter() - t0) / K
    for r in results:
        r["seconds"] = seconds
    return results


def _signature(trial):
    hp = {k: v for k, v in trial["hparams"].items() if k != "lr"}
    return json.dumps([trial["optimizer"], hp], sort_keys=True)


def _segment_optimizers(trials, model):
    """One optimizer per run of consecutive members with the same rule and hyperparameters except
    the learning rate, working on views ``W[a:b]`` of the stacked weights with ``lr`` an array of shape
    (b − a, 1, 1) (float32, as a Python-float lr meets float32 arrays). Every rule's update is
    elementwise, so member k's step reads only member k's numbers (global-norm clipping is not:
    such trials get a segment of their own)."""
    from ..optim import get_optimizer
    from ..tensor import Tensor

    opts, segments, a = [], [], 0
    sig = [_signature(t) + (str(i) if "clip_norm" in t["hparams"] else "") for i, t in enumerate(trials)]
    while a < len(trials):
        b = a + 1
        while b < len(trials) and sig[b] == sig[a]:
            b += 1
        views = [Tensor(pk.data[a:b], requires_grad=True) for pk in model.parameters()]
        hp = dict(trials[a]["hparams"])
        lrs = [t["hparams"].get("lr") for t in trials[a:b]]
        opt = get_optimizer(trials[a]["optimizer"], views, **hp)
        if len(set(lrs)) > 1:
            for lr in lrs:
                opt.lr = lr  # validated one by one, then set as one array
            opt._lr = np.array(lrs, dtype=np.float32).reshape(-1, 1, 1)
        opts.append(opt)
        segments.append((a, b))
        a = b
    return opts, segments


def run_group(trials: list[dict]) -> list[dict]:
    """One task of the executor: a single trial through :func:`run_trial`, several (a stack) through
    :func:`run_stacked`."""
    return [run_trial(trials[0])] if len(trials) == 1 else run_stacked(trials)
