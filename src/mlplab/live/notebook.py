"""The live lab inside a notebook cell: ``mlplab.live.notebook.show()`` starts the local server of
``mlplab live`` in a background thread and returns an IFrame of its page, so a course notebook can train
and watch in place.

The server binds 127.0.0.1 (the page can start training runs and write run directories) and, as ``mlplab
live``, answers only its own page: the IFrame's address carries the server's token (``?token=...``), which
the page keeps. One server per kernel is kept and reused by later calls, :func:`stop` ends it (its runs
are stopped first, as when ``mlplab live`` gets Ctrl-C). Port 0 asks the system for a free port. Exports
go below the kernel's current folder.
"""

from __future__ import annotations

import socket
import threading
import time


class LiveServer:
    """A running live-lab server in a daemon thread: ``url`` (the page, with the token), ``base``,
    ``token``, ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, fps: float = 12.0, **options):
        import uvicorn

        from .app import create_app

        if port == 0:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        app = create_app(fps=fps, host=host, port=port, **options)  # options: those of create_app
        self.app, self.token = app, app.state.token
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2,
                                lifespan="on")
        self._server = uvicorn.Server(config)
        app.state.should_exit = lambda: self._server.should_exit
        self._thread = threading.Thread(target=self._server.run, name="mlplab-live", daemon=True)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def url(self) -> str:
        from .server import page_url

        return page_url(self.host, self.port, self.token)

    def start(self, timeout: float = 20.0) -> LiveServer:
        self._thread.start()
        t0 = time.monotonic()
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() - t0 > timeout:
                raise RuntimeError(f"the live lab did not start on {self.base} (is the port in use?)")
            time.sleep(0.05)
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self._server.started and not self._server.should_exit

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


_SERVER: LiveServer | None = None


def start(port: int = 0) -> LiveServer:
    """The kernel's live-lab server, started if needed (on 127.0.0.1; ``port`` 0: any free port)."""
    global _SERVER
    if _SERVER is None or not _SERVER.running:
        _SERVER = LiveServer(port=port).start()
    return _SERVER


def show(width: str | int = "100%", height: int = 720, port: int = 0):
    """Start (or reuse) the live lab and return an ``IPython.display.IFrame`` of its page; the last
    expression of a cell displays it."""
    try:
        from IPython.display import IFrame
    except ImportError:
        raise ImportError("mlplab.live.notebook.show() draws the page in a Jupyter cell and needs IPython "
                          "(pip install 'mlplab[notebook]'); outside a notebook run `mlplab live`, or "
                          "notebook.start().url for the server alone") from None
    return IFrame(start(port).url, width=width, height=height)


def stop() -> None:
    """Stop the kernel's live-lab server (and its runs), if one is running."""
    global _SERVER
    if _SERVER is not None:
        _SERVER.stop()
        _SERVER = None
