"""README's *What it costs* (mlplab.watch) quotes benchmark runs: each figure of its table and of the inline
paragraph must be in the run's output as printed (benchmarks/watch_results/)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "watch_results"
TABLE = "2026-12-07"  # the runs the table quotes (benchmarks/watch_results/TABLE-threads2.txt, -threads1.txt)


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("Two runs on the quiet machine after this session's cuts")
    return text[start:text.index("So: the CNN met the target", start)]


def _model_part(out: str, model: str) -> str:
    start = out.index(f"-- {model}:")
    end = out.find("\n-- ", start + 1)
    return out[start:end if end > 0 else None]


def test_the_tables_ratios_are_the_runs():
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:6]]
            for r in _section().splitlines() if r.startswith("| ") and not r.startswith("| ---")}
    files = [("threads2", "mlp"), ("threads2", "cnn"), ("threads1", "mlp"), ("threads1", "cnn")]
    for label, pattern in (("blocks", r"blocks of \d+ steps: .*?: ([0-9.]+ \([0-9.]+–[0-9.]+\))"),
                           ("paired runs", r"paired runs of \d+ steps: .*?: ([0-9.]+ \([0-9.]+–[0-9.]+\))")):
        cells = next(v for k, v in rows.items() if k.startswith(label))
        for cell, (run, model) in zip(cells, files):
            out = _model_part((RESULTS / f"{TABLE}-{run}.txt").read_text(), model)
            printed = re.search(pattern, out).group(1)
            assert cell.replace("**", "") == printed, (label, run, model, cell, printed)
    frames = next(v for k, v in rows.items() if k.startswith("frames per second"))
    for cell, (run, model) in zip(frames, files):
        out = _model_part((RESULTS / f"{TABLE}-{run}.txt").read_text(), model)
        blocks, paired = (x.strip() for x in cell.split("/"))
        assert f"frames/s while on {blocks} " in out and f"frames/s {paired}" in out, (run, model, cell)
    worker = next(v for k, v in rows.items() if k.startswith("the worker's frame"))
    for cell, model in zip(worker[:2], ("mlp", "cnn")):
        med, low = re.match(r"([0-9.]+) \(([0-9.]+)\) ms", cell).groups()
        out = _model_part((RESULTS / f"{TABLE}-threads2.txt").read_text(), model)
        assert f"median of 100: {med} ms" in out and f"minimum {low} ms" in out, (model, cell)


def test_the_inline_figures_are_the_runs():
    text = (ROOT / "README.md").read_text()
    para = text[text.index('- `worker="inline"`: the training thread makes the frame'):]
    para = para[:para.index("`meta.json` records which")]
    costs = {}
    for n in (1, 2):
        out = (RESULTS / f"2026-12-06-inline-threads{n}.txt").read_text()
        costs[n] = {m: v for m, v in re.findall(r"^\s+(.+?): [0-9.]+ ms \(.*?a frame costs it ([0-9.]+) ms",
                                                         out, re.M)}
    said = str  # (as printed)
    flat = " ".join(para.split())
    one, two = said(costs[1]["inline"]), said(costs[2]["inline"])
    assert f"{one} ms a frame with torch on one thread and {two} ms on two" in flat
    assert f"{said(costs[2]['inline, BLAS free'])} ms of CPU instead of {said(costs[2]['inline'])}" in flat
    assert f"charges the training thread {said(costs[1]['process'])} and {said(costs[2]['process'])} ms" in flat
    ab = (RESULTS / "2026-12-06-inline-vs-process-mlp.txt").read_text()
    got = {w: re.findall(rf"^{w}:\s+blocks of \d+ steps: .*?: ([0-9.]+) \(", ab, re.M) for w in ("inline", "process")}
    assert f"{', '.join(got['inline'])} against {', '.join(got['process'])}" in flat, got


def test_the_frames_parts_and_ab_ratios_are_the_runs():
    """The worker's frame by part (`watch_frame_ab.py --without`) and this checkout against f6747c7 (`--ref`), as
    README's *What it costs* quotes them: each ratio as printed, in the run's order."""
    text = " ".join((ROOT / "README.md").read_text().split())
    para = text[text.index("**What the MLP's frame is made of**"):]
    para = para[:para.index("- Not done:")]
    out = (RESULTS / "2026-12-07-frame-without.txt").read_text()
    for model, part, said in (("mlp", "weights", "without W, W_before and ∂L/∂W (their histograms and norms)"),
                              ("mlp", "activations", "without z, φ(z) and ∂L/∂z"),
                              ("mlp", "bins", "without the bin counts"), ("mlp", "verdicts", "without the verdicts"),
                              ("mlp", "json", "without the JSON line"),
                              ("cnn", "activations", "the CNN: without z, φ(z) and ∂L/∂z")):
        got = re.findall(rf"without {part}: .*?new/old, median of \d+ pairs: ([0-9.]+)", _model_part(out, model))
        assert len(got) == 2 and f"{said} {got[0]} and {got[1]}" in para, (model, part, got)
    ab = (RESULTS / "2026-12-07-frame-ab.txt").read_text()
    for model, name in (("mlp", "MLP"), ("cnn", "CNN")):
        got = re.findall(r"new/old, median of 300 pairs: ([0-9.]+)", _model_part(ab, model))
        assert len(got) == 3 and f"{', '.join(got)} ({name}" in para, (model, got)


def test_the_second_runs_and_the_charges_are_the_runs():
    """The second pair of runs quoted after the table (its blocks' and paired runs' medians) and the training
    thread's CPU a frame the text gives for both pairs, as the kept outputs print them."""
    text = " ".join((ROOT / "README.md").read_text().split())

    def medians(run, model):
        out = _model_part((RESULTS / f"{TABLE}-{run}.txt").read_text(), model)
        b = re.search(r"blocks of \d+ steps: .*?: ([0-9.]+) \(", out).group(1)
        p = re.search(r"paired runs of \d+ steps: .*?: ([0-9.]+) \(", out).group(1)
        charge = re.search(r"per frame: training thread ([0-9.-]+) ms CPU", out).group(1)
        return b, p, charge

    m2, c2 = medians("threads2-second", "mlp"), medians("threads2-second", "cnn")
    m1, c1 = medians("threads1-second", "mlp"), medians("threads1-second", "cnn")
    assert (f"MLP at 2 threads blocks {m2[0]}, paired {m2[1]}; CNN at 2 threads {c2[0]} and {c2[1]}; MLP at 1 thread "
            f"{m1[0]} and {m1[1]}; CNN at 1 thread {c1[0]} and {c1[1]}.") in text
    first2, first1 = medians("threads2", "mlp")[2], medians("threads1", "mlp")[2]
    assert f"the training thread is charged {first2} ms a frame (today's clean run" in text
    assert f"{m2[2]} ms in the disturbed second run" in text
    assert f"still charged {first1} and {m1[2]} ms" in text


def test_the_structural_tries_and_the_product_variants_are_the_runs():
    """The ratios README gives for the layers' arrays taken together (two ways, against be59b40) and for the product
    decisions not made (`watch_frame_ab.py --variant`), each as the kept run prints it, in its order."""
    text = " ".join((ROOT / "README.md").read_text().split())
    para = text[text.index("**What the MLP's frame is made of**"):]
    para = para[:para.index("Two runs on the quiet machine after this session's cuts")]

    def ratios(name, model, label=""):
        out = _model_part((RESULTS / name).read_text(), model)
        return re.findall(rf"{label}.*?new/old, median of 300 pairs: ([0-9.]+)", out)

    for name, said in (("2026-12-07-frame-ab-stacked.txt", "bit for bit: {} the MLP's frame and {} the CNN's"),
                       ("2026-12-07-frame-ab-sorted-together.txt", "one array at a time as before: {} and {} (")):
        mlp, cnn = ratios(name, "mlp"), ratios(name, "cnn")
        assert len(mlp) == len(cnn) == 3 and min(mlp + cnn) > "1"  # slower, every time (why they were not kept)
        assert said.format(", ".join(mlp), ", ".join(cnn)) in para, (name, mlp, cnn)
    variants = "2026-12-07-frame-variants.txt"
    s4, rows, both = (ratios(variants, "mlp", f"{v}: median")
                      for v in ("; sample=4096", "; rows=64", r"; sample=4096\+rows=64"))
    s4_cnn = ratios(variants, "cnn", "; sample=4096: median")
    assert f"the MLP's frame {', '.join(s4)} of itself, the CNN's {', '.join(s4_cnn)}," in para, (s4, s4_cnn)
    assert f"(watch's `sample=`; the MLP's {', '.join(rows)}); both ({', '.join(both)})" in para, (rows, both)
