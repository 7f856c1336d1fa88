// Talking to the server: JSON requests (`api`, which turns any failure into {error: "one line"}), the
// tab's id and its event stream, each with the server's token. Frames of a run whose start request has not come back yet are held
// (at most 200 per run) and replayed once the page knows the run.
import {$, live, token} from './common.js';

// the tab's id: kept for the tab's session (sessionStorage: a reload keeps it, another tab gets its own),
// so a reloaded page finds its run again (/api/state) within the server's grace
function tabId() {
  const fresh = () => (window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now())
    .replace(/-/g, '').slice(0, 32);
  try {
    const kept = sessionStorage.getItem('mlplab-live-sid');
    if (kept && /^[0-9a-z]{1,64}$/i.test(kept)) return kept;
    const id = fresh();
    sessionStorage.setItem('mlplab-live-sid', id);
    return id;
  } catch (e) { return fresh(); }  // storage blocked: a reload starts afresh
}
export const sid = tabId();
live.sid = sid;  // (for the browser tests)

export async function api(path, body) {
  const headers = {Authorization: `token ${token}`};  // the server answers only with its token (common.js)
  const opts = body === undefined ? {headers} : {method: 'POST', headers: {...headers, 'Content-Type': 'application/json'},
    body: JSON.stringify(body)};
  let r;
  try { r = await fetch(path, opts); } catch (e) { return {error: `the server cannot be reached (${e.message})`}; }
  let data = null;
  try { data = await r.json(); } catch (e) { data = {error: `the server answered ${r.status} without JSON`}; }
  if (!r.ok && !data.error) data.error = `the server answered ${r.status}`;
  return data;
}

const pending = new Map();
let handler = () => {};

// open the tab's stream; `handle` gets every message of the tab's current run. When the stream fails (the
// server stopped or restarting) a banner says so until it is back; then `onBack` checks the tab's run
export function connect(handle, onBack = () => {}) {
  handler = handle;
  const es = new EventSource(`/api/stream?sid=${sid}&token=${encodeURIComponent(token)}`);  // (no headers here)
  es.onopen = () => {
    if (!live.run) $('#status').textContent = 'ready';
    if (!$('#banner').hidden) { $('#banner').hidden = true; live.banner = null; onBack(); }
  };
  es.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.run !== live.run) {  // frames of a run whose start request has not come back yet
      if (!pending.has(f.run)) pending.set(f.run, []);
      if (pending.get(f.run).length < 200) pending.get(f.run).push(f);
      return;
    }
    handler(f);
  };
  es.onerror = () => {
    $('#status').textContent = 'reconnecting…';
    live.banner = 'The server is not answering: is `mlplab live` still running? Trying again every second…';
    $('#banner').textContent = live.banner;
    $('#banner').hidden = false;
  };
}

// the run is now live.run: hand over what arrived before, drop what is held for any other run
export function replayPending(run) {
  for (const f of pending.get(run) || []) handler(f);
  pending.clear();
}
