// mlplab live, the entry module. The page only draws: every number comes from the server (the library's
// own code). Here: start-up (the forms filled from /api/meta), switching views, the URL written from each
// view's state, the teacher's URL flags (hide=...), autostart=1, and each streamed message handed to the
// view whose run it is. window.mlplabLive (common.js) counts what arrives, for the browser tests.
import {api, connect, replayPending, sid} from './api.js';
import {fitCharts} from './charts.js';
import {$, live, params, showError} from './common.js';
import {bindCompareControls, onCompareMessage, reattachCompare, startCompare, writeCompareURL} from './compare.js';
import {bindLessonControls, initLessons, writeLessonURL} from './lessons.js';
import {ensurePaths, writePathsURL} from './paths.js';
import {bindTrainControls, fillTrainForm, onTrainMessage, reattachTrain, refreshExplain, renderTrainFormulas,
  resetTrain, setStatus, start, writeTrainURL} from './train.js';
import {addURLWriter, currentView, setCurrentView, setURL} from './url.js';

let meta = null;  // what the server offers: datasets, activations, optimizers, functions, defaults

// push: a new history entry (a click on a tab), so Back returns to the view before
function showView(v, push = false) {
  if (push && v !== currentView()) {
    const p = new URLSearchParams(location.search);
    p.set('view', v);
    history.pushState({view: v}, '', `${location.pathname}?${p}`);
  }
  setCurrentView(v);
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.view === v);
  $('#view-train').hidden = v !== 'train';
  $('#view-paths').hidden = v !== 'paths';
  $('#view-compare').hidden = v !== 'compare';
  if (v === 'paths') ensurePaths(meta);
  fitCharts();  // a chart made while its view was hidden takes its width now
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

// the tab's run on the server (a reload in the same tab keeps its id): draw it again, or say it is lost
async function reattach() {
  const r = await api(`/api/state?sid=${sid}`);
  if (r.error) { showError($('#page-error'), r.error); return; }
  showError($('#page-error'), '');
  if (r.run && r.run !== live.run) {
    live.run = r.run;
    live.mode = r.kind;
    if (r.kind === 'compare') reattachCompare(r); else reattachTrain(r);
    replayPending(r.run);
    live.reattached = r.run;
  } else if (!r.run && live.run) {
    showError($('#page-error'), `Run ${live.run} was lost: the server restarted or freed it. Press Start for a new run.`);
    live.lost = live.run;
    live.run = null;
    setStatus('lost');
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
  refreshExplain();
  connect(handle, reattach);
  await reattach();
  showView(currentView());
  document.querySelectorAll('button[disabled]').forEach((b) => { b.disabled = false; });  // the forms are filled
  await initLessons();  // the lesson panel (lessons.js): a URL with lesson=ID&step=N opens that step
  live.ready = true;
  if (params.get('autostart') === '1' && currentView() === 'train') start();
  if (params.get('autostart') === '1' && currentView() === 'compare') startCompare();
}

for (const write of [writeTrainURL, writeCompareURL, writePathsURL, writeLessonURL]) addURLWriter(write);
for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showView(b.dataset.view, true));
window.addEventListener('popstate', () => {  // Back / Forward between views
  const v = new URLSearchParams(location.search).get('view');
  showView(['paths', 'compare'].includes(v) ? v : 'train');
});
bindTrainControls();
bindCompareControls();
bindLessonControls();
main();
