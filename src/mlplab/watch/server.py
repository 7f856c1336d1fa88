"""The watch page: a recording shown live while it grows, or replayed with a time slider afterwards.

``mlplab live --replay DIR`` (and ``watch(port=...)``, which starts that command in a process of its own, so
the page's serving takes nothing from the training loop's interpreter) serves one recording
(:mod:`mlplab.watch.record`) with the live page's guard (:mod:`mlplab.live.guard`: 127.0.0.1 by default,
the Host and Origin checks, the token printed in the URL) and the live page's drawing code (its
``/static`` modules: uPlot charts, the histogram strips of the Train view). Routes:

===================  ====================================================================
GET  /                the page (watch/static/watch.html); its scripts from /static and /watch-static
GET  /api/meta        the recording's meta.json (layers, what is not watched; null until the watched model
                      has run its first batch: the page asks again) and its folder
GET  /api/frames      ``?from=N``: the frames from N on (at most ``PAGE`` of them), how many there are,
                      the end line (null while it runs or after a crash), and whether a partial last
                      line follows (a run killed mid-write); the page asks every 0.5 s while it runs
===================  ====================================================================

The server only reads the folder, as JSON: it never writes there and never unpickles anything. Started by
``watch(port=...)`` (the environment variable ``MLPLAB_WATCH_PARENT`` holds the training process's id), it
stops when that process is gone, even killed: ``mlplab live --replay DIR`` shows the recording afterwards.
"""

from __future__ import annotations

import mimetypes
import os
import sys
import threading
import webbrowser
from pathlib import Path

from .record import Recording, RecordingError

__all__ = ["create_app", "serve", "PAGE"]

STATIC = Path(__file__).parent / "static"
PAGE = 200
mimetypes.add_type("text/javascript", ".js")


PARENT_ENV = "MLPLAB_WATCH_PARENT"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, ended but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return not os.path.exists("/proc/self")  # no /proc entry, yet it answers: not Linux


def create_app(folder, host: str = "127.0.0.1", port: int | None = None, no_token: bool = False):
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from ..live.app import STATIC as LIVE_STATIC
    from ..live.guard import Guard, new_token

    rec = Recording(folder)
    lock = threading.Lock()
    token = None if no_token else new_token()

    async def index(request):
        return FileResponse(STATIC / "watch.html", headers={"Cache-Control": "no-store"})

    def _meta() -> dict:
        with lock:
            error = None
            if rec.meta is None:
                try:
                    rec.poll()
                except RecordingError as e:
                    error = str(e)
            return {"meta": rec.meta, "folder": str(rec.folder), "error": error}

    async def meta(request):
        return JSONResponse(await run_in_threadpool(_meta))

    def _frames(start: int) -> dict:
        with lock:
            error = None
            if rec.end is None:
                try:
                    rec.poll()
                except RecordingError as e:
                    error = str(e)
            return {"from": start, "frames": rec.frames[start:start + PAGE], "total": len(rec.frames),
                    "end": rec.end, "partial": rec.partial, "error": error}

    async def frames(request):
        try:
            start = max(0, int(request.query_params.get("from", "0")))
        except ValueError:
            return JSONResponse({"error": "from= must be a whole number"}, status_code=400)
        return JSONResponse(await run_in_threadpool(_frames, start))

    app = Starlette(routes=[Route("/", index), Route("/api/meta", meta), Route("/api/frames", frames),
                            Mount("/static", StaticFiles(directory=LIVE_STATIC)),
                            Mount("/watch-static", StaticFiles(directory=STATIC))],
                    middleware=[Middleware(Guard, host=host, port=port, token=token)])
    app.state.token = token
    app.state.recording = rec
    return app


def serve(folder, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, no_token: bool = False,
          log_level: str = "warning") -> int:
    """Serve the recording in ``folder`` until Ctrl-C (or SIGTERM)."""
    import uvicorn

    from ..live.server import LOCAL_HOSTS, page_url

    app = create_app(folder, host=host, port=port, no_token=no_token)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           timeout_graceful_shutdown=2, lifespan="off"))
    url = page_url("127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host, port, app.state.token)
    if host not in LOCAL_HOSTS:
        print(f"warning: serving on {host}, reachable from other machines: anyone who can reach it can read this "
              "recording. Use --host 127.0.0.1 unless you mean it.", file=sys.stderr)
    if no_token:
        print("warning: --no-token: any program that can reach this server can read the recording", file=sys.stderr)

    def opener():  # the address is said once the server takes connections: a page opened at once loads
        import time

        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            print(f"mlplab live: {url}  (the recording {app.state.recording.folder}; Ctrl-C stops it)", flush=True)
            if open_browser:
                webbrowser.open(url)

    threading.Thread(target=opener, daemon=True).start()
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit():  # started by watch(port=...): the page goes with the process that trains
        def orphaned():
            import time

            while not server.should_exit:
                if not _alive(int(parent)):
                    server.should_exit = True
                time.sleep(0.5)

        threading.Thread(target=orphaned, daemon=True).start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    print("mlplab live: stopped", flush=True)
    return 0 if server.started else 1
