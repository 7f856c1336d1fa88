"""The watch page in real Chromium (Playwright, as tests/test_live_browser.py launches it): a user's PyTorch loop
on MNIST watched with ``watch(port=0)``, followed live; the loop killed with SIGKILL mid-run; the recording
replayed by ``mlplab live --replay`` up to its last complete frame, with the time slider; bad folders refused
in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from live_fixtures import BROWSER_MARKS, ROOT, Page, replayed, src_env

pytest.importorskip("torch")
pytestmark = BROWSER_MARKS
LOOP = ROOT / "tests" / "watch_loop.py"
VIEWPORT = {"width": 1400, "height": 1100}


def _replay_servers(folder) -> list[int]:
    """The pids of `mlplab live --replay FOLDER` processes (read from /proc)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().split(b"\0")
                state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"--replay" in cmd and str(folder).encode() in cmd and state != "Z":
                found.append(int(d.name))
    return found


def _http(url, headers=None):
    """(status, JSON body) of a GET."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 (the local server under test)
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _check_guard(base, token, rec):
    """The live page's guard on the replay server (the token, the Host and Origin checks); the frames paged."""
    auth = {"Authorization": f"token {token}"}
    status, body = _http(base + "/api/meta")
    assert status == 403 and "no token" in body["error"]
    assert _http(base + "/api/meta", {"Authorization": "token wrong"})[0] == 403
    port = base.rsplit(":", 1)[1]
    assert _http(base + "/api/meta", {**auth, "Host": f"evil.example:{port}"})[0] == 403  # DNS rebinding
    assert _http(base + "/api/frames", {**auth, "Origin": "http://evil.example"})[0] == 403
    status, got = _http(base + "/api/frames?from=2", auth)
    assert status == 200 and got["total"] == len(rec.frames) and got["frames"] == rec.frames[2:]
    assert got["end"] is None
    assert _http(base + "/api/frames?from=x", auth)[0] == 400


def _canvas(page, i):
    return page.evaluate(f"document.querySelectorAll('#layers .hist canvas')[{i}].toDataURL()")


def test_a_watched_loop_live_then_killed_then_replayed(browser, tmp_path):
    from mlplab.watch import read

    rec_dir = tmp_path / "run"
    loop = subprocess.Popen([sys.executable, str(LOOP), str(rec_dir), "--model", "mlp", "--steps", "400",
                             "--every", "2", "--slow", "0.05", "--port", "--kill-at", "30"],
                            env=src_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = loop.stdout.readline()
        assert line.startswith("URL http://127.0.0.1:"), (line, loop.stderr.read() if loop.poll() is not None else "")
        url = line.split()[1]
        p = Page.at(browser, url, VIEWPORT)
        assert "token" not in p.page.url  # taken out of the address bar at once
        p.wait("window.mlplabLive.frames >= 3")
        first = p.live("frames")
        hist = _canvas(p.page, 0)
        assert p.page.locator("#layers .layer").count() == 4
        p.wait(f"window.mlplabLive.frames >= {first} + 5")  # it follows the recording as it grows
        assert _canvas(p.page, 0) != hist
        assert "no end line yet" in p.live("status")
        p.wait("window.mlplabLive.lastFrame.step > 34")  # the layer killed after step 30 is named
        assert p.page.locator("#layers .layer").nth(1).locator(".verdict").inner_text() == "dead"
        assert "→ dead" in p.page.locator("#events").inner_text()
        p.check_local()
        # kill -9 mid-run: the recording keeps every complete frame, without an end line, and the page's
        # server, started by watch(port=0), goes with the process that trained
        server_pids = _replay_servers(rec_dir)
        assert len(server_pids) == 1
        os.kill(loop.pid, signal.SIGKILL)
        loop.wait()
        deadline = time.time() + 15
        while _replay_servers(rec_dir) and time.time() < deadline:
            time.sleep(0.2)
        assert not _replay_servers(rec_dir)
        rec, stable_since = read(rec_dir), time.time()  # the worker writes the frame it holds, then ends
        while time.time() - stable_since < 2.0 and time.time() < deadline + 20:
            time.sleep(0.25)
            again = read(rec_dir)
            if len(again.frames) != len(rec.frames):
                rec, stable_since = again, time.time()
        assert rec.end is None and len(rec.frames) >= 8
        p.page.close()
    finally:
        if loop.poll() is None:
            loop.kill()
        loop.communicate()
    # replayed afterwards by the command: every complete frame, and the time slider moves through them
    with replayed(rec_dir) as url:
        p = Page.at(browser, url, VIEWPORT)
        n = len(rec.frames)
        p.wait(f"window.mlplabLive.ready && window.mlplabLive.frames === {n}", timeout=30_000)
        assert p.live("shown") == n - 1
        assert "stopped without closing" in p.live("status")
        slider = p.page.locator("#slider")
        assert slider.get_attribute("max") == str(n - 1)
        last = _canvas(p.page, 0)
        slider.fill("2")  # the time slider: frame 3
        p.wait("window.mlplabLive.shown === 2")
        assert p.live("lastFrame.step") == rec.frames[2]["step"]
        assert p.live("lastFrame.layers[0].z.counts") == rec.frames[2]["layers"][0]["z"]["counts"]
        assert _canvas(p.page, 0) != last
        assert "step " + str(rec.frames[2]["step"]) in p.page.locator("#readout").inner_text()
        assert not p.page.locator("#follow").is_checked()
        assert p.page.locator("#layers .layer").nth(1).locator(".verdict").inner_text() in ("healthy", "vanishing")
        _check_guard(p.base, url.split("?token=")[1], rec)
        p.shot(tmp_path, "watch-replay")
        p.done()


@pytest.mark.parametrize("setup,expected", [
    (lambda d: None, "no such folder"),
    (lambda d: d.mkdir(), "is not a watch recording (no meta.json)"),
    (lambda d: (d.mkdir(), (d / "numbers.json").write_text("{}")), "holds lab results"),
    (lambda d: (d.mkdir(), (d / "frames.jsonl").write_text(""), (d / "meta.json").write_text("{not json")),
     "meta.json is not valid JSON"),
    (lambda d: (d.mkdir(), (d / "meta.json").write_text('{"format": "mlplab-watch", "version": 1, "layers": []}'),
                (d / "frames.jsonl").write_text('{"type": "frame"}\n{damaged\n{"type": "frame"}\n')),
     "line 2: damaged"),
    (lambda d: d.mkdir(), "--blas-threads does not apply"),  # a setting of the lab's training: never ignored
])
def test_a_damaged_or_foreign_folder_is_one_line_exit_2(tmp_path, setup, expected):
    d = tmp_path / "x"
    setup(d)
    extra = ["--blas-threads", "1"] if "does not apply" in expected else []
    r = subprocess.run([sys.executable, "-m", "mlplab", "live", "--replay", str(d), "--no-open", *extra],
                       env=src_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and expected in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
