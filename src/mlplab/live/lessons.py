"""Lessons for ``mlplab live``: guided sequences of settings, each with a few sentences, what to look
for and a question (its answer shown on request).

A lesson is a list of steps; a step's **setting** is the page's own URL state (the view and its
parameters, exactly the keys a shared link carries: ``view``, the Train form's fields, the Compare
variants ``v1``..``v4`` and ``seeds``, the Paths keys ``fn``, ``sx``, ``sy``, ``steps``, ``l1``, ``l2``,
``<method>.<hyperparameter>`` and ``<method>.off``, and ``hide``), so moving to a step is opening
that link; keys a step does not give take the page's defaults.

Two file forms, the same content (docs/lessons.md has both in full):

* Markdown with TOML front matter between ``+++`` lines (``title``, ``source``, optional ``summary``
  and ``order``); each ``## heading`` starts a step, whose fenced `````setting````` block holds its
  setting as TOML, followed by its text, then paragraphs that start with ``Look for:``,
  ``Question:`` and ``Answer:``.
* TOML: the same front-matter keys and a ``[[steps]]`` table per step with ``title``, ``setting``
  (a table), ``text``, ``look_for``, ``question`` and ``answer``.

Every file is read and every step's setting checked when the server starts (:func:`load_folder`):
a key the page does not have, a value its control cannot show (a dataset not offered, a slider
position between its stops, a Paths key on another function) or training settings
:func:`mlplab.live.validate.check_settings` refuses make :class:`LessonError`, one line naming the
file, the step and what is wrong; ``mlplab live --lessons DIR`` prints it and exits with 2. So a
step the page cannot apply is refused at load, never at display.

The text's Markdown is a small inline subset, parsed here into spans the page builds as DOM text
(never HTML): paragraphs, ``- `` lists, ``**bold**``, ``*emphasis*``, ```code``` and ``$TeX$``
(typeset by the page's KaTeX).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .validate import DEFAULTS, SettingsError, check_settings

BUILTIN_DIR = Path(__file__).parent / "lessons_builtin"
VIEWS = ("train", "compare", "paths")
TRAIN_KEYS = ("dataset", "layers", "activation", "init", "optimizer", "lr", "momentum", "weight_decay",
              "batch_size", "epochs", "iterations", "schedule", "seed")  # the Train form (train.js's TRAIN_KEYS)
SHARED = ("dataset", "seed", "batch_size", "epochs", "iterations")  # a Compare variant may not change these
HIDE_EXTRA = ("controls", "tabs", "buttons")
FRONT_KEYS = {"title", "source", "summary", "order"}
STEP_KEYS = {"title", "setting", "text", "look_for", "question", "answer"}
# the Paths view's sliders (index.html and paths.js): range, and the stop every value snaps to
STEPS_RANGE = (10, 500, 10)
EIG_LOG10 = (-2.0, 2.0, 0.05)  # λ₁, λ₂: 10^k for k on this grid
LR_RANGE = (1e-3, 10.0)  # a method's η slider (log10 from -3 to 1)
UNIT_RANGE = (0.0, 0.999)  # μ, ρ, β₁ sliders


class LessonError(ValueError):
    """A lesson file that cannot be used: the message names the file and what is wrong, in one line."""


@dataclass
class Step:
    title: str
    setting: dict  # URL key -> string, as the page reads it
    text: list  # blocks: {"p": spans} or {"ul": [spans, ...]}; a span is [kind, text]
    look_for: list
    question: list
    answer: list

    def to_json(self) -> dict:
        return {"title": self.title, "setting": self.setting, "text": self.text, "look_for": self.look_for,
                "question": self.question, "answer": self.answer}


@dataclass
class Lesson:
    id: str
    title: str
    source: str
    steps: list = field(default_factory=list)
    summary: str = ""
    order: int = 100
    origin: str = ""  # "built-in" or the file's path

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "source": inline(self.source), "summary": inline(self.summary),
                "origin": self.origin, "steps": [s.to_json() for s in self.steps]}


# ----------------------------------------------------------------------------- inline Markdown
_SPAN = re.compile(r"\*\*(.+?)\*\*|\*(.+?)\*|`([^`]+)`|\$([^$]+)\$")


def inline(text: str) -> list:
    """``"a **b** `c` $x^2$"`` -> ``[["text", "a "], ["strong", "b"], ["text", " "], ["code", "c"], ...]``."""
    out, pos = [], 0
    text = " ".join(text.split())
    for m in _SPAN.finditer(text):
        if m.start() > pos:
            out.append(["text", text[pos:m.start()]])
        kind = ("strong", "em", "code", "math")[[g is not None for g in m.groups()].index(True)]
        out.append([kind, m.group(m.lastindex)])
        pos = m.end()
    if pos < len(text):
        out.append(["text", text[pos:]])
    return out


def blocks(text: str) -> list:
    """Paragraphs (blank-line separated) and ``- `` lists, each as spans (:func:`inline`)."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in para.strip().splitlines() if ln.strip()]
        if not lines:
            continue
        if all(ln.startswith(("- ", "* ")) for ln in lines):
            out.append({"ul": [inline(ln[2:]) for ln in lines]})
        else:
            out.append({"p": inline(" ".join(lines))})
    return out


# ----------------------------------------------------------------------------- settings
def _url_value(key: str, value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key} = {value} is not a finite number")
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list) and key == "hide":
        return ",".join(str(v) for v in value)
    raise ValueError(f"{key} must be a string or a number, got {type(value).__name__}")


def _number(key: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    return x


def _variant(key: str, text: str) -> dict:
    """A Compare variant as the page reads it (compare.js's parseVariant): ``key=value`` tokens."""
    out = {}
    for tok in text.split():
        i = tok.find("=")
        if i <= 0:
            raise ValueError(f"{key} {text!r}: {tok!r} is not key=value (e.g. init=xavier)")
        out[tok[:i].replace("-", "_")] = tok[i + 1:]
    return out


def _choices() -> dict:
    """The page's select options (as /api/meta lists them): a value outside them cannot be shown."""
    from .. import data, nn, optim, toydata

    return {"dataset": [*toydata.TOY_DATASETS, *data.DATASETS], "activation": sorted(nn.ACTIVATIONS),
            "optimizer": [k for k in optim.OPTIMIZERS if k != "newton"], "schedule": ["", *optim.SCHEDULES]}


def _check_train(raw: dict, choices: dict, what: str) -> None:
    for key, valid in choices.items():
        if key in raw and raw[key] not in valid:
            raise ValueError(f"{what}{key} = {raw[key]!r} is not one of the page's choices: "
                             f"{', '.join(v or '(none)' for v in valid)}")
    try:
        check_settings(raw, memory=False)  # (whether a run fits is checked when it starts, as for any run)
    except SettingsError as e:
        raise ValueError(f"{what}{e}") from None


def _on_grid(x: float, lo: float, hi: float, stop: float) -> bool:
    k = (x - lo) / stop
    return lo - 1e-9 <= x <= hi + 1e-9 and abs(k - round(k)) < 1e-6


def _check_paths(s: dict) -> None:
    from . import paths as live_paths

    fn = s.get("fn", "f2")
    if fn not in live_paths.FUNCTIONS:
        raise ValueError(f"fn = {fn!r} is not one of {', '.join(live_paths.FUNCTIONS)}")
    if ("sx" in s) != ("sy" in s):
        raise ValueError("give the start point as both sx and sy")
    if "sx" in s:
        f = live_paths.make_function(fn)
        for key, (lo, hi) in (("sx", f.xlim), ("sy", f.ylim)):
            x = _number(key, s[key])
            if not lo <= x <= hi:
                raise ValueError(f"{key} = {s[key]} is outside the plotted range [{lo:g}, {hi:g}] of {fn}")
    if "steps" in s:
        lo, hi, stop = STEPS_RANGE
        n = _number("steps", s["steps"])
        if not _on_grid(n, lo, hi, stop):
            raise ValueError(f"steps = {s['steps']} is not on the steps slider ({lo} to {hi} in tens)")
    for key in ("l1", "l2"):
        if key in s:
            if fn != "eigen":
                raise ValueError(f"{key} (an eigenvalue) applies to fn = \"eigen\" only, not {fn!r}")
            lam = _number(key, s[key])
            lo, hi, stop = EIG_LOG10
            if lam <= 0 or not _on_grid(math.log10(lam), lo, hi, stop):
                near = [10 ** (round(math.log10(lam) / stop) * stop)] if lam > 0 else [1.0]
                raise ValueError(f"{key} = {s[key]} is not on the eigenvalue slider (10^k for k = -2, -1.95, ..., 2;"
                                 f" the nearest is {near[0]:.3g})")
    for key, value in s.items():
        if "." not in key:
            continue
        method, hp = key.split(".", 1)
        if method not in live_paths.METHODS:
            raise ValueError(f"{key}: no optimizer {method!r} in the Paths view; valid: "
                             f"{', '.join(live_paths.METHODS)}")
        settable = live_paths.METHODS[method][2]
        if hp == "off":
            if value not in ("0", "1"):
                raise ValueError(f"{key} must be true or false, got {value!r}")
            continue
        if hp not in settable:
            raise ValueError(f"{key}: {method} has no setting {hp!r}; valid: {', '.join(settable)}, off")
        x = _number(key, value)
        lo, hi = LR_RANGE if hp == "lr" else UNIT_RANGE if hp in ("momentum", "alpha", "beta1") else (0.0, math.inf)
        if not lo <= x <= hi:
            raise ValueError(f"{key} = {value} is outside its slider's range [{lo:g}, {hi:g}]")


def check_setting(setting) -> dict:
    """A step's setting (a table) as the URL keys and strings the page reads, or ValueError saying
    which key the page cannot apply and why."""
    if not isinstance(setting, dict):
        raise ValueError("the setting must be a table of URL keys (view = \"train\", init = \"he\", ...)")
    s = {}
    for k, v in setting.items():  # a Paths method's settings may be a table: sgd = {lr = 0.1} or sgd.lr = 0.1
        for key, value in ({f"{k}.{k2}": v2 for k2, v2 in v.items()} if isinstance(v, dict) else {k: v}).items():
            s[str(key)] = _url_value(str(key), value)
    if s.get("view") not in VIEWS:
        raise ValueError(f"the setting needs view = one of {', '.join(VIEWS)}, got {s.get('view')!r}")
    known = {"view", "hide", "autostart", "seeds", "v1", "v2", "v3", "v4", "fn", "sx", "sy", "steps", "l1", "l2",
             *TRAIN_KEYS}
    for key in s:
        if key not in known and "." not in key:  # (a Paths method's key is checked with the Paths keys)
            raise ValueError(f"unknown key {key!r}; the page's keys are view, the Train form's "
                             f"({', '.join(TRAIN_KEYS)}), v1..v4 and seeds (Compare), fn, sx, sy, steps, l1, l2 and "
                             "<method>.<setting> (Paths), hide, autostart")
    if "autostart" in s:
        if s["autostart"] not in ("0", "1"):
            raise ValueError(f"autostart must be true or false, got {s['autostart']!r}")
        if s["autostart"] == "1" and s["view"] == "paths":
            raise ValueError("autostart starts a run of the Train or Compare view, not Paths (which needs none)")
    if "hide" in s:
        keys = {*TRAIN_KEYS, *HIDE_EXTRA, "v1", "v2", "v3", "v4"}
        bad = [k for k in s["hide"].split(",") if k.strip() and k.strip() not in keys]
        if bad:
            raise ValueError(f"hide: {', '.join(bad)} is not a control; valid: {', '.join(sorted(keys))}")
    choices = _choices()
    train = {k: s[k] for k in TRAIN_KEYS if k in s}
    _check_train(train, choices, "")
    if "seeds" in s:
        n = _number("seeds", s["seeds"])
        if n != int(n) or not 1 <= n <= 5:
            raise ValueError(f"seeds must be a whole number from 1 to 5, got {s['seeds']}")
    for key in ("v1", "v2", "v3", "v4"):
        if key not in s or not s[key]:
            continue
        v = _variant(key, s[key])
        shared = sorted(set(v) & set(SHARED))
        if shared:
            raise ValueError(f"{key} sets {', '.join(shared)}: compared runs share the data, seed, batches and "
                             "length; set them outside the variant")
        unknown = sorted(set(v) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"{key}: unknown settings {unknown}")
        own = {}
        if "optimizer" in v and v["optimizer"] != train.get("optimizer", DEFAULTS["optimizer"]):
            own = {k: "" for k in ("lr", "momentum") if k not in v}  # compare.py: the optimizer's own defaults
        _check_train({**train, **own, **v}, choices, f"{key} ({s[key]}): ")
    _check_paths(s)
    return s


# ----------------------------------------------------------------------------- files
_MARKERS = {"look for": "look_for", "question": "question", "answer": "answer"}
_MARKER = re.compile(r"^\s*(?:\*\*)?(look for|question|answer)\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)
_FENCE = re.compile(r"^```\s*setting\s*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def _step_from_markdown(title: str, body: str) -> dict:
    fences = _FENCE.findall(body)
    if len(fences) != 1:
        raise ValueError(f"needs one ```setting block (found {len(fences)})")
    try:
        setting = tomllib.loads(fences[0])
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"its ```setting block is not TOML ({e})") from None
    rest = _FENCE.sub("", body)
    parts = {"text": []}
    current = "text"
    for para in re.split(r"\n\s*\n", rest.strip()):
        m = _MARKER.match(para)
        if m:
            current = _MARKERS[m.group(1).lower()]
            if current in parts:
                raise ValueError(f"has two {m.group(1).capitalize()}: paragraphs")
            parts[current] = []
            para = para[m.end():]
        if para.strip():
            parts[current].append(para.strip())
    return {"title": title, "setting": setting, **{k: "\n\n".join(v) for k, v in parts.items()}}


def _parse_markdown(text: str) -> tuple[dict, list]:
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "+++":
        hint = " (YAML's --- is not read)" if lines and lines[0].strip() == "---" else ""
        raise ValueError(f"must start with TOML front matter between +++ lines{hint}")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise ValueError("its front matter has no closing +++ line") from None
    try:
        front = tomllib.loads("".join(lines[1:end]))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"its front matter is not TOML ({e})") from None
    body = "".join(lines[end + 1:])
    chunks = re.split(r"^##[ \t]+(.+?)[ \t]*$", body, flags=re.MULTILINE)
    if chunks[0].strip():
        raise ValueError("has text before its first step's ## heading (put it in a step, or in the front matter's "
                         "summary)")
    steps = []
    for k in range(1, len(chunks), 2):
        try:
            steps.append(_step_from_markdown(chunks[k], chunks[k + 1]))
        except ValueError as e:
            raise ValueError(f"step {len(steps) + 1} ({chunks[k]!r}) {e}") from None
    return front, steps


def _parse_toml(text: str) -> tuple[dict, list]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"is not TOML ({e})") from None
    steps = doc.pop("steps", None)
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ValueError("needs its steps as [[steps]] tables")
    return doc, steps


def _lesson(lesson_id: str, front: dict, raw_steps: list, origin: str) -> Lesson:
    unknown = sorted(set(front) - FRONT_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} at the top; valid: {', '.join(sorted(FRONT_KEYS))}")
    for key in ("title", "source"):
        if not isinstance(front.get(key), str) or not front[key].strip():
            raise ValueError(f"needs a {key} (a string): the lesson's name, and the work it follows"
                             if key == "source" else f"needs a {key} (a string)")
    if not isinstance(front.get("order", 100), int):
        raise ValueError("order must be a whole number")
    if not raw_steps:
        raise ValueError("has no steps")
    steps = []
    for i, st in enumerate(raw_steps):
        name = f"step {i + 1}" + (f" ({st.get('title')!r})" if isinstance(st.get("title"), str) else "")
        unknown = sorted(set(st) - STEP_KEYS)
        if unknown:
            raise ValueError(f"{name}: unknown key {unknown[0]!r}; valid: {', '.join(sorted(STEP_KEYS))}")
        for key in ("title", "text", "look_for", "question", "answer"):
            if not isinstance(st.get(key), str) or not st[key].strip():
                said = {"look_for": "a Look for: paragraph (look_for)", "question": "a Question: paragraph",
                        "answer": "an Answer: paragraph"}.get(key, f"a {key}")
                raise ValueError(f"{name}: needs {said}")
        if "setting" not in st:
            raise ValueError(f"{name}: needs a setting")
        try:
            setting = check_setting(st["setting"])
        except ValueError as e:
            raise ValueError(f"{name}: setting: {e}") from None
        steps.append(Step(st["title"].strip(), setting, blocks(st["text"]), blocks(st["look_for"]),
                          blocks(st["question"]), blocks(st["answer"])))
    return Lesson(lesson_id, front["title"].strip(), front["source"].strip(), steps,
                  str(front.get("summary", "")).strip(), front.get("order", 100), origin)


def load_file(path) -> Lesson:
    """One lesson file (``.md`` or ``.toml``); :class:`LessonError` naming the file if it is not usable."""
    path = Path(path)
    lesson_id = path.stem
    try:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", lesson_id):
            raise ValueError("its name must be letters, digits, - and _ (it is the lesson's id in the page's URL)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError("is not UTF-8 text") from None
        front, steps = _parse_markdown(text) if path.suffix == ".md" else _parse_toml(text)
        return _lesson(lesson_id, front, steps, "built-in" if path.parent == BUILTIN_DIR else str(path))
    except OSError as e:
        raise LessonError(f"lesson file {path}: cannot be read ({e.strerror or e})") from None
    except ValueError as e:
        raise LessonError(f"lesson file {path}: {e}") from None


def load_folder(folder) -> list:
    """Every ``*.md`` and ``*.toml`` lesson in ``folder``, sorted by ``order`` then id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LessonError(f"--lessons {folder}: " + ("no such folder" if not folder.exists() else
                                                      "is a file; give the folder that holds the lesson files"))
    files = sorted(p for p in folder.iterdir() if p.suffix in (".md", ".toml") and p.is_file())
    if not files:
        raise LessonError(f"--lessons {folder}: no lesson files (*.md or *.toml) in it")
    ids = {}
    for p in files:
        if p.stem in ids:
            raise LessonError(f"lesson files {ids[p.stem]} and {p.name} have the same name (the lesson's id); "
                              "rename one")
        ids[p.stem] = p.name
    return sorted((load_file(p) for p in files), key=lambda le: (le.order, le.id))


def builtin() -> list:
    """The lessons that ship with mlplab (``lessons_builtin/``)."""
    return load_folder(BUILTIN_DIR)


def all_lessons(folder=None) -> list:
    """The built-in lessons, then the teacher's from ``folder`` (a teacher's lesson with a built-in's
    id replaces it)."""
    own = load_folder(folder) if folder is not None else []
    mine = {le.id for le in own}
    return [le for le in builtin() if le.id not in mine] + own
