"""The grader: runs an implementation on an exercise's cases, compares with the solution, and names the
mistake when the wrong output is one of the exercise's known wrong variants.

A case fails with one line: raised (the exception's last line), timed out, printed too much, changed its
inputs in place, returned the wrong type/shape/dtype, or wrong values. A mistake is *named* only when the
student's output equals a known wrong variant's output on the same inputs (within the same tolerance as the
solution's check) on the failing cases, and the variant differs from the solution there, never by guessing.

:func:`grade_callable` runs in this process (the tests' table uses it); :func:`grade_file` runs a student's
file in a subprocess (``mlplab.exercises.runner``) with a time limit per test, so nothing the student's code
does (raise, loop, print, exit, crash) reaches the grader.

The time limits count CPU time, not time on the clock: on a loaded machine (other programs, a parallel test
run) a correct solution waits for a core without using its budget, and a wall-clock limit failed it (a 1 s
alarm once stopped ``orthogonal``'s hidden case). The clock is kept as a backstop, :data:`WALL_FACTOR` times
longer, for code that uses no CPU while it waits (``time.sleep``, ``input()``, a lock). Each limit's line says
which one was hit.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .catalog import REGISTRY, NotReproducible

PRINT_LIMIT = 10_000          # characters a test may print
TEST_SECONDS = 1.0            # CPU time limit of one test (ITIMER_PROF: the process' CPU time, all threads)
EXERCISE_SECONDS = 5.0        # CPU time limit of one exercise's subprocess (RLIMIT_CPU: the kernel stops it)
WALL_FACTOR = 10              # each limit's wall-clock backstop is this many times longer, for code that waits


@dataclass
class CaseResult:
    case: str
    ok: bool
    line: str = ""
    mistake: str | None = None


@dataclass
class Grade:
    exercise: str
    points: int
    results: list = field(default_factory=list)
    mistake: str | None = None
    problem: str | None = None   # a line for the whole exercise (file missing, import failed, timeout)

    @property
    def passed(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def score(self) -> float:
        return self.points * self.passed / self.total if self.total else 0.0

    def lines(self) -> list[str]:
        """The report: the score, then one line for what went wrong (named mistake, else the first failure)."""
        head = f"{self.exercise}: {self.score:.1f}/{self.points} ({self.passed}/{self.total} tests passed)"
        if self.problem:
            return [head, f"  {self.problem}"]
        failed = [r for r in self.results if not r.ok]
        if not failed:
            return [head]
        out = [head]
        if self.mistake:
            n = sum(r.mistake == self.mistake for r in failed)
            out.append(f"  likely mistake: {self.mistake} (matches its output on {n} of {len(failed)} failed tests)")
        first = failed[0]
        out.append(f"  {first.case}: {first.line}")
        return out


class _TimeLimit(BaseException):
    """Raised by a timer inside a test that runs too long (a BaseException: a student's bare ``except
    Exception`` does not swallow it); ``clock`` is ``"cpu"`` (SIGPROF) or ``"wall"`` (SIGALRM, the backstop)."""

    def __init__(self, clock="cpu"):
        super().__init__(clock)
        self.clock = clock


def time_limit_line(e: _TimeLimit, seconds: float) -> str:
    """What a test stopped by a limit of ``seconds`` of CPU time (or its wall-clock backstop) says."""
    if e.clock == "wall":
        return (f"did not finish within {seconds * WALL_FACTOR:g} s of wall-clock time while using less than "
                f"{seconds:g} s of CPU time (waiting: time.sleep, input() or a lock?)")
    return f"did not finish within {seconds:g} s of CPU time (an endless loop?)"


class time_limits:
    """``with time_limits(seconds):`` raises :class:`_TimeLimit` in the block after ``seconds`` of this process'
    CPU time (``ITIMER_PROF``, user + system, so waiting for a core on a loaded machine does not count) or
    ``WALL_FACTOR × seconds`` on the clock, whichever comes first. A no-op where there are no interval timers
    (not POSIX, not the main thread: signals reach the main thread only) or when ``seconds`` is 0/None.

    The handlers and timers in force before are put back afterwards."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.on = bool(seconds) and hasattr(signal, "setitimer") and os.name == "posix" and _main_thread()

    def __enter__(self):
        if self.on:
            self.old = (signal.signal(signal.SIGPROF, _raise_cpu_limit),
                        signal.signal(signal.SIGALRM, _raise_wall_limit))
            signal.setitimer(signal.ITIMER_REAL, self.seconds * WALL_FACTOR)
            signal.setitimer(signal.ITIMER_PROF, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.on:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGPROF, self.old[0])
            signal.signal(signal.SIGALRM, self.old[1])
        return False


class _CappedText(io.TextIOBase):
    """A stdout/stderr replacement that counts what is written and keeps nothing."""

    def __init__(self):
        self.count = 0

    def writable(self):
        return True

    def write(self, s):
        self.count += len(s)
        if self.count > PRINT_LIMIT:   # stop the test at once: printing more would only cost time
            raise PrintLimit()
        return len(s)


class PrintLimit(BaseException):
    """Raised by the counting stdout when a test has printed more than :data:`PRINT_LIMIT` characters."""


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _tolerance(ex, dtypes):
    if any(np.dtype(d) == np.float32 for d in dtypes):
        return 1e-4, 1e-5
    return ex.tol.get("rtol", 1e-6), ex.tol.get("atol", 1e-8)


def compare(ex, got, want) -> str | None:
    """None when ``got`` matches ``want``, else one line saying how it differs."""
    want_l, got_l = _as_list(want), _as_list(got)
    if isinstance(want, tuple) and not isinstance(got, (tuple, list)):
        return f"returned a {type(got).__name__}, expected a tuple of {len(want_l)} arrays"
    if len(got_l) != len(want_l):
        return f"returned {len(got_l)} values, expected {len(want_l)}"
    for i, (g, w) in enumerate(zip(got_l, want_l)):
        what = f"output {i + 1}: " if len(want_l) > 1 else ""
        w = np.asarray(w)
        if g is None or not isinstance(g, (np.ndarray, np.generic, float, int)):
            return f"{what}returned {type(g).__name__}, expected a numpy array of shape {w.shape}"
        g = np.asarray(g)
        if g.shape != w.shape:
            return f"{what}wrong shape {g.shape}, expected {w.shape}"
        if w.ndim and g.dtype != w.dtype:
            return f"{what}wrong dtype {g.dtype}, expected {w.dtype} (keep the input's dtype)"
        if g.dtype.kind not in "fiub":
            return f"{what}wrong dtype {g.dtype}, expected {w.dtype}"
        if ex.kind == "random":
            gs, ws = ex.summary(g), ex.summary(w)
            rtol = ex.tol.get("rtol", 0.025)           # the scale: relative
            atol = np.asarray(ex.tol.get("atol", [0.0, 0.01]))   # the shape statistic: absolute
            if not np.all(np.abs(gs - ws) <= rtol * np.abs(ws) + atol):
                return f"{what}wrong values: statistics {np.array2string(gs, precision=4)}, expected " \
                       f"{np.array2string(ws, precision=4)} ({_summary_names(ex)})"
            continue
        rtol, atol = _tolerance(ex, [w.dtype])
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        if not np.allclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True):
            err = np.abs(g64 - w64)
            err = np.where(np.isnan(err), np.inf, err)
            idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
            return (f"{what}wrong values: max |error| {float(err[idx]):.3g} at {list(map(int, idx))}: "
                    f"got {float(g64[idx]):.8g}, expected {float(w64[idx]):.8g}")
    return None


def _summary_names(ex):
    return "std, fraction beyond 2 std" if ex.summary.__name__ == "_draw_summary" else "gain, orthogonal"


def _copy_args(args):
    return {k: (v.copy() if isinstance(v, np.ndarray) else [a.copy() for a in v] if isinstance(v, list) else v)
            for k, v in args.items()}


def _changed(before, after) -> str | None:
    for k, v in before.items():
        if isinstance(v, np.ndarray) and not np.array_equal(v, after[k], equal_nan=True):
            return k
    return None


def _exception_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())[:200]
    return f"raised {type(e).__name__}" + (f": {msg}" if msg else "")


@dataclass
class Planned:
    """One test computed before any of the student's code runs: its inputs, the solution's output and each
    wrong variant's (None where it raises). So a student's code that changes numpy or mlplab (``np.tanh =
    ...``) cannot change what it is compared with."""

    label: str
    args: dict
    want: object
    variants: dict


def plan(ex, seed: int) -> list[Planned]:
    out = []
    for label, args in cases_for(ex, seed):
        variants = {}
        for name, wrong in ex.mistakes.items():
            try:
                with np.errstate(all="ignore"), redirect_stdout(io.StringIO()):
                    variants[name] = ex.run(wrong, _copy_args(args))
            except Exception:
                variants[name] = None
        out.append(Planned(label, args, ex.run(ex.solution, _copy_args(args)), variants))
    return out


def run_case(ex, impl, planned: Planned, seconds=TEST_SECONDS) -> CaseResult:
    """One test: the implementation on the planned inputs under a time limit, with stdout/stderr counted, the
    inputs checked for in-place changes, then compared with the solution and the wrong variants."""
    label, args, want = planned.label, planned.args, planned.want
    given = _copy_args(args)
    sink = _CappedText()
    try:
        with time_limits(seconds), redirect_stdout(sink), redirect_stderr(sink), np.errstate(all="ignore"):
            got = ex.run(impl, given)
    except PrintLimit:
        return CaseResult(label, False, f"printed more than {PRINT_LIMIT:,} characters; remove the print calls")
    except _TimeLimit as e:
        return CaseResult(label, False, time_limit_line(e, seconds))
    except NotReproducible:
        return CaseResult(label, False, "two draws with the same seed differ: draw from the rng argument, "
                                        "not from np.random")
    except NotImplementedError:
        return CaseResult(label, False, "not implemented yet (the body still raises NotImplementedError)")
    except (KeyboardInterrupt, SystemExit) as e:
        return CaseResult(label, False, f"called {type(e).__name__} (sys.exit/exit?); return a value instead")
    except RecursionError:
        return CaseResult(label, False, "raised RecursionError (a function calling itself without end)")
    except Exception as e:  # the student's error: one line
        return CaseResult(label, False, _exception_line(e))
    if ex.kind != "optimizer":
        changed = _changed(args, given)
        if changed:
            return CaseResult(label, False, f"modified its input {changed!r} in place; work on a copy "
                                            f"(e.g. {changed}.copy()) or restore it")
    line = compare(ex, got, want)
    if line is None:
        return CaseResult(label, True)
    return CaseResult(label, False, line, _which_mistake(ex, planned.variants, got, want))


def _which_mistake(ex, variants, got, want):
    for name, out in variants.items():
        if out is not None and compare(ex, out, want) is not None and compare(ex, got, out) is None:
            return name
    return None


def _raise_cpu_limit(signum, frame):
    raise _TimeLimit("cpu")


def _raise_wall_limit(signum, frame):
    raise _TimeLimit("wall")


def _main_thread():
    import threading
    return threading.current_thread() is threading.main_thread()


def cases_for(ex, seed: int):
    """The public cases (fixed seed 0) then the hidden ones (drawn from ``seed``)."""
    return ex.cases(np.random.default_rng([0, 29]), False) + ex.cases(np.random.default_rng([seed, 29]), True)


def grade_callable(name: str, impl, seed: int = 0, seconds=TEST_SECONDS, on_case=None, planned=None) -> Grade:
    """Grade ``impl`` (a function or an optimizer class) on exercise ``name`` in this process (``planned``:
    the tests of :func:`plan`, computed before the student's code was imported)."""
    ex = REGISTRY[name]
    planned = planned if planned is not None else plan(ex, seed)
    grade = Grade(name, ex.points)
    for i, case in enumerate(planned):
        r = run_case(ex, impl, case, seconds)
        grade.results.append(r)
        if on_case:
            on_case(r)
        if "did not finish" in r.line:  # one endless loop is enough: the rest would each wait too
            for later in planned[i + 1:]:  # (reported too: the subprocess' caller counts the rows it gets)
                grade.results.append(CaseResult(later.label, False, "not run (an earlier test timed out)"))
                if on_case:
                    on_case(grade.results[-1])
            break
    grade.mistake = _name_mistake(grade.results)
    return grade


def _name_mistake(results):
    counts: dict[str, int] = {}
    for r in results:
        if not r.ok and r.mistake:
            counts[r.mistake] = counts.get(r.mistake, 0) + 1
    return max(counts, key=counts.get) if counts else None


# ----------------------------------------------------------------------------- the subprocess
def _children_cpu() -> float:
    """The CPU seconds of this process' ended and reaped children so far (user + system)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
def student_file(folder, name) -> Path:
    return Path(folder) / f"{name}.py"


def grade_file(folder, name: str, seed: int, timeout: float = EXERCISE_SECONDS) -> Grade:
    """Grade ``folder/name.py`` in a subprocess; never raises for anything the student's code does.

    ``timeout``: the subprocess' CPU time limit (whole seconds, rounded up: RLIMIT_CPU, so the kernel stops
    also an endless loop in compiled code or one that blocks the per-test timers' signals); the subprocess is
    killed after ``WALL_FACTOR × timeout`` on the clock whatever it does."""
    ex = REGISTRY[name]
    path = student_file(folder, name).resolve()
    if not path.is_file():
        return Grade(name, ex.points, problem=f"no file {path} (write it with `mlplab exercises start {name} "
                                                f"--dir {folder}`)")
    import mlplab
    src = str(Path(mlplab.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cpu = max(1, math.ceil(timeout))
    with tempfile.TemporaryDirectory(prefix="mlplab-grade-") as tmp:
        out = Path(tmp) / "results.jsonl"
        t0, cpu0 = time.monotonic(), _children_cpu()
        try:
            proc = subprocess.run([sys.executable, "-m", "mlplab.exercises.runner", str(path), name, str(seed),
                                   str(out), str(cpu)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=cpu * WALL_FACTOR, env=env,
                                  cwd=str(path.parent), start_new_session=True)
            timed_out, code, err = False, proc.returncode, proc.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            timed_out, code, err = True, None, ""
        elapsed = time.monotonic() - t0
        rows = []
        if out.exists():
            for line in out.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    grade = Grade(name, ex.points)
    head = [r for r in rows if r.get("type") == "problem"]
    if head:
        grade.problem = head[0]["line"]
        grade.results = [CaseResult(lab, False, "not run") for lab, _ in cases_for(ex, seed)]
        return grade
    grade.results = [CaseResult(r["case"], r["ok"], r.get("line", ""), r.get("mistake"))
                     for r in rows if r.get("type") == "case"]
    labels = [lab for lab, _ in cases_for(ex, seed)]
    if len(grade.results) < len(labels):
        if timed_out:
            why = (f"did not finish within the exercise's {cpu * WALL_FACTOR:g} s of wall-clock time (waiting on "
                   "something that does not return: time.sleep, input(), a lock?)")
        elif code == -signal.SIGXCPU or (code == -signal.SIGKILL and _children_cpu() - cpu0 >= cpu):
            # (SIGXCPU at the soft limit; SIGKILL at the hard one, 1 s later, if the code caught SIGXCPU)
            why = (f"used more than the exercise's {cpu} s of CPU time and was stopped (an endless loop in "
                   "compiled code, or one that blocks the time limit's signal?)")
        else:
            last = err.strip().splitlines()[-1] if err.strip() else ""
            why = f"the test process ended with status {code}" + (f" ({last[:200]})" if last else "") + \
                  " (a crash or os._exit in the code?)"
        grade.results.append(CaseResult(labels[len(grade.results)], False, why))
        grade.results += [CaseResult(lab, False, "not run") for lab in labels[len(grade.results):]]
    grade.mistake = _name_mistake(grade.results)
    grade.elapsed = elapsed
    return grade
