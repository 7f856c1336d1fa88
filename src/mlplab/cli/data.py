"""``mlplab data fetch|info``: download, verify and inspect the cached datasets."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

from .options import UsageError, console


def cmd_data(args):
    from .. import data

    if args.data_cmd == "fetch":
        if args.name not in data.DATASETS:
            raise UsageError(f"unknown dataset {args.name!r}; valid: {', '.join(data.DATASETS)}")
        mirror = args.mirror
        local = mirror[7:] if mirror and mirror.startswith("file://") else mirror
        if mirror and urlparse(mirror).scheme not in ("http", "https") and not Path(local).expanduser().is_dir():
            what = "is a file, not a folder" if Path(local).expanduser().exists() else "does not exist"
            raise UsageError(f"--mirror {mirror} {what}; give the folder that holds the IDX files "
                             "(train-images-idx3-ubyte[.gz], ...) or an http(s) URL")
        t0 = time.perf_counter()
        path = data.fetch(args.name, mirror=args.mirror, progress=not args.quiet)
        print(f"{args.name}: verified in {path} ({time.perf_counter() - t0:.1f} s)")
        return 0
    from rich.table import Table

    rows = data.info(rehash=args.verify)
    table = Table(title=f"datasets in {data.data_dir()}")
    for col in ("dataset", "file", "present", "check", "size"):
        table.add_column(col)
    colour = {"SHA-256 ok": "green", "unchanged since verified": "yellow", "SHA-256 mismatch": "red", "missing": "dim"}
    for r in rows:
        check = r["check"]
        table.add_row(r["dataset"], r["file"], "yes" if r["present"] else "no",
                      f"[{colour.get(check, 'red')}]{check}[/]", f"{r['size'] / 1e6:.1f} MB" if r.get("size") else "")
    if any(r["check"] == "unchanged since verified" for r in rows):  # say what was (not) checked
        table.caption = ("unchanged since verified: size and modification time are those of the last SHA-256 "
                         "check; `mlplab data info --verify` re-hashes, `mlplab data fetch` re-hashes and repairs")
    console(wide=True).print(table)
    return 0


def register(sub):
    d = sub.add_parser("data", help="fetch and inspect datasets")
    dsub = d.add_subparsers(dest="data_cmd", metavar="ACTION", required=True)
    f = dsub.add_parser("fetch", help="download (or copy) a dataset into the cache and verify it (cached files "
                                      "are re-hashed; a damaged one is fetched again)")
    f.add_argument("name", nargs="?", default="mnist", help="mnist (default) or fashion-mnist")
    f.add_argument("--mirror", help="a base URL or a local directory holding the IDX files (.gz or raw)")
    f.add_argument("--quiet", action="store_true", help="say only the result, or the one line of what went wrong "
                                                        "(not each source tried)")
    i = dsub.add_parser("info", help="what is cached, where, and what was checked")
    i.add_argument("--verify", action="store_true",
                   help="re-hash every file (without it: size and modification time against the last hash)")
    d.set_defaults(func=cmd_data)
