// The page state lives in the URL, so a link reproduces a setup. The view shown is kept here; each view
// registers a writer that puts its own keys in the URL, and setURL rewrites it (without a new history
// entry, and without `autostart`: reloading the page does not start another run).
import {params} from './common.js';

const writers = [];
let view = ['paths', 'compare'].includes(params.get('view')) ? params.get('view') : 'train';

export function currentView() { return view; }
export function setCurrentView(v) { view = v; }
export function addURLWriter(write) { writers.push(write); }

export function setURL() {
  const p = new URLSearchParams(location.search);
  p.set('view', view);
  for (const write of writers) write(p);
  p.delete('autostart');
  history.replaceState(null, '', `${location.pathname}?${p}`);
}
