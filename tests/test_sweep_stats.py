"""What a sweep may conclude: Holm-corrected tie groups, ranks that follow the means, the book-vs-tuned
verdict with a power estimate, intervals inside [0, 100] %, chance-level grids, settings equal by value,
search spaces beyond the learning rate and Choi et al.'s inclusion claim. Planted ties, planted
chance-level grids and exact binomial coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom, norm

from mlplab.sweep import stats
from mlplab.sweep.executor import InlineExecutor
from mlplab.sweep.runner import group_trials, plan_test, run_sweep
from mlplab.sweep.settings import SweepSettings
from mlplab.sweep.space import LogComplement, canonical_hparams, named_space, points

TINY = dict(dataset="spirals", layers="2,8,2", train_size=300, val_size=100, test_size=200, epochs=1, batch_size=32)


def _seeds(values):
    return {s: float(v) for s, v in enumerate(values)}


# ----------------------------------------------------------------------------------------- Holm
def test_holm_matches_the_procedure_by_hand():
    rejected, adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005 ≤ .05/4, 0.01 ≤ .05/3, 0.03 > .05/2: stop (0.04 is not rejected though ≤ .05/1)
    assert rejected == [True, False, False, True]
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_keeps_the_familywise_error_at_5_percent_where_uncorrected_tests_do_not():
    """Four optimizers that are truly equal (5 seeds each): the chance that *some* pair is called different
    is ≤ 5 % with Holm's correction and far above it with six uncorrected tests."""
    rng = np.random.default_rng(0)
    reps, any_holm, any_raw = 800, 0, 0
    for _ in range(reps):
        x = rng.normal(0.95, 0.01, (4, 5))
        per_seed = {f"o{i}": _seeds(x[i]) for i in range(4)}
        rows = stats.ranking(per_seed)
        any_holm += any(len(r["tied_with"]) < 3 for r in rows)
        ps = [stats.paired_test(per_seed[a], per_seed[b])["p"] for i, a in enumerate(per_seed)
              for b in list(per_seed)[i + 1:]]
        any_raw += min(ps) <= 0.05
    se = math.sqrt(0.05 * 0.95 / reps)
    assert any_holm / reps < 0.05 + 3 * se, any_holm / reps
    assert any_raw / reps > 0.12, any_raw / reps


# ----------------------------------------------------------------------------------------- ranks and groups
def _planted_race(seed=0, n=5):
    """Adam ≈ AdaGrad clearly above Momentum; SGD with the lowest mean but so noisy it is tied with all."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.95, 0.005, n)
    noise = rng.normal(0, 0.03, n)
    return {"adam": _seeds(base + 0.020 + rng.normal(0, 0.0005, n)),
            "adagrad": _seeds(base + 0.0195 + rng.normal(0, 0.0005, n)),
            "momentum": _seeds(base + rng.normal(0, 0.0005, n)),
            "sgd": _seeds(base - 0.004 + noise - noise.mean())}


def test_ranks_follow_the_means_and_ties_share_a_rank():
    """The issue's case: SGD, lowest mean and tied with everyone, was shown rank 1 while Momentum, below the
    two leaders for sure, was rank 2. Ranks must not improve down the list of means."""
    race = _planted_race()
    rows = stats.ranking(race)
    assert [r["optimizer"] for r in rows][:3] == ["adam", "adagrad", "momentum"]
    by = {r["optimizer"]: r for r in rows}
    assert by["adam"]["rank"] == by["adagrad"]["rank"] == 1  # tied: one rank
    assert by["momentum"]["rank"] == 3 and set(by["momentum"]["tied_with"]) == {"sgd"}
    assert set(by["sgd"]["tied_with"]) == {"adam", "adagrad", "momentum"}
    ranks = [r["rank"] for r in rows]
    assert ranks == sorted(ranks), ranks  # the sgd row came out as rank 1 before the fix


def test_tie_groups_overlap_when_ties_are_not_transitive():
    rng = np.random.default_rng(1)
    base = rng.normal(0.9, 0.01, 8)
    a = _seeds(base + 0.010 + rng.normal(0, 0.0005, 8))
    b = _seeds(base + 0.005 + rng.normal(0, 0.012, 8))  # noisy: tied with both neighbours
    c = _seeds(base + rng.normal(0, 0.0005, 8))
    rows = stats.ranking({"c": c, "b": b, "a": a})
    assert [r["optimizer"] for r in rows] == ["a", "b", "c"]
    assert "c" in {r["optimizer"]: r for r in rows}["a"]["better_than"]
    assert stats.tie_groups(rows) == [["a", "b"], ["b", "c"]]
    assert "overlapping" in stats.groups_text(rows)


# ----------------------------------------------------------------------------------------- verdict, power
def test_seeds_for_power_matches_the_tables():
    """One-sample (paired) t-test, two-sided α = 0.05, 80 % power: Cohen's d = 0.5 needs 34 pairs, d = 0.8
    needs 15, d = 1.0 needs 10 (G*Power's figures)."""
    assert stats.seeds_for_power(0.5, 1.0) == 34
    assert stats.seeds_for_power(-0.8, 1.0) == 15
    assert stats.seeds_for_power(0.01, 0.01) == 10
    assert stats.seeds_for_power(0.0, 1.0) is None


def test_seeds_for_power_by_simulation():
    """At the n it gives, simulated paired t-tests reject ≈ 80 % of the time; at n − 3 clearly less."""
    from scipy.stats import ttest_1samp

    rng = np.random.default_rng(2)
    n = stats.seeds_for_power(0.004, 0.006)

    def power(k, reps=2000):
        d = rng.normal(0.004, 0.006, (reps, k))
        return float(np.mean(ttest_1samp(d, 0.0, axis=1).pvalue <= 0.05))

    assert abs(power(n) - 0.80) < 0.035 and power(n - 3) < 0.77


def _race(means, sd=0.0005, n=5, seed=0, noisy=()):
    rng = np.random.default_rng(seed)
    base = rng.normal(0.9, 0.01, n)
    return {o: _seeds(base + m + rng.normal(0, 0.02 if o in noisy else sd, n)) for o, m in means.items()}


def test_verdict_survives_changes_or_cannot_tell():
    book = _race({"sgd": 0.0, "momentum": 0.02, "adam": 0.04})
    same = _race({"sgd": 0.01, "momentum": 0.03, "adam": 0.05}, seed=1)
    flipped = _race({"sgd": 0.05, "momentum": 0.03, "adam": 0.01}, seed=2)
    tied = _race({"sgd": 0.0, "momentum": 0.003, "adam": 0.006}, seed=3, noisy=("sgd", "momentum", "adam"))
    assert stats.compare_rankings(book, same)["verdict"] == "survives"
    v = stats.compare_rankings(book, flipped)
    assert v["verdict"] == "changes" and "changes" in v["text"]
    v = stats.compare_rankings(book, tied)
    assert v["verdict"] == "cannot tell" and "cannot be told apart with 5 seeds" in v["text"]
    assert v["seeds_needed"] is not None and v["seeds_needed"] > 5
    u = {frozenset(x["pair"]): x for x in v["unresolved"]}
    t = stats.paired_test(tied["adam"], tied["sgd"])
    assert u[frozenset(("adam", "sgd"))]["seeds_needed"] == stats.seeds_for_power(t["diff"], t["sd"])
    assert f"about {v['seeds_needed']} seeds" in v["text"]


# ----------------------------------------------------------------------------------------- intervals
def _exact_coverage(interval, n, p):
    """P(p ∈ interval(K, n)) for K ~ Binomial(n, p), summed exactly over K."""
    ks = np.arange(n + 1)
    inside = np.array([lo <= p <= hi for lo, hi in (interval(k, n) for k in ks)])
    return float(binom.pmf(ks, n, p)[inside].sum())


def _wald(k, n):  # the planted unbounded interval: p̂ ± z √(p̂(1 − p̂)/n)
    p = k / n
    h = 1.959964 * math.sqrt(p * (1 - p) / n)
    return p - h, p + h


def test_wilson_interval_covers_and_stays_in_bounds_where_wald_fails():
    """Accuracies near 100 % with few examples: Wilson's exact coverage stays near 95 % (≥ 92 % at every p,
    about 95 % on average) and inside [0, 1]; the Wald interval covers far less and leaves [0, 1]."""
    n = 60
    ps = np.linspace(0.80, 0.995, 40)
    wil = [_exact_coverage(stats.wilson, n, p) for p in ps]
    wald = [_exact_coverage(_wald, n, p) for p in ps]
    assert min(wil) > 0.92 and abs(np.mean(wil) - 0.95) < 0.01, (min(wil), np.mean(wil))
    assert min(wald) < 0.75 and np.mean(wald) < 0.92
    assert all(0 <= lo <= hi <= 1 for lo, hi in (stats.wilson(k, n) for k in range(n + 1)))
    assert _wald(59, 60)[1] > 1


def test_few_seeds_give_no_seed_interval_and_cut_intervals_keep_their_coverage():
    """Two seeds: no t-interval (12.7 standard errors wide) but the reason; three or more: the t-interval,
    cut at 0 and 1, covers as often as the uncut one (the true accuracy lies inside [0, 1])."""
    d = stats.describe([0.80, 0.90], bounds=(0, 1))
    assert d["ci"] is None and d["note"] == "n = 2: too few seeds for a seed interval"
    assert "n = 2: too few seeds for a seed interval" in stats.interval_text(d)
    rng = np.random.default_rng(3)
    x = np.clip(rng.normal(0.97, 0.03, (3000, 3)), 0, 1)
    true = float(np.mean(np.clip(rng.normal(0.97, 0.03, 400_000), 0, 1)))
    cut = [stats.describe(r, bounds=(0, 1)) for r in x]
    raw = [stats.describe(r) for r in x]
    assert all(0 <= c["ci"][0] <= c["ci"][1] <= 1 for c in cut) and any(c["ci_cut"] for c in cut)
    cov_cut = np.mean([c["ci"][0] <= true <= c["ci"][1] for c in cut])
    cov_raw = np.mean([c["ci"][0] <= true <= c["ci"][1] for c in raw])
    assert cov_cut == cov_raw


def test_pooled_accuracy_counts_every_seeds_answers():
    p = stats.pooled_accuracy([0.95, 0.97, 0.96], 1000)
    assert p["correct"] == 2880 and p["examples"] == 3000 and p["kind"] == "wilson"
    z = norm.ppf(0.975)
    assert p["ci"][0] < 0.96 < p["ci"][1] and p["ci"][1] - p["ci"][0] == pytest.approx(
        2 * z * math.sqrt(0.96 * 0.04 / 3000), rel=0.01)


# ----------------------------------------------------------------------------------------- chance level
def test_a_chance_level_grid_learns_nothing_and_says_so(tmp_path):
    """Learning rates far too small for one epoch: every setting scores at chance on the validation split.
    Before the fix the first one won the tie and the warning said "smallest one tried; widen the range"."""
    msgs = []
    s = SweepSettings.from_options(optimizers="sgd", lr_grid=3, seeds=3, stack=False, lr_range=(1e-7, 1e-6),
                                   **TINY)
    summary = run_sweep(s, tmp_path, InlineExecutor(), log=msgs.append)
    e = summary["optimizers"]["sgd"]
    assert e["nothing_learned"] is True and e["best"] is None and "test" not in e
    assert all(c["at_chance"] for c in e["lr_curve"])
    text = " ".join(msgs)
    assert "nothing learned in this range" in text and "smallest one tried" not in text, text
    assert summary["splits"]["val"]["chance"] == pytest.approx(0.53)  # the commonest class of the 100


def test_at_chance_against_the_commonest_class():
    assert stats.at_chance([0.112, 0.115, 0.113], 10_000, 0.1135)  # a network that answers "1" on MNIST
    assert not stats.at_chance([0.13, 0.12, 0.125], 10_000, 0.1135)
    assert not stats.at_chance([0.95], 100, 0.53)


# ----------------------------------------------------------------------------------------- settings by value
def test_settings_equal_by_value_are_trained_once():
    """AdaGrad's book setting is {"lr": 0.01, "eps": 1e-10, "initial_accumulator_value": 0.0}; a tuned
    {"lr": 0.01} (or a log grid's 0.009999999999999998) is the same optimizer: one set of test trials."""
    s = SweepSettings.from_options(optimizers="adagrad,sgd", lr_grid=3, seeds=3, **TINY)
    for tuned in ({"lr": 0.01}, {"lr": 0.009999999999999998}, {"lr": 1e-2, "eps": 1e-10}):
        plan = plan_test(s, {"adagrad": tuned, "sgd": {"lr": 0.1}})
        assert plan[("book", "adagrad")] is plan[("tuned", "adagrad")]
        assert plan[("book", "sgd")] is not plan[("tuned", "sgd")]
        trials = [t for ts in plan.values() for t in ts]
        assert len(group_trials(trials, stack=False)) == 3 * 3  # adagrad once, sgd tuned and book
    assert canonical_hparams("adam", {"lr": 1e-3}) == canonical_hparams("adam", {"lr": 0.001, "betas": [0.9, 0.999]})
    assert canonical_hparams("adam", {"lr": 1e-3}) != canonical_hparams("adam", {"lr": 0.001, "eps": 1e-6})


# ----------------------------------------------------------------------------------------- spaces
def test_log_complement_and_named_spaces():
    d = LogComplement(1e-3, 1.0)
    assert d.at(0.0) == 0.999 and d.at(1.0) == 0.0 and d.at(0.5) == pytest.approx(1 - 10 ** -1.5, rel=1e-5)
    assert set(named_space("momentum", "lr+momentum").dims) == {"lr", "momentum"}
    assert set(named_space("adam", "lr+momentum").dims) == {"lr", "beta1"}
    assert set(named_space("adam", "choi").dims) == {"lr", "beta1", "beta2", "eps"}
    assert set(named_space("sgd", "choi").dims) == {"lr"}
    pts = points(named_space("adam", "choi"), "sobol", 16, seed=5)
    assert len(pts) == 16 and pts == points(named_space("adam", "choi"), "sobol", 16, seed=5)
    assert all(set(p) == {"lr", "betas", "eps"} and 0 <= p["betas"][0] <= 0.999 and 0.9 <= p["betas"][1] <= 0.9999
               and 1e-10 <= p["eps"] <= 1 for p in pts)
    with pytest.raises(ValueError, match="unknown search space 'bayes'"):
        named_space("adam", "bayes")


def test_budget_and_space_settings(tmp_path):
    s = SweepSettings.from_options(optimizers="sgd,momentum,adam", seeds=2, space="choi", budget=6, **TINY)
    assert s.method == "sobol" and s.points == 6
    assert set(s.to_dict()["space"]["adam"]) == {"lr", "beta1", "beta2", "eps"}
    assert s.to_dict()["space"]["momentum"]["momentum"] == {"log1m": [1e-3, 1.0]}
    with pytest.raises(ValueError, match="does not go with --method grid"):
        SweepSettings.from_options(optimizers="sgd", method="grid", budget=4, **TINY)
    with pytest.raises(ValueError, match="positive number of settings"):
        SweepSettings.from_options(optimizers="sgd", budget=0, **TINY)
    f = tmp_path / "s.toml"
    f.write_text('optimizers = ["momentum", "adam"]\nsearch_space = "lr+momentum"\nbudget = 5\n'
                 '[space.adam]\nbeta1 = { log1m = [1e-2, 1] }\n')
    t = SweepSettings.from_toml(f)
    assert t.method == "sobol" and t.points == 5 and set(t.spaces["momentum"].dims) == {"lr", "momentum"}
    assert isinstance(t.spaces["adam"].dims["beta1"], LogComplement) and "lr" in t.spaces["adam"].dims


# ----------------------------------------------------------------------------------------- inclusion
def test_inclusion_claim_is_checked_only_inside_spaces_that_contain_the_special_case():
    choi = SweepSettings.from_options(optimizers="sgd,momentum,adam", space="choi", budget=4, **TINY).to_dict()
    lr_only = SweepSettings.from_options(optimizers="sgd,momentum,adam", **TINY).to_dict()
    general_loses = _race({"sgd": 0.0, "momentum": 0.02, "adam": 0.0})  # Adam well behind Momentum
    v = stats.inclusion(general_loses, choi["space"])
    assert v["verdict"] == "violated" and "adam loses significantly to momentum" in v["text"]
    assert stats.inclusion(general_loses, lr_only["space"])["verdict"] == "not tested"
    fine = _race({"sgd": 0.0, "momentum": 0.02, "adam": 0.021})
    assert stats.inclusion(fine, choi["space"])["verdict"] == "holds"


# ----------------------------------------------------------------------------------------- time to target
LEARNS = dict(TINY, layers="2,32,2", epochs=5, batch_size=16)


def test_time_to_target_from_the_validation_checks(tmp_path):
    """With a target each selection trial scores itself on the validation split at evenly spaced steps; the
    summary's steps to the target are the first check at or above it (median over seeds), for the chosen
    setting and for the fastest one; a stacked model records the same checks as one-at-a-time trials."""
    from mlplab.sweep.store import Store
    from mlplab.sweep.trial import make_trial, run_stacked, run_trial

    assert "eval_points" not in SweepSettings.from_options(**TINY).problem  # no target: trial keys as before
    assert "target" not in SweepSettings.from_options(**TINY).to_dict()
    s = SweepSettings.from_options(optimizers="sgd,adam", lr_grid=2, seeds=3, target=0.6, stack=False, **LEARNS)
    assert s.problem["eval_points"] == 20 and s.problem["eval_size"] == 100
    summary = run_sweep(s, tmp_path, InlineExecutor(), log=lambda m: None)
    with Store(tmp_path) as st:
        rows = {(r["optimizer"], r["hparams"]["lr"], r["seed"]): r for r in st.rows() if r["phase"] == "select"}
    for o in ("sgd", "adam"):
        tt = summary["optimizers"][o]["time_to_target"]
        chosen = summary["optimizers"][o]["best"]
        firsts = []
        for seed in s.seeds:
            row = rows[(o, chosen["lr"], seed)]
            curve = row["metrics"]["val_curve"]
            assert row["steps"] == 65  # 200 training examples in batches of 16, 5 epochs: 20 evenly spaced checks
            assert [c[0] for c in curve] == [round(65 * (i + 1) / 20) for i in range(20)]
            hit = [st_ for st_, acc in curve if acc >= 0.6]
            if hit:
                firsts.append(hit[0])
        c = tt["chosen"]
        assert c["reached"] == len(firsts) and (not firsts or c["median_steps"] == float(np.median(firsts)))
        if tt["fastest"]:
            assert tt["fastest"]["median_steps"] <= (c["median_steps"] if c["reached"] == 3 else math.inf)
    assert "steps (s) to 60.0 % val." in __import__("mlplab.lab.optimizers_tuned", fromlist=["x"]).write_sweep(summary)
    p = s.problem
    trials = [make_trial("select", o, {"lr": lr}, seed, p) for o, lr in (("sgd", 0.3), ("adam", 0.03))
              for seed in (0, 1)]
    for t, st_ in zip(trials, run_stacked(trials)):
        one = run_trial(t)["metrics"]["val_curve"]
        assert [c[0] for c in st_["metrics"]["val_curve"]] == [c[0] for c in one]
        np.testing.assert_allclose([c[1] for c in st_["metrics"]["val_curve"]], [c[1] for c in one], atol=0.011)


def test_a_main_process_without_the_data_still_summarizes(tmp_path, monkeypatch):
    """The workers of a cluster may read data the machine running `mlplab sweep` lacks: the summary then has
    no pooled interval and no chance check (said by null splits), instead of failing after the trials ran."""
    from mlplab.data.idx import DataError
    from mlplab.sweep import problem

    def no_data(p):
        raise DataError("MNIST is not on this machine")

    monkeypatch.setattr(problem, "split_facts", no_data)
    s = SweepSettings.from_options(optimizers="sgd", lr_grid=2, seeds=3, stack=False, **LEARNS)
    summary = run_sweep(s, tmp_path, InlineExecutor(), log=lambda m: None)
    e = summary["optimizers"]["sgd"]
    assert e["best"] is not None and e["test"]["pooled"] is None and summary["splits"]["val"]["n"] == 0
