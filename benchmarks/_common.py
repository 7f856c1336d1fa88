"""Shared helpers for the benchmarks: medians of repeated timings, a header, an older commit's package."""

from __future__ import annotations

import io
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time

import numpy as np


def interleaved_medians(fns: dict, repeats, warmup=5, per_round=20):
    """Median per-call time of each function, alternating between them in short rounds of
    ``per_round`` calls so that a noisy neighbour on the shared machine slows every contender
    alike (rounds of 120 calls let the numpy-loop ratio swing 0.76-0.89 between runs; rounds of
    20 kept it within 0.88-0.90 on the same busy machine)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {k: [] for k in fns}
    per_round = max(1, min(per_round, repeats))
    rounds = max(1, repeats // per_round)
    for _ in range(rounds):
        for k, fn in fns.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                samples[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in samples.items()}


def limit_threads(n):
    """Give NumPy's BLAS and PyTorch the same thread count (n >= 1); n = 0 keeps each default.
    One thread each is the steadier comparison when other jobs share the machine's two cores."""
    import contextlib

    import torch
    from threadpoolctl import threadpool_limits

    if not n:
        return contextlib.nullcontext()
    torch.set_num_threads(n)
    return threadpool_limits(limits=n, user_api="blas")


def header(title):
    import os

    import torch
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info() if i["user_api"] == "blas")
    print(f"== {title}")
    print(f"   python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}; threads: "
          f"torch {torch.get_num_threads()}, numpy's BLAS ({blas}); load average {os.getloadavg()[0]:.1f}")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ref_package(ref: str, into: str) -> str:
    """The package ``src/mlplab`` of commit ``ref`` (``git archive``) unpacked in the folder ``into`` as the package
    ``mlplab_ref``, importable (``into`` put first on ``sys.path``): its imports are relative, so it runs as it was,
    beside this checkout's ``mlplab`` in the same process (the A/B benchmarks' older side). Returns its name."""
    data = subprocess.run(["git", "-C", ROOT, "archive", ref, "src/mlplab"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(into, filter="data")
    os.rename(os.path.join(into, "src", "mlplab"), os.path.join(into, "mlplab_ref"))
    sys.path.insert(0, into)
    return "mlplab_ref"
