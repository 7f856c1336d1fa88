"""Write the lab's documentation from its registries: ``docs/studies.md`` and ``docs/sources.md``.

``python -m mlplab.lab.docs [DOCS_DIR]`` (re)writes both files; ``--check`` only compares them with
what the registries say now and exits 1 if either is out of date (the test suite runs the check, so
the pages cannot drift from the code). Each study's page section is made from its ``Study`` entry
(title, description, the works it re-creates, both variants' settings, the numbers that carry its
claim) and the setup written in its module docstring.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

from . import studies
from .sources import WORKS, sources_markdown

DEFAULT_DIR = Path(__file__).resolve().parents[3] / "docs"


def _docstring_md(study) -> str:
    """The study module's docstring as Markdown: ``code`` becomes `code`, roles are dropped."""
    mod = importlib.import_module(study.measure.__module__)
    text = (mod.__doc__ or "").strip()
    text = re.sub(r":(?:func|class|mod|meth|attr):`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _settings(d: dict) -> str:
    return ", ".join(f"`{k} = {json.dumps(v, ensure_ascii=False)}`" for k, v in d.items()) or "—"


def studies_markdown(registry=None) -> str:
    registry = registry or studies()
    lines = ["# The lab's studies", "",
             "Generated from the study registry (`mlplab.lab`) by `python -m mlplab.lab.docs`; do not edit by "
             "hand. Each study is `measure(settings, ctx) -> numbers` (the only part that trains), "
             "`draw(numbers, out_dir)` and `write(numbers)`: `mlplab report DIR` redraws every figure and "
             "re-writes every section from the saved `numbers.json`; `python -m mlplab.lab.compare BEFORE AFTER` "
             "lists every measured value that differs between two lab outputs (timing keys skipped). The works "
             "are listed in [sources.md](sources.md).", "",
             "| study | title | re-creates |", "|---|---|---|"]
    lines += [f"| [`{s.name}`](#{s.name}) | {s.title} | {s.source} |" for s in registry.values()]
    lines.append("")
    for s in registry.values():
        works = [f"[{WORKS[k].title}](sources.md#{k})" for k in s.works if k in WORKS]
        lines += [f'<a id="{s.name}"></a>', "", f"## `{s.name}`: {s.title}", "", s.description, "",
                  f"- **Re-creates:** {s.source}"]
        if works:
            lines.append("- **Works:** " + "; ".join(works))
        lines += [f"- **Run:** `mlplab lab run {s.name}` (reference), `mlplab lab run {s.name} --quick` (seconds)",
                  f"- **Reference settings:** {_settings(s.reference)}",
                  f"- **Quick settings:** {_settings(s.quick)}"]
        if s.reproduces:
            lines.append("- **Reproduces** (each a claim `{measured, paper, tolerance, source}` in numbers.json): "
                         + "; ".join(s.reproduces))
        if s.claims:
            lines.append("- **Numbers that carry the claim** (shown in the report; the rest is folded): "
                         + ", ".join(f"`{c}`" for c in s.claims))
        lines += ["", "### Setup", "", _docstring_md(s), ""]
    return "\n".join(lines)


def pages() -> dict[str, str]:
    reg = studies()
    return {"studies.md": studies_markdown(reg), "sources.md": sources_markdown(list(reg.values()))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mlplab.lab.docs", description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", default=str(DEFAULT_DIR), help="the docs folder (default: the repository's)")
    ap.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = ap.parse_args(argv)
    d = Path(args.dir)
    stale = []
    for name, text in pages().items():
        path = d / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            d.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print(f"out of date in {d}: {', '.join(stale)}; run `python -m mlplab.lab.docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
