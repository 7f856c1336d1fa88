"""The report's content model, and its two renderings: one self-contained HTML page and Markdown.

:func:`mlplab.lab.report.build_report` decides *what* the report says once, as a :class:`Page` of
:class:`Section` objects holding blocks (:class:`Prose`, :class:`Fig`, :class:`Table`, :class:`Fold`,
:class:`Heading`, :class:`Note`); :func:`to_html` and :func:`to_markdown` only decide how each block
looks, so the two files cannot say different things.

HTML: CSS inline, figures embedded as base64 ``data:`` URIs, no scripts, no network. A figure whose
PNG is at least twice as wide as tall (:attr:`Fig.wide`) is laid out over the full width of the
window; a click on any figure opens it at full size over the page (a CSS-only toggle: a hidden
checkbox and its label), and its caption links the PNG file itself. Everything taken from study
files is HTML-escaped.

Notebooks: :func:`fragment_html` renders one section with the same :func:`section_html` and the same CSS,
scoped to ``div.mlplab-view`` so a cell does not restyle the notebook (``_repr_html_`` of a History, a
study's Result, a Diagnosis and a sweep's summary, see :mod:`mlplab.lab.display`).
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from html import escape as _esc
from pathlib import Path

from .markdown import inline_html, markdown_to_html


# ------------------------------------------------------------------------------------ content model
@dataclass
class Prose:
    markdown: str


@dataclass
class Heading:
    text: str


@dataclass
class Note:
    """A problem worth a reader's attention (a missing file, a figure that could not be redrawn)."""

    text: str


@dataclass
class Fig:
    label: str  # "Figure 2.1"
    file: str  # name in the study folder
    caption: str  # inline Markdown
    path: Path | None
    wide: bool = False
    png: bytes | None = None  # the image itself, when it has no file (a notebook's figure)


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list[str]]
    hidden: int = 0  # rows left out (still in numbers.json)
    css: str = "numbers"


@dataclass
class Fold:
    """Blocks behind a disclosure (HTML ``<details>``); Markdown shows them under a bold summary."""

    summary: str
    blocks: list = field(default_factory=list)


@dataclass
class Section:
    anchor: str
    number: str  # "2." or "" (the appendix)
    title: str
    badge: str = ""  # "quick" / "reference"
    description: str = ""
    meta: list[str] = field(default_factory=list)  # short inline-Markdown facts, joined by " · "
    toc_note: str = ""  # under the title in the HTML table of contents
    blocks: list = field(default_factory=list)


@dataclass
class Page:
    title: str
    lead: str
    brand: str
    generated: str
    summary: list[tuple[str, str]]  # (value, label)
    sections: list[Section]
    footer: str  # inline Markdown


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, None if it is not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


# ------------------------------------------------------------------------------------ HTML
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
main { padding:36px 48px 80px; min-width:0; }
main > header, section.study > :not(figure.wide) { max-width:1000px; }
figure.wide { max-width:none; }
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
figure img { display:block; max-width:100%; height:auto; margin:0 auto; cursor:zoom-in; }
figure input.zoom:checked + label { position:fixed; inset:0; z-index:100; overflow:auto; padding:16px;
                                    background:rgba(255,255,255,.97); cursor:zoom-out; }
figure input.zoom:checked + label img { max-width:none; cursor:zoom-out; }
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
details.numbers > summary { cursor:pointer; font-weight:600; margin:14px 0 8px; font-size:15px; color:var(--accent); }
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


def _data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
            ".gif": "image/gif", ".webp": "image/webp"}.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _fig_uri(b: Fig) -> str:
    if b.png is not None:
        return "data:image/png;base64," + base64.b64encode(b.png).decode("ascii")
    return _data_uri(b.path)


def _rel(path: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(path, out_dir)).as_posix()


def _html_table(t: Table) -> str:
    cap = f"<caption>{_esc(t.caption)}</caption>" if t.caption else ""
    head = "".join(f"<th>{_esc(h)}</th>" for h in t.header)
    body = "\n".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    more = f'<p class="more">… and {t.hidden} more rows in numbers.json</p>' if t.hidden else ""
    return (f'<div class="table-wrap"><table class="{t.css}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}\n</tbody></table>{more}</div>")


def _html_block(b, out_dir: Path, ids: list[int]) -> str:
    if isinstance(b, Prose):
        return f'<div class="explanation">{markdown_to_html(b.markdown)}</div>'
    if isinstance(b, Heading):
        return f"<h3>{_esc(b.text)}</h3>"
    if isinstance(b, Note):
        return f'<p class="problems">{_esc(b.text)}</p>'
    if isinstance(b, Fig):
        ids[0] += 1
        zid = f"zoom-{ids[0]}"
        return (f'<figure class="{"wide" if b.wide else "narrow"}">'
                f'<input type="checkbox" class="zoom" id="{zid}" hidden>'
                f'<label for="{zid}" title="click: full size"><img src="{_fig_uri(b)}" '
                f'alt="{_esc(b.caption or b.file)}"></label>'
                f'<figcaption><span class="fig-no">{_esc(b.label)}</span> '
                + (f'(<a href="{_esc(_rel(b.path, out_dir))}">{_esc(b.file)}</a>) ' if b.path is not None else "")
                + f"{inline_html(b.caption)}</figcaption></figure>")
    if isinstance(b, Table):
        return _html_table(b)
    if isinstance(b, Fold):
        inner = "\n".join(_html_block(x, out_dir, ids) for x in b.blocks)
        return f'<details class="numbers"><summary>{_esc(b.summary)}</summary>\n{inner}\n</details>'
    raise TypeError(f"unknown report block {type(b).__name__}")


def section_html(s: Section, out_dir: Path, ids: list[int] | None = None) -> str:
    """One section as HTML (``ids`` numbers the figures' zoom toggles across a page)."""
    ids = [0] if ids is None else ids
    badge = ""
    if s.badge:
        badge = f'<span class="badge{" quick" if s.badge == "quick" else ""}">{_esc(s.badge)}</span>'
    num = f'<span class="num">{_esc(s.number)}</span>' if s.number else ""
    parts = [f'<section class="study" id="{s.anchor}">', f"<h2>{num}{_esc(s.title)}{badge}</h2>"]
    if s.description:
        parts.append(f'<p class="desc">{_esc(s.description)}</p>')
    if s.meta:
        parts.append(f'<p class="meta-line">{" · ".join(inline_html(m) for m in s.meta)}</p>')
    parts += [_html_block(b, out_dir, ids) for b in s.blocks]
    parts.append("</section>")
    return "\n".join(parts)


def _scoped_css(scope: str) -> str:
    """The page's CSS limited to ``scope`` (a notebook cell must not restyle the notebook): the rules of
    the page layout (body, html, the table of contents) are left out, every other selector is prefixed."""
    out = []
    for rule in re.findall(r"([^{}]+)\{([^{}]*)\}", CSS.split("@media")[0]):
        sel, body = rule[0].strip(), rule[1]
        if sel.startswith((":root", "html", "body", ".layout", "nav", "main", "*", "header", "footer")):
            continue
        out.append(", ".join(f"{scope} {x.strip()}" for x in sel.split(",")) + " {" + body + "}")
    root = re.search(r":root \{([^}]*)\}", CSS).group(1)
    return f"{scope} {{{root} color:var(--fg); line-height:1.5;}}\n" + "\n".join(out)


def fragment_html(section: Section, out_dir: Path | None = None) -> str:
    """One section as a self-contained HTML fragment for a notebook cell (``_repr_html_``): the
    report's own block rendering and CSS, scoped to ``div.mlplab-view``, figures inline."""
    scope = "div.mlplab-view"
    body = section_html(section, Path(out_dir) if out_dir is not None else Path.cwd(), [0])
    return f'<div class="mlplab-view"><style>{_scoped_css(scope)}</style>{body}</div>'


def to_html(page: Page, out_dir: Path) -> str:
    ids = [0]
    toc = [f'<li><a href="#{s.anchor}">{_esc(s.title)}</a>'
           + (f'<span class="toc-desc">{_esc(s.toc_note)}</span>' if s.toc_note else "") + "</li>"
           for s in page.sections]
    body = [section_html(s, out_dir, ids) for s in page.sections]
    summary = "\n".join(f"<li><b>{_esc(v)}</b>{_esc(label)}</li>" for v, label in page.summary)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(page.brand)}</title>
<style>{CSS}</style>
</head>
<body>
<div class="layout">
<nav class="toc" aria-label="Table of contents">
<div class="brand">{_esc(page.brand)}</div>
<div class="brand-sub">{_esc(page.generated)}</div>
<h2>Contents</h2>
<ol>
{chr(10).join(toc)}
</ol>
</nav>
<main>
<header class="report">
<h1>{_esc(page.title)}</h1>
<p class="lead">{inline_html(page.lead)}</p>
<ul class="summary">
{summary}
</ul>
</header>
{chr(10).join(body)}
<footer>{inline_html(page.footer)}</footer>
</main>
</div>
</body>
</html>
"""


# ------------------------------------------------------------------------------------ Markdown
def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes."""
    a = re.sub(r"[^\w\- ]", "", title.lower().strip())
    return a.replace(" ", "-")


def _md_block(b, out_dir: Path) -> list[str]:
    if isinstance(b, Prose):
        return [re.sub(r"^(#{1,4})(\s)", r"##\1\2", b.markdown.strip(), flags=re.M), ""]  # demote headings
    if isinstance(b, Heading):
        return [f"### {b.text}", ""]
    if isinstance(b, Note):
        return [f"> **Note:** {b.text}", ""]
    if isinstance(b, Fig):
        cap = b.caption.replace("\n", " ")
        return [f"![{b.label}: {cap}]({_rel(b.path, out_dir)})", "", f"*{b.label}* ({b.file}). {cap}", ""]
    if isinstance(b, Table):
        lines = [f"**{b.caption}**", ""] if b.caption else []
        lines.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
        lines.append("|" + "|".join("---" for _ in b.header) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
        if b.hidden:
            lines.append(f"\n… and {b.hidden} more rows in numbers.json")
        return lines + [""]
    if isinstance(b, Fold):
        out = [f"<details><summary>{_esc(b.summary)}</summary>", ""]
        for x in b.blocks:
            out += _md_block(x, out_dir)
        return out + ["</details>", ""]
    raise TypeError(f"unknown report block {type(b).__name__}")


def to_markdown(page: Page, out_dir: Path) -> str:
    heads = [f"{s.number} {s.title}".strip() for s in page.sections]
    lines = [f"# {page.brand}", "", page.lead, "", " · ".join(f"{v} {label}" for v, label in page.summary), "",
             "## Contents", ""]
    lines += [f"- [{h}](#{md_anchor(h)})" for h in heads]
    lines.append("")
    for s, h in zip(page.sections, heads):
        lines += [f"## {h}", ""]
        if s.description:
            lines += [f"*{s.description.strip()}*", ""]
        meta = ([f"{s.badge} variant"] if s.badge else []) + s.meta
        if meta:
            lines += [" · ".join(meta), ""]
        for b in s.blocks:
            lines += _md_block(b, out_dir)
    lines += [page.footer, ""]
    return "\n".join(lines)
