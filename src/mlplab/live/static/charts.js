// Drawing, and only drawing: uPlot line charts (linear or log y), the Train view's histograms over time
// (one column per frame, shade = count), the Compare view's overlaid densities, the Paths view's contour
// lines. The views keep the data; these functions put it on a canvas.
import {fmt, live, seriesStyle} from './common.js';

// the four quantities histogrammed per layer, with their labels
export const HIST_QUANTITIES = [['z', 'pre-activation z'], ['a', 'activation φ(z)'], ['g', 'gradient ∂L/∂W'],
  ['w', 'weights W']];

// colour with alpha, for the bands of mean ± spread over seeds
export function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

function logTicks(u, vs) {  // a log axis: label the powers of ten only (0.01 .. 100 as numbers, else 1eN)
  return vs.map((v) => {
    if (!(v > 0 && Number.isFinite(v))) return '';
    const e = Math.log10(v);
    if (Math.abs(e - Math.round(e)) >= 1e-9) return '';
    return Math.abs(e) < 3 ? String(+v.toPrecision(1)) : `1e${Math.round(e)}`;
  });
}

// a log axis' range: whole powers of ten around the positive data (uPlot's own range for a constant
// series, or one with zeros, runs to 0 or infinity and labels its ticks "Infinity")
export function logRange(u, min, max) {
  const lo = Number.isFinite(min) && min > 0 ? min : (Number.isFinite(max) && max > 0 ? max / 10 : 1e-3);
  const hi = Number.isFinite(max) && max > 0 ? max : lo * 10;
  let a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
  if (b <= a) b = a + 1;
  return [10 ** a, 10 ** b];
}

function withLogRanges(scales) {
  const out = {};
  for (const [k, sc] of Object.entries(scales)) out[k] = sc.distr === 3 && !sc.range ? {...sc, range: logRange} : sc;
  return out;
}

// a linear axis' labels with as many decimals as the tick spacing needs (2.301 and 2.304 apart)
export function linearTicks(vs) {
  const step = vs.length > 1 ? Math.abs(vs[1] - vs[0]) : 0;
  const big = Math.max(...vs.map((v) => Math.abs(v)));
  if (!(step > 0) || big >= 1e5 || big < 1e-4) return vs.map((v) => fmt(v, 2));
  let decimals = 0;  // the fewest that write the step exactly (0.25: 2, 0.5: 1, 200: 0)
  while (decimals < 8 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6 * 10 ** decimals) decimals++;
  return vs.map((v) => (Math.abs(v) < step / 2 ? '0' : v.toFixed(decimals)));
}

// the y axis' labels; the last ones drawn are kept in el.dataset.yticks (uPlot draws them on a canvas)
function yTicks(el, log) {
  return (u, vs) => {
    const labels = log ? logTicks(u, vs) : linearTicks(vs);
    el.dataset.yticks = labels.filter(Boolean).join(' ');
    return labels;
  };
}

// Every chart on the page, so that they follow the width of their box: when the window is resized
// (once it has settled, not per frame) and when a view is shown (a chart made in a hidden view has no
// width to take). live.chartSeries() lists each chart's series and their colour and dash, for the
// browser tests (tests/test_live_layout.py).
const CHARTS = new Map();  // uPlot -> {el, series}
function widthOf(el) {
  return el.clientWidth || Math.min(420, Math.max(200, window.innerWidth - 48));
}
export function fitCharts() {
  for (const [u, c] of CHARTS) {
    if (!c.el.isConnected || !u.root.isConnected) { CHARTS.delete(u); continue; }
    const w = c.el.clientWidth;
    if (w > 0 && Math.abs(w - u.width) > 1) u.setSize({width: w, height: u.height});
  }
}
let resizeTimer = null;
window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(fitCharts, 120); });
live.chartSeries = () => [...CHARTS.entries()].filter(([u, c]) => c.el.isConnected && c.el.offsetParent !== null)
  .map(([u, c]) => ({id: c.el.id, series: c.series.map((s) => ({label: s.label, stroke: s.stroke,
    dash: s.dash || [], band: !!s.band, points: !!(s.points && s.points.show && s.width === 0)}))}));
function keep(u, el, series) { CHARTS.set(u, {el, series}); numbers(u, el, series); return u; }

// a chart's text alternative: its numbers as a table (the newest 40 rows), made when "numbers" is opened,
// so it costs nothing per frame; a screen reader reaches it after the figure's caption
function numbers(u, el, series) {
  const fig = el.parentElement;
  if (!fig || fig.tagName !== 'FIGURE') return;
  let d = fig.querySelector(':scope > details.numbers');
  if (!d) {
    d = document.createElement('details');
    d.className = 'numbers';
    d.innerHTML = '<summary>numbers</summary><div class="table-wrap"></div>';
    fig.appendChild(d);
  }
  const fill = () => {
    if (!d.open) return;
    const cols = [0, ...series.map((s, i) => (s.band ? -1 : i + 1)).filter((i) => i > 0)];
    const heads = [u.series[0].label, ...cols.slice(1).map((i) => series[i - 1].label)];
    const n = u.data[0].length, rows = [];
    for (let r = Math.max(0, n - 40); r < n; r++) {
      rows.push(`<tr>${cols.map((c, k) => (k ? `<td>${fmt(u.data[c][r], 4)}</td>` : `<th scope="row">${u.data[c][r]}</th>`))
        .join('')}</tr>`);
    }
    const esc = (t) => String(t).replace(/[&<>"]/g, (ch) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[ch]));
    d.querySelector('.table-wrap').innerHTML = `<table><thead><tr>${heads.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}` +
      `</tr></thead><tbody>${rows.join('') || '<tr><td>no data yet</td></tr>'}</tbody></table>`;
  };
  d.ontoggle = fill;
  fill();
}

// the style of series i of a chart (colour and dash, common.js), merged into a uPlot series
export function styled(i, extra = {}) {
  const st = seriesStyle(i);
  return Object.assign({stroke: st.stroke, dash: st.dash.length ? st.dash : undefined}, extra);
}

// opts.marks(): [{x, label}] drawn as dashed vertical lines with their label (a setting changed at step x)
function markHook(marks) {
  return (u) => {
    const ms = marks();
    if (!ms.length) return;
    const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.strokeStyle = '#444'; ctx.fillStyle = '#222'; ctx.setLineDash([4 * dpr, 3 * dpr]); ctx.lineWidth = dpr;
    // (the alignment is set here: uPlot leaves the last axis' own, 'right' for the y axis' numbers, which put the
    // label across its line)
    ctx.font = `${10 * dpr}px sans-serif`; ctx.textBaseline = 'top';
    const right = u.bbox.left + u.bbox.width, gap = 3 * dpr;
    for (const m of ms) {
      const x = u.valToPos(m.x, 'x', true);
      if (!(x >= u.bbox.left && x <= right)) continue;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
      // right of the line, or left of it where the label would run past the plot's right edge (the newest step)
      const after = x + gap + ctx.measureText(m.label).width <= right;
      ctx.textAlign = after ? 'left' : 'right';
      ctx.fillText(m.label, after ? x + gap : x - gap, top + 2 * dpr);
      live.marksDrawn = (live.marksDrawn || 0) + 1;  // (for the browser tests)
    }
    ctx.restore();
  };
}

// the index of series sidx's value nearest to idx (idx itself when it has one)
function nearestValue(u, sidx, idx) {
  const ys = u.data[sidx];
  if (!ys || ys[idx] != null) return idx;
  for (let d = 1; d < ys.length; d++) {
    if (idx + d < ys.length && ys[idx + d] != null) return idx + d;
    if (idx - d >= 0 && ys[idx - d] != null) return idx - d;
  }
  return idx;
}

// the x axis' tick spacings when x takes whole values only (layers, epochs, steps): 1, 2, 5 × 10^k (uPlot's own
// spacings include 0.5 and 2.5, which put ticks between the steps of a few frames on a wide chart)
const WHOLE_INCRS = Array.from({length: 10}, (_, k) => [1, 2, 5].map((m) => m * 10 ** k)).flat();

// a uPlot line chart filling el's width; opts: height, xlabel ('step', 'epoch', 'layer'), scales, bands, marks,
// wholeX (default true: every x here is a step, an epoch or a layer, ticks at whole values only; false for
// a fractional x)
export function chart(el, series, opts = {}) {
  const w = widthOf(el);
  return keep(new uPlot({width: w, height: opts.height || 170, legend: {show: true, live: true}, bands: opts.bands || [],
    hooks: opts.marks ? {draw: [markHook(opts.marks)]} : {},
    // hover: the legend reads the series' values at the pointer
    // (each series at its nearest point that has a value: training and evaluation rows share the x axis,
    // so the step under the pointer is often one the other series has no value at)
    cursor: {show: true, drag: {x: false, y: false}, points: {show: false}, dataIdx: nearestValue},
    scales: withLogRanges(Object.assign({x: {time: false}}, opts.scales || {})),
    axes: [{size: 30, incrs: opts.wholeX === false ? undefined : WHOLE_INCRS},
      {size: 50, values: yTicks(el, opts.scales && opts.scales.y && opts.scales.y.distr === 3)}],
    series: [{label: opts.xlabel || 'step'}, ...series]},
    [[], ...series.map(() => [])], el), el, series);
}

// the loss axis, linear or log (`log()`); a run whose loss explodes is drawn clipped at `cap()` (4 × the
// largest first loss) instead of squashing the others into a flat line at the bottom
export function lossScales(log, cap) {
  return {y: {distr: log() ? 3 : 1, range: (u, min, max) => {
    const c = cap();
    const hi = Number.isFinite(c) && c > 0 && Number.isFinite(max) ? Math.min(max, c) : max;
    if (log()) return logRange(u, min, hi);
    const lo = Number.isFinite(min) ? Math.min(0, min) : 0;
    return [lo, Number.isFinite(hi) && hi > lo ? hi * 1.05 : lo + 1];
  }}};
}

// f(θ_k) − f* per step on a log axis (the Paths view), with the data it starts from
export function stepLogChart(el, series, data, height = 300) {
  return keep(new uPlot({width: widthOf(el), height, legend: {show: true, live: false}, cursor: {show: false},
    scales: {x: {time: false}, y: {distr: 3, range: logRange}}, axes: [{size: 30}, {size: 60, values: logTicks}],
    series: [{label: 'step'}, ...series]}, data, el), el, series);
}

// h = {canvas, range, cols}: cols are server-binned histograms {lo, hi, counts}, oldest first; one pixel
// column per histogram (stretched), shade ∝ √(count / the column's largest count); overlay: ±σ predicted
// fixed: [lo, hi] to draw on (a bounded activation's range: [0, 1] for sigmoid, [−1, 1] for tanh, so a
// collapse onto a bound looks like one) instead of the columns' own range
export function drawHist(h, overlay, fixed = null) {
  const cols = h.cols, c = h.canvas, ctx = c.getContext('2d'), W = c.width, H = c.height;
  ctx.clearRect(0, 0, W, H);
  if (!cols.length) { ctx.fillStyle = '#999'; ctx.fillText('— (logits: no activation)', 8, H / 2); return; }
  let lo = Infinity, hi = -Infinity;
  for (const col of cols) { lo = Math.min(lo, col.lo); hi = Math.max(hi, col.hi); }
  if (fixed) { lo = Math.min(lo, fixed[0]); hi = Math.max(hi, fixed[1]); }
  if (overlay) { lo = Math.min(lo, -1.05 * overlay); hi = Math.max(hi, 1.05 * overlay); }
  if (!(hi > lo)) { hi = lo + 1; }
  ctx.putImageData(histImage(ctx, cols, lo, hi, W, H), 0, 0);
  const yOf = (v) => (hi - v) / (hi - lo) * H;
  ctx.strokeStyle = '#999'; ctx.setLineDash([2, 3]); ctx.beginPath();
  ctx.moveTo(0, yOf(0)); ctx.lineTo(W, yOf(0)); ctx.stroke();
  if (overlay) {  // the mean-field prediction at init: ±σ of z
    ctx.strokeStyle = '#e8590c'; ctx.setLineDash([6, 4]); ctx.lineWidth = 1.5; ctx.beginPath();
    for (const s of [overlay, -overlay]) { ctx.moveTo(0, yOf(s)); ctx.lineTo(W, yOf(s)); }
    ctx.stroke(); ctx.lineWidth = 1;
  }
  ctx.setLineDash([]);
  h.range.textContent = `${fmt(lo)} … ${fmt(hi)}`;
}
function histImage(ctx, cols, lo, hi, W, H) {
  const img = ctx.createImageData(W, H), px = img.data, n = cols.length;
  for (let x = 0; x < W; x++) {
    const col = cols[Math.min(n - 1, Math.floor(x * n / W))];
    const B = col.counts.length, width = (col.hi - col.lo) / B;
    let max = 1;
    for (const v of col.counts) if (v > max) max = v;
    for (let y = 0; y < H; y++) {
      const v = hi - (y + 0.5) / H * (hi - lo);
      const b = Math.floor((v - col.lo) / width);
      if (b < 0 || b >= B || width <= 0) continue;
      const t = Math.sqrt(col.counts[b] / max);
      const o = 4 * (y * W + x);
      px[o] = 255 - 225 * t; px[o + 1] = 255 - 150 * t; px[o + 2] = 255 - 40 * t; px[o + 3] = 255;
    }
  }
  return img;
}

// cell = {canvas, range}; hs: one histogram per run (or null), each drawn as a density (count / sampled /
// bin width) outline in the run's colour on one shared x axis
export function drawDensities(cell, hs) {
  const ctx = cell.canvas.getContext('2d');
  const W = cell.canvas.width, H = cell.canvas.height;
  ctx.clearRect(0, 0, W, H);
  const have = hs.filter((h) => h && h.hi > h.lo);
  if (!have.length) {
    cell.range.textContent = '';
    if (hs.length && hs.every((h) => h === null)) {  // the logits layer has no activation to draw
      ctx.fillStyle = '#999'; ctx.fillText('— (logits: no activation)', 8, H / 2);
    }
    return;
  }
  const lo = Math.min(...have.map((h) => h.lo)), hi = Math.max(...have.map((h) => h.hi));
  const dens = (h) => h.counts.map((c) => c / Math.max(1, h.sampled) / ((h.hi - h.lo) / h.counts.length));
  const top = Math.max(...have.map((h) => Math.max(...dens(h)))) || 1;
  hs.forEach((h, k) => {
    if (!h || !(h.hi > h.lo)) return;
    const d = dens(h), bw = (h.hi - h.lo) / h.counts.length;
    ctx.beginPath();
    ctx.moveTo(((h.lo - lo) / (hi - lo)) * W, H);
    d.forEach((v, b) => {
      const x0 = ((h.lo + b * bw - lo) / (hi - lo)) * W, x1 = ((h.lo + (b + 1) * bw - lo) / (hi - lo)) * W;
      const y = H - 2 - (v / top) * (H - 6);
      ctx.lineTo(x0, y); ctx.lineTo(x1, y);
    });
    ctx.lineTo(((h.hi - lo) / (hi - lo)) * W, H);
    const st = seriesStyle(k);
    ctx.fillStyle = alpha(st.stroke, 0.12); ctx.fill();
    ctx.strokeStyle = st.stroke; ctx.setLineDash(st.dash); ctx.lineWidth = 1.5; ctx.stroke(); ctx.setLineDash([]);
  });
  cell.range.textContent = `${fmt(lo, 2)} … ${fmt(hi, 2)}`;
}

export function drawStar(ctx, x, y) {
  ctx.fillStyle = '#111'; ctx.font = '16px sans-serif'; ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
  ctx.fillText('★', x, y);
}

// g = {n, values}: f on an n×n grid, row by row from the bottom; returns a 600×600 canvas of contour lines
// (marching squares) at levels spread by the grid values' quantiles
export function drawContours(g) {
  const c = document.createElement('canvas'); c.width = 600; c.height = 600;
  const ctx = c.getContext('2d'), n = g.n, v = g.values;
  const sorted = v.filter(Number.isFinite).slice().sort((a, b) => a - b);
  const levels = [];
  for (let i = 1; i < 18; i++) levels.push(sorted[Math.floor(sorted.length * Math.pow(i / 18, 2.2))]);
  const sx = c.width / (n - 1), sy = c.height / (n - 1);
  const at = (i, j) => v[j * n + i];
  levels.forEach((lev, li) => {
    ctx.strokeStyle = `hsl(${210 - 150 * li / levels.length}, 45%, ${70 - 15 * li / levels.length}%)`;
    ctx.beginPath();
    for (let j = 0; j < n - 1; j++) {
      for (let i = 0; i < n - 1; i++) {
        const a = at(i, j), b = at(i + 1, j), cc = at(i + 1, j + 1), d = at(i, j + 1);
        const pts = [];
        const edge = (p, q, x0, y0, x1, y1) => {
          if ((p < lev) !== (q < lev)) { const t = (lev - p) / (q - p); pts.push([(x0 + t * (x1 - x0)) * sx, c.height - (y0 + t * (y1 - y0)) * sy]); }
        };
        edge(a, b, i, j, i + 1, j); edge(b, cc, i + 1, j, i + 1, j + 1); edge(d, cc, i, j + 1, i + 1, j + 1); edge(a, d, i, j, i, j + 1);
        for (let k = 0; k + 1 < pts.length; k += 2) { ctx.moveTo(...pts[k]); ctx.lineTo(...pts[k + 1]); }
      }
    }
    ctx.stroke();
  });
  return c;
}

// a tick step of 1, 2 or 5 × 10^k that cuts `range` into about `ticks` parts (no more)
export function niceStep(range, ticks = 4) {
  const raw = range / ticks, p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

// ticks and numbers on the bottom and left edges of a picture W × H showing [x0, x1] × [y0, y1] (the Paths
// view's contours, the Train view's decision boundary), at steps of 1, 2 or 5 × 10^k, about `ticks` of them;
// `st`: the font size, the tick length, the numbers' gap from the edge and their margin from the corners, and
// the axes' names ([text, distance from the right, from the bottom] for x, [text, x, y] for y)
export function edgeAxes(ctx, W, H, [x0, x1], [y0, y1], st) {
  ctx.fillStyle = '#333'; ctx.strokeStyle = '#555'; ctx.font = `${st.font}px sans-serif`; ctx.lineWidth = 1;
  for (const [axis, a, b] of [['x', x0, x1], ['y', y0, y1]]) {
    const step = niceStep(b - a, st.ticks);
    for (let v = Math.ceil(a / step) * step; v <= b + 1e-9; v += step) {
      const t = (v - a) / (b - a), label = String(+v.toFixed(6));
      ctx.beginPath();
      if (axis === 'x') {
        ctx.moveTo(t * W, H); ctx.lineTo(t * W, H - st.tick); ctx.stroke();
        ctx.textAlign = 'center'; ctx.textBaseline = 'bottom';
        ctx.fillText(label, Math.min(W - st.xEdge, Math.max(st.xEdge, t * W)), H - st.xGap);
      } else {
        ctx.moveTo(0, H - t * H); ctx.lineTo(st.tick, H - t * H); ctx.stroke();
        ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
        ctx.fillText(label, st.yGap, Math.min(H - st.yEdge[1], Math.max(st.yEdge[0], H - t * H)));
      }
    }
  }
  const [xName, dx, dy] = st.xName, [yName, yx, yy] = st.yName;
  ctx.textAlign = 'right'; ctx.textBaseline = 'bottom'; ctx.fillText(xName, W - dx, H - dy);
  ctx.textAlign = 'left'; ctx.textBaseline = 'top'; ctx.fillText(yName, yx, yy);
}
