"""The watch page's step charts in real Chromium (Playwright, as tests/test_watch_browser.py launches it): the
dashed "shown" mark at the frame shown is labelled beside its line (the line used to cross the label's last
letter: "showo") and inside its chart, also at the newest frame (the right edge of the plot), and the x axis, in
steps, has whole-step ticks only (a desktop's wide ‖ΔW‖/‖W‖ chart of a few frames had ticks at 2.5, 7.5, ...
steps); on a phone's screen and a desktop's, in a replayed recording.

Every ``fillText`` of the page is recorded by an init script (the text, where it was drawn, its measured width
and the canvas' width), so the test reads what was drawn, not what the page says it drew."""

from __future__ import annotations

import pytest
from live_fixtures import BROWSER_MARKS, Page, replayed

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional
pytestmark = BROWSER_MARKS
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1400, "height": 1000}
CHARTS = ("chart-loss", "chart-ratio")

# each canvas text drawn: its chart's id, the text, its box's left and right edges and its top (canvas pixels,
# from the text's alignment and measured width) and the canvas' width
RECORD_TEXT = """
window.__texts = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, x, y, ...rest) {
  const w = this.measureText(text).width, a = this.textAlign, m = this.getTransform();
  const left = a === 'right' || a === 'end' ? x - w : a === 'center' ? x - w / 2 : x;
  const holder = this.canvas.closest('[id]');
  window.__texts.push({chart: holder ? holder.id : null, text: String(text), left: m.a * left + m.e,
                       right: m.a * (left + w) + m.e, y: m.d * y + m.f, canvas: this.canvas.width});
  return fillText.call(this, text, x, y, ...rest);
};
"""


def _record(folder, steps):
    """A small loop watched with a frame every step, its loss given: the recording of ``steps`` frames."""
    from mlplab.watch import watch

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, opt, every=1, record=folder) as w:
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.step(loss)


def _drawn(page):
    """The texts drawn by the charts' latest redraw (each redraw clears the record first)."""
    page.evaluate("window.__texts = []; for (const u of [window.mlplabLive.W.loss, window.mlplabLive.W.ratio])"
                  " u.redraw(false)")
    return page.evaluate("window.__texts")


def test_the_shown_mark_is_labelled_beside_its_line_and_the_steps_are_whole(browser, tmp_path):
    steps = 25  # on a desktop, uPlot's own spacing for 25 steps is 2.5
    _record(tmp_path / "run", steps)
    with replayed(tmp_path / "run") as url:
        for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            p = Page.at(browser, url, viewport, init_script=RECORD_TEXT)
            page = p.page
            page.wait_for_function("window.mlplabLive.ready && window.mlplabLive.frames > 0", timeout=30_000)
            n = page.evaluate("window.mlplabLive.frames")
            assert n >= steps - 1 and page.evaluate("window.mlplabLive.shown") == n - 1  # the newest frame
            frame_steps = page.evaluate("window.mlplabLive.W.frames.map((f) => f.step)")
            assert all(isinstance(s, int) for s in frame_steps)
            for shown in (n - 1, 0):  # the mark at the right edge of the plot, then at its left edge
                if shown != n - 1:
                    page.locator("#slider").fill(str(shown))
                    page.wait_for_function(f"window.mlplabLive.shown === {shown}")
                texts = _drawn(page)
                for chart in CHARTS:
                    u = f"window.mlplabLive.W.{'loss' if chart == 'chart-loss' else 'ratio'}"
                    bbox, dpr = page.evaluate(f"{u}.bbox"), page.evaluate("devicePixelRatio")
                    labels = [t for t in texts if t["chart"] == chart and t["text"] == "shown"]
                    assert len(labels) == 1, (chart, labels)
                    t = labels[0]
                    assert bbox["left"] <= t["left"] and t["right"] <= bbox["left"] + bbox["width"] <= t["canvas"], \
                        (name, shown, t, bbox)
                    # the mark's line is at the frame's step: the label is beside it, not across it (uPlot's
                    # right-aligned y-axis numbers left the label ending 3 px right of its line: "showo")
                    x = page.evaluate(f"{u}.valToPos({frame_steps[shown]}, 'x', true)")
                    gap = t["left"] - x if t["left"] >= x else x - t["right"]
                    assert dpr <= gap <= 6 * dpr, (name, shown, t, x)
                    # the x axis: ticks at whole steps only, each labelled with a whole number
                    splits = page.evaluate(f"{u}.axes[0]._splits")
                    assert len(splits) >= 2 and all(float(v).is_integer() for v in splits), (name, chart, splits)
                    below = [t["text"] for t in texts if t["chart"] == chart and t["y"] > bbox["top"] + bbox["height"]]
                    assert below and all(v.replace(",", "").isdigit() for v in below), (name, chart, below)
            page.locator("#slider").fill(str(n - 1))  # the newest frame shown again, as the page opens: looked at
            page.wait_for_function(f"window.mlplabLive.shown === {n - 1}")
            p.shot(tmp_path, f"watch-charts-{name}")
            p.done()
