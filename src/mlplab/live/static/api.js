// Talking to the server: JSON requests (`api`, which turns any failure into {error: "one line"}), the
// tab's id and its event stream, each with the server's token. Frames of a run whose start request has not come back yet are held
// (at most 200 per run) and replayed once the page knows the run.
import {$, live, token} from './common.js';

export const sid = (window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now())
  .replace(/-/g, '').slice(0, 32);
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

// open the tab's stream; `handle` gets every message of the tab's current run
export function connect(handle) {
  handler = handle;
  const es = new EventSource(`/api/stream?sid=${sid}&token=${encodeURIComponent(token)}`);  // (no headers here)
  es.onopen = () => { if (!live.run) $('#status').textContent = 'ready'; };
  es.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.run !== live.run) {  // frames of a run whose start request has not come back yet
      if (!pending.has(f.run)) pending.set(f.run, []);
      if (pending.get(f.run).length < 200) pending.get(f.run).push(f);
      return;
    }
    handler(f);
  };
  es.onerror = () => { $('#status').textContent = 'reconnecting…'; };
}

// the run is now live.run: hand over what arrived before, drop what is held for any other run
export function replayPending(run) {
  for (const f of pending.get(run) || []) handler(f);
  pending.clear();
}
