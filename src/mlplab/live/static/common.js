// What every view shares: window.mlplabLive (the counters the browser tests and benchmarks read), the URL
// the page was opened with, the server's token, the palette, number formatting and the in-page error line.

export const live = window.mlplabLive = {
  ready: false, frames: 0, statusFrames: 0, lastFrame: null, run: null, status: null, errors: 0,
  pathRequests: 0, pathDraws: 0, pathLatencies: [], pathServerMs: [], lastPaths: null, frameTimes: [],
};
export const params = new URLSearchParams(location.search);  // as opened: links reproduce a setup

// The server's token: `mlplab live` prints and opens the page with ?token=...; the page keeps it in this
// browser's storage for its origin (a reload, or a shared link opened in another tab, still works) and takes
// it out of the address bar at once, so the page's URL, which holds its state and is meant to be shared,
// never carries it. Sent with every request (api.js). Empty when the page was opened without one.
const TOKEN_KEY = 'mlplab-live-token';
function takeToken() {
  const given = params.get('token');
  if (given === null) {
    try { return localStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }  // storage may be blocked
  }
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  try { localStorage.setItem(TOKEN_KEY, given); } catch (e) { /* kept for this page only */ }
  return given;
}
export const token = takeToken();
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
