"""The live page's shared browser-test machinery: ``mlplab live`` as a real subprocess (:class:`Server`),
a Playwright page that records every request (:class:`Page`; :meth:`Page.at` for a watch page's address,
:meth:`Page.done` for the end every browser test shares: nothing left the server, no page error, closed),
``mlplab live --replay`` for a block (:func:`replayed`), the marks of a browser test (:data:`BROWSER_MARKS`,
:func:`browser_test`), and the fixtures ``browser`` (Debian's Chromium, headless, one per test session),
``server`` (one ``mlplab live`` per test module) and ``fresh_server`` (one per test, for tests that count the
server's runs or stop it).

Registered as a pytest plugin in ``tests/conftest.py`` (``pytest_plugins``), so every test module gets the
fixtures without importing them (an imported fixture shadowed by a test's argument is ruff's F811).
``tests/test_live_browser.py`` re-exports the names for modules that import them from there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium")
ROOT = Path(__file__).resolve().parents[1]
# a browser test module's `pytestmark` (or a part of it)
BROWSER_MARKS = [pytest.mark.browser,
                 pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (run `make system-deps` or "
                                                             "`apt-get install chromium`)")]


def browser_test(f):
    """:data:`BROWSER_MARKS` on one test, in a module whose other tests need no browser."""
    for mark in BROWSER_MARKS:
        f = mark(f)
    return f


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def src_env():
    """The environment of a subprocess that runs this checkout's mlplab (its src/ first on the path), unbuffered."""
    return {**os.environ, "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def replay_server(folder):
    """``mlplab live --replay FOLDER`` in a subprocess: ``(process, the URL with its token)`` once it says where.
    It must take connections by then: it printed its address before it listened, and a page opened at once
    (a notebook's frame, watch(port=...)'s URL) was refused."""
    port = _free_port()
    srv = subprocess.Popen([sys.executable, "-m", "mlplab", "live", "--replay", str(folder), "--no-open", "--port",
                            str(port)], env=src_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = srv.stdout.readline()
    assert line.startswith("mlplab live: http"), (line, srv.wait(10), srv.stderr.read())
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError as e:
        srv.kill()
        raise AssertionError(f"the replay server said its address before it listened: {e}") from None
    return srv, line.split()[2]


def stop(proc, timeout=15):
    """Ctrl-C (SIGINT) to a server, which must end within ``timeout`` s (killed and the test failed if not)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


@contextlib.contextmanager
def replayed(folder):
    """``mlplab live --replay FOLDER`` for the block: yields the page's URL (with its token), then Ctrl-C."""
    srv, url = replay_server(folder)
    try:
        yield url
    finally:
        stop(srv)


class Server:
    """``mlplab live`` in a subprocess; ``token`` is read from the URL it prints (None with --no-token)."""

    def __init__(self, *extra, cwd=None, preexec_fn=None, port=None):
        self.port = port or _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "mlplab", "live", "--no-open", "--port", str(self.port),
                                      "--blas-threads", "1",
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     cwd=cwd, preexec_fn=preexec_fn)
        self.before = []  # what it printed before its address (e.g. the lessons it read)
        self.printed = self.proc.stdout.readline()  # "mlplab live: http://127.0.0.1:P/?token=...  (Ctrl-C ...)"
        while self.printed.startswith("mlplab live: ") and not self.printed.startswith("mlplab live: http"):
            self.before.append(self.printed)
            self.printed = self.proc.stdout.readline()
        if not self.printed.startswith("mlplab live: http"):
            raise RuntimeError(f"the server did not start: {self.printed!r} {self.proc.communicate()}")
        url = self.printed.split()[2]
        self.token = url.split("?token=", 1)[1] if "?token=" in url else None
        try:  # it says its address once it takes connections: a browser opened at once loads the page
            _get(self.base + "/api/meta", self.token)
        except OSError as e:
            self.kill()
            raise AssertionError(f"the server said its address before it answered: {e}") from None

    def runs(self):
        return _get(self.base + "/api/runs", self.token)

    def kill(self):
        """End the server if it still runs (a fixture's teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def interrupt(self, timeout=10.0):
        """Ctrl-C: returns (exit code, seconds to exit, stdout, stderr)."""
        t0 = time.time()
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, time.time() - t0, out, err


class Page:
    """A page with every request and page error recorded; opened as `mlplab live` opens it, with the server's
    token (:meth:`open`), or at a given address (:meth:`at`: a watch page's, a replay server's)."""

    def __init__(self, browser, server=None, viewport=None, base=None):
        self.base, self.token = (server.base, server.token) if server is not None else (base, None)
        self.page = browser.new_page(viewport=viewport or {"width": 1500, "height": 1300})
        self.requests, self.errors = [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    @classmethod
    def at(cls, browser, url, viewport=None, init_script=None):
        """The page at ``url`` (its token in it), ``init_script`` run in it before the page's own scripts."""
        p = cls(browser, viewport=viewport, base=url.split("/?", 1)[0])
        if init_script:
            p.page.add_init_script(init_script)
        p.page.goto(url)
        return p

    def wait(self, cond, timeout=60_000):
        """Until the JavaScript condition ``cond`` holds (once window.mlplabLive exists)."""
        self.page.wait_for_function(f"window.mlplabLive && ({cond})", timeout=timeout)

    def open(self, query, token=True):
        self.page.goto(f"{self.base}/?{query}" + (f"&token={self.token}" if token and self.token else ""))
        self.page.wait_for_function("window.mlplabLive && window.mlplabLive.ready", timeout=30_000)
        return self.page

    def live(self, expr):
        return self.page.evaluate(f"window.mlplabLive.{expr}")

    def check_local(self):
        outside = [u for u in self.requests if not u.startswith(self.base + "/") and not u.startswith("data:")]
        assert self.requests and not outside, f"requests left the local server: {outside}"
        assert not self.errors, self.errors

    def shot(self, tmp_path, name):
        path = tmp_path / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if os.environ.get("MLPLAB_LIVE_SHOTS"):
            shutil.copy(path, Path(os.environ["MLPLAB_LIVE_SHOTS"]) / path.name)

    def close(self):
        self.page.close()

    def done(self):
        """The end of a page's test: it asked the server only, and nothing else (:meth:`check_local`); closed."""
        self.check_local()
        self.close()


@pytest.fixture(scope="module")
def server():
    """One ``mlplab live`` for the test module."""
    s = Server()
    yield s
    s.kill()


@pytest.fixture
def fresh_server():
    """One ``mlplab live`` for the test (its run counts and its process are the test's alone)."""
    s = Server()
    yield s
    s.kill()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright: one per test session (a launch is 1-3 s; each
    ``browser.new_page`` is a fresh context of its own, with no cookies, storage or cache shared between pages)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
