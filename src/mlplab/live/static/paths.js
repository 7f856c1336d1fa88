// The Paths view: a 2-D test function (F1, F2, Rosenbrock, the saddle, a quadratic with chosen
// eigenvalues) as contour lines. Drag the start point or move a slider and every optimizer, Newton's
// method too, is recomputed by the server (the library's own optimizers) and redrawn at once, with
// f(θ_k) − f* per step. One request at a time: changes made meanwhile are sent together when it returns.
import {api} from './api.js';
import {drawContours, drawStar, edgeAxes, stepLogChart} from './charts.js';
import {$, fmt, live, params, seriesStyle, showError} from './common.js';
import {ETA, MU, tex, updateTex} from './formulas.js';
import {setURL} from './url.js';

const SLIDERS = ['lr', 'momentum', 'alpha', 'beta1'];  // the hyperparameters with a slider, when settable
const SLIDER_NAMES = {lr: 'learning rate', momentum: 'momentum', alpha: 'decay rate rho', beta1: 'beta 1'};

const paths = {
  fn: null, grid: null, start: [-7, 2], steps: 200, methods: {}, inflight: false, queued: false, contour: null,
  ready: false, fchart: null, meta: null,
  async ensure(meta) { if (!this.ready) { this.ready = true; this.meta = meta; await this.setup(); } },
  async setup() {
    const sel = $('#fn-select');
    for (const f of this.meta.functions) sel.add(new Option(f === 'eigen' ? 'quadratic with chosen eigenvalues' : f, f));
    sel.value = params.get('fn') || 'f2';
    this.steps = +(params.get('steps') || this.defaults(sel.value).steps);
    $('#steps').value = this.steps;
    Object.entries(this.meta.methods).forEach(([name, m], i) => {
      $('#methods').appendChild(this.methodRow(name, m, seriesStyle(i)));
    });
    for (const [n, m] of Object.entries(this.meta.methods)) {
      const d = document.createElement('div');
      $('#paths-formulas').appendChild(d);
      tex(d, updateTex(n, m.label));
    }
    sel.addEventListener('change', () => this.loadFunction(true, true));
    for (const id of ['#eig1', '#eig2']) $(id).addEventListener('input', () => this.loadFunction(false, false));
    $('#eig1').value = Math.log10(+(params.get('l1') || 1)); $('#eig2').value = Math.log10(+(params.get('l2') || 10));
    $('#steps-out').textContent = this.steps;
    $('#steps').addEventListener('input', () => {
      this.steps = +$('#steps').value; $('#steps-out').textContent = this.steps; this.request();
    });
    this.bindDrag($('#paths-canvas'));
    $('#rate-method').addEventListener('change', () => this.drawRateMap());
    const sx = params.get('sx'), sy = params.get('sy');
    await this.loadFunction(!(sx && sy), false);
    if (sx && sy) { this.start = [+sx, +sy]; this.request(); }
  },
  // one optimizer: an on/off box in its colour and a slider per hyperparameter (values from the URL)
  methodRow(name, m, style) {
    const color = style.stroke;
    const hp = {};
    for (const k of m.settable) {
      const def = k === 'beta1' ? 0.9 : k === 'beta2' ? 0.999 : k === 'damping' ? 0 : (m.hp[k] ?? 0.9);
      hp[k] = +(params.get(`${name}.${k}`) ?? this.defaults($('#fn-select').value).hp[name][k] ?? def);
    }
    this.methods[name] = {on: params.get(`${name}.off`) !== '1', hp, color, dash: style.dash, label: m.label, set: {}};
    const row = document.createElement('div');
    row.className = 'method';
    row.innerHTML = `<svg class="swatch" width="18" height="10" aria-hidden="true"><line x1="0" y1="5" x2="18" y2="5"
      stroke="${color}" stroke-width="3" stroke-dasharray="${style.dash.join(' ')}"/></svg><label><input type="checkbox"> <b>${m.label}</b></label>`;
    const cb = row.querySelector('input');
    cb.checked = this.methods[name].on;
    cb.addEventListener('change', () => { this.methods[name].on = cb.checked; this.request(); });
    for (const k of SLIDERS) if (k in hp) row.appendChild(this.slider(name, k, hp));
    return row;
  },
  // the step size on a log scale (10^-3 .. 10), the others linear in [0, 0.999]; the symbol in its formula colour
  slider(name, k, hp) {
    const log = k === 'lr';
    const sym = {lr: name === 'newton' ? 'α' : 'η', momentum: 'μ', alpha: 'ρ', beta1: 'β₁'}[k];
    const lab = document.createElement('label');
    lab.dataset.key = `${name}.${k}`;
    lab.innerHTML = `<span class="sym" style="color:${k === 'lr' ? ETA : MU}">${sym}</span>
      <span class="slot"><input type="range" min="${log ? -3 : 0}" max="${log ? 1 : 0.999}" step="${log ? 0.01 : 0.001}">` +
      `${log ? '<span class="bound" hidden></span>' : ''}</span><output></output>`;
    const input = lab.querySelector('input'), out = lab.querySelector('output');
    input.value = log ? Math.log10(hp[k]) : hp[k];
    // a screen reader reads the value itself ("SGD learning rate 0.1"), not the slider's log10
    input.setAttribute('aria-label', `${this.methods[name].label} ${SLIDER_NAMES[k]}`);
    const show = () => { out.textContent = fmt(hp[k]); input.setAttribute('aria-valuetext', fmt(hp[k])); };
    show();
    input.addEventListener('input', () => {
      hp[k] = log ? +Math.pow(10, +input.value).toPrecision(3) : +input.value;
      show();
      this.request();
    });
    // the function's own setting, when another function is chosen
    this.methods[name].set[k] = (v) => { hp[k] = v; input.value = log ? Math.log10(v) : v; show(); };
    return lab;
  },
  bindDrag(c) {  // press, drag or click on the canvas: the start point follows; or the arrow keys move it
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
    // arrow keys: 2 % of the plotted range per press (Shift: 10 %), kept inside the range
    const KEYS = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1]};
    c.addEventListener('keydown', (ev) => {
      const d = KEYS[ev.key];
      if (!d || !this.grid) return;
      ev.preventDefault();
      const f = ev.shiftKey ? 0.1 : 0.02, lims = [this.grid.xlim, this.grid.ylim];
      this.start = this.start.map((v, i) => Math.min(lims[i][1], Math.max(lims[i][0], v + d[i] * f * (lims[i][1] - lims[i][0]))));
      this.request();
    });
  },
  eig() { return [+Math.pow(10, +$('#eig1').value).toPrecision(3), +Math.pow(10, +$('#eig2').value).toPrecision(3)]; },
  defaults(fn) { return this.meta.function_defaults[fn]; },
  // the function's grid (contour lines); if asked, its usual start, and its own steps and settings
  async loadFunction(resetStart, resetSettings) {
    this.fn = $('#fn-select').value;
    const d = this.defaults(this.fn);
    tex($('#fn-formula'), d.formula);
    if (resetSettings) {
      this.steps = d.steps; $('#steps').value = d.steps; $('#steps-out').textContent = d.steps;
      for (const [name, m] of Object.entries(this.methods)) {
        for (const [k, v] of Object.entries(d.hp[name] || {})) if (m.set[k]) m.set[k](v);
      }
    }
    $('#eig-controls').hidden = this.fn !== 'eigen';
    const [l1, l2] = this.eig();
    $('#eig1-out').textContent = fmt(l1); $('#eig2-out').textContent = fmt(l2);
    $('#eig1').setAttribute('aria-valuetext', fmt(l1)); $('#eig2').setAttribute('aria-valuetext', fmt(l2));
    const g = await api(`/api/function?name=${this.fn}&l1=${l1}&l2=${l2}`);
    if (g.error) { showError($('#paths-error'), g.error); return; }
    this.grid = g;
    this.contour = drawContours(g);
    this.rateImage = null;
    $('#rate-fig').hidden = !g.rate_maps;
    if (resetStart) this.start = d.start.slice();
    this.request();
  },
  request() {  // every optimizer that is on, from this.start; live.pathLatencies: request to drawn, in ms
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
    this.drawPaths(r);
    this.drawValues(r);
    this.drawExplain(r);
    this.drawRateMap();
    this.drawEigen(r);
  },
  // Distill's eigen-components (paths.eigen_split, exact on a quadratic): |u_iᵀ(θ_k − θ*)| per step, one chart
  // per eigenvalue, each optimizer in its colour; elsewhere a line says why there is none
  drawEigen(r) {
    const box = $('#eigen-box'), absent = $('#eigen-absent'), e = r.eigen;
    live.eigen = e || null;
    if (!e) {
      box.hidden = true; absent.hidden = false;
      absent.textContent = `The error split into eigen-components is not drawn: ${r.eigen_absent}.`;
      return;
    }
    box.hidden = false; absent.hidden = true;
    const names = Object.keys(e.components), lam = e.eigenvalues, key = names.join(',');
    const n = Math.max(0, ...names.map((k) => e.components[k][0].length));
    const WHY = ['the flattest direction: plain gradient steps are slowest here', 'the steepest direction: the first to oscillate or diverge'];
    if (this.eigKey !== key) { this.eigCharts = []; this.eigKey = key; }
    lam.forEach((l, i) => {
      $(`#eig-cap-${i}`).textContent = `|u${i + 1}ᵀ(θ_k − θ*)|, the error along the eigenvector of λ${i + 1} = ${fmt(l)} ` +
        `(${WHY[i] || ''}), per step, log scale`;
      const data = [Array.from({length: n}, (_, k) => k),
        ...names.map((k) => e.components[k][i].map((v) => (v === null ? null : Math.max(v, 1e-16))))];
      if (!this.eigCharts[i]) {
        $(`#chart-eig${i}`).innerHTML = '';
        this.eigCharts[i] = stepLogChart($(`#chart-eig${i}`), names.map((k) => ({label: this.methods[k].label,
          stroke: this.methods[k].color, dash: this.methods[k].dash.length ? this.methods[k].dash : undefined,
          points: {show: false}})), data, 220);
      } else this.eigCharts[i].setData(data);
    });
    $('#eigen-words').textContent = names.map((k) => `${this.methods[k].label}: ` +
      e.behaviour[k].map((b, i) => `along λ${i + 1} ${b}`).join(', ')).join(' · ');
  },
  // Distill's (η, μ) picture on a quadratic (paths.rate_map, exact): the map is made once per function
  // and method, then each redraw puts it back and marks the sliders' (η, μ)
  drawRateMap() {
    const g = this.grid, method = $('#rate-method').value;
    if (!g || !g.rate_maps) return;
    // the plot box: x from L to L + w (η from 1e-3 to 10, log scale), y from 0 to h (μ from 0.99 to 0); the
    // margins hold the labels (R: half of the last η label)
    const c = $('#rate-canvas'), ctx = c.getContext('2d'), W = c.width, H = c.height, L = 44, B = 30, R = 14;
    const map = g.rate_maps[method], w = W - L - R, h = H - B, ETA = [1e-3, 10], MU = 0.99;
    const X = (eta) => L + (Math.log10(eta) + 3) / 4 * w, Y = (mu) => h - mu / MU * h;
    if (!this.rateImage || this.rateImageKey !== method) {
      const img = ctx.createImageData(w, h), nx = map.eta.length, ny = map.mu.length;
      for (let y = 0; y < h; y++) {
        const i = Math.min(ny - 1, Math.floor((1 - (y + 0.5) / h) * ny));
        for (let x = 0; x < w; x++) {
          const j = Math.min(nx - 1, Math.floor((x + 0.5) / w * nx));
          const k = map.kind[i][j], t = Math.min(1, map.rate[i][j]), o = 4 * (y * w + x);
          const rgb = k === 2 ? [225, 225, 225] : k === 1 ? [255, 200 - 120 * t, 120 - 110 * t] : [210 - 190 * t, 230 - 150 * t, 255];
          img.data[o] = rgb[0]; img.data[o + 1] = rgb[1]; img.data[o + 2] = rgb[2]; img.data[o + 3] = 255;
        }
      }
      this.rateImage = img; this.rateImageKey = method;
    }
    ctx.clearRect(0, 0, W, H);
    ctx.putImageData(this.rateImage, L, 0);
    ctx.save();
    ctx.beginPath(); ctx.rect(L, 0, w, h); ctx.clip();  // nothing of the curves on the labels
    ctx.strokeStyle = '#222'; ctx.setLineDash([5, 4]); ctx.lineWidth = 1.2;
    // heavy-ball momentum: complex roots (oscillation) for (1 − √μ)² < ηλ < (1 + √μ)², critical damping on
    // the edges (Goh 2017); drawn for the smallest and the largest eigenvalue, over the part of each edge
    // inside the plot: η = (1 ± √μ)²/λ lies in [η₀, η₁] for √μ in [√(η₀λ) − 1, √(η₁λ) − 1] (+) or
    // [1 − √(η₁λ), 1 − √(η₀λ)] (−), cut to μ in [0, 0.99]
    const lams = method === 'momentum' ? [g.eigenvalues[0], g.eigenvalues[g.eigenvalues.length - 1]] : [];
    live.rateCurves = {box: [L, 0, L + w, h], lines: []};
    for (const lam of lams) {
      for (const sgn of [-1, 1]) {
        const [r0, r1] = ETA.map((eta) => Math.sqrt(eta * lam));
        const a = Math.max(0, sgn > 0 ? r0 - 1 : 1 - r1), b = Math.min(Math.sqrt(MU), sgn > 0 ? r1 - 1 : 1 - r0);
        if (!(b > a)) continue;  // this edge lies outside the plot
        const line = [];
        ctx.beginPath();
        for (let q = 0; q <= 60; q++) {
          const r = a + (b - a) * q / 60, mu = Math.min(MU, r * r);
          const x = X((1 + sgn * r) ** 2 / lam), y = Y(mu);
          if (q === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
          line.push([x, y]);
        }
        ctx.stroke();
        live.rateCurves.lines.push(line);
      }
    }
    ctx.restore();
    ctx.setLineDash([]);
    ctx.fillStyle = '#333'; ctx.font = '12px sans-serif'; ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    for (let e = -3; e <= 1; e++) ctx.fillText(e === 0 ? '1' : `1e${e}`, X(10 ** e), h + 4);
    ctx.fillText('η (log scale)', L + w / 2, h + 16);
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    for (const mu of [0, 0.5, 0.9]) ctx.fillText(String(mu), L - 4, Y(mu));
    ctx.save(); ctx.translate(10, h / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = 'center'; ctx.fillText('μ', 0, 0); ctx.restore();
    const m = this.methods[method];
    if (m) {
      const x = X(m.hp.lr), y = Y(Math.min(0.99, m.hp.momentum));
      ctx.lineWidth = 2.5; ctx.strokeStyle = '#000'; ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI); ctx.stroke();
      ctx.lineWidth = 1;
      live.rateMarker = {method, eta: m.hp.lr, mu: m.hp.momentum, x, y};
    }
  },
  // the Hessian where the start is, each method's stable step-size limit (marked on its η slider) and
  // what each method did, in words (all computed by the server: paths.explain)
  drawExplain(r) {
    const ev = r.hessian.eigenvalues.map((v) => fmt(v)).join(', ');
    const lines = [`Hessian eigenvalues ${r.hessian.exact ? '' : 'at the start point '}λ = ${ev}` +
      (r.hessian.exact ? ' (exact: the same everywhere on a quadratic)' : ' (they change along the path: the limits below hold near the start)')];
    for (const [name, m] of Object.entries(this.methods)) {
      const b = r.bounds[name], marker = document.querySelector(`[data-key="${name}.lr"] .bound`);
      if (marker) {
        marker.hidden = !(b && m.on);
        if (b) {
          const t = Math.min(1, Math.max(0, (Math.log10(b.lr) + 3) / 4));
          marker.style.left = `calc(8px + (100% - 16px) * ${t})`;
          marker.title = `stable below ${fmt(b.lr)}`;
        }
      }
      if (!(name in r.words)) continue;
      const sym = name === 'newton' ? 'α' : 'η';
      lines.push(r.words[name] + (b ? ` · stable for ${sym} < ${b.formula.replace(/\\lambda_\{\\max\}/g, 'λmax')
        .replace(/\\mu/g, 'μ')} = ${fmt(b.lr)}` : ''));
    }
    const el = $('#paths-explain');
    el.innerHTML = '';
    const ul = document.createElement('ul');
    for (const line of lines) { const li = document.createElement('li'); li.textContent = line; ul.appendChild(li); }
    el.appendChild(ul);
  },
  drawPaths(r) {  // contours, minima (★), each path (its first 60 steps as dots), the start point (white)
    const c = $('#paths-canvas'), ctx = c.getContext('2d'), g = this.grid, W = c.width, H = c.height;
    const [x0, x1] = g.xlim, [y0, y1] = g.ylim;
    const px = (x) => (x - x0) / (x1 - x0) * W, py = (y) => (y1 - y) / (y1 - y0) * H;
    ctx.clearRect(0, 0, W, H);
    ctx.drawImage(this.contour, 0, 0);
    for (const m of g.minima) drawStar(ctx, px(m[0]), py(m[1]));
    const lim = 1e6;
    for (const [name, path] of Object.entries(r.paths)) {
      ctx.strokeStyle = this.methods[name].color; ctx.fillStyle = ctx.strokeStyle; ctx.lineWidth = 1.8;
      ctx.setLineDash(this.methods[name].dash);
      ctx.beginPath();
      let pen = false;
      for (const p of path) {
        if (p[0] === null || p[1] === null || Math.abs(p[0]) > lim || Math.abs(p[1]) > lim) { pen = false; continue; }
        const X = px(p[0]), Y = py(p[1]);
        if (pen) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
        pen = true;
      }
      ctx.stroke();
      ctx.setLineDash([]);
      for (const p of path.slice(0, 60)) {
        if (p[0] === null || p[1] === null || Math.abs(p[0]) > lim || Math.abs(p[1]) > lim) continue;
        ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), 2, 0, 2 * Math.PI); ctx.fill();
      }
    }
    this.drawAxes(ctx, W, H);
    ctx.lineWidth = 2; ctx.fillStyle = '#fff'; ctx.strokeStyle = '#000';
    ctx.beginPath(); ctx.arc(px(this.start[0]), py(this.start[1]), 7, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
    ctx.lineWidth = 1;
  },
  drawAxes(ctx, W, H) {  // ticks and numbers on the bottom and left edges, at steps of 1, 2 or 5 × 10^k
    edgeAxes(ctx, W, H, this.grid.xlim, this.grid.ylim, {font: 15, ticks: 5, tick: 8, xGap: 10, xEdge: 12, yGap: 11,
      yEdge: [10, 30], xName: ['x →', 6, 28], yName: ['↑ y', 40, 6]});
  },
  drawValues(r) {  // f − f* per step (log scale; diverged steps left out) and the last values in words
    const names = Object.keys(r.f), fmin = r.f_min ?? 0;
    const n = Math.max(0, ...names.map((k) => r.f[k].length));
    const data = [Array.from({length: n}, (_, i) => i),
      ...names.map((k) => r.f[k].map((v) => (v === null || v - fmin > 1e12 ? null : Math.max(v - fmin, 1e-16))))];
    const key = names.join(',');
    if (!this.fchart || this.fchartKey !== key) {  // a new chart when the set of optimizers changes
      $('#chart-f').innerHTML = '';
      this.fchart = stepLogChart($('#chart-f'), names.map((k) => ({label: this.methods[k].label,
        stroke: this.methods[k].color, dash: this.methods[k].dash.length ? this.methods[k].dash : undefined, points: {show: false}})), data);
      this.fchartKey = key;
    } else this.fchart.setData(data);
    $('#paths-canvas').setAttribute('aria-label', `start point x ${fmt(this.start[0])}, y ${fmt(this.start[1])}: ` +
      'the arrow keys move it (Shift: farther)');
    const last = names.map((k) => `${this.methods[k].label} ` +
      (r.diverged[k] !== null ? `diverged (step ${r.diverged[k]})` : fmt(r.f[k][r.f[k].length - 1]))).join(' · ');
    $('#paths-info').textContent = `start (${fmt(this.start[0])}, ${fmt(this.start[1])}) · ${this.grid.name} · f after ` +
      `${this.steps} steps: ${last}`;
  },
};

export function ensurePaths(meta) { return paths.ensure(meta); }

export function writePathsURL(p) {
  if (!paths.fn) return;
  p.set('fn', paths.fn); p.set('sx', paths.start[0].toPrecision(4)); p.set('sy', paths.start[1].toPrecision(4));
  p.set('steps', paths.steps);
  if (paths.fn === 'eigen') { const [l1, l2] = paths.eig(); p.set('l1', l1); p.set('l2', l2); } else { p.delete('l1'); p.delete('l2'); }
  for (const [name, m] of Object.entries(paths.methods)) {
    if (!m.on) p.set(`${name}.off`, '1'); else p.delete(`${name}.off`);
    for (const [k, v] of Object.entries(m.hp)) p.set(`${name}.${k}`, String(v));
  }
}
