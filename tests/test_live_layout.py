"""The live page on every screen and for every learner, in real Chromium (Playwright).

At a phone (390×844), a tablet held upright (768×1024) and a desktop (1500×1000), on each view with
its charts drawn: no two controls or charts overlap (their bounding boxes), nothing leaves the
viewport sideways, the controls stack above the charts on narrow screens and every chart keeps a
usable width. Every pair of series on a chart is told apart by colour under a deuteranopia and a
protanopia simulation (Machado, Oliveira & Fernandes 2009, "A physiologically-based model for
simulation of color vision deficiency", severity 1) or by its dash pattern. The sliders read as
values and the Paths start point moves with the arrow keys.

Screenshots of every view at every viewport go to the test's tmp directory (and to
``$MLPLAB_LIVE_SHOTS`` if set), to look at.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from live_fixtures import CHROMIUM, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed"),
]

VIEWPORTS = {"phone": (390, 844), "tablet": (768, 1024), "desktop": (1500, 1000)}
VIEWS = {
    "train": "view=train&autostart=1&dataset=spirals&layers=2,16,16,16,3&iterations=400&batch_size=16&seed=1",
    "compare": "view=compare&autostart=1&dataset=xor&layers=2,8,8,2&iterations=300&batch_size=8&v3=init=lecun"
               "&v4=init=std%3D1",
    "paths": "view=paths&fn=f2",
}
LONG = VIEWS["train"].replace("iterations=400", "iterations=10000000")  # frames for as long as a test needs

# Machado et al. (2009), severity 1.0, applied to linear RGB
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])
APART = 20.0  # CIE76 ΔE: below this two thin lines on white are hard to tell apart


def _linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ np.clip(linear_rgb, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def colour_distance(a: str, b: str, sim: np.ndarray) -> float:
    return float(np.linalg.norm(_lab(sim @ _linear(a)) - _lab(sim @ _linear(b))))


def test_the_simulation_matches_the_known_confusions():
    """The simulation itself: red and green, apart in full colour, collapse under both deficiencies,
    while blue and orange (the palette's first two) stay apart (Okabe & Ito's reason for them)."""
    eye = np.eye(3)
    assert colour_distance("#ff0000", "#00a000", eye) > 80
    assert colour_distance("#d62728", "#2ca02c", DEUTERANOPIA) < 25  # the old palette's red vs green
    assert colour_distance("#0072B2", "#D55E00", DEUTERANOPIA) > 40
    assert colour_distance("#0072B2", "#D55E00", PROTANOPIA) > 40


BOXES = """() => {
  const view = document.querySelector('.view:not([hidden])');
  const sel = '.controls label, .controls button, .controls .formula, figure, .hist canvas, #paths-canvas, .layer-head,'
    + ' #cmp-hists .label';
  const out = [];
  for (const el of [document.querySelector('header'), ...view.querySelectorAll(sel)]) {
    if (el.offsetParent === null) continue;  // not shown
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    out.push({name: el.id || el.dataset.key || el.textContent.trim().slice(0, 30) || el.tagName,
              x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height, el: el.tagName});
  }
  // (a typeset formula scrolls inside its own box, which is checked; its MathML copy is visually hidden)
  const all = [...view.querySelectorAll('*')].filter((e) => e.offsetParent !== null && !e.closest('.formula *'))
    .map((e) => e.getBoundingClientRect());
  const controls = view.querySelector('.controls').getBoundingClientRect();
  const main = view.querySelector('main').getBoundingClientRect();
  return {boxes: out, right: Math.max(...all.map((r) => r.right)), left: Math.min(...all.map((r) => r.left)),
          scrollWidth: document.documentElement.scrollWidth, innerWidth,
          controls: [controls.top, controls.bottom, controls.left], main: [main.top, main.left],
          charts: [...view.querySelectorAll('figure canvas, #paths-canvas')].filter((c) => c.offsetParent !== null)
            .map((c) => c.getBoundingClientRect().width)};
}"""


def _overlaps(boxes) -> list:
    """Pairs of boxes that overlap by more than a pixel (a box inside another one is its content)."""
    def inside(a, b):
        return a["x"] >= b["x"] - 1 and a["y"] >= b["y"] - 1 and a["x"] + a["w"] <= b["x"] + b["w"] + 1 \
            and a["y"] + a["h"] <= b["y"] + b["h"] + 1
    bad = []
    for a, b in itertools.combinations(boxes, 2):
        if inside(a, b) or inside(b, a):
            continue
        dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
        dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
        if dx > 1 and dy > 1:
            bad.append((a["name"], b["name"], round(dx), round(dy)))
    return bad


def _wait_drawn(page, view):
    if view == "paths":
        page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=30_000)
    else:
        page.wait_for_function("window.mlplabLive.frames >= 3", timeout=60_000)
    page.wait_for_timeout(300)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_view_fits_the_screen_without_overlaps(server, browser, tmp_path, viewport):
    width, height = VIEWPORTS[viewport]
    p = Page(browser, server)
    p.page.set_viewport_size({"width": width, "height": height})
    for view, query in VIEWS.items():
        page = p.open(query)
        _wait_drawn(page, view)
        m = page.evaluate(BOXES)
        assert len(m["boxes"]) > 10, m["boxes"]
        assert not _overlaps(m["boxes"]), (viewport, view, _overlaps(m["boxes"]))
        assert m["left"] >= 0 and m["right"] <= width + 0.5, (viewport, view, m["left"], m["right"])
        assert m["scrollWidth"] <= width, (viewport, view, m["scrollWidth"])
        # every chart keeps a usable width: at least 80 % of the screen on a phone, 250 px elsewhere
        least = 0.8 * width - 40 if viewport == "phone" else 250
        assert m["charts"] and min(m["charts"]) >= least, (view, m["charts"])
        if view == "paths":  # each stable-step marker sits on its slider's track, where its value is
            marks = page.evaluate("""() => [...document.querySelectorAll('.bound')].filter((b) => !b.hidden)
              .map((b) => {
                const i = b.parentElement.querySelector('input').getBoundingClientRect(), r = b.getBoundingClientRect();
                const t = (Math.log10(+b.title.split(' ').pop()) - (+b.parentElement.querySelector('input').min)) / 4;
                return [r.left + r.width / 2, i.left, i.right, i.left + 8 + t * (i.width - 16)]; })""")
            assert len(marks) == 4  # SGD, Momentum, Nesterov, Newton
            for x, lo, hi, where in marks:
                assert lo <= x <= hi and abs(x - where) < 3, (viewport, x, lo, hi, where)
        if viewport != "desktop":  # narrow: the controls above the charts, not beside them
            assert m["controls"][1] <= m["main"][0] + 1 and abs(m["controls"][2] - m["main"][1]) < 2, (view, m)
        p.shot(tmp_path, f"live-{view}-{viewport}")
        page.evaluate("fetch('/api/control', {method: 'POST', headers: {'Content-Type': 'application/json',"
                      " Authorization: 'token ' + localStorage.getItem('mlplab-live-token')},"
                      " body: JSON.stringify({sid: window.mlplabLive.sid, action: 'stop'})})")
    p.check_local()
    p.close()


def test_no_two_series_are_told_apart_by_hue_alone(server, browser):
    """Every pair of series on every chart of every view (and the palette's first 16 styles, as the
    update-ratio chart of a deep network uses them): apart by ΔE ≥ 20 in full colour and under both
    simulations, or drawn with different dash patterns."""
    p = Page(browser, server)
    checked = 0
    charts = []
    for view, query in VIEWS.items():
        page = p.open(query)
        _wait_drawn(page, view)
        charts += p.live("chartSeries()")
    styles = page.evaluate("import('/static/common.js').then((m) => "
                           "Array.from({length: 16}, (_, i) => m.seriesStyle(i)))")
    charts.append({"id": "palette", "series": [{"label": str(i), "band": False, **s} for i, s in enumerate(styles)]})
    ids = {c["id"] for c in charts}
    assert {"chart-loss", "chart-ratio", "chart-cmp-loss", "chart-cmp-z", "chart-f", "palette"} <= ids, ids
    for c in charts:
        series = [s for s in c["series"] if not s["band"]]
        for a, b in itertools.combinations(series, 2):
            checked += 1
            if a["dash"] != b["dash"]:
                continue
            d = min(colour_distance(a["stroke"], b["stroke"], sim) for sim in (np.eye(3), DEUTERANOPIA, PROTANOPIA))
            assert d >= APART, (c["id"], a, b, d)
    assert checked > 100
    p.check_local()
    p.close()


def test_sliders_read_as_values_and_the_start_point_moves_with_the_arrow_keys(server, browser):
    p = Page(browser, server)
    page = p.open("view=paths&fn=f2&sgd.lr=0.1")
    page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=30_000)
    sgd = page.locator('[data-key="sgd.lr"] input')
    assert sgd.get_attribute("aria-label") == "SGD learning rate"
    assert sgd.get_attribute("aria-valuetext") == "0.100"  # not the slider's log10, -1
    assert page.get_by_role("slider", name="Momentum momentum").first.get_attribute("aria-valuetext") == "0.900"
    start = p.live("lastPaths.paths.sgd[0]")
    page.focus("#paths-canvas")
    draws = p.live("pathDraws")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"window.mlplabLive.pathDraws > {draws}")
    page.wait_for_timeout(200)
    page.keyboard.press("Shift+ArrowUp")
    page.wait_for_function(f"window.mlplabLive.lastPaths.paths.sgd[0][1] !== {start[1]}")
    moved = p.live("lastPaths.paths.sgd[0]")
    assert moved == pytest.approx([start[0] + 0.02 * 20, start[1] + 0.1 * 20], abs=1e-6)  # F2 spans [-10, 10]²
    label = page.locator("#paths-canvas").get_attribute("aria-label")
    assert label.startswith("start point x -6.60, y 4.00") and "arrow keys" in label
    p.check_local()
    p.close()


def test_each_chart_has_its_numbers_as_a_table(server, browser):
    """The text alternative of a chart: "numbers" opens a table of its series (made on opening,
    not per frame), the same numbers the chart draws."""
    p = Page(browser, server)
    page = p.open(LONG)
    page.wait_for_function("window.mlplabLive.frames >= 5", timeout=60_000)
    page.click("#btn-pause")
    page.wait_for_function("window.mlplabLive.status === 'paused'", timeout=10_000)
    page.wait_for_timeout(300)
    assert page.locator("#view-train figure details.numbers").count() == 5  # one per chart (and the sharpness)
    fig = page.locator("figure:has(#chart-mf), figure:has(#chart-meanfield)").first
    fig.locator("summary").click()
    fig.locator("details.numbers thead th").first.wait_for(timeout=5_000)  # (the toggle event comes a task later)
    heads = fig.locator("details.numbers thead th").all_inner_texts()
    assert heads == ["layer", "measured std z", "mean-field at init"]
    rows = [r.split("\t") for r in fig.locator("details.numbers tbody tr").all_inner_texts()]
    layers = p.live("lastFrame.layers")
    assert [r[0] for r in rows] == [str(i + 1) for i in range(len(layers))]
    for r, layer in zip(rows, layers):  # the frame's numbers, to 4 significant digits
        assert float(r[2]) == pytest.approx(layer["pred_z_std"], rel=1e-3)
    p.check_local()
    p.close()


def test_ticks_tell_close_values_apart_and_hovering_reads_the_values(server, browser):
    p = Page(browser, server)
    page = p.open(LONG)
    page.wait_for_function("window.mlplabLive.frames >= 5", timeout=60_000)
    page.click("#btn-pause")
    page.wait_for_function("window.mlplabLive.status === 'paused'", timeout=10_000)
    ticks = page.evaluate("import('/static/charts.js').then((m) => [m.linearTicks([2.301, 2.302, 2.303, 2.304]),"
                          " m.linearTicks([0, 0.25, 0.5, 0.75]), m.linearTicks([0, 200, 400])])")
    assert ticks == [["2.301", "2.302", "2.303", "2.304"], ["0", "0.25", "0.50", "0.75"], ["0", "200", "400"]]
    over = page.locator("#chart-loss .u-over")
    legend = page.locator("#chart-loss .u-legend .u-series >> nth=1").locator(".u-value")
    box = over.bounding_box()
    read = []
    for x in (0.9, 0.7, 0.5, 0.3):  # (a step that has an evaluation row has no training point: '--')
        page.mouse.move(box["x"] + x * box["width"], box["y"] + 0.5 * box["height"])
        try:  # the legend follows the pointer on the next animation frame
            page.wait_for_function("(el) => el.textContent.trim() !== ''", arg=legend.element_handle(), timeout=2_000)
        except Exception:  # noqa: BLE001 (read what is there: the assertion below says what went wrong)
            pass
        read.append(legend.inner_text().strip().replace(",", ""))
    print("hover read:", read)
    numbers = [float(t) for t in read if re.fullmatch(r"[0-9.]+(e[-+]?[0-9]+)?", t)]
    assert numbers and all(v > 0 for v in numbers), read  # the training loss under the pointer
    p.check_local()
    p.close()


def test_the_loss_has_a_log_scale_and_an_exploding_run_is_clipped(server, browser):
    p = Page(browser, server)
    page = p.open(LONG)
    page.wait_for_function("window.mlplabLive.frames >= 5", timeout=60_000)
    page.click("#btn-pause")
    page.wait_for_function("window.mlplabLive.status === 'paused'", timeout=10_000)
    linear = page.locator("#chart-loss").get_attribute("data-yticks").split()
    page.check("#loss-log")
    page.wait_for_function("document.querySelector('#chart-loss').dataset.yticks !== " + repr(" ".join(linear)))
    logged = page.locator("#chart-loss").get_attribute("data-yticks").split()
    assert logged and all(float(t) > 0 and abs(np.log10(float(t)) - round(np.log10(float(t)))) < 1e-9 for t in logged)
    # the scale itself: a series exploding to 1e9 is clipped at the cap (4 x the first loss), linear and log
    ranges = page.evaluate("""async () => { const m = await import('/static/charts.js'); const out = [];
      for (const log of [false, true]) {
        const div = document.createElement('div'); document.querySelector('#view-train main').appendChild(div);
        const u = m.chart(div, [{label: 'a'}, {label: 'b'}], {scales: m.lossScales(() => log, () => 8)});
        u.setData([[1, 2, 3], [2, 1.5, 1], [2, 50, 1e9]]);
        await new Promise((done) => setTimeout(done, 50));  // uPlot sets its scales after the call
        out.push([u.scales.y.min, u.scales.y.max]); u.destroy(); div.remove();
      }
      return out; }""")
    assert ranges[0] == [0, pytest.approx(8 * 1.05)] and ranges[1] == [pytest.approx(1), pytest.approx(10)]
    p.check_local()
    p.close()
