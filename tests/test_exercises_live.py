"""`mlplab live --exercises hw1` in real Chromium (issue 29): the student's optimizer that passes its checks is a
"my optimizer" choice in the Train view and trains there; one that fails is not offered (one line at start-up),
and a page that names another file gets a one-line refusal (the server imports only what it checked)."""

from __future__ import annotations

import pytest
from test_exercises_lab import MOMENTUM, SGD
from test_live_browser import CHROMIUM, Page, Server, _free_port

pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")]


def test_my_optimizer_appears_in_the_train_view_and_trains(tmp_path, browser):
    hw = tmp_path / "hw1"
    hw.mkdir()
    (hw / "Momentum.py").write_text(MOMENTUM)
    (hw / "SGD.py").write_text(SGD.replace("return -self.lr * g", "return self.lr * g"))  # fails its checks
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "SGD.py").write_text(SGD)                                     # never offered
    server = Server("--exercises", "hw1", cwd=tmp_path)
    try:
        p = Page(browser, server)
        page = p.open("dataset=spirals&layers=2,16,16,3&iterations=100000&batch_size=64&lr=0.05")
        options = page.eval_on_selector_all("select[name=optimizer] option", "os => os.map(o => [o.value, o.text])")
        assert ["hw1:Momentum", "my Momentum (hw1/Momentum.py)"] in options
        assert not any("SGD" in v and ":" in v for v, _ in options)            # the failing file is not offered
        page.select_option("select[name=optimizer]", "hw1:Momentum")
        page.click("#btn-start")
        page.wait_for_function("window.mlplabLive.frames >= 3 && window.mlplabLive.lastFrame.step > 50",
                               timeout=60_000)
        assert p.live("lastFrame.lr") == 0.05
        first = page.evaluate("window.mlplabLive.lastFrame.loss")
        page.wait_for_function(f"window.mlplabLive.lastFrame.step > 1500 && window.mlplabLive.lastFrame.loss < {first}",
                               timeout=60_000)                               # it trains: the loss falls
        page.click("#btn-pause")
        page.wait_for_function("window.mlplabLive.status === 'paused'", timeout=10_000)
        # a tampered page naming a file the server did not check: one line, nothing imported
        page.evaluate("""() => { const s = document.querySelector('select[name=optimizer]');
                                 s.add(new Option('x', 'other:SGD')); s.value = 'other:SGD'; }""")
        page.click("#btn-reset")
        page.click("#btn-start")
        page.wait_for_function("document.querySelector('#train-error').textContent.includes('not one of the "
                               "exercises this server offers')", timeout=15_000)
        assert "\n" not in page.locator("#train-error").inner_text()
        p.check_local()
        p.close()
    finally:
        code, _, _, err = server.interrupt()
    assert "hw1/SGD.py is not offered: " in err and "does not pass its checks yet" in err
    assert "offering my Momentum (hw1/Momentum.py)" in err


def test_live_exercises_refuses_a_folder_with_nothing_to_offer(tmp_path, capsys):
    from mlplab.cli import main as cli_main

    assert cli_main(["live", "--no-open", "--port", str(_free_port()), "--exercises", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert cli_main(["live", "--no-open", "--port", str(_free_port()), "--exercises", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no optimizer exercise there passes its checks" in err and len(err.strip().splitlines()) == 1
