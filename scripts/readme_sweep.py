"""The README's sweep figures, generated from the committed records of the runs they come from.

    python scripts/readme_sweep.py record race SWEEP_DIR --seconds 148.4 --load 0.4 --command "mlplab sweep ..."
    python scripts/readme_sweep.py record study LAB_DIR/optimizers-tuned --seconds 61.0 --command "..."
    python scripts/readme_sweep.py record choi LAB_DIR/optimizers-choi --seconds 240 --command "..."
    python scripts/readme_sweep.py --write        # rewrite the README's generated paragraphs from the records
    python scripts/readme_sweep.py --check        # exit 1 when the README and the records disagree

A record (``docs/results/sweep-race.json``, ``docs/results/optimizers-tuned.json``,
``docs/results/optimizers-choi.json``) is the run's
``summary.json`` (or the study's ``numbers.json``) without the per-setting learning-rate curves, with
the command, the date, the wall time and the load average beside it. The README's paragraphs between
``<!-- generated: NAME -->`` and ``<!-- end: NAME -->`` are written from it by :func:`paragraphs`, and
``tests/test_sweep_readme.py`` checks that they still are, that every statistic in the record
recomputes from its per-seed numbers with the current :mod:`mlplab.sweep.stats`, and that one trial of
the run, re-trained now, gives the recorded accuracy to the last bit. The runs themselves (2.5 and
1 minute on a quiet 2-core machine) are not repeated by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
RECORDS = {"race": RESULTS / "sweep-race.json", "study": RESULTS / "optimizers-tuned.json",
           "choi": RESULTS / "optimizers-choi.json"}
LABEL = {"sgd": "SGD", "momentum": "Momentum", "adagrad": "AdaGrad", "adam": "Adam"}


def _compact(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if k != "optimizers"}
    out["optimizers"] = {o: {k: v for k, v in e.items() if k != "lr_curve"} for o, e in summary["optimizers"].items()}
    return out


def record(kind: str, folder: Path, seconds: float, command: str, load: float | None = None,
           cpu: float | None = None) -> dict:
    """The record of a finished run in ``folder`` (a sweep folder, or a lab study's folder); ``cpu``: its CPU
    seconds (user + system, worker processes included), which a busy machine hardly changes."""
    name = "summary.json" if kind == "race" else "numbers.json"
    data = json.loads((folder / name).read_text())
    data = _compact(data)
    rec = {"command": command, "date": time.strftime("%Y-%m-%d", time.gmtime()), "seconds": seconds,
           "load_average": round(os.getloadavg()[0] if load is None else load, 1), "summary": data}
    if cpu is not None:
        rec = {**{k: v for k, v in rec.items() if k != "summary"}, "cpu_seconds": cpu, "summary": data}
    return rec


def _took(rec: dict) -> str:
    cpu = f" ({rec['cpu_seconds']:.0f} s of CPU)" if rec.get("cpu_seconds") is not None else ""
    return f"{rec['seconds']:.0f} s{cpu} on {rec['date']}, load average {rec['load_average']} at its start"


def _pct(x, digits=1):
    return f"{100 * x:.{digits}f}"


def _acc(entry, digits=1):
    a = entry["accuracy"]
    text = f"{_pct(a['mean'], digits)} %"
    if a.get("ci"):
        text += f" [{_pct(a['ci'][0], digits)}, {_pct(a['ci'][1], digits)}]"
    return text


def _groups(rows):
    from mlplab.sweep.stats import groups_text

    return groups_text(rows, lambda o: LABEL.get(o, o))


def race_paragraph(rec: dict) -> str:
    s = rec["summary"]
    o = s["optimizers"]
    n = len(s["settings"]["seeds"])
    sgd = o["sgd"]
    others = ", ".join(f"{LABEL[k]} η = {o[k]['best']['lr']:.2g} → {_pct(o[k]['test']['accuracy']['mean'])} %"
                       for k in ("momentum", "adagrad", "adam"))
    return (f"The sweep `{rec['command']}` ({s['trials']['select']} selection + {s['trials']['test']} test trials, "
            f"{rec['seconds']:.0f} s on {rec['date']}, load average {rec['load_average']} at its start) tuned SGD to "
            f"η = {sgd['best']['lr']:.3g}: {_acc(sgd['test'])} test accuracy (mean and 95 % t-interval over {n} "
            f"seeds) against {_pct(sgd['book_test']['accuracy']['mean'])} % at the book's "
            f"{sgd['book_test']['hparams']['lr']:g}; {others}. Tie groups (Holm-corrected paired t-tests): at the "
            f"book's learning rates {_groups(s['book_ranking'])}; tuned {_groups(s['ranking'])}. So: "
            f"{s['ranking_verdict']['text']}.")


def study_paragraph(rec: dict) -> str:
    s = rec["summary"]
    o = s["optimizers"]
    st = s["settings"]
    text = (f"The lab study `{rec['command']}` ({st['problem']['iterations']} iterations, {st['points']}-point "
            f"grids, {len(st['seeds'])} seeds; {_took(rec)}): tie groups at the book's learning rates "
            f"{_groups(s['book_ranking'])}, with SGD at {_pct(o['sgd']['book_test']['accuracy']['mean'])} %; "
            f"at tuned ones {_groups(s['ranking'])} (SGD "
            f"η = {o['sgd']['best']['lr']:.3g}: {_pct(o['sgd']['test']['accuracy']['mean'])} %, Adam "
            f"η = {o['adam']['best']['lr']:.2g}: {_pct(o['adam']['test']['accuracy']['mean'])} %); "
            f"{s['ranking_verdict']['text']}.")
    return text


def choi_paragraph(rec: dict) -> str:
    c = rec["summary"]
    inc = c["inclusion"]
    cs = c["settings"]
    verdict = {"holds": "not contradicted (no general optimizer significantly behind its special case)",
               "violated": "**violated**", "not tested": "not tested"}[inc["verdict"]]
    return (f"The lab study `{rec['command']}` (Choi et al.'s protocol on the same network, data and seeds: "
            f"{cs['points']} Sobol settings of the learning rate, 1 − momentum or 1 − β₁, 1 − β₂ and ε per "
            f"optimizer, {len(cs['seeds'])} seeds, {c['trials']['select']} selection + {c['trials']['test']} test "
            f"trials; {_took(rec)}) "
            f"finds the inclusion claim {verdict} with that budget: tuned, {_groups(c['ranking'])}.")


def paragraphs() -> dict[str, str]:
    """README name -> its paragraph, wrapped at 100 columns as the README is."""
    import textwrap

    out = {}
    for name, path in RECORDS.items():
        if path.exists():
            rec = json.loads(path.read_text())
            text = {"race": race_paragraph, "study": study_paragraph, "choi": choi_paragraph}[name](rec)
            out[name] = textwrap.fill(text, 100, break_long_words=False, break_on_hyphens=False)
    return out


def _block(name):
    return re.compile(rf"(<!-- generated: sweep-{name} -->\n)(.*?)(\n<!-- end: sweep-{name} -->)", re.S)


def readme_blocks(text: str) -> dict[str, str]:
    return {name: m.group(2) for name in RECORDS if (m := _block(name).search(text))}


def write_readme(path: Path = ROOT / "README.md") -> bool:
    text = path.read_text()
    new = text
    for name, para in paragraphs().items():
        new = _block(name).sub(lambda m, p=para: m.group(1) + p + m.group(3), new)
    if new != text:
        path.write_text(new)
    return new != text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="*", help="record race|study|choi FOLDER")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--cpu", type=float, help="the run's CPU seconds (user + system, workers included)")
    ap.add_argument("--command")
    ap.add_argument("--load", type=float, help="the load average when the run started (default: now)")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    if args.what:
        if len(args.what) != 3 or args.what[0] != "record" or args.what[1] not in RECORDS:
            ap.error("use: record race|study|choi FOLDER --seconds S --command TEXT")
        RESULTS.mkdir(parents=True, exist_ok=True)
        rec = record(args.what[1], Path(args.what[2]), args.seconds, args.command, args.load, args.cpu)
        RECORDS[args.what[1]].write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {RECORDS[args.what[1]]}")
    if args.write:
        print("README updated" if write_readme() else "README already up to date")
    if args.check:
        have = readme_blocks((ROOT / "README.md").read_text())
        want = paragraphs()
        bad = [k for k in want if have.get(k) != want[k]]
        if bad:
            print(f"README out of date for {bad}: run python scripts/readme_sweep.py --write", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
