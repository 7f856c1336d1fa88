"""The ``mlplab`` command: train networks, fetch data, run the lab, build reports, diagnose inits.

One module per subcommand (``train``, ``data``, ``lab``, ``report``, ``diagnose``; ``registry``
for ``init list`` and ``optim list``), each with a
``register(subparsers)`` that adds its parser; ``options`` holds what they share. Every
subcommand checks its options before doing any work and answers a bad one with what was wrong
and the valid choices (exit status 2); cli/errors.py turns anything else into one line too
(``--debug`` shows the traceback). rich draws the tables and progress bars, only here.
"""

from __future__ import annotations

import argparse
import sys

from . import curvature, data, diagnose, errors, exercises, lab, live, registry, report, sweep, train
from .options import EXIT_DATA, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError

__all__ = ["main", "build_parser", "UsageError", "EXIT_USAGE", "EXIT_DIVERGED", "EXIT_INTERRUPTED", "EXIT_DATA"]

# the order `mlplab --help` lists them in
REGISTRARS = [train.register, data.register, lab.register, report.register, diagnose.register, registry.register,
              live.register, sweep.register, train.register_demo, exercises.register,
              curvature.register]


# options whose empty value would silently mean "not given" (a default folder, no file, every interface)
_FALLBACK_OPTIONS = ("out", "config", "mirror", "state_dict", "fix_out", "scheduler", "host")


class _BadArguments(Exception):
    """argparse's complaint about the command line (an unknown option, a value of the wrong type)."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, like every other mistake (argparse's own would print
    the whole usage, a dozen lines for ``train``, above the error); ``--help`` shows the usage. The
    subcommands' parsers are of this class too (``add_subparsers`` uses the parent's class)."""

    def error(self, message):
        raise _BadArguments(self.prog, message)


def build_parser():
    p = _Parser(
        prog="mlplab",
        description="Build and train fully-connected networks from scratch, and see why the optimizer "
                    "and the weight initialization decide whether they train.",
        epilog="Examples:\n  mlplab train --optimizer sgd --lr 0.01 --epochs 2\n  mlplab lab list\n"
               "  mlplab lab run paths --quick\n  mlplab lab run all --out lab-report\n"
               "  mlplab diagnose --layers 784,256,256,10 --activation tanh --init he\n"
               "  mlplab init list\n  mlplab optim list",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"mlplab {__import__('mlplab').__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    errors.add_debug_flag(p)
    return p


def main(argv=None):
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # named after the subcommand they were given to, not the top-level parser
            raise _BadArguments(errors.command_name(args), f"unrecognized arguments: {' '.join(extra)}")
    except _BadArguments as e:
        print(f"{e.prog}: error: {errors.one_line(e)}; see `{e.prog} --help`", file=sys.stderr)
        return EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    empty = [k for k in _FALLBACK_OPTIONS if isinstance(getattr(args, k, None), str) and not getattr(args, k).strip()]
    if empty:  # `--out "$DIR"` with DIR unset would otherwise write to the default folder
        opt = "--" + empty[0].replace("_", "-")
        print(f"{errors.command_name(args)}: error: {opt} is empty (an unset shell variable?); give a value, or "
              f"omit {opt} to use its default", file=sys.stderr)
        return EXIT_USAGE
    return errors.run(args)  # the error rule: one line per problem, --debug for the traceback


if __name__ == "__main__":
    sys.exit(main())
