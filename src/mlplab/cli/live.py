"""``mlplab live``: start the lab in the browser (a local web server; see :mod:`mlplab.live`)."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path

from .options import UsageError, check_threads


def cmd_live(args):
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    if args.blas_threads is not None:  # the check `train` and `lab run` make: 0, or 1 to the CPU count
        check_threads(args.blas_threads)
    if not 1 <= args.fps <= 60:
        raise UsageError(f"--fps must be between 1 and 60, got {args.fps:g}")
    runs_dir = None
    if args.runs_dir is not None:
        if not args.runs_dir.strip():
            raise UsageError("--runs-dir is empty; give the folder exports go below (default: the current folder)")
        runs_dir = Path(args.runs_dir).expanduser()
        if not runs_dir.exists():
            raise UsageError(f"--runs-dir {args.runs_dir}: no such folder; create it first or give an existing one")
        if not runs_dir.is_dir():
            raise UsageError(f"--runs-dir {args.runs_dir} is a file, not a folder; give the folder exports go below")
        from .folders import check_out_folder

        runs_dir = check_out_folder(runs_dir, "--runs-dir").resolve()  # one that can be written
    if args.grace is not None and not (0 < args.grace <= 3600):
        raise UsageError(f"--grace must be a number of seconds above 0 and at most 3600, got {args.grace:g}")
    lessons = None
    if args.lessons is not None:  # every file read and every step's setting checked before the server starts
        from ..live.lessons import LessonError, all_lessons

        try:
            lessons = all_lessons(Path(args.lessons).expanduser())
        except LessonError as e:
            raise UsageError(str(e)) from None
        own = [le.id for le in lessons if le.origin != "built-in"]
        print(f"mlplab live: {len(own)} lesson{'s' if len(own) != 1 else ''} from {args.lessons} "
              f"({', '.join(own)}) beside the built-in ones", flush=True)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:  # a clear message now rather than uvicorn's log line after start-up
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((args.host, args.port))
    except OSError as e:
        if isinstance(e, socket.gaierror) or e.errno == errno.EADDRNOTAVAIL:  # not an address of this machine
            raise UsageError(f"--host {args.host}: not an address to listen on ({e.strerror or e}); give an address "
                             "of this machine, e.g. 127.0.0.1 (the default) or 0.0.0.0 for every interface") from None
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e}); "
                         "choose another --port or stop what uses it") from None
    if args.blas_threads is None:  # one core is left to the browser, the server and the page's drawing
        from ..runtime.threads import usable_cores

        args.blas_threads = max(1, usable_cores() - 1)
        print(f"mlplab live: training on {args.blas_threads} BLAS thread{'s' if args.blas_threads > 1 else ''} "
              "(one core is left to the browser; --blas-threads N to change it)", flush=True)
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UsageError(f"mlplab live needs {e.name}: pip install 'mlplab' (it is a dependency)") from None
    exercises = _offer_exercises(args.exercises) if args.exercises is not None else None
    from ..live import serve

    return serve(args.host, args.port, open_browser=not args.no_open, fps=args.fps, blas_threads=args.blas_threads,
                 no_token=args.no_token, runs_dir=runs_dir, lessons=lessons, grace=args.grace,
                 exercises=exercises)


def _offer_exercises(folder):
    """``--exercises FOLDER``: the optimizer exercises there that pass their checks become "my optimizer" choices
    (``{"FOLDER:NAME": label}``); the server then runs the student's code, and only that code (issue 29)."""
    from .. import optim
    from ..exercises.student import offer_folder, restricted_loader

    if not Path(folder).is_dir():
        raise UsageError(f"--exercises {folder}: no such folder; give the folder `mlplab exercises start ... --dir` "
                         "wrote")
    offered, refused = offer_folder(folder)
    for line in refused:
        print(f"mlplab live: {line}", file=sys.stderr, flush=True)
    if not offered:
        raise UsageError(f"--exercises {folder}: no optimizer exercise there passes its checks (SGD.py, Adam.py, ...); "
                         f"run `mlplab exercises check {folder}` and fix what it says")
    optim.registry.EXTERNAL_LOADER = restricted_loader(offered)
    labels = {spec: f"my {spec.rpartition(':')[2]} ({Path(folder) / spec.rpartition(':')[2]}.py)" for spec in offered}
    print(f"mlplab live: offering {', '.join(labels.values())} in the Train view (checks passed)", file=sys.stderr,
          flush=True)
    return labels


def register(sub):
    p = sub.add_parser("live", help="the lab in the browser: train and watch every layer live, drag optimizer paths",
                       description="Start a local web server with the live lab and open it in the browser. "
                                   "It answers only its own page: the URL it prints and opens carries a token.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--no-open", action="store_true", help="do not open a browser")
    p.add_argument("--grace", type=float, default=None, metavar="S",
                   help="seconds a run is kept after its tab closed (or its stream never came), so a reload "
                        "reattaches (default 3); longer on a slow machine or connection")
    p.add_argument("--fps", type=float, default=12.0, help="frames per second sent while training (default 12)")
    p.add_argument("--blas-threads", type=int, default=None, metavar="N",
                   help="BLAS threads for training (default: the usable cores but one, which the browser gets; "
                        "0: the BLAS library's own count; an export's command repeats it)")
    p.add_argument("--runs-dir", default=None, metavar="DIR",
                   help="the folder the page's Export writes below (default: the current folder)")
    p.add_argument("--lessons", default=None, metavar="DIR",
                   help="a folder of lesson files (*.md with TOML front matter, or *.toml; docs/lessons.md) the "
                        "page offers beside the built-in lessons; every file is checked at start-up")
    p.add_argument("--no-token", action="store_true",
                   help="answer requests without the token the printed URL carries (a trusted setting only; warns)")
    p.add_argument("--exercises", default=None, metavar="FOLDER",
                   help="offer the optimizer exercises in FOLDER that pass `mlplab exercises check` as \"my "
                        "optimizer\" choices in the Train view (the server runs that code; see the README)")
    p.set_defaults(func=cmd_live)
