"""``mlplab live``: start the lab in the browser (a local web server; see :mod:`mlplab.live`)."""

from __future__ import annotations

import errno
import socket
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
    from ..live import serve

    return serve(args.host, args.port, open_browser=not args.no_open, fps=args.fps, blas_threads=args.blas_threads,
                 no_token=args.no_token, runs_dir=runs_dir)


def register(sub):
    p = sub.add_parser("live", help="the lab in the browser: train and watch every layer live, drag optimizer paths",
                       description="Start a local web server with the live lab and open it in the browser. "
                                   "It answers only its own page: the URL it prints and opens carries a token.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--no-open", action="store_true", help="do not open a browser")
    p.add_argument("--fps", type=float, default=12.0, help="frames per second sent while training (default 12)")
    p.add_argument("--blas-threads", type=int, default=None, metavar="N",
                   help="BLAS threads for training (default: the usable cores but one, which the browser gets; "
                        "0: the BLAS library's own count; an export's command repeats it)")
    p.add_argument("--runs-dir", default=None, metavar="DIR",
                   help="the folder the page's Export writes below (default: the current folder)")
    p.add_argument("--no-token", action="store_true",
                   help="answer requests without the token the printed URL carries (a trusted setting only; warns)")
    p.set_defaults(func=cmd_live)
