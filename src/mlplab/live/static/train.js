// The Train view: one run of the settings form, with Start / Pause / Step / Reset / Export. Each frame
// draws the loss and accuracy curves, the update-to-weight ratio per layer, the measured spread of z
// against the mean-field prediction, and per layer the histograms over time of z, φ(z), ∂L/∂W and W
// with the verdict `mlplab diagnose` gives.
import {api, replayPending, sid} from './api.js';
import {HIST_QUANTITIES, chart, drawHist, lossScales, styled} from './charts.js';
import {$, COLORS, fmt, live, params, pct, showError, showLines} from './common.js';
import {MEAN_FIELD_TEX, initTex, tex, updateTex} from './formulas.js';
import {setURL} from './url.js';
import {drawPair, drawStepAxis, resetViz, setDrawing, vizFrame} from './trainviz.js';

const TRAIN_KEYS = ['dataset', 'layers', 'activation', 'init', 'optimizer', 'lr', 'momentum', 'weight_decay', 'batch_size',
  'epochs', 'iterations', 'schedule', 'seed'];
const HIST_COLS = 120;  // frames kept per histogram strip
const T = {layers: [], evalSeen: new Set(), changes: []};  // the charts, their data and the layers' strips (resetTrain)
const SYM = {lr: 'η', momentum: 'μ', weight_decay: 'wd'};
// the changes of η, μ, weight decay made during the run, as marks on the step charts
const marks = () => T.changes.map((c) => ({x: c.step, label: `${SYM[c.key]} ${fmt(c.value)}`}));

export function settingsFromForm() {
  const form = $('#train-form'), s = {};
  for (const k of TRAIN_KEYS) s[k] = form.elements[k].value;
  return s;
}
export function writeTrainURL(p) {
  const form = $('#train-form');
  for (const k of TRAIN_KEYS) { const v = form.elements[k].value; if (v !== '') p.set(k, v); else p.delete(k); }
}

// the choices come from the server (/api/meta), the values from the URL, else the server's defaults
export function fillTrainForm(meta) {
  const form = $('#train-form');
  for (const d of meta.datasets) form.elements.dataset.add(new Option(d, d));
  for (const a of meta.activations) form.elements.activation.add(new Option(a, a));
  for (const o of meta.optimizers) form.elements.optimizer.add(new Option((meta.optimizer_labels || {})[o] || o, o));
  for (const s of meta.schedules) form.elements.schedule.add(new Option(s, s));
  for (const i of meta.inits) $('#init-list').appendChild(new Option(i, i));
  for (const k of TRAIN_KEYS) {
    const v = params.has(k) ? params.get(k) : (meta.defaults[k] ?? '');
    form.elements[k].value = v === null ? '' : v;
  }
  if (params.has('iterations') && !params.has('epochs')) form.elements.epochs.value = '';
  form.elements.dataset.addEventListener('change', () => {  // a network that fits the chosen data
    const toy = meta.toy[form.elements.dataset.value];
    form.elements.layers.value = toy ? `${toy.inputs},32,32,${toy.classes}` : '784,100,100,100,100,10';
    form.elements.batch_size.value = toy ? 32 : 128;
    form.elements.epochs.value = toy ? 50 : 1;
  });
}

export function renderTrainFormulas() {
  const f = $('#train-form').elements;
  tex($('#formula-update'), updateTex(f.optimizer.value));
  tex($('#formula-init'), initTex(f.init.value, f.activation.value));
  tex($('#formula-meanfield'), MEAN_FIELD_TEX);
}

// ----------------------------------------------------------------------------- charts and layers
export function resetTrain(sizes) {
  for (const id of ['#chart-loss', '#chart-acc', '#chart-ratio', '#chart-meanfield']) $(id).innerHTML = '';
  const nl = sizes ? sizes.length - 1 : 0;
  T.lossData = [[], [], []];
  T.accData = [[], [], []];
  T.ratioData = [[], ...Array.from({length: nl}, () => [])];
  T.evalSeen = new Set();
  T.changes = [];
  T.loss = lossChart();
  T.acc = chart($('#chart-acc'), [styled(0, {label: 'train', points: {show: true, size: 5}}),
    styled(1, {label: 'eval', points: {show: true, size: 5}})],
    {xlabel: 'epoch'});
  T.ratio = chart($('#chart-ratio'), Array.from({length: nl}, (_, i) => styled(i, {label: `L${i + 1}`,
    spanGaps: true, points: {show: false}})), {scales: {y: {distr: 3}}, marks});
  T.mf = chart($('#chart-meanfield'), [styled(0, {label: 'measured std z', points: {show: true, size: 7}}),
    styled(4, {label: 'mean-field at init', dash: [6, 4], points: {show: true, size: 7}})],
    {xlabel: 'layer', scales: {y: {distr: 3}}});
  $('#layers').innerHTML = '';
  T.layers = [];
  resetViz();
  showError($('#divergence'), '');
  $('#progress').textContent = '';
}
// the loss chart (linear or log, the box above it); clipped at 4 × the first training loss
function lossChart() {
  const first = () => { const v = T.lossData[1].find((x) => x !== null && Number.isFinite(x)); return v ? 4 * v : NaN; };
  return chart($('#chart-loss'), [styled(0, {label: 'train', spanGaps: true, points: {show: false}}),
    styled(1, {label: 'eval', width: 0, points: {show: true, size: 6, fill: COLORS[1]}})],
  {marks, scales: lossScales(() => $('#loss-log').checked, first)});
}
function decimate(data) {
  // keep the page's history bounded: drop every other training point, keep every evaluation point
  const keep = data[0].map((_, i) => data[2][i] !== null || i % 2 === 0 || i === data[0].length - 1);
  return data.map((col) => col.filter((_, i) => keep[i]));
}
function makeLayer(i, info) {
  const el = document.createElement('div');
  el.className = 'layer';
  el.innerHTML = `<div class="layer-head"><strong>layer ${i + 1}</strong><span>${info.shape[0]}→${info.shape[1]} ${info.activation}</span>
    <span class="verdict"></span><span class="stats"></span></div><div class="hists"></div>`;
  const hists = {};
  for (const [q, label] of HIST_QUANTITIES) {
    const h = document.createElement('div');
    h.className = 'hist';
    h.innerHTML = `<div class="label"><span>${label}</span><span class="range"></span></div><canvas width="240" height="80"></canvas>
      <div class="step-axis" title="steps of the oldest, middle and newest column"><span></span><span></span><span></span></div>
      <div class="pair-box" hidden><div class="label"><span>init vs now</span><span class="pair-legend"></span></div>
      <canvas class="pair" width="240" height="80"></canvas></div>`;
    el.querySelector('.hists').appendChild(h);
    hists[q] = {canvas: h.querySelector('canvas'), range: h.querySelector('.range'), cols: [], steps: [],
      axis: h.querySelector('.step-axis'), pair: h.querySelector('canvas.pair'), pairBox: h.querySelector('.pair-box'),
      pairLegend: h.querySelector('.pair-legend')};
  }
  el.hists = hists;
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

// ----------------------------------------------------------------------------- one frame
function countFrame() {  // returns now; live.frameTimes keeps the last 2 s of arrivals (frames/s)
  live.frames += 1;
  const now = performance.now();
  live.frameTimes.push(now);
  while (live.frameTimes.length && now - live.frameTimes[0] > 2000) live.frameTimes.shift();
  return now;
}
function drawCurves(f) {
  if (f.changes && f.changes.length !== T.changes.length) { T.changes = f.changes; live.changes = f.changes; }
  if (f.initial_loss != null && T.lossData[0][0] !== 0) {  // the curve starts at step 0, at the loss at W_0
    T.lossData[0].unshift(0); T.lossData[1].unshift(f.initial_loss); T.lossData[2].unshift(null);
  }
  if (f.loss !== null && f.loss !== undefined && f.step > 0) {
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
  T.loss.setData(live.trainLoss = T.lossData);
  T.acc.setData(T.accData);
  if (f.layers.some((l) => l.update_ratio !== null)) {
    T.ratioData[0].push(f.step);
    f.layers.forEach((l, i) => T.ratioData[i + 1].push(l.update_ratio > 0 ? l.update_ratio : null));
    if (T.ratioData[0].length > 3000) T.ratioData = T.ratioData.map((c) => c.filter((_, i) => i % 2 === 0));
    T.ratio.setData(T.ratioData);
  }
  T.mf.setData([f.layers.map((_, i) => i + 1), f.layers.map((l) => l.z_std), f.layers.map((l) => l.pred_z_std)]);
}
const BOUNDED = {sigmoid: [0, 1], tanh: [-1, 1]};  // activations drawn on their whole range
function drawLayers(f) {
  f.layers.forEach((l, i) => {
    if (!T.layers[i]) T.layers[i] = makeLayer(i, l);
    const L = T.layers[i];
    for (const [q] of HIST_QUANTITIES) {
      const h = L.hists[q];
      if (l[q]) {
        h.cols.push(l[q]); h.steps.push(f.step);
        if (h.cols.length > HIST_COLS) { h.cols.shift(); h.steps.shift(); }
      }
      drawHist(h, q === 'z' ? l.pred_z_std : null, q === 'a' ? BOUNDED[l.activation] : null);
      drawStepAxis(h);
      drawPair(h, i, q, l[q], f.step);
    }
    showVerdict(L.verdict, l.verdict, l.reason);
    L.stats.textContent = `std z ${fmt(l.z_std)} (theory at init ${fmt(l.pred_z_std)}) · dead ${pct(l.dead)} · ` +
      `saturated ${pct(l.saturated)} · ‖ΔW‖/‖W‖ ${fmt(l.update_ratio)} · ‖∂L/∂W‖ ${fmt(l.grad_norm)}` +
      (l.reason ? ` — ${l.reason}` : '');
  });
}
function onFrame(f) {
  const now = countFrame();
  live.lastFrame = f;
  vizFrame(f);
  drawCurves(f);
  drawLayers(f);
  const fps = live.frameTimes.length > 1 ? (live.frameTimes.length - 1) / ((now - live.frameTimes[0]) / 1000) : 0;
  const speed = f.elapsed > 0 ? f.step / f.elapsed : 0;
  $('#progress').textContent = `step ${f.step} / ${f.total} · epoch ${f.epoch} · loss ${fmt(f.loss, 4)} · ` +
    `probe-batch accuracy ${pct(f.probe_acc)} · ${speed.toFixed(0)} steps/s · ${fps.toFixed(1)} frames/s`;
  setStatus(f.status);
}
export function setStatus(s, message) {
  if (s !== live.status && live.mode !== 'compare') refreshExplain();
  live.status = s;
  $('#status').textContent = s ? `run ${live.run || ''}: ${s}` : 'ready';
  $('#btn-pause').textContent = s === 'paused' ? 'Resume' : 'Pause';
  if (message && (s === 'diverged' || s === 'error')) showError($('#divergence'), message);
}
// a message of the tab's training run: a frame, or a change of status (paused, done, diverged, ...)
export function onTrainMessage(f) {
  if (f.kind === 'frame') onFrame(f);
  else { live.statusFrames += 1; setStatus(f.status, f.message); }
}

// ----------------------------------------------------------------------------- what to look for
// the server's sentences for this setting and the run's newest readings (mlplab.live.explain): asked
// when the form changes, a run starts or changes state, and every 3 s while it runs (not per frame)
let explaining = false;
export async function refreshExplain() {
  if (explaining) return;
  explaining = true;
  const r = await api('/api/explain', {sid, view: 'train', settings: settingsFromForm()});
  explaining = false;
  if (!r.error) { showLines($('#train-explain'), r.lines); live.trainExplain = r.lines; showTheory(r.theory); }
}
// χ₁, the phase and ξ_c of the setting, beside the layers' histograms (computed by mlplab.theory on the server)
function showTheory(t) {
  const el = $('#train-theory');
  live.theory = t || null;
  el.hidden = !t;
  if (!t) { el.textContent = ''; return; }
  const xi = t.phase === 'critical' ? '∞' : t.xi_c === null ? '—' : fmt(t.xi_c);
  el.innerHTML = '';
  const head = document.createElement('strong');
  head.className = `phase ${t.phase}`;
  head.textContent = `χ₁ = ${fmt(t.chi_1 ?? NaN)} · ${t.phase} · ξ_c = ${xi}`;
  el.append(head, ` — ${t.text}`);
}

// ----------------------------------------------------------------------------- buttons
export async function start(paused = false) {
  showError($('#train-error'), '');
  $('#train-note').hidden = true;
  // a large network takes a while to build: say so, and take no second Start meanwhile
  $('#btn-start').disabled = true;
  $('#status').textContent = 'starting…';
  live.starting = true;
  const r = await api('/api/train', {sid, settings: settingsFromForm(), paused});
  $('#btn-start').disabled = false;
  live.starting = false;
  if (r.error) { live.errors += 1; showError($('#train-error'), r.error); setStatus(live.status); return false; }
  live.run = r.run;
  live.mode = 'train';
  resetTrain(r.sizes);
  setDrawing(r);
  setStatus(paused ? 'ready' : 'running');
  replayPending(r.run);
  return true;
}
export async function control(action) {
  const r = await api('/api/control', {sid, action});
  if (r.error) showError($('#train-error'), r.error); else setStatus(r.status);
}
// a new η, μ or weight decay for the run going on: it takes hold after its next step (the server says which)
async function changeSetting(key, value) {
  const r = await api('/api/set', {sid, key, value});
  if (r.error) { showError($('#train-error'), r.error); return; }
  showError($('#train-error'), '');
  const note = $('#train-note');
  note.hidden = false;
  note.textContent = `${SYM[key]} → ${value} from the next step (after step ${r.step} or so; the charts mark where).`;
}

// a reloaded page: the tab's run, as /api/state describes it (its frames follow on the stream)
export function reattachTrain(r) {
  resetTrain(r.sizes);
  setDrawing(r);
  setStatus(r.status);
}
async function exportRun() {
  const r = await api('/api/export', {sid});
  if (r.error) { showError($('#train-error'), r.error); return; }
  const note = $('#train-note');
  note.hidden = false;
  live.exported = r;
  note.textContent = `${r.status === 'done' ? 'The run' : `The ${r.status} run (step ${r.step})`} is written to ${r.out}/ ` +
    `(the server's folder is ${r.root}): ${r.files.join(', ')}. The same run from the command line, into a new ` +
    `folder: ${r.command}`;
}
export function bindTrainControls() {
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
  $('#btn-export').addEventListener('click', exportRun);
  $('#hist-init').addEventListener('change', () => {  // the pairs alone are redrawn (the strips have this frame already)
    const f = live.lastFrame;
    if (!f || live.mode === 'compare') return;
    f.layers.forEach((l, i) => { if (T.layers[i]) for (const [q] of HIST_QUANTITIES) drawPair(T.layers[i].hists[q], i, q, l[q], f.step); });
  });
  $('#loss-log').addEventListener('change', () => {  // a new chart on the other scale, with the same data
    T.loss.destroy(); $('#chart-loss').innerHTML = ''; T.loss = lossChart(); T.loss.setData(T.lossData);
  });
  $('#train-form').addEventListener('change', (ev) => {
    renderTrainFormulas(); setURL(); refreshExplain();
    const key = ev.target && ev.target.name;
    if (['lr', 'momentum', 'weight_decay'].includes(key) && live.run && live.mode !== 'compare'
        && ['running', 'paused'].includes(live.status) && ev.target.value.trim() !== '') changeSetting(key, ev.target.value);
  });
  setInterval(() => { if (live.status === 'running' && live.mode !== 'compare' && live.ready) refreshExplain(); }, 3000);
}
