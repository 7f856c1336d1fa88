"""``mlplab lab list|run``: the experiments of the source texts (*Deep Learning from Scratch* ch. 6,
CMU 10-414/714 *Deep Learning Systems*, deeplearning.ai's *Initializing neural networks* and the
blog posts built on them), one study or all of them."""

from __future__ import annotations

import time

from ..settings import check_int
from .folders import run_folder
from .options import UsageError, add_threads_arg, blas_threads, check_threads, console


def cmd_lab(args):
    from .. import lab

    studies = lab.studies()
    if args.lab_cmd == "list":
        from rich.table import Table

        table = Table(title="mlplab lab studies (run one with: mlplab lab run NAME [--quick])")
        table.add_column("name", style="bold")
        table.add_column("what it shows")
        table.add_column("group")
        table.add_column("source")
        for st in studies.values():
            table.add_row(st.name, st.description, lab.group_of(st.name), st.source)
        console().print(table)
        return 0
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be a positive number of processes, got {args.jobs}")
    group = args.name.lower() in lab.GROUPS
    try:
        chosen = lab.select(args.name)
    except ValueError as e:
        raise UsageError(str(e)) from None
    check_int("seed", args.seed, 0, what="a whole number >= 0")
    extra = _check_extra(args.extra or [], [st.name for st in chosen])
    threads = check_threads(args.blas_threads)
    con = console()
    t_all, c_all = time.perf_counter(), lab.base.cpu_seconds()
    # the folder is locked for the whole command; a failed study leaves no half-written folder behind
    with run_folder(args.out, "lab run", kind="lab") as out, blas_threads(threads), _Drawer(con, len(chosen)) as draw:
        for st in chosen:
            t0 = time.perf_counter()
            with _study_bar(con, st) as progress:
                measured = lab.base.measure_study(st, out, quick=args.quick, seed=args.seed, workers=args.jobs,
                                                  progress=progress, blas_threads=threads,
                                                  extra=extra if st.name == "optimizers-mnist" else ())
            draw(st, measured, t0)
        draw.wait()
        con.print(f"all done in {time.perf_counter() - t_all:.1f} s ({lab.base.cpu_seconds() - c_all:.1f} s of CPU, "
                  "worker processes included)")
        if group or args.report:
            from ..lab import report

            # the figures and sections were just drawn from the saved numbers: no need to redraw them (30 s for all)
            html, md = report.build_report([out / st.name for st in chosen], out, redraw_figures=False)
            con.print(f"report: [bold]{html}[/] (and {md})")
    return 0


def _finish(study, measured):
    """The drawing process's task: :func:`mlplab.lab.base.finish_study` of a measured study (module level, as the
    study's functions are: they reach the process by name)."""
    from ..lab.base import finish_study

    return finish_study(study, measured)


class _Drawer:
    """Draws each study's figures and writes its section while the next study measures.

    A study's figures are drawn by matplotlib in one process, 1-7 s of CPU each (25 s for the textbook ten),
    during which the workers of the next study would otherwise wait. With several studies they are drawn by
    one extra forked process (:class:`~mlplab.sweep.executor.LocalExecutor`: one BLAS thread, dies with this
    process, leaves Ctrl-C to it), from the saved numbers.json as ``mlplab report`` draws them, so the files are
    the same. The lines "NAME done" come as drawings finish; :meth:`wait` waits for the last one and re-raises
    a drawing's error; an error or Ctrl-C stops the drawing process before the folder is cleaned up. One study
    is drawn here, after measuring, as before."""

    def __init__(self, con, n_studies: int):
        self.con, self.parallel = con, n_studies > 1
        self.pool, self.pending = None, []

    def __enter__(self):
        return self

    def __call__(self, study, measured, t0):
        import dataclasses

        if not self.parallel:
            self._done(study, measured, t0, _finish(study, measured))
            return
        if self.pool is None:
            from ..sweep.executor import LocalExecutor

            self.pool = LocalExecutor(1)
        self.con.print(f"[bold]{study.name}[/] measured in {measured.seconds:.1f} s ({measured.cpu_seconds:.1f} s of "
                       "CPU); its figures are drawn while the next study runs", highlight=False)
        self.pending.append((study, measured, t0, self.pool.submit(_finish, study,
                                                                   dataclasses.replace(measured, numbers=None))))
        self._collect(block=False)

    def _collect(self, block: bool):
        while self.pending and (block or self.pending[0][3].done()):
            study, measured, t0, future = self.pending.pop(0)
            self._done(study, measured, t0, future.result())

    def _done(self, study, measured, t0, result):
        import json

        try:
            drawn = f"drawn in {json.loads((result.directory / 'meta.json').read_text())['draw_seconds']:.1f} s"
        except (OSError, ValueError, KeyError, TypeError):
            drawn = "drawn"
        took = f"in {time.perf_counter() - t0:.1f} s " if not self.parallel else ""
        self.con.print(f"[bold]{study.name}[/] done {took}(measured in {measured.seconds:.1f} s, "
                       f"{measured.cpu_seconds:.1f} s of CPU; {drawn}): {len(result.figures)} figure(s), numbers "
                       f"and section.md in {result.directory}", highlight=False)

    def wait(self):
        """Wait for every drawing (re-raising a drawing's error), then end the drawing process (so its CPU time
        counts in the run's)."""
        self._collect(block=True)
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None

    def __exit__(self, kind, exc, tb):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=kind is not None)  # failed or Ctrl-C: stop drawing at once
        return False


def _check_extra(specs, names):
    """``--extra FOLDER:NAME``: a student's optimizer for optimizers-mnist, refused in one line unless its file
    exists and passes its checks (``mlplab exercises check``), before any folder is written."""
    if not specs:
        return []
    if "optimizers-mnist" not in names:
        raise UsageError("--extra adds a student's optimizer to the optimizers-mnist race; run "
                         "`mlplab lab run optimizers-mnist --extra hw1:Adam`")
    from pathlib import Path

    from ..exercises.student import StudentCodeError, load_checked_optimizer

    for spec in specs:
        folder = spec.rpartition(":")[0]
        if folder and not Path(folder).is_dir():
            raise UsageError(f"--extra {spec}: no folder {folder}; write the exercise with `mlplab exercises start "
                             f"{spec.rpartition(':')[2]} --dir {folder}`")
        try:
            load_checked_optimizer(spec)
        except StudentCodeError as e:
            raise UsageError(f"--extra {spec}: {e}") from None
    return list(dict.fromkeys(specs))


def time_left(elapsed: float, done: int, total: int | None) -> float | None:
    """Seconds left, from the units of work completed: elapsed · (total − done) / done, where elapsed is the
    time since the study started, read when the bar is drawn (None before the first unit).

    The rate is the whole run's so far, not the last few units' (rich's estimate averages the updates of the
    last 30 s and is drawn unchanged until the next update: it stood still while a long unit ran and was 6x
    too short after a fast first unit). Reading the clock at each redraw makes the estimate grow while a unit
    takes longer than the average, instead of standing still."""
    if not total or done <= 0:
        return None
    return max(0.0, elapsed * (total - min(done, total)) / done)


def _time_left_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class TimeLeft(ProgressColumn):
        max_refresh = 0.5  # the estimate moves with the clock: redraw it twice a second, not at every frame

        def render(self, task):
            left = time_left(task.elapsed or 0.0, int(task.completed), task.total)
            if left is None:
                return Text("-:--:--", style="progress.remaining")
            s = int(round(left))
            return Text(f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}", style="progress.remaining")

    return TimeLeft()


class _study_bar:
    """A rich progress bar for one study: units of work done / total (trainings, runs) and the time
    left (:func:`time_left`), fed by the study's progress callback (``run_study(..., progress=...)``).
    ``get_time`` is the clock (a fake one in the tests)."""

    def __init__(self, con, study, get_time=None):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(SpinnerColumn(), TextColumn(f"[bold]{study.name}[/]"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("done ·"), TimeElapsedColumn(), TextColumn("· left"), _time_left_column(),
                            console=con, transient=True, get_time=get_time)
        self.task = self.bar.add_task(study.name, total=None)

    def __enter__(self):
        self.bar.start()
        return self.update

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        self.bar.stop()
        return False


def register(sub):
    lab_p = sub.add_parser("lab", help="run the experiments of Deep Learning from Scratch ch. 6, CMU Deep Learning "
                                       "Systems and deeplearning.ai's Initializing neural networks")
    lsub = lab_p.add_subparsers(dest="lab_cmd", metavar="ACTION", required=True)
    lsub.add_parser("list", help="list the studies")
    r = lsub.add_parser("run", help="run a study (or all) and write figures, numbers and Markdown")
    r.add_argument("name", help="a study name from `mlplab lab list`, or a group: all, textbook (the source texts' "
                                "experiments, what `make demo` runs) or frontier (the papers beyond them)")
    r.add_argument("--quick", action="store_true", help="the few-seconds variant")
    r.add_argument("--seed", type=int, default=0, help="seed of every random draw of the study (default 0)")
    r.add_argument("--out", default="lab-out", help="output directory (default lab-out)")
    r.add_argument("--report", action="store_true", help="also build the HTML/Markdown report")
    r.add_argument("--extra", action="append", metavar="FOLDER:NAME",
                   help="optimizers-mnist: add your optimizer exercise (e.g. hw1:Adam, once `mlplab exercises check` "
                        "passes) to the race, same seeds and batches; repeatable")
    add_threads_arg(r, 1, "the studies' matrices are small")
    r.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="processes training a study's independent networks side by side (default: the CPU "
                        "count; 1 = all in this process). The numbers do not depend on it")
    lab_p.set_defaults(func=cmd_lab)
