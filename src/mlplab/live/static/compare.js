// The Compare view: two to four variants of the Train view's settings (`key=value` changes), trained side
// by side from the same seed on the same batches. Curves overlaid; with several seeds per configuration
// each curve is the mean with a band from the smallest to the largest seed; per layer, every
// configuration's newest histograms overlaid as densities (first seed).
import {api, replayPending, sid} from './api.js';
import {HIST_QUANTITIES, alpha, chart, drawDensities, lossScales, styled} from './charts.js';
import {$, COLORS, fmt, live, params, pct, seriesStyle, showError, showLines} from './common.js';
import {initTex, tex} from './formulas.js';
import {control, settingsFromForm} from './train.js';
import {setURL} from './url.js';

// "init=he lr=0.1" -> {init: 'he', lr: '0.1'} (dashes in keys as underscores, as the command line has them)
function parseVariant(text) {
  const out = {};
  for (const tok of text.trim().split(/\s+/).filter(Boolean)) {
    const i = tok.indexOf('=');
    if (i <= 0) throw new Error(`"${tok}": write key=value, e.g. init=xavier`);
    out[tok.slice(0, i).replace(/-/g, '_')] = tok.slice(i + 1);
  }
  return out;
}
// per-seed [x, value] lists of one configuration -> [xs, mean, lo, hi] on buckets of x (steps are
// not the same across seeds: each run frames when its own clock says so); a bucket's value per
// seed is the last one in it, and the mean / smallest / largest are over the seeds that have one
function spread(series, width) {
  // (step 0, the loss at initialization, keeps a bucket of its own at x = 0: (−0.5 + 0.5)·width)
  const key = (x) => (x === 0 ? -0.5 : Math.floor(x / width));
  const per = series.map((pts) => { const m = new Map(); for (const [x, v] of pts) if (v !== null) m.set(key(x), v); return m; });
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

// members are numbered configuration by configuration: member i is configuration ⌊i / seeds⌋
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
    this.charts = this.makeCharts(labels, seeds);
    this.hists = this.makeHistRows(Math.max(...sizes.map((s) => s.length - 1)));
    $('#compare-progress').textContent = '';
  },
  makeCharts(labels, seeds) {
    const per = (extra = {}) => labels.map((l, i) => styled(i, Object.assign({label: l, spanGaps: true,
      points: {show: false}}, extra)));
    // with several seeds each configuration has three series: mean, smallest, largest (a band between them)
    const banded = (extra = {}) => (seeds === 1 ? per(extra) : labels.flatMap((l, i) => [
      styled(i, Object.assign({label: `${l} (mean of ${seeds})`, width: 2, spanGaps: true, points: {show: false}}, extra)),
      {label: 'min', stroke: alpha(COLORS[i], 0.35), width: 1, spanGaps: true, points: {show: false}, band: true},
      {label: 'max', stroke: alpha(COLORS[i], 0.35), width: 1, spanGaps: true, points: {show: false}, band: true}]));
    const bands = seeds === 1 ? [] : labels.map((_, i) => ({series: [3 * i + 3, 3 * i + 2], fill: alpha(COLORS[i], 0.15)}));
    return {
      loss: this.lossChart(banded(), bands),
      acc: chart($('#chart-cmp-acc'), banded({points: {show: true, size: 5}}), {xlabel: 'epoch', bands}),
      z: chart($('#chart-cmp-z'), [...per({points: {show: true, size: 6}}),
        ...labels.map((l, i) => styled(i, {label: `${l} (theory)`, dash: [...seriesStyle(i).dash, 1, 4], width: 2,
          points: {show: false}}))],
      {xlabel: 'layer', scales: {y: {distr: 3}}}),
      ratio: chart($('#chart-cmp-ratio'), per(), {scales: {y: {distr: 3}}}),
    };
  },
  // the loss per run, linear or log; a run whose loss explodes is clipped at 4 × the largest first loss
  lossChart(series, bands) {
    this.lossSpec = [series, bands];
    const cap = () => 4 * Math.max(...this.pts.map((p) => (p.length && Number.isFinite(p[0][1]) ? p[0][1] : 0)));
    return chart($('#chart-cmp-loss'), series, {bands, scales: lossScales(() => $('#cmp-loss-log').checked, cap)});
  },
  relog() {
    if (!this.charts) return;
    this.charts.loss.destroy(); $('#chart-cmp-loss').innerHTML = '';
    this.charts.loss = this.lossChart(...this.lossSpec);
    this.drawCurves();
  },
  makeHistRows(layers) {  // one row per layer, one canvas per quantity
    const rows = [];
    for (let l = 0; l < layers; l++) {
      const row = document.createElement('div');
      row.className = 'cmp-hist-row';
      row.innerHTML = `<span class="label">layer ${l + 1}</span>`;
      const cells = {};
      for (const [q, name] of HIST_QUANTITIES) {
        const fig = document.createElement('div');
        fig.className = 'hist';
        fig.innerHTML = `<div class="label"><span>${name}</span><span class="range"></span></div><canvas width="300" height="80"></canvas>`;
        row.appendChild(fig);
        cells[q] = {canvas: fig.querySelector('canvas'), range: fig.querySelector('.range')};
      }
      $('#cmp-hists').appendChild(row);
      rows.push(cells);
    }
    return rows;
  },
  aligned(series) {  // per-run [step, value] lists -> uPlot's columns on the union of steps (each step once)
    const rows = [];
    series.forEach((pts, i) => pts.forEach(([x, v]) => rows.push([x, i, v])));
    rows.sort((a, b) => a[0] - b[0]);
    const xs = [...new Set(rows.map((r) => r[0]))], index = new Map(xs.map((x, k) => [x, k]));
    const data = [xs, ...series.map(() => new Array(xs.length).fill(null))];
    rows.forEach((r) => { data[r[1] + 1][index.get(r[0])] = r[2]; });
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
    if (f.kind !== 'frame') { live.statusFrames += 1; this.status(i, f.status, f.message); refreshCompareExplain(); return; }
    live.frames += 1;
    this.frames[i] += 1;
    this.total = f.total || this.total;
    $('#status').textContent = `comparison ${live.run}: ${this.frames.length} runs`;
    this.last[i] = f;
    // the curve starts at step 0 with the loss at initialization (the first step's, which the frames
    // after it carry), not at the first frame's step (a hundred steps or more in on a busy machine)
    if (f.initial_loss != null && !(this.pts[i].length && this.pts[i][0][0] === 0)) this.pts[i].unshift([0, f.initial_loss]);
    if (f.loss !== null && f.step > 0) this.pts[i].push([f.step, f.loss]);
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
    this.drawCurves();
    this.drawLayersAndProgress();
  },
  drawCurves() {  // loss per step and evaluation accuracy per epoch: one line per run, or mean and band
    const S = this.seeds;
    const E = Math.max(0, ...this.acc.map((m) => m.size));
    const epochs = Array.from({length: E}, (_, k) => k + 1);
    if (S === 1) {
      this.charts.loss.setData(live.compareLoss = this.aligned(this.pts));
      this.charts.acc.setData([epochs, ...this.acc.map((m) => epochs.map((e) => m.get(e) ?? null))]);
    } else {
      const loss = this.bandData(this.pts, Math.max(1, Math.round(this.total / 200)));
      live.compareBands = loss;
      this.charts.loss.setData(loss);
      this.charts.acc.setData(this.bandData(this.acc.map((m) => [...m.entries()]), 1).map((c, q) => (q === 0 ? c.map((x) => x - 0.5) : c)));
    }
  },
  drawLayersAndProgress() {  // each configuration's first seed: std of z per layer (and theory), progress line
    const S = this.seeds;
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
        drawDensities(cell, firsts.map((f) => (f && f.layers[l] ? f.layers[l][q] : null)));
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
// the server's sentences on the comparison (mlplab.live.explain.compare_notes): at the start, on a
// member's change of state and every 3 s while it runs
let explaining = false;
async function refreshCompareExplain() {
  if (explaining || live.mode !== 'compare') return;
  explaining = true;
  const r = await api('/api/explain', {sid, view: 'compare'});
  explaining = false;
  if (!r.error) { showLines($('#compare-explain'), r.lines); live.compareExplain = r.lines; }
}
setInterval(() => { if (live.mode === 'compare' && live.ready && !document.hidden) refreshCompareExplain(); }, 3000);

// a message of the tab's comparison: a frame or a status change of one member
export function onCompareMessage(f) { cmp.onFrame(f); }

export async function startCompare(paused = false) {
  showError($('#compare-error'), '');
  $('#btn-compare').disabled = true;
  try { return await startComparison(paused); } finally { $('#btn-compare').disabled = false; }
}
async function startComparison(paused) {
  const texts = [...document.querySelectorAll('.variant')].map((e) => e.value.trim());
  let variants;
  try { variants = texts.filter((x, k) => x || k < 2).map(parseVariant); } catch (e) {
    showError($('#compare-error'), e.message); return;
  }
  $('#status').textContent = 'starting…';
  const r = await api('/api/compare', {sid, settings: settingsFromForm(), variants, seeds: $('#cmp-seeds').value || '1',
    paused});
  if (r.error) { live.errors += 1; showError($('#compare-error'), r.error); return false; }
  live.run = r.run;
  live.mode = 'compare';
  cmp.reset(texts.filter((x, k) => x || k < 2).map((x, k) => x || `run ${k + 1}`), r.members.map((m) => m.sizes), r.seeds || 1);
  $('#compare-formulas').innerHTML = '';
  r.members.filter((_, k) => k % (r.seeds || 1) === 0).forEach((m, k) => {
    const d = document.createElement('div');
    d.className = 'formula';
    $('#compare-formulas').appendChild(d);
    tex(d, `\\text{${k + 1}}:\\; ${initTex(m.settings.init, m.settings.activation)}`);
  });
  replayPending(r.run);
  refreshCompareExplain();
  setPaused(paused);
  return true;
}

// Pause / Resume and Step act on every run of the comparison at once, so they stay step for step paired
// (Step on no comparison starts one frozen at initialization, then takes one step)
function setPaused(p) { cmp.paused = p; live.comparePaused = p; $('#btn-compare-pause').textContent = p ? 'Resume' : 'Pause'; }
async function compareStep() {
  if (!live.run || live.mode !== 'compare') { if (!(await startCompare(true))) return; }
  setPaused(true);
  await control('step');
}

// a reloaded page: the tab's comparison, as /api/state describes it (its frames follow on the stream)
export function reattachCompare(r) {
  cmp.reset(r.labels.length ? r.labels : r.members.filter((_, k) => k % r.seeds === 0).map((_, k) => `run ${k + 1}`),
    r.members.map((m) => m.sizes), r.seeds || 1);
  refreshCompareExplain();
}

export function writeCompareURL(p) {
  document.querySelectorAll('.variant').forEach((e, k) => { if (e.value) p.set(`v${k + 1}`, e.value); else p.delete(`v${k + 1}`); });
  const seeds = $('#cmp-seeds').value;
  if (seeds && seeds !== '1') p.set('seeds', seeds); else p.delete('seeds');
}

// the variants and seeds from the URL (else He vs Xavier, one seed), the presets and buttons
export function bindCompareControls() {
  $('#btn-compare').addEventListener('click', () => startCompare());
  $('#btn-compare-stop').addEventListener('click', () => control('stop'));
  $('#btn-compare-pause').addEventListener('click', async () => {
    if (!live.run || live.mode !== 'compare') return;
    const resume = cmp.paused;
    await control(resume ? 'resume' : 'pause');
    setPaused(!resume);
  });
  $('#btn-compare-step').addEventListener('click', compareStep);
  for (const b of document.querySelectorAll('.preset')) {
    b.addEventListener('click', () => {
      const v = document.querySelectorAll('.variant');
      v[0].value = b.dataset.a; v[1].value = b.dataset.b; v[2].value = b.dataset.c || ''; v[3].value = '';
      setURL();
    });
  }
  $('#cmp-loss-log').addEventListener('change', () => cmp.relog());
  $('#cmp-seeds').value = params.get('seeds') || '1';
  $('#cmp-seeds').addEventListener('change', setURL);
  document.querySelectorAll('.variant').forEach((e, k) => {
    e.value = params.get(`v${k + 1}`) ?? (k === 0 ? 'init=he' : k === 1 ? 'init=xavier' : '');
    e.addEventListener('change', setURL);
  });
}
