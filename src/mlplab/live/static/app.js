// mlplab live: the page only draws; every number comes from the server (the library's own code).
(() => {
'use strict';

const live = window.mlplabLive = {
  ready: false, frames: 0, statusFrames: 0, lastFrame: null, run: null, status: null, errors: 0,
  pathRequests: 0, pathDraws: 0, pathLatencies: [], pathServerMs: [], lastPaths: null, frameTimes: [],
};
const sid = (window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now())
  .replace(/-/g, '').slice(0, 32);
const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const TRAIN_KEYS = ['dataset', 'layers', 'activation', 'init', 'optimizer', 'lr', 'momentum', 'batch_size',
  'epochs', 'iterations', 'schedule', 'seed'];
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
const ETA = '#d9480f', MU = '#2b8a3e';
let meta = null;

// ----------------------------------------------------------------------------- helpers
async function api(path, body) {
  const opts = body === undefined ? {} : {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(body)};
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { data = {error: `the server answered ${r.status} without JSON`}; }
  if (!r.ok && !data.error) data.error = `the server answered ${r.status}`;
  return data;
}
function tex(el, src) {
  try { katex.render(src, el, {throwOnError: false, displayMode: true}); } catch (e) { el.textContent = src; }
}
function fmt(x, d = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4)) return x.toExponential(1);
  return (+x).toPrecision(d);
}
function logTicks(u, vs) {  // a log axis: label the powers of ten only
  return vs.map((v) => { const e = Math.log10(v); return Math.abs(e - Math.round(e)) < 1e-9 ? (Math.abs(e) < 3 ? String(+v.toPrecision(1)) : `1e${Math.round(e)}`) : ''; });
}
function pct(x) { return x === null || x === undefined ? '—' : `${(100 * x).toFixed(0)}%`; }
function showError(el, msg) { el.textContent = msg || ''; el.hidden = !msg; }
function setURL() {
  const p = new URLSearchParams(location.search);
  p.set('view', currentView);
  const form = $('#train-form');
  for (const k of TRAIN_KEYS) { const v = form.elements[k].value; if (v !== '') p.set(k, v); else p.delete(k); }
  p.delete('autostart');
  document.querySelectorAll('.variant').forEach((e, k) => { if (e.value) p.set(`v${k + 1}`, e.value); else p.delete(`v${k + 1}`); });
  const seeds = $('#cmp-seeds').value;
  if (seeds && seeds !== '1') p.set('seeds', seeds); else p.delete('seeds');
  if (paths.fn) {
    p.set('fn', paths.fn); p.set('sx', paths.start[0].toPrecision(4)); p.set('sy', paths.start[1].toPrecision(4));
    p.set('steps', paths.steps);
    for (const [name, m] of Object.entries(paths.methods)) {
      if (!m.on) p.set(`${name}.off`, '1'); else p.delete(`${name}.off`);
      for (const [k, v] of Object.entries(m.hp)) p.set(`${name}.${k}`, String(v));
    }
  }
  history.replaceState(null, '', `${location.pathname}?${p}`);
}

// ----------------------------------------------------------------------------- views
let currentView = ['paths', 'compare'].includes(params.get('view')) ? params.get('view') : 'train';
function showView(v) {
  currentView = v;
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.view === v);
  $('#view-train').hidden = v !== 'train';
  $('#view-paths').hidden = v !== 'paths';
  $('#view-compare').hidden = v !== 'compare';
  if (v === 'paths') paths.ensure();
  setURL();
}
for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showView(b.dataset.view));

function applyTeacherFlags() {
  // hide=lr,optimizer,... hides those controls; hide=controls the whole panel; hide=tabs the view switch
  for (const key of (params.get('hide') || '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (key === 'controls') document.querySelectorAll('.controls').forEach((e) => e.classList.add('hidden-by-teacher'));
    else if (key === 'tabs') $('header nav').classList.add('hidden-by-teacher');
    else if (key === 'buttons') $('.buttons').classList.add('hidden-by-teacher');
    else document.querySelectorAll(`[data-key="${CSS.escape(key)}"]`).forEach((e) => e.classList.add('hidden-by-teacher'));
  }
}

// ----------------------------------------------------------------------------- formulas
// each update rule as lines; the symbol a control changes has that control's colour (η: ETA, μ/ρ/β₁: MU)
const UPDATE_TEX = {
  sgd: ['\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\,\\nabla L'],
  momentum: ['v \\leftarrow {\\color{MU}\\mu} v - {\\color{ETA}\\eta}\\nabla L', '\\theta \\leftarrow \\theta + v'],
  ema_momentum: ['v \\leftarrow {\\color{MU}\\mu} v + (1-{\\color{MU}\\mu})\\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta} v'],
  momentum_ema: ['v \\leftarrow {\\color{MU}\\mu} v + (1-{\\color{MU}\\mu})\\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta} v'],
  nesterov: ['b \\leftarrow {\\color{MU}\\mu} b + \\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}(\\nabla L + {\\color{MU}\\mu} b)'],
  nesterov_ema: ['v \\leftarrow {\\color{MU}\\mu} v - {\\color{ETA}\\eta}\\nabla L(\\theta + {\\color{MU}\\mu} v)', '\\theta \\leftarrow \\theta + v'],
  adagrad: ['h \\leftarrow h + \\nabla L\\odot \\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\, \\nabla L / (\\sqrt{h}+\\varepsilon)'],
  rmsprop: ['h \\leftarrow {\\color{MU}\\rho} h + (1-{\\color{MU}\\rho})\\, \\nabla L\\odot \\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\, \\nabla L / (\\sqrt{h}+\\varepsilon)'],
  adam: ['m \\leftarrow {\\color{MU}\\beta_1} m + (1-{\\color{MU}\\beta_1}) \\nabla L', 'v \\leftarrow \\beta_2 v + (1-\\beta_2) \\nabla L^2',
    '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\, \\hat m / (\\sqrt{\\hat v}+\\varepsilon)'],
  adamw: ['m, v, \\hat m, \\hat v \\text{ as Adam}', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\big(\\hat m / (\\sqrt{\\hat v}+\\varepsilon) + \\lambda\\theta\\big)'],
  nadam: ['m, v, \\hat m, \\hat v \\text{ as Adam}', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\,\\dfrac{\\beta_1 \\hat m + (1-\\beta_1) \\nabla L/(1-\\beta_1^t)}{\\sqrt{\\hat v}+\\varepsilon}'],
  newton: ['\\theta \\leftarrow \\theta - {\\color{ETA}\\alpha}\\,\\big(\\nabla^2 f(\\theta) + \\delta I\\big)^{-1}\\nabla f(\\theta)'],
};
function updateTex(name, label) {
  const lines = (UPDATE_TEX[name] || [`\\text{${name}}`]).map((l) => l.replaceAll('ETA', ETA).replaceAll('MU', MU));
  const head = label ? `\\text{${label}}:\\;` : '';
  return `\\begin{aligned}${lines.map((l, i) => (i === 0 ? head : '') + '&' + l).join('\\\\')}\\end{aligned}`;
}
function initTex(init, act) {
  const i = (init || '').toLowerCase();
  let v = null;
  if (i === 'he' || i === 'kaiming' || i === 'he_normal') v = '\\frac{2}{n_{\\text{in}}}';
  else if (i === 'xavier' || i === 'lecun' || i === 'lecun_normal') v = '\\frac{1}{n_{\\text{in}}}';
  else if (i === 'xavier_normal' || i === 'glorot') v = '\\frac{2}{n_{\\text{in}} + n_{\\text{out}}}';
  else if (i === 'book') v = act === 'relu' ? '\\frac{2}{n_{\\text{in}}}' : '\\frac{1}{n_{\\text{in}}}';
  else if (i === 'zeros' || i === 'zero') v = '0';
  else if (i.startsWith('std=')) v = `${i.slice(4)}^2`;
  return v ? `W_{ij} \\sim \\mathcal N(0, \\sigma^2),\\quad \\sigma^2 = ${v}` : `W \\text{ from the initializer } \\texttt{${i.replace(/_/g, '\\_')}}`;
}
function renderTrainFormulas() {
  const f = $('#train-form').elements;
  tex($('#formula-update'), updateTex(f.optimizer.value));
  tex($('#formula-init'), initTex(f.init.value, f.activation.value));
  tex($('#formula-meanfield'), '\\operatorname{Var} z_{l+1} = n_l\\,\\sigma^2\\,\\mathbb E[\\varphi(z_l)^2]');
}

// ----------------------------------------------------------------------------- train: charts
function chart(el, series, opts = {}) {
  const w = Math.max(300, el.clientWidth || 420);
  return new uPlot({width: w, height: opts.height || 170, legend: {show: true, live: false}, bands: opts.bands || [],
    cursor: {show: false}, scales: Object.assign({x: {time: false}}, opts.scales || {}),
    axes: [{size: 30, incrs: opts.xlabel === 'layer' || opts.xlabel === 'epoch' ? [1, 2, 5, 10, 20, 50, 100, 200, 500] : undefined},
      {size: 50, values: opts.scales && opts.scales.y && opts.scales.y.distr === 3 ? logTicks : (u, vs) => vs.map((v) => fmt(v, 2))}],
    series: [{label: opts.xlabel || 'step'}, ...series]},
    [[], ...series.map(() => [])], el);
}
const T = {charts: null, loss: null, acc: null, ratio: null, layers: [], predicted: null, evalSeen: new Set()};
function resetTrain(sizes) {
  for (const id of ['#chart-loss', '#chart-acc', '#chart-ratio', '#chart-meanfield']) $(id).innerHTML = '';
  const nl = sizes ? sizes.length - 1 : 0;
  T.lossData = [[], [], []];
  T.accData = [[], [], []];
  T.ratioData = [[], ...Array.from({length: nl}, () => [])];
  T.evalSeen = new Set();
  T.loss = chart($('#chart-loss'), [{label: 'train', stroke: COLORS[0], spanGaps: true, points: {show: false}},
    {label: 'eval', stroke: COLORS[1], width: 0, points: {show: true, size: 6, fill: COLORS[1]}}]);
  T.acc = chart($('#chart-acc'), [{label: 'train', stroke: COLORS[0], points: {show: true, size: 5}},
    {label: 'eval', stroke: COLORS[1], points: {show: true, size: 5}}],
    {xlabel: 'epoch'});
  T.ratio = chart($('#chart-ratio'), Array.from({length: nl}, (_, i) => ({label: `L${i + 1}`, stroke: COLORS[i % 10],
    spanGaps: true, points: {show: false}})), {scales: {y: {distr: 3}}});
  T.mf = chart($('#chart-meanfield'), [{label: 'measured std z', stroke: COLORS[0], points: {show: true, size: 7}},
    {label: 'mean-field at init', stroke: COLORS[4], dash: [6, 4], points: {show: true, size: 7}}],
    {xlabel: 'layer', scales: {y: {distr: 3}}});
  $('#layers').innerHTML = '';
  T.layers = [];
  showError($('#divergence'), '');
  $('#progress').textContent = '';
}
function decimate(data) {
  // keep the page's history bounded: drop every other training point, keep every evaluation point
  const keep = data[0].map((_, i) => data[2][i] !== null || i % 2 === 0 || i === data[0].length - 1);
  return data.map((col) => col.filter((_, i) => keep[i]));
}

// ----------------------------------------------------------------------------- train: histograms
const HIST_COLS = 120;
const QUANT = [['z', 'pre-activation z'], ['a', 'activation φ(z)'], ['g', 'gradient ∂L/∂W'], ['w', 'weights W']];
function makeLayer(i, info) {
  const el = document.createElement('div');
  el.className = 'layer';
  el.innerHTML = `<div class="layer-head"><strong>layer ${i + 1}</strong><span>${info.shape[0]}→${info.shape[1]} ${info.activation}</span>
    <span class="verdict"></span><span class="stats"></span></div><div class="hists"></div>`;
  const hists = {};
  for (const [q, label] of QUANT) {
    const h = document.createElement('div');
    h.className = 'hist';
    h.innerHTML = `<div class="label"><span>${label}</span><span class="range"></span></div><canvas width="240" height="80"></canvas>`;
    el.querySelector('.hists').appendChild(h);
    hists[q] = {canvas: h.querySelector('canvas'), range: h.querySelector('.range'), cols: []};
  }
  $('#layers').appendChild(el);
  return {el, hists, verdict: el.querySelector('.verdict'), stats: el.querySelector('.stats')};
}
// the verdicts of `mlplab diagnose` and their colour; any other string (a verdict added later, such as
// "measured" for trained networks) is shown as it is in a neutral colour, a missing one as "—"
const VERDICT_TONE = {healthy: 'good', dead: 'bad', exploding: 'bad', symmetric: 'bad', saturating: 'warn',
  vanishing: 'warn', measured: 'info'};
function verdictTone(v) {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(VERDICT_TONE, v) ? VERDICT_TONE[v] : 'other';
}
function showVerdict(el, v, reason) {
  el.textContent = v === null || v === undefined || String(v).trim() === '' ? '—' : String(v);
  el.className = `verdict ${verdictTone(v)}`;
  el.title = typeof reason === 'string' ? reason : '';
}
live.showVerdict = showVerdict;  // for the browser tests: any verdict string must display
function drawHist(h, overlay) {
  const cols = h.cols, c = h.canvas, ctx = c.getContext('2d'), W = c.width, H = c.height;
  ctx.clearRect(0, 0, W, H);
  if (!cols.length) { ctx.fillStyle = '#999'; ctx.fillText('— (logits: no activation)', 8, H / 2); return; }
  let lo = Infinity, hi = -Infinity;
  for (const col of cols) { lo = Math.min(lo, col.lo); hi = Math.max(hi, col.hi); }
  if (overlay) { lo = Math.min(lo, -1.05 * overlay); hi = Math.max(hi, 1.05 * overlay); }
  if (!(hi > lo)) { hi = lo + 1; }
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
  ctx.putImageData(img, 0, 0);
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
function onFrame(f) {
  live.frames += 1;
  live.lastFrame = f;
  const now = performance.now();
  live.frameTimes.push(now);
  while (live.frameTimes.length && now - live.frameTimes[0] > 2000) live.frameTimes.shift();
  if (f.loss !== null && f.loss !== undefined) {
    T.lossData[0].push(f.step); T.lossData[1].push(f.loss); T.lossData[2].push(null);
  }
  for (const e of f.evals || []) {
    if (T.evalSeen.has(e.epoch)) continue;
    T.evalSeen.add(e.epoch);
    if (e.val_loss !== undefined) { T.lossData[0].push(e.step); T.lossData[1].push(null); T.lossData[2].push(e.val_loss); }
    T.accData[0].push(e.epoch); T.accData[1].push(e.train_acc ?? null); T.accData[2].push(e.val_acc ?? null);
  }
  if (T.lossData[0].length > 3000) T.lossData = decimate(T.lossData);
  if (T.accData[0].length > 3000) T.accData = T.accData.map((c) => c.filter((_, i) => i % 2 === 0));
  T.loss.setData(T.lossData);
  T.acc.setData(T.accData);
  if (f.layers.some((l) => l.update_ratio !== null)) {
    T.ratioData[0].push(f.step);
    f.layers.forEach((l, i) => T.ratioData[i + 1].push(l.update_ratio > 0 ? l.update_ratio : null));
    if (T.ratioData[0].length > 3000) T.ratioData = T.ratioData.map((c) => c.filter((_, i) => i % 2 === 0));
    T.ratio.setData(T.ratioData);
  }
  T.mf.setData([f.layers.map((_, i) => i + 1), f.layers.map((l) => l.z_std), f.layers.map((l) => l.pred_z_std)]);
  f.layers.forEach((l, i) => {
    if (!T.layers[i]) T.layers[i] = makeLayer(i, l);
    const L = T.layers[i];
    for (const [q] of QUANT) {
      const h = L.hists[q];
      if (l[q]) { h.cols.push(l[q]); if (h.cols.length > HIST_COLS) h.cols.shift(); }
      drawHist(h, q === 'z' ? l.pred_z_std : null);
    }
    showVerdict(L.verdict, l.verdict, l.reason);
    L.stats.textContent = `std z ${fmt(l.z_std)} (theory at init ${fmt(l.pred_z_std)}) · dead ${pct(l.dead)} · ` +
      `saturated ${pct(l.saturated)} · ‖ΔW‖/‖W‖ ${fmt(l.update_ratio)} · ‖∂L/∂W‖ ${fmt(l.grad_norm)}` +
      (l.reason ? ` — ${l.reason}` : '');
  });
  const fps = live.frameTimes.length > 1 ? (live.frameTimes.length - 1) / ((now - live.frameTimes[0]) / 1000) : 0;
  const speed = f.elapsed > 0 ? f.step / f.elapsed : 0;
  $('#progress').textContent = `step ${f.step} / ${f.total} · epoch ${f.epoch} · loss ${fmt(f.loss, 4)} · ` +
    `probe-batch accuracy ${pct(f.probe_acc)} · ${speed.toFixed(0)} steps/s · ${fps.toFixed(1)} frames/s`;
  setStatus(f.status);
}
function setStatus(s, message) {
  live.status = s;
  $('#status').textContent = s ? `run ${live.run || ''}: ${s}` : 'ready';
  $('#btn-pause').textContent = s === 'paused' ? 'Resume' : 'Pause';
  if (message && (s === 'diverged' || s === 'error')) showError($('#divergence'), message);
}

// ----------------------------------------------------------------------------- train: stream and buttons
const pending = new Map();
function connect() {
  const es = new EventSource(`/api/stream?sid=${sid}`);
  es.onopen = () => { if (!live.run) $('#status').textContent = 'ready'; };
  es.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.run !== live.run) {  // frames of a run whose start request has not come back yet
      if (!pending.has(f.run)) pending.set(f.run, []);
      if (pending.get(f.run).length < 200) pending.get(f.run).push(f);
      return;
    }
    handle(f);
  };
  es.onerror = () => { $('#status').textContent = 'reconnecting…'; };
}
function handle(f) {
  if (live.mode === 'compare') { cmp.onFrame(f); return; }
  if (f.kind === 'frame') onFrame(f);
  else { live.statusFrames += 1; setStatus(f.status, f.message); }
}
function settingsFromForm() {
  const form = $('#train-form'), s = {};
  for (const k of TRAIN_KEYS) s[k] = form.elements[k].value;
  return s;
}
async function start(paused = false) {
  showError($('#train-error'), '');
  $('#train-note').hidden = true;
  const r = await api('/api/train', {sid, settings: settingsFromForm(), paused});
  if (r.error) { live.errors += 1; showError($('#train-error'), r.error); return false; }
  live.run = r.run;
  live.mode = 'train';
  resetTrain(r.sizes);
  setStatus(paused ? 'ready' : 'running');
  for (const f of pending.get(r.run) || []) handle(f);
  pending.clear();
  return true;
}
async function control(action) {
  const r = await api('/api/control', {sid, action});
  if (r.error) showError($('#train-error'), r.error); else setStatus(r.status);
}
$('#btn-start').addEventListener('click', () => start());
$('#btn-pause').addEventListener('click', () => control(live.status === 'paused' ? 'resume' : 'pause'));
$('#btn-step').addEventListener('click', async () => {
  if (!live.run || ['done', 'stopped', 'diverged', 'error'].includes(live.status)) { if (!(await start(true))) return; }
  control('step');
});
$('#btn-reset').addEventListener('click', async () => {
  if (live.run) await api('/api/control', {sid, action: 'stop'});
  live.run = null; resetTrain(null); setStatus(null);
});
$('#btn-export').addEventListener('click', async () => {
  const r = await api('/api/export', {sid});
  if (r.error) { showError($('#train-error'), r.error); return; }
  const note = $('#train-note');
  note.hidden = false;
  note.textContent = `written to ${r.out}/ (config.json, metrics.jsonl, model.npz). The same run from the command line: ${r.command}`;
});
$('#train-form').addEventListener('change', () => { renderTrainFormulas(); setURL(); });

// ----------------------------------------------------------------------------- compare
function parseVariant(text) {
  const out = {};
  for (const tok of text.trim().split(/\s+/).filter(Boolean)) {
    const i = tok.indexOf('=');
    if (i <= 0) throw new Error(`"${tok}": write key=value, e.g. init=xavier`);
    out[tok.slice(0, i).replace(/-/g, '_')] = tok.slice(i + 1);
  }
  return out;
}
// colour with alpha, for the bands of mean ± spread over seeds
function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}
// per-seed [x, value] lists of one configuration -> [xs, mean, lo, hi] on buckets of x (steps are
// not the same across seeds: each run frames when its own clock says so); a bucket's value per
// seed is the last one in it, and the mean / smallest / largest are over the seeds that have one
function spread(series, width) {
  const per = series.map((pts) => { const m = new Map(); for (const [x, v] of pts) if (v !== null) m.set(Math.floor(x / width), v); return m; });
  const keys = [...new Set(per.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const out = [[], [], [], []];
  for (const k of keys) {
    const vs = per.map((m) => m.get(k)).filter((v) => v !== undefined && Number.isFinite(v));
    if (!vs.length) continue;
    out[0].push((k + 0.5) * width); out[1].push(vs.reduce((a, b) => a + b, 0) / vs.length);
    out[2].push(Math.min(...vs)); out[3].push(Math.max(...vs));
  }
  return out;
}
const cmp = {
  n: 0, seeds: 1, labels: [], pts: [], acc: [], ratio: [], last: [], charts: null, frames: [], total: 1,
  reset(labels, sizes, seeds = 1) {
    this.n = labels.length; this.labels = labels; this.seeds = seeds;
    const members = labels.length * seeds;
    this.pts = Array.from({length: members}, () => []); this.ratio = labels.map(() => []);
    this.acc = Array.from({length: members}, () => new Map());
    this.last = Array.from({length: members}, () => null); this.frames = Array.from({length: members}, () => 0);
    live.compareFrames = this.frames; live.compareSeeds = seeds; live.compareHistDraws = 0; live.compareBands = null;
    for (const id of ['#chart-cmp-loss', '#chart-cmp-acc', '#chart-cmp-z', '#chart-cmp-ratio', '#cmp-hists']) $(id).innerHTML = '';
    const per = (extra = {}) => labels.map((l, i) => Object.assign({label: l, stroke: COLORS[i], spanGaps: true,
      points: {show: false}}, extra));
    // with several seeds each configuration has three series: mean, smallest, largest (a band between them)
    const banded = (extra = {}) => (seeds === 1 ? per(extra) : labels.flatMap((l, i) => [
      Object.assign({label: `${l} (mean of ${seeds})`, stroke: COLORS[i], width: 2, spanGaps: true, points: {show: false}}, extra),
      {label: 'min', stroke: alpha(COLORS[i], 0.35), width: 1, spanGaps: true, points: {show: false}},
      {label: 'max', stroke: alpha(COLORS[i], 0.35), width: 1, spanGaps: true, points: {show: false}}]));
    const bands = seeds === 1 ? [] : labels.map((_, i) => ({series: [3 * i + 3, 3 * i + 2], fill: alpha(COLORS[i], 0.15)}));
    this.charts = {
      loss: chart($('#chart-cmp-loss'), banded(), {bands}),
      acc: chart($('#chart-cmp-acc'), banded({points: {show: true, size: 5}}), {xlabel: 'epoch', bands}),
      z: chart($('#chart-cmp-z'), [...per({points: {show: true, size: 6}}),
        ...labels.map((l, i) => ({label: `${l} (theory)`, stroke: COLORS[i], dash: [6, 4], points: {show: false}}))],
      {xlabel: 'layer', scales: {y: {distr: 3}}}),
      ratio: chart($('#chart-cmp-ratio'), per(), {scales: {y: {distr: 3}}}),
    };
    this.hists = [];
    const L = Math.max(...sizes.map((s) => s.length - 1));
    for (let l = 0; l < L; l++) {
      const row = document.createElement('div');
      row.className = 'cmp-hist-row';
      row.innerHTML = `<span class="label">layer ${l + 1}</span>`;
      const cells = {};
      for (const [q, name] of [['z', 'pre-activation z'], ['a', 'activation φ(z)'], ['g', 'gradient ∂L/∂W'], ['w', 'weights W']]) {
        const fig = document.createElement('div');
        fig.className = 'hist';
        fig.innerHTML = `<div class="label"><span>${name}</span><span class="range"></span></div><canvas width="300" height="80"></canvas>`;
        row.appendChild(fig);
        cells[q] = {canvas: fig.querySelector('canvas'), range: fig.querySelector('.range')};
      }
      $('#cmp-hists').appendChild(row);
      this.hists.push(cells);
    }
    $('#compare-progress').textContent = '';
  },
  aligned(series) {  // per-run [step, value] lists -> uPlot's columns on the union of steps
    const rows = [];
    series.forEach((pts, i) => pts.forEach(([x, v]) => rows.push([x, i, v])));
    rows.sort((a, b) => a[0] - b[0]);
    const data = [rows.map((r) => r[0]), ...series.map(() => new Array(rows.length).fill(null))];
    rows.forEach((r, k) => { data[r[1] + 1][k] = r[2]; });
    return data;
  },
  bandData(series, width) {  // per-member lists -> [x, mean_1, lo_1, hi_1, mean_2, ...] on one x axis
    const S = this.seeds;
    const groups = this.labels.map((_, j) => spread(series.slice(j * S, (j + 1) * S), width));
    const xs = [...new Set(groups.flatMap((g) => g[0]))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, k) => [x, k]));
    const cols = [xs];
    for (const g of groups) {
      const c = [1, 2, 3].map(() => new Array(xs.length).fill(null));
      g[0].forEach((x, k) => { for (let q = 0; q < 3; q++) c[q][index.get(x)] = g[q + 1][k]; });
      cols.push(...c);
    }
    return cols;
  },
  onFrame(f) {
    const i = f.member;
    if (f.kind !== 'frame') { live.statusFrames += 1; this.status(i, f.status, f.message); return; }
    live.frames += 1;
    this.frames[i] += 1;
    this.total = f.total || this.total;
    $('#status').textContent = `comparison ${live.run}: ${this.frames.length} runs`;
    this.last[i] = f;
    if (f.loss !== null) this.pts[i].push([f.step, f.loss]);
    for (const e of f.evals || []) this.acc[i].set(e.epoch, e.val_acc);
    for (const arr of [this.pts[i]]) if (arr.length > 1500) arr.splice(0, arr.length, ...arr.filter((_, k) => k % 2 === 0));
    const S = this.seeds, j = Math.floor(i / S);
    if (i % S === 0) {  // the per-layer views show each configuration's first seed
      const r1 = f.layers[0].update_ratio;
      if (r1) this.ratio[j].push([f.step, r1]);
      if (this.ratio[j].length > 1500) this.ratio[j] = this.ratio[j].filter((_, k) => k % 2 === 0);
      this.charts.ratio.setData(this.aligned(this.ratio));
      this.drawHists();
    }
    const E = Math.max(0, ...this.acc.map((m) => m.size));
    const epochs = Array.from({length: E}, (_, k) => k + 1);
    if (S === 1) {
      this.charts.loss.setData(this.aligned(this.pts));
      this.charts.acc.setData([epochs, ...this.acc.map((m) => epochs.map((e) => m.get(e) ?? null))]);
    } else {
      const loss = this.bandData(this.pts, Math.max(1, Math.round(this.total / 200)));
      live.compareBands = loss;
      this.charts.loss.setData(loss);
      this.charts.acc.setData(this.bandData(this.acc.map((m) => [...m.entries()]), 1).map((c, q) => (q === 0 ? c.map((x) => x - 0.5) : c)));
    }
    const firsts = this.labels.map((_, k) => this.last[k * S]);
    const L = Math.max(...firsts.map((x) => (x ? x.layers.length : 0)));
    const col = (fn) => firsts.map((x) => Array.from({length: L}, (_, k) => (x && x.layers[k] ? fn(x.layers[k]) : null)));
    this.charts.z.setData([Array.from({length: L}, (_, k) => k + 1), ...col((l) => l.z_std), ...col((l) => l.pred_z_std)]);
    $('#compare-progress').textContent = firsts.map((x, k) => (x ? `${this.labels[k]}: step ${x.step}/${x.total}, ` +
      `loss ${fmt(x.loss, 3)}, eval acc ${pct(x.evals && x.evals.length ? x.evals[x.evals.length - 1].val_acc : null)}` +
      (S > 1 ? ` (seed ${x.seed ?? '?'}, the first of ${S})` : '') : '')).join(' · ');
  },
  // every configuration's newest histogram of each quantity, overlaid as outlines on one axis per layer
  drawHists() {
    const firsts = this.labels.map((_, k) => this.last[k * this.seeds]);
    this.hists.forEach((cells, l) => {
      for (const [q, cell] of Object.entries(cells)) {
        const hs = firsts.map((f) => (f && f.layers[l] ? f.layers[l][q] : null));
        const ctx = cell.canvas.getContext('2d');
        const W = cell.canvas.width, H = cell.canvas.height;
        ctx.clearRect(0, 0, W, H);
        const have = hs.filter((h) => h && h.hi > h.lo);
        if (!have.length) { cell.range.textContent = ''; continue; }
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
          ctx.fillStyle = alpha(COLORS[k], 0.12); ctx.fill();
          ctx.strokeStyle = COLORS[k]; ctx.lineWidth = 1.5; ctx.stroke();
        });
        cell.range.textContent = `${fmt(lo, 2)} … ${fmt(hi, 2)}`;
      }
    });
    live.compareHistDraws += 1;
  },
  status(i, s, message) {
    const label = this.labels[Math.floor(i / this.seeds)] + (this.seeds > 1 ? ` (seed ${i % this.seeds + 1} of ${this.seeds})` : '');
    if (message) showError($('#compare-error'), `${label}: ${message}`);
    $('#status').textContent = `comparison ${live.run}: run ${i + 1} ${s}`;
  },
};
async function startCompare() {
  showError($('#compare-error'), '');
  const texts = [...document.querySelectorAll('.variant')].map((e) => e.value.trim());
  let variants;
  try { variants = texts.filter((x, k) => x || k < 2).map(parseVariant); } catch (e) {
    showError($('#compare-error'), e.message); return;
  }
  const r = await api('/api/compare', {sid, settings: settingsFromForm(), variants, seeds: $('#cmp-seeds').value || '1'});
  if (r.error) { live.errors += 1; showError($('#compare-error'), r.error); return; }
  live.run = r.run;
  live.mode = 'compare';
  cmp.reset(texts.filter((x, k) => x || k < 2).map((x, k) => x || `run ${k + 1}`), r.members.map((m) => m.sizes), r.seeds || 1);
  $('#compare-formulas').innerHTML = '';
  r.members.filter((_, k) => k % (r.seeds || 1) === 0).forEach((m, k) => {
    const d = document.createElement('div');
    $('#compare-formulas').appendChild(d);
    tex(d, `\\text{${k + 1}}:\\; ${initTex(m.settings.init, m.settings.activation)}`);
  });
  for (const f of pending.get(r.run) || []) handle(f);
  pending.clear();
}
$('#btn-compare').addEventListener('click', startCompare);
$('#btn-compare-stop').addEventListener('click', () => control('stop'));
for (const b of document.querySelectorAll('.preset')) {
  b.addEventListener('click', () => {
    const v = document.querySelectorAll('.variant');
    v[0].value = b.dataset.a; v[1].value = b.dataset.b; v[2].value = ''; v[3].value = '';
    setURL();
  });
}
$('#cmp-seeds').value = params.get('seeds') || '1';
$('#cmp-seeds').addEventListener('change', setURL);
document.querySelectorAll('.variant').forEach((e, k) => {
  e.value = params.get(`v${k + 1}`) ?? (k === 0 ? 'init=he' : k === 1 ? 'init=xavier' : '');
  e.addEventListener('change', setURL);
});

// ----------------------------------------------------------------------------- paths
const paths = {
  fn: null, grid: null, start: [-7, 2], steps: 200, methods: {}, inflight: false, queued: false, contour: null,
  ready: false, fchart: null,
  async ensure() { if (!this.ready) { this.ready = true; await this.setup(); } },
  async setup() {
    const sel = $('#fn-select');
    for (const f of meta.functions) sel.add(new Option(f === 'eigen' ? 'quadratic with chosen eigenvalues' : f, f));
    sel.value = params.get('fn') || 'f2';
    this.steps = +(params.get('steps') || 200);
    $('#steps').value = this.steps;
    const box = $('#methods');
    Object.entries(meta.methods).forEach(([name, m], i) => {
      const hp = {};
      for (const k of m.settable) {
        const def = k === 'beta1' ? 0.9 : k === 'beta2' ? 0.999 : k === 'damping' ? 0 : (m.hp[k] ?? 0.9);
        hp[k] = +(params.get(`${name}.${k}`) ?? def);
      }
      const color = COLORS[i % 10];
      this.methods[name] = {on: params.get(`${name}.off`) !== '1', hp, color, label: m.label};
      const row = document.createElement('div');
      row.className = 'method';
      row.innerHTML = `<span class="swatch" style="background:${color}"></span><label><input type="checkbox"> <b>${m.label}</b></label>`;
      const cb = row.querySelector('input');
      cb.checked = this.methods[name].on;
      cb.addEventListener('change', () => { this.methods[name].on = cb.checked; this.request(); });
      for (const k of ['lr', 'momentum', 'alpha', 'beta1']) {
        if (!(k in hp)) continue;
        const log = k === 'lr';
        const sym = {lr: name === 'newton' ? 'α' : 'η', momentum: 'μ', alpha: 'ρ', beta1: 'β₁'}[k];
        const lab = document.createElement('label');
        lab.dataset.key = `${name}.${k}`;
        lab.innerHTML = `<span class="sym" style="color:${k === 'lr' ? ETA : MU}">${sym}</span>
          <input type="range" min="${log ? -3 : 0}" max="${log ? 1 : 0.999}" step="${log ? 0.01 : 0.001}"><output></output>`;
        const input = lab.querySelector('input'), out = lab.querySelector('output');
        input.value = log ? Math.log10(hp[k]) : hp[k];
        out.textContent = fmt(hp[k]);
        input.addEventListener('input', () => {
          hp[k] = log ? +Math.pow(10, +input.value).toPrecision(3) : +input.value;
          out.textContent = fmt(hp[k]);
          this.request();
        });
        row.appendChild(lab);
      }
      box.appendChild(row);
    });
    const box2 = $('#paths-formulas');
    for (const [n, m] of Object.entries(meta.methods)) {
      const d = document.createElement('div');
      box2.appendChild(d);
      tex(d, updateTex(n, m.label));
    }
    sel.addEventListener('change', () => this.loadFunction(true));
    for (const id of ['#eig1', '#eig2']) $(id).addEventListener('input', () => this.loadFunction(false));
    $('#eig1').value = Math.log10(+(params.get('l1') || 1)); $('#eig2').value = Math.log10(+(params.get('l2') || 10));
    $('#steps-out').textContent = this.steps;
    $('#steps').addEventListener('input', () => {
      this.steps = +$('#steps').value; $('#steps-out').textContent = this.steps; this.request();
    });
    const c = $('#paths-canvas');
    let dragging = false;
    const move = (ev) => {
      const r = c.getBoundingClientRect();
      const [x0, x1] = this.grid.xlim, [y0, y1] = this.grid.ylim;
      this.start = [x0 + (ev.clientX - r.left) / r.width * (x1 - x0), y1 - (ev.clientY - r.top) / r.height * (y1 - y0)];
      this.request();
    };
    c.addEventListener('pointerdown', (ev) => { dragging = true; c.setPointerCapture(ev.pointerId); move(ev); });
    c.addEventListener('pointermove', (ev) => { if (dragging) move(ev); });
    c.addEventListener('pointerup', () => { dragging = false; });
    const sx = params.get('sx'), sy = params.get('sy');
    await this.loadFunction(!(sx && sy));
    if (sx && sy) { this.start = [+sx, +sy]; this.request(); }
  },
  eig() { return [+Math.pow(10, +$('#eig1').value).toPrecision(3), +Math.pow(10, +$('#eig2').value).toPrecision(3)]; },
  async loadFunction(resetStart) {
    this.fn = $('#fn-select').value;
    $('#eig-controls').hidden = this.fn !== 'eigen';
    const [l1, l2] = this.eig();
    $('#eig1-out').textContent = fmt(l1); $('#eig2-out').textContent = fmt(l2);
    const g = await api(`/api/function?name=${this.fn}&l1=${l1}&l2=${l2}`);
    if (g.error) { showError($('#paths-error'), g.error); return; }
    this.grid = g;
    this.contour = drawContours(g);
    if (resetStart) {
      const [x0, x1] = g.xlim, [y0, y1] = g.ylim;
      this.start = this.fn === 'f1' || this.fn === 'f2' || this.fn === 'eigen' ? [-7, 2]
        : [x0 + 0.15 * (x1 - x0), y0 + 0.85 * (y1 - y0)];
    }
    this.request();
  },
  request() {
    if (!this.grid) return;
    if (this.inflight) { this.queued = true; return; }
    this.inflight = true;
    const t0 = performance.now();
    const methods = {};
    for (const [n, m] of Object.entries(this.methods)) {
      if (!m.on) continue;
      const hp = Object.assign({}, m.hp);
      if ('beta1' in hp) hp.beta2 = 0.999;
      methods[n] = hp;
    }
    live.pathRequests += 1;
    api('/api/paths', {function: this.fn, start: this.start, steps: this.steps, methods, eig: this.eig()}).then((r) => {
      if (r.error) showError($('#paths-error'), r.error);
      else {
        showError($('#paths-error'), Object.values(r.errors || {}).join('; '));
        this.draw(r);
        live.pathDraws += 1;
        live.pathLatencies.push(performance.now() - t0);
        live.pathServerMs.push(r.compute_ms);
        if (live.pathLatencies.length > 1000) { live.pathLatencies.shift(); live.pathServerMs.shift(); }
        live.lastPaths = r;
      }
      this.inflight = false;
      if (this.queued) { this.queued = false; this.request(); }
      setURL();
    });
  },
  draw(r) {
    const c = $('#paths-canvas'), ctx = c.getContext('2d'), g = this.grid, W = c.width, H = c.height;
    const [x0, x1] = g.xlim, [y0, y1] = g.ylim;
    const px = (x) => (x - x0) / (x1 - x0) * W, py = (y) => (y1 - y) / (y1 - y0) * H;
    ctx.clearRect(0, 0, W, H);
    ctx.drawImage(this.contour, 0, 0);
    for (const m of g.minima) drawStar(ctx, px(m[0]), py(m[1]));
    const lim = 1e6;
    for (const [name, path] of Object.entries(r.paths)) {
      ctx.strokeStyle = this.methods[name].color; ctx.fillStyle = ctx.strokeStyle; ctx.lineWidth = 1.6;
      ctx.beginPath();
      let pen = false;
      for (const p of path) {
        if (p[0] === null || p[1] === null || Math.abs(p[0]) > lim || Math.abs(p[1]) > lim) { pen = false; continue; }
        const X = px(p[0]), Y = py(p[1]);
        if (pen) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
        pen = true;
      }
      ctx.stroke();
      for (const p of path.slice(0, 60)) {
        if (p[0] === null || p[1] === null || Math.abs(p[0]) > lim || Math.abs(p[1]) > lim) continue;
        ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), 2, 0, 2 * Math.PI); ctx.fill();
      }
    }
    ctx.lineWidth = 2; ctx.fillStyle = '#fff'; ctx.strokeStyle = '#000';
    ctx.beginPath(); ctx.arc(px(this.start[0]), py(this.start[1]), 7, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
    ctx.lineWidth = 1;
    // f per step
    const names = Object.keys(r.f), fmin = r.f_min ?? 0;
    const n = Math.max(0, ...names.map((k) => r.f[k].length));
    const data = [Array.from({length: n}, (_, i) => i),
      ...names.map((k) => r.f[k].map((v) => (v === null || v - fmin > 1e12 ? null : Math.max(v - fmin, 1e-16))))];
    const key = names.join(',');
    if (!this.fchart || this.fchartKey !== key) {
      $('#chart-f').innerHTML = '';
      this.fchart = new uPlot({width: 420, height: 300, legend: {show: true, live: false}, cursor: {show: false},
        scales: {x: {time: false}, y: {distr: 3}}, axes: [{size: 30}, {size: 60, values: logTicks}],
        series: [{label: 'step'}, ...names.map((k) => ({label: this.methods[k].label, stroke: this.methods[k].color,
          points: {show: false}}))]}, data, $('#chart-f'));
      this.fchartKey = key;
    } else this.fchart.setData(data);
    const last = names.map((k) => `${this.methods[k].label} ${fmt(r.f[k][r.f[k].length - 1])}`).join(' · ');
    $('#paths-info').textContent = `start (${fmt(this.start[0])}, ${fmt(this.start[1])}) · ${g.name} · f after ` +
      `${this.steps} steps: ${last}`;
  },
};
function drawStar(ctx, x, y) {
  ctx.fillStyle = '#111'; ctx.font = '16px sans-serif'; ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
  ctx.fillText('★', x, y);
}
function drawContours(g) {
  // contour lines by marching squares, at levels spread by the grid values' quantiles
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

// ----------------------------------------------------------------------------- start-up
async function main() {
  meta = await api('/api/meta');
  const form = $('#train-form');
  for (const d of meta.datasets) form.elements.dataset.add(new Option(d, d));
  for (const a of meta.activations) form.elements.activation.add(new Option(a, a));
  for (const o of meta.optimizers) form.elements.optimizer.add(new Option(o, o));
  for (const s of meta.schedules) form.elements.schedule.add(new Option(s, s));
  for (const i of meta.inits) $('#init-list').appendChild(new Option(i, i));
  for (const k of TRAIN_KEYS) {
    const v = params.has(k) ? params.get(k) : (meta.defaults[k] ?? '');
    form.elements[k].value = v === null ? '' : v;
  }
  if (params.has('iterations') && !params.has('epochs')) form.elements.epochs.value = '';
  form.elements.dataset.addEventListener('change', () => {
    const toy = meta.toy[form.elements.dataset.value];
    form.elements.layers.value = toy ? `${toy.inputs},32,32,${toy.classes}` : '784,100,100,100,100,10';
    form.elements.batch_size.value = toy ? 32 : 128;
    form.elements.epochs.value = toy ? 50 : 1;
  });
  applyTeacherFlags();
  renderTrainFormulas();
  resetTrain(null);
  connect();
  showView(currentView);
  document.querySelectorAll('button[disabled]').forEach((b) => { b.disabled = false; });  // the forms are filled
  live.ready = true;
  if (params.get('autostart') === '1' && currentView === 'train') start();
  if (params.get('autostart') === '1' && currentView === 'compare') startCompare();
}
main();
})();
