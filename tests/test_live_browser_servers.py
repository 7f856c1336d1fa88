"""mlplab live in a real browser, against a server of the test's own (not the module's shared one): a closed tab
stops its run and Ctrl-C the server, binding beyond this machine warns, a page of another origin cannot drive the
server, and a server at its limit of runs refuses the page's Start in one line. The tests against the shared server
are tests/test_live_browser.py.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request

from live_fixtures import BROWSER_MARKS, Page, Server, _alive

pytestmark = BROWSER_MARKS


def test_a_closed_tab_stops_its_run_and_ctrl_c_stops_the_server(browser):
    s = Server()
    try:
        p = Page(browser, s)
        page = p.open("autostart=1&dataset=spirals&iterations=1000000")
        page.wait_for_function("window.mlplabLive.frames >= 3", timeout=30_000)
        q = Page(browser, s)  # a second tab with its own run
        q.open("autostart=1&dataset=xor&layers=2,8,2&iterations=1000000").wait_for_function(
            "window.mlplabLive.frames >= 3", timeout=30_000)
        info = s.runs()
        assert info["runs"] == 2 and info["states"] == ["running", "running"]
        workers = info["worker_pids"]  # one frame worker per running tab
        assert len(workers) == (2 if info["frame_workers"] else 0) and all(_alive(pid) for pid in workers)
        p.close()
        t0 = time.time()
        while s.runs()["runs"] != 1:
            assert time.time() - t0 < 15, s.runs()
            time.sleep(0.2)
        code, seconds, out, err = s.interrupt()  # with a run going and its stream open
        assert code == 0 and seconds < 8, (code, seconds, err)
        assert "Traceback" not in err
        assert not any(_alive(pid) for pid in workers)  # the frame workers went with the server
        q.close()
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def test_binding_beyond_this_machine_warns():
    s = Server("--host", "0.0.0.0")
    code, _, out, err = s.interrupt()
    assert "warning: serving on 0.0.0.0" in err and code == 0


# ------------------------------------------------------------------------------------ only its own page
EVIL_PAGE = """<!doctype html><title>another site</title><script>
window.results = {};
async function attempt(name, url, init) {
  try { const r = await fetch(url, init); results[name] = `answered ${r.status} (${r.type})`; }
  catch (e) { results[name] = `failed: ${e.name}`; }
}
async function main() {
  const victim = VICTIM, token = TOKEN, sid = SID;  // the worst case: this page knows the token and the tab id
  const plain = (body) => ({method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'},
                            body: JSON.stringify(body)});
  const train = {sid: 'evil', settings: {dataset: 'xor', layers: '2,8,2', iterations: '100000'}};
  await attempt('train-no-cors', `${victim}/api/train?token=${token}`, plain(train));
  await attempt('train-json', `${victim}/api/train`, {method: 'POST', body: JSON.stringify(train),
    headers: {'Content-Type': 'application/json', Authorization: `token ${token}`}});
  await attempt('export-no-cors', `${victim}/api/export?token=${token}`, plain({sid, out: 'evil-export'}));
  await attempt('export-json', `${victim}/api/export`, {method: 'POST', body: JSON.stringify({sid, out: 'evil-json'}),
    headers: {'Content-Type': 'application/json', Authorization: `token ${token}`}});
  await attempt('control-no-cors', `${victim}/api/control?token=${token}`, plain({sid, action: 'stop'}));
  await attempt('runs', `${victim}/api/runs?token=${token}`, {});
  results.events = 0;
  const es = new EventSource(`${victim}/api/stream?sid=${sid}&token=${token}`);
  es.onmessage = () => { results.events += 1; };
  es.onerror = () => { results.streamError = true; es.close(); };
  setTimeout(() => { es.close(); results.done = true; }, 1500);
}
main();
</script>"""


def test_a_page_of_another_origin_cannot_drive_the_server(browser, tmp_path):
    """A page served by a second local HTTP server (another port: another origin) tries what the
    issue measured, knowing even the token and the tab's id: start a run (text/plain, no preflight;
    and JSON, with one), export the tab's finished run, stop it, read the runs, open its stream.
    Nothing reaches a route: no run is made, nothing is written, the stream sends nothing. The
    server's own page, beside it, works, and shows Export's refusal in one line."""
    import http.server
    import threading

    root = tmp_path / "root"
    root.mkdir()
    s = Server(cwd=root)
    site = tmp_path / "site"
    site.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: http.server.SimpleHTTPRequestHandler(
        *a, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        p = Page(browser, s)
        page = p.open("dataset=xor&layers=2,8,2&iterations=40")
        page.click("#btn-start")
        page.wait_for_function("window.mlplabLive.status === 'done'", timeout=30_000)
        sid = p.live("sid")
        page.click("#btn-export")
        page.wait_for_function("!document.querySelector('#train-note').hidden", timeout=10_000)
        assert "written to" in page.inner_text("#train-note")
        exported = os.listdir(root / "runs")
        page.click("#btn-export")  # again: the folder holds a run now, refused in one line in the page
        page.wait_for_function("document.querySelector('#train-error').textContent.includes('already holds a run')",
                               timeout=10_000)
        assert "\n" not in page.inner_text("#train-error")
        before = s.runs()
        assert before["runs"] == 1 and before["states"] == ["done"]

        (site / "evil.html").write_text(EVIL_PAGE.replace("VICTIM", json.dumps(s.base))
                                        .replace("TOKEN", json.dumps(s.token)).replace("SID", json.dumps(sid)))
        evil = browser.new_page()
        evil.goto(f"http://127.0.0.1:{httpd.server_address[1]}/evil.html")
        evil.wait_for_function("window.results && window.results.done", timeout=30_000)
        results = evil.evaluate("window.results")
        evil.close()
        # the no-cors requests are sent but their answers are opaque to the page; the JSON ones need a
        # preflight, which the server never grants, so they are not sent at all
        assert results["train-json"].startswith("failed") and results["export-json"].startswith("failed"), results
        assert results["runs"].startswith("failed") and results["events"] == 0 and results.get("streamError"), results
        after = s.runs()
        assert after["runs"] == 1 and after["states"] == ["done"], after  # no run made, the tab's not stopped
        assert os.listdir(root / "runs") == exported and sorted(os.listdir(root)) == ["runs"]  # nothing written
        assert p.live("status") == "done"
        p.done()
    finally:
        httpd.shutdown()
        s.proc.kill()
        s.proc.communicate()


def test_a_run_over_the_servers_limit_is_refused_in_one_line_in_the_page(browser, tmp_path):
    """A server holding its limit of runs (one, here) refuses the page's Start, and the page says why."""
    from types import SimpleNamespace

    from mlplab.live.notebook import LiveServer

    ls = LiveServer(frame_workers=False, max_runs=1, grace=60, root=tmp_path).start()
    try:
        other = urllib.request.Request(f"{ls.base}api/train", method="POST", headers={
            "Authorization": f"token {ls.token}", "Content-Type": "application/json"},
            data=json.dumps({"sid": "another-tab", "settings": {"dataset": "xor", "layers": "2,8,2"},
                             "paused": True}).encode())
        urllib.request.urlopen(other, timeout=30).close()
        p = Page(browser, SimpleNamespace(base=ls.base.rstrip("/"), token=ls.token))
        page = p.open("dataset=xor&layers=2,8,2")
        page.click("#btn-start")
        page.wait_for_function("document.querySelector('#train-error').textContent.includes('refused')",
                               timeout=10_000)
        text = page.inner_text("#train-error")
        assert "holds 1 run already" in text and "close a tab" in text and "\n" not in text
        assert p.live("run") is None and p.live("frames") == 0
        p.done()
    finally:
        ls.stop()
