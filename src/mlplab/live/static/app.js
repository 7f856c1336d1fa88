// mlplab live, the entry module. The page only draws: every number comes from the server (the library's
// own code). Here: start-up (the forms filled from /api/meta), switching views, the URL written from each
// view's state, the teacher's URL flags (hide=...), autostart=1, and each streamed message handed to the
// view whose run it is. window.mlplabLive (common.js) counts what arrives, for the browser tests.
import {api, connect} from './api.js';
import {$, live, params, showError} from './common.js';
import {bindCompareControls, onCompareMessage, startCompare, writeCompareURL} from './compare.js';
import {ensurePaths, writePathsURL} from './paths.js';
import {bindTrainControls, fillTrainForm, onTrainMessage, renderTrainFormulas, resetTrain, start,
  writeTrainURL} from './train.js';
import {addURLWriter, currentView, setCurrentView, setURL} from './url.js';

let meta = null;  // what the server offers: datasets, activations, optimizers, functions, defaults

function showView(v) {
  setCurrentView(v);
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.view === v);
  $('#view-train').hidden = v !== 'train';
  $('#view-paths').hidden = v !== 'paths';
  $('#view-compare').hidden = v !== 'compare';
  if (v === 'paths') ensurePaths(meta);
  setURL();
}

function applyTeacherFlags() {
  // hide=lr,optimizer,... hides those controls; hide=controls the whole panel; hide=tabs the view switch
  for (const key of (params.get('hide') || '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (key === 'controls') document.querySelectorAll('.controls').forEach((e) => e.classList.add('hidden-by-teacher'));
    else if (key === 'tabs') $('header nav').classList.add('hidden-by-teacher');
    else if (key === 'buttons') $('.buttons').classList.add('hidden-by-teacher');
    else document.querySelectorAll(`[data-key="${CSS.escape(key)}"]`).forEach((e) => e.classList.add('hidden-by-teacher'));
  }
}

function handle(f) {  // the tab runs one thing at a time: a training or a comparison
  if (live.mode === 'compare') onCompareMessage(f);
  else onTrainMessage(f);
}

async function main() {
  meta = await api('/api/meta');
  if (meta.error) {  // no token, a stale one, or a server that is gone: say so, and start nothing
    showError($('#page-error'), meta.error);
    $('#status').textContent = 'not connected';
    live.blocked = meta.error;
    return;
  }
  fillTrainForm(meta);
  applyTeacherFlags();
  renderTrainFormulas();
  resetTrain(null);
  connect(handle);
  showView(currentView());
  document.querySelectorAll('button[disabled]').forEach((b) => { b.disabled = false; });  // the forms are filled
  live.ready = true;
  if (params.get('autostart') === '1' && currentView() === 'train') start();
  if (params.get('autostart') === '1' && currentView() === 'compare') startCompare();
}

for (const write of [writeTrainURL, writeCompareURL, writePathsURL]) addURLWriter(write);
for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showView(b.dataset.view));
bindTrainControls();
bindCompareControls();
main();
