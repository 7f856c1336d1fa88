// What every view shares: window.mlplabLive (the counters the browser tests and benchmarks read), the URL
// the page was opened with, the palette, number formatting and the in-page error line.

export const live = window.mlplabLive = {
  ready: false, frames: 0, statusFrames: 0, lastFrame: null, run: null, status: null, errors: 0,
  pathRequests: 0, pathDraws: 0, pathLatencies: [], pathServerMs: [], lastPaths: null, frameTimes: [],
};
export const params = new URLSearchParams(location.search);  // as opened: links reproduce a setup
export const $ = (sel) => document.querySelector(sel);
export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22'];

// a number in 3 significant digits, or in exponent form when it is very small or large; "—" when missing
export function fmt(x, d = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4)) return x.toExponential(1);
  return (+x).toPrecision(d);
}
export function pct(x) { return x === null || x === undefined ? '—' : `${(100 * x).toFixed(0)}%`; }

// one readable line in the page (the server's message; never a traceback); an empty message hides it
export function showError(el, msg) { el.textContent = msg || ''; el.hidden = !msg; }
