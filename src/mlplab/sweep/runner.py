"""Running a sweep: plan the trials, run what is not stored yet, choose, test, summarize.

1. **Selection.** Every point of every optimizer's space × every seed is a "select" trial: trained
   on the training split, scored on the validation split. A configuration's score is its mean
   metric over seeds; only configurations that finished on every seed qualify (one diverged seed
   disqualifies: a setting that sometimes explodes is not a tuned setting). Best: highest mean
   accuracy (or lowest mean loss), the first listed on a tie.
2. **Test.** The chosen configuration of each optimizer (and, with ``book``, the source book's own
   setting) is re-trained on every seed on training + validation examples and scored once on the
   test set. Nothing on the test set influences a choice.
3. **Summary.** ``summary.json`` (:func:`summarize`): per optimizer the best configuration, mean, sd
   and 95 % t-interval over seeds (validation and test), the divergence fraction, ``best_on_grid_edge``,
   the ranking with statistical ties, and the book's race beside it. It holds no timings, so the same
   sweep gives the same file whatever the executor or the number of workers.

Trials are handed to the executor in *groups*: one trial each, or, for small networks, up to 96
trials of a phase stacked into one model (:func:`~mlplab.sweep.trial.run_stacked`). Groups depend only
on the plan, and a group's rows are stored in one transaction, so an interrupted sweep resumes with
the same groups and the same numbers.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .space import points
from .stats import describe, on_edge, ranking
from .store import Store
from .trial import make_trial, run_group, trial_key

__all__ = ["plan_selection", "plan_test", "run_sweep", "execute", "summarize", "group_trials", "SUMMARY_FILE",
           "STACK_MAX_PARAMS", "OtherSweep"]

SUMMARY_FILE = "summary.json"
STACK_MAX_PARAMS = 20_000  # stack="auto": networks up to this many parameters train stacked
STACK_MAX_MEMBERS = 96  # networks per stacked model (a few such groups keep two workers busy)


def plan_selection(settings) -> dict:
    """optimizer -> list of (hparams, [trials over seeds])."""
    plan = {}
    for o in settings.optimizers:
        pts = points(settings.spaces[o], settings.method, settings.points, settings.search_seed)
        plan[o] = [(hp, [make_trial("select", o, hp, s, settings.problem) for s in settings.seeds]) for hp in pts]
    return plan


def book_hparams(settings, optimizer) -> dict:
    from ..optim import DEFAULT_HPARAMS

    fixed = settings.spaces[optimizer].fixed
    hp = {k: (list(v) if isinstance(v, tuple) else v) for k, v in DEFAULT_HPARAMS[optimizer].items()}
    return {**hp, **{k: v for k, v in fixed.items() if k not in hp}}


def plan_test(settings, best: dict) -> dict:
    """(role, optimizer) -> list of trials over seeds; role "tuned" or "book"."""
    plan = {}
    for o in settings.optimizers:
        if best.get(o) is not None:
            plan[("tuned", o)] = [make_trial("test", o, best[o], s, settings.problem) for s in settings.seeds]
        if settings.book:
            plan[("book", o)] = [make_trial("test", o, book_hparams(settings, o), s, settings.problem)
                                 for s in settings.seeds]
    return plan


def _stacking(settings) -> bool:
    from .problem import n_params

    if settings.stack == "auto":
        return n_params(settings.problem["layers"]) <= STACK_MAX_PARAMS
    return bool(settings.stack)


def group_trials(trials: list[dict], stack: bool, max_stack: int | None = None) -> list[list[dict]]:
    """Unique trials (by key) in groups: one each, or stacked per phase in chunks of at most
    ``max_stack``, in plan order (so the groups depend on the plan only, never on the workers)."""
    unique = list({trial_key(t): t for t in trials}.values())
    max_stack = max_stack or STACK_MAX_MEMBERS
    if not stack:
        return [[t] for t in unique]
    groups: dict = {}
    for t in unique:
        groups.setdefault(t["phase"], []).append(t)
    return [g[i:i + max_stack] for g in groups.values() for i in range(0, len(g), max_stack)]


def execute(groups, store: Store, executor, trial_fn=run_group, progress=None, max_restarts=3) -> int:
    """Run ``groups`` whose trials are not all stored yet; store each group's results as it returns.

    A ``BrokenProcessPool`` (a forked worker was killed) restarts the pool and resubmits the groups
    that had not returned; after ``max_restarts`` restarts without any group finishing in between it
    gives up with a RuntimeError. Any other exception of a task is recorded as a failed trial.
    Ctrl-C cancels what has not started and re-raises: every stored trial stays. Returns how many
    trials ran."""
    done = store.done_keys()
    todo = [g for g in groups if not all(trial_key(t) in done for t in g)]
    total = sum(len(g) for g in todo)
    ran, restarts = 0, 0
    pending = {executor.submit(trial_fn, g): g for g in todo}
    try:
        while pending:
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            lost = []
            for f in finished:
                g = pending.pop(f)
                try:
                    results = f.result()
                except BrokenProcessPool:
                    lost.append(g)
                    continue
                except Exception as e:  # e.g. Dask's KilledWorker after its own retries
                    results = [{"status": "failed", "metrics": {"loss": math.nan, "accuracy": math.nan},
                                "curve": [], "steps": 0, "error": f"{type(e).__name__}: {e}"} for _ in g]
                with store.db:
                    store.db.execute("BEGIN")
                    for t, r in zip(g, results):
                        store.put(trial_key(t), t, r)
                ran += len(g)
                restarts = 0
                if progress is not None:
                    for t, r in zip(g, results):
                        progress(t, r, ran, total)
            if lost:
                restarts += 1
                if restarts > max_restarts:
                    raise RuntimeError(f"the worker processes died {restarts} times in a row without finishing a "
                                       "trial; see the system log (out of memory?)")
                lost += list(pending.values())
                for f in pending:
                    f.cancel()
                executor.restart()
                pending = {executor.submit(trial_fn, g): g for g in lost}
    except BaseException:
        for f in pending:
            f.cancel()
        raise
    return ran


def _metric(row, metric):
    return row["metrics"].get(metric, math.nan) if row is not None and row["status"] == "done" else math.nan


def choose(settings, sel_plan, rows_by_key) -> dict:
    """optimizer -> the best qualifying hparams (or None when every configuration diverged/failed)."""
    best = {}
    sign = 1 if settings.metric == "accuracy" else -1
    for o, configs in sel_plan.items():
        top, top_score = None, -math.inf
        for hp, trials in configs:
            vals = [_metric(rows_by_key.get(trial_key(t)), settings.metric) for t in trials]
            if all(math.isfinite(v) for v in vals):
                score = sign * sum(vals) / len(vals)
                if score > top_score:
                    top, top_score = hp, score
        best[o] = top
    return best


class OtherSweep(ValueError):
    """The folder holds a sweep with other settings: resuming it with these would mix two sweeps."""


def _check_same_sweep(out: Path, wanted: dict) -> None:
    """Refuse a folder whose settings.json describes another sweep, naming what differs."""
    path = out / "settings.json"
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    if saved == wanted:
        return
    keys = sorted(set(saved) | set(wanted))
    differ = [f"problem.{k}" for k in sorted(set(saved.get("problem", {})) | set(wanted.get("problem", {})))
              if saved.get("problem", {}).get(k) != wanted.get("problem", {}).get(k)] if "problem" in keys else []
    differ = [k for k in keys if k != "problem" and saved.get(k) != wanted.get(k)] + differ
    raise OtherSweep(f"{out} holds a sweep with other settings (they differ in {', '.join(differ) or 'format'}); "
                     "the same command resumes a sweep: give its settings again, or choose another --out")


class Summary(dict):
    """A sweep's summary (the content of summary.json, a plain dict) that Jupyter shows with its figures."""

    def _repr_html_(self) -> str:
        from ..display import html

        return html(self)


def summarize(settings, sel_plan, test_plan, best, rows_by_key) -> dict:
    """The content of summary.json (see the module docstring); no timings."""
    m = settings.metric
    out = {"settings": settings.to_dict(), "metric": m, "optimizers": {}, "warnings": []}
    counts = {"select": 0, "test": 0, "done": 0, "diverged": 0, "failed": 0}
    seen = set()
    for trials in [t for _, ts in (c for cs in sel_plan.values() for c in cs) for t in ts] + \
            [t for ts in test_plan.values() for t in ts]:
        k = trial_key(trials)
        if k in seen:
            continue
        seen.add(k)
        row = rows_by_key.get(k)
        counts[trials["phase"]] += 1
        if row is not None:
            counts[row["status"]] += 1
    counts["total"] = counts["select"] + counts["test"]
    out["trials"] = counts
    tuned_seed, book_seed = {}, {}
    for o, configs in sel_plan.items():
        curve, n_div, n_all = [], 0, 0
        for hp, trials in configs:
            rows = [rows_by_key.get(trial_key(t)) for t in trials]
            status = [r["status"] if r else "missing" for r in rows]
            n_div += status.count("diverged")
            n_all += len(rows)
            vals = [_metric(r, m) for r in rows]
            curve.append({"hparams": hp, "values": [v if math.isfinite(v) else None for v in vals],
                          "diverged": status.count("diverged"), "failed": status.count("failed"),
                          **{k: v for k, v in describe(vals).items() if k != "n"}, "n": len(vals)})
        entry = {"trials": n_all, "diverged_fraction": n_div / n_all if n_all else 0.0, "best": best.get(o),
                 "lr_curve": curve}
        if best.get(o) is not None:
            entry["selection"] = next(c for c in curve if c["hparams"] == best[o])
            entry["best_on_grid_edge"] = on_edge(best[o]["lr"], [hp["lr"] for hp, _ in configs])
            if entry["best_on_grid_edge"]:
                lrs = sorted(hp["lr"] for hp, _ in configs)
                side = "smallest" if best[o]["lr"] == lrs[0] else "largest"
                out["warnings"].append(f"{o}: the best learning rate {best[o]['lr']:g} is the {side} one tried "
                                       f"({lrs[0]:g} to {lrs[-1]:g}); widen the range")
        else:
            entry["best_on_grid_edge"] = False
            out["warnings"].append(f"{o}: every configuration diverged or failed on some seed; nothing chosen")
        for role, store_to in (("tuned", tuned_seed), ("book", book_seed)):
            trials = test_plan.get((role, o))
            if not trials:
                continue
            rows = [rows_by_key.get(trial_key(t)) for t in trials]
            acc = [_metric(r, "accuracy") for r in rows]
            loss = [_metric(r, "loss") for r in rows]
            entry["test" if role == "tuned" else "book_test"] = {
                "hparams": trials[0]["hparams"], "accuracy": describe(acc), "loss": describe(loss),
                "per_seed": {str(t["seed"]): (a if math.isfinite(a) else None) for t, a in zip(trials, acc)},
                "diverged": sum(1 for r in rows if r and r["status"] == "diverged")}
            store_to[o] = {t["seed"]: a for t, a in zip(trials, acc)}
        out["optimizers"][o] = entry
    if tuned_seed:
        out["ranking"] = ranking(tuned_seed, higher_is_better=True)
    if book_seed:
        out["book_ranking"] = ranking(book_seed, higher_is_better=True)
    if tuned_seed and book_seed:
        out["ranking_survives"] = ([r["optimizer"] for r in out["ranking"]]
                                   == [r["optimizer"] for r in out["book_ranking"]])
    return out


def _json_clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_clean(v) for v in x]
    return x


def write_summary(path: Path, summary: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_json_clean(summary), indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def run_sweep(settings, out, executor, log=print, trial_fn=run_group, progress=None) -> dict:
    """Run (or resume) the sweep described by ``settings`` into folder ``out``; returns the summary.

    ``log`` receives the few lines a person should see ("120 of 160 trials already done", warnings).
    The folder is locked against a second writer for the whole run (:class:`mlplab.runlock.RunLock`:
    raises ``FolderInUse`` naming the other process).
    """
    from ..runlock import RunLock

    out = Path(out)
    with RunLock(out, command="sweep",
                 on_stale=lambda owner: log(f"note: took over the lock of a process that is gone ({owner})")):
        return _run_locked(settings, out, executor, log, trial_fn, progress)


def _run_locked(settings, out, executor, log, trial_fn, progress):
    stack = _stacking(settings)
    t0 = time.perf_counter()
    wanted = json.loads(json.dumps(_json_clean(settings.to_dict())))
    _check_same_sweep(out, wanted)
    from .. import folderkind

    folderkind.check(out, "sweep", "mlplab sweep")  # a run's or lab's folder is refused (issue 23 §3)
    with Store(out) as store:
        (out / "settings.json").write_text(json.dumps(wanted, indent=2) + "\n")
        sel_plan = plan_selection(settings)
        sel_trials = [t for cs in sel_plan.values() for _, ts in cs for t in ts]
        _phase(store, executor, group_trials(sel_trials, stack), "selection", log, trial_fn, progress)
        rows = {r["key"]: r for r in store.rows()}
        best = choose(settings, sel_plan, rows)
        test_plan = plan_test(settings, best)
        test_trials = [t for ts in test_plan.values() for t in ts]
        _phase(store, executor, group_trials(test_trials, stack), "test", log, trial_fn, progress)
        rows = {r["key"]: r for r in store.rows()}
    summary = summarize(settings, sel_plan, test_plan, best, rows)
    write_summary(out / SUMMARY_FILE, summary)
    folderkind.mark(out, "sweep")  # (trials.sqlite tells a sweep from its first trial on; the marker names it too)
    for w in summary["warnings"]:
        log(f"warning: {w}")
    log(f"{summary['trials']['total']} trials in {out} ({time.perf_counter() - t0:.1f} s); summary in "
        f"{out / SUMMARY_FILE}")
    return Summary(summary)


def _phase(store, executor, groups, name, log, trial_fn, progress):
    keys = [trial_key(t) for g in groups for t in g]
    done = store.done_keys()
    already = sum(k in done for k in keys)
    if already:
        log(f"{name}: {already} of {len(keys)} trials already done")
    else:
        log(f"{name}: {len(keys)} trials")
    execute(groups, store, executor, trial_fn=trial_fn, progress=progress)
