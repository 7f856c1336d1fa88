"""Lessons for ``mlplab live`` (:mod:`mlplab.live.lessons`): the loader on good and bad files, the
command's refusal of a bad lesson folder, and each built-in lesson walked end to end in real Chromium
(every step's setting applied to the page's controls and view, its text shown, its answer on request).
Also axe-core (vendored in tests/vendor, injected by the test only) on every view and the lesson panel:
no serious or critical violation.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from live_fixtures import CHROMIUM, Page, Server

from mlplab.live import lessons

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SOURCES = {  # the works the built-in lessons follow
    "deeplearning-ai-initialization": "Initializing neural networks",
    "dlfs-ch6-optimizers-and-init": "Deep Learning from Scratch",
    "cmu-dlsys-depth-and-init": "Deep Learning Systems",
}

GOOD_MD = """+++
title = "Two steps"
source = "a course"
summary = "A *short* lesson."
+++

## He on ReLU

```setting
view = "train"
init = "he"
lr = 0.05
```

Press **Start** and watch $z$ in `layer 1`.

- first point
- second point

Look for: the std of $z$.

Question: Why?

Answer: Because.

## The bowl

```setting
view = "paths"
fn = "eigen"
l1 = 1
l2 = 10
sgd = {lr = 0.18}
adam.off = true
steps = 100
```

Text.

**Look for:** the mark.

**Question:** Where?

**Answer:** At 0.2.
"""

GOOD_TOML = """title = "Compare"
source = "a book"
[[steps]]
title = "He vs Xavier"
setting = {view = "compare", v1 = "init=he", v2 = "init=xavier", seeds = 2}
text = "Two runs."
look_for = "the spread"
question = "Which?"
answer = "He."
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_the_built_in_lessons_load_and_cite_their_works():
    found = {le.id: le for le in lessons.builtin()}
    assert set(found) == set(SOURCES)
    for lesson_id, work in SOURCES.items():
        le = found[lesson_id]
        assert work in le.source and le.origin == "built-in" and len(le.steps) >= 5
        views = {st.setting["view"] for st in le.steps}
        assert len(views) >= 2  # each lesson moves between views
        for st in le.steps:
            assert st.title and st.text and st.look_for and st.question and st.answer
    # the three sources between them use every view
    assert {st.setting["view"] for le in found.values() for st in le.steps} == {"train", "compare", "paths"}


def test_a_markdown_lesson_reads_as_steps_with_settings_and_spans(tmp_path):
    le = lessons.load_file(_write(tmp_path, "my-lesson.md", GOOD_MD))
    assert (le.id, le.title, le.source, len(le.steps)) == ("my-lesson", "Two steps", "a course", 2)
    a, b = le.steps
    assert a.setting == {"view": "train", "init": "he", "lr": "0.05"}
    assert a.text == [{"p": [["text", "Press "], ["strong", "Start"], ["text", " and watch "], ["math", "z"],
                             ["text", " in "], ["code", "layer 1"], ["text", "."]]},
                      {"ul": [[["text", "first point"]], [["text", "second point"]]]}]
    assert a.look_for == [{"p": [["text", "the std of "], ["math", "z"], ["text", "."]]}]
    assert (a.question, a.answer) == ([{"p": [["text", "Why?"]]}], [{"p": [["text", "Because."]]}])
    # a method's settings as a table or dotted keys; true as the page's "1"
    assert b.setting == {"view": "paths", "fn": "eigen", "l1": "1", "l2": "10", "sgd.lr": "0.18", "adam.off": "1",
                         "steps": "100"}
    assert b.answer == [{"p": [["text", "At 0.2."]]}]
    assert le.to_json()["summary"] == [["text", "A "], ["em", "short"], ["text", " lesson."]]


def test_a_toml_lesson_and_a_folder_of_both(tmp_path):
    _write(tmp_path, "b-compare.toml", GOOD_TOML)
    _write(tmp_path, "a-steps.md", GOOD_MD)
    _write(tmp_path, "notes.txt", "not a lesson")  # other files are not lessons
    got = lessons.load_folder(tmp_path)
    assert [le.id for le in got] == ["a-steps", "b-compare"]
    assert got[1].steps[0].setting == {"view": "compare", "v1": "init=he", "v2": "init=xavier", "seeds": "2"}
    # a teacher's lesson with a built-in's id replaces it; the others stay
    _write(tmp_path, "cmu-dlsys-depth-and-init.toml", GOOD_TOML)
    ids = [(le.id, le.origin == "built-in") for le in lessons.all_lessons(tmp_path)]
    assert ("cmu-dlsys-depth-and-init", False) in ids and ("cmu-dlsys-depth-and-init", True) not in ids
    assert ("deeplearning-ai-initialization", True) in ids and len(ids) == 5


def _step(setting: str) -> str:
    return GOOD_MD.split("## The bowl")[0].replace('view = "train"\ninit = "he"\nlr = 0.05', setting)


BAD = [
    ("no-front.md", "## a\n", "must start with TOML front matter between +++ lines"),
    ("yaml.md", "---\ntitle: x\n---\n", "(YAML's --- is not read)"),
    ("open.md", "+++\ntitle = 'x'\n", "no closing +++ line"),
    ("no-title.md", GOOD_MD.replace('title = "Two steps"\n', ""), "needs a title"),
    ("no-source.md", GOOD_MD.replace('source = "a course"\n', ""), "needs a source"),
    ("front-key.md", GOOD_MD.replace('summary =', 'author = "me"\nsummary ='), "unknown key 'author' at the top"),
    ("intro.md", GOOD_MD.replace("+++\n\n## He", "+++\nHello.\n\n## He"), "text before its first step's ## heading"),
    ("no-block.md", GOOD_MD.replace("```setting", "```toml"), "step 1 ('He on ReLU') needs one ```setting block"),
    ("no-question.md", GOOD_MD.replace("Question: Why?", "Why?"), "step 1 ('He on ReLU'): needs a Question: paragraph"),
    ("no-look.md", GOOD_MD.replace("Look for: the std", "The std"), "needs a Look for: paragraph"),
    ("two-answers.md", GOOD_MD.replace("Answer: Because.", "Answer: A.\n\nAnswer: B."), "has two Answer: paragraphs"),
    ("not-toml.md", _step('view = "train"\ninit = he'), "its ```setting block is not TOML"),
    ("no-view.md", _step('init = "he"'), "needs view = one of train, compare, paths"),
    ("unknown-key.md", _step('view = "train"\nlearning_rate = 0.1'), "unknown key 'learning_rate'"),
    ("dataset.md", _step('view = "train"\ndataset = "cifar10"'), "dataset = 'cifar10' is not one of the page's"),
    ("optimizer-case.md", _step('view = "train"\noptimizer = "SGD"'), "optimizer = 'SGD' is not one of the page's"),
    ("layers.md", _step('view = "train"\ndataset = "mnist"'), "does not fit"),  # the default 2,32,32,3
    ("lr.md", _step('view = "train"\nlr = "fast"'), "--lr must be a number, got 'fast'"),
    ("init.md", _step('view = "train"\ninit = "he(gain=2)"'), "--init"),
    ("variant.md", _step('view = "compare"\nv1 = "seed=3"'), "v1 sets seed: compared runs share"),
    ("variant-bad.md", _step('view = "compare"\nv2 = "init=he lr"'), "v2 'init=he lr': 'lr' is not key=value"),
    ("variant-check.md", _step('view = "compare"\nv1 = "activation=swish"'), "v1 (activation=swish): activation"),
    ("seeds.md", _step('view = "compare"\nseeds = 9'), "seeds must be a whole number from 1 to 5"),
    ("fn.md", _step('view = "paths"\nfn = "himmelblau"'), "fn = 'himmelblau' is not one of"),
    ("steps.md", _step('view = "paths"\nsteps = 15'), "steps = 15 is not on the steps slider"),
    ("eig-fn.md", _step('view = "paths"\nfn = "f2"\nl1 = 1'), 'l1 (an eigenvalue) applies to fn = "eigen" only'),
    ("eig-stop.md", _step('view = "paths"\nfn = "eigen"\nl1 = 3'), "l1 = 3 is not on the eigenvalue slider"),
    ("start.md", _step('view = "paths"\nfn = "f2"\nsx = 50\nsy = 0'), "sx = 50 is outside the plotted range"),
    ("start-half.md", _step('view = "paths"\nsx = 1'), "give the start point as both sx and sy"),
    ("method.md", _step('view = "paths"\nlion.lr = 0.1'), "no optimizer 'lion' in the Paths view"),
    ("method-hp.md", _step('view = "paths"\nsgd.beta1 = 0.9'), "sgd has no setting 'beta1'"),
    ("method-range.md", _step('view = "paths"\nsgd.lr = 50'), "sgd.lr = 50 is outside its slider's range"),
    ("autostart.md", _step('view = "paths"\nautostart = true'), "autostart starts a run of the Train or Compare"),
    ("hide.md", _step('view = "train"\nhide = "lr,colour"'), "hide: colour is not a control"),
    ("steps.toml", 'title = "x"\nsource = "y"\n', "needs its steps as [[steps]] tables"),
    ("toml-key.toml", GOOD_TOML.replace('answer = "He."', 'answer = "He."\nhint = "h"'), "unknown key 'hint'"),
    ("toml-setting.toml", GOOD_TOML.replace("seeds = 2}", "seeds = 2, fn = \"nope\"}"), "fn = 'nope'"),
    ("bad name.md", GOOD_MD, "its name must be letters, digits, - and _"),
]


@pytest.mark.parametrize("name, text, said", BAD, ids=[b[0] for b in BAD])
def test_a_bad_lesson_file_is_one_line_naming_the_file_and_what_is_wrong(tmp_path, name, text, said):
    path = _write(tmp_path, name, text)
    with pytest.raises(lessons.LessonError) as e:
        lessons.load_file(path)
    message = str(e.value)
    assert message.startswith(f"lesson file {path}: ") and said in message, message
    assert "\n" not in message and "Traceback" not in message


def test_a_bad_folder_is_one_line(tmp_path):
    with pytest.raises(lessons.LessonError, match="no such folder"):
        lessons.load_folder(tmp_path / "missing")
    with pytest.raises(lessons.LessonError, match=r"no lesson files \(\*.md or \*.toml\)"):
        lessons.load_folder(tmp_path)
    _write(tmp_path, "same.md", GOOD_MD)
    _write(tmp_path, "same.toml", GOOD_TOML)
    with pytest.raises(lessons.LessonError, match="have the same name"):
        lessons.load_folder(tmp_path)


def test_mlplab_live_refuses_a_bad_lesson_folder_at_start_up_with_exit_2(tmp_path):
    _write(tmp_path, "ok.md", GOOD_MD)
    bad = _write(tmp_path, "wrong.md", _step('view = "paths"\nsteps = 15'))
    r = subprocess.run([sys.executable, "-m", "mlplab", "live", "--no-open", "--port", "1", "--lessons", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "steps = 15 is not on the steps slider" in lines[0], r.stderr
    assert "Traceback" not in r.stderr and "http" not in r.stdout  # refused before it serves anything


# ----------------------------------------------------------------------------- in the browser
pytestmark_browser = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")]


@pytest.fixture(scope="module")
def lesson_server(tmp_path_factory):
    """``mlplab live --lessons DIR`` with one teacher's lesson (TOML) beside the built-in ones."""
    folder = tmp_path_factory.mktemp("lessons")
    _write(folder, "teacher-compare.toml", GOOD_TOML)
    s = Server("--lessons", str(folder))
    yield s
    s.kill()


def _open_step(p, query):
    page = p.open(query)
    page.wait_for_function("window.mlplabLive.lessonStep !== undefined", timeout=30_000)
    return page


def _applied(page, setting):
    """Check that the page shows `setting`: the view, and each key's control (or the state it wrote)."""
    view = setting["view"]
    assert page.evaluate(f"!document.querySelector('#view-{view}').hidden")
    assert page.evaluate("[...document.querySelectorAll('.view')].filter((v) => !v.hidden).length") == 1
    for key in lessons.TRAIN_KEYS:
        if key in setting:
            got = page.evaluate(f"document.querySelector('#train-form').elements[{json.dumps(key)}].value")
            assert got == setting[key], (key, got, setting[key])
    if view == "compare":
        values = page.evaluate("[...document.querySelectorAll('.variant')].map((e) => e.value)")
        assert values == [setting.get(f"v{k}", "") for k in range(1, 5)]
        assert page.input_value("#cmp-seeds") == setting.get("seeds", "1")
    if view == "paths":
        page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=30_000)
        assert page.input_value("#fn-select") == setting.get("fn", "f2")
        if "steps" in setting:
            assert page.input_value("#steps") == setting["steps"]
        state = page.evaluate("Object.fromEntries(new URLSearchParams(location.search))")  # written from the view
        for key, value in setting.items():
            if "." in key and not key.endswith(".off"):
                assert math.isclose(float(state[key]), float(value), rel_tol=1e-9), (key, state[key], value)
            elif key.endswith(".off"):
                assert state.get(key) == "1"
            elif key in ("l1", "l2", "sx", "sy"):
                assert math.isclose(float(state[key]), float(value), rel_tol=1e-3), (key, state[key], value)
        drawn = set(page.evaluate("Object.keys(window.mlplabLive.lastPaths.paths)"))
        offs = {k.split(".")[0] for k in setting if k.endswith(".off")}
        assert drawn and not drawn & offs  # the methods switched off are not drawn


def _text(page, sel):
    return " ".join(page.inner_text(sel).split())


def _words(spans_blocks):
    """The text of every span but math (KaTeX typesets that), to look for in what the page shows."""
    return [" ".join(t.split()) for b in spans_blocks for item in b.get("ul", [b.get("p")]) for kind, t in item
            if kind != "math" and t.strip(" .,;:")]


def _maths(spans_blocks):
    return sum(kind == "math" for b in spans_blocks for item in b.get("ul", [b.get("p")]) for kind, _ in item)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
@pytest.mark.parametrize("lesson_id", list(SOURCES))
def test_each_built_in_lesson_runs_end_to_end(lesson_server, browser, lesson_id):
    le = next(x for x in lessons.builtin() if x.id == lesson_id)
    p = Page(browser, lesson_server)
    page = p.open("view=train")
    assert page.is_hidden("#lesson")
    page.click("#btn-lessons")  # the panel: choose the lesson, see its steps, begin
    assert page.is_visible("#lesson") and page.get_attribute("#btn-lessons", "aria-expanded") == "true"
    page.select_option("#lesson-select", lesson_id)
    assert [" ".join(t.split()) for t in page.locator("#lesson-intro li").all_inner_texts()] == \
        [st.title for st in le.steps]
    assert le.title in page.inner_text("#lesson-step-title")
    for i, st in enumerate(le.steps):
        with page.expect_navigation():
            page.click("#lesson-next")
        page.wait_for_function("window.mlplabLive.ready && window.mlplabLive.lessonStep", timeout=30_000)
        assert p.live("lessonStep.step") == i + 1 and p.live("lessonStep.lesson") == lesson_id
        assert _text(page, "#lesson-step-title") == st.title
        assert _text(page, "#lesson-count") == f"step {i + 1} of {len(le.steps)}"
        shown = " ".join(_text(page, f"#lesson-{part}") for part in ("text", "look", "question"))
        for words in _words(st.text) + _words(st.look_for) + _words(st.question):
            assert words in shown, words
        assert page.locator("#lesson-text .katex").count() == _maths(st.text)  # typeset
        assert page.is_hidden("#lesson-answer")  # the answer on request
        page.click("#lesson-answer-box summary")
        assert page.is_visible("#lesson-answer")
        assert all(words in _text(page, "#lesson-answer") for words in _words(st.answer))
        _applied(page, st.setting)
        assert p.live("run") is None  # each step starts afresh: no run carried over from the step before
        assert page.is_disabled("#lesson-next") == (i == len(le.steps) - 1)
    if lesson_id != "deeplearning-ai-initialization":  # (Back and Previous once: they work alike for every lesson)
        p.check_local()
        p.close()
        return
    page.go_back()  # Back: the step before, with its own setting
    page.wait_for_function(f"window.mlplabLive.ready && window.mlplabLive.lessonStep.step === {len(le.steps) - 1}",
                           timeout=30_000)
    _applied(page, le.steps[-2].setting)
    with page.expect_navigation():
        page.click("#lesson-prev")
    page.wait_for_function(f"window.mlplabLive.ready && window.mlplabLive.lessonStep.step === {len(le.steps) - 2}",
                           timeout=30_000)
    _applied(page, le.steps[-3].setting)
    page.click("#lesson-close")  # closed: the URL keeps the setting, not the lesson
    assert page.is_hidden("#lesson") and "lesson=" not in page.url
    assert f"view={le.steps[-3].setting['view']}" in page.url
    p.check_local()
    p.close()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_a_teachers_lesson_is_offered_and_a_bad_link_is_said(lesson_server, browser):
    p = Page(browser, lesson_server)
    page = _open_step(p, "lesson=teacher-compare&step=1&view=compare&v1=init%3Dhe&v2=init%3Dxavier&seeds=2")
    assert p.live("lessons").count("teacher-compare") == 1 and len(p.live("lessons")) == 4
    assert _text(page, "#lesson-step-title") == "He vs Xavier" and _text(page, "#lesson-question") == "Which?"
    _applied(page, {"view": "compare", "v1": "init=he", "v2": "init=xavier", "seeds": "2"})
    page = p.open("lesson=nope&step=1")
    assert page.is_visible("#lesson-error") and 'There is no lesson "nope"' in page.inner_text("#lesson-error")
    page = p.open("lesson=teacher-compare&step=7")
    assert "has steps 1 to 1, not 7" in page.inner_text("#lesson-error")
    # what the loader refuses is what the page cannot show: a steps value or an eigenvalue between
    # its slider's stops comes back as another value (the slider snaps to a stop)
    page = p.open("view=paths&fn=eigen&l1=3&steps=15")
    page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=30_000)
    assert page.input_value("#steps") != "15"
    assert float(page.evaluate("new URLSearchParams(location.search).get('l1')")) != 3.0
    p.check_local()
    p.close()


PANEL_BOXES = """() => {
  const sel = '#lesson .lesson-head > *, #lesson h2, #lesson-source, #lesson-text > *, #lesson .lesson-part > *,'
    + ' #lesson-answer-box > *, #lesson .lesson-nav button';
  const boxes = [...document.querySelectorAll(sel)].filter((e) => e.offsetParent !== null).map((e) => {
    const r = e.getBoundingClientRect();
    return {name: e.id || e.tagName + ':' + e.textContent.trim().slice(0, 20), x: r.left, y: r.top + scrollY,
            w: r.width, h: r.height};
  });
  const panel = document.querySelector('#lesson').getBoundingClientRect();
  return {boxes, panel: [panel.left, panel.right], innerWidth, scrollWidth: document.documentElement.scrollWidth};
}"""


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_the_lesson_panel_fits_every_screen(lesson_server, browser, tmp_path):
    """At a phone (390×844), a tablet held upright (768×1024) and a desktop (1500×1000): nothing leaves
    the screen sideways, no two parts of the panel overlap, its buttons are a finger's size."""
    from test_live_layout import _overlaps

    le = next(x for x in lessons.builtin() if x.id == "cmu-dlsys-depth-and-init")
    p = Page(browser, lesson_server)
    query = f"lesson={le.id}&step=4&" + "&".join(f"{k}={v}" for k, v in le.steps[3].setting.items())
    page = _open_step(p, query.replace("=init=", "=init%3D").replace("(", "%28").replace(")", "%29"))
    page.click("#lesson-answer-box summary")
    for width, height in [(390, 844), (768, 1024), (1500, 1000)]:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(200)
        got = page.evaluate(PANEL_BOXES)
        assert got["scrollWidth"] <= got["innerWidth"], (width, got)  # nothing leaves the screen sideways
        assert 0 <= got["panel"][0] and got["panel"][1] <= got["innerWidth"]
        assert len(got["boxes"]) >= 8 and not _overlaps(got["boxes"]), (width, _overlaps(got["boxes"]))
        buttons = [b for b in got["boxes"] if b["name"] in ("lesson-prev", "lesson-next", "lesson-close")]
        assert len(buttons) == 3 and all(b["h"] >= 24 for b in buttons), buttons  # WCAG 2.2's smallest target
        p.shot(tmp_path, f"live-lesson-{width}x{height}")
    p.check_local()
    p.close()


AXE_VIEWS = {  # each view with its charts drawn, and the lesson panel open on a step
    "train": "view=train&autostart=1&dataset=xor&layers=2,8,8,2&iterations=200&batch_size=8&seed=1",
    "compare": "view=compare&autostart=1&dataset=xor&layers=2,8,8,2&iterations=200&batch_size=8&v3=init%3Dlecun",
    "paths": "view=paths&fn=eigen&l1=1&l2=10",
    "lesson": "lesson=dlfs-ch6-optimizers-and-init&step=2&view=paths&fn=f2",
}


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_axe_finds_no_moderate_serious_or_critical_violation_on_any_view(lesson_server, browser):
    """axe-core (tests/vendor, injected here as an inline script: the page itself never loads it and
    the server does not serve it) on every view with its charts drawn and on the lesson panel. Moderate
    findings count too: the views' headings were h3 under the page's h1 (heading-order) while the lesson
    panel, whose title is the h2, was closed."""
    assert "axe" not in (Path(lessons.__file__).parent / "static" / "index.html").read_text()
    axe = AXE.read_text(encoding="utf-8")
    p = Page(browser, lesson_server)
    found = {}
    for name, query in AXE_VIEWS.items():
        page = p.open(query)
        if name in ("train", "compare"):  # its charts drawn from frames
            page.wait_for_function("window.mlplabLive.frames >= 2", timeout=60_000)
        else:
            page.wait_for_function("window.mlplabLive.pathDraws >= 1", timeout=30_000)
        if name == "lesson":
            page.click("#lesson-answer-box summary")
        page.add_script_tag(content=axe)
        found[name] = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter((v) => ['moderate', 'serious', 'critical'].includes(v.impact))
            .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' '))}`)""")
        assert page.evaluate("typeof axe") == "object"  # it ran in this page
    assert found == {name: [] for name in AXE_VIEWS}, found
    assert not any("axe" in u for u in p.requests)
    p.check_local()
    p.close()


def test_the_examples_of_docs_lessons_md_load(tmp_path):
    """docs/lessons.md's two example files are lessons the loader takes, and say the same."""
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "lessons.md").read_text(encoding="utf-8")
    md = re.search(r"````markdown\n(.*?)````", doc, re.DOTALL).group(1)
    toml = re.search(r"```toml\n(title = .*?)```", doc, re.DOTALL).group(1)
    a = lessons.load_file(_write(tmp_path, "example.md", md))
    b = lessons.load_file(_write(tmp_path, "example2.toml", toml))
    assert [s.title for s in a.steps] == ["Ten ReLU layers", "Paths: the step-size limit"]
    assert (a.title, a.source) == (b.title, b.source) and b.steps[0].title == a.steps[0].title
    assert a.steps[1].setting["sgd.lr"] == "0.18" and a.steps[1].setting["adam.off"] == "1"


def test_a_lesson_is_not_refused_for_the_memory_free_at_start_up(tmp_path, monkeypatch):
    """Whether a run fits is a question of the moment it starts (the page's Start says so in one
    line); a lesson whose network is large is still a valid lesson on a busy machine."""
    from mlplab import memory

    monkeypatch.setattr(memory, "available_memory", lambda *a, **k: (1, "planted: 1 byte free"))
    le = lessons.load_file(_write(tmp_path, "big.md", _step('view = "train"\ndataset = "mnist"\n'
                                                           'layers = "784,4000,4000,10"')))
    assert le.steps[0].setting["layers"] == "784,4000,4000,10"
    with pytest.raises(Exception, match="needs about"):  # while Start would refuse it now
        from mlplab.live.validate import check_settings

        check_settings({"dataset": "mnist", "layers": "784,4000,4000,10"})
