"""``mlplab report DIR``: rebuild the HTML + Markdown report from saved study results."""

from __future__ import annotations

import sys
from pathlib import Path

from .folders import run_folder
from .options import UsageError


def cmd_report(args):
    from ..lab import report
    from .folders import check_kind

    dirs = []
    for d in args.run_dirs:
        d = Path(d)
        check_kind(d, ("lab", "sweep"), "mlplab report", reads=True)
        if (d / "meta.json").exists():
            dirs.append(d)
        elif d.is_dir():
            dirs.extend(sorted(p.parent for p in d.glob("*/meta.json")))
    if not dirs:
        raise UsageError(f"no study results (meta.json) found in {', '.join(args.run_dirs)}; "
                         "run `mlplab lab run NAME --out DIR` first")
    out = Path(args.out) if args.out else Path(args.run_dirs[0])
    check_kind(out, ("lab", "sweep"), "mlplab report")  # never into a run folder
    problems: list[str] = []
    with run_folder(out, "report"):  # one writer; a failed build leaves nothing half-written
        html, md = report.build_report(dirs, out, problems=problems)
    for p in problems:  # noted in the report too; said here so that nobody has to find them there
        print(f"warning: {p}", file=sys.stderr)
    print(f"report: {html} (and {md})")
    return 0


def register(sub):
    rep = sub.add_parser("report", help="rebuild the HTML + Markdown report from saved study results")
    rep.add_argument("run_dirs", nargs="+", help="study directories, or a lab output directory holding them")
    rep.add_argument("--out", help="where to write report.html / report.md (default: the first directory)")
    rep.set_defaults(func=cmd_report)
