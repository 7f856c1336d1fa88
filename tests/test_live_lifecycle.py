"""No run lost, none left behind: mlplab live's page across reloads, closed tabs, restarts and Back.

In real Chromium (Playwright) against the real command in a subprocess, one server per test (these
tests stop servers and close tabs). The export of a stopped or paused run is checked without a
browser, against the command line it prints.
"""

from __future__ import annotations

import json
import shlex
import time

import numpy as np
import pytest
from live_fixtures import CHROMIUM, Page, Server

from mlplab.live.session import TrainSession

browser_only = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")]


def _until(predicate, timeout, what):
    t0 = time.time()
    while not predicate():
        assert time.time() - t0 < timeout, what
        time.sleep(0.1)
    return time.time() - t0


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_a_reload_reattaches_to_its_run(fresh_server, browser):
    p = Page(browser, fresh_server)
    page = p.open("autostart=1&dataset=xor&layers=2,8,2&iterations=10000000&batch_size=8")
    page.wait_for_function("window.mlplabLive.frames >= 3", timeout=30_000)
    run, sid, step = p.live("run"), p.live("sid"), p.live("lastFrame.step")
    page.reload()
    page.wait_for_function("window.mlplabLive.ready && window.mlplabLive.frames >= 3", timeout=30_000)
    assert p.live("sid") == sid and p.live("run") == run and p.live("reattached") == run
    # the same run, further on, not a new one (the stream first sends the newest frames it holds,
    # some from before the reload)
    page.wait_for_function(f"window.mlplabLive.lastFrame.step > {step}", timeout=30_000)
    assert p.live("run") == run
    time.sleep(4)  # past the grace: the reloaded page's stream holds the run
    info = fresh_server.runs()
    assert info["runs"] == 1 and info["states"] == ["running"], info
    assert "run " + run in page.locator("#status").inner_text()
    p.check_local()
    p.close()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_a_run_being_built_says_starting_and_is_freed_when_its_tab_closes(fresh_server, browser):
    """A large network takes a while to build: the page says "starting…" and Start is disabled;
    closing the tab meanwhile leaves nothing behind once the build ends and the grace passes."""
    p = Page(browser, fresh_server)
    page = p.open("dataset=spirals&layers=2," + "2000," * 8 + "3&iterations=1000000&batch_size=16")
    page.click("#btn-start", no_wait_after=True)
    page.wait_for_function("window.mlplabLive.starting === true", timeout=5_000)
    assert page.locator("#btn-start").is_disabled() and page.locator("#status").inner_text() == "starting…"
    assert fresh_server.runs()["building"] == 1
    p.close()  # the tab goes while the server builds its run
    built = _until(lambda: fresh_server.runs()["building"] == 0, 60, fresh_server.runs())
    runs = fresh_server.runs
    freed = _until(lambda: runs()["runs"] == 0 and runs()["streams"] == 0, 10, runs())
    print(f"built {built:.1f} s after the tab closed, freed {freed:.1f} s later (grace 3 s)")
    assert freed <= 3 + 2


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_a_restarted_server_shows_a_banner_the_run_is_said_lost_and_the_page_recovers(browser, tmp_path):
    s = Server("--no-token")
    try:
        p = Page(browser, s)
        page = p.open("autostart=1&dataset=xor&layers=2,8,2&iterations=10000000&batch_size=8")
        page.wait_for_function("window.mlplabLive.frames >= 3", timeout=30_000)
        run = p.live("run")
        s.interrupt()
        page.wait_for_function("!document.querySelector('#banner').hidden", timeout=15_000)
        banner = page.locator("#banner").inner_text()
        assert "The server is not answering" in banner and "\n" not in banner
        page.screenshot(path=str(tmp_path / "live-banner.png"))
        s = Server("--no-token", port=s.port)  # back on the same address
        page.wait_for_function("document.querySelector('#banner').hidden", timeout=20_000)
        page.wait_for_function("document.querySelector('#page-error').textContent.includes('was lost')",
                               timeout=10_000)
        assert page.locator("#page-error").inner_text() == (f"Run {run} was lost: the server restarted or freed "
                                                              "it. Press Start for a new run.")
        assert p.live("lost") == run and p.live("run") is None
        frames = p.live("frames")
        page.click("#btn-start")  # and the page works again
        page.wait_for_function(f"window.mlplabLive.frames >= {frames} + 3", timeout=30_000)
        assert p.live("run") not in (None, run)
        p.close()
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_each_view_is_a_history_entry(fresh_server, browser):
    p = Page(browser, fresh_server)
    page = p.open("view=train")
    page.click(".tab[data-view=compare]")
    page.click(".tab[data-view=paths]")
    page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=30_000)
    assert page.locator("#view-paths").is_visible() and "view=paths" in page.url
    page.go_back()
    page.wait_for_function("!document.querySelector('#view-compare').hidden")
    assert "view=compare" in page.url and not page.locator("#view-paths").is_visible()
    page.go_back()
    page.wait_for_function("!document.querySelector('#view-train').hidden")
    page.go_forward()
    page.wait_for_function("!document.querySelector('#view-compare').hidden")
    p.check_local()
    p.close()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_the_chosen_eigenvalues_are_in_the_url(fresh_server, browser):
    p = Page(browser, fresh_server)
    page = p.open("view=paths&fn=eigen&l1=2&l2=20")
    page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=30_000)
    assert p.live("lastPaths.hessian.eigenvalues") == [2, 20]
    assert "l1=2&l2=20" in page.url
    page.locator("#eig2").fill("0.5")  # 10^0.5 ≈ 3.16
    page.wait_for_function("window.mlplabLive.lastPaths.hessian.eigenvalues[1] === 3.16", timeout=10_000)
    assert "l2=3.16" in page.url
    page.reload()  # the link reproduces it
    page.wait_for_function("window.mlplabLive.ready && window.mlplabLive.pathDraws >= 1", timeout=30_000)
    assert p.live("lastPaths.hessian.eigenvalues") == [2, 3.16]
    p.close()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_export_of_a_stopped_run_from_the_page_lists_its_files_and_a_command_beside_it(browser, tmp_path):
    s = Server(cwd=tmp_path)
    try:
        p = Page(browser, s)
        page = p.open("autostart=1&dataset=xor&layers=2,8,2&iterations=10000000&batch_size=8")
        page.wait_for_function("window.mlplabLive.frames >= 3", timeout=30_000)
        page.click("#btn-pause")
        page.wait_for_function("window.mlplabLive.status === 'paused'", timeout=10_000)
        page.click("#btn-export")
        page.wait_for_function("window.mlplabLive.exported", timeout=15_000)
        r = p.live("exported")
        out = tmp_path / "runs" / f"live-{p.live('run')}"
        assert r["out"] == str(out) and r["root"] == str(tmp_path) and r["status"] == "paused"
        assert sorted(r["files"]) == sorted(f.name for f in out.iterdir())
        assert {"config.json", "metrics.jsonl", "model.npz", "summary.json"} <= set(r["files"])
        note = page.locator("#train-note").inner_text()
        assert f"The paused run (step {r['step']}) is written to {out}/" in note and str(tmp_path) in note
        assert ", ".join(r["files"]) in note and note.endswith(f"--out {out}-again")
        p.check_local()
        p.close()
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


# ------------------------------------------------------------------------------------ export
@pytest.mark.mnist
def test_a_stopped_run_exports_and_its_command_retrains_it_bit_for_bit(mnist_dir, tmp_path, capsys):
    from mlplab.cli import main

    session = TrainSession({"dataset": "mnist", "layers": "784,16,10", "optimizer": "momentum", "lr": "0.05",
                            "epochs": "3", "batch_size": "64", "seed": "3"})
    try:
        session.start()
        _until(lambda: session.trainer.step >= 40, 60, "steps")
        session.stop()
        session.thread.join(60)
        assert session.status == "stopped" and 40 <= session.trainer.step < session.total
        out = session.export(tmp_path / "live")
        command = session.command(out)
        assert f"--iterations {session.trainer.step} " in command and "--epochs" not in command
        assert command.endswith(f"--out {tmp_path / 'live-again'}")
        assert main(shlex.split(command)[1:] + ["--quiet"]) == 0
        capsys.readouterr()
        again = tmp_path / "live-again"
        with np.load(out / "model.npz") as a, np.load(again / "model.npz") as b:
            assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)
        steps = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()
                 if "kind" not in json.loads(line)]
        steps_cli = [json.loads(line)["loss"] for line in (again / "metrics.jsonl").read_text().splitlines()
                     if "kind" not in json.loads(line)]
        assert steps == steps_cli and len(steps) == session.trainer.step
        assert session.command(out).endswith(f"--out {tmp_path / 'live-again2'}")  # never over a folder
    finally:
        session.close()


def test_a_paused_run_exports_as_it_stands_and_resumes(tmp_path):
    """Exported while paused: the model as it stands, its step count, a command for that many steps;
    then the run goes on. (A pause is said at once but takes effect after the current step: the
    export waits for it, else the model could be copied in the middle of an update.)"""
    session = TrainSession({"dataset": "circles", "layers": "2,8,2", "iterations": "100000", "batch_size": "8"})
    try:
        session.start()
        _until(lambda: session.trainer.step >= 20, 30, "steps")
        session.pause()
        _until(lambda: session.status == "paused", 30, "pause")
        out = session.export(tmp_path / "paused")  # (waits for the thread to reach the pause)
        step = session.trainer.step
        assert {"config.json", "metrics.jsonl", "model.npz", "summary.json"} <= {p.name for p in out.iterdir()}
        with np.load(out / "model.npz") as f:
            assert np.array_equal(f["layers.0.weight"], session.model.linears[0].weight.data)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["paused"] is True and summary["steps"] == step == session.trainer.step
        assert f"--iterations {step} " in session.command(out)
        session.resume()
        _until(lambda: session.trainer.step > step + 50, 30, "resumed")
    finally:
        session.close()
