"""``mlplab report DIR``: rebuild the HTML + Markdown report from saved study results."""

from __future__ import annotations

import sys
from pathlib import Path

from .folders import run_folder
from .options import UsageError, console


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
    with run_folder(out, "report"), _Progress() as progress:  # one writer; a failed build leaves nothing
        try:
            html, md = report.build_report(dirs, out, problems=problems, strict=not args.keep_going,
                                           progress=progress)
        except report.StudyNotRedrawn as e:
            again = " and ".join(f"`mlplab lab run {name} --out {d.parent}`" for name, d in e.studies)
            raise UsageError(f"{e}; re-run {again} to refresh it, or give --keep-going to build the report with "
                             "the saved figures, the section marked as not redrawn") from None
    for p in problems:  # noted in the report too; said here so that nobody has to find them there
        print(f"warning: {p}", file=sys.stderr)
    print(f"report: {html} (and {md})")
    return 0


class _Progress:
    """A progress bar on standard error while the figures are redrawn (30 s for the nine studies), one
    step per study, its name shown; nothing when standard error is not a terminal (as ``train``'s bar)."""

    def __enter__(self):
        self.bar = None
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]report[/]: redrawing"), TextColumn("{task.fields[study]}"),
                                BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console(stderr=True),
                                transient=True)
            self.bar.start()
            self.task = self.bar.add_task("report", total=None, study="")
        return self.update

    def update(self, done: int, total: int, name: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, study=name if done < total else "done")

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def register(sub):
    rep = sub.add_parser("report", help="rebuild the HTML + Markdown report from saved study results")
    rep.add_argument("run_dirs", nargs="+", help="study directories, or a lab output directory holding them")
    rep.add_argument("--out", help="where to write report.html / report.md (default: the first directory)")
    rep.add_argument("--keep-going", action="store_true",
                     help="build the report even if a study's numbers.json is missing or damaged (its section is "
                          "marked: saved figures, not redrawn); without it that is an error, status 2")
    rep.set_defaults(func=cmd_report)
