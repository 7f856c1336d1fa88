"""``mlplab data fetch|info``: download, verify and inspect the cached datasets."""

from __future__ import annotations

import time

from .options import UsageError, console


def cmd_data(args):
    from .. import data

    if args.data_cmd == "fetch":
        if args.name not in data.DATASETS:
            raise UsageError(f"unknown dataset {args.name!r}; valid: {', '.join(data.DATASETS)}")
        t0 = time.perf_counter()
        path = data.fetch(args.name, mirror=args.mirror, progress=not args.quiet)
        print(f"{args.name}: verified in {path} ({time.perf_counter() - t0:.1f} s)")
        return 0
    from rich.table import Table

    rows = data.info(rehash=args.verify)
    table = Table(title=f"datasets in {data.data_dir()}")
    for col in ("dataset", "file", "present", "verified", "size"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["dataset"], r["file"], "yes" if r["present"] else "no",
                      "[green]yes[/]" if r["verified"] else "[red]no[/]",
                      f"{r['size'] / 1e6:.1f} MB" if r.get("size") else "")
    console().print(table)
    return 0


def register(sub):
    d = sub.add_parser("data", help="fetch and inspect datasets")
    dsub = d.add_subparsers(dest="data_cmd", metavar="ACTION", required=True)
    f = dsub.add_parser("fetch", help="download (or copy) a dataset into the cache and verify it")
    f.add_argument("name", nargs="?", default="mnist", help="mnist (default) or fashion-mnist")
    f.add_argument("--mirror", help="a base URL or a local directory holding the IDX files (.gz or raw)")
    f.add_argument("--quiet", action="store_true")
    i = dsub.add_parser("info", help="what is cached, where, and whether it verifies")
    i.add_argument("--verify", action="store_true", help="re-hash every file instead of trusting the marker")
    d.set_defaults(func=cmd_data)
