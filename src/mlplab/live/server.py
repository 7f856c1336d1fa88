"""Run the live app with uvicorn: ``serve(host, port, open_browser)``; Ctrl-C stops it cleanly.

The server binds 127.0.0.1 unless told otherwise: the page can start training runs and write
run directories, so it is not something to offer to a network by accident. It answers only its
own page (:mod:`mlplab.live.guard`): the URL it prints and opens carries a token made for this
start (``?token=...``), which the page keeps and sends; ``no_token`` drops that check (for a
trusted setting, with a warning), the Host and Origin checks stay.
"""

from __future__ import annotations

import sys
import threading
import webbrowser

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def page_url(host: str, port: int, token: str | None) -> str:
    """The page's address, with the token when there is one."""
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    return url + (f"?token={token}" if token else "")


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, fps: float = 12.0,
          log_level: str = "warning", ready=None, blas_threads: int = 0, no_token: bool = False,
          runs_dir=None, lessons: list | None = None, grace: float | None = None,
          exercises=None) -> int:
    """Serve until Ctrl-C (or SIGTERM); stops every tab's run before returning. ``blas_threads``
    > 0 limits NumPy's BLAS for the whole server (as ``mlplab train --blas-threads``; a run's
    config.json records the count, and its export's command line repeats it). ``runs_dir``: where
    Export may write (default: the current folder). ``lessons``: the lessons offered (default: the
    built-in ones; :func:`mlplab.live.lessons.all_lessons` loads a teacher's folder too). ``grace``: seconds
    a run whose tab went away (or whose stream never came) is kept for a reload (default
    :data:`mlplab.live.app.GRACE_SECONDS`). ``exercises``: a student's checked optimizers offered in the
    Train view (``{"FOLDER:NAME": label}``, ``mlplab live --exercises``)."""
    import contextlib

    import uvicorn
    from threadpoolctl import threadpool_limits

    from .app import create_app

    app = create_app(fps=fps, host=host, port=port, no_token=no_token, root=runs_dir, lessons=lessons,
                     exercises=exercises,
                     **({"grace": grace} if grace is not None else {}))
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=2,
                            lifespan="on")
    server = uvicorn.Server(config)
    app.state.should_exit = lambda: server.should_exit
    url = page_url("127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host, port, app.state.token)
    if host not in LOCAL_HOSTS:
        print(f"warning: serving on {host}, reachable from other machines: anyone who can reach it can start "
              "training runs and write run directories here. Use --host 127.0.0.1 unless you mean it.",
              file=sys.stderr)
    if no_token:
        print("warning: --no-token: any program that can reach this server (another user's on this machine, or on "
              "the network with --host) can start runs and export them; use it only where all of them are trusted",
              file=sys.stderr)

    def on_started():  # the address is said once the server takes connections: a page opened at once loads
        print(f"mlplab live: {url}  (Ctrl-C stops it; exports go below {app.state.root})", flush=True)
        if open_browser:
            webbrowser.open(url)
        if ready is not None:
            ready()

    def watch():
        import time

        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            on_started()

    threading.Thread(target=watch, daemon=True).start()
    limit = threadpool_limits(limits=int(blas_threads), user_api="blas") if blas_threads else contextlib.nullcontext()
    try:
        with limit:
            server.run()  # uvicorn shuts down cleanly on Ctrl-C, then re-raises the signal
    except KeyboardInterrupt:
        pass
    print("mlplab live: stopped", flush=True)
    return 0 if server.started else 1
