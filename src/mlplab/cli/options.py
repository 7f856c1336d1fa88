"""What every subcommand shares: the usage error, exit codes, the console, and BLAS-thread options.

A subcommand module (``cli/train.py``, ``cli/lab.py``, ...) defines ``register(subparsers)``,
which adds its parser and sets ``func``; :func:`mlplab.cli.main` turns :class:`UsageError` (and
the core's ``ValueError`` subclasses for bad settings) into one line and exit status 2.
"""

from __future__ import annotations

import contextlib

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_DATA = 2, 3, 130, 4


class UsageError(ValueError):
    """A bad option: reported in one line with the valid choices, before any work is done."""


def console(stderr=False, wide=False):
    """A rich console (the only place, with the other cli modules, that imports rich). ``wide``: into a
    pipe or a file, draw 140 columns rather than the 80 rich assumes there, so a wide table's cells are
    not cut short ("train-images-idx3-…", "momentum_deca…")."""
    from rich.console import Console

    con = Console(stderr=stderr, highlight=False)
    if wide and not con.is_terminal:
        con.width = max(con.width, 140)
    return con


def blas_threads(n):
    """Limit BLAS threads for the command (n >= 1), or leave the library's default (n = 0).

    The studies multiply small matrices (batch 128 by 100 units): one BLAS thread per process is
    as fast there and much steadier when other processes share the two cores (measured: the whole
    lab in 92 s with one thread, 105-121 s with two); large layers gain from more threads.
    """
    n = check_threads(n)
    if not n:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(n), user_api="blas")


def check_threads(n):
    """0 (the BLAS library's default) or 1 to the CPU count (:func:`mlplab.settings.check_blas_threads`)."""
    from ..settings import check_blas_threads

    return check_blas_threads(n)


def blas_threads_in_use():
    """How many threads NumPy's BLAS uses right now (None if threadpoolctl finds no BLAS)."""
    from threadpoolctl import threadpool_info

    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return counts[0] if counts else None


def add_threads_arg(p, default, what):
    p.add_argument("--blas-threads", type=int, default=default, metavar="N",
                   help=f"BLAS threads, 1 to the CPU count, or 0 for the BLAS library's default (default {default}: "
                        f"{what})")
