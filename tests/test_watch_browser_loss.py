"""The watch page's loss chart when the loop gives no loss, in real Chromium (Playwright, as
tests/test_watch_browser.py launches it): with an optimizer given to ``watch()`` its steps make the frames and
the loss comes only from ``w.step(loss)``; a loop that never calls it used to get an empty chart and no word
why. The chart's place now says why and what to do, live (and the chart comes back once a loss is given) and in
a replayed recording, on a phone's screen and a desktop's, with axe-core finding nothing to report."""

from __future__ import annotations

import pytest
from live_fixtures import BROWSER_MARKS, ROOT, Page, replayed

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional
pytestmark = BROWSER_MARKS
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1400, "height": 1000}


def _tiny():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    return model, x, y


def _train(w, model, opt, x, y, steps, give_loss):
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        if opt is not None:
            opt.zero_grad()
        loss.backward()
        if opt is not None:
            opt.step()
        else:
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
                    p.grad = None
        if give_loss:
            w.step(loss)
        elif opt is None:
            w.step()  # the step, without the loss


def _empty_state(page):
    """What the loss figure shows: the note's text and visibility, the chart's, and their boxes."""
    return page.evaluate("""(() => {
      const note = document.querySelector('#loss-empty'), ch = document.querySelector('#chart-loss');
      const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.right, r.width, r.height]; };
      const line = note && note.querySelector('span');  // its sentence, as lines of text (not one box per word)
      const lines = line ? Math.round(line.getBoundingClientRect().height
        / parseFloat(getComputedStyle(line).lineHeight)) : 0;
      return {text: note ? note.textContent : null, note: !!note && note.offsetParent !== null, lines,
              chart: ch.offsetParent !== null, noteBox: note ? box(note) : null, figBox: box(ch.parentElement),
              scrollWidth: document.documentElement.scrollWidth};
    })()""")


def _axe(page):
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    return page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
        .filter((v) => ['moderate', 'serious', 'critical'].includes(v.impact))
        .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' '))}`)""")


def test_live_the_empty_loss_chart_says_to_call_w_step_loss_then_draws_it(browser, tmp_path):
    from mlplab.watch import watch

    model, x, y = _tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w = watch(model, opt, every=1, record=tmp_path / "run", port=0)
    try:
        _train(w, model, opt, x, y, 4, give_loss=False)
        p = Page.at(browser, w.url, DESKTOP)
        page = p.page
        page.wait_for_function("window.mlplabLive.ready && window.mlplabLive.frames >= 3", timeout=30_000)
        got = _empty_state(page)
        assert got["note"] and not got["chart"], got
        assert got["text"].startswith("No loss yet: your loop has not called w.step(loss).")
        assert page.evaluate("window.mlplabLive.lossNote") == got["text"]
        assert page.locator("#loss-empty code").first.inner_text() == "w.step(loss)"
        # the loop starts giving its loss: the note goes, the chart is back with the losses
        _train(w, model, opt, x, y, 4, give_loss=True)
        page.wait_for_function("window.mlplabLive.frames >= 6 && window.mlplabLive.lossNote === null", timeout=30_000)
        got = _empty_state(page)
        assert got["chart"] and not got["note"], got
        drawn = page.evaluate("window.mlplabLive.W.loss.data[1]")
        assert any(v is not None and v > 0 for v in drawn)
        assert page.evaluate("window.mlplabLive.W.loss.width") > 300  # its width taken once shown again
        p.done()
    finally:
        w.close()
        w.stop_page()


@pytest.mark.parametrize("with_optimizer,said", [
    (True, "No loss in this recording: its loop never called w.step(loss). Call it after each optimizer step"),
    (False, "No loss in this recording: its loop called w.step() without the loss. Pass it, w.step(loss),"),
])
def test_a_replayed_recording_without_losses_says_why_on_a_phone_and_a_desktop(browser, tmp_path, with_optimizer,
                                                                               said):
    from mlplab.watch import read, watch

    model, x, y = _tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1) if with_optimizer else None
    with watch(model, opt, every=1, record=tmp_path / "run") as w:
        _train(w, model, opt, x, y, 5, give_loss=False)
    rec = read(tmp_path / "run")
    assert rec.end is not None and len(rec.frames) >= 4 and all(f["loss"] is None for f in rec.frames)
    with replayed(tmp_path / "run") as url:
        for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            p = Page.at(browser, url, viewport)
            page = p.page
            page.wait_for_function("window.mlplabLive.ready", timeout=30_000)
            got = _empty_state(page)
            assert got["note"] and not got["chart"], got
            assert got["text"].startswith(said), got["text"]
            left, right, width, height = got["noteBox"]
            fig_left, fig_right = got["figBox"][:2]
            assert fig_left <= left and right <= fig_right and right <= viewport["width"] and height >= 100, got
            assert got["scrollWidth"] <= viewport["width"], got  # nothing wider than the screen
            assert 1 <= got["lines"] <= (4 if name == "phone" else 2), got
            p.shot(tmp_path, f"watch-no-loss-{name}")
            assert _axe(page) == []
            p.done()
