"""Running a sweep: plan the trials, run what is not stored yet, choose, test, summarize.

1. **Selection.** Every point of every optimizer's space × every seed is a "select" trial: trained
   on the training split, scored on the validation split. A configuration's score is its mean
   metric over seeds; only configurations that finished on every seed qualify (one diverged seed
   disqualifies: a setting that sometimes explodes is not a tuned setting). Best: highest mean
   accuracy (or lowest mean loss), the first listed on a tie; none when every qualifying setting
   scored at chance (nothing learned in the range: no tie to break).
2. **Test.** The chosen configuration of each optimizer (and, with ``book``, the source book's own
   setting) is re-trained on every seed on training + validation examples and scored once on the
   test set (once when the two are the same setting by value). Nothing on the test set influences
   a choice.
3. **Summary.** ``summary.json`` (:func:`summarize`): per optimizer the best configuration, mean, sd,
   the 95 % t-interval over seeds and the Wilson interval of the pooled answers (validation and
   test), the divergence fraction, ``best_on_grid_edge``, the ranking with its tie groups, the book's
   race beside it and the verdict (:mod:`.stats`). It holds no timings (except the seconds to a
   ``target``, when one is asked for), so the same sweep gives the same file whatever the executor
   or the number of workers.

Trials are handed to the executor in *groups*: one trial each, or, for small networks, up to 96
trials of a phase stacked into one model (:func:`~mlplab.sweep.trial.run_stacked`). Groups depend only
on the plan, and a group's rows are stored in one transaction, so an interrupted sweep resumes with
the same groups and the same numbers.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from . import stats
from .execute import _STOP, TrialsNotRun, clear_stop, describe_failure, execute, is_lost, request_stop  # noqa: F401
from .space import canonical_hparams, points
from .stats import describe, on_edge, ranking
from .store import INFRASTRUCTURE_ERRORS, STORE_FILE, Store
from .trial import make_trial, run_group, trial_key

__all__ = ["plan_selection", "plan_test", "run_sweep", "execute", "summarize", "group_trials", "SUMMARY_FILE",
           "STACK_MAX_PARAMS", "OtherSweep", "TrialsNotRun"]

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
    """(role, optimizer) -> list of trials over seeds; role "tuned" or "book". When the book's setting is
    the tuned one by value (AdaGrad's {"lr": 0.01} and {"lr": 0.01, "eps": 1e-10, ...}, or a log grid's
    0.0099999999 and 0.01: :func:`~mlplab.sweep.space.canonical_hparams`), the book's trials are the
    tuned ones: trained once."""
    plan = {}
    for o in settings.optimizers:
        if best.get(o) is not None:
            plan[("tuned", o)] = [make_trial("test", o, best[o], s, settings.problem) for s in settings.seeds]
        if settings.book:
            book = book_hparams(settings, o)
            if best.get(o) is not None and canonical_hparams(o, book) == canonical_hparams(o, best[o]):
                plan[("book", o)] = plan[("tuned", o)]
            else:
                plan[("book", o)] = [make_trial("test", o, book, s, settings.problem) for s in settings.seeds]
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


def _metric(row, metric):
    return row["metrics"].get(metric, math.nan) if row is not None and row["status"] == "done" else math.nan


def choose(settings, sel_plan, rows_by_key, splits=None) -> dict:
    """optimizer -> the best qualifying hparams (or None when every configuration diverged/failed, or,
    given ``splits`` (:func:`~mlplab.sweep.problem.split_facts`), when every qualifying one scored at
    chance on the validation split: nothing learned, so no "best" to pick among ties)."""
    best = {}
    sign = 1 if settings.metric == "accuracy" else -1
    for o, configs in sel_plan.items():
        top, top_score, learned = None, -math.inf, False
        for hp, trials in configs:
            rows = [rows_by_key.get(trial_key(t)) for t in trials]
            vals = [_metric(r, settings.metric) for r in rows]
            if all(math.isfinite(v) for v in vals):
                score = sign * sum(vals) / len(vals)
                if score > top_score:
                    top, top_score = hp, score
                if splits is None or not stats.at_chance([_metric(r, "accuracy") for r in rows], splits["val"]["n"],
                                                   splits["val"]["chance"]):
                    learned = True
        best[o] = top if learned else None
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


def split_facts_here(problem):
    """:func:`~mlplab.sweep.problem.split_facts` in this process, or None when the data cannot be read here
    (a cluster's workers may have data this machine lacks): then no pooled intervals and no chance check."""
    from ..data.idx import DataError
    from .problem import split_facts

    try:
        return split_facts(problem)
    except (OSError, ValueError, DataError):
        return None


def summarize(settings, sel_plan, test_plan, best, rows_by_key, splits="here") -> dict:
    """The content of summary.json (see the module docstring); no timings. ``splits``: the sizes and
    chance levels of the validation and test splits (:func:`~mlplab.sweep.problem.split_facts`; computed
    here by default), for the intervals over pooled examples and the chance-level check; None: unknown."""
    splits = split_facts_here(settings.problem) if splits == "here" else splits
    m = settings.metric
    bounds = (0.0, 1.0) if m == "accuracy" else (0.0, math.inf)
    if splits is None:
        splits = {"val": {"n": 0, "chance": 0.0}, "test": {"n": 0, "chance": 0.0}}  # no pooled interval, no chance
    out = {"settings": settings.to_dict(), "metric": m, "optimizers": {}, "warnings": [], "splits": splits,
           "intervals": {"seeds": f"Student t over seeds (at least {stats.SEED_INTERVAL_MIN} seeds), cut at 0 and "
                                  "100 % for an accuracy",
                         "pooled": "Wilson score interval of the answers of every seed pooled (seeds × examples): "
                                   "how precisely the trained networks were scored, not the seed-to-seed spread"}}
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
            acc = [_metric(r, "accuracy") for r in rows]
            curve.append({"hparams": hp, "values": [v if math.isfinite(v) else None for v in vals],
                          "diverged": status.count("diverged"), "failed": status.count("failed"),
                          **{k: v for k, v in describe(vals, bounds=bounds).items() if k != "n"}, "n": len(vals),
                          "pooled": stats.pooled_accuracy(acc, splits["val"]["n"]) if m == "accuracy" else None,
                          "at_chance": all(math.isfinite(a) for a in acc)
                          and stats.at_chance(acc, splits["val"]["n"], splits["val"]["chance"])})
        entry = {"trials": n_all, "diverged_fraction": n_div / n_all if n_all else 0.0, "best": best.get(o),
                 "lr_curve": curve}
        finished = [c for c in curve if c["diverged"] == 0 and c["failed"] == 0 and None not in c["values"]]
        entry["nothing_learned"] = bool(finished) and all(c["at_chance"] for c in finished)
        if best.get(o) is not None:
            entry["selection"] = next(c for c in curve if c["hparams"] == best[o])
            entry["best_on_grid_edge"] = on_edge(best[o]["lr"], [hp["lr"] for hp, _ in configs])
            if entry["best_on_grid_edge"]:
                lrs = sorted(hp["lr"] for hp, _ in configs)
                side = "smallest" if best[o]["lr"] == lrs[0] else "largest"
                out["warnings"].append(f"{o}: the best learning rate {best[o]['lr']:g} is the {side} one tried "
                                       f"({lrs[0]:g} to {lrs[-1]:g}); widen the range")
        elif entry["nothing_learned"]:
            entry["best_on_grid_edge"] = False
            lrs = sorted(hp["lr"] for hp, _ in configs)
            out["warnings"].append(
                f"{o}: nothing learned in this range: every setting tried (learning rates {lrs[0]:g} to {lrs[-1]:g}) "
                f"scored at chance on the validation split (not above {100 * splits['val']['chance']:.1f} %, "
                "always answering the commonest class); nothing chosen: move the range or train longer")
        else:
            entry["best_on_grid_edge"] = False
            out["warnings"].append(f"{o}: every configuration diverged or failed on some seed; nothing chosen")
        if settings.target is not None:
            entry["time_to_target"] = stats.time_to_target(configs, rows_by_key, settings.target, best.get(o))
        for role, store_to in (("tuned", tuned_seed), ("book", book_seed)):
            trials = test_plan.get((role, o))
            if not trials:
                continue
            rows = [rows_by_key.get(trial_key(t)) for t in trials]
            acc = [_metric(r, "accuracy") for r in rows]
            loss = [_metric(r, "loss") for r in rows]
            entry["test" if role == "tuned" else "book_test"] = {
                "hparams": trials[0]["hparams"], "accuracy": describe(acc, bounds=(0.0, 1.0)),
                "loss": describe(loss, bounds=(0.0, math.inf)),
                "pooled": stats.pooled_accuracy(acc, splits["test"]["n"]),
                "per_seed": {str(t["seed"]): (a if math.isfinite(a) else None) for t, a in zip(trials, acc)},
                "diverged": sum(1 for r in rows if r and r["status"] == "diverged")}
            if role == "book" and trials is test_plan.get(("tuned", o)):
                entry["book_test"]["same_as_tuned"] = True  # the same setting by value: trained once
            store_to[o] = {t["seed"]: a for t, a in zip(trials, acc)}
        out["optimizers"][o] = entry
    if tuned_seed:
        out["ranking"] = ranking(tuned_seed, higher_is_better=True)
        out["ranking_groups"] = stats.tie_groups(out["ranking"])
        out["inclusion"] = stats.inclusion(tuned_seed, out["settings"]["space"])
    if book_seed:
        out["book_ranking"] = ranking(book_seed, higher_is_better=True)
        out["book_ranking_groups"] = stats.tie_groups(out["book_ranking"])
    if tuned_seed and book_seed:
        cmp = stats.compare_rankings(book_seed, tuned_seed, higher_is_better=True)
        out["ranking_verdict"] = cmp
        out["ranking_survives"] = {"survives": True, "changes": False}.get(cmp["verdict"])
    return out


def _json_clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_clean(v) for v in x]
    return x


def _write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, then a rename (a full disk leaves
    the old file, or none, and no temporary file)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_summary(path: Path, summary: dict) -> None:
    _write_atomic(path, json.dumps(_json_clean(summary), indent=2, sort_keys=False) + "\n")


def run_sweep(settings, out, executor, log=print, trial_fn=run_group, progress=None, retry_failed=False) -> dict:
    """Run (or resume) the sweep described by ``settings`` into folder ``out``; returns the summary.

    ``log`` receives the few lines a person should see ("120 of 160 trials already done", warnings).
    The folder is locked against a second writer for the whole run (:class:`mlplab.runtime.runlock.RunLock`:
    raises ``FolderInUse`` naming the other process). ``retry_failed`` first deletes the stored failed
    trials, so they run again.

    Raises :class:`TrialsNotRun` when the infrastructure could not run some trials; ``summary.json``
    is then written marked ``"partial": true`` with what is missing (a partial summary chooses nothing
    from an incomplete selection). A sweep that fails before storing any trial in a folder it created
    leaves nothing behind (no ``settings.json`` or empty store).
    """
    from ..runtime.runlock import RunLock

    out = Path(out)
    with RunLock(out, command="sweep",
                 on_stale=lambda owner: log(f"note: took over the lock of a process that is gone ({owner})")):
        fresh = not (out / "settings.json").exists() and not (out / STORE_FILE).exists()
        try:
            return _run_locked(settings, out, executor, log, trial_fn, progress, retry_failed)
        except BaseException:
            if fresh:
                _remove_if_empty(out)
            raise


def _remove_if_empty(out: Path) -> None:
    """After a failure in a folder this run started: remove its files if no trial was stored."""
    try:
        with Store(out) as store:
            if store.count():
                return
    except (OSError, ValueError):
        pass
    for name in (STORE_FILE, STORE_FILE + "-journal", "settings.json", "settings.json.tmp"):
        try:
            (out / name).unlink(missing_ok=True)
        except OSError:
            pass


def _run_locked(settings, out, executor, log, trial_fn, progress, retry_failed=False):
    stack = _stacking(settings)
    t0 = time.perf_counter()
    wanted = json.loads(json.dumps(_json_clean(settings.to_dict())))
    _check_same_sweep(out, wanted)
    from .. import folderkind

    folderkind.check(out, "sweep", "mlplab sweep")  # a run's or lab's folder is refused (issue 23 §3)
    with Store(out) as store:
        if not (out / "settings.json").exists():
            _write_atomic(out / "settings.json", json.dumps(wanted, indent=2) + "\n")
        failures = store.failures()
        if retry_failed:
            n = store.forget_failed()
            log(f"--retry-failed: {n} stored failed trial{'s' if n != 1 else ''} will run again")
        elif failures:
            infra = sorted(k for k in failures if k in INFRASTRUCTURE_ERRORS)
            n = sum(failures.values())
            log(f"note: {n} stored trial{'s' if n != 1 else ''} failed" +
                (f", {sum(failures[k] for k in infra)} of them with {', '.join(infra)} (the executor's failure, not "
                 "the training's, stored by an older mlplab)" if infra else "") +
                "; `--retry-failed` runs them again")
        sel_plan = plan_selection(settings)
        sel_trials = [t for cs in sel_plan.values() for _, ts in cs for t in ts]
        test_plan, best, splits = {}, {}, "here"
        try:
            _phase(store, executor, group_trials(sel_trials, stack), "selection", log, trial_fn, progress)
            rows = {r["key"]: r for r in store.rows()}
            splits = split_facts_here(settings.problem)
            best = choose(settings, sel_plan, rows, splits)
            test_plan = plan_test(settings, best)
            test_trials = [t for ts in test_plan.values() for t in ts]
            _phase(store, executor, group_trials(test_trials, stack), "test", log, trial_fn, progress)
        except TrialsNotRun as e:
            rows = {r["key"]: r for r in store.rows()}
            e.partial_written = _write_partial(out, settings, sel_plan, test_plan, best, rows, e, splits)
            raise
        rows = {r["key"]: r for r in store.rows()}
    summary = summarize(settings, sel_plan, test_plan, best, rows, splits)
    write_summary(out / SUMMARY_FILE, summary)
    folderkind.mark(out, "sweep")  # (trials.sqlite tells a sweep from its first trial on; the marker names it too)
    for w in summary["warnings"]:
        log(f"warning: {w}")
    log(f"{summary['trials']['total']} trials in {out} ({time.perf_counter() - t0:.1f} s); summary in "
        f"{out / SUMMARY_FILE}")
    return Summary(summary)


def _write_partial(out, settings, sel_plan, test_plan, best, rows, error, splits="here") -> bool:
    """summary.json for a sweep the infrastructure left incomplete: what is there, marked ``"partial": true``
    with the missing trials per phase and the reason; nothing is chosen from an incomplete selection."""
    def missing(trials):
        return sorted({trial_key(t) for t in trials} - set(rows))

    sel_missing = missing([t for cs in sel_plan.values() for _, ts in cs for t in ts])
    if sel_missing:
        best, test_plan = {}, {}
    try:
        summary = summarize(settings, sel_plan, test_plan, best, rows, splits)
    except Exception:  # noqa: BLE001 - e.g. the data cannot be read here either: no partial summary, the
        return False  # error being raised says what is wrong
    test_missing = missing([t for ts in test_plan.values() for t in ts])
    incomplete = [o for o, cs in sel_plan.items() if any(trial_key(t) not in rows for _, ts in cs for t in ts)]
    summary["warnings"] = [f"partial: {error}"] + [w for w in summary["warnings"]
                                                   if not any(w.startswith(f"{o}:") for o in incomplete)]
    summary["partial"] = True
    summary["missing"] = {"select": len(sel_missing), "test": len(test_missing) if not sel_missing else None,
                          "reason": str(error)}
    try:
        write_summary(out / SUMMARY_FILE, summary)
    except OSError:
        return False  # the partial summary is a courtesy; the error being raised says what is wrong
    return True


def _phase(store, executor, groups, name, log, trial_fn, progress):
    keys = [trial_key(t) for g in groups for t in g]
    done = store.done_keys()
    already = sum(k in done for k in keys)
    if already:
        log(f"{name}: {already} of {len(keys)} trials already done")
    else:
        log(f"{name}: {len(keys)} trials")
    execute(groups, store, executor, trial_fn=trial_fn, progress=progress, phase=name)
