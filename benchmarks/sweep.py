"""The selection phase of a sweep, mlplab vs PyTorch, and Dask vs the default executor.

    python benchmarks/sweep.py                        # 4 optimizers x 8 lrs x 5 seeds, one MNIST epoch
    python benchmarks/sweep.py --lr-grid 2 --seeds 2  # the smaller grid
    python benchmarks/sweep.py --part stack           # small nets: stacked vs one at a time
    python benchmarks/sweep.py --part choi            # Choi et al.'s space (Sobol budget): time per trial

*Sweep.* The trials of `mlplab sweep`'s selection phase (one epoch of the book's 784-100-100-100-100-10
ReLU network on the 50,000 training images left after the 10,000-image validation split, batch 128,
scored on the validation split): mlplab's executor (forked workers, one BLAS thread each) against the
same trials written with PyTorch and a process pool of the same size (one thread per worker, the data
converted to tensors once per worker, torch.optim's SGD / SGD(momentum) / Adagrad / Adam, He init).
Then the same mlplab sweep on a Dask LocalCluster with as many single-thread worker processes (its
start-up timed apart). The contenders run one after the other in rounds (``--rounds``) so a busy
neighbour slows each alike; medians and ratios are printed, of wall time and of the CPU seconds of
every process involved (this one and its joined children: pools, Dask workers with their start-up),
which a loaded machine inflates much less. ``--dask-defaults`` adds a LocalCluster with Dask's own
worker settings (its malloc trim threshold, profiler and ticks; the trial still undoes the trim).

*Choi.* The selection phase of ``mlplab sweep --space choi --budget N`` (SGD, Momentum, Adam; learning
rate, 1 − momentum or 1 − β₁, 1 − β₂ and ε on log scales, N Sobol settings each, ``--seeds`` seeds, one
MNIST epoch) against the learning-rate-only sweep with the same number of trials (``--lr-grid N``), in
alternated rounds: the time per trial of each, their paired ratio, and the same Choi sweep with a
time-to-target (``--target``: 20 validation checks of 2,000 examples per trial) to price those checks.

*Stack.* The 2-D spirals and a 2-8-8-2 network (two epochs of 1,500 points, batch 32): 4 optimizers x
8 learning rates x ``--seeds`` seeds trained as the sweep groups them into stacked models
(``run_stacked``, every seed's own weights and batches) against one at a time (``run_trial``), in one
process.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import header  # noqa: E402

from mlplab.sweep import executor as executor_module  # noqa: E402
from mlplab.sweep.executor import DaskExecutor, LocalExecutor  # noqa: E402
from mlplab.sweep.problem import problem_data, validate_problem  # noqa: E402
from mlplab.sweep.runner import execute, group_trials, plan_selection  # noqa: E402
from mlplab.sweep.settings import SweepSettings  # noqa: E402
from mlplab.sweep.store import Store  # noqa: E402

# ------------------------------------------------------------------------------ PyTorch contender
_TORCH = {}


def _torch_init(train, val):
    """Worker initializer: one thread, the data converted to tensors once per worker."""
    import torch

    torch.set_num_threads(1)
    _TORCH["data"] = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (*train, *val))


def _torch_trial(task):
    import torch

    name, hp, seed, sizes, batch = task
    X, y, Xv, yv = _TORCH["data"]
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = torch.nn.Linear(a, b)
        torch.nn.init.normal_(lin.weight, 0.0, (2.0 / a) ** 0.5)
        torch.nn.init.zeros_(lin.bias)
        layers += [lin] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
    net = torch.nn.Sequential(*layers)
    lr = hp["lr"]
    opt = {"sgd": lambda p: torch.optim.SGD(p, lr=lr),
           "momentum": lambda p: torch.optim.SGD(p, lr=lr, momentum=hp.get("momentum", 0.9)),
           "adagrad": lambda p: torch.optim.Adagrad(p, lr=lr),
           "adam": lambda p: torch.optim.Adam(p, lr=lr)}[name](net.parameters())
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(X), generator=g)
    loss_fn = torch.nn.functional.cross_entropy
    diverged = False
    for s in range(0, len(X), batch):
        idx = perm[s:s + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(X[idx]), y[idx])
        if not torch.isfinite(loss):
            diverged = True
            break
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = float((net(Xv).argmax(1) == yv).float().mean())
    return {"status": "diverged" if diverged else "done", "accuracy": acc}


def torch_sweep(sel_plan, data, workers, sizes, batch):
    tasks = [(t["optimizer"], t["hparams"], t["seed"], sizes, batch)
             for cs in sel_plan.values() for _, ts in cs for t in ts]
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_torch_init,
                                initargs=(data["train"], data["val"])) as pool:
        return list(pool.map(_torch_trial, tasks))


# ------------------------------------------------------------------------------ mlplab contenders
DASK_DEFAULTS = "dask, Dask's defaults"


def _cpu():
    """User + system CPU seconds of this process and of its finished (joined) child processes."""
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def mlplab_sweep(settings, executor):
    plan = plan_selection(settings)
    groups = group_trials([t for cs in plan.values() for _, ts in cs for t in ts], stack=False)
    with tempfile.TemporaryDirectory() as d, Store(d) as store:
        n = execute(groups, store, executor)
        rows = store.rows()
    return n, rows


def part_sweep(args):
    settings = SweepSettings.from_options(args.optimizers, lr_grid=args.lr_grid, seeds=args.seeds, epochs=1,
                                          train_size=args.train_size, stack=False)
    n_trials = len(settings.optimizers) * args.lr_grid * args.seeds
    data = problem_data(settings.problem)  # loaded before the workers fork: they inherit it
    print(f"   {n_trials} trials: {len(data['train'][0])} training images, {len(data['val'][0])} validation, "
          f"{args.jobs} worker processes x 1 thread")
    times = {"mlplab": [], "pytorch": [], "dask": [], "dask start": [], DASK_DEFAULTS: []}
    cpu = {k: [] for k in times if k != "dask start"}
    for r in range(args.rounds):
        c0 = _cpu()
        ex = LocalExecutor(args.jobs)
        t0 = time.perf_counter()
        n, rows = mlplab_sweep(settings, ex)
        times["mlplab"].append(time.perf_counter() - t0)
        ex.shutdown()
        cpu["mlplab"].append(_cpu() - c0)
        assert n == n_trials, n
        print(f"   round {r + 1}: mlplab {times['mlplab'][-1]:.1f} s", flush=True)
        if not args.skip_torch:
            c0, t0 = _cpu(), time.perf_counter()
            trows = torch_sweep(plan_selection(settings), data, args.jobs, settings.problem["layers"],
                                settings.problem["batch_size"])
            times["pytorch"].append(time.perf_counter() - t0)
            cpu["pytorch"].append(_cpu() - c0)
            print(f"   round {r + 1}: PyTorch {times['pytorch'][-1]:.1f} s", flush=True)
        if args.dask_defaults:  # the same cluster with Dask's own defaults (see executor._LOCAL_CLUSTER_CONFIG)
            c0 = _cpu()
            saved, executor_module._LOCAL_CLUSTER_CONFIG = executor_module._LOCAL_CLUSTER_CONFIG, {}
            try:
                dex = DaskExecutor(args.jobs)
            finally:
                executor_module._LOCAL_CLUSTER_CONFIG = saved
            t0 = time.perf_counter()
            mlplab_sweep(settings, dex)
            times[DASK_DEFAULTS].append(time.perf_counter() - t0)
            dex.shutdown()
            cpu[DASK_DEFAULTS].append(_cpu() - c0)
        if not args.skip_dask:
            c0, t0 = _cpu(), time.perf_counter()
            dex = DaskExecutor(args.jobs)
            times["dask start"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            n2, rows2 = mlplab_sweep(settings, dex)
            times["dask"].append(time.perf_counter() - t0)
            dex.shutdown()
            cpu["dask"].append(_cpu() - c0)
            def table(rs):  # as JSON text: a diverged trial's NaN loss must compare equal to itself
                return json.dumps({r["key"]: [r["status"], r["metrics"]] for r in rs}, sort_keys=True)

            same = table(rows) == table(rows2)
            print(f"   round {r + 1}: Dask results identical to the default executor's: {same}")
        line = ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items() if v)
        print(f"   round {r + 1}: {line}; load average {os.getloadavg()[0]:.1f}")
        line = ", ".join(f"{k} {v[-1]:.1f}" for k, v in cpu.items() if v)
        print(f"   round {r + 1}: CPU seconds {line}", flush=True)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    mcpu = {k: statistics.median(v) for k, v in cpu.items() if v}
    print("   CPU seconds of every process (workers, pools, scheduler; Dask's with its start-up), medians: "
          + ", ".join(f"{k} {v:.1f} ({v / mcpu['mlplab']:.3f}x mlplab)" for k, v in mcpu.items()))
    acc = [r["metrics"]["accuracy"] for r in rows if r["status"] == "done"]
    print(f"   medians over {args.rounds} round(s): " + ", ".join(f"{k} {v:.1f} s" for k, v in med.items()))
    print(f"   mlplab: {med['mlplab'] / n_trials * args.jobs:.2f} s per trial per worker; best validation accuracy "
          f"{100 * max(acc):.2f} %")
    if "pytorch" in med:
        tacc = [r["accuracy"] for r in trows if r["status"] == "done"]
        print(f"   PyTorch / mlplab = {med['pytorch'] / med['mlplab']:.2f}x  (target >= 1.5x; PyTorch's best "
              f"validation accuracy {100 * max(tacc):.2f} %)")
    if "dask" in med:
        print(f"   Dask / default = {med['dask'] / med['mlplab']:.3f} (target <= 1.15); with the cluster's start-up "
              f"{(med['dask'] + med['dask start']) / med['mlplab']:.3f}")
    if DASK_DEFAULTS in med:
        print(f"   Dask with Dask's defaults (MALLOC_TRIM_THRESHOLD_=65536, profiler on) / default = "
              f"{med[DASK_DEFAULTS] / med['mlplab']:.3f}")


def part_choi(args):
    common = dict(seeds=args.seeds, epochs=1, train_size=args.train_size, stack=False)
    runs = {"lr only": SweepSettings.from_options("sgd,momentum,adam", lr_grid=args.budget, **common),
            "choi": SweepSettings.from_options("sgd,momentum,adam", space="choi", budget=args.budget, **common),
            "choi + target": SweepSettings.from_options("sgd,momentum,adam", space="choi", budget=args.budget,
                                                        target=0.95, **common)}
    n_trials = 3 * args.budget * args.seeds
    problem_data(runs["lr only"].problem)  # loaded before the workers fork: they inherit it
    print(f"   {n_trials} selection trials each (3 optimizers x {args.budget} settings x {args.seeds} seeds, one "
          f"MNIST epoch), {args.jobs} worker processes x 1 thread")
    per_trial = {k: [] for k in runs}
    diverged = {}
    for r in range(args.rounds):
        for name, settings in runs.items():
            ex = LocalExecutor(args.jobs)
            t0 = time.perf_counter()
            n, rows = mlplab_sweep(settings, ex)
            per_trial[name].append((time.perf_counter() - t0) * args.jobs / n)
            ex.shutdown()
            diverged[name] = sum(r_["status"] == "diverged" for r_ in rows)
        print(f"   round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in per_trial.items())
              + f" per trial per worker; load average {os.getloadavg()[0]:.1f}", flush=True)
    med = {k: statistics.median(v) for k, v in per_trial.items()}
    ratio = statistics.median([c / lr for c, lr in zip(per_trial["choi"], per_trial["lr only"])])
    tgt = statistics.median([t / c for t, c in zip(per_trial["choi + target"], per_trial["choi"])])
    print(f"   medians over {args.rounds} round(s), s per trial per worker: "
          + ", ".join(f"{k} {v:.2f}" for k, v in med.items())
          + "; diverged trials: " + ", ".join(f"{k} {v}" for k, v in diverged.items()))
    print(f"   choi / lr only = {ratio:.2f}x (paired by round; a diverged trial stops early, so a space with more "
          f"divergences is cheaper); the time-to-target checks cost {tgt:.2f}x")


def part_stack(args):
    from mlplab.sweep.trial import make_trial, run_stacked, run_trial

    p = validate_problem({"dataset": "spirals", "layers": [2, 8, 8, 2], "train_size": 2000, "val_size": 500,
                          "epochs": 2, "batch_size": 32})
    lrs = [round(10 ** e, 6) for e in np.linspace(-3, 0, 8)]
    trials = [make_trial("select", o, {"lr": lr}, seed, p) for o in ("sgd", "momentum", "adagrad", "adam")
              for lr in lrs for seed in range(args.seeds)]
    groups = group_trials(trials, stack=True)  # as the sweep forms them
    problem_data(p)
    one, stacked = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        a = [run_trial(t) for t in trials]
        one.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = [r for g in groups for r in run_stacked(g)]
        stacked.append(time.perf_counter() - t0)
    worst = max(abs(x["metrics"]["accuracy"] - y["metrics"]["accuracy"]) for x, y in zip(a, b))
    m1, m2 = statistics.median(one), statistics.median(stacked)
    print(f"   {len(trials)} trials of a 2-8-8-2 net (spirals, 2 epochs, batch 32, {args.seeds} seeds) in one process: "
          f"one at a time {m1:.2f} s, stacked ({len(groups)} stacked models) {m2:.2f} s: {m1 / m2:.1f}x faster "
          f"(target >= 10x); largest accuracy difference {worst:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("sweep", "stack", "choi", "all"), default="all")
    ap.add_argument("--budget", type=int, default=8, help="--part choi: Sobol settings per optimizer (default 8)")
    ap.add_argument("--optimizers", default="sgd,momentum,adagrad,adam")
    ap.add_argument("--lr-grid", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--train-size", type=int, default=None, help="training images before the split (default all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--dask-defaults", action="store_true",
                    help="also time a LocalCluster with Dask's default worker settings (what the executor turns off)")
    args = ap.parse_args()
    header("mlplab sweep")
    if args.part in ("stack", "all"):
        part_stack(args)
    if args.part in ("sweep", "all"):
        part_sweep(args)
    if args.part in ("choi", "all"):
        part_choi(args)


if __name__ == "__main__":
    main()
