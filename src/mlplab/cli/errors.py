"""The error rule of the ``mlplab`` command: one line that says what is wrong and what to do.

No user mistake and no machine problem ends in a Python traceback. Whatever escapes a
subcommand is turned into one line on standard error and an exit status:

=====================================  ======  ==============================================
what                                   status  the line
=====================================  ======  ==============================================
a bad option or setting                2       ``mlplab train: error: --seed must be ...``
a training run that diverged           3       ``mlplab train: error: training diverged at step
                                               2 (epoch 1): the loss is nan; ...``
a dataset that cannot be fetched/read  4       ``mlplab train: data error: ...``
a folder in use, not enough memory,    5       ``mlplab train: error: runs/x is in use by
a file that cannot be written                  process 123 (mlplab train since ...)``
Ctrl-C                                 130     ``interrupted``
anything else (a bug in mlplab)        1       ``mlplab train: internal error: ...; run again
                                               with --debug (or MLPLAB_DEBUG=1) ...``
=====================================  ======  ==============================================

``--debug`` (accepted before or after the subcommand) or ``MLPLAB_DEBUG=1`` lets the exception
through, with its traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

EXIT_INTERNAL, EXIT_ENVIRONMENT = 1, 5

_OS_HINTS = {
    errno.EACCES: "permission denied: choose a folder you can write to",
    errno.EPERM: "not permitted (an immutable or protected file?): choose another folder",
    errno.EROFS: "the file system is read-only: choose a folder on a writable disk",
    errno.ENOSPC: "the disk is full: free some space or choose another folder",
    errno.EDQUOT: "the disk quota is exhausted: free some space or choose another folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENAMETOOLONG: "the name is too long",
}


def debug_wanted(args=None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("MLPLAB_DEBUG", "") not in ("", "0")


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on the main parser and on every subcommand's parser (so it can come anywhere)."""
    help_text = "show the Python traceback of an error (also MLPLAB_DEBUG=1)"
    parser.add_argument("--debug", action="store_true", help=help_text)
    todo = [parser]
    while todo:
        p = todo.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    if not any("--debug" in a.option_strings for a in child._actions):
                        child.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=help_text)
                    todo.append(child)


def os_error_line(e: OSError) -> str:
    """'cannot write runs/x/config.json: the file system is read-only: choose a folder on a writable disk'."""
    where = e.filename if e.filename is not None else ""
    hint = _OS_HINTS.get(e.errno, e.strerror or str(e))
    return f"{where}: {hint}" if where else hint


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def _prepare_process() -> None:
    """What the command sets for its whole process: glibc keeps freed memory (:mod:`mlplab.runtime.allocator`)."""
    from ..runtime.allocator import keep_freed_memory
    from ..settings import SettingsError

    try:
        keep_freed_memory()
    except ValueError as e:
        raise SettingsError("MLPLAB_MALLOC_PAD", str(e)) from None


def command_name(args) -> str:
    """``mlplab train``, ``mlplab lab run``, ``mlplab init list``: how a message names the command."""
    words = [getattr(args, "command", None), *(v for k, v in vars(args).items() if k.endswith("_cmd"))]
    return " ".join(["mlplab", *(str(w) for w in words if w)])


def run(args) -> int:
    """Run ``args.func(args)`` under the error rule; returns the exit status."""
    from ..data import DataError
    from ..runtime.memory import NotEnoughMemory
    from ..runtime.runlock import FolderInUse
    from ..settings import SettingsError
    from .options import EXIT_DATA, EXIT_INTERRUPTED, EXIT_USAGE, UsageError

    name = command_name(args)
    if debug_wanted(args):
        _prepare_process()
        return args.func(args)
    try:
        _prepare_process()
        return args.func(args)
    except (UsageError, SettingsError) as e:
        print(f"{name}: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except DataError as e:  # a FetchError's summary: every source's reason in one line (--debug: one per line)
        print(f"{name}: data error: {one_line(getattr(e, 'summary', None) or e)}", file=sys.stderr)
        return EXIT_DATA
    except (FolderInUse, NotEnoughMemory) as e:
        print(f"{name}: error: {one_line(e)}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except MemoryError:
        print(f"{name}: error: out of memory; use narrower or fewer layers or a smaller --batch-size",
              file=sys.stderr)
        return EXIT_ENVIRONMENT
    except OSError as e:
        if isinstance(e, BrokenPipeError):  # output piped into `head` and the like: not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        print(f"{name}: error: {one_line(os_error_line(e))}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: still one line, and how to see more
        print(f"{name}: internal error: {type(e).__name__}: {one_line(e)[:300]}; run again with --debug (or "
              "MLPLAB_DEBUG=1) for the traceback, and please report it", file=sys.stderr)
        return EXIT_INTERNAL
