"""The lab report: every study's figures, numbers and explanation on one page, from saved results.

:func:`build_report` reads study directories written by :func:`mlplab.lab.run_study` (each holds
``meta.json``, ``numbers.json``, ``section.md`` and the PNG figures), decides the report's content
once (:func:`build_page`: a :class:`~mlplab.lab.render.Page` of sections made of prose, figures,
tables and folds) and renders it twice (:mod:`mlplab.lab.render`) into ``out_dir``:

* ``report.html``: one self-contained page (CSS inline, figures embedded, no scripts, no network):
  a table of contents, then per study its title, one-line description, source, figures with
  captions, the explanation (``section.md`` through :mod:`mlplab.lab.markdown`), the tables of
  numbers.json that carry the study's claim (``Study.claims``) and the others folded behind a
  disclosure; an appendix with the settings, seed, library versions and run time of every study.
* ``report.md``: the same content as Markdown, figures referenced by paths relative to ``out_dir``.

Nothing is re-trained: ``mlplab report RUN_DIR...`` first redraws every figure and re-writes every
section.md of a known study from its numbers.json (:func:`mlplab.lab.base.render_study`), then
builds both files. Both are written atomically (temporary file, then rename). numbers.json becomes tables and
text in :mod:`mlplab.lab.number_tables`.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..runtime.fileio import atomic_write
from .markdown import markdown_to_html
from .number_tables import (  # numbers.json as tables and text, re-exported here where they always were
    MAX_TABLE_ROWS,
    NumberTable,
    _settings_text,
    format_value,
    number_tables,
)
from .render import Fig, Fold, Heading, Note, Page, Prose, Section, Table, png_size, to_html, to_markdown

__all__ = ["build_report", "load_study", "markdown_to_html", "number_tables", "format_value",
           "REPORT_HTML", "REPORT_MD", "MAX_TABLE_ROWS"]

REPORT_HTML = "report.html"
REPORT_MD = "report.md"

# ------------------------------------------------------------------------------------ loading
@dataclass
class StudyFiles:
    """One study directory, read from disk."""

    dir: Path
    meta: dict
    numbers: object
    markdown: str
    figures: list[dict] = field(default_factory=list)  # {file, caption, path (Path or None)}
    problems: list[str] = field(default_factory=list)  # missing / unreadable files, shown in the report

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.dir.name)

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or self.name)


def _read_json(path: Path, problems: list[str]):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
    except (OSError, ValueError) as e:
        problems.append(f"{path.name} could not be read ({type(e).__name__}: {e})")
    return None


def load_study(study_dir) -> StudyFiles:
    """Read one study directory; missing pieces are recorded in ``problems`` rather than raised
    (a report of nine studies should not fail because one figure was deleted)."""
    d = Path(study_dir)
    problems: list[str] = []
    meta = _read_json(d / "meta.json", problems)
    if not isinstance(meta, dict):
        if not (d / "meta.json").exists():
            raise FileNotFoundError(f"{d} holds no meta.json: not a study directory written by `mlplab lab run`")
        meta = {}
    numbers = _read_json(d / "numbers.json", problems) if (d / "numbers.json").exists() else None
    try:
        md = (d / "section.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        md = ""
        problems.append("section.md is missing")
    figures = []
    for fig in meta.get("figures") or []:
        if not isinstance(fig, dict) or not fig.get("file"):
            continue
        path = d / str(fig["file"])
        ok = path.is_file() and path.resolve().is_relative_to(d.resolve())
        if not ok:
            problems.append(f"figure {fig['file']} is missing")
        figures.append({"file": str(fig["file"]), "caption": str(fig.get("caption") or ""),
                        "path": path if ok else None})
    return StudyFiles(d, meta, numbers, md, figures, problems)


def _order(studies: list[StudyFiles]) -> list[StudyFiles]:
    """The registry's report order for known studies (stable for the rest, which come after)."""
    try:
        from . import _MODULES

        rank = {m.replace("_", "-"): i for i, m in enumerate(_MODULES)}
        rank.update({m: i for i, m in enumerate(_MODULES)})
    except ImportError:  # pragma: no cover
        rank = {}
    return sorted(studies, key=lambda s: rank.get(s.name, len(rank)))


# ------------------------------------------------------------------------------------ content
def _anchor(name: str, used: set[str]) -> str:
    base = "study-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x")
    anchor, k = base, 2
    while anchor in used:
        anchor, k = f"{base}-{k}", k + 1
    used.add(anchor)
    return anchor


def _fmt_seconds(s) -> str:
    try:
        s = float(s)
    except (TypeError, ValueError):
        return "—"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _versions_text(v) -> str:
    if not isinstance(v, dict) or not v:
        return "—"
    return ", ".join(f"{k} {x}" for k, x in v.items())


def _tables(t: list[NumberTable]) -> list[Table]:
    return [Table(x.title, x.header, x.rows, x.hidden) for x in t]


def numbers_blocks(numbers, claims) -> list:
    """The tables of numbers.json: those under the study's ``claims`` keys shown, the rest folded
    (the ``series`` the figures draw are left out: the figures show them)."""
    if not isinstance(numbers, dict):
        return _tables(number_tables(numbers))
    numbers = {k: v for k, v in numbers.items() if k != "series"}
    claims = [c for c in (claims or []) if c in numbers]
    shown = number_tables({c: numbers[c] for c in claims}) if claims else []
    rest = number_tables({k: v for k, v in numbers.items() if k not in claims})
    blocks: list = []
    if shown or rest:
        blocks.append(Heading("Measured numbers"))
    blocks += _tables(shown)
    if rest:
        n = sum(len(t.rows) for t in rest)
        label = "All other numbers" if shown else "All numbers"
        blocks.append(Fold(f"{label} in numbers.json ({_plural(len(rest), 'table', 'tables')}, "
                           f"{_plural(n, 'value', 'values')}; long series summarised)", _tables(rest)))
    return blocks


def _section(i: int, s: StudyFiles, anchor: str) -> Section:
    m = s.meta
    meta = [f"study `{s.name}`"]
    if m.get("source"):
        meta.append(f"source: {m['source']}")
    meta.append(f"seed {m.get('seed', '—')}, {_fmt_seconds(m.get('seconds'))}")
    blocks: list = [Note("; ".join(s.problems))] if s.problems else []
    for j, fig in enumerate(s.figures, 1):
        if fig["path"] is None:
            continue
        size = png_size(fig["path"])
        blocks.append(Fig(f"Figure {i}.{j}", fig["file"], fig["caption"], fig["path"],
                          wide=bool(size and size[0] >= 2 * size[1])))
    if s.markdown.strip():
        blocks += [Heading("What it shows"), Prose(s.markdown)]
    blocks += numbers_blocks(s.numbers, m.get("claims"))
    return Section(anchor, f"{i}.", s.title, badge="quick" if m.get("quick") else "reference",
                   description=str(m.get("description") or ""), meta=meta, blocks=blocks, toc_note=s.name)


def build_page(studies: list[StudyFiles], generated: str) -> Page:
    """The report's content, once: a section per study and the appendix."""
    used: set[str] = {"appendix"}
    sections = [_section(i, s, _anchor(s.name, used)) for i, s in enumerate(studies, 1)]
    rows = [[s.name, "quick" if s.meta.get("quick") else "reference", str(s.meta.get("seed", "—")),
             _fmt_seconds(s.meta.get("seconds")), str(s.meta.get("finished", "—")),
             _settings_text(s.meta.get("settings")), _versions_text(s.meta.get("versions"))] for s in studies]
    sections.append(Section(
        "appendix", "", "Appendix: settings, seeds, versions, run times",
        meta=["Everything needed to repeat a study: `mlplab lab run NAME [--quick] --seed SEED` with the "
              "versions below."],
        blocks=[Table("", ["study", "variant", "seed", "run time", "finished", "settings", "versions"], rows,
                      css="appendix")]))
    total = sum(float(s.meta.get("seconds") or 0) for s in studies)
    n_fig = sum(len(s.figures) for s in studies)
    quick = [s for s in studies if s.meta.get("quick")]
    variant = ("quick variants" if len(quick) == len(studies) else "reference settings" if not quick
               else f"{len(quick)} quick, {len(studies) - len(quick)} at reference settings")
    return Page(
        title="Why the optimizer and the initialization decide whether a network trains",
        lead="The experiments of the source texts, re-run with mlplab: every figure below was drawn from the "
             "numbers measured in this run, and every explanation quotes them.",
        brand="mlplab lab report", generated=f"{_plural(len(studies), 'study', 'studies')} · {generated}",
        summary=[(str(len(studies)), "study" if len(studies) == 1 else "studies"),
                 (str(n_fig), "figure" if n_fig == 1 else "figures"), (_fmt_seconds(total), "total run time"),
                 (variant, "variant")],
        sections=sections,
        footer=f"Generated by `mlplab report` on {generated} from saved results; rebuild with `mlplab report DIR`, "
               "re-run with `mlplab lab run all`.")


# ------------------------------------------------------------------------------------ entry point
def _write_atomic(path: Path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text)


_DAMAGED = "numbers.json is damaged"
_STALE = ("its section shows the saved figures and text, not redrawn, so they may be stale; re-run "
          "`mlplab lab run {name}` to refresh them")


class StudyNotRedrawn(ValueError):
    """A study's numbers.json is missing, damaged or does not fit its figures (``build_report(strict=True)``);
    ``studies`` lists ``(name, directory)`` of each."""

    def __init__(self, message: str, studies: list[tuple[str, Path]]):
        super().__init__(message)
        self.studies = studies


def _why_not_drawn(e: Exception) -> str:
    """What a study's draw/write said about its numbers, in words (not ``KeyError: 'series'``)."""
    if isinstance(e, KeyError):
        return f"it lacks the entry {e.args[0]!r} that the study's figures are drawn from"
    if isinstance(e, (TypeError, ValueError, IndexError, AttributeError)):
        return f"a value has the wrong type or shape for the study's figures ({' '.join(str(e).split())[:160]})"
    return f"the study's figures could not be drawn from it ({type(e).__name__}: {' '.join(str(e).split())[:160]})"


def redraw(study_dir) -> str | None:
    """Redraw the figures and re-write section.md of one study directory from its numbers.json, if
    the study is in the registry; returns a problem to show in the report, or None."""
    what, name = _redraw(Path(study_dir))
    return f"{what}: {_STALE.format(name=name)}" if what else None


def _redraw(d: Path) -> tuple[str | None, str]:
    """(what is wrong with the study's numbers.json, or None; the study's name)."""
    from . import studies as registry
    from .base import render_study

    meta_problems: list[str] = []
    meta = _read_json(d / "meta.json", meta_problems) if (d / "meta.json").exists() else None
    name = str((meta if isinstance(meta, dict) else {}).get("name") or d.name)
    if (d / "meta.json").exists() and not isinstance(meta, dict):  # JSON only: a pickle or garbage is named
        why = meta_problems[0] if meta_problems else "meta.json is not a JSON object"
        return f"{why.split(' (')[0]} (not the JSON object `mlplab lab run` writes)", name
    study = registry().get(name)
    if study is None:
        return None, name  # not a study of this version: its saved figures and section are shown as they are
    if not (d / "numbers.json").exists():
        return "numbers.json is missing", name
    try:
        json.loads((d / "numbers.json").read_text(encoding="utf-8"))
    except ValueError as e:
        return f"{_DAMAGED} (not valid JSON: {e})", name
    except OSError as e:
        return f"{_DAMAGED} (cannot be read: {e.strerror or e})", name
    try:
        render_study(study, d)
    except Exception as e:  # noqa: BLE001 (damaged, or from another version of the study: keep what is on disk)
        return f"{_DAMAGED} ({_why_not_drawn(e)}; or written by another version of mlplab)", name
    return None, name


def build_report(study_dirs, out_dir, redraw_figures: bool = True, problems: list | None = None,
                 strict: bool = False, progress=None) -> tuple[Path, Path]:
    """Build ``report.html`` and ``report.md`` in ``out_dir`` from study directories (each holding
    meta.json). Every figure and section.md is first redrawn from the study's numbers.json (nothing
    is re-trained) unless ``redraw_figures`` is False. Returns ``(html_path, md_path)``. Studies
    appear in the registry's order.

    A study whose numbers.json is missing, damaged or does not fit its figures keeps its saved files,
    and its section opens with a note saying so; with ``strict`` it raises :class:`StudyNotRedrawn`
    instead, naming each such study, before anything is written into ``out_dir``.
    ``progress(done, total, name)`` hears about each study before (done = its index) and after it is redrawn."""
    dirs = [Path(d) for d in study_dirs]
    if not dirs:
        raise ValueError("build_report: no study directories given")
    redraw_problems, wrong, names = {}, [], []
    for i, d in enumerate(dirs if redraw_figures else []):
        if progress is not None:
            progress(i, len(dirs), d.name)
        what, name = _redraw(d)
        if what:
            redraw_problems[d] = f"{what}: {_STALE.format(name=name)}"
            wrong.append(f"study {name} ({d}): {what}")
            names.append((name, d))
        if progress is not None:
            progress(i + 1, len(dirs), d.name)
    if strict and wrong:
        raise StudyNotRedrawn("; ".join(wrong), names)
    loaded = []
    for d in dirs:
        s = load_study(d)
        if redraw_problems.get(d):
            if redraw_problems[d].startswith(_DAMAGED):  # says it, with what to do: not twice
                s.problems = [p for p in s.problems if not p.startswith("numbers.json could not be read")]
            s.problems.insert(0, redraw_problems[d])
        loaded.append(s)
    studies = _order(loaded)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for s in studies:
        for fig in s.figures:
            if fig["path"] is not None and not os.access(fig["path"], os.R_OK):
                s.problems.append(f"figure {fig['file']} could not be read")
                fig["path"] = None
    if problems is not None:  # what the report notes, for the command to say too
        problems += [f"{s.name}: {p}" for s in studies for p in s.problems]
    page = build_page(studies, time.strftime("%Y-%m-%d %H:%M"))
    html, md = to_html(page, out_dir), to_markdown(page, out_dir)
    html_path, md_path = out_dir / REPORT_HTML, out_dir / REPORT_MD
    _write_atomic(html_path, html)
    _write_atomic(md_path, md)
    return html_path, md_path
