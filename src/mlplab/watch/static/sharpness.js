// The watch page's sharpness chart: the loss's top Hessian eigenvalue λ₁ (λ₁(P⁻¹H) for Adam, AdamW and
// RMSprop) as the watched loop measured it (mlplab.watch.sharpness, the frames' optional `sharpness`
// entries), against the optimizer's stability limit, drawn as the live page's Train view draws its own
// (trainviz.js: points for λ₁, a stepped dashed line for the limit, a log axis). The figure stays hidden for
// a recording without measurements (watch() without sharpness=, or one recorded before they existed).
import {chart, fitCharts, styled} from '/static/charts.js';
import {$, fmt, live} from '/static/common.js';

const S = {chart: null, shown: false};
live.sharpness = [];  // the measurements drawn (for the browser tests)

export function setupSharp(marks) {
  S.chart = chart($('#chart-sharp'), [styled(0, {label: 'λ₁ (sharpness)', spanGaps: true, points: {show: true, size: 6}}),
    styled(1, {label: 'stability limit', dash: [8, 4], spanGaps: true, points: {show: false},
      paths: uPlot.paths.stepped({align: 1})})],
  {marks, scales: {y: {distr: 3}}});
  live.sharpChart = S.chart;
}

// every measurement in the frames read so far; the limit carried on to the newest frame's step
export function drawSharp(frames) {
  const got = frames.filter((f) => f.sharpness).map((f) => f.sharpness);
  live.sharpness = got;
  if (!got.length) return;
  if (!S.shown) { $('#sharp-fig').hidden = false; S.shown = true; fitCharts(); }
  const x = got.map((s) => s.step), v = got.map((s) => (s.value > 0 ? s.value : null));
  const l = got.map((s) => (s.limit > 0 ? s.limit : null));
  const end = frames[frames.length - 1].step;
  S.chart.setData(end > x[x.length - 1] ? [[...x, end], [...v, null], [...l, l[l.length - 1]]] : [x, v, l]);
}

// the note: the newest measurement up to the frame shown (the time slider moves it)
export function noteSharp(frames, k) {
  if (!S.shown) return;
  let s = null;
  for (let j = k; j >= 0 && !s; j--) s = frames[j].sharpness || null;
  if (!s) { $('#sharp-note').textContent = 'No measurement yet at this frame.'; S.chart.redraw(false); return; }
  const what = s.preconditioned ? 'λ₁(P⁻¹H)' : 'λ₁(H)';
  const felt = s.preconditioned ? ' (the sharpness the optimizer feels through its preconditioner P)' : '';
  const limit = s.limit ? `the stability limit ${s.formula} = ${fmt(s.limit)}` : `no stability limit (${s.reason})`;
  const where = s.value && s.limit ? (s.value >= 0.9 * s.limit ? ': at the edge of stability' : `: ${fmt(s.value / s.limit)} of it`) : '';
  const batch = s.examples ? `${s.examples} examples` : 'the batch of your loss callable';
  $('#sharp-note').textContent = s.value === null || s.value === undefined
    ? `No sharpness: ${s.error || 'the measurement did not converge'}`
    : `Step ${s.step}: ${what} = ${fmt(s.value)}${felt}; ${limit}${where}. (±${fmt(s.residual)}, ${s.products} ` +
      `Hessian-vector products on ${batch}, ${fmt(s.ms)} ms in your loop.)`;
  S.chart.redraw(false);
}
