"""Shared helpers for the benchmarks: medians of repeated timings and a header."""

from __future__ import annotations

import platform
import statistics
import time

import numpy as np


def median_time(fn, repeats, warmup=5):
    """Median wall time of one call of ``fn`` over ``repeats`` calls (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(fns: dict, repeats, warmup=5, rounds=5):
    """Median per-call time of each function, alternating between them in rounds so that a
    noisy neighbour on the shared machine slows every contender alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {k: [] for k in fns}
    per_round = max(1, repeats // rounds)
    for _ in range(rounds):
        for k, fn in fns.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                samples[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in samples.items()}


def header(title):
    import torch

    print(f"== {title}")
    print(f"   python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"torch threads {torch.get_num_threads()}")
