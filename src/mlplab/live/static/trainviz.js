// The Train view's pictures beyond the curves and strips: a toy set's decision boundary under its points
// (TensorFlow Playground's picture), the sharpness λ₁ against its stability limit (mlplab.live.sharpness),
// and the histograms' "at initialization vs now" pairs. The server computes every number (the frame
// worker, mostly); this module draws them. window.mlplabLive.viz holds what was drawn, for the tests.
import {chart, edgeAxes, niceStep, styled} from './charts.js';
import {$, COLORS, fmt, live} from './common.js';

const V = {points: null, init: null, initStep: null, boundary: null, sharp: [[], [], []], chart: null, last: null};
live.viz = {boundaryDraws: 0, pairDraws: 0};

const RGB = COLORS.map((h) => [1, 3, 5].map((o) => parseInt(h.slice(o, o + 2), 16)));
const MARKERS = ['circle', 'square', 'triangle', 'diamond'];  // a class is told by shape as well as colour

export function resetViz() {
  V.points = null; V.init = null; V.initStep = null; V.boundary = null; V.last = null;
  V.sharp = [[], [], []];
  $('#boundary-fig').hidden = true;
  if (V.chart) V.chart.destroy();
  $('#chart-sharp').innerHTML = '';
  V.chart = chart($('#chart-sharp'), [styled(0, {label: 'λ₁ (sharpness)', spanGaps: true, points: {show: true, size: 6}}),
    // the limit holds from its measurement to the next (a step size changed mid-run moves it): stepped
    styled(1, {label: 'stability limit', dash: [8, 4], spanGaps: true, points: {show: false},
      paths: uPlot.paths.stepped({align: 1})})],
  {scales: {y: {distr: 3}}});
  $('#sharp-note').textContent = 'Measured by the frame worker every 200 steps or so, on a fixed batch of 256 training examples: none yet.';
  live.viz.sharpness = [];
}

// what /api/train and /api/state send beside the frames: a toy set's points, the step-0 histograms, the
// sharpness measured so far
export function setDrawing(r) {
  V.points = r.points || null;
  if (r.init_layers) { V.init = r.init_layers; V.initStep = 0; }
  for (const s of r.sharpness || []) addSharp(s);
  if (r.sharpness_off) $('#sharp-note').textContent = `No sharpness: ${r.sharpness_off}.`;
  $('#boundary-fig').hidden = !V.points;
  live.viz.points = V.points ? V.points.x.length : 0;
}

export function vizFrame(f) {
  if (!V.init && f.step === 0) { V.init = f.layers; V.initStep = 0; }
  if (f.boundary) { V.boundary = f.boundary; drawBoundary(); }
  if (f.sharpness) addSharp(f.sharpness);
  else if (V.sharp[0].length && f.step > V.sharp[0][V.sharp[0].length - 1]) setSharpData(f.step);
  else if (!V.sharp[0].length && f.worker === false && f.step > 0) {
    $('#sharp-note').textContent = 'No sharpness for this run: its frames are made in the training thread (one core, ' +
      'or the frame worker not started yet), and the sharpness is computed only in the frame worker, so that it never ' +
      'slows training.';
  }
}

// ----------------------------------------------------------------------------- decision boundary
function drawBoundary() {
  const b = V.boundary, c = $('#boundary-canvas'), ctx = c.getContext('2d'), W = c.width, H = c.height, n = b.n;
  const K = Math.max(2, 1 + Math.max(...b.classes), V.points ? 1 + Math.max(...V.points.label) : 0);
  const img = ctx.createImageData(W, H), px = img.data;
  for (let y = 0; y < H; y++) {
    const j = n - 1 - Math.min(n - 1, Math.floor(y * n / H));  // row 0 of the grid is the bottom
    for (let x = 0; x < W; x++) {
      const cell = j * n + Math.min(n - 1, Math.floor(x * n / W)), rgb = RGB[b.classes[cell] % RGB.length];
      // the class colour, deeper where the network is surer (confidence 1/K: white-ish; 1: 55 % of the colour)
      const t = Math.min(1, Math.max(0, (b.conf[cell] / 100 - 1 / K) / (1 - 1 / K))), s = 0.12 + 0.43 * t;
      const o = 4 * (y * W + x);
      for (let ch = 0; ch < 3; ch++) px[o + ch] = 255 - s * (255 - rgb[ch]);
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  const [x0, x1] = b.x, [y0, y1] = b.y;
  const X = (v) => (v - x0) / (x1 - x0) * W, Y = (v) => (y1 - v) / (y1 - y0) * H;
  if (V.points) {
    const p = V.points;
    ctx.lineWidth = 1; ctx.strokeStyle = '#fff';
    for (let i = 0; i < p.x.length; i++) {
      const k = p.label[i];
      ctx.fillStyle = COLORS[k % COLORS.length];
      marker(ctx, MARKERS[k % MARKERS.length], X(p.x[i]), Y(p.y[i]), 3.2);
    }
  }
  axes(ctx, W, H, b.x, b.y);
  live.viz.boundaryDraws += 1;
  live.viz.boundary = b;
}
function marker(ctx, kind, x, y, r) {
  ctx.beginPath();
  if (kind === 'circle') ctx.arc(x, y, r, 0, 2 * Math.PI);
  else if (kind === 'square') ctx.rect(x - r, y - r, 2 * r, 2 * r);
  else if (kind === 'triangle') { ctx.moveTo(x, y - 1.2 * r); ctx.lineTo(x + 1.1 * r, y + r); ctx.lineTo(x - 1.1 * r, y + r); ctx.closePath(); }
  else { ctx.moveTo(x, y - 1.3 * r); ctx.lineTo(x + r, y); ctx.lineTo(x, y + 1.3 * r); ctx.lineTo(x - r, y); ctx.closePath(); }
  ctx.fill(); ctx.stroke();
}
function axes(ctx, W, H, xlim, ylim) {  // ticks and numbers on the bottom and left edges
  edgeAxes(ctx, W, H, xlim, ylim, {font: 11, ticks: 4, tick: 5, xGap: 6, xEdge: 10, yGap: 7, yEdge: [8, 22],
    xName: ['x₁ →', 4, 18], yName: ['↑ x₂', 30, 3]});
}

// ----------------------------------------------------------------------------- sharpness
function addSharp(s) {
  if (V.sharp[0].length && s.step <= V.sharp[0][V.sharp[0].length - 1]) return;  // (a reattached page: seen)
  V.sharp[0].push(s.step); V.sharp[1].push(s.value > 0 ? s.value : null); V.sharp[2].push(s.limit > 0 ? s.limit : null);
  setSharpData(s.step);
  V.last = s;
  live.viz.sharpness.push(s);
  const what = s.preconditioned ? 'λ₁(P⁻¹H)' : 'λ₁(H)';
  const felt = s.preconditioned ? ' (the sharpness the optimizer feels through its preconditioner P)' : '';
  const limit = s.limit ? `the stability limit ${s.formula} = ${fmt(s.limit)}` : 'no stability limit known for this optimizer';
  const where = s.value && s.limit ? (s.value >= 0.9 * s.limit ? ': at the edge of stability' : `: ${fmt(s.value / s.limit)} of it`) : '';
  $('#sharp-note').textContent = s.value === null || s.value === undefined
    ? `No sharpness: ${s.error || 'the measurement did not converge'}`
    : `Step ${s.step}: ${what} = ${fmt(s.value)}${felt}; ${limit}${where}. (±${fmt(s.residual)}, ${s.products} ` +
      `Hessian-vector products on 256 training examples, ${fmt(s.ms)} ms in the frame worker.)`;
}

// the measurements, and the last limit carried on to the run's newest step (a line even after one measurement)
function setSharpData(step) {
  const [x, v, l] = V.sharp, n = x.length;
  V.chart.setData(step > x[n - 1] ? [[...x, step], [...v, null], [...l, l[n - 1]]] : V.sharp);
}

// ----------------------------------------------------------------------------- histogram pairs
// the layer's histogram of quantity q at initialization (the step-0 frame) and now, as two densities on one
// axis with ticks: the initialization dashed grey, now solid blue
export function pairOn() { return $('#hist-init').checked; }
export function drawPair(h, i, q, now, step) {
  const init = V.init && V.init[i] ? V.init[i][q] : null;
  h.pairBox.hidden = !pairOn();
  if (!pairOn()) return;
  const c = h.pair, ctx = c.getContext('2d'), W = c.width, H = c.height, B = 16;
  ctx.clearRect(0, 0, W, H);
  const hs = [init, now].filter((x) => x && x.hi > x.lo);
  h.pairNow = {init, now, initStep: V.initStep, step};
  if (!hs.length) { ctx.fillStyle = '#999'; ctx.fillText(now === null ? '— (logits: no activation)' : 'no step-0 frame', 8, H / 2); return; }
  const lo = Math.min(...hs.map((x) => x.lo)), hi = Math.max(...hs.map((x) => x.hi));
  const dens = (x) => x.counts.map((v) => v / Math.max(1, x.sampled) / ((x.hi - x.lo) / x.counts.length));
  const top = Math.max(...hs.map((x) => Math.max(...dens(x)))) || 1;
  const X = (v) => (v - lo) / (hi - lo) * W, h0 = H - B;
  for (const [x, style] of [[init, {stroke: '#666', dash: [4, 3], fill: null}], [now, {stroke: COLORS[0], dash: [], fill: 'rgba(0,114,178,0.15)'}]]) {
    if (!x || !(x.hi > x.lo)) continue;
    const d = dens(x), bw = (x.hi - x.lo) / x.counts.length;
    ctx.beginPath(); ctx.moveTo(X(x.lo), h0);
    d.forEach((v, b) => { const y = h0 - 2 - v / top * (h0 - 6); ctx.lineTo(X(x.lo + b * bw), y); ctx.lineTo(X(x.lo + (b + 1) * bw), y); });
    ctx.lineTo(X(x.hi), h0);
    if (style.fill) { ctx.fillStyle = style.fill; ctx.fill(); }
    ctx.strokeStyle = style.stroke; ctx.setLineDash(style.dash); ctx.lineWidth = 1.5; ctx.stroke(); ctx.setLineDash([]);
  }
  // the value axis: ticks at round numbers
  ctx.strokeStyle = '#555'; ctx.fillStyle = '#333'; ctx.lineWidth = 1; ctx.font = '10px sans-serif';
  ctx.beginPath(); ctx.moveTo(0, h0); ctx.lineTo(W, h0); ctx.stroke();
  const st = niceStep(hi - lo);
  ctx.textBaseline = 'top'; ctx.textAlign = 'center';
  for (let v = Math.ceil(lo / st) * st; v <= hi + 1e-12; v += st) {
    ctx.beginPath(); ctx.moveTo(X(v), h0); ctx.lineTo(X(v), h0 + 4); ctx.stroke();
    ctx.fillText(String(+v.toPrecision(3)), Math.min(W - 12, Math.max(12, X(v))), h0 + 4);
  }
  h.pairLegend.textContent = `╌ step ${init ? V.initStep : '0: none'} · ─ step ${step}`;
  live.viz.pairDraws += 1;
}
// the strip's step axis: the step of its oldest, middle and newest column
export function drawStepAxis(h) {
  const s = h.steps, n = s.length;
  const labels = n ? [s[0], s[Math.floor((n - 1) / 2)], s[n - 1]] : ['', '', ''];
  h.axis.querySelectorAll('span').forEach((el, k) => { el.textContent = n ? `${labels[k]}` : ''; });
}
live.histPair = (i, q) => {  // (for the tests) what the pair of layer i, quantity q draws
  const el = document.querySelectorAll('#layers .layer')[i];
  return el && el.hists ? el.hists[q].pairNow || null : null;
};
