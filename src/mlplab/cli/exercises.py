"""``mlplab exercises list|start|check|export``: the lessons as graded exercises (:mod:`mlplab.exercises`).

``start NAME... --dir hw1`` writes plain ``.py`` skeletons (never over an existing file without ``--force``);
``check hw1 [NAME...]`` grades each file in its own subprocess (a time limit per test and per exercise) and
prints a score per exercise and, for a failure, one line naming the likely mistake; ``export --nbgrader DIR`` /
``--otter DIR`` writes the same tests as an nbgrader or Otter-Grader assignment for a teacher.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from .options import UsageError


def _names(given):
    from ..exercises import REGISTRY

    if not given or given == ["all"]:
        return list(REGISTRY)
    unknown = [n for n in given if n not in REGISTRY]
    if unknown:
        raise UsageError(f"unknown exercise {unknown[0]!r}; valid: {', '.join(REGISTRY)} (or all); "
                         "see `mlplab exercises list`")
    return list(dict.fromkeys(given))


def cmd_list(args):
    from ..exercises import REGISTRY

    width = max(len(n) for n in REGISTRY)
    print(f"{'name':<{width}}  {'kind':<9}  {'mistakes':>8}  title — source")
    for ex in REGISTRY.values():
        print(f"{ex.name:<{width}}  {ex.kind:<9}  {len(ex.mistakes):>8}  {ex.title} — {ex.source}")
    print(f"{len(REGISTRY)} exercises. Start: mlplab exercises start tanh Adam --dir hw1; "
          "grade: mlplab exercises check hw1")
    return 0


def cmd_start(args):
    from ..exercises import write_skeletons

    names = _names(args.names)
    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--dir {folder} is a file, not a folder; choose a folder for the exercises")
    try:
        paths = write_skeletons(names, folder, force=args.force)
    except FileExistsError as e:
        raise UsageError(f"{e} already exists (your work?); nothing was written: give another --dir, "
                         "or --force to overwrite") from None
    for p in paths:
        print(f"wrote {p}")
    from ..exercises.skeleton import NOTEBOOK_FILE, write_notebook

    nb = write_notebook(names, folder, force=args.force)
    print(f"wrote {nb} (a jupytext notebook that opens them: `jupyter lab {nb}`)" if nb is not None else
          f"kept {folder / NOTEBOOK_FILE} (yours; --force writes a new one for these exercises)")
    print(f"Fill in the bodies, then: mlplab exercises check {folder}")
    return 0


def cmd_check(args):
    from ..exercises import REGISTRY, grade_file

    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; give the folder `mlplab exercises start ... --dir` wrote")
    if args.names:
        names = _names(args.names)
    else:
        names = [n for n in REGISTRY if (folder / f"{n}.py").is_file()]
        if not names:
            raise UsageError(f"{folder} holds no exercise file (NAME.py for a NAME of `mlplab exercises list`); "
                             f"write them with `mlplab exercises start NAME --dir {folder}`")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    print(f"hidden tests drawn with seed {seed} (`--seed {seed}` draws the same ones again)")
    total = points = 0.0
    for name in names:
        grade = grade_file(folder, name, seed)
        for line in grade.lines():
            print(line, flush=True)
        total += grade.score
        points += grade.points
    print(f"total: {total:.1f}/{points:.0f}")
    return 0 if total >= points else 1  # like pytest and `diagnose --fail-on`: a CI or a class script can gate on it


def cmd_export(args):
    from ..exercises import export

    if not args.nbgrader and not args.otter:
        raise UsageError("give --nbgrader DIR (an nbgrader course folder) and/or --otter DIR (a master notebook for "
                         "`otter assign`)")
    if not args.assignment.isidentifier():
        raise UsageError(f"--assignment must be a plain name such as hw1 (letters, digits, _), got {args.assignment!r}")
    names = _names(args.names)
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    targets = []
    if args.nbgrader:
        targets.append((export.export_nbgrader, Path(args.nbgrader),
                        Path(args.nbgrader) / "source" / args.assignment / f"{args.assignment}.ipynb"))
    if args.otter:
        targets.append((export.export_otter, Path(args.otter), Path(args.otter) / f"{args.assignment}.ipynb"))
    for _, folder, nb in targets:  # check every target before writing any
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder} is a file, not a folder; choose a folder for the export")
        if nb.exists() and not args.force:
            raise UsageError(f"{nb} already exists; nothing was written: give another folder or --assignment, "
                             "or --force to overwrite")
    for write, folder, _ in targets:
        for p in write(folder, names, seed, args.assignment):
            print(f"wrote {p}")
    print(f"hidden tests drawn with seed {seed}: `mlplab exercises check FOLDER --seed {seed}` grades a student's "
          "files with the same tests (keep the seed from the students)")
    if args.nbgrader:
        print(f"next: cd {args.nbgrader} && nbgrader generate_assignment {args.assignment}")
    if args.otter:
        print(f"next: otter assign {Path(args.otter) / (args.assignment + '.ipynb')} DIST")
    return 0


def register(sub):
    e = sub.add_parser("exercises", help="graded exercises: list them, write skeletons, check your solutions")
    esub = e.add_subparsers(dest="exercises_cmd", metavar="ACTION", required=True)
    lst = esub.add_parser("list", help="the exercises, their sources and how many known mistakes each names")
    lst.set_defaults(func=cmd_list)
    s = esub.add_parser("start", help="write the skeleton NAME.py of each exercise into --dir")
    s.add_argument("names", nargs="+", metavar="NAME", help="exercise names (see `mlplab exercises list`) or all")
    s.add_argument("--dir", required=True, help="the folder to write into (created if missing)")
    s.add_argument("--force", action="store_true", help="overwrite existing files")
    s.set_defaults(func=cmd_start)
    c = esub.add_parser("check", help="grade the exercise files in FOLDER (public, then hidden tests)")
    c.add_argument("folder", help="the folder holding NAME.py files")
    c.add_argument("names", nargs="*", metavar="NAME", help="only these exercises (default: every file present)")
    c.add_argument("--seed", type=int, help="seed of the hidden tests (default: drawn now)")
    c.set_defaults(func=cmd_check)
    x = esub.add_parser("export", help="for teachers: an nbgrader assignment (--nbgrader DIR) and/or an Otter-Grader "
                                       "one (--otter DIR), graded by the same tests as check")
    x.add_argument("names", nargs="*", metavar="NAME", help="exercise names (default: all)")
    x.add_argument("--nbgrader", metavar="DIR", help="write an nbgrader course folder: DIR/source/ASSIGNMENT/")
    x.add_argument("--otter", metavar="DIR", help="write DIR/ASSIGNMENT.ipynb, the master notebook for otter assign")
    x.add_argument("--assignment", default="hw1", help="the assignment's name (default hw1)")
    x.add_argument("--seed", type=int, help="seed of the hidden tests (default: drawn now and printed)")
    x.add_argument("--force", action="store_true", help="overwrite an existing assignment notebook")
    x.set_defaults(func=cmd_export)
