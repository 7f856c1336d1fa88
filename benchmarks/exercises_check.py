"""How long `mlplab exercises check` takes per exercise (issue 29's target: ≤ 5 s each on this machine).

    PYTHONPATH=src python benchmarks/exercises_check.py [--repeats 3] [NAME ...]

Writes every exercise (or the NAMEs) with the library's own solution into a fresh folder, then times
``mlplab exercises check FOLDER NAME`` for each, ``repeats`` times, in this process (the grader runs the student's
file in a subprocess of its own, as for a student). Prints the median per exercise, the median and maximum over
exercises, and the load average: the machine is shared, so read medians, not single runs. This was an assertion
in tests/test_exercises.py (a timed test that failed at load 19); speed is measured here instead.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

from mlplab.cli import main as cli_main
from mlplab.exercises.catalog import REGISTRY


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="exercises (default: all)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    names = args.names or list(REGISTRY)
    print(f"== mlplab exercises check, per exercise (load average {os.getloadavg()[0]:.1f} at the start)")
    with tempfile.TemporaryDirectory() as tmp:
        hw = Path(tmp) / "hw"
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli_main(["exercises", "start", *names, "--dir", str(hw)]) == 0
        for name in names:
            (hw / f"{name}.py").write_text(f"from mlplab.exercises.catalog import REGISTRY\n"
                                           f"{name} = REGISTRY[{name!r}].solution\n")
        medians = {}
        for name in names:
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    code = cli_main(["exercises", "check", str(hw), name, "--seed", "4"])
                times.append(time.perf_counter() - t0)
                if code != 0:
                    raise SystemExit(f"{name}: the library's own solution did not get full marks (exit {code})")
            medians[name] = statistics.median(times)
            print(f"{name:28s} {medians[name]:6.2f} s")
    values = list(medians.values())
    print(f"median over {len(values)} exercises: {statistics.median(values):.2f} s; max {max(values):.2f} s "
          f"({max(medians, key=medians.get)}); target ≤ 5 s each; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
