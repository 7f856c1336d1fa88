"""mlplab.sweep: search points, t-intervals (by coverage), the store, trials, stacking, resume, killed workers."""

from __future__ import annotations

import json
import math
import os
import signal

import numpy as np
import pytest

from mlplab.sweep import stats
from mlplab.sweep.executor import InlineExecutor, LocalExecutor, make_executor
from mlplab.sweep.problem import validate_problem
from mlplab.sweep.runner import SUMMARY_FILE, run_sweep
from mlplab.sweep.settings import SweepSettings
from mlplab.sweep.space import Choice, LogRange, Range, Space, points
from mlplab.sweep.store import Store
from mlplab.sweep.trial import make_trial, run_group, run_stacked, run_trial, trial_key

TINY = dict(dataset="spirals", layers="2,8,2", train_size=300, val_size=100, test_size=200, epochs=1, batch_size=32)


def tiny_settings(**kw):
    base = dict(optimizers="sgd,adam", lr_grid=3, seeds=3, stack=False, **TINY)
    base.update(kw)
    return SweepSettings.from_options(**base)


# ----------------------------------------------------------------------------------------- space
def test_grid_is_log_spaced_with_ends_included():
    pts = points(Space("sgd", {"lr": LogRange(1e-4, 1.0)}), "grid", 5)
    assert [p["lr"] for p in pts] == [1e-4, 1e-3, 1e-2, 1e-1, 1.0]


def test_grid_is_a_product_and_keeps_fixed_values():
    sp = Space("momentum", {"lr": LogRange(0.01, 0.1), "momentum": Choice((0.5, 0.9))}, {"weight_decay": 0.0})
    pts = points(sp, "grid", 2)
    assert pts == [{"weight_decay": 0.0, "lr": lr, "momentum": m} for lr in (0.01, 0.1) for m in (0.5, 0.9)]


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_random_and_sobol_points_are_seeded_and_in_range(method):
    sp = Space("adam", {"lr": LogRange(1e-5, 1e-1), "eps": Range(1e-8, 1e-6)})
    a, b, c = points(sp, method, 16, seed=3), points(sp, method, 16, seed=3), points(sp, method, 16, seed=4)
    assert a == b and a != c and len(a) == 16
    assert all(1e-5 <= p["lr"] <= 1e-1 and 1e-8 <= p["eps"] <= 1e-6 for p in a)


def test_sobol_covers_the_square_more_evenly_than_random():
    """Low discrepancy is the point of Sobol: its centered L2 discrepancy is below random's."""
    from scipy.stats import qmc

    sp = Space("adam", {"a": Range(0.0, 1.0), "b": Range(0.0, 1.0)})

    def disc(method, seed):
        return qmc.discrepancy(np.array([[p["a"], p["b"]] for p in points(sp, method, 64, seed)]))

    sob = np.mean([disc("sobol", s) for s in range(5)])
    rnd = np.mean([disc("random", s) for s in range(5)])
    assert sob < 0.5 * rnd


def test_space_errors_are_one_line():
    with pytest.raises(ValueError, match="0 < low <= high"):
        LogRange(0.0, 1.0)
    with pytest.raises(ValueError, match="unknown search method"):
        points(Space("sgd", {"lr": LogRange(0.1, 1)}), "bayes", 3)


# ----------------------------------------------------------------------------------------- stats
def test_t_quantile_matches_tables():
    assert stats.t_quantile(0.975, 4) == pytest.approx(2.7764451, abs=1e-6)
    assert stats.t_quantile(0.975, 1000) == pytest.approx(1.9623391, abs=1e-6)


def test_describe_matches_the_formulas():
    x = [1.0, 2.0, 4.0, 7.0]
    d = stats.describe(x)
    sd = math.sqrt(sum((v - 3.5) ** 2 for v in x) / 3)
    half = 3.1824463 * sd / 2
    assert d["mean"] == 3.5 and d["sd"] == pytest.approx(sd) and d["ci"] == pytest.approx([3.5 - half, 3.5 + half])
    assert stats.describe([5.0, float("nan")]) == {"n": 1, "mean": 5.0, "sd": None, "ci": None,
                                                   "note": "n = 1: too few seeds for a seed interval"}


def _coverage(ci_fn, n, trials=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(3.0, 2.0, (trials, n))
    hits = 0
    for row in X:
        lo, hi = ci_fn(row)
        hits += lo <= 3.0 <= hi
    return hits / trials


def _z_interval(row):  # the planted bug: the normal quantile where Student's t belongs
    m, s = row.mean(), row.std(ddof=1)
    return m - 1.96 * s / math.sqrt(len(row)), m + 1.96 * s / math.sqrt(len(row))


@pytest.mark.parametrize("n", [3, 5])
def test_confidence_interval_covers_the_mean_95_percent_of_the_time(n):
    """Samples of a known normal distribution: the 95 % t-interval must contain the true mean in
    95 % of them (binomial standard error 0.0034 for 4000 samples; 3.5 of them allowed)."""
    cov = _coverage(lambda r: stats.describe(r)["ci"], n)
    assert abs(cov - 0.95) < 3.5 * math.sqrt(0.95 * 0.05 / 4000), cov


def test_the_coverage_check_catches_a_z_interval():
    """The same check rejects the z-interval for small n (it covers about 88 % at n = 5)."""
    cov = _coverage(_z_interval, 5)
    assert abs(cov - 0.95) > 3.5 * math.sqrt(0.95 * 0.05 / 4000), cov
    assert 0.86 < cov < 0.90


def test_paired_ties_and_ranking():
    rng = np.random.default_rng(0)
    base = rng.normal(0.9, 0.01, 6)
    a = {s: v for s, v in enumerate(base)}
    b = {s: v - 0.02 + rng.normal(0, 0.001) for s, v in enumerate(base)}  # clearly worse, paired
    wiggle = [0.003, -0.003, 0.002, -0.002, 0.001, -0.0005]  # mean difference 0.00008, sd 0.0024
    c = {s: v + w for (s, v), w in zip(enumerate(base), wiggle)}
    assert stats.paired_tie(a, b)[0] is False and stats.paired_tie(a, c)[0] is True
    rows = stats.ranking({"a": a, "b": b, "c": c})
    by = {r["optimizer"]: r for r in rows}
    assert set(by["a"]["tied_with"]) == {"c"} and by["b"]["tied_with"] == []
    assert by["b"]["rank"] == 3 and by["a"]["rank"] == by["c"]["rank"] == 1


def test_on_edge():
    assert stats.on_edge(1e-3, [1e-3, 1e-2, 1e-1]) and stats.on_edge(0.1, [1e-3, 1e-2, 0.1])
    assert not stats.on_edge(1e-2, [1e-3, 1e-2, 1e-1]) and not stats.on_edge(1.0, [1.0])


# ----------------------------------------------------------------------------------------- store
def test_store_keeps_one_row_per_key_and_survives_reopening(tmp_path):
    t = make_trial("select", "sgd", {"lr": 0.1}, 0, {"x": 1})
    r = {"status": "diverged", "metrics": {"loss": float("nan"), "accuracy": float("nan"), "diverged_step": 3},
         "curve": [1.0, float("inf")], "steps": 2, "seconds": 0.1}
    with Store(tmp_path) as st:
        assert st.put(trial_key(t), t, r) is True
        assert st.put(trial_key(t), t, r) is False  # a second arrival is not counted twice
    with Store(tmp_path) as st:
        rows = st.rows()
    assert len(rows) == 1 and rows[0]["status"] == "diverged" and math.isnan(rows[0]["metrics"]["loss"])
    assert rows[0]["metrics"]["diverged_step"] == 3 and rows[0]["hparams"] == {"lr": 0.1}


def test_trial_key_depends_on_every_field():
    t = make_trial("select", "sgd", {"lr": 0.1}, 0, {"x": 1})
    keys = {trial_key(t), trial_key({**t, "seed": 1}), trial_key({**t, "hparams": {"lr": 0.2}}),
            trial_key({**t, "phase": "test"}), trial_key({**t, "problem": {"x": 2}})}
    assert len(keys) == 5


# ----------------------------------------------------------------------------------------- trials
def _problem(**kw):
    return validate_problem({**{k: v for k, v in TINY.items()}, "layers": [2, 8, 2], **kw})


def test_trial_is_a_pure_function_of_its_description():
    t = make_trial("select", "adam", {"lr": 0.01}, 4, _problem())
    a, b = run_trial(t), run_trial(json.loads(json.dumps(t)))
    assert a["status"] == "done" and a["metrics"] == b["metrics"] and a["curve"] == b["curve"]
    assert run_trial({**t, "seed": 5})["metrics"] != a["metrics"]


def test_trial_uses_the_trainer_with_the_seeded_weights_and_batches():
    """The same run written out with the library's Trainer gives the same validation numbers."""
    from mlplab.nn import MLP
    from mlplab.optim import SGD
    from mlplab.sweep.problem import problem_data
    from mlplab.train import Trainer, evaluate

    p = _problem()
    res = run_trial(make_trial("select", "sgd", {"lr": 0.3}, 2, p))
    d = problem_data(p)
    net = MLP([2, 8, 2], activation="relu", weight_init="he", rng=np.random.default_rng([2, 1]))
    Trainer(net, SGD(net.parameters(), lr=0.3)).fit(*d["train"], epochs=1, batch_size=32,
                                                    rng=np.random.default_rng([2, 2]))
    loss, acc = evaluate(net, *d["val"])
    assert res["metrics"] == {"loss": loss, "accuracy": acc}


def test_a_planted_divergence_is_a_result_not_a_crash():
    r = run_trial(make_trial("select", "sgd", {"lr": 1e30}, 0, _problem()))
    assert r["status"] == "diverged" and r["metrics"]["diverged_step"] >= 1 and math.isnan(r["metrics"]["loss"])


def test_a_failing_trial_is_recorded_with_its_message():
    r = run_trial(make_trial("select", "adam", {"lr": 0.01, "betas": (0.9, 1.5)}, 0, _problem()))
    assert r["status"] == "failed" and "beta2" in r["error"]


def test_stacked_trials_equal_one_at_a_time():
    """K networks in one stacked model: same status, same steps, same scores up to float32 rounding,
    including a member that diverges while the others train on, with members of different seeds
    (each sees its own seed's weights and batches) in an order that mixes optimizers."""
    p = _problem(epochs=2)
    trials = [make_trial("select", o, {"lr": lr}, seed, p) for seed in (1, 2) for lr in (0.001, 0.03, 0.3)
              for o in ("sgd", "momentum", "adam")] + [make_trial("select", "sgd", {"lr": 1e30}, 1, p)]
    stacked = run_stacked(trials)
    for t, s in zip(trials, stacked):
        one = run_trial(t)
        assert s["status"] == one["status"] and s["steps"] == one["steps"]
        if one["status"] == "done":
            assert s["metrics"]["accuracy"] == pytest.approx(one["metrics"]["accuracy"], abs=1e-9)
            assert s["metrics"]["loss"] == pytest.approx(one["metrics"]["loss"], rel=1e-5)
            np.testing.assert_allclose(s["curve"], one["curve"], rtol=1e-5)
        else:
            assert s["metrics"]["diverged_step"] == one["metrics"]["diverged_step"]


# ----------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize("kw, msg", [
    (dict(optimizers="sgd,lbfgs"), "unknown optimizer 'lbfgs'"),
    (dict(seeds=0), "seeds must be at least 1"),
    (dict(lr_grid=0), "positive integer"),
    (dict(layers="2,8,3"), "must start with 2 and end with 2"),
    (dict(activation="swish"), "unknown activation"),
    (dict(method="bayes"), "unknown search method"),
    (dict(lr_range=(0.0, 1.0)), "0 < low"),
])
def test_bad_settings_are_one_line_errors(kw, msg):
    with pytest.raises(ValueError, match=msg) as e:
        tiny_settings(**kw)
    assert "\n" not in str(e.value)


def test_toml_settings(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('optimizers = ["momentum", "adam"]\nseeds = [0, 3]\nmethod = "sobol"\npoints = 4\n'
                 '[problem]\ndataset = "spirals"\nlayers = [2, 8, 2]\nval_size = 100\n'
                 '[space.momentum]\nlr = { log = [1e-3, 1e-1] }\nmomentum = { range = [0.8, 0.99] }\n'
                 '[space.adam]\nbetas = [0.9, 0.99]\n')
    s = SweepSettings.from_toml(f)
    assert s.seeds == [0, 3] and set(s.spaces["momentum"].dims) == {"lr", "momentum"}
    assert s.spaces["adam"].fixed == {"betas": (0.9, 0.99)} and "lr" in s.spaces["adam"].dims
    f.write_text("optimizer = ['sgd']\n")
    with pytest.raises(ValueError, match=r"unknown keys \['optimizer'\]"):
        SweepSettings.from_toml(f)


# ----------------------------------------------------------------------------------------- runs
def _summary(folder):
    return json.loads((folder / SUMMARY_FILE).read_text())


#: a problem the tiny sweeps learn something on (above chance): a 2-32-2 net, 5 epochs of batch 16
LEARNS = dict(layers="2,32,2", epochs=5, batch_size=16)


def test_sweep_chooses_on_validation_and_tests_once_per_seed(tmp_path):
    s = tiny_settings(**LEARNS)
    for o in ("sgd", "adam"):  # the largest point is a planted divergence
        s.spaces[o] = Space(o, {"lr": Choice((0.03, 0.3, 1e30))})
    summary = run_sweep(s, tmp_path, InlineExecutor(), log=lambda m: None)
    with Store(tmp_path) as st:
        rows = st.rows()
    sel = [r for r in rows if r["phase"] == "select"]
    assert len(sel) == 2 * 3 * 3 and summary["trials"]["select"] == 18
    for o in ("sgd", "adam"):
        entry = summary["optimizers"][o]
        curve = entry["lr_curve"]
        assert curve[-1]["diverged"] == 3 and entry["diverged_fraction"] == pytest.approx(1 / 3)
        best = max((c for c in curve if c["diverged"] == 0), key=lambda c: c["mean"])
        assert entry["best"] == best["hparams"]  # chosen on the validation means
        test_rows = [r for r in rows if r["phase"] == "test" and r["optimizer"] == o and r["hparams"] == entry["best"]]
        assert sorted(r["seed"] for r in test_rows) == [0, 1, 2]
        accs = [r["metrics"]["accuracy"] for r in test_rows]
        assert entry["test"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert [r["optimizer"] for r in summary["ranking"]] and "ranking_survives" in summary


def test_best_on_grid_edge_warns(tmp_path):
    msgs = []
    s = tiny_settings(optimizers="sgd", lr_range=(3e-3, 0.3), **LEARNS)  # too small: the largest wins
    summary = run_sweep(s, tmp_path, InlineExecutor(), log=msgs.append)
    assert summary["optimizers"]["sgd"]["best_on_grid_edge"] is True
    assert any("largest one tried" in m and "widen the range" in m for m in msgs)


def test_same_summary_whatever_the_worker_count_and_stacking_choice_is_fixed(tmp_path):
    s = tiny_settings()
    run_sweep(s, tmp_path / "one", make_executor("local", 1), log=lambda m: None)
    ex = make_executor("local", 2)
    try:
        run_sweep(s, tmp_path / "two", ex, log=lambda m: None)
    finally:
        ex.shutdown()
    assert (tmp_path / "one" / SUMMARY_FILE).read_text() == (tmp_path / "two" / SUMMARY_FILE).read_text()


def test_interrupted_sweep_resumes_and_runs_each_trial_once(tmp_path, monkeypatch):
    import mlplab.sweep.runner as runner

    monkeypatch.setattr(runner, "STACK_MAX_MEMBERS", 3)  # stacked groups of 3: a group is stored whole
    s = tiny_settings(stack=True)
    ref = tmp_path / "ref"
    run_sweep(s, ref, InlineExecutor(), log=lambda m: None)
    seen = []

    def stop_after_two_groups(trial, result, done, total):
        seen.append(trial_key(trial))
        if len(seen) >= 6:  # two stacked groups (3 trials each): Ctrl-C
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(s, tmp_path / "run", InlineExecutor(), log=lambda m: None, progress=stop_after_two_groups)
    with Store(tmp_path / "run") as st:
        assert st.count() == 6
    msgs, second = [], []
    run_sweep(s, tmp_path / "run", InlineExecutor(), log=msgs.append,
              progress=lambda t, r, d, n: second.append(trial_key(t)))
    assert "selection: 6 of 18 trials already done" in msgs
    assert not set(seen) & set(second) and len(second) == len(set(second))
    with Store(tmp_path / "run") as st:
        keys = [r["key"] for r in st.rows()]
    assert len(keys) == len(set(keys)) == len(seen) + len(second)
    assert _summary(tmp_path / "run") == _summary(ref)


def _kill_once(group, marker):
    """A trial function that kills its own worker process the first time it runs (SIGKILL, as the
    OOM killer would), then behaves like run_group."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL)
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
    except FileExistsError:
        pass
    return run_group(group)


def test_a_killed_local_worker_loses_nothing(tmp_path):
    from functools import partial

    s = tiny_settings()
    run_sweep(s, tmp_path / "ref", InlineExecutor(), log=lambda m: None)
    ex = LocalExecutor(2)
    try:
        run_sweep(s, tmp_path / "run", ex, log=lambda m: None, trial_fn=partial(_kill_once, marker=tmp_path / "k"))
    finally:
        ex.shutdown()
    assert (tmp_path / "k").exists()
    with Store(tmp_path / "run") as st:
        rows = st.rows()
    assert all(r["status"] == "done" for r in rows) and len({r["key"] for r in rows}) == len(rows)
    assert _summary(tmp_path / "run") == _summary(tmp_path / "ref")


def test_the_folder_is_locked_against_a_second_writer(tmp_path):
    from mlplab.runtime.runlock import FolderInUse, RunLock

    with RunLock(tmp_path, command="other"):
        pass  # re-entrant within a process: use a child to hold it
    import subprocess
    import sys
    import time

    code = ("import sys, time; from mlplab.runtime.runlock import RunLock\n"
            f"with RunLock({str(tmp_path)!r}, command='sweep'):\n    print('held', flush=True); time.sleep(30)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(FolderInUse, match="mlplab sweep"):
            run_sweep(tiny_settings(), tmp_path, InlineExecutor(), log=lambda m: None)
    finally:
        child.kill()
        child.wait()
    time.sleep(0.05)


def test_spirals_default_validation_split_fits_the_spirals():
    """MNIST's default 10,000 validation images used to be taken out of the 2,000 spirals, and every
    trial failed; the spirals hold out a fifth of their training points unless --val-split says otherwise."""
    from mlplab.sweep.problem import SPIRALS_TRAIN

    assert validate_problem({"dataset": "spirals", "layers": "2,8,2"})["val_size"] == SPIRALS_TRAIN // 5
    assert validate_problem({"dataset": "spirals", "layers": "2,8,2", "train_size": 500})["val_size"] == 100
    assert validate_problem({"dataset": "spirals", "layers": "2,8,2", "val_size": 300})["val_size"] == 300
    assert validate_problem({"dataset": "mnist"})["val_size"] == 10_000
    with pytest.raises(ValueError, match="--val-split 2000 must be smaller than --train-size 2000"):
        validate_problem({"dataset": "spirals", "layers": "2,8,2", "val_size": 2000})
