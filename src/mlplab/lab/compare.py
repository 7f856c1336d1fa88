"""Compare two lab outputs study by study: are the measured numbers the same?

``python -m mlplab.lab.compare BEFORE AFTER`` reads every ``STUDY/numbers.json`` of two ``mlplab lab
run`` output directories and lists each value that differs, walking the JSON trees leaf by leaf
(exact equality: the lab is seeded, so the same code on the same machine gives the same bits). Keys
that measure wall time (``seconds``, ``ms_per_step``, ``workers``, ...) are skipped, since they change
from run to run; keys that exist only in AFTER are listed as additions (a refactor may add the series
its figures draw), keys missing from AFTER are differences. ``--sections`` also compares section.md
text. The exit status is 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

TIMING = re.compile(r"(^|_)(seconds|ms_per_step|workers|wall)(_|$)")


def _walk(a, b, path: str, diffs: list[str], added: list[str]) -> None:
    if TIMING.search(path.rsplit(".", 1)[-1]):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            p = f"{path}.{k}" if path else str(k)
            if k not in b:
                if not TIMING.search(str(k)):
                    diffs.append(f"{p}: missing after")
                continue
            _walk(a[k], b[k], p, diffs, added)
        added.extend(f"{path}.{k}" if path else str(k) for k in b if k not in a)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{path}[{i}]", diffs, added)
        return
    if a != b or type(a) is not type(b):
        diffs.append(f"{path}: {_short(a)} -> {_short(b)}")


def _short(v) -> str:
    s = json.dumps(v)
    return s if len(s) <= 60 else s[:57] + "..."


def compare_numbers(before, after) -> tuple[list[str], list[str]]:
    """(differences, additions) between two numbers.json trees, timing keys skipped."""
    diffs: list[str] = []
    added: list[str] = []
    _walk(before, after, "", diffs, added)
    return diffs, added


def compare_dirs(before: Path, after: Path, sections: bool = False) -> dict[str, tuple[list[str], list[str]]]:
    """study name -> (differences, additions) for every study directory of ``before``."""
    out = {}
    for f in sorted(Path(before).glob("*/numbers.json")):
        name = f.parent.name
        g = Path(after) / name / "numbers.json"
        if not g.exists():
            out[name] = ([f"{name}/numbers.json is missing in {after}"], [])
            continue
        diffs, added = compare_numbers(json.loads(f.read_text()), json.loads(g.read_text()))
        if sections:
            s0, s1 = (d / name / "section.md" for d in (Path(before), Path(after)))
            if s0.exists() and s1.exists() and s0.read_text().strip() != s1.read_text().strip():
                diffs.append("section.md text differs")
        out[name] = (diffs, added)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mlplab.lab.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--sections", action="store_true", help="also compare section.md text")
    args = ap.parse_args(argv)
    result = compare_dirs(Path(args.before), Path(args.after), args.sections)
    if not result:
        print(f"no STUDY/numbers.json under {args.before}", file=sys.stderr)
        return 2
    bad = 0
    for name, (diffs, added) in result.items():
        top = sorted({a.split(".")[0].split("[")[0] for a in added})
        extra = f"; added: {', '.join(top)}" if added else ""
        print(f"{name}: {'identical' if not diffs else f'{len(diffs)} difference(s)'}{extra}")
        for d in diffs[:20]:
            print(f"    {d}")
        bad += bool(diffs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
