// The lesson panel: a guided sequence of settings (mlplab.live.lessons; the server checked every
// step's setting when it started). A step's setting is the page's own URL state, so moving to a step
// opens that URL (lesson=ID&step=N plus the step's keys; keys it does not give take the page's
// defaults) with a fresh tab id: the step starts from its own setting, not the previous step's run
// (that run is freed after the server's grace, as for a closed tab). Previous / Next are history
// entries, so Back returns to the step before. The lesson's text comes as spans (text, strong, em,
// code, math) that are built as DOM text, never parsed as HTML; math is typeset by KaTeX.
import {api} from './api.js';
import {$, live, params, showError} from './common.js';
import {setURL} from './url.js';

const L = {lessons: [], lesson: null, index: 0, open: false, loaded: false};  // loaded: the server's list came

function spans(el, list) {
  for (const [kind, text] of list) {
    if (kind === 'text') { el.append(text); continue; }
    const tag = {strong: 'strong', em: 'em', code: 'code', math: 'span'}[kind] || 'span';
    const s = document.createElement(tag);
    if (kind === 'math') {
      s.className = 'math';
      try { katex.render(text, s, {throwOnError: false, displayMode: false}); } catch (e) { s.textContent = text; }
    } else s.textContent = text;
    el.appendChild(s);
  }
}
function blocks(el, list) {  // [{p: spans} | {ul: [spans, ...]}]
  el.innerHTML = '';
  for (const b of list || []) {
    if (b.ul) {
      const ul = document.createElement('ul');
      for (const item of b.ul) { const li = document.createElement('li'); spans(li, item); ul.appendChild(li); }
      el.appendChild(ul);
    } else { const p = document.createElement('p'); spans(p, b.p); el.appendChild(p); }
  }
}

// the URL of step `index` of `lesson`: its setting, the lesson's place, and the teacher's hide= flags
export function stepURL(lesson, index) {
  const st = lesson.steps[index];
  const p = new URLSearchParams();
  p.set('lesson', lesson.id);
  p.set('step', String(index + 1));
  if (params.get('hide') && !('hide' in st.setting)) p.set('hide', params.get('hide'));
  for (const [k, v] of Object.entries(st.setting)) p.set(k, v);
  return `${location.pathname}?${p}`;
}
function go(lesson, index) {
  try { sessionStorage.removeItem('mlplab-live-sid'); } catch (e) { /* storage blocked: a reload is fresh anyway */ }
  live.lessonNavigating = true;
  location.assign(stepURL(lesson, index));
}

function showStep() {
  const le = L.lesson, st = le.steps[L.index];
  $('#lesson-select').value = le.id;
  $('#lesson-count').textContent = `step ${L.index + 1} of ${le.steps.length}`;
  $('#lesson-step-title').textContent = st.title;
  $('#lesson-source').innerHTML = '';
  $('#lesson-source').append('after ');
  spans($('#lesson-source'), le.source);
  blocks($('#lesson-text'), st.text);
  blocks($('#lesson-look'), st.look_for);
  blocks($('#lesson-question'), st.question);
  blocks($('#lesson-answer'), st.answer);
  $('#lesson-answer-box').open = false;
  $('#lesson-step').hidden = false;
  $('#lesson-intro').hidden = true;
  $('#lesson-prev').disabled = L.index === 0;
  $('#lesson-next').disabled = L.index === le.steps.length - 1;
  live.lessonStep = {lesson: le.id, step: L.index + 1, title: st.title, setting: st.setting};
}
// the chosen lesson before it is begun: its summary and its steps' titles
function showIntro(le) {
  $('#lesson-select').value = le.id;
  $('#lesson-count').textContent = `${le.steps.length} steps`;
  $('#lesson-step-title').textContent = le.title;
  $('#lesson-source').innerHTML = '';
  $('#lesson-source').append('after ');
  spans($('#lesson-source'), le.source);
  const intro = $('#lesson-intro');
  intro.innerHTML = '';
  const p = document.createElement('p');
  spans(p, le.summary);
  const ol = document.createElement('ol');
  for (const st of le.steps) { const li = document.createElement('li'); li.textContent = st.title; ol.appendChild(li); }
  intro.append(p, ol);
  intro.hidden = false;
  $('#lesson-step').hidden = true;
  $('#lesson-prev').disabled = true;
  $('#lesson-next').disabled = false;
  L.lesson = le; L.index = -1;
}

function setOpen(open) {
  L.open = open;
  $('#lesson').hidden = !open;
  $('#btn-lessons').setAttribute('aria-expanded', String(open));
  live.lessonOpen = open;
}

export function writeLessonURL(p) {
  if (!L.loaded) return;  // (the URL's lesson=, step= stay until the lessons are read)
  if (L.open && L.lesson && L.index >= 0) { p.set('lesson', L.lesson.id); p.set('step', String(L.index + 1)); } else {
    p.delete('lesson'); p.delete('step');
  }
}

// the lessons from the server; a URL with lesson=ID&step=N opens that step
export async function initLessons() {
  const r = await api('/api/lessons');
  if (r.error) { showError($('#lesson-error'), r.error); return; }
  L.lessons = r.lessons;
  L.loaded = true;
  live.lessons = r.lessons.map((le) => le.id);
  const sel = $('#lesson-select');
  for (const le of r.lessons) sel.add(new Option(le.title, le.id));
  const id = params.get('lesson');
  if (id === null) return;
  const le = r.lessons.find((x) => x.id === id);
  setOpen(true);
  if (!le) {
    showError($('#lesson-error'), `There is no lesson "${id}" on this server; choose one above.`);
    showIntro(r.lessons[0]);
    return;
  }
  const n = Number.parseInt(params.get('step') || '1', 10);
  if (!(n >= 1 && n <= le.steps.length)) {
    showError($('#lesson-error'), `Lesson "${le.title}" has steps 1 to ${le.steps.length}, not ${params.get('step')}.`);
    showIntro(le);
    return;
  }
  L.lesson = le; L.index = n - 1;
  showStep();
  setURL();
}

export function bindLessonControls() {
  $('#btn-lessons').addEventListener('click', () => {
    if (L.open) { setOpen(false); setURL(); return; }
    setOpen(true);
    if (!L.lesson && L.lessons.length) showIntro(L.lessons[0]);
    setURL();
  });
  $('#lesson-close').addEventListener('click', () => { setOpen(false); setURL(); $('#btn-lessons').focus(); });
  $('#lesson-select').addEventListener('change', (ev) => {
    const le = L.lessons.find((x) => x.id === ev.target.value);
    if (le) { showError($('#lesson-error'), ''); showIntro(le); setURL(); }
  });
  $('#lesson-prev').addEventListener('click', () => { if (L.lesson && L.index > 0) go(L.lesson, L.index - 1); });
  $('#lesson-next').addEventListener('click', () => {
    if (L.lesson && L.index < L.lesson.steps.length - 1) go(L.lesson, L.index + 1);
  });
}
