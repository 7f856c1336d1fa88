"""A study's numbers do not depend on the caller's BLAS thread count: :func:`mlplab.lab.run_study` measures with
one BLAS thread, as ``mlplab lab run`` does by default, so a notebook (whose kernel has the BLAS library's own
count, 2 on a 2-core machine) writes the command's numbers bit for bit. Before, the symmetry study's notebook wrote
0.32115140557289124 where the command wrote 0.32115134596824646: its networks train in the study's own process,
where a product's rounding depends on how BLAS splits it."""

from __future__ import annotations

import os

import pytest
from threadpoolctl import threadpool_limits

from mlplab.lab import get_study, run_study


def _numbers(root, blas_in_caller, **kw):
    with threadpool_limits(limits=blas_in_caller, user_api="blas"):
        run_study(get_study("symmetry"), root, quick=True, seed=0, workers=1, **kw)
    return (root / "symmetry" / "numbers.json").read_text()


def test_the_callers_blas_threads_do_not_change_a_studys_numbers(mnist_dir, tmp_path):
    one = _numbers(tmp_path / "one", 1)
    assert _numbers(tmp_path / "two", 2) == one
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: BLAS splits nothing, the control below cannot differ")
    # the control: measured with the caller's 2 threads (blas_threads=0, the library's count), the numbers differ
    # (here, on a 2-core x86-64 with OpenBLAS), so the equality above is the pinning's doing
    if _numbers(tmp_path / "lib", 2, blas_threads=0) == one:
        pytest.skip("this BLAS rounds the study's products alike at 1 and 2 threads: the control cannot differ")
