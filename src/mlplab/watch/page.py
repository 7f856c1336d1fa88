"""The page of a watched loop (:class:`mlplab.watch.core.Watch`'s ``serve``, ``stop_page`` and its display in
Jupyter): ``mlplab live --replay FOLDER`` in a process of its own, following the recording as it grows, so
serving takes nothing from the loop's interpreter; it stops when the training process is gone, even killed
(``MLPLAB_WATCH_PARENT``), and has the live page's guard (127.0.0.1, Host and Origin checks, the token)."""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
from pathlib import Path


class Page:
    """Mixed into :class:`mlplab.watch.core.Watch`: needs its ``folder``, ``url`` and ``_server``."""

    def serve(self, port: int = 0) -> str:
        """Start the page (``mlplab live --replay FOLDER`` in a process of its own, following the recording as
        it grows; it stops when this process ends, even killed) on 127.0.0.1:``port`` (0: a free one); returns
        its address, with the token."""
        if self._server is not None and self._server.poll() is None:
            return self.url
        if port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        import mlplab

        root = str(Path(mlplab.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]),
               "PYTHONUNBUFFERED": "1", "MLPLAB_WATCH_PARENT": str(os.getpid())}
        self._server = subprocess.Popen([sys.executable, "-m", "mlplab", "live", "--replay", str(self.folder),
                                         "--no-open", "--port", str(port)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
                                        start_new_session=True)
        line = self._server.stdout.readline()
        if not line.startswith("mlplab live: http"):
            err = self._server.stderr.read() if self._server.poll() is not None else ""
            self.stop_page()
            raise RuntimeError(f"the watch page did not start: {(line + err).strip() or 'no output'}")
        self.url = line.split()[2]
        atexit.register(self.stop_page)
        return self.url

    def stop_page(self) -> None:
        """Stop the page's server, if this watch started one."""
        if self._server is not None and self._server.poll() is None:
            self._server.terminate()
            try:
                self._server.wait(5)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
        self._server = None

    def _repr_html_(self) -> str:
        import html

        url = self.serve(0) if self._server is None else self.url
        return (f'<iframe src="{html.escape(url)}" width="100%" height="760" style="border:0" '
                f'title="mlplab watch: {html.escape(str(self.folder))}"></iframe>')
