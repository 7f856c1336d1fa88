"""A small Markdown-to-HTML renderer for the report (no dependency for a few constructs).

Understood: paragraphs, ``#``-headings (demoted to fit under the study's heading), ``**bold**``,
``*italic*``, ```code```, ``[links](url)`` (http, https, relative and ``#`` targets only), pipe
tables with a ``|---|`` separator row (alignment colons honoured), bullet and numbered lists,
fenced code blocks, block quotes and horizontal rules. Everything else is escaped text.
"""

from __future__ import annotations

import html
import re

__all__ = ["markdown_to_html", "inline_html"]

_esc = html.escape


def _safe_url(url: str) -> str | None:
    url = url.strip()
    low = url.lower()
    if low.startswith(("http://", "https://", "#")) or not re.match(r"^[a-z][a-z0-9+.-]*:", low):
        return url
    return None  # javascript:, data:, ...


_CODE = re.compile(r"(`+)(.+?)\1", re.S)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.S)
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])", re.S)
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def inline_html(text: str) -> str:
    """Inline Markdown -> HTML: code spans first (their content is literal), then escaping, links,
    bold and italic."""
    codes: list[str] = []

    def keep_code(m):
        codes.append(f"<code>{_esc(m.group(2).strip())}</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = _CODE.sub(keep_code, text)
    links: list[str] = []

    def keep_link(m):
        url = _safe_url(html.unescape(m.group(2)))
        label = m.group(1)
        if url is None:
            return label
        links.append(f'<a href="{_esc(url)}">{label}</a>')
        return f"\x01{len(links) - 1}\x01"

    text = _esc(text, quote=False)
    text = _LINK.sub(keep_link, text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _ITALIC.sub(r"<em>\1</em>", text)
    for _ in range(2):  # a link label may hold code, a code span never holds a link
        text = re.sub("\x01(\\d+)\x01", lambda m: links[int(m.group(1))], text)
        text = re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], text)
    return text


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)([-*+])\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d+)[.)]\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_HR = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    parts, cur, in_code = [], [], False
    for j, ch in enumerate(line):
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code and (j == 0 or line[j - 1] != "\\"):
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip().replace("\\|", "|") for p in parts]


def _table_html(lines: list[str]) -> str:
    header = _cells(lines[0])
    aligns = []
    for c in _cells(lines[1]):
        aligns.append("center" if c.startswith(":") and c.endswith(":") else "right" if c.endswith(":")
                      else "left" if c.startswith(":") else "")
    def cell(tag, text, i):
        a = aligns[i] if i < len(aligns) and aligns[i] else ""
        style = f' style="text-align:{a}"' if a else ""
        return f"<{tag}{style}>{inline_html(text)}</{tag}>"
    out = ['<div class="table-wrap"><table class="md">', "<thead><tr>"
           + "".join(cell("th", h, i) for i, h in enumerate(header)) + "</tr></thead>", "<tbody>"]
    for line in lines[2:]:
        cells = _cells(line)
        cells += [""] * (len(header) - len(cells))
        out.append("<tr>" + "".join(cell("td", c, i) for i, c in enumerate(cells[:len(header)])) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _list_html(items: list[tuple[int, bool, str]]) -> str:
    """Nested lists from (indent, ordered, text) items."""
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, tag)
    for indent, ordered, text in items:
        tag = "ol" if ordered else "ul"
        while stack and indent < stack[-1][0]:
            out.append(f"</li></{stack.pop()[1]}>")
        if stack and indent == stack[-1][0] and tag != stack[-1][1]:  # "- a" then "1. b": a new list
            out.append(f"</li></{stack.pop()[1]}>")
        if not stack or indent > stack[-1][0]:
            out.append(f"<{tag}><li>")
            stack.append((indent, tag))
        else:
            out.append("</li><li>")
        out.append(inline_html(text))
    while stack:
        out.append(f"</li></{stack.pop()[1]}>")
    return "".join(out)


def markdown_to_html(md: str, heading_offset: int = 2) -> str:
    """Convert the Markdown subset described in the module docstring; ``#`` headings become
    ``<h{1 + heading_offset}>`` and so on (capped at h6), so they nest under the study's heading."""
    lines = md.replace("\r\n", "\n").replace("\t", "    ").split("\n")
    out: list[str] = []
    para: list[str] = []
    i = 0

    def flush():
        if para:
            out.append("<p>" + inline_html("\n".join(para)) + "</p>")
            para.clear()

    def starts_block(j: int) -> bool:
        s = lines[j]
        n = _NUMBERED.match(s)  # only "1." may interrupt a paragraph (CommonMark): "1000. RMSProp ..." may not
        return bool(_HEADING.match(s) or s.lstrip().startswith("```") or _BULLET.match(s) or (n and n.group(2) == "1")
                    or s.lstrip().startswith(">") or _HR.match(s)
                    or ("|" in s and j + 1 < len(lines) and "|" in lines[j + 1]
                        and bool(_TABLE_SEP.match(lines[j + 1]))))

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            flush()
            i += 1
            continue
        if stripped.startswith("```"):
            flush()
            lang = stripped[3:].strip()
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            i += 1
            cls = f' class="language-{_esc(lang)}"' if lang else ""
            out.append(f"<pre><code{cls}>{_esc(chr(10).join(body))}</code></pre>")
            continue
        m = _HEADING.match(line)
        if m:
            flush()
            level = min(6, len(m.group(1)) + heading_offset)
            out.append(f"<h{level}>{inline_html(m.group(2))}</h{level}>")
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and "|" in lines[i + 1] and _TABLE_SEP.match(lines[i + 1]):
            flush()
            rows = [line, lines[i + 1]]
            i += 2
            while i < len(lines) and lines[i].strip() and "|" in lines[i]:
                rows.append(lines[i])
                i += 1
            out.append(_table_html(rows))
            continue
        if _HR.match(line):
            flush()
            out.append("<hr>")
            i += 1
            continue
        if (_BULLET.match(line) or _NUMBERED.match(line)) and (not para or starts_block(i)):
            flush()
            items: list[tuple[int, bool, str]] = []
            while i < len(lines) and lines[i].strip():
                b, n = _BULLET.match(lines[i]), _NUMBERED.match(lines[i])
                if b or n:
                    mm = b or n
                    items.append((len(mm.group(1)), n is not None and b is None, mm.group(3)))
                elif items:  # a continuation line of the previous item
                    ind, ordered, text = items[-1]
                    items[-1] = (ind, ordered, text + "\n" + lines[i].strip())
                i += 1
            out.append(_list_html(items))
            continue
        if stripped.startswith(">"):
            flush()
            quote = []
            while i < len(lines) and lines[i].strip().startswith(">"):
                quote.append(lines[i].strip()[1:].lstrip())
                i += 1
            out.append(f"<blockquote>{markdown_to_html(chr(10).join(quote), heading_offset)}</blockquote>")
            continue
        if para and starts_block(i):
            flush()
            continue
        para.append(stripped)
        i += 1
    flush()
    return "\n".join(out)
