"""The grading subprocess: ``python -m mlplab.exercises.runner FILE NAME SEED OUT [CPU_SECONDS]``.

Imports the student's FILE (its prints counted and discarded), finds NAME in it, runs every case of the
exercise under :func:`mlplab.exercises.grader.run_case` and appends one JSON line per case to OUT as it goes
(so a crash or a kill still leaves the cases already graded). A file that cannot be imported, or has no NAME,
gives one ``problem`` line. CPU_SECONDS (whole seconds) limits the process' CPU time (RLIMIT_CPU: the kernel
sends SIGXCPU at it and SIGKILL a second later, so even a loop in compiled code, or one that blocks the
per-test timers' signals, ends); the per-test limits are :class:`mlplab.exercises.grader.time_limits`.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from contextlib import redirect_stderr, redirect_stdout


def _write(out, row):
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def main(argv):
    path, name, seed, out = argv[0], argv[1], int(argv[2]), argv[3]
    if len(argv) > 4:
        import resource

        cpu = int(argv[4])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    from . import grader
    from .catalog import REGISTRY

    planned = grader.plan(REGISTRY[name], seed)  # before the student's code can touch numpy or mlplab
    sink = grader._CappedText()
    try:
        spec = importlib.util.spec_from_file_location(f"student_{name}", path)
        module = importlib.util.module_from_spec(spec)
        with grader.time_limits(grader.TEST_SECONDS), redirect_stdout(sink), redirect_stderr(sink):
            spec.loader.exec_module(module)
    except SyntaxError as e:
        _write(out, {"type": "problem", "line": f"{path} line {e.lineno}: syntax error: {e.msg}"})
        return 0
    except grader._TimeLimit as e:
        t = grader.TEST_SECONDS
        why = (f"took more than {t:g} s of CPU time (an endless loop at the top level of the file?)"
               if e.clock == "cpu" else f"did not finish within {t * grader.WALL_FACTOR:g} s of wall-clock time "
               "while using little CPU (waiting at the top level of the file: time.sleep, input() or a lock?)")
        _write(out, {"type": "problem", "line": f"importing {path} {why}"})
        return 0
    except grader.PrintLimit:
        _write(out, {"type": "problem", "line": f"importing {path} printed more than {grader.PRINT_LIMIT:,} "
                                                "characters; remove the print calls"})
        return 0
    except BaseException as e:  # noqa: BLE001 - anything the student's module does at import
        _write(out, {"type": "problem", "line": f"importing {path} {grader._exception_line(e)}"})
        return 0
    impl = getattr(module, name, None)
    if impl is None:
        _write(out, {"type": "problem", "line": f"{path} defines no {name!r} (keep the name of the skeleton)"})
        return 0

    def report(r):
        _write(out, {"type": "case", "case": r.case, "ok": r.ok, "line": r.line, "mistake": r.mistake})

    grader.grade_callable(name, impl, seed=seed, on_case=report, planned=planned)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
