// The watch page: a recording of mlplab.watch (the user's own PyTorch loop), live while it grows and replayed
// with a time slider. The drawing is the live page's (charts.js: uPlot charts, the histogram strips of the
// Train view); the numbers are the recording's, as the frame worker computed them.
import {chart, drawHist, fitCharts, styled} from '/static/charts.js';
import {$, fmt, live, pct, showError, showLines, token} from '/static/common.js';
import {drawSharp, noteSharp, setupSharp} from './sharpness.js';

const HIST_COLS = 120;  // frames drawn per histogram strip, ending at the frame shown
const QUANTITIES = [['z', 'pre-activation z'], ['a', 'activation φ(z)'], ['gz', 'gradient ∂L/∂z'],
  ['w', 'weights W'], ['dw', 'update ΔW']];
const BOUNDED = {sigmoid: [0, 1], tanh: [-1, 1]};
const TONE = {healthy: 'good', dead: 'bad', exploding: 'bad', symmetric: 'bad', not_updated: 'bad',
  saturating: 'warn', vanishing: 'warn'};
const W = live.W = {meta: null, frames: [], end: null, partial: false, shown: -1, panels: [], loss: null, ratio: null,
  hasLoss: false, lossEmpty: false};
Object.assign(live, {frames: 0, shown: -1, lastFrame: null, end: null, panelsDrawn: 0});

async function get(path) {
  let r;
  try { r = await fetch(path, {headers: {Authorization: `token ${token}`}}); } catch (e) {
    return {error: `the server cannot be reached (${e.message})`};
  }
  let data = null;
  try { data = await r.json(); } catch (e) { data = {error: `the server answered ${r.status} without JSON`}; }
  if (!r.ok && !data.error) data.error = `the server answered ${r.status}`;
  return data;
}

function describe(lay) {
  const s = lay.shape;
  const dims = lay.kind === 'Linear' ? `${s[1]}→${s[0]}` : `${s[1]}→${s[0]} ch, ${s.slice(2).join('×')}`;
  return `${lay.kind} ${dims} ${lay.activation}${lay.norm ? ` (after ${lay.norm})` : ''}`;
}

function makePanel(i, lay) {
  const el = document.createElement('div');
  el.className = 'layer';
  el.innerHTML = `<div class="layer-head"><strong></strong><span class="what"></span><span class="verdict"></span>
    <span class="stats"></span></div><div class="hists"></div>`;
  el.querySelector('strong').textContent = `layer ${i + 1}`;
  el.querySelector('.what').textContent = `${lay.name} · ${describe(lay)}`;
  const hists = {};
  for (const [q, label] of QUANTITIES) {
    const h = document.createElement('div');
    h.className = 'hist';
    h.innerHTML = '<div class="label"><span></span><span class="range"></span></div><canvas width="200" height="70"></canvas>';
    h.querySelector('.label span').textContent = label;
    el.querySelector('.hists').appendChild(h);
    hists[q] = {canvas: h.querySelector('canvas'), range: h.querySelector('.range'), cols: []};
  }
  $('#layers').appendChild(el);
  return {el, hists, verdict: el.querySelector('.verdict'), stats: el.querySelector('.stats')};
}

function setup(meta) {
  W.meta = meta;
  $('#model').textContent = `${meta.model}${meta.optimizer ? ` · ${meta.optimizer}` : ''} · ${meta.layers.length} layers watched` +
    (meta.every ? ` · a frame every ${meta.every} steps` : ` · ${meta.fps} frames/s`);
  W.panels = meta.layers.map((lay, i) => makePanel(i, lay));
  showLines($('#not-watched'), meta.not_watched.length ? meta.not_watched.map((n) => `${n.where}: ${n.what} (${n.why})`)
    : ['every layer with weights is watched']);
  const marks = () => (W.shown >= 0 ? [{x: W.frames[W.shown].step, label: 'shown'}] : []);
  W.loss = chart($('#chart-loss'), [styled(0, {label: 'loss', spanGaps: true})], {marks});
  W.ratio = chart($('#chart-ratio'), meta.layers.map((lay, i) => styled(i, {label: `layer ${i + 1}`, spanGaps: true})),
    {marks, scales: {y: {distr: 3}}});
  setupSharp(marks);
}

function drawCharts() {
  const f = W.frames;
  W.loss.setData([f.map((x) => x.step), f.map((x) => x.loss)]);
  W.ratio.setData([f.map((x) => x.step), ...W.meta.layers.map((_, i) => f.map((x) => {
    const r = x.layers[i] && x.layers[i].update_ratio;
    return r > 0 ? r : null;
  }))]);
  drawSharp(f);
}

// The loss chart, empty, says why in its place: no frame has a loss while the loop never calls w.step(loss)
// (with an optimizer given to watch() its steps make the frames and the loss comes only from w.step(loss);
// without one, the loop calls w.step() without it). An optimizer-driven loop's first frame is taken before
// that step's w.step(loss), so one frame without a loss says nothing yet; a second one, or the end, does.
function explainLoss() {
  const n = W.frames.length;
  const empty = !W.hasLoss && (n >= 2 || (n >= 1 && !!W.end));
  if (empty) {
    const done = !!W.end;
    const parts = W.meta.optimizer
      ? [done ? 'No loss in this recording: its loop never called ' : 'No loss yet: your loop has not called ',
        'w.step(loss)', '. Call it after each optimizer step to see the training loss here.']
      : [done ? 'No loss in this recording: its loop called ' : 'No loss yet: your loop calls ', 'w.step()',
        ' without the loss. Pass it, ', 'w.step(loss)', ', to see the training loss here.'];
    const line = document.createElement('span');  // one line of text, centred in the chart's box
    line.append(...parts.map((t, i) => (i % 2 ? Object.assign(document.createElement('code'), {textContent: t}) : t)));
    $('#loss-empty').replaceChildren(line);
  }
  if (empty === W.lossEmpty) return;
  W.lossEmpty = empty;
  $('#loss-empty').hidden = !empty;
  $('#chart-loss').hidden = empty;
  if (!empty) fitCharts();  // (a chart's width is taken while it is shown)
}

function drawEvents(upto) {
  const lines = [];
  for (let k = 0; k <= upto; k++) {
    for (const e of W.frames[k].events || []) {
      if (e.from === null) continue;  // the first verdicts are shown in the panels
      lines.push(`step ${W.frames[k].step}: layer ${e.layer + 1} (${e.name}): ${e.from} → ${e.to} (${e.reason})`);
    }
  }
  showLines($('#events'), lines.length ? lines : ['no verdict has changed since the first frame']);
}

function show(k) {
  if (k < 0 || k >= W.frames.length) return;
  W.shown = k;
  const f = W.frames[k];
  W.meta.layers.forEach((lay, i) => {
    const P = W.panels[i], l = f.layers[i], th = lay.theory && !lay.theory.error ? lay.theory : null;
    for (const [q] of QUANTITIES) {
      const h = P.hists[q];
      h.cols = [];
      for (let j = Math.max(0, k - HIST_COLS + 1); j <= k; j++) {
        const c = W.frames[j].layers[i][q];
        if (c && c.lo !== null) h.cols.push(c);
      }
      drawHist(h, q === 'z' && th ? th.pred_z_std : null, q === 'a' ? BOUNDED[lay.activation] : null);
    }
    P.verdict.textContent = l.verdict || '—';
    P.verdict.className = `verdict ${TONE[l.verdict] || 'other'}`;
    P.verdict.title = l.reason || '';
    P.stats.textContent = `std z ${fmt(l.z_std)} · std φ(z) ${fmt(l.a_std)} · dead ${pct(l.dead)} · saturated ` +
      `${pct(l.saturated)} · ‖ΔW‖/‖W‖ ${fmt(l.update_ratio)} · ‖∂L/∂W‖ ${fmt(l.grad_norm)}` +
      (th ? ` · theory at init: std z ${fmt(th.pred_z_std)} (dashed ±)` +
        (th.chi1 !== null ? `, χ₁ ${fmt(th.chi1)} (${th.phase})` : '') : '') +
      (l.verdict !== 'healthy' && l.reason ? ` — ${l.reason}` : '');
  });
  live.panelsDrawn += 1;
  $('#slider').value = String(k);
  $('#slider').setAttribute('aria-valuetext', `frame ${k + 1} of ${W.frames.length}, step ${f.step}`);
  $('#readout').textContent = `frame ${k + 1} / ${W.frames.length} · step ${f.step} · ${fmt(f.time)} s · loss ${fmt(f.loss, 4)}`;
  drawEvents(k);
  noteSharp(W.frames, k);
  W.loss.redraw(false); W.ratio.redraw(false);  // (false: keep the scales; the data may not be committed yet)
  live.shown = k; live.lastFrame = f;
}

function status() {
  const n = W.frames.length, last = n ? W.frames[n - 1].step : 0;
  let s;
  if (W.end) {
    s = W.end.reason === 'closed' ? `finished: ${n} frames, ${W.end.step} steps`
      : `ended by ${W.end.reason} at step ${W.end.step}: ${n} frames`;
  } else {
    s = `no end line yet: running, or stopped without closing (a crash) · ${n} frames to step ${last}` +
      (W.partial ? ' · a partial last line (a run killed mid-write) is left out' : '');
  }
  $('#status').textContent = s;
  live.status = s; live.end = W.end;
}

async function poll() {
  const data = await get(`/api/frames?from=${W.frames.length}`);
  if (data.error) { showError($('#page-error'), data.error); } else {
    showError($('#page-error'), '');
    W.frames.push(...data.frames);
    W.hasLoss = W.hasLoss || data.frames.some((x) => x.loss !== null && x.loss !== undefined);
    W.end = data.end; W.partial = data.partial;
    live.frames = W.frames.length;
    if (data.frames.length) {
      $('#slider').max = String(W.frames.length - 1);
      $('#slider').disabled = false;
      drawCharts();
      if ($('#follow').checked || W.shown < 0) show(W.frames.length - 1);
    }
    status();
    explainLoss();
    live.lossNote = W.lossEmpty ? $('#loss-empty').textContent : null;
    if (W.frames.length < data.total) return poll();  // more pages waiting
  }
  if (!W.end) setTimeout(poll, 500);
}

async function main() {
  if (!token) {
    showError($('#page-error'), 'no token: open the address `mlplab live --replay` printed (it ends in ?token=...)');
    return;
  }
  let m = await get('/api/meta');
  while (!m.error && m.meta === null) {  // watch() has begun, the model has not run its first batch yet
    $('#status').textContent = 'waiting for the first batch of the watched model…';
    await new Promise((resolve) => { setTimeout(resolve, 500); });
    m = await get('/api/meta');
  }
  if (m.error) { showError($('#page-error'), m.error); return; }
  setup(m.meta);
  $('#slider').addEventListener('input', (e) => {
    const k = Number(e.target.value);
    $('#follow').checked = k === W.frames.length - 1;
    show(k);
  });
  $('#follow').addEventListener('change', (e) => { if (e.target.checked) show(W.frames.length - 1); });
  live.show = show;
  await poll();
  live.ready = true;
}

main();
