"""The lab report: every study's figures, numbers and explanation on one page, from saved results.

:func:`build_report` reads study directories written by :func:`mlplab.lab.run_study` (each holds
``meta.json``, ``numbers.json``, ``section.md`` and the PNG figures) and writes two files into
``out_dir``:

* ``report.html``: one self-contained page (CSS inline, figures embedded as base64 ``data:`` URIs,
  no scripts, no network) that opens from disk in any browser: a table of contents, then per study
  its title, one-line description, source, figures with captions, the explanation (``section.md``
  converted by the small Markdown renderer below) and its measured numbers as tables; an appendix
  with the settings, seed, library versions and run time of every study.
* ``report.md``: the same content as Markdown, figures referenced by paths relative to ``out_dir``.

Nothing is re-trained: ``mlplab report RUN_DIR...`` first redraws every figure and re-writes every
section.md from the study's numbers.json (:func:`mlplab.lab.base.render_study`), then builds both
files from disk. Both are written
atomically (temporary file, then rename). Everything taken from the study files is HTML-escaped.

The Markdown subset understood by :func:`markdown_to_html`: paragraphs, ``#``-headings (demoted
to fit under the study's heading), ``**bold**``, ``*italic*``, ```code```, ``[links](url)``
(http, https, relative and ``#`` targets only), pipe tables with a ``|---|`` separator row
(alignment colons honoured), bullet and numbered lists, fenced code blocks, block quotes and
horizontal rules (see :mod:`mlplab.lab.markdown`).
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from html import escape as _esc
from pathlib import Path

from .markdown import inline_html, markdown_to_html

__all__ = ["build_report", "load_study", "markdown_to_html", "number_tables", "format_value",
           "REPORT_HTML", "REPORT_MD"]

REPORT_HTML = "report.html"
REPORT_MD = "report.md"

MAX_INLINE_LIST = 6  # longer lists of numbers are summarised (n, first, last, min, max)
MAX_TABLE_ROWS = 40  # rows shown per numbers table; the rest are counted
MAX_PIVOT_COLUMNS = 10  # a dict of dicts becomes one table if its leaves fit in this many columns


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


# ------------------------------------------------------------------------------------ numbers
def format_value(v) -> str:
    """A number or short list as text: 4 significant digits, long lists summarised."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        a = abs(v)
        if 1e-3 <= a < 1e5:
            return f"{v:.4g}"
        return f"{v:.3e}".replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e")
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return _format_list(v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={format_value(x)}" for k, x in v.items())
    return str(v)


def _shape(v) -> tuple:
    shape = []
    while isinstance(v, list):
        shape.append(len(v))
        if not v:
            break
        v = v[0]
    return tuple(shape)


def _flat_numbers(v) -> list[float]:
    out: list[float] = []
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            out.append(float(x))
        elif isinstance(x, str):
            try:
                out.append(float(x))  # "nan", "inf" as written by base._jsonable
            except ValueError:
                pass
    return out


def _format_list(v: list) -> str:
    if not v:
        return "[]"
    scalar = all(not isinstance(x, (list, dict)) for x in v)
    if scalar and len(v) <= MAX_INLINE_LIST:
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if scalar:
        nums = [x for x in _flat_numbers(v) if math.isfinite(x)]
        head = f"{len(v)} values: {format_value(v[0])} … {format_value(v[-1])}"
        if nums:
            head += f" (min {format_value(min(nums))}, max {format_value(max(nums))})"
        return head
    if all(isinstance(x, dict) for x in v):
        return f"{len(v)} records"
    shape = _shape(v)
    nums = [x for x in _flat_numbers(v) if math.isfinite(x)]
    text = f"array {'×'.join(map(str, shape))}"
    if nums:
        text += f": min {format_value(min(nums))}, mean {format_value(sum(nums) / len(nums))}, " \
                f"max {format_value(max(nums))}"
    return text


@dataclass
class NumberTable:
    """One table of a study's numbers: ``title`` is the dotted path of the part of numbers.json it
    shows ('' for top-level values), ``header`` the column names, ``rows`` formatted cells."""

    title: str
    header: list[str]
    rows: list[list[str]]
    hidden: int = 0  # rows beyond MAX_TABLE_ROWS, not shown


def _leaves(d: dict, prefix: str = "") -> dict[str, object]:
    """Flatten nested dicts to dotted keys; lists and scalars are leaves."""
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_leaves(v, key))
        else:
            out[key] = v
    return out


def _pivot(d: dict) -> tuple[list[str], list[list[str]]] | None:
    """A dict whose values are all dicts with (mostly) the same leaves -> a row per key."""
    if len(d) < 2 or not all(isinstance(v, dict) and v for v in d.values()):
        return None
    flat = {k: _leaves(v) for k, v in d.items()}
    columns: list[str] = []
    for leaves in flat.values():
        for c in leaves:
            if c not in columns:
                columns.append(c)
    if len(columns) > MAX_PIVOT_COLUMNS:
        return None
    filled = sum(len(leaves) for leaves in flat.values())
    if filled < 0.6 * len(columns) * len(flat):  # too ragged to read as one table
        return None
    rows = [[str(k)] + [format_value(leaves[c]) if c in leaves else "—" for c in columns]
            for k, leaves in flat.items()]
    return columns, rows


def _records_table(v: list) -> tuple[list[str], list[list[str]]] | None:
    """A list of flat dicts (per-layer or per-run records) -> one row per record."""
    if not v or not all(isinstance(x, dict) and x for x in v):
        return None
    flat = [_leaves(x) for x in v]
    columns: list[str] = []
    for leaves in flat:
        for c in leaves:
            if c not in columns:
                columns.append(c)
    if len(columns) > MAX_PIVOT_COLUMNS + 2:
        return None
    return ["#"] + columns, [[str(i)] + [format_value(x.get(c)) for c in columns] for i, x in enumerate(flat)]


def number_tables(numbers, title: str = "") -> list[NumberTable]:
    """Turn a study's numbers.json into readable tables.

    Scalars (and short lists) at one level form a two-column ``quantity | value`` table; a dict whose
    values are dicts with the same keys (e.g. optimizer -> {final loss, accuracy}) becomes one table
    with a row per key; a list of records becomes a row per record; anything else is recursed into.
    """
    if not isinstance(numbers, dict):
        if numbers is None:
            return []
        return [NumberTable(title, ["quantity", "value"], [[title or "value", format_value(numbers)]])]
    tables: list[NumberTable] = []
    simple: list[list[str]] = []
    nested: list[tuple[str, object]] = []
    for k, v in numbers.items():
        if isinstance(v, dict) and v:
            nested.append((str(k), v))
        elif isinstance(v, list) and (rec := _records_table(v)) is not None and len(v) > 1:
            nested.append((str(k), v))
        else:
            simple.append([str(k), format_value(v)])
    if simple:
        tables.append(NumberTable(title, ["quantity", "value"], simple))
    for k, v in nested:
        path = f"{title}.{k}" if title else k
        if isinstance(v, list):
            rec = _records_table(v)
            tables.append(NumberTable(path, rec[0], rec[1]))
            continue
        piv = _pivot(v)
        if piv is not None:
            tables.append(NumberTable(path, [""] + piv[0], piv[1]))
        elif all(isinstance(x, dict) and len(_leaves(x)) <= MAX_INLINE_LIST for x in v.values()):
            tables.append(NumberTable(path, ["", "values"], [[str(a), _compact_leaves(b)] for a, b in v.items()]))
        elif all(not isinstance(x, dict) for x in v.values()):
            tables.append(NumberTable(path, ["quantity", "value"], [[str(a), format_value(b)] for a, b in v.items()]))
        else:
            tables.extend(number_tables(v, path))
    # merge consecutive small key/value tables? keep separate: each has its own path as caption.
    for t in tables:
        if len(t.rows) > MAX_TABLE_ROWS:
            t.hidden = len(t.rows) - MAX_TABLE_ROWS
            t.rows = t.rows[:MAX_TABLE_ROWS]
    return tables


def _compact_leaves(d: dict) -> str:
    return ", ".join(f"{k} = {format_value(x)}" for k, x in _leaves(d).items())


def _settings_text(settings) -> str:
    """Settings as compact ``key=value`` text (nested dicts inline)."""
    if not isinstance(settings, dict) or not settings:
        return "—"
    return "; ".join(f"{k}={_compact(v)}" for k, v in settings.items())


def _compact(v) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_compact(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list) and len(v) > MAX_INLINE_LIST * 2:
        return _format_list(v)
    if isinstance(v, list):
        return "[" + ", ".join(_compact(x) for x in v) + "]"
    return format_value(v)


# ------------------------------------------------------------------------------------ HTML page
CSS = """
:root { --fg:#1d2330; --muted:#5b6475; --line:#e2e6ee; --bg:#ffffff; --side:#f6f8fb; --accent:#2f5fb3;
        --code:#f2f4f8; --warn:#9a3412; --warnbg:#fff4e5; }
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body { margin:0; color:var(--fg); background:var(--bg); line-height:1.6;
       font:16px/1.6 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Liberation Sans", Arial, sans-serif; }
.layout { display:grid; grid-template-columns: 270px minmax(0, 1fr); min-height:100vh; }
nav.toc { position:sticky; top:0; align-self:start; height:100vh; overflow:auto; padding:28px 18px 28px 22px;
          background:var(--side); border-right:1px solid var(--line); font-size:14px; }
nav.toc .brand { font-weight:700; font-size:17px; margin-bottom:2px; }
nav.toc .brand-sub { color:var(--muted); font-size:12.5px; margin-bottom:18px; }
nav.toc h2 { font-size:12px; text-transform:uppercase; letter-spacing:.08em; color:var(--muted); margin:0 0 8px; }
nav.toc ol { margin:0; padding-left:1.3em; }
nav.toc li { margin:4px 0; }
nav.toc li::marker { color:var(--muted); }
nav.toc a { color:var(--fg); text-decoration:none; }
nav.toc a:hover { color:var(--accent); text-decoration:underline; }
nav.toc .toc-desc { display:block; color:var(--muted); font-size:12px; line-height:1.35; }
main { padding:36px 48px 80px; max-width:1060px; }
header.report h1 { font-size:30px; margin:0 0 6px; letter-spacing:-.01em; }
header.report .lead { color:var(--muted); margin:0 0 18px; }
.summary { display:flex; flex-wrap:wrap; gap:10px; margin:0 0 26px; padding:0; list-style:none; }
.summary li { background:var(--side); border:1px solid var(--line); border-radius:8px; padding:8px 14px;
              font-size:14px; }
.summary b { display:block; font-size:18px; }
section.study { border-top:2px solid var(--line); padding-top:18px; margin-top:38px; }
section.study > h2 { font-size:24px; margin:0 0 4px; }
section.study > h2 .num { color:var(--muted); font-weight:400; margin-right:.35em; }
.desc { font-size:17px; color:#30394a; margin:2px 0 6px; }
.meta-line { color:var(--muted); font-size:13.5px; margin:0 0 14px; }
.meta-line code { font-size:12.5px; }
.badge { display:inline-block; font-size:11.5px; font-weight:600; padding:1px 8px; border-radius:10px;
         background:#e8eefb; color:var(--accent); margin-left:6px; vertical-align:2px; }
.badge.quick { background:var(--warnbg); color:var(--warn); }
h3 { font-size:17px; margin:26px 0 8px; }
h4, h5, h6 { font-size:15px; margin:18px 0 6px; }
figure { margin:18px 0 22px; padding:12px; border:1px solid var(--line); border-radius:8px; background:#fff; }
figure img { display:block; max-width:100%; height:auto; margin:0 auto; }
figcaption { color:var(--muted); font-size:14px; margin-top:8px; }
figcaption .fig-no { font-weight:600; color:var(--fg); }
.explanation p { margin:0 0 12px; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size:.88em; background:var(--code);
       padding:1px 5px; border-radius:4px; }
pre { background:var(--code); padding:12px; border-radius:6px; overflow:auto; }
pre code { padding:0; background:none; }
blockquote { margin:12px 0; padding:4px 14px; border-left:3px solid var(--line); color:var(--muted); }
.table-wrap { overflow-x:auto; margin:10px 0 16px; }
table { border-collapse:collapse; font-size:14px; }
th, td { padding:5px 10px; border-bottom:1px solid var(--line); vertical-align:top; text-align:left; }
th { background:var(--side); font-weight:600; border-bottom:2px solid var(--line); }
tbody tr:nth-child(even) td { background:#fafbfd; }
table.numbers td:not(:first-child) { font-variant-numeric: tabular-nums; }
table.numbers td { white-space:nowrap; }
table.numbers caption { caption-side:top; text-align:left; font-weight:600; font-size:13.5px; padding:4px 0;
                        color:#30394a; }
.more { color:var(--muted); font-size:13px; }
.numbers-grid { display:flex; flex-wrap:wrap; gap:4px 28px; align-items:flex-start; }
.numbers-grid .table-wrap { margin:6px 0 10px; max-width:100%; }
.problems { background:var(--warnbg); color:var(--warn); border-radius:6px; padding:8px 12px; font-size:14px; }
details.numbers > summary { cursor:pointer; font-weight:600; margin:20px 0 8px; font-size:17px; }
table.appendix td { font-size:13px; }
table.appendix td.settings { max-width:520px; word-break:break-word; font-size:12px;
                             font-family:"DejaVu Sans Mono", Menlo, Consolas, monospace; }
table.appendix td:first-child, table.appendix td.nowrap { white-space:nowrap; }
footer { margin-top:60px; color:var(--muted); font-size:13px; border-top:1px solid var(--line); padding-top:12px; }
@media (max-width: 900px) {
  .layout { display:block; }
  nav.toc { position:static; height:auto; border-right:0; border-bottom:1px solid var(--line); }
  main { padding:24px 18px 60px; }
}
@media print { nav.toc { display:none; } .layout { display:block; } }
"""


def _anchor(name: str, used: set[str]) -> str:
    base = "study-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x")
    anchor, k = base, 2
    while anchor in used:
        anchor, k = f"{base}-{k}", k + 1
    used.add(anchor)
    return anchor


def _data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
            ".gif": "image/gif", ".webp": "image/webp"}.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _numbers_html(tables: list[NumberTable]) -> str:
    out = ['<div class="numbers-grid">']
    for t in tables:
        cap = f"<caption>{_esc(t.title)}</caption>" if t.title else ""
        head = "".join(f"<th>{_esc(h)}</th>" for h in t.header)
        body = "\n".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in t.rows)
        more = f'<p class="more">… and {t.hidden} more rows in numbers.json</p>' if t.hidden else ""
        out.append(f'<div class="table-wrap"><table class="numbers">{cap}<thead><tr>{head}</tr></thead>'
                   f"<tbody>\n{body}\n</tbody></table>{more}</div>")
    out.append("</div>")
    return "\n".join(out)


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


def _render_html(studies: list[StudyFiles], anchors: list[str], figure_uris: list[list[str | None]],
                 generated: str) -> str:
    total = sum(float(s.meta.get("seconds") or 0) for s in studies)
    n_fig = sum(len(s.figures) for s in studies)
    quick = [s for s in studies if s.meta.get("quick")]
    variant = ("quick variants" if len(quick) == len(studies) else "reference settings" if not quick
               else f"{len(quick)} quick, {len(studies) - len(quick)} at reference settings")
    toc = []
    for s, a in zip(studies, anchors):
        toc.append(f'<li><a href="#{a}">{_esc(s.title)}</a>'
                   f'<span class="toc-desc">{_esc(s.name)}</span></li>')
    toc.append('<li><a href="#appendix">Appendix: settings, seeds, versions, run times</a></li>')
    body = []
    for i, (s, a, uris) in enumerate(zip(studies, anchors, figure_uris), 1):
        m = s.meta
        badge = '<span class="badge quick">quick</span>' if m.get("quick") else '<span class="badge">reference</span>'
        parts = [f'<section class="study" id="{a}">',
                 f'<h2><span class="num">{i}.</span>{_esc(s.title)}{badge}</h2>']
        if m.get("description"):
            parts.append(f'<p class="desc">{_esc(str(m["description"]))}</p>')
        info = [f"study <code>{_esc(s.name)}</code>"]
        if m.get("source"):
            info.append(f"source: {_esc(str(m['source']))}")
        info.append(f"seed {_esc(str(m.get('seed', '—')))}, {_esc(_fmt_seconds(m.get('seconds')))}")
        parts.append(f'<p class="meta-line">{" · ".join(info)}</p>')
        if s.problems:
            parts.append('<p class="problems">' + _esc("; ".join(s.problems)) + "</p>")
        for j, (fig, uri) in enumerate(zip(s.figures, uris), 1):
            if uri is None:
                continue
            alt = fig["caption"] or fig["file"]
            parts.append(f'<figure id="{a}-fig{j}"><img src="{uri}" alt="{_esc(alt)}">'
                         f'<figcaption><span class="fig-no">Figure {i}.{j}</span> '
                         f'({_esc(fig["file"])}) {inline_html(fig["caption"])}</figcaption></figure>')
        if s.markdown.strip():
            parts.append(f'<h3>What it shows</h3><div class="explanation">{markdown_to_html(s.markdown)}</div>')
        tables = number_tables(s.numbers)
        if tables:
            n_rows = sum(len(t.rows) for t in tables)
            parts.append(f'<h3>Measured numbers</h3><p class="more">{n_rows} values from '
                         f"<code>numbers.json</code>; long series are summarised.</p>")
            parts.append(_numbers_html(tables))
        parts.append("</section>")
        body.append("\n".join(parts))
    rows = []
    for s, a in zip(studies, anchors):
        m = s.meta
        rows.append(f'<tr><td><a href="#{a}">{_esc(s.name)}</a></td>'
                    f"<td>{'quick' if m.get('quick') else 'reference'}</td>"
                    f"<td>{_esc(str(m.get('seed', '—')))}</td>"
                    f'<td class="nowrap">{_esc(_fmt_seconds(m.get("seconds")))}</td>'
                    f'<td class="nowrap">{_esc(str(m.get("finished", "—")))}</td>'
                    f'<td class="settings">{_esc(_settings_text(m.get("settings")))}</td>'
                    f"<td>{_esc(_versions_text(m.get('versions')))}</td></tr>")
    appendix = ('<section class="study" id="appendix"><h2>Appendix: settings, seeds, versions, run times</h2>'
                '<p class="meta-line">Everything needed to repeat a study: <code>mlplab lab run NAME '
                '[--quick] --seed SEED</code> with the versions below.</p>'
                '<div class="table-wrap"><table class="appendix"><thead><tr><th>study</th><th>variant</th>'
                "<th>seed</th><th>run time</th><th>finished</th><th>settings</th><th>versions</th></tr></thead>"
                "<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div></section>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mlplab lab report</title>
<style>{CSS}</style>
</head>
<body>
<div class="layout">
<nav class="toc" aria-label="Table of contents">
<div class="brand">mlplab lab report</div>
<div class="brand-sub">{_plural(len(studies), "study", "studies")} · {_esc(generated)}</div>
<h2>Contents</h2>
<ol>
{chr(10).join(toc)}
</ol>
</nav>
<main>
<header class="report">
<h1>Why the optimizer and the initialization decide whether a network trains</h1>
<p class="lead">The experiments of the source texts, re-run with mlplab: every figure below was drawn from
the numbers measured in this run, and every explanation quotes them.</p>
<ul class="summary">
<li><b>{len(studies)}</b>{"study" if len(studies) == 1 else "studies"}</li>
<li><b>{n_fig}</b>{"figure" if n_fig == 1 else "figures"}</li>
<li><b>{_esc(_fmt_seconds(total))}</b>total run time</li>
<li><b>{_esc(variant)}</b>variant</li>
</ul>
</header>
{chr(10).join(body)}
{appendix}
<footer>Generated by <code>mlplab report</code> on {_esc(generated)} from saved results; rebuild with
<code>mlplab report DIR</code>, re-run with <code>mlplab lab run all</code>.</footer>
</main>
</div>
</body>
</html>
"""


# ------------------------------------------------------------------------------------ Markdown page
def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes."""
    a = re.sub(r"[^\w\- ]", "", title.lower().strip())
    return a.replace(" ", "-")


def _render_md(studies: list[StudyFiles], out_dir: Path, generated: str) -> str:
    lines = ["# mlplab lab report", "",
             f"{_plural(len(studies), 'study', 'studies')}, generated {generated} from saved results "
             "(rebuild with `mlplab report DIR`).", "", "## Contents", ""]
    titles = [f"{i}. {s.title}" for i, s in enumerate(studies, 1)]
    for t in titles:
        lines.append(f"- [{t}](#{_md_anchor(t)})")
    lines.append("- [Appendix: settings, seeds, versions, run times]"
                 "(#appendix-settings-seeds-versions-run-times)")
    lines.append("")
    for i, (s, t) in enumerate(zip(studies, titles), 1):
        m = s.meta
        lines += [f"## {t}", ""]
        if m.get("description"):
            lines += [f"*{str(m['description']).strip()}*", ""]
        info = [f"study `{s.name}`", f"{'quick' if m.get('quick') else 'reference'} variant"]
        if m.get("source"):
            info.append(f"source: {m['source']}")
        info.append(f"seed {m.get('seed', '—')}, {_fmt_seconds(m.get('seconds'))}")
        lines += [" · ".join(info), ""]
        if s.problems:
            lines += ["> **Missing:** " + "; ".join(s.problems), ""]
        for j, fig in enumerate(s.figures, 1):
            if fig["path"] is None:
                continue
            rel = Path(os.path.relpath(fig["path"], out_dir)).as_posix()
            cap = fig["caption"].replace("\n", " ")
            lines += [f"![Figure {i}.{j}: {cap}]({rel})", "", f"*Figure {i}.{j}* ({fig['file']}). {cap}", ""]
        if s.markdown.strip():
            body = re.sub(r"^(#{1,4})(\s)", r"##\1\2", s.markdown.strip(), flags=re.M)  # demote headings
            lines += ["### What it shows", "", body, ""]
        tables = number_tables(s.numbers)
        if tables:
            lines += ["### Measured numbers", ""]
            for tb in tables:
                if tb.title:
                    lines += [f"**{tb.title}**", ""]
                lines.append("| " + " | ".join(_md_cell(h) for h in tb.header) + " |")
                lines.append("|" + "|".join("---" for _ in tb.header) + "|")
                for row in tb.rows:
                    lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
                if tb.hidden:
                    lines.append(f"\n… and {tb.hidden} more rows in numbers.json")
                lines.append("")
    lines += ["## Appendix: settings, seeds, versions, run times", "",
              "| study | variant | seed | run time | finished | settings | versions |",
              "|---|---|---|---|---|---|---|"]
    for s in studies:
        m = s.meta
        lines.append("| " + " | ".join(_md_cell(x) for x in (
            s.name, "quick" if m.get("quick") else "reference", m.get("seed", "—"), _fmt_seconds(m.get("seconds")),
            m.get("finished", "—"), _settings_text(m.get("settings")), _versions_text(m.get("versions")))) + " |")
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ entry point
def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def redraw(study_dir) -> str | None:
    """Redraw the figures and re-write section.md of one study directory from its numbers.json, if
    the study is in the registry; returns a problem to show in the report, or None."""
    from . import studies as registry
    from .base import render_study

    d = Path(study_dir)
    meta = _read_json(d / "meta.json", []) if (d / "meta.json").exists() else None
    name = (meta or {}).get("name") or d.name
    study = registry().get(str(name))
    if study is None:
        return None  # not a study of this version: its saved figures and section are shown as they are
    if not (d / "numbers.json").exists():
        return "numbers.json is missing: figures and section could not be redrawn"
    try:
        render_study(study, d)
    except Exception as e:  # numbers.json from another version of the study, say: keep what is on disk
        return f"could not redraw from numbers.json ({type(e).__name__}: {e}); showing the saved files"
    return None


def build_report(study_dirs, out_dir, redraw_figures: bool = True) -> tuple[Path, Path]:
    """Build ``report.html`` and ``report.md`` in ``out_dir`` from study directories (each holding
    meta.json). Every figure and section.md is first redrawn from the study's numbers.json (nothing
    is re-trained) unless ``redraw_figures`` is False. Returns ``(html_path, md_path)``. Studies
    appear in the registry's order."""
    dirs = [Path(d) for d in study_dirs]
    if not dirs:
        raise ValueError("build_report: no study directories given")
    redraw_problems = {d: redraw(d) for d in dirs} if redraw_figures else {}
    loaded = []
    for d in dirs:
        s = load_study(d)
        if redraw_problems.get(d):
            s.problems.insert(0, redraw_problems[d])
        loaded.append(s)
    studies = _order(loaded)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = time.strftime("%Y-%m-%d %H:%M")
    used: set[str] = {"appendix"}
    anchors = [_anchor(s.name, used) for s in studies]
    uris = []
    for s in studies:
        row = []
        for fig in s.figures:
            try:
                row.append(_data_uri(fig["path"]) if fig["path"] is not None else None)
            except OSError as e:
                s.problems.append(f"figure {fig['file']} could not be read ({e})")
                row.append(None)
        uris.append(row)
    page = _render_html(studies, anchors, uris, generated)
    md = _render_md(studies, out_dir, generated)
    html_path, md_path = out_dir / REPORT_HTML, out_dir / REPORT_MD
    _write_atomic(html_path, page)
    _write_atomic(md_path, md)
    return html_path, md_path
