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
// Okabe & Ito's colour-blind-safe palette ("Color Universal Design", 2008), with black and yellow last.
// Hue alone does not tell every pair apart under a colour-vision deficiency: orange/yellow,
// vermillion/orange and green/reddish purple come within ΔE 20 under a deuteranopia simulation
// (Machado et al. 2009), so series i also gets a dash pattern, DASH_OF[i], chosen so that any two
// series of the first 16 whose colours are that close, or equal, are drawn with different dashes
// (tests/test_live_layout.py checks every pair on every chart).
export const COLORS = ['#0072B2', '#D55E00', '#009E73', '#E69F00', '#CC79A7', '#56B4E9', '#000000', '#F0E442'];
export const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3]];
const DASH_OF = [0, 0, 0, 1, 1, 0, 0, 0, 1, 2, 2, 3, 3, 1, 1, 2];
export function seriesStyle(i) {  // {stroke, dash} of the i-th series of a chart
  return {stroke: COLORS[i % COLORS.length], dash: DASHES[DASH_OF[i % DASH_OF.length]]};
}

// a number in 3 significant digits, or in exponent form when it is very small or large; "—" when missing
export function fmt(x, d = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4)) return x.toExponential(1);
  return (+x).toPrecision(d);
}
export function pct(x) { return x === null || x === undefined ? '—' : `${(100 * x).toFixed(0)}%`; }

// one readable line in the page (the server's message; never a traceback); an empty message hides it
export function showError(el, msg) { el.textContent = msg || ''; el.hidden = !msg; }

// sentences as the items of a list (textContent: the server's words are never parsed as HTML)
export function showLines(ul, lines) {
  ul.innerHTML = '';
  for (const line of lines || []) { const li = document.createElement('li'); li.textContent = line; ul.appendChild(li); }
}
